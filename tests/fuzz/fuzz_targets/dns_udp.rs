//! Fuzz target `dns_udp`: its body is [`targets::dns_udp`] (tests/fuzz/targets.rs).
#![no_main]

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::dns_udp(data));
