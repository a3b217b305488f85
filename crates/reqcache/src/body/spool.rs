//! [`Spool`]: a body written to a [`ChunkStore`] as it streams, and
//! [`StoredRead`], a stored body read back chunk by chunk.
//!
//! The tape pushes each piece of a large body to the spool as it arrives;
//! the spool's writer (a future the engine runs behind the response) cuts
//! the pieces into chunks of the store's size and writes them in order. A
//! piece larger than a chunk is sliced, not copied. At most
//! [`SPOOL_BUDGET_CHUNKS`] chunks wait for the writer: past that the tape
//! stops pulling the upstream body until the writer catches up, so memory
//! per request stays a few chunks however large the body and however slow
//! the store.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::body::shared_error::SharedBodyError;
use crate::storage::backend::{BodyRef, ChunkStore};
use crate::storage::{BoxError, StorageError, StorageErrorKind};

/// How many chunks' worth of pieces may wait for the writer.
pub(crate) const SPOOL_BUDGET_CHUNKS: usize = 4;

/// What is done with the body once every chunk is written: write the
/// record that names it.
pub(crate) type OnSpooled = Box<dyn FnOnce(BodyRef) + Send + Sync>;

/// A body on its way to a chunk store.
pub(crate) struct Spool {
    inner: Arc<Inner>,
    finished: bool,
}

struct Inner {
    state: Mutex<State>,
    budget: usize,
    /// The body's id in the store.
    id: String,
    chunk_size: u64,
    store: Arc<dyn ChunkStore>,
    /// How long one chunk's write, or a follower's read, may take.
    chunk_timeout: Option<Duration>,
}

struct State {
    queue: VecDeque<Bytes>,
    queued: usize,
    end: Option<End>,
    /// The writer's waker, while it waits for pieces.
    writer: Option<Waker>,
    /// The tape's waker, while it waits for room.
    room: Option<Waker>,
    /// The writer is gone (done, failed, or never run).
    gone: bool,
    /// How many chunks from the first are written: what followers may read.
    written: u64,
    /// The body's length, once every chunk is written.
    total: Option<u64>,
    /// The body will never be whole in the store (given up, failed).
    failed: bool,
    /// Followers waiting for more chunks.
    followers: Vec<Waker>,
}

enum End {
    Finish(OnSpooled),
    Abort,
}

/// Whether the spool takes more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Room {
    Open,
    Full,
    /// The writer is gone: nothing more will be written.
    Gone,
}

/// What the writer takes next.
enum Next {
    Piece(Bytes),
    End(End),
}

impl Spool {
    /// A spool to `store`, and the writer that writes what it is given:
    /// run the writer behind the response (dropping it unrun gives the
    /// body up).
    /// A chunk write that takes longer than `write_timeout` gives the body
    /// up (a hung storage never holds the response back).
    pub(crate) fn new(
        store: Arc<dyn ChunkStore>,
        write_timeout: Option<Duration>,
    ) -> (Self, impl Future<Output = ()> + Send) {
        let chunk_size = store.chunk_size().max(1) as usize;
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                queued: 0,
                end: None,
                writer: None,
                room: None,
                gone: false,
                written: 0,
                total: None,
                failed: false,
                followers: Vec::new(),
            }),
            budget: chunk_size * SPOOL_BUDGET_CHUNKS,
            id: BodyRef::new_id(),
            chunk_size: chunk_size as u64,
            store: Arc::clone(&store),
            chunk_timeout: write_timeout,
        });
        // Made before the future runs, so that a future dropped unrun
        // says the writer is gone too.
        let gone = WriterGone(Arc::clone(&inner));
        let writer = write(gone, store, chunk_size, write_timeout);
        (
            Self {
                inner,
                finished: false,
            },
            writer,
        )
    }

    /// Whether there is room for more; when full, `waker` is woken once
    /// there is.
    pub(crate) fn poll_room(&self, waker: &Waker) -> Room {
        let mut state = self.inner.lock();
        if state.gone {
            Room::Gone
        } else if state.queued < self.inner.budget {
            Room::Open
        } else {
            state.room = Some(waker.clone());
            Room::Full
        }
    }

    /// What followers are made from, kept once the spool is finished.
    pub(crate) fn source(&self) -> SpoolSource {
        SpoolSource(Arc::clone(&self.inner))
    }

    /// Hands the writer the next piece of the body.
    pub(crate) fn push(&self, data: Bytes) {
        if data.is_empty() {
            return;
        }
        let writer = {
            let mut state = self.inner.lock();
            if state.gone {
                return;
            }
            state.queued += data.len();
            state.queue.push_back(data);
            state.writer.take()
        };
        if let Some(writer) = writer {
            writer.wake();
        }
    }

    /// The body is complete: once every chunk is written, `done` gets the
    /// body's reference (and is dropped unrun if the writer fails).
    pub(crate) fn finish(mut self, done: OnSpooled) {
        self.finished = true;
        self.inner.end(End::Finish(done));
    }
}

