//! Closes travel through a port-forward both ways, as through a kubelet: a pod that answers
//! and hangs up ends the client's stream at once; a client that sends its request and closes
//! its sending side still gets the whole answer. Through kube-rs's `Api::portforward` against
//! the sandbox, and through the `kubehop forward` binary. Loopback only.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::support::bin::kubehop_isolated;
use crate::support::fixtures::manifest::{Edit, node, pod, service};
use crate::support::sandbox::start_with;
use crate::support::wait::{within, within_for};

/// What the test's pod answers a `GET`: it then closes at once (`Connection: close`).
const GREETING: &[u8] = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbye";
/// How long a client may wait for the pod's close to reach it.
const CLOSE_SEEN: Duration = Duration::from_secs(1);
/// How long the pod takes to answer an upload (more than kubehop forward's
/// `HALF_CLOSE_LINGER`).
const THINKING: Duration = Duration::from_millis(400);
/// An upload's answer: more than a frame and a socket buffer hold.
const ANSWER_BYTES: usize = 512 * 1024;

/// The pod's "container" on `ip`: a `GET` is answered with [`GREETING`] and the connection
/// closed; anything else is read to its end (the client's half-close), then answered with
/// [`ANSWER_BYTES`] bytes that start with the upload's length, and closed. The receiver
/// gets the length of every upload read to its end.
async fn backend(ip: &str) -> (u16, mpsc::UnboundedReceiver<usize>) {
    let listener = TcpListener::bind((ip, 0)).await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (uploads, uploaded) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((connection, _)) = listener.accept().await {
            tokio::spawn(serve(connection, uploads.clone()));
        }
    });
    (port, uploaded)
}

async fn serve(mut connection: TcpStream, uploads: mpsc::UnboundedSender<usize>) {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Ok(count) = connection.read(&mut chunk).await else {
            return;
        };
        received.extend_from_slice(&chunk[..count]);
        if received.starts_with(b"GET ") && received.windows(4).any(|w| w == b"\r\n\r\n") {
            let _ = connection.write_all(GREETING).await;
            return;
        }
        if count == 0 {
            let _ = uploads.send(received.len());
            // A server that thinks before it answers: longer than a forward lingers for a
            // quiet pod where it cannot half-close.
            tokio::time::sleep(THINKING).await;
            let _ = connection.write_all(&answer(received.len())).await;
            return;
        }
    }
}

/// The answer to an upload of `length` bytes.
fn answer(length: usize) -> Vec<u8> {
    let mut answer = format!("{length}\n").into_bytes();
    answer.extend((answer.len()..ANSWER_BYTES).map(|i| (i % 251) as u8));
    answer
}

/// A pod `closer` on `ip` whose container port `http` is `port`, its node, its Service
/// `closer` (port 80 → `http`) and the Service's EndpointSlice.
fn world(ip: &str, port: u16) -> Vec<Value> {
    let mut closer = pod("closer", ip, "node-a").labels(json!({"app": "closer"}));
    closer["spec"]["containers"][0]["ports"] = json!([{"name": "http", "containerPort": port}]);
    vec![
        node("node-a", "zone-1").registered("127.0.10.1"),
        closer,
        service("default", "closer", 80),
        json!({
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": "closer-1", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "closer"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "nodeName": "node-a",
                           "targetRef": {"kind": "Pod", "name": "closer", "namespace": "default"},
                           "conditions": {"ready": true, "serving": true, "terminating": false}}]
        }),
    ]
}

/// Sends a `GET` and reads until the end of the stream, which must come within
/// [`CLOSE_SEEN`] of the answer.
async fn get_until_closed(mut stream: impl AsyncRead + AsyncWrite + Unpin) {
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: closer\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut received = Vec::new();
    let mut chunk = [0u8; 1024];
    while !received.ends_with(b"bye") {
        let count = within("the answer", stream.read(&mut chunk))
            .await
            .expect("read");
        assert_ne!(
            count, 0,
            "the answer came whole before the end: {received:?}"
        );
        received.extend_from_slice(&chunk[..count]);
    }
    assert_eq!(received, GREETING);
    let end = within_for(CLOSE_SEEN, "the pod's close", stream.read(&mut chunk))
        .await
        .expect("read");
    assert_eq!(end, 0, "nothing after the answer but its end");
}

