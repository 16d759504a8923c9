//! The client session against a scripted server on an in-memory pipe: what it announces,
//! the stream pair of a connection, closes and resets, the error stream's message, and flow
//! control both ways. The clock is paused where a test waits out the grace.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kubehop_spdy::frame::{self, Frame, rst, setting};
use kubehop_spdy::window::DEFAULT_WINDOW;
use kubehop_spdy::{Deflater, Headers, Inflater};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::session::{MAX_DATA_FRAME, SESSION_WINDOW, STREAM_WINDOW, UNPROVEN_GRACE};
use super::{Session, Transport};

const SOON: Duration = Duration::from_secs(5);

/// The server's end of the pipe.
struct Server {
    io: DuplexStream,
    buffer: BytesMut,
    inflater: Inflater,
    deflater: Deflater,
}

fn start() -> (Session, Server) {
    let (client, server) = tokio::io::duplex(4 << 20);
    let session = Session::start(Transport::Raw(client));
    let server = Server {
        io: server,
        buffer: BytesMut::new(),
        inflater: Inflater::new(),
        deflater: Deflater::new(),
    };
    (session, server)
}

impl Server {
    async fn next_within(&mut self, wait: Duration) -> Option<Frame> {
        tokio::time::timeout(wait, async {
            loop {
                if let Some(frame) =
                    frame::decode(&mut self.buffer, frame::MAX_LENGTH).expect("valid")
                {
                    return Some(frame);
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

    async fn next(&mut self) -> Frame {
        self.next_within(SOON).await.expect("a frame")
    }

    async fn send(&mut self, frame: Frame) {
        let mut wire = BytesMut::new();
        frame::encode(&frame, &mut wire);
        self.io.write_all(&wire).await.expect("write");
    }

    async fn reply(&mut self, stream: u32) {
        let headers = self.deflater.compress(&Headers::default());
        self.send(Frame::SynReply {
            stream,
            fin: false,
            headers,
        })
        .await;
    }

    /// The two SETTINGS/WINDOW_UPDATE frames a session starts with.
    async fn greeting(&mut self) -> (Frame, Frame) {
        (self.next().await, self.next().await)
    }

    /// DATA bytes on `stream` within `wait` (other frames are kept in `others`), up to FIN.
    async fn receive(
        &mut self,
        stream: u32,
        wait: Duration,
        others: &mut Vec<Frame>,
    ) -> (Vec<u8>, bool) {
        let mut received = Vec::new();
        while let Some(frame) = self.next_within(wait).await {
            match frame {
                Frame::Data {
                    stream: s,
                    fin,
                    data,
                } if s == stream => {
                    received.extend_from_slice(&data);
                    if fin {
                        return (received, true);
                    }
                }
                other => others.push(other),
            }
        }
        (received, false)
    }
}

#[tokio::test]
async fn a_session_announces_its_windows_and_a_connection_opens_a_stream_pair() {
    let (session, mut server) = start();
    let (settings, update) = server.greeting().await;
    let Frame::Settings { entries, .. } = settings else {
        panic!("SETTINGS first: {settings:?}");
    };
    assert_eq!(entries[0].id, setting::INITIAL_WINDOW_SIZE);
    assert_eq!(entries[0].value, STREAM_WINDOW);
    assert_eq!(
        update,
        Frame::WindowUpdate {
            stream: 0,
            delta: SESSION_WINDOW - DEFAULT_WINDOW
        }
    );

    let pair = session.open(8080).expect("a pair");
    let mut expected = Vec::new();
    for (stream, kind) in [(1, "error"), (3, "data")] {
        let Frame::SynStream {
            stream: s,
            headers,
            fin: false,
            ..
        } = server.next().await
        else {
            panic!("a SYN_STREAM");
        };
        assert_eq!(s, stream);
        let headers = server.inflater.decompress(&headers).expect("inflates");
        assert_eq!(headers.get("streamtype"), Some(kind));
        assert_eq!(headers.get("port"), Some("8080"));
        assert_eq!(headers.get("requestid"), Some("0"));
        expected.push(stream);
    }
    // The error stream is closed by this side at once.
    assert_eq!(
        server.next().await,
        Frame::Data {
            stream: 1,
            fin: true,
            data: Bytes::new()
        }
    );
    server.reply(1).await;
    server.reply(3).await;

    let mut stream = pair.stream;
    stream.write_all(b"ping").await.expect("write");
    stream.shutdown().await.expect("FIN");
    let mut others = Vec::new();
    assert_eq!(
        server.receive(3, SOON, &mut others).await,
        (b"ping".to_vec(), true)
    );
    server
        .send(Frame::Data {
            stream: 3,
            fin: true,
            data: Bytes::from_static(b"pong"),
        })
        .await;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    assert_eq!(answer, b"pong");
    server
        .send(Frame::Data {
            stream: 1,
            fin: true,
            data: Bytes::new(),
        })
        .await;
    assert!(pair.errors.await.is_err(), "no error message");
    drop(stream);
    // Both directions ended: nothing to reset. The next pair takes the next ids.
    let next = session.open(8080).expect("a pair");
    let Frame::SynStream { stream: 5, .. } = server.next().await else {
        panic!("the next pair's error stream");
    };
    drop(next);
}

#[tokio::test]
async fn the_error_streams_message_is_reported_and_a_reset_fails_the_stream() {
    let (session, mut server) = start();
    server.greeting().await;
    let pair = session.open(80).expect("a pair");
    server
        .send(Frame::Data {
            stream: 1,
            fin: false,
            data: Bytes::from_static(b"error forwarding "),
        })
        .await;
    server
        .send(Frame::Data {
            stream: 1,
            fin: true,
            data: Bytes::from_static(b"port 80"),
        })
        .await;
    assert_eq!(
        pair.errors.await.ok().as_deref(),
        Some("error forwarding port 80")
    );

    server
        .send(Frame::RstStream {
            stream: 3,
            status: rst::CANCEL,
        })
        .await;
    let mut stream = pair.stream;
    let mut buffer = [0u8; 16];
    let read = tokio::time::timeout(SOON, stream.read(&mut buffer))
        .await
        .expect("in time");
    assert_eq!(
        read.expect_err("reset").kind(),
        std::io::ErrorKind::ConnectionReset
    );
    // A stream the server reset is not reset again.
    drop(stream);
    let mut resets = Vec::new();
    // Dropping a pair the server did not finish resets both its streams.
    drop(session.open(80).expect("a pair"));
    while let Some(frame) = server.next_within(Duration::from_millis(200)).await {
        if let Frame::RstStream { stream, .. } = frame {
            resets.push(stream);
        }
    }
    assert_eq!(
        resets,
        vec![7, 5],
        "the second pair's data and error streams"
    );
}

#[tokio::test]
async fn what_the_reader_consumes_is_acknowledged_per_stream_and_session() {
    let (session, mut server) = start();
    server.greeting().await;
    let mut stream = session.open(80).expect("a pair").stream;
    let chunk = Bytes::from(vec![7u8; 64 * 1024]);
    let total = STREAM_WINDOW as usize;
    let mut sent = 0;
    while sent < total {
        server
            .send(Frame::Data {
                stream: 3,
                fin: false,
                data: chunk.clone(),
            })
            .await;
        sent += chunk.len();
    }
    let mut read = vec![0u8; total];
    stream.read_exact(&mut read).await.expect("read");
    let mut acknowledged = (0u64, 0u64);
    while let Some(frame) = server.next_within(Duration::from_millis(200)).await {
        match frame {
            Frame::WindowUpdate { stream: 3, delta } => acknowledged.0 += u64::from(delta),
            Frame::WindowUpdate { stream: 0, delta } => acknowledged.1 += u64::from(delta),
            _ => {}
        }
    }
    assert_eq!(acknowledged.0, total as u64, "the stream's window reopened");
    // The session's window is acknowledged at half its size, which 1 MiB is not.
    assert_eq!(acknowledged.1, 0);
}

#[tokio::test(start_paused = true)]
async fn the_servers_windows_hold_once_it_keeps_them_and_not_after_it_let_them_run_out() {
    let (session, mut server) = start();
    server.greeting().await;
    // A server that keeps windows: nothing beyond the stream's 64 KiB until it opens more.
    server
        .send(Frame::WindowUpdate {
            stream: 0,
            delta: 1 << 20,
        })
        .await;
    let mut stream = session.open(80).expect("a pair").stream;
    let payload = vec![1u8; 100_000];
    let writer = tokio::spawn(async move {
        stream.write_all(&payload).await.expect("write");
        stream
    });
    let mut others = Vec::new();
    let (first, _) = server.receive(3, Duration::from_secs(2), &mut others).await;
    assert_eq!(
        first.len(),
        DEFAULT_WINDOW as usize,
        "the stream's window, no more"
    );
    server
        .send(Frame::WindowUpdate {
            stream: 3,
            delta: 1 << 20,
        })
        .await;
    let (rest, _) = server.receive(3, Duration::from_secs(2), &mut others).await;
    assert_eq!(first.len() + rest.len(), 100_000);
    let _stream = writer.await.expect("written");

    // A server that never says: after the grace its windows are not counted.
    let (session, mut server) = start();
    server.greeting().await;
    let mut stream = session.open(80).expect("a pair").stream;
    let payload = vec![2u8; 3 * MAX_DATA_FRAME];
    let writer = tokio::spawn(async move {
        stream.write_all(&payload).await.expect("write");
        stream
    });
    let (all, _) = server.receive(3, UNPROVEN_GRACE * 4, &mut others).await;
    assert_eq!(all.len(), 3 * MAX_DATA_FRAME);
    let _stream = writer.await.expect("written");
}

#[tokio::test]
async fn a_closed_session_opens_no_pairs_and_its_streams_end() {
    let (session, mut server) = start();
    server.greeting().await;
    let mut stream = session.open(80).expect("a pair").stream;
    drop(server);
    tokio::time::timeout(SOON, session.ended())
        .await
        .expect("the session ends");
    assert!(!session.is_open());
    assert!(session.open(80).is_err());
    let mut buffer = [0u8; 4];
    assert!(
        stream.read(&mut buffer).await.is_err(),
        "the end of a session is no clean close"
    );
}
