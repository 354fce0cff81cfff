//! `ReplayBody`, `ReplayCloner` and `ReplayLayer`: copies replay what the first reader read,
//! bodies past the cap are sent once and then refused, and copies polled together neither
//! hang nor diverge.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::channel::Channel;
use http_body_util::{BodyExt, Empty, Full};
use steadfast::classify::{Attempt, Outcome};
use steadfast::retry::{Backoff, CloneRequest, RetryError, RetryLayer, RetryPolicy, StopReason};
use steadfast::token::{CancelToken, HasCancelToken};
use steadfast::BoxError;
use steadfast_http::replay::{
    ReplayBody, ReplayCloner, ReplayError, ReplayLayer, DEFAULT_MAX_BYTES,
};
use tower::{Layer, Service, ServiceExt};

// ---------------------------------------------------------------------------------------------
// Test bodies and helpers

/// A body of fixed chunks and optional trailers that knows its exact size, and can say
/// `Pending` once before each frame (waking itself) to act like a stream.
struct Chunks {
    chunks: VecDeque<Bytes>,
    trailers: Option<HeaderMap>,
    stall: bool,
    stalled: bool,
    dropped: Option<Arc<AtomicBool>>,
}

fn chunks(parts: &[&'static str]) -> Chunks {
    Chunks {
        chunks: parts
            .iter()
            .map(|p| Bytes::from_static(p.as_bytes()))
            .collect(),
        trailers: None,
        stall: false,
        stalled: false,
        dropped: None,
    }
}

impl Chunks {
    fn with_trailers(mut self, t: HeaderMap) -> Self {
        self.trailers = Some(t);
        self
    }

    fn stalling(mut self) -> Self {
        self.stall = true;
        self
    }

    fn drop_flag(mut self) -> (Self, Arc<AtomicBool>) {
        let flag = Arc::new(AtomicBool::new(false));
        self.dropped = Some(flag.clone());
        (self, flag)
    }
}

impl Drop for Chunks {
    fn drop(&mut self) {
        if let Some(f) = &self.dropped {
            f.store(true, Ordering::SeqCst);
        }
    }
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.stall && !self.stalled {
            self.stalled = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.stalled = false;
        if let Some(c) = self.chunks.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(c))));
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty() && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.chunks.iter().map(|c| c.len() as u64).sum())
    }
}

fn trailers() -> HeaderMap {
    let mut t = HeaderMap::new();
    t.insert("x-checksum", HeaderValue::from_static("abc123"));
    t
}

/// Everything a body yields: its data frames (boundaries kept) and its trailers.
#[derive(Debug, PartialEq)]
struct Read {
    chunks: Vec<Bytes>,
    trailers: Option<HeaderMap>,
}

impl Read {
    fn bytes(&self) -> Vec<u8> {
        self.chunks.concat()
    }
}

async fn read_all<B>(mut body: B) -> Result<Read, BoxError>
where
    B: Body<Data = Bytes, Error = BoxError> + Unpin,
{
    let mut out = Read {
        chunks: Vec::new(),
        trailers: None,
    };
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        match frame.into_data() {
            Ok(d) => out.chunks.push(d),
            Err(f) => out.trailers = Some(f.into_trailers().unwrap()),
        }
    }
    assert!(
        body.is_end_stream(),
        "a finished body says it is at its end"
    );
    Ok(out)
}

async fn next_data<B>(body: &mut B) -> Bytes
where
    B: Body<Data = Bytes, Error = BoxError> + Unpin,
{
    body.frame()
        .await
        .expect("a frame")
        .expect("no error")
        .into_data()
        .expect("a data frame")
}

fn replay_error(err: &BoxError) -> &ReplayError {
    err.downcast_ref::<ReplayError>()
        .unwrap_or_else(|| panic!("expected a ReplayError, got {err}"))
}

