//! A scripted SPDY client for tests: writes frames, reads what a session sends.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::frame::{self, Frame};
use super::headers::{Deflater, Headers, Inflater};
use super::{Session, Transport};

/// How long a test waits for something that should happen.
pub(crate) const SOON: Duration = Duration::from_secs(5);

/// The client side of a session: writes frames, reads what the session sends.
pub(crate) struct Peer {
    io: DuplexStream,
    buffer: BytesMut,
    deflater: Deflater,
    pub(crate) inflater: Inflater,
    /// The frames a session starts with (its windows), not yet read past.
    greeting: usize,
}

/// A session on one end of an in-memory pipe, and its peer on the other.
pub(crate) fn session() -> (Session, Peer) {
    let (server, client) = tokio::io::duplex(1 << 20);
    (Session::start(Transport::Raw(server)), Peer::new(client))
}

pub(crate) fn headers(pairs: &[(&str, &str)]) -> Headers {
    Headers::new(
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
    )
}

impl Peer {
    pub(crate) fn new(io: DuplexStream) -> Peer {
        Peer {
            io,
            buffer: BytesMut::new(),
            deflater: Deflater::new(),
            inflater: Inflater::new(),
            greeting: 2,
        }
    }

    pub(crate) async fn send(&mut self, frame: Frame) {
        let mut wire = BytesMut::new();
        frame::encode(&frame, &mut wire);
        self.io.write_all(&wire).await.expect("the session reads");
    }

    pub(crate) async fn send_raw(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.expect("the session reads");
    }

    pub(crate) async fn open(&mut self, stream: u32, pairs: &[(&str, &str)]) {
        let block = self.deflater.compress(&headers(pairs));
        self.send(Frame::SynStream {
            stream,
            associated: 0,
            priority: 0,
            fin: false,
            unidirectional: false,
            headers: block,
        })
        .await;
    }

    pub(crate) async fn data(&mut self, stream: u32, fin: bool, data: &[u8]) {
        let data = Bytes::copy_from_slice(data);
        self.send(Frame::Data { stream, fin, data }).await;
    }

    /// The next frame, or `None` at the end of the connection or after `wait`.
    pub(crate) async fn next_within(&mut self, wait: Duration) -> Option<Frame> {
        tokio::time::timeout(wait, async {
            loop {
                if let Some(frame) =
                    frame::decode(&mut self.buffer, frame::MAX_LENGTH).expect("valid frames")
                {
                    if self.greeting == 0 {
                        return Some(frame);
                    }
                    // The session's windows first: SETTINGS, then the session's WINDOW_UPDATE.
                    self.greeting -= 1;
                    assert!(
                        matches!(
                            frame,
                            Frame::Settings { .. } | Frame::WindowUpdate { stream: 0, .. }
                        ),
                        "{frame:?}"
                    );
                    continue;
                }
                if self.io.read_buf(&mut self.buffer).await.expect("read") == 0 {
                    return None;
                }
            }
        })
        .await
        .ok()
        .flatten()
    }

    pub(crate) async fn next(&mut self) -> Frame {
        self.next_within(SOON).await.expect("a frame")
    }

    /// DATA bytes that arrive on `stream` within `wait` (other frames are skipped), up to FIN.
    pub(crate) async fn receive(&mut self, stream: u32, wait: Duration) -> (Vec<u8>, bool) {
        let mut received = Vec::new();
        while let Some(frame) = self.next_within(wait).await {
            if let Frame::Data {
                stream: s,
                fin,
                data,
            } = frame
                && s == stream
            {
                received.extend_from_slice(&data);
                if fin {
                    return (received, true);
                }
            }
        }
        (received, false)
    }
}