impl Drop for Spool {
    /// A spool dropped unfinished gives the body up: its chunks go.
    fn drop(&mut self) {
        if !self.finished {
            self.inner.end(End::Abort);
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn end(&self, end: End) {
        let writer = {
            let mut state = self.lock();
            if state.gone {
                return;
            }
            state.end = Some(end);
            state.writer.take()
        };
        if let Some(writer) = writer {
            writer.wake();
        }
    }

    /// Records progress for followers, and wakes them.
    fn progress(&self, update: impl FnOnce(&mut State)) {
        let followers = {
            let mut state = self.lock();
            update(&mut state);
            std::mem::take(&mut state.followers)
        };
        followers.into_iter().for_each(Waker::wake);
    }

    fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Next> {
        let (next, room) = {
            let mut state = self.lock();
            if let Some(piece) = state.queue.pop_front() {
                state.queued -= piece.len();
                (Poll::Ready(Next::Piece(piece)), state.room.take())
            } else if let Some(end) = state.end.take() {
                (Poll::Ready(Next::End(end)), None)
            } else {
                state.writer = Some(cx.waker().clone());
                (Poll::Pending, None)
            }
        };
        if let Some(room) = room {
            room.wake();
        }
        next
    }
}

/// Marks the writer gone when dropped: done, failed, or dropped unrun.
struct WriterGone(Arc<Inner>);

impl Drop for WriterGone {
    fn drop(&mut self) {
        let room = {
            let mut state = self.0.lock();
            state.gone = true;
            state.queue.clear();
            state.queued = 0;
            // Gone before the body was whole: followers stop.
            if state.total.is_none() {
                state.failed = true;
            }
            (state.room.take(), std::mem::take(&mut state.followers))
        };
        let (room, followers) = room;
        if let Some(room) = room {
            room.wake();
        }
        followers.into_iter().for_each(Waker::wake);
    }
}

/// The writer: cuts the pieces into chunks, writes them in order, and
/// hands the finished body's reference on; on an abort, a failed write or
/// a body past the store's bound, removes what it wrote.
async fn write(
    gone: WriterGone,
    store: Arc<dyn ChunkStore>,
    chunk_size: usize,
    write_timeout: Option<Duration>,
) {
    let write_chunk = |id: &str, index: u64, data: Bytes| -> ChunkWrite {
        let store = Arc::clone(&store);
        let id = id.to_owned();
        Box::pin(async move {
            within(write_timeout, "write", store.write_chunk(&id, index, data)).await
        })
    };
    let id = gone.0.id.clone();
    let mut writes = InFlight::default();
    let mut chunk = BytesMut::new();
    let mut index = 0u64;
    let mut len = 0u64;
    let max = store.max_size();
    let failed = loop {
        let next = std::future::poll_fn(|cx| gone.0.poll_next(cx)).await;
        let mut piece = match next {
            Next::Piece(piece) => piece,
            Next::End(End::Abort) => break None,
            Next::End(End::Finish(done)) => {
                if !chunk.is_empty() {
                    let last = chunk.split().freeze();
                    writes.start(write_chunk(&id, index, last));
                    index += 1;
                }
                if let Err(error) = writes.finish_all(&gone.0).await {
                    break Some(error.to_string());
                }
                gone.0.progress(|state| state.total = Some(len));
                // The writer is done before the record is written: the
                // tape takes no more.
                drop(gone);
                done(BodyRef::new(id, len, chunk_size as u32));
                return;
            }
        };
        len += piece.len() as u64;
        if let Some(max) = max.filter(|max| len > *max) {
            break Some(format!("body past the storage's bound of {max} bytes"));
        }
        let mut written = Ok(());
        while !piece.is_empty() && written.is_ok() {
            let full = if chunk.is_empty() && piece.len() >= chunk_size {
                // A whole chunk of one piece: a slice, not a copy.
                piece.split_to(chunk_size)
            } else {
                let take = (chunk_size - chunk.len()).min(piece.len());
                chunk.extend_from_slice(&piece.split_to(take));
                if chunk.len() < chunk_size {
                    continue;
                }
                chunk.split().freeze()
            };
            writes.start(write_chunk(&id, index, full));
            index += 1;
            if writes.len() > SPOOL_BUDGET_CHUNKS {
                written = writes.finish_first(&gone.0).await;
            }
        }
        if let Err(error) = written {
            break Some(error.to_string());
        }
    };
    drop(gone);
    // Writes still under way land before their chunks are removed.
    writes.settle().await;
    match &failed {
        Some(error) => {
            tracing::warn!(%error, body = %id, "reqcache: body not stored in chunks");
        }
        None => tracing::debug!(body = %id, "reqcache: body in chunks given up"),
    }
    if index > 0
        && let Err(error) = store.discard(&id).await
    {
        tracing::warn!(%error, body = %id, "reqcache: chunks of a body given up not removed; the storage's sweep will");
    }
}

/// A chunk being written.
type ChunkWrite = Pin<Box<dyn Future<Output = Result<(), StorageError>> + Send>>;

/// Chunk writes under way, in order: several at once, so that a store
/// that batches them (SQLite's writer thread commits what is waiting in
/// one transaction) writes a body faster than one at a time.
#[derive(Default)]
struct InFlight(VecDeque<Slot>);

enum Slot {
    Running(ChunkWrite),
    Done(Result<(), StorageError>),
}

impl InFlight {
    fn len(&self) -> usize {
        self.0.len()
    }

    /// Starts `write`: it is polled once now, which sends it on its way.
    fn start(&mut self, write: ChunkWrite) {
        self.0.push_back(Slot::Running(write));
        let mut cx = Context::from_waker(Waker::noop());
        self.poll_all(&mut cx);
    }

    fn poll_all(&mut self, cx: &mut Context<'_>) {
        for slot in &mut self.0 {
            if let Slot::Running(write) = slot
                && let Poll::Ready(result) = write.as_mut().poll(cx)
            {
                *slot = Slot::Done(result);
            }
        }
    }

    /// Waits for the oldest write to end; its result. Each one written
    /// is readable by the followers of `spool`.
    async fn finish_first(&mut self, spool: &Inner) -> Result<(), StorageError> {
        let result = std::future::poll_fn(|cx| {
            self.poll_all(cx);
            match self.0.front() {
                Some(Slot::Done(_)) => match self.0.pop_front() {
                    Some(Slot::Done(result)) => Poll::Ready(result),
                    _ => Poll::Ready(Ok(())),
                },
                Some(Slot::Running(_)) => Poll::Pending,
                None => Poll::Ready(Ok(())),
            }
        })
        .await;
        if result.is_ok() {
            spool.progress(|state| state.written += 1);
        }
        result
    }

    /// Waits for every write; the first failure, if any.
    async fn finish_all(&mut self, spool: &Inner) -> Result<(), StorageError> {
        while !self.0.is_empty() {
            self.finish_first(spool).await?;
        }
        Ok(())
    }

    /// Waits for every write, whatever it comes to.
    async fn settle(&mut self) {
        while !self.0.is_empty() {
            let _ = std::future::poll_fn(|cx| {
                self.poll_all(cx);
                match self.0.front() {
                    Some(Slot::Running(_)) => Poll::Pending,
                    _ => {
                        self.0.pop_front();
                        Poll::Ready(())
                    }
                }
            })
            .await;
        }
    }
}

/// A chunk being read.
type ChunkRead = Pin<Box<dyn Future<Output = Result<Option<Bytes>, BoxError>> + Send>>;

/// `call` (a chunk's `what`: read or write), failed once it has taken
/// longer than `limit`. Without a Tokio runtime, unbounded.
async fn within<T>(
    limit: Option<Duration>,
    what: &str,
    call: impl Future<Output = Result<T, StorageError>>,
) -> Result<T, StorageError> {
    match limit.filter(|_| tokio::runtime::Handle::try_current().is_ok()) {
        Some(limit) => tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
            Err(StorageError::new(
                StorageErrorKind::Backend,
                format!("a chunk {what} took more than {limit:?}"),
            ))
        }),
        None => call.await,
    }
}

