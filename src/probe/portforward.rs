//! The client side of one `pods/{name}/portforward` stream for one port, over the
//! WebSocket channel protocol (`v5.channel.k8s.io` / `v4.channel.k8s.io`): channel 0
//! carries the port's data, channel 1 its error message; the first frame on each channel
//! is the port number, little-endian.
//!
//! kube-rs's `Portforwarder` speaks the same protocol but is built for many ports and small
//! payloads: it reads the local stream in 4 KiB pieces (one WebSocket frame, one flush and
//! one TLS record each), copies every frame byte by byte, and moves both directions through
//! one loop, so a slow write to the local side stalls sending. Here each direction runs on
//! its own, a frame carries whatever the caller wrote (up to [`MAX_FRAME`]), and payloads
//! travel between the caller's [`PortForwardStream`] and the WebSocket task as shared
//! buffers, not through a byte pipe (one copy each way instead of three). The behaviour is
//! kube-rs's:
//!
//! - the stream ends when the server closes the WebSocket (or the forward fails);
//! - the error future resolves with the server's message for the port, or `None` once the
//!   forward ended without one;
//! - dropping (or shutting down) the stream sends a WebSocket Close; the task ends when the
//!   server answered it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures::channel::oneshot;
use futures::{SinkExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::Resource;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{self as ws, Message};
use tokio_util::sync::PollSender;

/// The most payload one WebSocket frame carries towards the pod.
pub const MAX_FRAME: usize = 64 * 1024;
/// Frames queued between the stream and the WebSocket, each way (at most
/// `QUEUE * MAX_FRAME` bytes towards the pod; the server's frame size the other way).
const QUEUE: usize = 2;

/// Why a port-forward ended with an error (after it was opened).
#[derive(Debug, thiserror::Error)]
pub enum PortForwardError {
    #[error("received a frame on unknown channel {0}")]
    InvalidChannel(u8),
    #[error("received an initial frame of the wrong size")]
    InvalidInitialFrameSize,
    #[error("the initial frame names port {actual}, expected {expected}")]
    InvalidPortMapping { actual: u16, expected: u16 },
    #[error("the error message for the port is not UTF-8")]
    InvalidErrorMessage(#[source] std::string::FromUtf8Error),
    #[error("sending a WebSocket message failed: {0}")]
    Send(#[source] ws::Error),
    #[error("receiving a WebSocket message failed: {0}")]
    Receive(#[source] ws::Error),
}

/// An open port-forward to one pod port.
pub struct PortForward {
    /// The pod port's bytes.
    pub stream: PortForwardStream,
    /// The server's error message for the port (`None`: the forward ended without one).
    pub errors: oneshot::Receiver<String>,
    /// The task moving bytes; ends once the WebSocket is closed.
    pub task: tokio::task::JoinHandle<Result<(), PortForwardError>>,
}

/// The pod port's bytes: reads take the payloads the pod sent, each write becomes one frame.
/// Writes are handed to the WebSocket task as they come (flushing has nothing to wait for);
/// shutting down or dropping the stream closes the WebSocket.
pub struct PortForwardStream {
    incoming: mpsc::Receiver<Bytes>,
    /// What is left of the payload being read.
    pending: Bytes,
    outgoing: PollSender<Bytes>,
    /// Space for the next frames, reclaimed once the WebSocket copied earlier ones out.
    frames: BytesMut,
}

impl AsyncRead for PortForwardStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        while self.pending.is_empty() {
            match ready!(self.incoming.poll_recv(cx)) {
                Some(payload) => self.pending = payload,
                // The WebSocket ended: end of stream.
                None => return Poll::Ready(Ok(())),
            }
        }
        let count = self.pending.len().min(buf.remaining());
        buf.put_slice(&self.pending[..count]);
        self.pending.advance(count);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for PortForwardStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if ready!(self.outgoing.poll_reserve(cx)).is_err() {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let count = buf.len().min(MAX_FRAME);
        let this = &mut *self;
        // The channel byte, then the payload: one frame, one copy.
        start_frame(&mut this.frames, 0, count);
        this.frames.put_slice(&buf[..count]);
        let frame = this.frames.split().freeze();
        match this.outgoing.send_item(frame) {
            Ok(()) => Poll::Ready(Ok(count)),
            Err(_) => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.outgoing.close();
        Poll::Ready(Ok(()))
    }
}

/// Where a payload starts in its frame buffer: copies into unaligned destinations are slow
/// on some CPUs (`rep movsb` on AMD, in the kernel's copies to user space too).
const PAYLOAD_ALIGN: usize = 64;

/// Puts `channel` into `buffer` (empty) so that the payload after it starts aligned, with
/// room for `payload` bytes.
pub fn start_frame(buffer: &mut BytesMut, channel: u8, payload: usize) {
    debug_assert!(buffer.is_empty());
    buffer.reserve(PAYLOAD_ALIGN + payload);
    let channel_at = buffer.as_ptr() as usize + 1;
    let pad = (PAYLOAD_ALIGN - channel_at % PAYLOAD_ALIGN) % PAYLOAD_ALIGN;
    buffer.put_bytes(0, pad);
    buffer.advance(pad);
    buffer.put_u8(channel);
}

/// Opens `pods/{pod}/portforward?ports={port}` in `namespace` (the WebSocket upgrade).
pub async fn open(
    client: &kube::Client,
    namespace: &str,
    pod: &str,
    port: u16,
) -> Result<PortForward, kube::Error> {
    let request = kube::core::Request::new(Pod::url_path(&(), Some(namespace)))
        .portforward(pod, &[port])
        .map_err(kube::Error::BuildRequest)?;
    let connection = client.connect(request).await?;
    Ok(start(connection.into_stream(), port))
}

/// Runs the channel protocol for `port` on an upgraded WebSocket.
pub fn start<S>(socket: WebSocketStream<S>, port: u16) -> PortForward
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (incoming_tx, incoming) = mpsc::channel(QUEUE);
    let (outgoing, outgoing_rx) = mpsc::channel(QUEUE);
    let (error_tx, errors) = oneshot::channel();
    let task = tokio::spawn(run(socket, port, outgoing_rx, incoming_tx, error_tx));
    PortForward {
        stream: PortForwardStream {
            incoming,
            pending: Bytes::new(),
            outgoing: PollSender::new(outgoing),
            frames: BytesMut::new(),
        },
        errors,
        task,
    }
}

async fn run<S>(
    socket: WebSocketStream<S>,
    port: u16,
    outgoing: mpsc::Receiver<Bytes>,
    incoming: mpsc::Sender<Bytes>,
    error_tx: oneshot::Sender<String>,
) -> Result<(), PortForwardError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sink, stream) = socket.split();
    futures::try_join!(
        to_pod(outgoing, sink),
        from_pod(stream, incoming, port, error_tx)
    )?;
    Ok(())
}

/// The stream's frames → the WebSocket, one flush for whatever is queued; a Close once the
/// stream was shut down or dropped.
async fn to_pod<S>(
    mut outgoing: mpsc::Receiver<Bytes>,
    mut sink: futures::stream::SplitSink<WebSocketStream<S>, Message>,
) -> Result<(), PortForwardError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(frame) = outgoing.recv().await {
        sink.feed(Message::Binary(frame))
            .await
            .map_err(PortForwardError::Send)?;
        while let Ok(frame) = outgoing.try_recv() {
            sink.feed(Message::Binary(frame))
                .await
                .map_err(PortForwardError::Send)?;
        }
        sink.flush().await.map_err(PortForwardError::Send)?;
    }
    sink.send(Message::Close(None))
        .await
        .map_err(PortForwardError::Send)
}

