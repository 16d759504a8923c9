//! kubehop's SPDY port-forward client against the sandbox: one session per pod carries many
//! connections, one after another and at once (tunnelled in a WebSocket and on plain SPDY),
//! bulk bytes both ways within the windows; a session that dies is replaced by the next
//! connection; a pod that is gone closes its session. The sandbox's request log counts the
//! `pods/portforward` requests, so "one session" is what the server saw. Loopback only.

use std::sync::{Arc, Mutex};

use kubehop::engine::plan::HopKind;
use kubehop::probe::dialer::{DialTarget, Dialer};
use kubehop::probe::spdy::{Session, SessionDialer, Upgrade, connect::connect};
use kubehop::sandbox::SandboxHandle;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::support::fixtures::manifest::{Edit, node, pod};
use crate::support::sandbox::start_with;
use crate::support::wait::within;

/// Connections one after another, and per parallel client.
const SEQUENTIAL: usize = 60;
const PARALLEL: usize = 8;
const EACH: usize = 15;
/// Bytes echoed through one stream: many times both sides' windows.
const BULK: usize = 8 << 20;

/// An echo "container" on `ip`: every connection gets back what it sent, then the end.
async fn echo(ip: &str) -> u16 {
    let listener = TcpListener::bind((ip, 0)).await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut connection, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut read, mut write) = connection.split();
                if tokio::io::copy(&mut read, &mut write).await.is_ok() {
                    let _ = write.shutdown().await;
                }
            });
        }
    });
    port
}

fn world(pods: &[(&str, &str, u16)]) -> Vec<Value> {
    let mut objects = vec![node("node-a", "zone-1").registered("127.0.10.1")];
    for (name, ip, port) in pods {
        let mut object = pod(name, ip, "node-a").labels(json!({"app": "echo"}));
        object["spec"]["containers"][0]["ports"] = json!([{"name": "http", "containerPort": port}]);
        objects.push(object);
    }
    objects
}

/// Sends `payload`, half-closes, and reads the echo to its end.
async fn round_trip(stream: impl AsyncRead + AsyncWrite + Unpin, payload: &[u8]) -> Vec<u8> {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let writing = async {
        writer.write_all(payload).await.expect("write");
        writer.shutdown().await.expect("half-close");
    };
    let mut received = Vec::new();
    let ((), read) = tokio::join!(writing, reader.read_to_end(&mut received));
    read.expect("read");
    received
}

fn portforward_requests(sandbox: &SandboxHandle) -> usize {
    sandbox
        .request_log()
        .entries()
        .iter()
        .filter(|record| record.subresource.as_deref() == Some("portforward"))
        .count()
}

async fn many_connections(session: &Session, port: u16) {
    for i in 0..SEQUENTIAL {
        let pair = session.open(port).expect("a stream pair");
        let payload = format!("hello {i}");
        let echoed = within("an echo", round_trip(pair.stream, payload.as_bytes())).await;
        assert_eq!(echoed, payload.as_bytes());
    }
    let clients = (0..PARALLEL).map(|client| {
        let session = session.clone();
        tokio::spawn(async move {
            for i in 0..EACH {
                let pair = session.open(port).expect("a stream pair");
                let payload = format!("client {client} #{i}").repeat(100);
                let echoed = round_trip(pair.stream, payload.as_bytes()).await;
                assert_eq!(echoed, payload.as_bytes());
            }
        })
    });
    for client in clients {
        within("a parallel client", client).await.expect("joined");
    }
    let pair = session.open(port).expect("a stream pair");
    let bulk: Vec<u8> = (0..BULK).map(|i| (i % 251) as u8).collect();
    let echoed = within("the bulk echo", round_trip(pair.stream, &bulk)).await;
    assert!(echoed == bulk, "{} of {BULK} bytes came back", echoed.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_session_carries_every_connection_tunnelled_or_plain() {
    let ip = "127.0.67.1";
    let port = echo(ip).await;
    let (sandbox, client) =
        start_with(kubehop::sandbox::Sandbox::builder().objects(world(&[("echo", ip, port)])))
            .await;
    for (sessions, upgrade) in [(1, Upgrade::Tunnel), (2, Upgrade::Spdy)] {
        let session = connect(&client, "default", "echo", upgrade)
            .await
            .expect("the upgrade");
        many_connections(&session, port).await;
        assert_eq!(portforward_requests(&sandbox), sessions, "{upgrade:?}");
        session.close();
        within("the session to end", session.ended()).await;
    }
    sandbox.shutdown().await;
}

/// Cuts every connection a [`relay`] carries so far (later ones are carried).
type Cutter = Arc<Mutex<CancellationToken>>;

fn cut_all(cutter: &Cutter) {
    let mut current = cutter.lock().expect("cutter");
    std::mem::take(&mut *current).cancel();
}

/// A TCP relay to the sandbox whose connections can all be cut at once.
async fn relay(to: std::net::SocketAddr, cutter: Cutter) -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let cut = cutter.lock().expect("cutter").clone();
            tokio::spawn(async move {
                let Ok(mut outbound) = TcpStream::connect(to).await else {
                    return;
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    () = cut.cancelled() => {}
                }
            });
        }
    });
    port
}

