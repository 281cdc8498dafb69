//! Fuzz target `json_body`: its body is [`targets::json_body`] (tests/fuzz/targets.rs).
#![no_main]

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::json_body(data));
