//! One SPDY/3.1 server session: a task reading frames, a task writing them, and the state
//! both share (streams, flow-control windows, the header compressor).
//!
//! Flow control. The session sends DATA only within the peer's windows (per stream and, as
//! SPDY/3.1 adds, for the session as a whole), from a peer's SETTINGS (initial window size)
//! and WINDOW_UPDATEs. Peers built on the common Go implementation (kubectl, client-go) never
//! send a WINDOW_UPDATE and never limit what they send: they rely on TCP alone. So a peer
//! whose windows run out before it sent any SETTINGS or WINDOW_UPDATE gets
//! [`UNPROVEN_GRACE`] to send one; if none comes, the session stops counting its windows for
//! good and TCP carries the backpressure, as between two such peers. The session
//! acknowledges what its streams' readers consume with WINDOW_UPDATEs (stream and session)
//! and buffers up to its window per stream; a peer that sends more than that is slowed by
//! the session reading no further, not refused. It lets a peer send [`RECEIVE_WINDOW`] per
//! stream and [`SESSION_RECEIVE_WINDOW`] in all (SETTINGS and a session WINDOW_UPDATE when it
//! starts), as generous as a kubelet, which counts no windows at all.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::frame::{self, Frame, goaway, rst, setting};
use super::headers::{Deflater, Headers};
use super::stream::{Inbound, Stream};
use super::transport::{Sink, Source, Transport};

/// The window each side starts with, per stream and (SPDY/3.1) for the session.
pub(crate) const INITIAL_WINDOW: u32 = 64 * 1024;
/// What a peer may send on a stream before this side acknowledges (announced in SETTINGS);
/// each stream buffers that much at most.
pub(crate) const RECEIVE_WINDOW: u32 = 1 << 20;
/// What a peer may send on the whole session before this side acknowledges.
pub(crate) const SESSION_RECEIVE_WINDOW: u32 = 16 << 20;
/// The most one DATA frame the session sends carries.
pub(super) const MAX_DATA_FRAME: usize = 64 * 1024;
/// How long a peer that has not shown it does flow control has to open an exhausted window.
pub(crate) const UNPROVEN_GRACE: Duration = Duration::from_millis(250);
/// DATA bytes queued for the writer at most (the rest wait in their streams).
const QUEUED_DATA: usize = 512 * 1024;
/// What the writer sends at once at most.
const BATCH: usize = 256 * 1024;
/// Streams the peer opened that the session's owner has not taken yet.
const ACCEPT_BACKLOG: usize = 64;

/// Whether the peer limits what the session sends by its windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// No SETTINGS or WINDOW_UPDATE from the peer yet.
    Unproven,
    /// The peer sent one: its windows are honoured.
    Counted,
    /// Windows ran out and the peer did not open them within the grace.
    Uncounted,
}

pub(super) enum Outgoing {
    Frame(Frame, Option<OwnedSemaphorePermit>),
    /// Ends the session once what is queued before it is sent.
    Close,
}

pub(super) struct StreamState {
    send_window: i64,
    /// Bytes this side consumed and has not acknowledged yet.
    unacked: u32,
    /// To the stream's reader; `None` after the peer's FIN or once the reader is gone.
    pub(super) inbound: Option<mpsc::UnboundedSender<Inbound>>,
    /// How much more the reader's buffer takes before the session stops reading.
    pub(super) room: Arc<Semaphore>,
    /// Cancelled by the peer's RST_STREAM.
    pub(super) reset: CancellationToken,
    pub(super) sent_fin: bool,
}

pub(super) struct State {
    deflater: Deflater,
    pub(super) streams: HashMap<u32, StreamState>,
    last_accepted: u32,
    /// The peer's initial window for new streams.
    initial_window: i64,
    session_window: i64,
    flow: Flow,
    exhausted_since: Option<Instant>,
    session_unacked: u32,
    goaway_sent: bool,
}

pub(super) struct Shared {
    state: Mutex<State>,
    /// Windows opened, a stream reset, the session ended.
    changed: Notify,
    queue: mpsc::UnboundedSender<Outgoing>,
    data_budget: Arc<Semaphore>,
    pub(super) ended: CancellationToken,
}

/// A SPDY/3.1 server session; streams the peer opens come out of [`Session::accept`].
pub(crate) struct Session {
    shared: Arc<Shared>,
    incoming: mpsc::Receiver<Stream>,
}

