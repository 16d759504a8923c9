//! Port-forward over SPDY/3.1 (plain or tunnelled in a WebSocket), as a kubelet serves it.
//!
//! For each local connection the client opens two streams with the same headers `port` and
//! `requestid`: `streamtype: error` (the client closes its side at once; the server writes a
//! message there if forwarding fails, then closes) and `streamtype: data` (the bytes). Each
//! stream is answered with an empty SYN_REPLY; once both of a request are open the data
//! stream is bridged by TCP to the pod's port. Closes travel both ways: the client's FIN
//! half-closes the pod connection, the pod's close is a FIN on the data stream; the pair
//! ends when both directions did (or the client resets the data stream), and then the
//! error stream is closed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Target;
use crate::api::spdy::{Received, Session, Stream, StreamReader, StreamWriter, Transport, rst};

const STREAM_TYPE: &str = "streamtype";
const PORT: &str = "port";
const REQUEST_ID: &str = "requestid";
/// How long the first stream of a request waits for the other (the kubelet's stream
/// creation timeout); then the request fails on its error stream.
const PAIR_TIMEOUT: Duration = Duration::from_secs(30);
/// What one read from the pod takes at most (one DATA frame).
const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Error,
    Data,
}

/// The streams of one request that have arrived.
struct Pending {
    error: Option<Stream>,
    data: Option<Stream>,
    since: Instant,
}

/// Serves the session until the client ends it or the sandbox stops.
pub(super) async fn serve<Io>(transport: Transport<Io>, target: Target, cancel: CancellationToken)
where
    Io: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let target = Arc::new(target);
    let mut session = Session::start(transport);
    let mut pending: HashMap<String, Pending> = HashMap::new();
    let mut forwards = JoinSet::new();
    loop {
        let oldest = pending.values().map(|p| p.since).min();
        let expiry = async {
            match oldest {
                Some(since) => tokio::time::sleep_until(since + PAIR_TIMEOUT).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            stream = session.accept() => match stream {
                Some(stream) => {
                    if let Some((error, data)) = arrived(stream, &mut pending) {
                        forwards.spawn(forward(error, data, target.clone()));
                    }
                }
                None => break,
            },
            () = expiry => expire(&mut pending, &mut forwards),
            Some(_) = forwards.join_next(), if !forwards.is_empty() => {}
            () = cancel.cancelled() => {
                session.go_away();
                break;
            }
        }
    }
    // The session is over: what is still being forwarded has no one to go to.
    forwards.abort_all();
}

/// The request a stream belongs to: its `requestid`, or for clients older than that header
/// the kubelet's guess (a request's error and data streams have consecutive odd ids).
fn request_id(stream: &Stream, kind: Kind) -> String {
    match stream.header(REQUEST_ID) {
        Some(id) => id.to_string(),
        None => match kind {
            Kind::Error => stream.id().to_string(),
            Kind::Data => stream.id().saturating_sub(2).to_string(),
        },
    }
}

/// Takes a new stream: refuses a malformed one, answers the others, and returns a request's
/// streams once both are there.
fn arrived(stream: Stream, pending: &mut HashMap<String, Pending>) -> Option<(Stream, Stream)> {
    let kind = match stream.header(STREAM_TYPE) {
        Some("error") => Kind::Error,
        Some("data") => Kind::Data,
        other => {
            tracing::debug!(
                "port-forward stream {}: invalid stream type {other:?}",
                stream.id()
            );
            stream.reset(rst::PROTOCOL_ERROR);
            return None;
        }
    };
    if stream
        .header(PORT)
        .and_then(|p| p.parse::<u16>().ok())
        .is_none()
    {
        tracing::debug!("port-forward stream {}: no valid port header", stream.id());
        stream.reset(rst::PROTOCOL_ERROR);
        return None;
    }
    let request = request_id(&stream, kind);
    let entry = pending.entry(request.clone()).or_insert_with(|| Pending {
        error: None,
        data: None,
        since: Instant::now(),
    });
    let slot = match kind {
        Kind::Error => &mut entry.error,
        Kind::Data => &mut entry.data,
    };
    if slot.is_some() {
        tracing::debug!("port-forward request {request}: a second {kind:?} stream");
        stream.reset(rst::PROTOCOL_ERROR);
        return None;
    }
    stream.reply();
    *slot = Some(stream);
    if entry.error.is_some() && entry.data.is_some() {
        let entry = pending.remove(&request)?;
        return entry.error.zip(entry.data);
    }
    None
}

