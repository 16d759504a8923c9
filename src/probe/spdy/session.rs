//! One client session: a task writing frames, a task reading them, and the state both share
//! (streams, flow-control windows, the header compressor).
//!
//! A forwarded connection is a stream pair, as kubectl opens it: `streamtype: error` (closed
//! by this side at once; the server writes why forwarding failed there, then closes it) and
//! `streamtype: data`, both with the same `port` and `requestid`. The pair is usable as soon
//! as its SYN_STREAMs are queued: data may follow them without waiting for the SYN_REPLYs
//! (the server holds it for the stream), so a new connection costs no round trip here.
//!
//! Flow control, receiving: the session announces a [`STREAM_WINDOW`] per stream (SETTINGS)
//! and a [`SESSION_WINDOW`] (WINDOW_UPDATE on stream 0) and acknowledges what each stream's
//! reader consumed once half a window built up. A stream buffers at most its window; a server
//! that sends beyond it (Go's spdystream, on which the kubelet and the API server are built,
//! keeps no windows) is slowed by the session reading no further, which TCP carries back.
//! Sending: within the server's windows once it showed it keeps them (a WINDOW_UPDATE);
//! until then a server whose windows ran out gets [`UNPROVEN_GRACE`] to send one, else its
//! windows are not counted any more (TCP carries the backpressure, as between Go peers).

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::channel::oneshot;
use kubehop_spdy::frame::{self, Frame, Setting, goaway, rst, setting};
use kubehop_spdy::window::{DEFAULT_WINDOW, ReceiveWindow, SendWindow, take_both};
use kubehop_spdy::{Deflater, Headers};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::stream::{Inbound, SpdyStream};
use super::transport::{Sink, Transport};

/// What a stream of this side may buffer before the server must wait (SETTINGS).
pub const STREAM_WINDOW: u32 = 1 << 20;
/// What the whole session may buffer (the session window this side announces).
pub const SESSION_WINDOW: u32 = 16 << 20;
/// The most one DATA frame this side sends carries.
pub(super) const MAX_DATA_FRAME: usize = 64 * 1024;
/// How long a server that has not shown it keeps windows has to open an exhausted one.
pub const UNPROVEN_GRACE: Duration = Duration::from_millis(250);
/// DATA frames queued for the writer (at most this many times [`MAX_DATA_FRAME`] bytes).
pub(super) const QUEUED_FRAMES: usize = 16;
/// What the writer sends at once at most.
const BATCH: usize = 256 * 1024;
/// The most an error stream's message may be.
const MAX_ERROR_MESSAGE: usize = 64 * 1024;
/// How often the session pings the server; a ping unanswered by the next one ends it (a
/// server or path gone silent, so the next connection opens a new session).
pub const PING_INTERVAL: Duration = Duration::from_secs(30);
/// The last stream id this side opens before the session counts as used up.
const LAST_STREAM_ID: u32 = 0x7FFF_FF00;

/// Whether the server limits what this side sends by its windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    /// No WINDOW_UPDATE from the server yet.
    Unproven,
    /// It sent one: its windows are honoured.
    Counted,
    /// Windows ran out and the server did not open them within the grace.
    Uncounted,
}

/// A control frame (or the end) for the writer; DATA goes through the data queue.
pub(super) enum Control {
    Frame(Bytes),
    /// Ends the session once what is queued before it is sent.
    Close,
}

pub(super) struct DataEntry {
    pub(super) send: SendWindow,
    recv: ReceiveWindow,
    /// To the stream's reader; `None` after the server's FIN or once the reader is gone.
    pub(super) inbound: Option<mpsc::UnboundedSender<Inbound>>,
    /// How much more the reader's buffer takes before the session stops reading.
    room: Arc<Semaphore>,
    /// The server reset the stream.
    pub(super) reset: bool,
}

struct ErrorEntry {
    message: Vec<u8>,
    report: Option<oneshot::Sender<String>>,
}

impl ErrorEntry {
    /// The stream ended: its message, if any, goes to whoever waits for it.
    fn finish(mut self) {
        if let Some(report) = self.report.take()
            && !self.message.is_empty()
        {
            let text = String::from_utf8_lossy(&self.message).into_owned();
            // Nobody waiting any more: the connection is over.
            let _unheard = report.send(text);
        }
    }
}