fn target(pod: &str, port: u16) -> DialTarget {
    DialTarget::Pod {
        namespace: "default".into(),
        pod: pod.into(),
        port,
    }
}

async fn dial_and_echo(dialer: &SessionDialer, pod: &str, port: u16, payload: &[u8]) {
    let dialed = within(
        "a dial",
        dialer.dial(
            &target(pod, port),
            HopKind::Endpoint,
            kubehop::forward::DIAL_TIMEOUT,
        ),
    )
    .await
    .expect("dialed");
    assert!(dialed.half_close, "a SPDY data stream half-closes");
    let echoed = within("an echo", round_trip(dialed.stream, payload)).await;
    assert_eq!(echoed, payload);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dialer_keeps_a_session_per_pod_and_replaces_one_that_died() {
    let (a, b) = ("127.0.67.2", "127.0.67.3");
    let (port_a, port_b) = (echo(a).await, echo(b).await);
    let (sandbox, _client) = start_with(
        kubehop::sandbox::Sandbox::builder()
            .objects(world(&[("echo-a", a, port_a), ("echo-b", b, port_b)])),
    )
    .await;
    let cutter = Cutter::default();
    let relayed = relay(sandbox.addr(), cutter.clone()).await;
    let mut config = sandbox.config().await.expect("config");
    config.cluster_url = format!("https://127.0.0.1:{relayed}").parse().expect("URL");
    let client = kubehop::cluster::connector::streaming_client(config).expect("client");
    let dialer = SessionDialer::following(tokio::sync::watch::channel(client).1);

    for i in 0..20 {
        dial_and_echo(&dialer, "echo-a", port_a, format!("a{i}").as_bytes()).await;
        dial_and_echo(&dialer, "echo-b", port_b, format!("b{i}").as_bytes()).await;
    }
    assert_eq!(portforward_requests(&sandbox), 2, "one session per pod");

    // Every connection to the API server is cut: an open stream ends, the next dial opens a
    // new session and works.
    let open = dialer
        .dial(
            &target("echo-a", port_a),
            HopKind::Endpoint,
            kubehop::forward::DIAL_TIMEOUT,
        )
        .await
        .expect("dialed");
    cut_all(&cutter);
    let mut stream = open.stream;
    let mut rest = Vec::new();
    let ended = within("the open stream to end", stream.read_to_end(&mut rest)).await;
    assert!(ended.is_err(), "the stream sees its session end: {ended:?}");
    dial_and_echo(&dialer, "echo-a", port_a, b"after the cut").await;
    assert_eq!(
        portforward_requests(&sandbox),
        3,
        "a new session for echo-a"
    );

    // A pod that is gone: its session closes; a later dial (were it listed again) opens anew.
    dialer.pod_gone("default", "echo-b");
    dial_and_echo(&dialer, "echo-b", port_b, b"again").await;
    assert_eq!(
        portforward_requests(&sandbox),
        4,
        "a new session for echo-b"
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_spdy_gets_one_websocket_per_connection() {
    let ip = "127.0.67.4";
    let port = echo(ip).await;
    let (sandbox, client) =
        start_with(kubehop::sandbox::Sandbox::builder().objects(world(&[("echo", ip, port)])))
            .await;
    sandbox
        .faults()
        .fail_portforward(Some(kubehop::sandbox::PortForwardFault::NoSpdy));
    let dialer = SessionDialer::following(tokio::sync::watch::channel(client).1);
    for i in 0..5 {
        dial_and_echo(&dialer, "echo", port, format!("plain {i}").as_bytes()).await;
    }
    // The first connection asked for the tunnel and plain SPDY, then a WebSocket; every later
    // one went straight to a WebSocket of its own.
    let statuses: Vec<u16> = sandbox
        .request_log()
        .entries()
        .iter()
        .filter(|record| record.subresource.as_deref() == Some("portforward"))
        .map(|record| record.status)
        .collect();
    assert_eq!(statuses, [400, 400, 101, 101, 101, 101, 101]);
    sandbox.shutdown().await;
}