/// A body fed by a channel, as a streamed upload is.
fn channel_body() -> (
    http_body_util::channel::Sender<Bytes, std::io::Error>,
    Channel<Bytes, std::io::Error>,
) {
    Channel::new(4)
}

/// A waker that counts its wakes.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting() -> (Arc<CountingWaker>, Waker) {
    let c = Arc::new(CountingWaker::default());
    (c.clone(), Waker::from(c))
}

type Polled = Poll<Option<Result<Frame<Bytes>, BoxError>>>;

fn poll<B>(body: &mut ReplayBody<B>, waker: &Waker) -> Polled
where
    B: Body,
    B::Error: Into<BoxError>,
{
    Pin::new(body).poll_frame(&mut Context::from_waker(waker))
}

fn data(p: Polled) -> Bytes {
    match p {
        Poll::Ready(Some(Ok(f))) => f.into_data().expect("a data frame"),
        other => panic!(
            "expected a data frame, got {:?}",
            other.map(|o| o.map(|r| r.is_ok()))
        ),
    }
}

/// How long a test waits for something that must happen; only a bound, so a hang fails.
const BOUND: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Replay

#[tokio::test(start_paused = true)]
async fn a_streamed_body_is_replayed_whole_with_its_chunks() {
    let (mut tx, rx) = channel_body();
    let body = ReplayBody::new(rx, 1024);
    let kept = body.clone();
    let sender = tokio::spawn(async move {
        for i in 0..5 {
            tx.send_data(Bytes::from(format!("chunk {i};")))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let first = read_all(body).await.unwrap();
    sender.await.unwrap();
    assert_eq!(first.chunks.len(), 5);
    assert_eq!(first.bytes(), b"chunk 0;chunk 1;chunk 2;chunk 3;chunk 4;");

    assert_eq!(kept.can_replay(), Ok(()));
    assert_eq!(kept.buffered_bytes(), first.bytes().len());
    assert_eq!(kept.size_hint().exact(), Some(first.bytes().len() as u64));
    let again = read_all(kept.clone()).await.unwrap();
    assert_eq!(again, first, "same chunks, same boundaries");
    // And again: a replay does not use the recording up.
    assert_eq!(read_all(kept).await.unwrap(), first);
}

#[tokio::test]
async fn trailers_are_replayed() {
    let body = ReplayBody::new(chunks(&["a", "bc"]).with_trailers(trailers()), 1024);
    let kept = body.clone();
    let first = read_all(body).await.unwrap();
    assert_eq!(first.trailers, Some(trailers()));
    assert_eq!(first.bytes(), b"abc");

    // Trailers still to come: no exact size (an HTTP/1 client would drop them).
    assert_eq!(kept.size_hint().lower(), 3);
    assert_eq!(kept.size_hint().upper(), None);
    assert!(!kept.is_end_stream());
    assert_eq!(read_all(kept).await.unwrap(), first);
}

#[tokio::test]
async fn a_body_of_trailers_only_is_replayed() {
    let body = ReplayBody::new(chunks(&[]).with_trailers(trailers()), 16);
    assert!(!body.is_end_stream());
    let kept = body.clone();
    let first = read_all(body).await.unwrap();
    assert!(first.chunks.is_empty());
    assert_eq!(first.trailers, Some(trailers()));
    assert_eq!(read_all(kept).await.unwrap(), first);
}

#[tokio::test]
async fn full_and_empty_bodies() {
    let full = ReplayBody::new(Full::new(Bytes::from_static(b"hello world")), 64);
    let kept = full.clone();
    assert_eq!(full.size_hint().exact(), Some(11));
    assert_eq!(kept.size_hint().exact(), Some(11));
    assert!(!full.is_end_stream());
    assert_eq!(read_all(full).await.unwrap().bytes(), b"hello world");
    assert_eq!(kept.size_hint().exact(), Some(11));
    let mut kept2 = kept.clone();
    assert_eq!(read_all(kept).await.unwrap().bytes(), b"hello world");
    assert_eq!(next_data(&mut kept2).await, "hello world");
    assert!(
        kept2.is_end_stream(),
        "the last chunk replayed: nothing more"
    );
    assert_eq!(kept2.size_hint().exact(), Some(0));

    // Bodies at their end when wrapped share nothing (no cap, nothing to record).
    for body in [
        ReplayBody::new(Empty::<Bytes>::new().boxed(), 64),
        ReplayBody::new(Full::new(Bytes::new()).boxed(), 64),
    ] {
        let kept = body.clone();
        assert_eq!(body.cap(), None);
        assert!(body.is_end_stream() && kept.is_end_stream());
        assert_eq!(kept.size_hint().exact(), Some(0));
        assert_eq!(kept.can_replay(), Ok(()));
        assert!(read_all(body).await.unwrap().chunks.is_empty());
        assert!(read_all(kept).await.unwrap().chunks.is_empty());
    }
}

#[tokio::test]
async fn size_hints_follow_each_copy() {
    let body = ReplayBody::new(chunks(&["aaaaa", "bbbbb", "ccccc"]), 64);
    let mut first = body.clone();
    let kept = body.clone();
    drop(body);
    assert_eq!(first.size_hint().exact(), Some(15));
    assert_eq!(next_data(&mut first).await, "aaaaa");
    assert_eq!(first.size_hint().exact(), Some(10));
    // The kept copy has 5 recorded bytes and the 10 the body still holds ahead of it.
    assert_eq!(kept.size_hint().exact(), Some(15));
    assert!(!kept.is_end_stream());
    let mut replay = kept.clone();
    assert_eq!(next_data(&mut replay).await, "aaaaa");
    assert_eq!(replay.size_hint().exact(), Some(10));
}

// ---------------------------------------------------------------------------------------------
// The cap

#[tokio::test(start_paused = true)]
async fn a_body_past_the_cap_is_sent_once_whole_and_copies_refuse() {
    let (mut tx, rx) = channel_body();
    let body = ReplayBody::new(rx, 100);
    let kept = body.clone();
    let mut behind = body.clone();
    let sender = tokio::spawn(async move {
        for i in 0..4u8 {
            tx.send_data(Bytes::from(vec![b'a' + i; 40])).await.unwrap();
        }
    });
    let mut body = body;
    let mut sent = Vec::new();
    sent.extend_from_slice(&next_data(&mut body).await);
    // A copy that replays the first chunk while the original goes on.
    assert_eq!(next_data(&mut behind).await, &sent[..]);
    sent.extend_from_slice(&next_data(&mut body).await);
    assert_eq!(body.buffered_bytes(), 80);
    assert_eq!(kept.can_replay(), Ok(()));
    // The third chunk passes the cap: the reader still gets it, the recording goes.
    while let Some(frame) = body.frame().await {
        sent.extend_from_slice(&frame.unwrap().into_data().unwrap());
        assert!(body.buffered_bytes() <= 100);
    }
    sender.await.unwrap();
    assert_eq!(sent.len(), 160, "the streaming copy got every byte");
    assert_eq!(&sent[120..], &[b'd'; 40][..]);
    assert_eq!(body.buffered_bytes(), 0, "nothing kept that nobody can use");

    let why = kept.can_replay().unwrap_err();
    assert!(why.contains("replay cap"), "{why}");
    let err = read_all(kept.clone()).await.unwrap_err();
    let err = replay_error(&err);
    assert!(err.is_over_cap() && !err.is_source_failed());
    assert_eq!(err.cap(), Some(100));
    assert!(err.to_string().contains("100 bytes"), "{err}");
    // The copy that was one chunk behind fails too, instead of sending a truncated body.
    let err = behind.frame().await.unwrap().unwrap_err();
    assert!(replay_error(&err).is_over_cap());
    // A copy of a copy refuses as well.
    assert!(kept.clone().can_replay().is_err());
}

#[tokio::test]
async fn a_body_known_to_be_larger_than_the_cap_is_not_recorded() {
    let (source, dropped) = chunks(&["0123456789", "0123456789", "0123456789"]).drop_flag();
    let body = ReplayBody::new(source, 25);
    let kept = body.clone();
    // No copy has read it yet: one of them can still send it whole.
    assert_eq!(kept.can_replay(), Ok(()));
    assert_eq!(kept.size_hint().exact(), Some(30));

    let mut body = body;
    assert_eq!(next_data(&mut body).await, "0123456789");
    assert_eq!(body.buffered_bytes(), 0, "nothing recorded");
    assert!(kept.can_replay().is_err());
    assert_eq!(body.size_hint().exact(), Some(20));
    assert_eq!(
        read_all(body).await.unwrap().bytes(),
        b"01234567890123456789"
    );
    assert!(dropped.load(Ordering::SeqCst));

    let err = read_all(kept).await.unwrap_err();
    assert!(replay_error(&err).is_over_cap());
}

#[tokio::test]
async fn the_first_copy_to_read_a_body_larger_than_the_cap_takes_it() {
    let body = ReplayBody::new(Full::new(Bytes::from(vec![1u8; 200])), 100);
    let kept = body.clone();
    // The first attempt never read its body (say the connection was refused): the kept copy
    // sends it, and the unread original can no longer be.
    assert_eq!(read_all(kept).await.unwrap().bytes(), vec![1u8; 200]);
    assert!(body.can_replay().is_err());
    let err = read_all(body).await.unwrap_err();
    assert!(replay_error(&err).is_over_cap());
}

#[tokio::test]
async fn a_body_exactly_at_the_cap_is_replayable() {
    let body = ReplayBody::new(chunks(&["12345", "67890"]), 10);
    let kept = body.clone();
    assert_eq!(read_all(body).await.unwrap().bytes(), b"1234567890");
    assert_eq!(kept.can_replay(), Ok(()));
    assert_eq!(kept.buffered_bytes(), 10);
    assert_eq!(read_all(kept).await.unwrap().bytes(), b"1234567890");
}

// ---------------------------------------------------------------------------------------------
// Copies that stop, copies together, copies dropped

#[tokio::test]
async fn a_copy_goes_on_from_the_body_where_the_first_reader_stopped() {
    let body = ReplayBody::new(chunks(&["one ", "two ", "three ", "four"]).stalling(), 64);
    let kept = body.clone();
    let mut first = body;
    assert_eq!(next_data(&mut first).await, "one ");
    assert_eq!(next_data(&mut first).await, "two ");
    // The server answered early: the first reader stops, half-way.
    assert_eq!(kept.buffered_bytes(), 8);
    let again = read_all(kept.clone()).await.unwrap();
    assert_eq!(again.bytes(), b"one two three four");
    assert_eq!(again.chunks.len(), 4);
    // The first reader, polled again, finds the rest recorded by the copy.
    assert_eq!(next_data(&mut first).await, "three ");
    assert_eq!(next_data(&mut first).await, "four");
    assert!(first.frame().await.is_none());

    // The same when the first reader is dropped half-way.
    let body = ReplayBody::new(chunks(&["one ", "two ", "three"]), 64);
    let kept = body.clone();
    let mut first = body;
    assert_eq!(next_data(&mut first).await, "one ");
    drop(first);
    assert_eq!(read_all(kept).await.unwrap().bytes(), b"one two three");
}

#[tokio::test(start_paused = true)]
async fn two_copies_read_together_get_identical_bytes() {
    let (mut tx, rx) = channel_body();
    let body = ReplayBody::new(rx, 4096);
    let a = tokio::spawn(read_all(body.clone()));
    let b = tokio::spawn(read_all(body.clone()));
    drop(body);
    let mut sent = Vec::new();
    for i in 0..20 {
        let chunk = Bytes::from(format!("<{i}>"));
        sent.extend_from_slice(&chunk);
        tx.send_data(chunk).await.unwrap();
        tokio::task::yield_now().await;
    }
    drop(tx);
    let a = tokio::time::timeout(BOUND, a)
        .await
        .expect("a finished")
        .unwrap()
        .unwrap();
    let b = tokio::time::timeout(BOUND, b)
        .await
        .expect("b finished")
        .unwrap()
        .unwrap();
    assert_eq!(a.bytes(), sent);
    assert_eq!(a, b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_read_on_two_threads_agree() {
    for round in 0..50 {
        let (mut tx, rx) = channel_body();
        let body = ReplayBody::new(rx, 64 * 1024);
        let readers: Vec<_> = (0..3)
            .map(|_| tokio::spawn(read_all(body.clone())))
            .collect();
        drop(body);
        let mut sent = Vec::new();
        for i in 0..32 {
            let chunk = Bytes::from(format!("{round}:{i};"));
            sent.extend_from_slice(&chunk);
            tx.send_data(chunk).await.unwrap();
        }
        drop(tx);
        for r in readers {
            let read = tokio::time::timeout(BOUND, r)
                .await
                .unwrap_or_else(|_| panic!("round {round}: a copy hung"))
                .unwrap()
                .unwrap();
            assert_eq!(read.bytes(), sent, "round {round}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn two_copies_reading_past_the_cap_together_one_sends_it_whole_and_the_other_fails() {
    let (mut tx, rx) = channel_body();
    let body = ReplayBody::new(rx, 50);
    let a = tokio::spawn(read_all(body.clone()));
    let b = tokio::spawn(read_all(body.clone()));
    let kept = body;
    let mut sent = Vec::new();
    for i in 0..10u8 {
        let chunk = Bytes::from(vec![i; 10]);
        sent.extend_from_slice(&chunk);
        tx.send_data(chunk).await.unwrap();
        tokio::task::yield_now().await;
    }
    drop(tx);
    let a = tokio::time::timeout(BOUND, a)
        .await
        .expect("a finished")
        .unwrap();
    let b = tokio::time::timeout(BOUND, b)
        .await
        .expect("b finished")
        .unwrap();
    let (whole, failed) = match (a, b) {
        (Ok(w), Err(e)) | (Err(e), Ok(w)) => (w, e),
        (a, b) => panic!("expected one whole body and one failure, got {a:?} and {b:?}"),
    };
    assert_eq!(whole.bytes(), sent);
    assert!(replay_error(&failed).is_over_cap());
    assert!(kept.can_replay().is_err());
}

/// A body that, the first time it is polled, polls another copy of the very body it is
/// wrapped in: that copy finds the body busy.
struct Reentrant {
    other: Arc<Mutex<Option<ReplayBody<Reentrant>>>>,
    other_waker: Waker,
    calls: usize,
}

impl Body for Reentrant {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.calls += 1;
        match self.calls {
            1 => {
                let mut slot = self.other.lock().unwrap();
                let other = slot.as_mut().unwrap();
                assert!(
                    poll(other, &self.other_waker).is_pending(),
                    "the body is busy"
                );
                Poll::Pending
            }
            2 => Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"x"))))),
            _ => Poll::Ready(None),
        }
    }
}

#[test]
fn a_copy_that_finds_the_body_busy_is_woken_when_it_is_put_back() {
    let slot = Arc::new(Mutex::new(None));
    let (count_b, waker_b) = counting();
    let mut a = ReplayBody::new(
        Reentrant {
            other: slot.clone(),
            other_waker: waker_b.clone(),
            calls: 0,
        },
        64,
    );
    *slot.lock().unwrap() = Some(a.clone());
    let (count_a, waker_a) = counting();

    // A reads the body; inside, B finds it busy and waits. The body says "not yet", and A
    // puts it back: B must be woken, or it would wait on A being polled again.
    assert!(poll(&mut a, &waker_a).is_pending());
    assert_eq!(count_b.0.load(Ordering::SeqCst), 1, "B was woken");

    // B reads the next frame itself, and wakes A, which was waiting for the body.
    let mut b = slot.lock().unwrap().take().unwrap();
    assert_eq!(data(poll(&mut b, &waker_b)), "x");
    assert_eq!(count_a.0.load(Ordering::SeqCst), 1, "A was woken");
    assert_eq!(data(poll(&mut a, &waker_a)), "x");
    assert!(matches!(poll(&mut a, &waker_a), Poll::Ready(None)));
    assert!(matches!(poll(&mut b, &waker_b), Poll::Ready(None)));
}

#[test]
fn copies_waiting_on_a_stream_are_all_woken_by_it() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let (mut tx, rx) = Channel::<Bytes, Infallible>::new(4);
    let mut a = ReplayBody::new(rx, 64);
    let mut b = a.clone();
    let (count_a, waker_a) = counting();
    let (count_b, waker_b) = counting();
    // Both wait on the channel, each having polled it last in turn.
    assert!(poll(&mut a, &waker_a).is_pending());
    assert!(poll(&mut b, &waker_b).is_pending());
    tx.try_send(Frame::data(Bytes::from_static(b"hi"))).unwrap();
    assert_eq!(count_a.0.load(Ordering::SeqCst), 1, "A was not forgotten");
    assert_eq!(count_b.0.load(Ordering::SeqCst), 1);
    assert_eq!(data(poll(&mut a, &waker_a)), "hi");
    assert_eq!(data(poll(&mut b, &waker_b)), "hi");
}

#[tokio::test]
async fn copies_can_be_dropped_in_any_order() {
    let orders: [[usize; 3]; 6] = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for order in orders {
        let (source, dropped) = chunks(&["ab", "cd", "ef"]).drop_flag();
        let body = ReplayBody::new(source, 64);
        let mut copies = [Some(body.clone()), Some(body.clone()), Some(body)];
        // Copy 0 read a chunk, copy 1 is idle, copy 2 read two.
        assert_eq!(next_data(copies[0].as_mut().unwrap()).await, "ab");
        assert_eq!(next_data(copies[2].as_mut().unwrap()).await, "ab");
        assert_eq!(next_data(copies[2].as_mut().unwrap()).await, "cd");
        // Drop two; the last one still reads the whole body.
        drop(copies[order[0]].take());
        drop(copies[order[1]].take());
        assert!(
            !dropped.load(Ordering::SeqCst),
            "{order:?}: the body went early"
        );
        let last = copies[order[2]].take().unwrap();
        let rest = read_all(last).await.unwrap();
        let whole: &[u8] = b"abcdef";
        let from = match order[2] {
            0 => 2,
            1 => 0,
            _ => 4,
        };
        assert_eq!(rest.bytes(), &whole[from..], "{order:?}");
        assert!(
            dropped.load(Ordering::SeqCst),
            "{order:?}: the body was released"
        );
    }

    // Unread copies dropped: the body goes with the last of them.
    let (source, dropped) = chunks(&["ab"]).drop_flag();
    let body = ReplayBody::new(source, 64);
    let copy = body.clone();
    drop(body);
    assert!(!dropped.load(Ordering::SeqCst));
    drop(copy);
    assert!(dropped.load(Ordering::SeqCst));
}

// ---------------------------------------------------------------------------------------------
// Failures of the wrapped body

#[tokio::test]
async fn a_failing_body_fails_its_reader_with_its_error_and_copies_with_a_replay_error() {
    let (mut tx, rx) = channel_body();
    let body = ReplayBody::new(rx, 64);
    let kept = body.clone();
    tx.send_data(Bytes::from_static(b"part")).await.unwrap();
    let mut body = body;
    assert_eq!(next_data(&mut body).await, "part");
    tx.abort(std::io::Error::other("upload stream broke"));
    let err = body.frame().await.unwrap().unwrap_err();
    assert_eq!(
        err.downcast_ref::<std::io::Error>().unwrap().to_string(),
        "upload stream broke"
    );
    assert!(kept.can_replay().unwrap_err().contains("failed"));

    let mut kept = kept;
    assert_eq!(
        next_data(&mut kept).await,
        "part",
        "what was read is replayed"
    );
    let err = kept.frame().await.unwrap().unwrap_err();
    let err = replay_error(&err);
    assert!(err.is_source_failed());
    assert_eq!(
        std::error::Error::source(err).unwrap().to_string(),
        "upload stream broke"
    );
}

#[tokio::test]
async fn a_body_that_fails_after_outgrowing_the_cap_says_it_failed() {
    let (mut tx, rx) = channel_body();
    let body = ReplayBody::new(rx, 8);
    let kept = body.clone();
    tx.send_data(Bytes::from_static(b"0123")).await.unwrap();
    let mut body = body;
    assert_eq!(next_data(&mut body).await, "0123");
    // Past the cap: the reader takes the body to itself.
    tx.send_data(Bytes::from_static(b"456789")).await.unwrap();
    assert_eq!(next_data(&mut body).await, "456789");
    assert!(kept.can_replay().unwrap_err().contains("replay cap"));
    // Then the stream breaks: that, not the size, is what stops a resend now.
    tx.abort(std::io::Error::other("upload stream broke"));
    let err = body.frame().await.unwrap().unwrap_err();
    assert_eq!(err.to_string(), "upload stream broke");
    let why = kept.can_replay().unwrap_err();
    assert!(why.contains("failed"), "{why}");
    assert!(body.can_replay().unwrap_err().contains("failed"));
    let err = read_all(kept).await.unwrap_err();
    let err = replay_error(&err);
    assert!(err.is_source_failed() && !err.is_over_cap());
    assert_eq!(
        std::error::Error::source(err).unwrap().to_string(),
        "upload stream broke"
    );
}

struct Panics;

impl Body for Panics {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        panic!("the body broke");
    }
}