impl Session {
    pub(crate) fn start<Io>(transport: Transport<Io>) -> Session
    where
        Io: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (source, sink) = transport.split();
        let (queue, outgoing) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                deflater: Deflater::new(),
                streams: HashMap::new(),
                last_accepted: 0,
                initial_window: i64::from(INITIAL_WINDOW),
                session_window: i64::from(INITIAL_WINDOW),
                flow: Flow::Unproven,
                exhausted_since: None,
                session_unacked: 0,
                goaway_sent: false,
            }),
            changed: Notify::new(),
            queue,
            data_budget: Arc::new(Semaphore::new(QUEUED_DATA)),
            ended: CancellationToken::new(),
        });
        shared.send(Frame::Settings {
            clear: false,
            entries: vec![frame::Setting {
                flags: 0,
                id: setting::INITIAL_WINDOW_SIZE,
                value: RECEIVE_WINDOW,
            }],
        });
        shared.send(Frame::WindowUpdate {
            stream: 0,
            delta: SESSION_RECEIVE_WINDOW - INITIAL_WINDOW,
        });
        let (accept, incoming) = mpsc::channel(ACCEPT_BACKLOG);
        tokio::spawn(write_loop(sink, outgoing, shared.ended.clone()));
        tokio::spawn(read_loop(source, shared.clone(), accept));
        Session { shared, incoming }
    }

    /// The next stream the peer opened; `None` once the session ended.
    pub(crate) async fn accept(&mut self) -> Option<Stream> {
        tokio::select! {
            stream = self.incoming.recv() => stream,
            () = self.shared.ended.cancelled() => None,
        }
    }

    /// Says GOAWAY and ends the session once what is queued is sent.
    pub(crate) fn go_away(&self) {
        self.shared.go_away(goaway::OK);
    }
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a control frame (or an empty DATA frame: no budget needed).
    pub(super) fn send(&self, frame: Frame) {
        // A closed queue means the writer is gone: the session is over anyway.
        if self.queue.send(Outgoing::Frame(frame, None)).is_err() {
            self.ended.cancel();
        }
    }

    pub(super) fn go_away(&self, status: u32) {
        let mut state = self.lock();
        if state.goaway_sent {
            return;
        }
        state.goaway_sent = true;
        self.send(Frame::GoAway {
            last_good: state.last_accepted,
            status,
        });
        // The writer stops after this; the frames before it still go out.
        let _closed = self.queue.send(Outgoing::Close);
    }

    /// Sends SYN_REPLY with `headers` on `stream`. Compressed and queued under one lock, so
    /// header blocks leave in the order the zlib stream produced them.
    pub(super) fn reply(&self, stream: u32, headers: &Headers) {
        let mut state = self.lock();
        let block = state.deflater.compress(headers);
        self.send(Frame::SynReply {
            stream,
            fin: false,
            headers: block,
        });
    }

    /// Waits until up to `wanted` bytes may be sent on `stream`; returns how many.
    pub(super) async fn reserve(&self, stream: u32, wanted: usize) -> io::Result<usize> {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let grace_ends = {
                let mut state = self.lock();
                match state.take_window(stream, wanted.min(MAX_DATA_FRAME), &self.ended)? {
                    Ok(granted) => return Ok(granted),
                    Err(grace_ends) => grace_ends,
                }
            };
            match grace_ends {
                None => notified.await,
                Some(deadline) => {
                    if tokio::time::timeout_at(deadline, notified).await.is_err() {
                        let mut state = self.lock();
                        if state.flow == Flow::Unproven {
                            tracing::debug!(
                                "SPDY peer did not open its exhausted window within {UNPROVEN_GRACE:?}: not counting its windows"
                            );
                            state.flow = Flow::Uncounted;
                        }
                    }
                }
            }
        }
    }

    /// Queues a DATA frame; waits while the writer's queue is full.
    pub(super) async fn send_data(&self, stream: u32, fin: bool, data: Bytes) -> io::Result<()> {
        let permits = u32::try_from(data.len().min(QUEUED_DATA)).unwrap_or(u32::MAX);
        let permit = self
            .data_budget
            .clone()
            .acquire_many_owned(permits)
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::ConnectionAborted))?;
        let frame = Frame::Data { stream, fin, data };
        self.queue
            .send(Outgoing::Frame(frame, Some(permit)))
            .map_err(|_| io::Error::from(io::ErrorKind::ConnectionAborted))
    }

    /// The reader of `stream` took `length` bytes: acknowledges them once half a window
    /// built up (stream and session).
    pub(super) fn consumed(&self, stream: u32, length: usize) {
        let length = u32::try_from(length).unwrap_or(u32::MAX);
        let mut state = self.lock();
        if let Some(entry) = state.streams.get_mut(&stream)
            && entry.inbound.is_some()
        {
            entry.unacked = entry.unacked.saturating_add(length);
            if entry.unacked >= RECEIVE_WINDOW / 2 {
                let delta = std::mem::take(&mut entry.unacked);
                self.send(Frame::WindowUpdate { stream, delta });
            }
        }
        self.consumed_by_session(&mut state, length);
    }

    pub(super) fn consumed_by_session(&self, state: &mut State, length: u32) {
        state.session_unacked = state.session_unacked.saturating_add(length);
        if state.session_unacked >= RECEIVE_WINDOW / 2 {
            let delta = std::mem::take(&mut state.session_unacked);
            self.send(Frame::WindowUpdate { stream: 0, delta });
        }
    }

    /// This side is done sending on `stream` (FIN sent, or RST either way).
    pub(super) fn local_done(&self, stream: u32, reset: Option<u32>) {
        let mut state = self.lock();
        if let Some(status) = reset {
            if state.streams.remove(&stream).is_some() {
                self.send(Frame::RstStream { stream, status });
            }
        } else if let Some(entry) = state.streams.get_mut(&stream) {
            entry.sent_fin = true;
            if entry.inbound.is_none() {
                state.streams.remove(&stream);
            }
        }
        drop(state);
        self.changed.notify_waiters();
    }

    /// The reader of `stream` is gone: what still arrives for it is dropped.
    pub(super) fn reader_gone(&self, stream: u32) {
        let mut state = self.lock();
        if let Some(entry) = state.streams.get_mut(&stream) {
            entry.inbound = None;
            if entry.sent_fin {
                state.streams.remove(&stream);
            }
        }
    }
}

