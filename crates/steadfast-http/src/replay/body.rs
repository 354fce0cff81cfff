//! The replayable body: copies share one recording of the body they wrap.

use std::fmt;
use std::mem;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use bytes::{Buf, Bytes};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use steadfast::BoxError;

use super::error::{ReplayError, OVER_CAP, SOURCE_FAILED};

/// A request body that can be sent again: every clone yields the same frames.
///
/// The first copy that is read streams the wrapped body and keeps a copy of what it reads, up
/// to `cap` bytes of data; later clones replay that recording, with the same chunks and the
/// same trailers, and then go on reading the wrapped body where the recording ends, if the
/// copies before them stopped early (a server that answered before reading the whole body,
/// say). Whichever copy reaches the end of the recording first reads the next frame of the
/// wrapped body and records it for the others.
///
/// # The cap
///
/// If the body grows past `cap` bytes, recording stops and what was recorded is released: the
/// copy that is streaming keeps streaming and still gets every byte (the body is sent once,
/// whole), but no other copy can be sent any more. [`can_replay`](Self::can_replay) then
/// answers `Err`, and a copy polled anyway fails with a [`ReplayError`] rather than send a
/// truncated body. A body whose [`size_hint`](Body::size_hint) says from the start that it is
/// larger than the cap is never recorded: the first copy to read it takes it whole. Either
/// way, no more than `cap` bytes of data are ever held.
///
/// A body that is already at its end when wrapped (`Empty`, an empty `Full`) is shared by no
/// one: wrapping and cloning it allocates nothing.
///
/// # Errors
///
/// The body's error type is [`BoxError`]. The copy that reads a frame from the wrapped body
/// gets that body's error unchanged (boxed); other copies get a [`ReplayError`] for it once
/// they have replayed what was recorded before it. The same goes for a wrapped body that
/// panics while a copy reads it: the copies waiting for it fail instead of waiting for ever.
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::{BodyExt, Full};
/// use steadfast_http::replay::ReplayBody;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let body = ReplayBody::new(Full::new(Bytes::from_static(b"hello")), 64 * 1024);
/// let kept = body.clone();
/// assert_eq!(body.collect().await.unwrap().to_bytes(), "hello");
/// assert!(kept.can_replay().is_ok());
/// assert_eq!(kept.collect().await.unwrap().to_bytes(), "hello");
/// # }
/// ```
pub struct ReplayBody<B> {
    inner: Inner<B>,
}

enum Inner<B> {
    /// At its end when wrapped: nothing to share.
    Empty,
    Shared(Handle<B>),
}

/// One copy's view of the shared state.
struct Handle<B> {
    shared: Arc<Shared<B>>,
    /// Tells this copy's waker apart from the others' in the waiting list.
    id: u64,
    /// The next recorded chunk this copy hands out.
    next: usize,
    /// Recorded bytes this copy has handed out.
    read: usize,
    trailers_sent: bool,
    /// The wrapped body, once this copy holds it alone (it read past the cap, or it took a
    /// body too large to record).
    owned: Option<Pin<Box<B>>>,
    /// This copy has returned its last frame.
    done: bool,
}

// Invariants of the shared state:
// * The copies share one state behind a `std` mutex, held only to read or update the
//   recording and to register a waiting copy's waker; never while the wrapped body's own
//   code runs (its frames are converted and its errors formatted before the lock is taken),
//   while a waker is woken, or while the body or its recorded data is dropped.
// * To read the wrapped body a copy moves it out of the state (leaving it marked busy),
//   polls it without the lock, and puts it back: only one copy reads it at a time, and
//   every frame it reads is recorded before any other copy can read the next one, so all
//   copies see the same frames in the same order.
// * The wrapped body is polled with a waker of the state's own, which wakes every copy
//   waiting for new data, not only the one that polled last; a copy that finds the body busy
//   registers its waker there and is woken by the copy that puts the body back. No copy
//   waits on another copy being polled again, so no wakeup is lost and no copy hangs.
// * The recording only grows, up to the cap; it is released whole when the body outgrows
//   the cap, and from then on only the copy that read past the cap holds the wrapped body.
// * If the wrapped body panics while a copy reads it, the state records a failure and wakes
//   the waiting copies: they fail instead of waiting for a body that is gone.
struct Shared<B> {
    state: Mutex<State<B>>,
    /// The copies waiting for the wrapped body; also the waker it is polled with.
    waiting: Arc<Waiting>,
    /// `waiting` as a waker, made once.
    waker: Waker,
    next_id: AtomicU64,
    cap: usize,
}

struct State<B> {
    source: Source<B>,
    /// The data frames read so far, in order; together `len` bytes, at most the cap.
    chunks: Vec<Bytes>,
    len: usize,
    /// The trailers, once read (the last frame of a body).
    trailers: Option<HeaderMap>,
    /// What the wrapped body last said of its remaining size.
    hint: SizeHint,
    /// A copy found the wrapped body busy and waits: whoever puts it back wakes the waiting.
    contended: bool,
}

