//! The session against a scripted peer on an in-memory pipe (raw, or in WebSocket messages):
//! streams, closes, resets, pings, refusals and flow control. The clock is paused where a
//! test shows something does *not* happen: waiting then costs no time.

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::frame::{self, Frame, Setting, goaway, rst, setting};
use super::headers::{Deflater, Headers};
use super::session::{INITIAL_WINDOW, RECEIVE_WINDOW, UNPROVEN_GRACE};
use super::testing::{SOON, headers, session};
use super::{Received, Session, Stream, Transport};

async fn accept(session: &mut Session) -> Stream {
    tokio::time::timeout(SOON, session.accept())
        .await
        .expect("in time")
        .expect("a stream")
}

#[tokio::test]
async fn a_stream_is_answered_and_carries_bytes_and_closes_both_ways() {
    let (mut session, mut peer) = session();
    peer.open(
        1,
        &[("streamtype", "data"), ("port", "80"), ("requestid", "0")],
    )
    .await;
    let stream = accept(&mut session).await;
    assert_eq!(stream.id(), 1);
    assert_eq!(stream.header("port"), Some("80"));
    assert_eq!(stream.header("StreamType"), Some("data"));
    stream.reply();
    let Frame::SynReply {
        stream: 1,
        fin: false,
        headers,
    } = peer.next().await
    else {
        panic!("a SYN_REPLY");
    };
    assert_eq!(peer.inflater.decompress(&headers), Ok(Headers::default()));

    let (mut reader, mut writer) = stream.into_split();
    peer.data(1, false, b"ping").await;
    peer.data(1, true, b"!").await;
    assert_eq!(
        reader.recv().await,
        Received::Data(Bytes::from_static(b"ping"))
    );
    assert_eq!(
        reader.recv().await,
        Received::Data(Bytes::from_static(b"!"))
    );
    assert_eq!(reader.recv().await, Received::Fin);

    writer
        .write(Bytes::from_static(b"pong"))
        .await
        .expect("write");
    writer.finish().await.expect("FIN");
    assert_eq!(peer.receive(1, SOON).await, (b"pong".to_vec(), true));
}

#[tokio::test]
async fn pings_are_answered_and_a_reset_ends_both_halves() {
    let (mut session, mut peer) = session();
    peer.send(Frame::Ping { id: 7 }).await;
    assert_eq!(peer.next().await, Frame::Ping { id: 7 });
    peer.open(3, &[("streamtype", "error")]).await;
    let stream = accept(&mut session).await;
    stream.reply();
    let (mut reader, mut writer) = stream.into_split();
    peer.send(Frame::RstStream {
        stream: 3,
        status: rst::CANCEL,
    })
    .await;
    assert_eq!(reader.recv().await, Received::Reset);
    assert!(writer.write(Bytes::from_static(b"late")).await.is_err());
}

#[tokio::test]
async fn streams_that_may_not_open_are_refused() {
    let (mut session, mut peer) = session();
    // Even ids are the server's.
    peer.open(2, &[("streamtype", "data")]).await;
    assert_eq!(
        peer.next().await,
        Frame::RstStream {
            stream: 2,
            status: rst::PROTOCOL_ERROR
        }
    );
    // Data for a stream never opened.
    peer.data(99, false, b"x").await;
    assert_eq!(
        peer.next().await,
        Frame::RstStream {
            stream: 99,
            status: rst::INVALID_STREAM
        }
    );
    // A stream the owner drops is abandoned with a reset.
    peer.open(5, &[("streamtype", "data")]).await;
    drop(accept(&mut session).await);
    assert_eq!(
        peer.next().await,
        Frame::RstStream {
            stream: 5,
            status: rst::CANCEL
        }
    );
}