/// Fails the requests whose second stream did not come in time.
fn expire(pending: &mut HashMap<String, Pending>, forwards: &mut JoinSet<()>) {
    let now = Instant::now();
    pending.retain(|request, entry| {
        if now < entry.since + PAIR_TIMEOUT {
            return true;
        }
        if let Some(data) = entry.data.take() {
            data.reset(rst::CANCEL);
        }
        if let Some(error) = entry.error.take() {
            let message = format!("request {request}: timed out waiting for streams");
            forwards.spawn(fail(error, message));
        }
        false
    });
}

/// Writes `message` on the error stream and closes it.
async fn fail(error: Stream, message: String) {
    let (_, mut writer) = error.into_split();
    if writer.write(Bytes::from(message)).await.is_ok() {
        // A client gone by now has no one to tell.
        let _closed = writer.finish().await;
    }
}

/// One request: the data stream bridged to the pod's port, then the error stream closed.
async fn forward(error: Stream, data: Stream, target: Arc<Target>) {
    let port = data
        .header(PORT)
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_default();
    let pod = match target.connect(port).await {
        Ok(pod) => pod,
        Err(message) => {
            // The kubelet closes the data stream and reports on the error stream.
            let (_, mut to_client) = data.into_split();
            let _closed = to_client.finish().await;
            fail(error, message).await;
            return;
        }
    };
    // The client sends nothing on the error stream.
    let (_, mut error_writer) = error.into_split();
    let (from_client, to_client) = data.into_split();
    // A reset after the client's FIN ends the request too (kubectl resets the data stream
    // once the pod's side ended).
    let reset = from_client.reset_signal();
    let (pod_read, pod_write) = pod.into_split();
    let upstream = client_to_pod(from_client, pod_write);
    let downstream = pod_to_client(pod_read, to_client);
    tokio::pin!(upstream, downstream, reset);
    let (mut up, mut down) = (false, false);
    while !(up && down) {
        tokio::select! {
            ended = &mut upstream, if !up => {
                if ended == Received::Reset {
                    break;
                }
                up = true;
            }
            () = &mut downstream, if !down => down = true,
            () = &mut reset => break,
        }
    }
    let _closed = error_writer.finish().await;
}

/// The client's bytes to the pod, until the client's FIN (which half-closes the pod
/// connection) or reset. Bytes the pod no longer takes are read and dropped, so the session
/// keeps reading.
async fn client_to_pod(mut from_client: StreamReader, pod: OwnedWriteHalf) -> Received {
    let mut pod = Some(pod);
    loop {
        match from_client.recv().await {
            Received::Data(data) => {
                if let Some(writer) = &mut pod
                    && writer.write_all(&data).await.is_err()
                {
                    pod = None;
                }
            }
            Received::Fin => {
                if let Some(mut writer) = pod {
                    let _shut = writer.shutdown().await;
                }
                return Received::Fin;
            }
            Received::Reset => return Received::Reset,
        }
    }
}

