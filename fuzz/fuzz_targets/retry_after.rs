//! Fuzzes the `retry_after` check of `steadfast_reliability::checks`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| steadfast_reliability::checks::retry_after(data));