/// Reads chunk `index` of body `id`, for at most `limit`: a storage that
/// hangs mid-body ends the body with an error instead of holding it.
fn read_chunk(
    store: &Arc<dyn ChunkStore>,
    id: &str,
    index: u64,
    limit: Option<Duration>,
) -> ChunkRead {
    let store = Arc::clone(store);
    let id = id.to_owned();
    Box::pin(async move {
        within(limit, "read", store.read_chunk(&id, index))
            .await
            .map_err(BoxError::from)
    })
}

/// A stored body, or a range of it, read chunk by chunk.
pub(crate) struct StoredRead {
    store: Arc<dyn ChunkStore>,
    body: BodyRef,
    /// The next chunk to read, and the bytes of it to skip.
    next: u64,
    skip: u64,
    /// Bytes still to give.
    remaining: u64,
    /// How long one chunk's read may take.
    limit: Option<Duration>,
    /// The read under way. In a mutex only so that the body is `Sync`;
    /// it is only ever reached through `&mut`.
    reading: Mutex<Option<ChunkRead>>,
}

impl StoredRead {
    /// Bytes `start..end` of `body`, from `store`, each chunk read within
    /// `limit`; `first`, when read already, is its first chunk.
    pub(crate) fn new(
        store: Arc<dyn ChunkStore>,
        body: BodyRef,
        (start, end): (u64, u64),
        limit: Option<Duration>,
        first: Option<Bytes>,
    ) -> Self {
        let end = end.min(body.len);
        let (next, skip) = body.chunk_of(start);
        let read: Option<ChunkRead> = match first {
            Some(first) if next == 0 => Some(Box::pin(std::future::ready(Ok(Some(first))))),
            _ => None,
        };
        Self {
            store,
            body,
            next,
            skip,
            remaining: end.saturating_sub(start),
            limit,
            reading: Mutex::new(read),
        }
    }