/// WebSocket frames → the stream (channel 0) and the error message (channel 1), until the
/// server closes.
async fn from_pod<S>(
    mut stream: futures::stream::SplitStream<WebSocketStream<S>>,
    incoming: mpsc::Sender<Bytes>,
    port: u16,
    error_tx: oneshot::Sender<String>,
) -> Result<(), PortForwardError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut error_tx = Some(error_tx);
    let mut initialized = [false; 2];
    // Cleared once the stream is gone: later data has nowhere to go.
    let mut reader = Some(incoming);
    while let Some(message) = stream.next().await {
        match message.map_err(PortForwardError::Receive)? {
            Message::Binary(data) if data.len() > 1 => {
                let channel = data[0];
                let payload: Bytes = data.slice(1..);
                let Some(seen) = initialized.get_mut(usize::from(channel)) else {
                    return Err(PortForwardError::InvalidChannel(channel));
                };
                if !*seen {
                    let [low, high] = payload[..] else {
                        return Err(PortForwardError::InvalidInitialFrameSize);
                    };
                    let actual = u16::from_le_bytes([low, high]);
                    if actual != port {
                        return Err(PortForwardError::InvalidPortMapping {
                            actual,
                            expected: port,
                        });
                    }
                    *seen = true;
                    continue;
                }
                if channel == 1 {
                    // At most one message: the port is unusable after it.
                    if let Some(sender) = error_tx.take() {
                        let text = String::from_utf8(payload.to_vec())
                            .map_err(PortForwardError::InvalidErrorMessage)?;
                        let _ = sender.send(text);
                    }
                } else if let Some(sender) = &reader
                    && sender.send(payload).await.is_err()
                {
                    reader = None;
                }
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
    use tokio_tungstenite::tungstenite::protocol::Role;

    /// A forward on an in-memory WebSocket; returns the server's end.
    async fn pair(port: u16) -> (PortForward, WebSocketStream<DuplexStream>) {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
        let server = WebSocketStream::from_raw_socket(server, Role::Server, None).await;
        (start(client, port), server)
    }

    fn frame(channel: u8, payload: &[u8]) -> Message {
        let mut data = vec![channel];
        data.extend_from_slice(payload);
        Message::Binary(data.into())
    }

    async fn greet(server: &mut WebSocketStream<DuplexStream>, port: u16) {
        for channel in [0, 1] {
            server
                .send(frame(channel, &port.to_le_bytes()))
                .await
                .expect("initial frame");
        }
    }

    #[tokio::test]
    async fn carries_bytes_both_ways_and_closes_after_the_stream() {
        let (forward, mut server) = pair(8080).await;
        let PortForward {
            mut stream,
            errors,
            task,
        } = forward;
        greet(&mut server, 8080).await;
        // More than the frames queued and the pipe hold: the server reads while it is written.
        let sent: Vec<u8> = (0..300 * 1024).map(|i| (i % 251) as u8).collect();
        let receive = async {
            let mut received = Vec::new();
            while received.len() < sent.len() {
                match server.next().await.expect("a frame").expect("valid") {
                    Message::Binary(data) => {
                        assert_eq!(data[0], 0, "data channel");
                        assert!(data.len() <= MAX_FRAME + 1, "{} bytes", data.len());
                        received.extend_from_slice(&data[1..]);
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            received
        };
        let (written, received) = tokio::join!(stream.write_all(&sent), receive);
        written.expect("write");
        assert_eq!(received, sent);
        server.send(frame(0, b"pong")).await.expect("send");
        let mut answer = [0u8; 4];
        stream.read_exact(&mut answer).await.expect("read");
        assert_eq!(&answer, b"pong");
        drop(stream);
        // The client closes once its stream is gone; the server answers.
        loop {
            match server.next().await {
                Some(Ok(Message::Close(_))) | None => break,
                Some(Ok(_)) => {}
                Some(Err(error)) => panic!("{error}"),
            }
        }
        let _ = server.flush().await;
        drop(server);
        task.await.expect("joined").expect("ended cleanly");
        assert_eq!(errors.await.ok(), None, "no error message");
    }

    #[rstest::rstest]
    fn frames_start_with_the_channel_and_an_aligned_payload(
        #[values(0, 1, 7, 63)] used: usize,
        #[values(1, 4096, MAX_FRAME)] payload: usize,
    ) {
        let mut buffer = BytesMut::with_capacity(1024);
        buffer.put_bytes(9, used);
        let _ = buffer.split();
        start_frame(&mut buffer, 3, payload);
        assert_eq!(&buffer[..], &[3]);
        assert_eq!((buffer.as_ptr() as usize + 1) % PAYLOAD_ALIGN, 0);
        assert!(buffer.capacity() > payload, "{}", buffer.capacity());
    }

    #[tokio::test]
    async fn reports_the_error_channel_message() {
        let (forward, mut server) = pair(80).await;
        greet(&mut server, 80).await;
        server
            .send(frame(1, b"connection refused"))
            .await
            .expect("send");
        assert_eq!(
            forward.errors.await.ok().as_deref(),
            Some("connection refused")
        );
    }

    #[rstest::rstest]
    #[case::wrong_port(frame(0, &81u16.to_le_bytes()), "names port 81, expected 80")]
    #[case::short_initial_frame(frame(0, &[80]), "wrong size")]
    #[case::unknown_channel(frame(4, &80u16.to_le_bytes()), "unknown channel 4")]
    #[tokio::test]
    async fn rejects_protocol_violations(#[case] first: Message, #[case] expected: &str) {
        let (forward, mut server) = pair(80).await;
        server.send(first).await.expect("send");
        let error = forward
            .task
            .await
            .expect("joined")
            .expect_err("a protocol error");
        assert!(error.to_string().contains(expected), "{error}");
        assert_eq!(forward.errors.await.ok(), None);
    }
}
