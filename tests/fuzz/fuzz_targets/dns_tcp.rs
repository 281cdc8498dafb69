//! Fuzz target `dns_tcp`: its body is [`targets::dns_tcp`] (tests/fuzz/targets.rs).
#![no_main]

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::dns_tcp(data));
