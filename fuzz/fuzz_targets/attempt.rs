//! Fuzzes the `attempt` check of `steadfast_reliability::checks`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| steadfast_reliability::checks::attempt(data));