/// The pod's bytes to the client, then FIN once the pod closed its side.
async fn pod_to_client(mut pod: OwnedReadHalf, mut to_client: StreamWriter) {
    let mut buffer = BytesMut::new();
    loop {
        buffer.reserve(READ_CHUNK);
        match pod.read_buf(&mut (&mut buffer).limit(READ_CHUNK)).await {
            Ok(0) | Err(_) => {
                let _closed = to_client.finish().await;
                return;
            }
            Ok(_) => {
                if to_client.write(buffer.split().freeze()).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use tokio::net::TcpListener;

    use super::*;
    use crate::api::spdy::frame::Frame;
    use crate::api::spdy::testing::{Peer, SOON};

    const LOOPBACK: &str = "127.0.0.1";

    /// The session's client, serving a pod on 127.0.0.1 (or failing with `fault`).
    fn start(fault: Option<&str>) -> Peer {
        let (server, client) = tokio::io::duplex(1 << 20);
        let target = Target {
            pod: "web".into(),
            ip: LOOPBACK.parse::<IpAddr>().ok(),
            store: crate::store::Store::default(),
            error_message: fault.map(str::to_string),
        };
        tokio::spawn(serve(
            Transport::Raw(server),
            target,
            CancellationToken::new(),
        ));
        Peer::new(client)
    }

    /// A pod port that echoes until the client's FIN and then closes (`close: true`) or
    /// stays open without a word.
    async fn pod_port(close: bool) -> u16 {
        let listener = TcpListener::bind((LOOPBACK, 0)).await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((mut connection, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = connection.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                    if !close {
                        std::future::pending::<()>().await;
                    }
                });
            }
        });
        port
    }

    async fn open_pair(peer: &mut Peer, port: u16, request: &str, first_stream: u32) {
        let port = port.to_string();
        for (stream, kind) in [(first_stream, "error"), (first_stream + 2, "data")] {
            peer.open(
                stream,
                &[
                    ("streamtype", kind),
                    ("port", &port),
                    ("requestid", request),
                ],
            )
            .await;
        }
        // kubectl closes its side of the error stream at once.
        peer.data(first_stream, true, b"").await;
    }

    /// Frames until `done` says the ones so far are enough.
    async fn frames_until(peer: &mut Peer, done: impl Fn(&[Frame]) -> bool) -> Vec<Frame> {
        let mut frames = Vec::new();
        while !done(&frames) {
            frames.push(peer.next().await);
        }
        frames
    }

    fn fin_on(stream: u32) -> impl Fn(&[Frame]) -> bool {
        move |frames| {
            frames
                .iter()
                .any(|f| matches!(f, Frame::Data { stream: s, fin: true, .. } if *s == stream))
        }
    }

    fn data_on(frames: &[Frame], stream: u32) -> Vec<u8> {
        frames
            .iter()
            .filter_map(|f| match f {
                Frame::Data {
                    stream: s, data, ..
                } if *s == stream => Some(data.to_vec()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    #[tokio::test]
    async fn a_request_is_answered_and_its_data_stream_bridged_to_the_pod() {
        let port = pod_port(true).await;
        let mut peer = start(None);
        open_pair(&mut peer, port, "0", 1).await;
        peer.data(3, false, b"\x00hello").await;
        peer.data(3, true, b" pod").await;
        // The echo, the pod's close as FIN, then the error stream closes, empty.
        let frames = frames_until(&mut peer, fin_on(1)).await;
        for stream in [1, 3] {
            assert!(
                frames
                    .iter()
                    .any(|f| matches!(f, Frame::SynReply { stream: s, .. } if *s == stream)),
                "{frames:?}"
            );
        }
        assert_eq!(data_on(&frames, 3), b"\x00hello pod");
        assert!(fin_on(3)(&frames), "{frames:?}");
        assert_eq!(data_on(&frames, 1), b"");
    }

    #[tokio::test]
    async fn a_port_that_refuses_is_reported_on_the_error_stream() {
        let closed = TcpListener::bind((LOOPBACK, 0)).await.expect("bind");
        let port = closed.local_addr().expect("addr").port();
        drop(closed);
        let mut peer = start(None);
        open_pair(&mut peer, port, "0", 1).await;
        let frames = frames_until(&mut peer, fin_on(1)).await;
        let message = String::from_utf8(data_on(&frames, 1)).expect("UTF-8");
        assert!(
            message.starts_with(&format!("error forwarding port {port} to pod web")),
            "{message}"
        );
        assert!(
            fin_on(3)(&frames),
            "the data stream is closed too: {frames:?}"
        );

        let mut peer = start(Some("injected failure"));
        open_pair(&mut peer, port, "7", 1).await;
        let frames = frames_until(&mut peer, fin_on(1)).await;
        assert_eq!(data_on(&frames, 1), b"injected failure");
    }

    #[tokio::test]
    async fn malformed_streams_are_reset() {
        let mut peer = start(None);
        peer.open(1, &[("port", "80")]).await;
        peer.open(3, &[("streamtype", "data"), ("port", "http")])
            .await;
        peer.open(5, &[("streamtype", "stdin"), ("port", "80")])
            .await;
        for stream in [1, 3, 5] {
            assert_eq!(
                peer.next().await,
                Frame::RstStream {
                    stream,
                    status: rst::PROTOCOL_ERROR
                }
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_whose_partner_never_comes_times_out() {
        let mut peer = start(None);
        peer.open(
            1,
            &[("streamtype", "error"), ("port", "80"), ("requestid", "5")],
        )
        .await;
        // The clock is paused: waiting out the timeout costs nothing.
        let mut frames = Vec::new();
        while !fin_on(1)(&frames) {
            let frame = peer.next_within(PAIR_TIMEOUT * 2).await;
            frames.push(frame.expect("a frame within the timeout"));
        }
        assert_eq!(
            data_on(&frames, 1),
            b"request 5: timed out waiting for streams"
        );
    }

    #[tokio::test]
    async fn a_reset_after_the_clients_fin_ends_the_request() {
        // The pod reads to the end but never answers nor closes.
        let port = pod_port(false).await;
        let mut peer = start(None);
        open_pair(&mut peer, port, "0", 1).await;
        peer.data(3, true, b"").await;
        let frames = frames_until(&mut peer, |f| f.len() >= 2).await;
        assert!(!fin_on(1)(&frames), "{frames:?}");
        peer.send(Frame::RstStream {
            stream: 3,
            status: rst::CANCEL,
        })
        .await;
        let frames = tokio::time::timeout(SOON, frames_until(&mut peer, fin_on(1)))
            .await
            .expect("the error stream closes");
        assert_eq!(data_on(&frames, 1), b"");
    }
}