enum Entry {
    Data(DataEntry),
    Error(ErrorEntry),
}

pub(super) struct State {
    deflater: Deflater,
    streams: HashMap<u32, Entry>,
    next_id: u32,
    next_request: u64,
    /// The server's initial window for new streams.
    initial_window: i64,
    pub(super) session_send: SendWindow,
    session_recv: ReceiveWindow,
    pub(super) flow: Flow,
    pub(super) exhausted_since: Option<Instant>,
    /// GOAWAY received or sent, or the session ended: no new streams.
    closing: bool,
    /// Writers waiting for a window.
    pub(super) waiting: Vec<Waker>,
}

impl State {
    pub(super) fn data(&mut self, stream: u32) -> Option<&mut DataEntry> {
        match self.streams.get_mut(&stream) {
            Some(Entry::Data(entry)) => Some(entry),
            _ => None,
        }
    }

    pub(super) fn wake_writers(&mut self) {
        for waker in self.waiting.drain(..) {
            waker.wake();
        }
    }
}

pub(super) struct Shared {
    /// The id of the last PING the server answered.
    pub(super) answered: std::sync::atomic::AtomicU32,
    state: Mutex<State>,
    control: mpsc::UnboundedSender<Control>,
    pub(super) ended: CancellationToken,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn send(&self, frame: &Frame) {
        let mut wire = BytesMut::new();
        frame::encode(frame, &mut wire);
        if self.control.send(Control::Frame(wire.freeze())).is_err() {
            self.ended.cancel();
        }
    }

    /// The reader of `stream` took `length` bytes: acknowledges them (stream and session)
    /// once half a window built up.
    pub(super) fn consumed(&self, stream: u32, length: usize) {
        let mut state = self.lock();
        let delta = state
            .data(stream)
            .filter(|entry| entry.inbound.is_some())
            .and_then(|entry| entry.recv.consumed(length));
        if let Some(delta) = delta {
            self.send(&Frame::WindowUpdate { stream, delta });
        }
        self.consumed_by_session(&mut state, length);
    }

    fn consumed_by_session(&self, state: &mut State, length: usize) {
        if let Some(delta) = state.session_recv.consumed(length) {
            self.send(&Frame::WindowUpdate { stream: 0, delta });
        }
    }

    /// This side is done with the stream pair: a reset for each stream still open.
    pub(super) fn release(&self, data: u32, error: u32, fully_closed: bool) {
        let mut state = self.lock();
        if let Some(Entry::Data(entry)) = state.streams.remove(&data)
            && !fully_closed
            && !entry.reset
        {
            self.send(&Frame::RstStream {
                stream: data,
                status: rst::CANCEL,
            });
        }
        if let Some(Entry::Error(entry)) = state.streams.remove(&error) {
            entry.finish();
            self.send(&Frame::RstStream {
                stream: error,
                status: rst::CANCEL,
            });
        }
    }
}

/// A stream pair: the data stream and the error stream's message.
pub struct Pair {
    pub stream: SpdyStream,
    /// Resolves with the server's message on the error stream; cancelled when it closed
    /// without one.
    pub errors: oneshot::Receiver<String>,
}

/// A SPDY/3.1 port-forward session. Clones share it; it ends when [`Session::close`] is
/// called, the server ends it, or its transport fails.
#[derive(Clone)]
pub struct Session {
    shared: Arc<Shared>,
    data_queue: mpsc::Sender<Bytes>,
}