enum Source<B> {
    /// Waiting for the next copy that reaches the end of the recording.
    Idle(Pin<Box<B>>),
    /// Being read, outside the lock, by one copy.
    Busy,
    /// Known to be larger than the cap and not read yet: the first copy to read it takes it.
    Unrecorded(Pin<Box<B>>),
    /// Held by the one copy that can still send the body whole.
    Taken,
    /// Read to its end: the recording is the whole body.
    Ended,
    /// Failed (or panicked) with this message.
    Failed(Box<str>),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while the lock is held; recover the state rather than spread a panic.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<B: Body> ReplayBody<B> {
    /// Wraps `body`, recording up to `cap` bytes of its data for replay.
    ///
    /// A `cap` of 0 allows only empty bodies to be replayed (and a body no copy has started
    /// to read yet, which one copy can still take whole).
    pub fn new(body: B, cap: usize) -> Self {
        if body.is_end_stream() {
            return ReplayBody {
                inner: Inner::Empty,
            };
        }
        let hint = body.size_hint();
        let source = if hint.lower() > cap as u64 {
            Source::Unrecorded(Box::pin(body))
        } else {
            Source::Idle(Box::pin(body))
        };
        let waiting = Arc::new(Waiting::default());
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                source,
                chunks: Vec::new(),
                len: 0,
                trailers: None,
                hint,
                contended: false,
            }),
            waker: Waker::from(waiting.clone()),
            waiting,
            next_id: AtomicU64::new(1),
            cap,
        });
        ReplayBody {
            inner: Inner::Shared(Handle::new(shared, 0)),
        }
    }
}

impl<B> ReplayBody<B> {
    /// Can a copy of this body still be sent whole? `Err` says why not: the body grew past the
    /// replay cap while a copy streamed it (or was known to be larger from the start and a
    /// copy has started to read it), or its stream failed while a copy read it.
    ///
    /// This is what [`ReplayCloner`](super::ReplayCloner) answers the retry layer's
    /// [`can_resend`](steadfast::retry::CloneRequest::can_resend) with.
    pub fn can_replay(&self) -> Result<(), &'static str> {
        let Inner::Shared(h) = &self.inner else {
            return Ok(());
        };
        if h.owned.is_some() {
            return Err(OVER_CAP);
        }
        match lock(&h.shared.state).source {
            Source::Taken => Err(OVER_CAP),
            Source::Failed(_) => Err(SOURCE_FAILED),
            _ => Ok(()),
        }
    }

    /// The bytes of data held for replay, shared by every copy (never more than the cap).
    pub fn buffered_bytes(&self) -> usize {
        match &self.inner {
            Inner::Empty => 0,
            Inner::Shared(h) => {
                let st = lock(&h.shared.state);
                st.chunks.iter().map(Bytes::len).sum()
            }
        }
    }

    /// The cap this body was made with (`None` for a body that was empty when wrapped: it
    /// records nothing).
    pub fn cap(&self) -> Option<usize> {
        match &self.inner {
            Inner::Empty => None,
            Inner::Shared(h) => Some(h.shared.cap),
        }
    }
}

impl<B> Clone for ReplayBody<B> {
    /// A copy that starts from the first frame.
    fn clone(&self) -> Self {
        match &self.inner {
            Inner::Empty => ReplayBody {
                inner: Inner::Empty,
            },
            Inner::Shared(h) => {
                let id = h.shared.next_id.fetch_add(1, Ordering::Relaxed);
                ReplayBody {
                    inner: Inner::Shared(Handle::new(h.shared.clone(), id)),
                }
            }
        }
    }
}

impl<B> fmt::Debug for ReplayBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ReplayBody");
        match &self.inner {
            Inner::Empty => d.field("empty", &true),
            Inner::Shared(h) => d
                .field("cap", &h.shared.cap)
                .field("buffered", &self.buffered_bytes())
                .field("replayable", &self.can_replay().is_ok()),
        };
        d.finish_non_exhaustive()
    }
}

impl<B> Body for ReplayBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().inner {
            Inner::Empty => Poll::Ready(None),
            Inner::Shared(h) => h.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Empty => true,
            Inner::Shared(h) => h.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Empty => SizeHint::with_exact(0),
            Inner::Shared(h) => h.size_hint(),
        }
    }
}

fn into_bytes<D: Buf>(mut data: D) -> Bytes {
    let n = data.remaining();
    data.copy_to_bytes(n)
}

impl<B> Handle<B> {
    fn new(shared: Arc<Shared<B>>, id: u64) -> Self {
        Handle {
            shared,
            id,
            next: 0,
            read: 0,
            trailers_sent: false,
            owned: None,
            done: false,
        }
    }

