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
//! - the stream ends when the server closes the WebSocket (or the forward fails): a kubelet
//!   does that once the pod's connection ended, so the pod's close reaches the reader;
//! - the error future resolves with the server's message for the port, or `None` once the
//!   forward ended without one;
//! - dropping the stream sends a WebSocket Close; the task ends when the server answered it.
//!
//! Half-close goes further than kube-rs: on `v5.channel.k8s.io` shutting down the stream
//! sends the protocol's close signal for the data channel (the server shuts down the pod
//! connection's receiving side) and the stream stays readable until the pod's answer ended.
//! On `v4.channel.k8s.io`, which has no such signal, shutting down closes the WebSocket, as
//! kube-rs does ([`PortForward::half_close`] says which).

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
    /// Shutting down the stream keeps its receiving side (the server speaks v5).
    pub half_close: bool,
}

/// The pod port's bytes: reads take the payloads the pod sent, each write becomes one frame.
/// Writes are handed to the WebSocket task as they come (flushing has nothing to wait for);
/// shutting down sends the close signal (v5) or closes the WebSocket (v4); dropping the
/// stream closes the WebSocket.
pub struct PortForwardStream {
    incoming: mpsc::Receiver<Bytes>,
    /// What is left of the payload being read.
    pending: Bytes,
    outgoing: PollSender<Bytes>,
    /// Space for the next frames, reclaimed once the WebSocket copied earlier ones out.
    frames: BytesMut,
    /// Shutting down sends the close signal instead of closing the WebSocket.
    close_signal: bool,
    /// The sending side was shut down.
    shut: bool,
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
        if self.shut {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
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

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.shut {
            return Poll::Ready(Ok(()));
        }
        if !self.close_signal {
            self.outgoing.close();
            self.shut = true;
            return Poll::Ready(Ok(()));
        }
        // The WebSocket task ended: nothing is sent any more anyway.
        if ready!(self.outgoing.poll_reserve(cx)).is_ok() {
            let _ = self
                .outgoing
                .send_item(Bytes::from_static(&[CLOSE_CHANNEL, 0]));
        }
        self.shut = true;
        Poll::Ready(Ok(()))
    }
}

/// The v5 protocol's signal channel: a frame `[255, channel]` closes the sender's side of
/// `channel`.
const CLOSE_CHANNEL: u8 = 255;

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
    let close_signal = connection.supports_stream_close();
    Ok(start(connection.into_stream(), port, close_signal))
}

/// Runs the channel protocol for `port` on an upgraded WebSocket; `close_signal`: the server
/// speaks v5 (it understands the close signal).
pub fn start<S>(socket: WebSocketStream<S>, port: u16, close_signal: bool) -> PortForward
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
            close_signal,
            shut: false,
        },
        errors,
        task,
        half_close: close_signal,
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
/// stream was dropped (or shut down on v4). Once the server closed the WebSocket, what the
/// stream still sends has nowhere to go: the task ends without an error, like a write to a
/// socket whose peer closed.
async fn to_pod<S>(
    mut outgoing: mpsc::Receiver<Bytes>,
    mut sink: futures::stream::SplitSink<WebSocketStream<S>, Message>,
) -> Result<(), PortForwardError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let sent = async {
        while let Some(frame) = outgoing.recv().await {
            sink.feed(Message::Binary(frame)).await?;
            while let Ok(frame) = outgoing.try_recv() {
                sink.feed(Message::Binary(frame)).await?;
            }
            sink.flush().await?;
        }
        sink.send(Message::Close(None)).await
    };
    match sent.await {
        Ok(())
        | Err(
            ws::Error::ConnectionClosed
            | ws::Error::AlreadyClosed
            | ws::Error::Protocol(ws::error::ProtocolError::SendAfterClosing),
        ) => Ok(()),
        Err(error) => Err(PortForwardError::Send(error)),
    }
}

/// WebSocket frames → the stream (channel 0) and the error message (channel 1), until the
/// server closes: the stream ends at its Close, then reading goes on until the WebSocket
/// ended (that sends the answer to the Close).
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
    let mut closed = false;
    while let Some(message) = stream.next().await {
        if closed && message.is_err() {
            // After the server's Close: the connection ends.
            break;
        }
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
            Message::Close(_) => {
                // The end of the stream; no error message comes any more.
                closed = true;
                reader = None;
                error_tx = None;
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
    use tokio_tungstenite::tungstenite::protocol::Role;

    /// A forward on an in-memory WebSocket; returns the server's end.
    async fn pair(port: u16) -> (PortForward, WebSocketStream<DuplexStream>) {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
        let server = WebSocketStream::from_raw_socket(server, Role::Server, None).await;
        (start(client, port, true), server)
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
            ..
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

    #[tokio::test]
    async fn the_servers_close_ends_the_stream_and_the_task() {
        let (forward, mut server) = pair(80).await;
        let PortForward {
            mut stream,
            errors,
            task,
            ..
        } = forward;
        greet(&mut server, 80).await;
        server.send(frame(0, b"bye")).await.expect("send");
        server.send(Message::Close(None)).await.expect("close");
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
            .await
            .expect("the end of the stream in time")
            .expect("read");
        assert_eq!(answer, b"bye");
        assert_eq!(errors.await.ok(), None, "no error message");
        // The client answers the Close; the server ends the connection.
        let answered = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(Ok(message)) = server.next().await {
                if message.is_close() {
                    return true;
                }
            }
            false
        })
        .await
        .expect("in time");
        assert!(answered, "the Close is answered");
        drop(server);
        drop(stream);
        task.await.expect("joined").expect("ended cleanly");
    }

    async fn next_message(server: &mut WebSocketStream<DuplexStream>) -> Message {
        tokio::time::timeout(Duration::from_secs(5), server.next())
            .await
            .expect("in time")
            .expect("a message")
            .expect("valid")
    }

    #[rstest::rstest]
    #[case::v5(true)]
    #[case::v4(false)]
    #[tokio::test]
    async fn shutting_down_half_closes_on_v5_and_closes_on_v4(#[case] v5: bool) {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
        let mut server = WebSocketStream::from_raw_socket(server, Role::Server, None).await;
        let forward = start(client, 80, v5);
        assert_eq!(forward.half_close, v5);
        let mut stream = forward.stream;
        greet(&mut server, 80).await;
        stream.write_all(b"ask").await.expect("write");
        stream.shutdown().await.expect("shutdown");
        assert!(
            stream.write_all(b"more").await.is_err(),
            "nothing after shutdown"
        );
        assert_eq!(next_message(&mut server).await, frame(0, b"ask"));
        if !v5 {
            assert!(next_message(&mut server).await.is_close(), "v4 closes");
            return;
        }
        assert_eq!(
            next_message(&mut server).await,
            Message::Binary(vec![255, 0].into())
        );
        // Still readable: the answer after the half-close arrives whole.
        server.send(frame(0, b"answer")).await.expect("send");
        server.send(Message::Close(None)).await.expect("close");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.expect("read");
        assert_eq!(answer, b"answer");
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