impl Session {
    /// Starts the session on `transport`: announces this side's windows and runs its tasks.
    pub fn start<Io>(transport: Transport<Io>) -> Session
    where
        Io: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (source, sink) = transport.split();
        let (control, control_rx) = mpsc::unbounded_channel();
        let (data_queue, data_rx) = mpsc::channel(QUEUED_FRAMES);
        let shared = Arc::new(Shared {
            answered: std::sync::atomic::AtomicU32::new(0),
            state: Mutex::new(State {
                deflater: Deflater::new(),
                streams: HashMap::new(),
                next_id: 1,
                next_request: 0,
                initial_window: i64::from(DEFAULT_WINDOW),
                session_send: SendWindow::new(DEFAULT_WINDOW),
                session_recv: ReceiveWindow::new(SESSION_WINDOW),
                flow: Flow::Unproven,
                exhausted_since: None,
                closing: false,
                waiting: Vec::new(),
            }),
            control,
            ended: CancellationToken::new(),
        });
        shared.send(&Frame::Settings {
            clear: false,
            entries: vec![Setting {
                flags: 0,
                id: setting::INITIAL_WINDOW_SIZE,
                value: STREAM_WINDOW,
            }],
        });
        shared.send(&Frame::WindowUpdate {
            stream: 0,
            delta: SESSION_WINDOW - DEFAULT_WINDOW,
        });
        tokio::spawn(write_loop(sink, control_rx, data_rx, shared.ended.clone()));
        tokio::spawn(super::dispatch::read_loop(source, shared.clone()));
        tokio::spawn(keepalive(shared.clone()));
        Session { shared, data_queue }
    }

    /// Whether new stream pairs may still be opened.
    pub fn is_open(&self) -> bool {
        !self.shared.ended.is_cancelled() && !self.shared.lock().closing
    }

    /// Resolves once the session ended.
    pub async fn ended(&self) {
        self.shared.ended.cancelled().await;
    }

    /// Opens the stream pair for one connection to `port`; fails once the session is
    /// closing or over.
    pub fn open(&self, port: u16) -> io::Result<Pair> {
        let mut state = self.shared.lock();
        if state.closing || self.shared.ended.is_cancelled() || state.next_id > LAST_STREAM_ID {
            state.closing = true;
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the port-forward session is closed",
            ));
        }
        let (error_id, data_id) = (state.next_id, state.next_id + 2);
        state.next_id += 4;
        let request = state.next_request.to_string();
        state.next_request += 1;
        let port_text = port.to_string();
        for (stream, kind) in [(error_id, "error"), (data_id, "data")] {
            let headers = Headers::from_pairs(&[
                ("streamtype", kind),
                ("port", &port_text),
                ("requestid", &request),
            ]);
            let block = state.deflater.compress(&headers);
            self.shared.send(&Frame::SynStream {
                stream,
                associated: 0,
                priority: 0,
                fin: false,
                unidirectional: false,
                headers: block,
            });
        }
        // This side sends nothing on the error stream (kubectl closes it at once too).
        self.shared.send(&Frame::Data {
            stream: error_id,
            fin: true,
            data: Bytes::new(),
        });
        let (report, errors) = oneshot::channel();
        state.streams.insert(
            error_id,
            Entry::Error(ErrorEntry {
                message: Vec::new(),
                report: Some(report),
            }),
        );
        let (inbound, receiver) = mpsc::unbounded_channel();
        let room = Arc::new(Semaphore::new(STREAM_WINDOW as usize));
        let entry = DataEntry {
            send: SendWindow::new(u32::try_from(state.initial_window.max(0)).unwrap_or(0)),
            recv: ReceiveWindow::new(STREAM_WINDOW),
            inbound: Some(inbound),
            room: room.clone(),
            reset: false,
        };
        state.streams.insert(data_id, Entry::Data(entry));
        drop(state);
        let stream = SpdyStream::new(
            (data_id, error_id),
            self.shared.clone(),
            receiver,
            room,
            self.data_queue.clone(),
        );
        Ok(Pair { stream, errors })
    }

    /// Says GOAWAY and ends the session once what is queued is sent; streams still open end.
    pub fn close(&self) {
        let mut state = self.shared.lock();
        if !state.closing {
            state.closing = true;
            self.shared.send(&Frame::GoAway {
                last_good: 0,
                status: goaway::OK,
            });
        }
        drop(state);
        // A writer that is gone already ended the session.
        let _gone = self.shared.control.send(Control::Close);
    }
}

/// What a writer may send now.
pub(super) enum Grant {
    Granted(usize),
    /// Wait for a window update (the waker is registered); until the deadline if the
    /// server has not shown it keeps windows.
    Wait(Option<Instant>),
}

