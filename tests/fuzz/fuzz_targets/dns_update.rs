//! Fuzz target `dns_update`: its body is [`targets::dns_update`] (tests/fuzz/targets.rs).
#![no_main]

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::dns_update(data));
