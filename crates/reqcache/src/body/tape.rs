//! [`Tape`]: an upstream body shared by the requests that read it, and the
//! copy of it that becomes the stored entry's body.
//!
//! A miss's response body goes onto a tape. Its caller reads the tape; so do
//! the requests that follow the same key's flight ([`flight`](crate::flight)),
//! from the first byte, as the body arrives. Whichever reader needs the next
//! chunk polls the upstream body itself, so a reader never waits on another
//! one to make progress (no reader can stall the others by not reading), and
//! no task is spawned. The upstream body is polled with a waker that wakes
//! every waiting reader.
//!
//! While the body is within the size limit it is copied, chunk by chunk as
//! it arrives, into one buffer (sized from the body's exact length when it
//! has one): when the body ends, that buffer is the entry's body, handed to
//! [`OnComplete`] (which stores it) without another copy. Chunks are shared
//! `Bytes` and are dropped once every reader has read them, so a large body
//! is held about once, not twice; a reader that joins late, or falls
//! behind, reads copies out of the buffer. A body of one chunk is not
//! copied at all. Past the limit (or with trailers) the body is no longer
//! storable: the buffer goes, chunks are kept only until every reader has
//! read them, and a reader that falls more than the limit behind is cut off
//! with a [`SharedBodyError`].
//!
//! When the body ends storable, the store gets a [`Lander`] with it, and the
//! readers a [`Landing`]: the write lands it when it is done (at once when
//! nobody is to wait for it). A reader at the end of the body can wait for
//! it ([`TapeReader::poll_landed`]): that is how the end of a body waits for
//! its write ([`WriteMode::Durable`](crate::WriteMode::Durable)).
//!
//! When the last reader goes before the end, a storable body of known
//! length is handed, with a reader of its own, to [`OnAbandoned`] (the
//! background fill), which reads it to the end; other bodies are not stored.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

use bytes::{Buf, Bytes, BytesMut};
use http::HeaderMap;
use http_body::{Body, Frame};

use crate::body::landing::{Lander, Landing};
use crate::body::shared_error::SharedBodyError;
use crate::body::spool::{Room, Spool, SpoolFollower, SpoolSource};
use crate::storage::BoxError;
use crate::storage::backend::BodyRef;

/// A complete, storable body: in memory, or in chunks in the storage.
pub(crate) enum Completed {
    Bytes(Bytes),
    Chunks(BodyRef),
}

/// What is done with a complete, storable body: build and store the entry,
/// and land the [`Lander`] when the write is done (dropping it lands it).
pub(crate) type OnComplete = Box<dyn FnOnce(Completed, Lander) + Send + Sync>;

/// Starts a [`Spool`] for the body, when it can be written in chunks.
pub(crate) type StartSpool = Box<dyn FnOnce() -> Option<Spool> + Send + Sync>;

/// How a body past its first bytes is written in chunks as it streams,
/// instead of being copied whole in memory.
pub(crate) struct SpoolPlan {
    /// The body goes to chunks once it has more than this many bytes.
    pub(crate) from: usize,
    pub(crate) start: StartSpool,
}

/// How far apart, at most, the readers of a body written in chunks may be
/// before the slowest is cut off: what the tape holds for them.
const SPOOLED_WINDOW: usize = 16 << 20;

/// What is done with a storable body of known length whose readers all went
/// before its end: given a reader of its own, read it to the end (dropping
/// the reader gives the body up).
pub(crate) type OnAbandoned = Box<dyn FnOnce(TapeReader) + Send + Sync>;

/// An upstream body, type-erased: every tape of a layer is one type.
type Source = Pin<Box<dyn Body<Data = Bytes, Error = BoxError> + Send>>;

/// A piece of the body.
#[derive(Clone)]
enum Piece {
    Data(Bytes),
    Trailers(HeaderMap),
}

/// How the body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Finished,
    Failed,
}