#[test]
fn a_body_that_panics_leaves_no_copy_waiting() {
    let mut a = ReplayBody::new(Panics, 64);
    let mut b = a.clone();
    let (_, waker) = counting();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll(&mut a, &waker)));
    assert!(caught.is_err());
    match poll(&mut b, &waker) {
        Poll::Ready(Some(Err(e))) => assert!(replay_error(&e).is_source_failed()),
        other => panic!("expected a replay error, got {:?}", other.is_ready()),
    }
    assert!(b.can_replay().is_err());
}

// ---------------------------------------------------------------------------------------------
// The cloner and the layer

#[test]
fn the_cloner_copies_the_whole_request() {
    let token = CancelToken::new();
    let req = Request::put("http://svc.internal/items/7?x=1")
        .version(http::Version::HTTP_2)
        .header("content-type", "application/json")
        .header("x-request-id", "r-1")
        .extension(token.clone())
        .body(ReplayBody::new(Full::new(Bytes::from_static(b"{}")), 64))
        .unwrap();
    let copy = ReplayCloner.clone_request(&req).unwrap();
    assert_eq!(copy.method(), req.method());
    assert_eq!(copy.uri(), req.uri());
    assert_eq!(copy.version(), http::Version::HTTP_2);
    assert_eq!(copy.headers(), req.headers());
    assert!(copy.cancel_token().unwrap().same_as(&token));
    assert_eq!(ReplayCloner.can_resend(&copy), Ok(()));
}