#[tokio::test]
async fn go_away_ends_the_session() {
    let (mut session, mut peer) = session();
    peer.open(1, &[]).await;
    let _stream = accept(&mut session).await;
    session.go_away();
    assert_eq!(
        peer.next().await,
        Frame::GoAway {
            last_good: 1,
            status: goaway::OK
        }
    );
    assert_eq!(
        peer.next_within(SOON).await,
        None,
        "then the connection ends"
    );
    assert!(session.accept().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_counted_window_holds_data_until_the_peer_opens_it() {
    let (mut session, mut peer) = session();
    // SETTINGS: the peer counts windows, 1,000 bytes per stream.
    peer.send(Frame::Settings {
        clear: false,
        entries: vec![Setting {
            flags: 0,
            id: setting::INITIAL_WINDOW_SIZE,
            value: 1000,
        }],
    })
    .await;
    peer.open(1, &[]).await;
    let stream = accept(&mut session).await;
    stream.reply();
    let (_reader, mut writer) = stream.into_split();
    let sender = tokio::spawn(async move {
        writer
            .write(Bytes::from(vec![7u8; 3000]))
            .await
            .expect("write");
        writer.finish().await.expect("FIN");
    });
    // Far longer than the grace an unproven peer gets: the window holds.
    let (first, fin) = peer.receive(1, UNPROVEN_GRACE * 20).await;
    assert_eq!((first.len(), fin), (1000, false));
    peer.send(Frame::WindowUpdate {
        stream: 1,
        delta: 1500,
    })
    .await;
    let (second, fin) = peer.receive(1, UNPROVEN_GRACE * 20).await;
    assert_eq!((second.len(), fin), (1500, false));
    peer.send(Frame::WindowUpdate {
        stream: 1,
        delta: 500,
    })
    .await;
    let (last, fin) = peer.receive(1, SOON).await;
    assert_eq!((last.len(), fin), (500, true));
    sender.await.expect("the writer finished");
}

#[tokio::test(start_paused = true)]
async fn the_session_window_holds_every_stream() {
    let (mut session, mut peer) = session();
    // Streams may take 1 MiB, the session its initial 64 KiB.
    peer.send(Frame::Settings {
        clear: false,
        entries: vec![Setting {
            flags: 0,
            id: setting::INITIAL_WINDOW_SIZE,
            value: 1 << 20,
        }],
    })
    .await;
    peer.open(1, &[]).await;
    let stream = accept(&mut session).await;
    let (_reader, mut writer) = stream.into_split();
    let total = 100_000;
    tokio::spawn(async move {
        writer
            .write(Bytes::from(vec![1u8; total]))
            .await
            .expect("write");
        writer.finish().await.expect("FIN");
    });
    let (first, _) = peer.receive(1, UNPROVEN_GRACE * 20).await;
    assert_eq!(first.len(), INITIAL_WINDOW as usize);
    peer.send(Frame::WindowUpdate {
        stream: 0,
        delta: INITIAL_WINDOW,
    })
    .await;
    let (rest, fin) = peer.receive(1, SOON).await;
    assert_eq!((rest.len(), fin), (total - INITIAL_WINDOW as usize, true));
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_never_counts_windows_gets_everything_after_the_grace() {
    // Like kubectl: no SETTINGS, no WINDOW_UPDATE.
    let (mut session, mut peer) = session();
    peer.open(1, &[]).await;
    let stream = accept(&mut session).await;
    let (_reader, mut writer) = stream.into_split();
    let total = 300_000;
    tokio::spawn(async move {
        writer
            .write(Bytes::from(vec![2u8; total]))
            .await
            .expect("write");
        writer.finish().await.expect("FIN");
    });
    let started = tokio::time::Instant::now();
    let (all, fin) = peer.receive(1, SOON).await;
    assert_eq!((all.len(), fin), (total, true));
    // One wait for the grace, then no more.
    let waited = started.elapsed();
    assert!(
        waited >= UNPROVEN_GRACE && waited < UNPROVEN_GRACE * 2,
        "{waited:?}"
    );
}

#[tokio::test]
async fn what_a_reader_consumes_is_acknowledged() {
    let (mut session, mut peer) = session();
    peer.open(1, &[]).await;
    let stream = accept(&mut session).await;
    let (mut reader, _writer) = stream.into_split();
    let chunk = vec![3u8; 64 * 1024];
    let half = RECEIVE_WINDOW as usize / 2;
    for _ in 0..half / chunk.len() {
        peer.data(1, false, &chunk).await;
    }
    let mut read = 0;
    while read < half {
        match reader.recv().await {
            Received::Data(data) => read += data.len(),
            other => panic!("{other:?}"),
        }
    }
    // Half a window consumed: both the stream's and the session's windows are reopened.
    let mut updates = Vec::new();
    while updates.len() < 2 {
        if let Frame::WindowUpdate { stream, delta } = peer.next().await {
            updates.push((stream, delta));
        }
    }
    updates.sort();
    assert_eq!(updates, [(0, RECEIVE_WINDOW / 2), (1, RECEIVE_WINDOW / 2)]);
}

#[tokio::test]
async fn a_websocket_tunnel_carries_the_byte_stream_across_message_boundaries() {
    let (server, client) = tokio::io::duplex(1 << 20);
    let server = WebSocketStream::from_raw_socket(server, Role::Server, None).await;
    let mut session = Session::start(Transport::WebSocket(Box::new(server)));
    let mut client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
    let mut deflater = Deflater::new();
    let mut wire = BytesMut::new();
    frame::encode(
        &Frame::SynStream {
            stream: 1,
            associated: 0,
            priority: 0,
            fin: false,
            unidirectional: false,
            headers: deflater.compress(&headers(&[("streamtype", "data")])),
        },
        &mut wire,
    );
    frame::encode(
        &Frame::Data {
            stream: 1,
            fin: true,
            data: Bytes::from_static(b"tunnelled"),
        },
        &mut wire,
    );
    // Two frames in three messages, split mid-header and mid-payload.
    let wire = wire.freeze();
    for (from, to) in [(0, 5), (5, wire.len() - 4), (wire.len() - 4, wire.len())] {
        client
            .send(Message::Binary(wire.slice(from..to)))
            .await
            .expect("send");
    }
    let stream = accept(&mut session).await;
    assert_eq!(stream.header("streamtype"), Some("data"));
    stream.reply();
    let (mut reader, mut writer) = stream.into_split();
    assert_eq!(
        reader.recv().await,
        Received::Data(Bytes::from_static(b"tunnelled"))
    );
    assert_eq!(reader.recv().await, Received::Fin);
    writer.finish().await.expect("FIN");
    let mut received = BytesMut::new();
    let mut frames = Vec::new();
    // After the session's windows (SETTINGS, the session's WINDOW_UPDATE).
    while frames.len() < 4 {
        match tokio::time::timeout(SOON, client.next())
            .await
            .expect("in time")
        {
            Some(Ok(Message::Binary(bytes))) => received.extend_from_slice(&bytes),
            other => panic!("{other:?}"),
        }
        while let Some(frame) = frame::decode(&mut received, frame::MAX_LENGTH).expect("valid") {
            frames.push(frame);
        }
    }
    assert!(matches!(frames[0], Frame::Settings { .. }), "{frames:?}");
    assert!(matches!(frames[2], Frame::SynReply { stream: 1, .. }));
    assert_eq!(
        frames[3],
        Frame::Data {
            stream: 1,
            fin: true,
            data: Bytes::new()
        }
    );
}

#[tokio::test]
async fn garbage_ends_the_session_with_a_protocol_error() {
    let (mut session, mut peer) = session();
    // A SYN_STREAM whose header block is not zlib: the compression state is lost.
    peer.send(Frame::SynStream {
        stream: 1,
        associated: 0,
        priority: 0,
        fin: false,
        unidirectional: false,
        headers: Bytes::from_static(b"not a zlib stream"),
    })
    .await;
    assert_eq!(
        peer.next().await,
        Frame::GoAway {
            last_good: 0,
            status: goaway::PROTOCOL_ERROR
        }
    );
    assert_eq!(peer.next_within(SOON).await, None);
    assert!(session.accept().await.is_none());

    // A frame of another SPDY version.
    let (mut session, mut peer) = super::testing::session();
    peer.send_raw(b"\x80\x02\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01")
        .await;
    assert!(matches!(
        peer.next().await,
        Frame::GoAway {
            status: goaway::PROTOCOL_ERROR,
            ..
        }
    ));
    assert!(session.accept().await.is_none());
}
