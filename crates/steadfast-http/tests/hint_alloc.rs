//! A `ServerHints` reader allocates nothing per response when there is no hint to read, nor
//! when the hint is a number.

use std::time::Duration;

use http::HeaderMap;
use steadfast_http::hint::{HintSource, ServerHint, ServerHints};
use steadfast_test::alloc::{allocations_in, CountingAllocator};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn response_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    headers.insert("content-length", "1234".parse().unwrap());
    headers.insert("x-request-id", "7d1c2a".parse().unwrap());
    headers
}

#[test]
fn counting_allocator_counts() {
    let n = allocations_in(|| drop(std::hint::black_box(vec![1u8; 16])));
    assert_eq!(n, 1);
}

#[test]
fn no_hint_header_allocates_nothing() {
    let hints = ServerHints::default();
    let headers = response_headers();
    let empty = HeaderMap::new();
    let n = allocations_in(|| {
        for _ in 0..100 {
            assert_eq!(hints.read(std::hint::black_box(&headers)), ServerHint::None);
            assert_eq!(hints.read(std::hint::black_box(&empty)), ServerHint::None);
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn numeric_hints_allocate_nothing() {
    let hints = ServerHints::default();
    let mut headers = response_headers();
    headers.insert("retry-after", "3".parse().unwrap());
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-retry-pushback-ms", "-1".parse().unwrap());
    let mut limited = response_headers();
    limited.insert("x-ratelimit-remaining", "0".parse().unwrap());
    limited.insert("x-ratelimit-reset", "4".parse().unwrap());
    let n = allocations_in(|| {
        for _ in 0..100 {
            assert_eq!(
                hints.read(std::hint::black_box(&headers)),
                ServerHint::After(Duration::from_secs(3))
            );
            assert_eq!(
                hints.read(std::hint::black_box(&trailers)),
                ServerHint::DoNotRetry
            );
            assert_eq!(
                hints.read(std::hint::black_box(&limited)),
                ServerHint::After(Duration::from_secs(4))
            );
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn cloning_the_reader_allocates_nothing() {
    let hints = ServerHints::builder()
        .sources([HintSource::RetryAfter, HintSource::GrpcRetryPushback])
        .build()
        .unwrap();
    let n = allocations_in(|| {
        std::hint::black_box(hints.clone());
    });
    assert_eq!(n, 0);
}