#[test]
fn the_layer_checks_its_cap() {
    assert_eq!(ReplayLayer::new().max_bytes(), DEFAULT_MAX_BYTES);
    assert_eq!(DEFAULT_MAX_BYTES, 64 * 1024);
    let err = ReplayLayer::builder().max_bytes(0).build().unwrap_err();
    assert_eq!((err.layer(), err.field()), ("replay", "max_bytes"));
    assert!(err.rule().contains("greater than zero"));
    assert_eq!(
        ReplayLayer::builder()
            .max_bytes(1)
            .build()
            .unwrap()
            .max_bytes(),
        1
    );
}

#[tokio::test]
async fn the_layer_wraps_bodies_with_its_cap() {
    let svc = ReplayLayer::builder()
        .max_bytes(5)
        .build()
        .unwrap()
        .layer(tower::service_fn(
            |req: Request<ReplayBody<Full<Bytes>>>| async move {
                let cap = req.body().cap();
                let kept = req.body().clone();
                let read = read_all(req.into_body()).await;
                Ok::<_, Infallible>((cap, read.map(|r| r.bytes()).ok(), kept.can_replay()))
            },
        ));
    let (cap, read, replay) = svc
        .clone()
        .oneshot(Request::new(Full::new(Bytes::from_static(b"12345"))))
        .await
        .unwrap();
    assert_eq!(
        (cap, read.as_deref(), replay),
        (Some(5), Some(&b"12345"[..]), Ok(()))
    );
    let (cap, read, replay) = svc
        .oneshot(Request::new(Full::new(Bytes::from_static(b"123456"))))
        .await
        .unwrap();
    assert_eq!(cap, Some(5));
    assert_eq!(read.as_deref(), Some(&b"123456"[..]), "sent whole");
    assert!(replay.is_err());
}