impl Shared {
    /// Takes up to `wanted` bytes of `stream`'s and the session's windows, or registers
    /// `waker` for when they open.
    pub(super) fn take_window(
        &self,
        stream: u32,
        wanted: usize,
        waker: &Waker,
    ) -> io::Result<Grant> {
        let mut state = self.lock();
        if self.ended.is_cancelled() {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the port-forward session ended",
            ));
        }
        let flow = state.flow;
        let State {
            streams,
            session_send,
            ..
        } = &mut *state;
        let entry = match streams.get_mut(&stream) {
            Some(Entry::Data(entry)) if !entry.reset => entry,
            _ => return Err(io::ErrorKind::ConnectionReset.into()),
        };
        if flow == Flow::Uncounted {
            return Ok(Grant::Granted(wanted));
        }
        let granted = take_both(&mut entry.send, session_send, wanted);
        if granted > 0 {
            state.exhausted_since = None;
            return Ok(Grant::Granted(granted));
        }
        state.waiting.push(waker.clone());
        Ok(Grant::Wait(match flow {
            Flow::Unproven => {
                Some(*state.exhausted_since.get_or_insert_with(Instant::now) + UNPROVEN_GRACE)
            }
            _ => None,
        }))
    }

    /// The server let its exhausted windows be for the grace: they are not counted any more.
    pub(super) fn stop_counting(&self) {
        let mut state = self.lock();
        if state.flow == Flow::Unproven {
            tracing::debug!(
                "SPDY server did not open its exhausted window within {UNPROVEN_GRACE:?}: not counting its windows"
            );
            state.flow = Flow::Uncounted;
        }
        state.wake_writers();
    }
}

/// What the session does with frames the server sends (the read loop calls these).
impl Shared {
    /// DATA for `stream`: where it goes. `None` when nobody reads it: it is acknowledged to
    /// the session at once.
    pub(super) fn data_target(
        &self,
        stream: u32,
        fin: bool,
        data: &Bytes,
    ) -> Option<(mpsc::UnboundedSender<Inbound>, Arc<Semaphore>)> {
        let mut state = self.lock();
        let target = match state.streams.get_mut(&stream) {
            Some(Entry::Data(entry)) => {
                let target = entry.inbound.clone().map(|tx| (tx, entry.room.clone()));
                if fin {
                    entry.inbound = None;
                }
                target
            }
            Some(Entry::Error(entry)) => {
                let room = MAX_ERROR_MESSAGE.saturating_sub(entry.message.len());
                entry
                    .message
                    .extend_from_slice(&data[..data.len().min(room)]);
                if fin && let Some(Entry::Error(entry)) = state.streams.remove(&stream) {
                    entry.finish();
                }
                None
            }
            None => None,
        };
        if target.is_none() && !data.is_empty() {
            self.consumed_by_session(&mut state, data.len());
        }
        target
    }

    /// Bytes delivered to a reader that is gone by now: acknowledged to the session.
    pub(super) fn undelivered(&self, length: usize) {
        let mut state = self.lock();
        self.consumed_by_session(&mut state, length);
    }

    /// RST_STREAM from the server.
    pub(super) fn reset(&self, stream: u32) {
        let mut state = self.lock();
        match state.streams.get_mut(&stream) {
            Some(Entry::Data(entry)) => {
                entry.reset = true;
                if let Some(inbound) = entry.inbound.take() {
                    let _gone = inbound.send(Inbound::Reset);
                }
            }
            Some(Entry::Error(_)) => {
                if let Some(Entry::Error(entry)) = state.streams.remove(&stream) {
                    entry.finish();
                }
            }
            None => {}
        }
        state.wake_writers();
    }

    /// SETTINGS from the server: a new initial window moves every open stream's window.
    pub(super) fn settings(&self, entries: &[Setting]) {
        let mut state = self.lock();
        for entry in entries {
            if entry.id == setting::INITIAL_WINDOW_SIZE {
                let value = i64::from(entry.value & 0x7FFF_FFFF);
                let delta = value - state.initial_window;
                state.initial_window = value;
                for stream in state.streams.values_mut() {
                    if let Entry::Data(stream) = stream {
                        stream.send.shift(delta);
                    }
                }
            }
        }
        state.wake_writers();
    }

