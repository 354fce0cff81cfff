//! Fuzzes the `grpc_timeout` check of `steadfast_reliability::checks`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| steadfast_reliability::checks::grpc_timeout(data));