/// How a follower reads a shared body.
pub(crate) enum Follow {
    /// From the tape, from the first byte.
    Tape(TapeReader),
    /// From the chunks the body is written to.
    Chunks(SpoolFollower),
}

/// A shared upstream body.
pub(crate) struct Tape {
    state: Mutex<State>,
    wakers: Arc<Readers>,
}

struct State {
    /// The upstream body, while it has more; taken out while one reader
    /// polls it.
    source: Option<Source>,
    /// Pieces from absolute index `base` on.
    pieces: VecDeque<Piece>,
    base: usize,
    /// Bytes of data kept in `pieces`, and received in all.
    kept: usize,
    received: usize,
    limit: usize,
    /// The body's exact length, when it has one within the limit: the
    /// buffer's capacity.
    exact: Option<usize>,
    /// Set while the body may still be stored.
    on_complete: Option<OnComplete>,
    /// Taken when the last reader goes before the end of a storable body of
    /// known length.
    on_abandoned: Option<OnAbandoned>,
    /// Set when the body ended storable: lands when its write is done.
    landing: Option<Landing>,
    /// While storable, from the second chunk on: every byte received so far
    /// (the pieces of it are dropped once read).
    copy: Option<BytesMut>,
    /// While storable: where each piece ends in the body.
    ends: Vec<usize>,
    /// How the body goes to chunks once large, until it does or cannot.
    spool_plan: Option<SpoolPlan>,
    /// While storable, once large: the chunks being written.
    spool: Option<Spool>,
    /// While the body may still end whole in the store: where followers
    /// read it from, once its first pieces are gone from memory.
    follow_chunks: Option<SpoolSource>,
    /// Whether the body is (or may still turn out) storable.
    storable: bool,
    end: Option<End>,
    /// Each reader's next absolute index (`None`: a free slot).
    positions: Vec<Option<usize>>,
}

/// The waker the upstream body is polled with: wakes every waiting reader.
#[derive(Default)]
struct Readers(Mutex<Vec<Waker>>);

impl Wake for Readers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let wakers = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        wakers.into_iter().for_each(Waker::wake);
    }
}

impl Readers {
    fn register(&self, waker: &Waker) {
        let mut wakers = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !wakers.iter().any(|w| w.will_wake(waker)) {
            wakers.push(waker.clone());
        }
    }
}

impl Tape {
    /// A tape of `body`, storable up to `limit` bytes; `on_complete` gets
    /// the whole body if it ends within the limit with no trailers;
    /// `on_abandoned`, if any, a body its readers left unfinished.
    pub(crate) fn new<B>(
        body: B,
        limit: usize,
        on_complete: OnComplete,
        on_abandoned: Option<OnAbandoned>,
        spool_plan: Option<SpoolPlan>,
    ) -> Arc<Self>
    where
        B: Body + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let ended = body.is_end_stream();
        let exact = body
            .size_hint()
            .exact()
            .and_then(|len| usize::try_from(len).ok())
            .filter(|len| *len <= limit);
        let source: Source = Box::pin(http_body_util::BodyExt::map_err(
            http_body_util::BodyExt::map_frame(body, |frame| {
                frame.map_data(|mut data| data.copy_to_bytes(data.remaining()))
            }),
            Into::into,
        ));
        let tape = Arc::new(Self {
            state: Mutex::new(State {
                source: Some(source),
                pieces: VecDeque::new(),
                base: 0,
                kept: 0,
                received: 0,
                limit,
                exact,
                on_complete: Some(on_complete),
                on_abandoned,
                landing: None,
                copy: None,
                ends: Vec::new(),
                spool_plan,
                spool: None,
                follow_chunks: None,
                storable: true,
                end: None,
                positions: Vec::new(),
            }),
            wakers: Arc::default(),
        });
        if ended {
            let complete = tape.finish(&mut tape.lock(), End::Finished);
            complete.run();
        }
        tape
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A follower's reader: from the tape while its first byte is there,
    /// else from the chunks the body is being written to; `None` once
    /// neither is possible (the body failed, or is past the limit and
    /// parts of it are gone).
    pub(crate) fn follow(self: &Arc<Self>) -> Option<Follow> {
        {
            let state = self.lock();
            if let Some(source) = &state.follow_chunks
                && state.storable
                && state.base > 0
            {
                return Some(Follow::Chunks(source.follower()));
            }
        }
        self.reader().map(Follow::Tape)
    }