impl State {
    /// Takes up to `wanted` bytes of window for `stream`: `Ok(Ok(n))` to send n bytes,
    /// `Ok(Err(deadline))` to wait (for a window update; until `deadline` if the peer's
    /// flow control is unproven), `Err` if the stream or session is gone.
    fn take_window(
        &mut self,
        stream: u32,
        wanted: usize,
        ended: &CancellationToken,
    ) -> io::Result<Result<usize, Option<Instant>>> {
        if ended.is_cancelled() {
            return Err(io::ErrorKind::ConnectionAborted.into());
        }
        let flow = self.flow;
        let session_window = self.session_window;
        let entry = match self.streams.get_mut(&stream) {
            Some(entry) if !entry.sent_fin && !entry.reset.is_cancelled() => entry,
            _ => return Err(io::ErrorKind::ConnectionReset.into()),
        };
        if flow == Flow::Uncounted {
            return Ok(Ok(wanted));
        }
        let available = entry.send_window.min(session_window);
        if available > 0 {
            let granted = wanted.min(usize::try_from(available).unwrap_or(usize::MAX));
            entry.send_window -= granted as i64;
            self.session_window -= granted as i64;
            self.exhausted_since = None;
            return Ok(Ok(granted));
        }
        Ok(Err(match flow {
            Flow::Unproven => {
                Some(*self.exhausted_since.get_or_insert_with(Instant::now) + UNPROVEN_GRACE)
            }
            _ => None,
        }))
    }
}

/// Sends what is queued, in order, in batches; then closes the transport.
async fn write_loop<Io>(
    mut sink: Sink<Io>,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
    ended: CancellationToken,
) where
    Io: AsyncRead + AsyncWrite + Unpin,
{
    let mut batch = BytesMut::new();
    let mut permits = Vec::new();
    let mut closing = false;
    while !closing {
        let first = tokio::select! {
            biased;
            next = queue.recv() => next,
            () = ended.cancelled() => None,
        };
        let Some(mut next) = first else { break };
        loop {
            match next {
                Outgoing::Frame(frame, permit) => {
                    frame::encode(&frame, &mut batch);
                    permits.extend(permit);
                }
                Outgoing::Close => closing = true,
            }
            if closing || batch.len() >= BATCH {
                break;
            }
            match queue.try_recv() {
                Ok(more) => next = more,
                Err(_) => break,
            }
        }
        if !batch.is_empty() && sink.send(batch.split().freeze()).await.is_err() {
            break;
        }
        permits.clear();
    }
    ended.cancel();
    sink.close().await;
}