    /// Bytes still to give.
    pub(crate) fn remaining(&self) -> u64 {
        self.remaining
    }

    /// The next piece of the body; an error when the store fails or does
    /// not have a chunk whole.
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, BoxError>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let index = self.next;
        let reading = self
            .reading
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(|| read_chunk(&self.store, &self.body.id, index, self.limit));
        let read = std::task::ready!(reading.as_mut().poll(cx));
        *self.reading.get_mut().unwrap_or_else(|e| e.into_inner()) = None;
        let expected = self.body.chunk_len(index);
        let chunk = match read {
            Ok(Some(chunk)) if chunk.len() as u64 == expected => chunk,
            Ok(found) => {
                self.remaining = 0;
                let error = format!(
                    "stored body {} is damaged: chunk {index} {}",
                    self.body.id,
                    match found {
                        Some(chunk) => format!("has {} bytes, not {expected}", chunk.len()),
                        None => "is missing".to_owned(),
                    }
                );
                tracing::warn!(%error, "reqcache: stored body cut short");
                return Poll::Ready(Some(Err(error.into())));
            }
            Err(error) => {
                self.remaining = 0;
                tracing::warn!(%error, body = %self.body.id, "reqcache: stored body could not be read; cut short");
                return Poll::Ready(Some(Err(error)));
            }
        };
        let start = self.skip as usize;
        let end = (self.skip + self.remaining).min(chunk.len() as u64) as usize;
        self.next += 1;
        self.skip = 0;
        self.remaining -= (end - start) as u64;
        Poll::Ready(Some(Ok(chunk.slice(start..end))))
    }
}

/// Makes [`SpoolFollower`]s of one body.
#[derive(Clone)]
pub(crate) struct SpoolSource(Arc<Inner>);

impl SpoolSource {
    /// A reader of the body from its first byte.
    pub(crate) fn follower(&self) -> SpoolFollower {
        SpoolFollower {
            inner: Arc::clone(&self.0),
            next: 0,
            reading: Mutex::new(None),
        }
    }
}

/// A reader of a body being written, from the chunks the writer has
/// stored: it waits for each chunk to be written, and fails when the body
/// is given up.
pub(crate) struct SpoolFollower {
    inner: Arc<Inner>,
    /// The next chunk to read.
    next: u64,
    /// The read under way (in a mutex only so that the body is `Sync`).
    reading: Mutex<Option<ChunkRead>>,
}

impl SpoolFollower {
    /// The next chunk; `None` at the end; an error when the body was given
    /// up, or a chunk cannot be read whole.
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, BoxError>>> {
        let index = self.next;
        let reading = self.reading.get_mut().unwrap_or_else(|e| e.into_inner());
        if reading.is_none() {
            let mut state = self.inner.lock();
            let chunks = state
                .total
                .map(|total| total.div_ceil(self.inner.chunk_size));
            if chunks.is_some_and(|chunks| index >= chunks) {
                return Poll::Ready(None);
            }
            if index >= state.written {
                if state.failed {
                    return Poll::Ready(Some(Err(Box::new(SharedBodyError))));
                }
                state.followers.push(cx.waker().clone());
                return Poll::Pending;
            }
            drop(state);
            *reading = Some(read_chunk(
                &self.inner.store,
                &self.inner.id,
                index,
                self.inner.chunk_timeout,
            ));
        }
        let Some(read) = reading.as_mut() else {
            return Poll::Pending;
        };
        let read = std::task::ready!(read.as_mut().poll(cx));
        *reading = None;
        match read {
            Ok(Some(chunk)) if !chunk.is_empty() => {
                self.next += 1;
                Poll::Ready(Some(Ok(chunk)))
            }
            Ok(_) => Poll::Ready(Some(Err(Box::new(SharedBodyError)))),
            Err(error) => Poll::Ready(Some(Err(error))),
        }
    }

    /// Whether nothing is left to read.
    pub(crate) fn is_end_stream(&self) -> bool {
        let state = self.inner.lock();
        state
            .total
            .is_some_and(|total| self.next >= total.div_ceil(self.inner.chunk_size))
    }
}
