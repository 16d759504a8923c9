//! The data stream of one forwarded connection, as the connection sees it: reads take what
//! the pod sent (until the server's FIN), each write becomes a DATA frame within the server's
//! windows, shutting down sends FIN (a half-close: the pod's answer can still be read), and
//! dropping the stream resets what is still open of the pair.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kubehop_spdy::frame;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Sleep;
use tokio_util::sync::PollSender;

use super::session::{Grant, MAX_DATA_FRAME, STREAM_WINDOW, Shared};

pub(super) enum Inbound {
    Data(Bytes),
    Fin,
    Reset,
}

/// One forwarded connection's bytes (the data stream of its pair).
pub struct SpdyStream {
    data_id: u32,
    error_id: u32,
    shared: Arc<Shared>,
    inbound: mpsc::UnboundedReceiver<Inbound>,
    /// What is left of the payload being read.
    pending: Bytes,
    /// The server's FIN arrived.
    read_done: bool,
    room: Arc<Semaphore>,
    outgoing: PollSender<Bytes>,
    /// While the server's windows are exhausted and it has not shown it keeps them.
    grace: Option<Pin<Box<Sleep>>>,
    /// FIN sent.
    shut: bool,
}

impl SpdyStream {
    pub(super) fn new(
        (data_id, error_id): (u32, u32),
        shared: Arc<Shared>,
        inbound: mpsc::UnboundedReceiver<Inbound>,
        room: Arc<Semaphore>,
        outgoing: mpsc::Sender<Bytes>,
    ) -> Self {
        SpdyStream {
            data_id,
            error_id,
            shared,
            inbound,
            pending: Bytes::new(),
            read_done: false,
            room,
            outgoing: PollSender::new(outgoing),
            grace: None,
            shut: false,
        }
    }

    /// Up to `wanted` bytes of the server's windows.
    fn poll_window(&mut self, cx: &mut Context<'_>, wanted: usize) -> Poll<io::Result<usize>> {
        loop {
            match self.shared.take_window(self.data_id, wanted, cx.waker())? {
                Grant::Granted(granted) => {
                    self.grace = None;
                    return Poll::Ready(Ok(granted));
                }
                Grant::Wait(None) => return Poll::Pending,
                Grant::Wait(Some(deadline)) => {
                    let grace = self
                        .grace
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                    ready!(grace.as_mut().poll(cx));
                    self.grace = None;
                    self.shared.stop_counting();
                }
            }
        }
    }
}

impl AsyncRead for SpdyStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        while self.pending.is_empty() {
            if self.read_done {
                return Poll::Ready(Ok(()));
            }
            match ready!(self.inbound.poll_recv(cx)) {
                Some(Inbound::Data(data)) => {
                    self.room
                        .add_permits(data.len().min(STREAM_WINDOW as usize));
                    self.shared.consumed(self.data_id, data.len());
                    self.pending = data;
                }
                Some(Inbound::Fin) => self.read_done = true,
                Some(Inbound::Reset) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        "the server reset the port-forward stream",
                    )));
                }
                None => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "the port-forward session ended",
                    )));
                }
            }
        }
        let count = self.pending.len().min(buf.remaining());
        buf.put_slice(&self.pending[..count]);
        self.pending.advance(count);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for SpdyStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.shut {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if ready!(self.outgoing.poll_reserve(cx)).is_err() {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let count = ready!(self.poll_window(cx, buf.len().min(MAX_DATA_FRAME)))?;
        let mut wire = BytesMut::with_capacity(frame::HEADER_LEN + count);
        frame::data_header(&mut wire, self.data_id, false, count);
        wire.put_slice(&buf[..count]);
        match self.outgoing.send_item(wire.freeze()) {
            Ok(()) => Poll::Ready(Ok(count)),
            Err(_) => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.shut {
            return Poll::Ready(Ok(()));
        }
        if ready!(self.outgoing.poll_reserve(cx)).is_err() {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let mut wire = BytesMut::with_capacity(frame::HEADER_LEN);
        frame::data_header(&mut wire, self.data_id, true, 0);
        self.shut = true;
        match self.outgoing.send_item(wire.freeze()) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(_) => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
        }
    }
}

impl Drop for SpdyStream {
    fn drop(&mut self) {
        self.shared
            .release(self.data_id, self.error_id, self.shut && self.read_done);
    }
}