    fn is_end_stream(&self) -> bool
    where
        B: Body,
    {
        if self.done {
            return true;
        }
        if let Some(src) = &self.owned {
            return src.is_end_stream();
        }
        let st = lock(&self.shared.state);
        matches!(st.source, Source::Ended)
            && self.next >= st.chunks.len()
            && (st.trailers.is_none() || self.trailers_sent)
    }

    fn size_hint(&self) -> SizeHint
    where
        B: Body,
    {
        if self.done {
            return SizeHint::with_exact(0);
        }
        if let Some(src) = &self.owned {
            return src.size_hint();
        }
        let st = lock(&self.shared.state);
        let rest = match &st.source {
            // This copy will fail: say nothing of its size.
            Source::Taken | Source::Failed(_) => return SizeHint::default(),
            // Trailers still to come: claim no exact size, or an HTTP/1 client would frame
            // the body with a content-length and have no way to send them.
            Source::Ended if st.trailers.is_some() && !self.trailers_sent => SizeHint::new(),
            Source::Ended => SizeHint::with_exact(0),
            Source::Idle(_) | Source::Busy | Source::Unrecorded(_) => st.hint,
        };
        let pending = st.len.saturating_sub(self.read) as u64;
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower().saturating_add(pending));
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper.saturating_add(pending));
        }
        hint
    }

    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        if self.done {
            return Poll::Ready(None);
        }
        if self.owned.is_some() {
            return self.poll_owned(cx);
        }
        let shared = &*self.shared;
        let mut st = lock(&shared.state);

        // Replay what was recorded.
        if let Some(chunk) = st.chunks.get(self.next) {
            let chunk = chunk.clone();
            self.next += 1;
            self.read += chunk.len();
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }

        // At the end of the recording.
        match &st.source {
            Source::Ended => {
                if !self.trailers_sent {
                    self.trailers_sent = true;
                    if let Some(t) = &st.trailers {
                        return Poll::Ready(Some(Ok(Frame::trailers(t.clone()))));
                    }
                }
                self.done = true;
                Poll::Ready(None)
            }
            Source::Failed(message) => Poll::Ready(Some(Err(Box::new(
                ReplayError::source_failed(message.clone()),
            )))),
            Source::Taken => Poll::Ready(Some(Err(Box::new(ReplayError::over_cap(shared.cap))))),
            Source::Busy => {
                st.contended = true;
                shared.waiting.register(self.id, cx.waker());
                Poll::Pending
            }
            Source::Unrecorded(_) => {
                let Source::Unrecorded(src) = mem::replace(&mut st.source, Source::Taken) else {
                    unreachable!("matched above")
                };
                drop(st);
                self.owned = Some(src);
                self.poll_owned(cx)
            }
            Source::Idle(_) => {
                let Source::Idle(src) = mem::replace(&mut st.source, Source::Busy) else {
                    unreachable!("matched above")
                };
                shared.waiting.register(self.id, cx.waker());
                drop(st);
                self.read_source(src)
            }
        }
    }

    /// Polls the body this copy holds alone; releases it at its end.
    fn poll_owned(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let Some(src) = self.owned.as_mut() else {
            return Poll::Ready(None);
        };
        match src.as_mut().poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                self.done = true;
                self.owned = None;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame.map_data(into_bytes)))),
            Poll::Ready(Some(Err(e))) => {
                // The body failed after outgrowing the cap: what stops a resend now is the
                // failure, not the size. Say so to `can_replay` and to the other copies.
                let e: BoxError = e.into();
                let message = e.to_string().into_boxed_str();
                self.owned = None;
                lock(&self.shared.state).source = Source::Failed(message);
                Poll::Ready(Some(Err(e)))
            }
        }
    }

    /// Reads the next frame of the wrapped body, taken out of the state (now busy), and
    /// records it.
    fn read_source(&mut self, mut src: Pin<Box<B>>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let shared = &*self.shared;
        let guard = PanicGuard { shared };
        let polled = src
            .as_mut()
            .poll_frame(&mut Context::from_waker(&shared.waker));
        let end = src.is_end_stream();
        let hint = src.size_hint();
        // The body's data and error are its own code too: convert them before locking.
        let polled = match polled {
            Poll::Pending => Polled::Pending,
            Poll::Ready(None) => Polled::End,
            Poll::Ready(Some(Ok(frame))) => Polled::Frame(frame.map_data(into_bytes)),
            Poll::Ready(Some(Err(e))) => {
                let e: BoxError = e.into();
                let message = e.to_string().into_boxed_str();
                Polled::Failed(e, message)
            }
        };
        mem::forget(guard);

        // What to drop or wake once the lock is released.
        let mut released: Option<Pin<Box<B>>> = None;
        let mut released_chunks = Vec::new();
        let mut st = lock(&shared.state);
        st.hint = hint;
        let contended = mem::take(&mut st.contended);
        let out = match polled {
            Polled::Pending => {
                st.source = Source::Idle(src);
                drop(st);
                if contended {
                    // A copy came while the body was busy: let it try for itself.
                    shared.waiting.wake_others(self.id);
                }
                return Poll::Pending;
            }
            Polled::End => {
                st.source = Source::Ended;
                released = Some(src);
                self.done = true;
                self.trailers_sent = true;
                None
            }
            Polled::Failed(e, message) => {
                st.source = Source::Failed(message);
                released = Some(src);
                Some(Err(e))
            }
            Polled::Frame(frame) => {
                if let Some(data) = frame.data_ref() {
                    let fits = st
                        .len
                        .checked_add(data.len())
                        .is_some_and(|n| n <= shared.cap);
                    if fits {
                        st.chunks.push(data.clone());
                        st.len += data.len();
                        self.next = st.chunks.len();
                        self.read = st.len;
                        if end {
                            st.source = Source::Ended;
                            released = Some(src);
                        } else {
                            st.source = Source::Idle(src);
                        }
                    } else {
                        // Past the cap: this copy keeps the body to itself and sends it
                        // whole; the recording is of no use to anyone any more.
                        st.source = Source::Taken;
                        released_chunks = mem::take(&mut st.chunks);
                        self.owned = Some(src);
                    }
                } else if let Some(trailers) = frame.trailers_ref() {
                    st.trailers = Some(trailers.clone());
                    st.source = Source::Ended;
                    released = Some(src);
                    self.trailers_sent = true;
                } else {
                    // A kind of frame this body does not know: passed on, not recorded.
                    st.source = Source::Idle(src);
                }
                Some(Ok(frame))
            }
        };
        drop(st);
        drop(released);
        drop(released_chunks);
        // Something changed for every copy waiting: new data, the end, or a failure.
        shared.waiting.wake_others(self.id);
        Poll::Ready(out)
    }
}

