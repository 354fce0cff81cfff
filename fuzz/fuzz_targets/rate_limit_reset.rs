//! Fuzzes the `rate_limit_reset` check of `steadfast_reliability::checks`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| steadfast_reliability::checks::rate_limit_reset(data));