    /// Ready once the write of the body's entry is done (or was given
    /// up), and at once when there is none to wait for.
    pub(crate) fn poll_landed(&self, cx: &Context<'_>) -> Poll<()> {
        let landing = self.lock().landing.clone();
        match landing {
            Some(landing) => landing.poll_landed(cx),
            None => Poll::Ready(()),
        }
    }

    /// A reader from the first byte; `None` once that is no longer
    /// possible (the body failed, or is past the limit and parts of it are
    /// gone).
    pub(crate) fn reader(self: &Arc<Self>) -> Option<TapeReader> {
        let state = self.lock();
        if !state.storable || (state.base > 0 && state.copy.is_none()) {
            return None;
        }
        Some(self.add_reader(state))
    }

    /// The reader of the request that made the tape: made first, it reads
    /// from the first byte whatever the body turns out to be.
    pub(crate) fn first_reader(self: &Arc<Self>) -> TapeReader {
        self.add_reader(self.lock())
    }

    fn add_reader(self: &Arc<Self>, mut state: MutexGuard<'_, State>) -> TapeReader {
        let slot = match state.positions.iter().position(Option::is_none) {
            Some(slot) => {
                state.positions[slot] = Some(0);
                slot
            }
            None => {
                state.positions.push(Some(0));
                state.positions.len() - 1
            }
        };
        TapeReader {
            tape: Arc::clone(self),
            slot,
        }
    }

    /// Ends the body; what to run once the lock is released.
    fn finish(&self, state: &mut State, end: End) -> AfterLock {
        if state.end.is_some() {
            return AfterLock::Nothing;
        }
        state.end = Some(end);
        state.source = None;
        state.on_abandoned = None;
        state.spool_plan = None;
        let spool = state.spool.take();
        let on_complete = state.on_complete.take();
        let wake = AfterLock::Wake(Arc::clone(&self.wakers));
        if end == End::Failed || on_complete.is_none() {
            state.storable = false;
            state.follow_chunks = None;
        }
        match (end, on_complete, spool) {
            (End::Finished, Some(on_complete), Some(spool)) => {
                let (landing, lander) = Landing::new();
                state.landing = Some(landing);
                AfterLock::Spooled(spool, on_complete, lander, Arc::clone(&self.wakers))
            }
            (End::Finished, Some(on_complete), None) => {
                let body = match state.copy.take() {
                    Some(copy) => copy.freeze(),
                    None => joined(&state.pieces),
                };
                // Readers still to read read slices of the body: the chunks
                // go, and the body is held once.
                let ends = std::mem::take(&mut state.ends);
                state.pieces = slices(&body, &ends, 0);
                state.kept = body.len();
                state.base = 0;
                let (landing, lander) = Landing::new();
                state.landing = Some(landing);
                AfterLock::Store(
                    on_complete,
                    Completed::Bytes(body),
                    lander,
                    Arc::clone(&self.wakers),
                )
            }
            (End::Failed, _, _) => {
                state.pieces.clear();
                wake
            }
            _ => wake,
        }
    }