type Req = Request<ReplayBody<Chunks>>;

/// A service that reads each body and fails the first attempt with an error.
fn flaky_reader(
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
) -> impl Service<Req, Response = Response<()>, Error = BoxError> + Clone {
    tower::service_fn(move |req: Req| {
        let seen = seen.clone();
        async move {
            let read = read_all(req.into_body()).await?;
            let mut seen = seen.lock().unwrap();
            seen.push(read.bytes());
            if seen.len() == 1 {
                Err::<Response<()>, BoxError>("connection reset".into())
            } else {
                Ok(Response::new(()))
            }
        }
    })
}

fn retrying<S>(
    svc: S,
    cap: usize,
) -> impl Service<Request<Chunks>, Response = Response<()>, Error = BoxError>
where
    S: Service<Req, Response = Response<()>, Error = BoxError> + Clone,
{
    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_millis(100)))
        .classify_with(
            |_: &Attempt<'_, Req>, r: Result<&Response<()>, &BoxError>| match r {
                Ok(_) => Outcome::Success,
                Err(_) => Outcome::retryable(),
            },
        )
        .clone_requests(ReplayCloner)
        .build()
        .unwrap();
    tower::ServiceBuilder::new()
        .layer(ReplayLayer::builder().max_bytes(cap).build().unwrap())
        .layer(RetryLayer::new(policy))
        .service(svc)
}

#[tokio::test(start_paused = true)]
async fn the_retry_layer_resends_a_streamed_body() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let svc = retrying(flaky_reader(seen.clone()), 64);
    let resp = svc
        .oneshot(Request::new(chunks(&["stream", "ed ", "body"]).stalling()))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let seen = seen.lock().unwrap();
    assert_eq!(
        *seen,
        [b"streamed body".to_vec(), b"streamed body".to_vec()]
    );
}

#[tokio::test(start_paused = true)]
async fn the_retry_layer_stops_when_the_body_outgrew_the_cap() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let svc = retrying(flaky_reader(seen.clone()), 8);
    let err = svc
        .oneshot(Request::new(chunks(&["stream", "ed ", "body"]).stalling()))
        .await
        .unwrap_err();
    let err = err.downcast_ref::<RetryError>().expect("a RetryError");
    assert!(
        matches!(err.reason(), StopReason::NotReplayable(why) if why.contains("replay cap")),
        "{err}"
    );
    assert_eq!(err.attempts(), 1);
    assert_eq!(err.last_error().unwrap().to_string(), "connection reset");
    assert_eq!(
        *seen.lock().unwrap(),
        [b"streamed body".to_vec()],
        "sent once, whole"
    );
}