    /// WINDOW_UPDATE from the server (stream 0: the session's window).
    pub(super) fn window_update(&self, stream: u32, delta: u32) {
        let mut state = self.lock();
        if state.flow == Flow::Unproven {
            state.flow = Flow::Counted;
        }
        if stream == 0 {
            state.session_send.grow(delta);
        } else if let Some(entry) = state.data(stream) {
            entry.send.grow(delta);
        }
        state.wake_writers();
    }

    pub(super) fn go_away_received(&self) {
        self.lock().closing = true;
    }

    /// The session is over: readers see the end, writers fail, error streams report.
    pub(super) fn end(&self) {
        let mut state = self.lock();
        state.closing = true;
        for (_, entry) in state.streams.drain() {
            if let Entry::Error(entry) = entry {
                entry.finish();
            }
        }
        state.wake_writers();
        drop(state);
        self.ended.cancel();
    }
}

/// Pings the server every [`PING_INTERVAL`] (odd ids, as a client's); ends the session
/// when the previous ping is still unanswered.
async fn keepalive(shared: Arc<Shared>) {
    let mut sent = 0u32;
    loop {
        tokio::select! {
            () = shared.ended.cancelled() => return,
            () = tokio::time::sleep(PING_INTERVAL) => {}
        }
        if shared.answered.load(std::sync::atomic::Ordering::Relaxed) != sent {
            tracing::debug!("SPDY port-forward session: ping {sent} unanswered, ending it");
            shared.end();
            return;
        }
        sent = sent.wrapping_add(2) | 1;
        shared.send(&Frame::Ping { id: sent });
    }
}

/// Sends what is queued, control frames first, in batches; then closes the transport.
async fn write_loop<Io>(
    mut sink: Sink<Io>,
    mut control: mpsc::UnboundedReceiver<Control>,
    mut data: mpsc::Receiver<Bytes>,
    ended: CancellationToken,
) where
    Io: AsyncRead + AsyncWrite + Unpin,
{
    let mut batch = Batch::default();
    loop {
        tokio::select! {
            biased;
            next = control.recv() => match next {
                Some(next) => batch.control(next),
                None => break,
            },
            next = data.recv() => match next {
                Some(frame) => batch.data(frame, &mut control),
                None => break,
            },
            () = ended.cancelled() => break,
        }
        while !batch.closing && batch.len < BATCH {
            while let Ok(next) = control.try_recv() {
                batch.control(next);
            }
            match data.try_recv() {
                Ok(frame) if !batch.closing => batch.data(frame, &mut control),
                _ => break,
            }
        }
        if let Some(bytes) = batch.take()
            && let Err(error) = sink.send(bytes).await
        {
            tracing::debug!("SPDY port-forward session: {error}");
            break;
        }
        if batch.closing {
            break;
        }
    }
    ended.cancel();
    sink.close().await;
}

/// Frames gathered for one write.
#[derive(Default)]
struct Batch {
    frames: Vec<Bytes>,
    len: usize,
    closing: bool,
}

impl Batch {
    fn control(&mut self, next: Control) {
        match next {
            Control::Frame(frame) => self.push(frame),
            Control::Close => self.closing = true,
        }
    }

    /// A DATA frame, after every control frame queued so far: its stream's SYN_STREAM was
    /// queued before it, so it is in the batch before the frame.
    fn data(&mut self, frame: Bytes, control: &mut mpsc::UnboundedReceiver<Control>) {
        while let Ok(next) = control.try_recv() {
            self.control(next);
        }
        self.push(frame);
    }

    fn push(&mut self, frame: Bytes) {
        self.len += frame.len();
        self.frames.push(frame);
    }

    /// The frames as one buffer (one frame alone is not copied).
    fn take(&mut self) -> Option<Bytes> {
        self.len = 0;
        match self.frames.len() {
            0 => None,
            1 => self.frames.pop(),
            _ => {
                let mut joined = BytesMut::with_capacity(self.frames.iter().map(Bytes::len).sum());
                for frame in self.frames.drain(..) {
                    joined.extend_from_slice(&frame);
                }
                Some(joined.freeze())
            }
        }
    }
}