    /// Appends what `source` gave; past the limit the body stops being
    /// storable and pieces are kept only for readers behind.
    fn append(&self, state: &mut State, piece: Piece) -> AfterLock {
        match &piece {
            Piece::Data(data) => {
                state.received += data.len();
                state.kept += data.len();
                if state.on_complete.is_some() && state.received > state.limit {
                    tracing::debug!(
                        limit = state.limit,
                        "reqcache: body larger than max_body_size; not stored"
                    );
                    unstorable(state);
                } else if let Some(spool) = &state.spool {
                    spool.push(data.clone());
                } else if state.on_complete.is_some() {
                    if state
                        .spool_plan
                        .as_ref()
                        .is_some_and(|plan| state.received > plan.from)
                    {
                        start_spool(state);
                    }
                    match &state.spool {
                        Some(spool) => spool.push(data.clone()),
                        None if state.on_complete.is_some() => keep_copy(state, data),
                        None => {}
                    }
                }
            }
            Piece::Trailers(_) => {
                // Storing would drop them.
                unstorable(state);
            }
        }
        state.pieces.push_back(piece);
        if releases(state) {
            release(state);
        }
        AfterLock::Wake(Arc::clone(&self.wakers))
    }
}

/// The body is past the spool plan's size: its chunks are written from
/// here on. What arrived before goes first: the body's copy, or the one
/// piece received before it. Readers behind get their pieces back as
/// slices of the copy, which goes. A body whose chunks cannot be written
/// (the storage's writes fail) is not stored: it is not held in memory
/// instead.
fn start_spool(state: &mut State) {
    let Some(plan) = state.spool_plan.take() else {
        return;
    };
    let Some(spool) = (plan.start)() else {
        tracing::debug!("reqcache: the storage takes no writes now; large body not stored");
        unstorable(state);
        return;
    };
    match state.copy.take() {
        Some(copy) => {
            let body = copy.freeze();
            spool.push(body.clone());
            give_back(state, body);
        }
        None => {
            for piece in &state.pieces {
                if let Piece::Data(data) = piece {
                    spool.push(data.clone());
                }
            }
            state.ends.clear();
        }
    }
    state.follow_chunks = Some(spool.source());
    state.spool = Some(spool);
}

/// Adds `data` (received, not yet a piece) to the body's copy, which starts
/// at the second chunk with the first one.
fn keep_copy(state: &mut State, data: &Bytes) {
    state.ends.push(state.received);
    match &mut state.copy {
        Some(copy) => copy.extend_from_slice(data),
        None if state.pieces.is_empty() => {}
        None => {
            // A body that may go to chunks is not given room for all of it.
            let capacity = match &state.spool_plan {
                Some(plan) => state.exact.unwrap_or(0).min(plan.from + 1),
                None => state.exact.unwrap_or(0),
            };
            let mut copy = BytesMut::with_capacity(capacity.max(state.received));
            for piece in &state.pieces {
                if let Piece::Data(earlier) = piece {
                    copy.extend_from_slice(earlier);
                }
            }
            copy.extend_from_slice(data);
            state.copy = Some(copy);
        }
    }
}

/// The body stops being storable: readers behind the pieces kept get them
/// back, as slices of the copy, before it goes.
fn unstorable(state: &mut State) {
    state.on_complete = None;
    state.storable = false;
    state.spool_plan = None;
    // Dropped unfinished: its chunks go.
    state.spool = None;
    state.follow_chunks = None;
    let Some(copy) = state.copy.take() else {
        state.ends.clear();
        return;
    };
    give_back(state, copy.freeze());
}

/// The body's copy, `body`, goes: readers behind the pieces kept get theirs
/// back, as slices of it.
fn give_back(state: &mut State, body: Bytes) {
    let ends = std::mem::take(&mut state.ends);
    let slowest = next_min(state, state.base);
    if slowest < state.base {
        let mut behind = slices(&body, &ends[..state.base], slowest);
        state.kept += behind
            .iter()
            .map(|piece| match piece {
                Piece::Data(data) => data.len(),
                Piece::Trailers(_) => 0,
            })
            .sum::<usize>();
        behind.append(&mut state.pieces);
        state.pieces = behind;
        state.base = slowest;
    }
}

/// Whether pieces go once read: when the body is not stored, is being
/// copied whole, or is being written in chunks.
fn releases(state: &State) -> bool {
    state.on_complete.is_none() || state.copy.is_some() || state.spool.is_some()
}

