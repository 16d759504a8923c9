//! What a session runs on, client or server: the connection after `101 Switching Protocols`
//! to `SPDY/3.1`, or the binary messages of a WebSocket with subprotocol
//! `SPDY/3.1+portforward.k8s.io` (their payloads are one byte stream, wherever messages start
//! and end). Behind the `tokio` feature: the framing modules stay free of any runtime.

use std::io;

use bytes::{Bytes, BytesMut};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// Bytes read from a raw transport at once.
const READ_CHUNK: usize = 64 * 1024;

/// The byte stream a session speaks SPDY on.
pub enum Transport<Io> {
    /// The upgraded connection itself (`Upgrade: SPDY/3.1`).
    Raw(Io),
    /// SPDY bytes in a WebSocket's binary messages.
    WebSocket(Box<WebSocketStream<Io>>),
}

impl<Io: AsyncRead + AsyncWrite + Unpin> Transport<Io> {
    pub fn split(self) -> (Source<Io>, Sink<Io>) {
        match self {
            Transport::Raw(io) => {
                let (read, write) = tokio::io::split(io);
                (Source::Raw(read), Sink::Raw(write))
            }
            Transport::WebSocket(socket) => {
                let (write, read) = (*socket).split();
                (Source::WebSocket(read), Sink::WebSocket(write))
            }
        }
    }
}

pub enum Source<Io> {
    Raw(ReadHalf<Io>),
    WebSocket(SplitStream<WebSocketStream<Io>>),
}

impl<Io: AsyncRead + AsyncWrite + Unpin> Source<Io> {
    /// Appends what arrives to `buffer`; 0 at the end of the stream.
    pub async fn read(&mut self, buffer: &mut BytesMut) -> io::Result<usize> {
        match self {
            Source::Raw(read) => {
                buffer.reserve(READ_CHUNK);
                read.read_buf(buffer).await
            }
            Source::WebSocket(read) => loop {
                match read.next().await {
                    Some(Ok(Message::Binary(bytes))) if !bytes.is_empty() => {
                        buffer.extend_from_slice(&bytes);
                        return Ok(bytes.len());
                    }
                    Some(Ok(Message::Close(_))) | None => return Ok(0),
                    Some(Ok(Message::Text(_))) => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "a text message in a SPDY tunnel",
                        ));
                    }
                    // Pings are answered by the WebSocket itself.
                    Some(Ok(_)) => {}
                    Some(Err(error)) => return Err(io::Error::other(error)),
                }
            },
        }
    }
}

pub enum Sink<Io> {
    Raw(WriteHalf<Io>),
    WebSocket(SplitSink<WebSocketStream<Io>, Message>),
}

impl<Io: AsyncRead + AsyncWrite + Unpin> Sink<Io> {
    /// Sends `bytes` (one WebSocket message in a tunnel) and flushes.
    pub async fn send(&mut self, bytes: Bytes) -> io::Result<()> {
        match self {
            Sink::Raw(write) => {
                write.write_all(&bytes).await?;
                write.flush().await
            }
            Sink::WebSocket(write) => write
                .send(Message::Binary(bytes))
                .await
                .map_err(io::Error::other),
        }
    }

    /// Ends the byte stream: a TLS close and FIN, or the WebSocket's Close.
    pub async fn close(&mut self) {
        let closed = match self {
            Sink::Raw(write) => write.shutdown().await,
            Sink::WebSocket(write) => write.close().await.map_err(io::Error::other),
        };
        if let Err(error) = closed {
            // The peer may be gone already: no one to tell.
            tracing::debug!("closing a SPDY transport: {error}");
        }
    }
}