/// Uploads 100 000 bytes, closes the sending side, and reads the whole answer to its end.
async fn upload_and_half_close(stream: impl AsyncRead + AsyncWrite + Unpin) -> Vec<u8> {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let upload = vec![b'u'; 100_000];
    let writing = async {
        writer.write_all(&upload).await.expect("upload");
        writer.shutdown().await.expect("half-close");
    };
    let mut received = Vec::new();
    let reading = reader.read_to_end(&mut received);
    let ((), read) = within("the answer after the half-close", async {
        tokio::join!(writing, reading)
    })
    .await;
    read.expect("read");
    received
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_sees_the_pods_close_and_its_half_close_reaches_the_pod() {
    let ip = "127.0.66.1";
    let (port, mut uploaded) = backend(ip).await;
    let (sandbox, client) =
        start_with(kubehop::sandbox::Sandbox::builder().objects(world(ip, port))).await;
    let pods: Api<Pod> = Api::namespaced(client, "default");

    // The pod answers and closes: kube-rs's stream ends.
    let mut forwarder = pods.portforward("closer", &[port]).await.expect("upgrade");
    let stream = forwarder.take_stream(port).expect("stream");
    get_until_closed(stream).await;
    // kube-rs answers the server's Close with a Close of its own once the stream is dropped,
    // which tungstenite refuses: its task ends with that error, after the stream ended right.
    let ended = within("the forwarder to finish", forwarder.join()).await;
    assert!(
        ended.as_ref().map_or_else(
            |error| format!("{error:?}").contains("SendAfterClosing"),
            |()| true
        ),
        "{ended:?}"
    );

    // kube-rs has no half-close: closing its sending side ends its whole stream (the pod's
    // answer after that is dropped on the client side). What the sandbox owes it: the pod
    // sees the end of the upload, and the forward ends cleanly.
    let mut forwarder = pods.portforward("closer", &[port]).await.expect("upgrade");
    let stream = forwarder.take_stream(port).expect("stream");
    let received = upload_and_half_close(stream).await;
    assert!(
        received.is_empty() || received.starts_with(b"100000\n"),
        "only the pod's answer to the whole upload: {:?}",
        String::from_utf8_lossy(&received[..received.len().min(16)])
    );
    assert_eq!(
        within("the pod to see the upload end", uploaded.recv()).await,
        Some(100_000)
    );
    within("the forwarder to finish", forwarder.join())
        .await
        .expect("a clean end");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubehops_port_forward_carries_both_closes() {
    let ip = "127.0.66.2";
    let (port, mut uploaded) = backend(ip).await;
    let (sandbox, client) =
        start_with(kubehop::sandbox::Sandbox::builder().objects(world(ip, port))).await;

    let forward = kubehop::probe::portforward::open(&client, "default", "closer", port)
        .await
        .expect("upgrade");
    assert!(forward.half_close, "the sandbox speaks v5");
    get_until_closed(forward.stream).await;
    within("the forward task", forward.task)
        .await
        .expect("joined")
        .expect("a clean end");

    let forward = kubehop::probe::portforward::open(&client, "default", "closer", port)
        .await
        .expect("upgrade");
    let received = upload_and_half_close(forward.stream).await;
    assert!(
        received == answer(100_000),
        "the whole answer, byte for byte"
    );
    assert_eq!(uploaded.recv().await, Some(100_000));
    sandbox.shutdown().await;
}

/// The `kubehop forward` binary; killed when dropped.
struct Forwarding {
    child: Child,
    local: SocketAddr,
}

impl Drop for Forwarding {
    fn drop(&mut self) {
        // The process this test started, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `kubehop forward closer 0:80` and reads where it listens.
async fn forward_binary(kubeconfig: String) -> Forwarding {
    let args = ["forward", "closer", "0:80", "-n", "default", "--kubeconfig"]
        .map(str::to_owned)
        .into_iter()
        .chain([kubeconfig])
        .collect::<Vec<_>>();
    let mut child = kubehop_isolated(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubehop starts");
    let stdout = child.stdout.take().expect("stdout");
    let first = within(
        "the Forwarding line",
        tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        }),
    )
    .await
    .expect("the reading thread")
    .expect("a line on stdout");
    let local = first
        .strip_prefix("Forwarding from ")
        .and_then(|rest| rest.split_once(" -> "))
        .and_then(|(from, _)| from.parse::<SocketAddr>().ok())
        .unwrap_or_else(|| panic!("kubectl's line: {first:?}"));
    assert!(local.ip().is_loopback(), "loopback: {local}");
    Forwarding { child, local }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubehop_forward_passes_the_pods_close_and_the_clients_half_close() {
    let ip = "127.0.66.3";
    let (port, mut uploaded) = backend(ip).await;
    let (sandbox, _client) =
        start_with(kubehop::sandbox::Sandbox::builder().objects(world(ip, port))).await;
    let forwarding = forward_binary(sandbox.kubeconfig_path().display().to_string()).await;

    for _ in 0..3 {
        let stream = within("a connection", TcpStream::connect(forwarding.local))
            .await
            .expect("connect");
        get_until_closed(stream).await;
    }
    for _ in 0..3 {
        let stream = within("a connection", TcpStream::connect(forwarding.local))
            .await
            .expect("connect");
        let received = upload_and_half_close(stream).await;
        assert!(
            received == answer(100_000),
            "the whole answer, byte for byte"
        );
        assert_eq!(uploaded.recv().await, Some(100_000));
    }
    drop(forwarding);
    sandbox.shutdown().await;
}

/// The other way a forwarded connection ends: the pod is still up, but no longer an endpoint
/// (the feed says it is gone before the pod closes anything). The forward closes the
/// connection itself, cleanly, and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_that_leaves_the_set_has_its_connections_closed_by_the_forward() {
    use crate::support::forward::{PORT, start_forward, web};
    use kubehop::forward::{ForwardOptions, Notice};

    let (sandbox, client) =
        crate::support::sandbox::start_cluster(web(1, json!({})), Duration::ZERO).await;
    let store = sandbox.store();
    let first = store
        .cluster_snapshot(store.resource_version())
        .expect("the store reads");
    let (feed, snapshots) = tokio::sync::watch::channel(std::sync::Arc::new(first.clone()));
    let mut forward = start_forward(
        "web",
        &format!("0:{PORT}"),
        snapshots,
        &client,
        ForwardOptions::default(),
    );
    let mut idle = within("a connection", TcpStream::connect(forward.local()))
        .await
        .expect("connect");
    idle.write_all(b"\x00ping").await.expect("write");
    let mut echo = [0u8; 5];
    within("the echo", idle.read_exact(&mut echo))
        .await
        .expect("echo");

    // The pod and its slices are gone from the feed; the sandbox's pod still runs.
    let mut gone = first;
    gone.pods = std::sync::Arc::default();
    gone.endpoint_slices.clear();
    feed.send_replace(std::sync::Arc::new(gone));
    let mut rest = Vec::new();
    let read = within("the connection to end", idle.read_to_end(&mut rest)).await;
    assert!(read.is_ok() && rest.is_empty(), "{read:?} {rest:?}");
    forward
        .notice("the closed connection to be logged", |notice| {
            matches!(notice, Notice::Closed { connections: 1, .. })
        })
        .await;
    forward.stop().await;
    sandbox.shutdown().await;
}
