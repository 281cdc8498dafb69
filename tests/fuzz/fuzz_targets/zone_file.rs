//! Fuzz target `zone_file`: its body is [`targets::zone_file`] (tests/fuzz/targets.rs).
#![no_main]

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::zone_file(data));
