//! Fuzz target `policy`: its body is [`targets::policy`] (tests/fuzz/targets.rs).
#![no_main]

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::policy(data));