/// How far apart readers may be before the slowest is cut off.
fn window(state: &State) -> usize {
    if state.spool.is_some() {
        state.limit.min(SPOOLED_WINDOW)
    } else {
        state.limit
    }
}

/// The pieces of `body` from index `from` on, each ending at its `ends`.
fn slices(body: &Bytes, ends: &[usize], from: usize) -> VecDeque<Piece> {
    if ends.is_empty() {
        return if body.is_empty() {
            VecDeque::new()
        } else {
            VecDeque::from([Piece::Data(body.clone())])
        };
    }
    (from..ends.len())
        .map(|index| {
            let start = index.checked_sub(1).map_or(0, |before| ends[before]);
            Piece::Data(body.slice(start..ends[index]))
        })
        .collect()
}

/// Drops the pieces every reader has read; cuts off readers that fell more
/// than the limit behind the fastest one.
fn release(state: &mut State) {
    let newest = state.base + state.pieces.len();
    drop_until(state, next_min(state, newest));
    let window = window(state);
    while state.kept > window {
        let live = || {
            state
                .positions
                .iter()
                .flatten()
                .copied()
                .filter(|n| *n != usize::MAX)
        };
        let (Some(slowest), Some(fastest)) = (live().min(), live().max()) else {
            break;
        };
        let behind: usize = state
            .pieces
            .range(slowest.saturating_sub(state.base)..fastest.saturating_sub(state.base))
            .map(|piece| match piece {
                Piece::Data(data) => data.len(),
                Piece::Trailers(_) => 0,
            })
            .sum();
        if behind <= window {
            break;
        }
        for next in state.positions.iter_mut().flatten() {
            if *next == slowest {
                *next = usize::MAX;
            }
        }
        drop_until(state, next_min(state, newest));
    }
}

fn next_min(state: &State, newest: usize) -> usize {
    state
        .positions
        .iter()
        .flatten()
        .map(|next| (*next).min(newest))
        .min()
        .unwrap_or(newest)
}

fn drop_until(state: &mut State, index: usize) {
    while state.base < index {
        if let Some(Piece::Data(data)) = state.pieces.pop_front() {
            state.kept -= data.len();
        }
        state.base += 1;
    }
}

/// The body of a tape that got at most one chunk (more are copied as they
/// arrive).
fn joined(pieces: &VecDeque<Piece>) -> Bytes {
    pieces
        .iter()
        .find_map(|piece| match piece {
            Piece::Data(data) => Some(data.clone()),
            Piece::Trailers(_) => None,
        })
        .unwrap_or_default()
}

/// What to do once the tape's lock is released.
#[must_use]
enum AfterLock {
    Nothing,
    Wake(Arc<Readers>),
    Store(OnComplete, Completed, Lander, Arc<Readers>),
    /// The body is in the spool: its record is stored once every chunk is.
    Spooled(Spool, OnComplete, Lander, Arc<Readers>),
}

impl AfterLock {
    fn run(self) {
        match self {
            AfterLock::Nothing => {}
            AfterLock::Wake(readers) => readers.wake_by_ref(),
            AfterLock::Store(on_complete, body, lander, readers) => {
                readers.wake_by_ref();
                on_complete(body, lander);
            }
            AfterLock::Spooled(spool, on_complete, lander, readers) => {
                readers.wake_by_ref();
                spool.finish(Box::new(move |body| {
                    on_complete(Completed::Chunks(body), lander);
                }));
            }
        }
    }
}

impl fmt::Debug for Tape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("Tape")
            .field("received", &state.received)
            .field("storable", &state.on_complete.is_some())
            .field("end", &state.end)
            .finish_non_exhaustive()
    }
}

/// One request's reading end of a [`Tape`].
pub(crate) struct TapeReader {
    tape: Arc<Tape>,
    slot: usize,
}