/// Reads frames until the peer closes, the session fails or ends.
async fn read_loop<Io>(mut source: Source<Io>, shared: Arc<Shared>, accept: mpsc::Sender<Stream>)
where
    Io: AsyncRead + AsyncWrite + Unpin,
{
    let mut buffer = BytesMut::with_capacity(64 * 1024);
    let mut reader = super::dispatch::Dispatch::new(shared.clone(), accept);
    loop {
        match frame::decode(&mut buffer, frame::MAX_LENGTH) {
            Ok(Some(frame)) => {
                if reader.frame(frame).await.is_err() {
                    shared.go_away(goaway::PROTOCOL_ERROR);
                    break;
                }
                continue;
            }
            Ok(None) => {}
            Err(error) => {
                tracing::debug!("SPDY session: {error}");
                shared.go_away(goaway::PROTOCOL_ERROR);
                break;
            }
        }
        let read = tokio::select! {
            read = source.read(&mut buffer) => read,
            () = shared.ended.cancelled() => break,
        };
        match read {
            Ok(0) => break,
            Ok(_) => {}
            Err(error) => {
                tracing::debug!("SPDY session transport: {error}");
                break;
            }
        }
    }
    shared.end();
}

impl Shared {
    /// The session is over: readers see what they have, then the end; writers fail.
    fn end(&self) {
        let mut state = self.lock();
        for entry in state.streams.values_mut() {
            entry.inbound = None;
        }
        state.streams.clear();
        drop(state);
        self.ended.cancel();
        self.changed.notify_waiters();
    }

    /// Registers the stream the peer opened with SYN_STREAM; `Err` with the RST_STREAM status
    /// if it may not be opened.
    pub(super) fn open(
        self: &Arc<Self>,
        stream: u32,
        fin: bool,
        unidirectional: bool,
        headers: Headers,
    ) -> Result<Stream, u32> {
        let mut state = self.lock();
        if state.goaway_sent {
            return Err(rst::REFUSED_STREAM);
        }
        if stream.is_multiple_of(2) || stream <= state.last_accepted {
            return Err(if state.streams.contains_key(&stream) {
                rst::STREAM_IN_USE
            } else {
                rst::PROTOCOL_ERROR
            });
        }
        state.last_accepted = stream;
        let (inbound, receiver) = mpsc::unbounded_channel();
        let room = Arc::new(Semaphore::new(RECEIVE_WINDOW as usize));
        let reset = CancellationToken::new();
        let entry = StreamState {
            send_window: state.initial_window,
            unacked: 0,
            inbound: (!fin).then_some(inbound),
            room: room.clone(),
            reset: reset.clone(),
            sent_fin: unidirectional,
        };
        state.streams.insert(stream, entry);
        Ok(Stream::new(
            stream,
            headers,
            self.clone(),
            receiver,
            room,
            reset,
            unidirectional,
        ))
    }

    pub(super) fn last_accepted(&self) -> u32 {
        self.lock().last_accepted
    }

    /// RST_STREAM from the peer.
    pub(super) fn peer_reset(&self, stream: u32) {
        if let Some(entry) = self.lock().streams.remove(&stream) {
            entry.reset.cancel();
        }
        self.changed.notify_waiters();
    }

    /// SETTINGS from the peer: a new initial window moves every open stream's window.
    pub(super) fn settings(&self, entries: &[frame::Setting]) {
        let mut state = self.lock();
        for entry in entries {
            if entry.id == setting::INITIAL_WINDOW_SIZE {
                let value = i64::from(entry.value & 0x7FFF_FFFF);
                let delta = value - state.initial_window;
                state.initial_window = value;
                for stream in state.streams.values_mut() {
                    stream.send_window += delta;
                }
                state.flow = Flow::Counted;
            }
        }
        drop(state);
        self.changed.notify_waiters();
    }

    /// WINDOW_UPDATE from the peer (stream 0: the session's window).
    pub(super) fn window_update(&self, stream: u32, delta: u32) {
        let mut state = self.lock();
        if state.flow == Flow::Unproven {
            state.flow = Flow::Counted;
        }
        let limit = i64::from(i32::MAX);
        if stream == 0 {
            state.session_window = (state.session_window + i64::from(delta)).min(limit);
        } else if let Some(entry) = state.streams.get_mut(&stream) {
            entry.send_window = (entry.send_window + i64::from(delta)).min(limit);
        }
        drop(state);
        self.changed.notify_waiters();
    }

    /// The peer's FIN on `stream`.
    pub(super) fn peer_fin(&self, stream: u32) {
        let mut state = self.lock();
        if let Some(entry) = state.streams.get_mut(&stream) {
            if let Some(inbound) = entry.inbound.take() {
                let _gone = inbound.send(Inbound::Fin);
            }
            if entry.sent_fin {
                state.streams.remove(&stream);
            }
        }
    }
}