/// One poll of the wrapped body, converted.
enum Polled {
    Pending,
    End,
    Frame(Frame<Bytes>),
    Failed(BoxError, Box<str>),
}

impl<B> Drop for Handle<B> {
    fn drop(&mut self) {
        self.shared.waiting.remove(self.id);
    }
}

/// Marks the wrapped body as failed if it panics while a copy reads it (the body is dropped
/// during the unwind), so the other copies stop waiting for it.
struct PanicGuard<'a, B> {
    shared: &'a Shared<B>,
}

impl<B> Drop for PanicGuard<'_, B> {
    fn drop(&mut self) {
        let mut st = lock(&self.shared.state);
        st.source = Source::Failed("the body panicked while it was read".into());
        drop(st);
        self.shared.waiting.wake_all();
    }
}

/// The copies waiting for the wrapped body, and the waker it is polled with.
#[derive(Default)]
struct Waiting {
    wakers: Mutex<Vec<(u64, Waker)>>,
}

impl Waiting {
    fn register(&self, id: u64, waker: &Waker) {
        let mut list = lock(&self.wakers);
        match list.iter_mut().find(|(i, _)| *i == id) {
            Some((_, w)) => {
                if !w.will_wake(waker) {
                    let old = mem::replace(w, waker.clone());
                    drop(list);
                    drop(old);
                }
            }
            None => list.push((id, waker.clone())),
        }
    }

    fn remove(&self, id: u64) {
        let mut list = lock(&self.wakers);
        if let Some(i) = list.iter().position(|(i, _)| *i == id) {
            let (_, waker) = list.swap_remove(i);
            drop(list);
            drop(waker);
        }
    }

    fn wake_all(&self) {
        let mut list = lock(&self.wakers);
        // One waiter, the usual case: keep the list's allocation for the next one.
        if list.len() <= 1 {
            let one = list.pop();
            drop(list);
            if let Some((_, w)) = one {
                w.wake();
            }
            return;
        }
        let all = mem::take(&mut *list);
        drop(list);
        for (_, w) in all {
            w.wake();
        }
    }

    /// Wakes every waiting copy but `id`, which stays registered.
    fn wake_others(&self, id: u64) {
        let mut list = lock(&self.wakers);
        if list.iter().all(|(i, _)| *i == id) {
            return;
        }
        let mut others = Vec::with_capacity(list.len());
        let mut i = 0;
        while i < list.len() {
            if list[i].0 == id {
                i += 1;
            } else {
                others.push(list.swap_remove(i).1);
            }
        }
        drop(list);
        for w in others {
            w.wake();
        }
    }
}

impl Wake for Waiting {
    fn wake(self: Arc<Self>) {
        self.wake_all();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wake_all();
    }
}