/// What a reader's poll found.
enum Next {
    Piece(Piece),
    Error(BoxError),
    End,
    /// Nothing new: poll the source.
    Poll(Source),
    /// Nothing new, and another reader is polling the source.
    Wait,
}

impl TapeReader {
    /// The next frame of the body.
    pub(crate) fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        loop {
            let next = {
                let mut state = self.tape.lock();
                self.next(&mut state, cx)
            };
            let mut source = match next {
                Next::Piece(Piece::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Next::Piece(Piece::Trailers(trailers)) => {
                    return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                }
                Next::Error(error) => return Poll::Ready(Some(Err(error))),
                Next::End => return Poll::Ready(None),
                Next::Wait => return Poll::Pending,
                Next::Poll(source) => source,
            };
            // Polled without the lock, with the waker of every reader.
            let waker = Waker::from(Arc::clone(&self.tape.wakers));
            let polled = source.as_mut().poll_frame(&mut Context::from_waker(&waker));
            let mut state = self.tape.lock();
            let after = match polled {
                Poll::Pending => {
                    state.source = Some(source);
                    return Poll::Pending;
                }
                Poll::Ready(Some(Ok(frame))) => {
                    let ended = source.is_end_stream();
                    state.source = Some(source);
                    let piece = match frame.into_data() {
                        Ok(data) => Piece::Data(data),
                        Err(frame) => match frame.into_trailers() {
                            Ok(trailers) => Piece::Trailers(trailers),
                            // A frame of another kind: skipped.
                            Err(_) => continue,
                        },
                    };
                    let appended = self.tape.append(&mut state, piece);
                    if ended {
                        // Callers (hyper) stop polling at the end of the
                        // stream: the body is complete now (this wakes the
                        // readers too).
                        self.tape.finish(&mut state, End::Finished)
                    } else {
                        appended
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    // This reader gets the upstream error; the others a
                    // `SharedBodyError`.
                    let after = self.tape.finish(&mut state, End::Failed);
                    if let Some(next) = state.positions[self.slot].as_mut() {
                        *next = usize::MAX;
                    }
                    drop(state);
                    after.run();
                    return Poll::Ready(Some(Err(error)));
                }
                Poll::Ready(None) => self.tape.finish(&mut state, End::Finished),
            };
            drop(state);
            after.run();
        }
    }

    fn next(&self, state: &mut State, cx: &Context<'_>) -> Next {
        let Some(next) = state.positions[self.slot] else {
            return Next::End;
        };
        if next == usize::MAX {
            // Cut off, or past an error.
            return Next::Error(Box::new(SharedBodyError));
        }
        if state.end == Some(End::Failed) {
            state.positions[self.slot] = Some(usize::MAX);
            return Next::Error(Box::new(SharedBodyError));
        }
        if let Some(piece) = next
            .checked_sub(state.base)
            .and_then(|at| state.pieces.get(at))
        {
            let piece = piece.clone();
            state.positions[self.slot] = Some(next + 1);
            if releases(state) {
                release(state);
            }
            return Next::Piece(piece);
        }
        if next < state.base
            && let Some(copy) = &state.copy
        {
            // Behind the pieces kept: a copy out of the body's copy.
            let start = next.checked_sub(1).map_or(0, |before| state.ends[before]);
            let data = Bytes::copy_from_slice(&copy[start..state.ends[next]]);
            state.positions[self.slot] = Some(next + 1);
            return Next::Piece(Piece::Data(data));
        }
        if next < state.base {
            // Cut off (fell behind).
            state.positions[self.slot] = Some(usize::MAX);
            return Next::Error(Box::new(SharedBodyError));
        }
        if state.end == Some(End::Finished) {
            return Next::End;
        }
        self.tape.wakers.register(cx.waker());
        if let Some(spool) = &state.spool {
            // The writer is behind: wait for it rather than hold more.
            match spool.poll_room(&Waker::from(Arc::clone(&self.tape.wakers))) {
                Room::Open => {}
                Room::Full => return Next::Wait,
                Room::Gone => {
                    tracing::debug!("reqcache: the body's chunks could not be written; not stored");
                    unstorable(state);
                    if releases(state) {
                        release(state);
                    }
                }
            }
        }
        match state.source.take() {
            Some(source) => Next::Poll(source),
            None => Next::Wait,
        }
    }

    /// Ready once the write of the body's entry is done (or was given up),
    /// and at once when there is none to wait for: the body did not end
    /// storable, or has not ended.
    pub(crate) fn poll_landed(&self, cx: &Context<'_>) -> Poll<()> {
        let landing = self.tape.lock().landing.clone();
        match landing {
            Some(landing) => landing.poll_landed(cx),
            None => Poll::Ready(()),
        }
    }

    /// Whether nothing is left to read.
    pub(crate) fn is_end_stream(&self) -> bool {
        let state = self.tape.lock();
        state.end == Some(End::Finished)
            && state.positions[self.slot]
                .is_some_and(|next| next == usize::MAX || next >= state.base + state.pieces.len())
    }

    /// Bytes left to read, when the body has ended; `None` before.
    pub(crate) fn remaining(&self) -> Option<u64> {
        let state = self.tape.lock();
        let next = state.positions[self.slot]?;
        (state.end == Some(End::Finished)).then(|| {
            let from = next.saturating_sub(state.base).min(state.pieces.len());
            state
                .pieces
                .range(from..)
                .map(|piece| match piece {
                    Piece::Data(data) => data.len() as u64,
                    Piece::Trailers(_) => 0,
                })
                .sum()
        })
    }
}

impl Drop for TapeReader {
    fn drop(&mut self) {
        let mut state = self.tape.lock();
        state.positions[self.slot] = None;
        if state.end.is_some() || state.positions.iter().any(Option::is_some) {
            if releases(&state) {
                release(&mut state);
            }
            return;
        }
        // The last reader is gone with the body unfinished. A storable body
        // of known length goes to the background fill, with a reader that
        // goes on from here.
        if state.on_complete.is_some()
            && state.exact.is_some()
            && let Some(on_abandoned) = state.on_abandoned.take()
        {
            let newest = state.base + state.pieces.len();
            let slot = state.positions.len();
            state.positions.push(Some(newest));
            drop(state);
            on_abandoned(TapeReader {
                tape: Arc::clone(&self.tape),
                slot,
            });
            return;
        }
        // Otherwise what has already arrived is read now, without waiting
        // (a body in memory, or wholly received, is stored); else nothing is
        // stored and the upstream body is dropped.
        let after = drain_ready(&self.tape, &mut state);
        drop(state);
        after.run();
    }
}

impl TapeReader {
    /// Reads the body to its end, for the background fill; `true` when it
    /// ended whole and storable (its store has been started).
    pub(crate) async fn read_to_end(mut self) -> bool {
        loop {
            match std::future::poll_fn(|cx| self.poll_frame(cx)).await {
                Some(Ok(_)) => {}
                Some(Err(_)) => return false,
                None => return self.tape.lock().landing.is_some(),
            }
        }
    }
}

/// Reads the frames of the source that are ready without waiting; ends the
/// tape either way.
fn drain_ready(tape: &Tape, state: &mut State) -> AfterLock {
    let mut cx = Context::from_waker(Waker::noop());
    while state.on_complete.is_some() {
        let Some(source) = state.source.as_mut() else {
            break;
        };
        if source.is_end_stream() {
            return tape.finish(state, End::Finished);
        }
        match source.as_mut().poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    let _ = tape.append(state, Piece::Data(data));
                }
                Err(_) => unstorable(state),
            },
            Poll::Ready(None) => return tape.finish(state, End::Finished),
            Poll::Ready(Some(Err(_))) | Poll::Pending => break,
        }
    }
    tape.finish(state, End::Failed)
}

impl fmt::Debug for TapeReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TapeReader")
            .field("tape", &self.tape)
            .finish_non_exhaustive()
    }
}
