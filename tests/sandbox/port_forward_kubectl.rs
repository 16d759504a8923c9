//! `kubectl port-forward` against the sandbox as against a cluster: to a Service and to a
//! pod, over kubectl's default (SPDY/3.1 tunnelled in a WebSocket) and over plain SPDY
//! (`KUBECTL_PORT_FORWARD_WEBSOCKETS=false`), 100 MB each way through a pod that echoes;
//! errors on the error stream; and a WebSocket that names no subprotocol, which a kubelet
//! serves with the unnamed binary channel protocol. Loopback only.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kubehop::sandbox::{Sandbox, Verb};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Child;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::kubectl::Harness;
use crate::support::fixtures::manifest::{deployment, pod, service, three_nodes};
use crate::support::sandbox::{pods_of, start_with};
use crate::support::wait::{within, within_for};

/// The app's port: the sandbox's pods echo bytes that are not HTTP.
const APP_PORT: u16 = 9376;
/// What crosses the forward each way.
const VOLUME: u64 = 100 * 1000 * 1000;
/// A debug build on a busy machine moves 100 MB each way in seconds; this is the ceiling.
const VOLUME_DEADLINE: Duration = Duration::from_secs(240);

/// Service `echo` (port 80 → `http`) and its one pod.
fn world() -> Vec<Value> {
    let mut objects = three_nodes();
    objects.push(deployment("default", "echo", 1, APP_PORT));
    objects.push(service("default", "echo", 80));
    objects
}

/// A running `kubectl port-forward` and the local address it listens on.
struct Forward {
    child: Child,
    local: SocketAddr,
}

impl Forward {
    /// `kubectl port-forward TARGET :PORT` on 127.0.0.1 (kubectl picks a free local port and
    /// says which); plain SPDY unless `websockets`.
    async fn start(h: &Harness, target: &str, port: u16, websockets: bool) -> Forward {
        let ports = format!(":{port}");
        let mut command = h.command(&["port-forward", target, &ports, "--address", "127.0.0.1"]);
        if !websockets {
            command.env("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false");
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl port-forward");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let local = within("kubectl to say where it forwards from", async {
            loop {
                let Some(line) = lines.next_line().await.expect("read") else {
                    panic!("kubectl port-forward exited: {}", stderr(&mut child).await);
                };
                // "Forwarding from 127.0.0.1:PORT -> 9376"
                if let Some(rest) = line.strip_prefix("Forwarding from ") {
                    let (address, remote) = rest.split_once(" -> ").expect("the arrow");
                    assert_eq!(remote, APP_PORT.to_string(), "{line}");
                    break address.parse::<SocketAddr>().expect("an address");
                }
            }
        })
        .await;
        // kubectl says "Handling connection for PORT" on stdout for each connection.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Forward { child, local }
    }

    async fn stop(mut self) {
        self.child.kill().await.expect("stop kubectl");
    }
}

async fn stderr(child: &mut Child) -> String {
    let mut text = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut text).await;
    }
    text
}

/// A fixed byte sequence that does not look like HTTP (it starts with a NUL byte) and does
/// not repeat on any round boundary (its period is a prime).
struct Pattern(Vec<u8>);

impl Pattern {
    fn new() -> Pattern {
        const PERIOD: usize = 1_000_003;
        let mut state = 0x9E37_79B9_u32;
        let bytes = (0..PERIOD)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                if i == 0 { 0 } else { state as u8 }
            })
            .collect();
        Pattern(bytes)
    }

    /// The bytes at `offset..offset + out.len()`.
    fn fill(&self, offset: u64, out: &mut [u8]) {
        let period = self.0.len();
        let mut at = (offset % period as u64) as usize;
        let mut done = 0;
        while done < out.len() {
            let n = (period - at).min(out.len() - done);
            out[done..done + n].copy_from_slice(&self.0[at..at + n]);
            done += n;
            at = 0;
        }
    }
}

/// Sends `total` bytes to `addr` and half-closes while reading the echo to its end; checks
/// every byte came back, in order, and the stream ended right after. Returns the time taken.
async fn echo_through(addr: SocketAddr, total: u64) -> Duration {
    let pattern = std::sync::Arc::new(Pattern::new());
    let stream = TcpStream::connect(addr).await.expect("connect to kubectl");
    let (mut read, mut write) = stream.into_split();
    let started = Instant::now();
    let sending = pattern.clone();
    let sender = tokio::spawn(async move {
        let mut chunk = vec![0u8; 256 * 1024];
        let mut offset = 0;
        while offset < total {
            let n = (chunk.len() as u64).min(total - offset) as usize;
            sending.fill(offset, &mut chunk[..n]);
            write.write_all(&chunk[..n]).await.expect("send");
            offset += n as u64;
        }
        write.shutdown().await.expect("half-close");
    });
    let mut received = vec![0u8; 256 * 1024];
    let mut expected = vec![0u8; 256 * 1024];
    let mut offset = 0u64;
    loop {
        let n = read.read(&mut received).await.expect("receive");
        if n == 0 {
            break;
        }
        assert!(offset + n as u64 <= total, "more came back than was sent");
        pattern.fill(offset, &mut expected[..n]);
        if received[..n] != expected[..n] {
            let at = (0..n).find(|i| received[*i] != expected[*i]).unwrap_or(0);
            panic!("byte {} differs", offset + at as u64);
        }
        offset += n as u64;
    }
    assert_eq!(
        offset, total,
        "the echo ended after {offset} of {total} bytes"
    );
    sender.await.expect("the sender");
    started.elapsed()
}

fn megabytes_per_second(bytes: u64, took: Duration) -> f64 {
    bytes as f64 / took.as_secs_f64() / 1e6
}

/// The port-forward requests kubectl made: (method, status).
fn portforward_requests(h: &Harness) -> Vec<(String, u16)> {
    h.sandbox
        .request_log()
        .entries()
        .iter()
        .filter(|r| r.verb == Verb::PortForward)
        .map(|r| (r.method.clone(), r.status))
        .collect()
}

async fn moves_100_mb_each_way_to_a_service(test: &str, websockets: bool) {
    let Some(h) = Harness::start_cluster_with(test, world()).await else {
        return;
    };
    let forward = Forward::start(&h, "svc/echo", 80, websockets).await;
    let took = within_for(
        VOLUME_DEADLINE,
        "100 MB each way through kubectl port-forward",
        echo_through(forward.local, VOLUME),
    )
    .await;
    eprintln!(
        "kubectl port-forward ({}): 100 MB each way in {took:?} ({:.1} MB/s each way)",
        if websockets {
            "SPDY in WebSocket"
        } else {
            "SPDY"
        },
        megabytes_per_second(VOLUME, took)
    );
    // A second connection through the same forward: a new pair of streams.
    within("a second connection", echo_through(forward.local, 1 << 20)).await;
    forward.stop().await;
    // kubectl's default upgrades with a WebSocket (GET); plain SPDY is a POST.
    let method = if websockets { "GET" } else { "POST" };
    assert_eq!(portforward_requests(&h), [(method.to_string(), 101)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_forward_to_a_service_moves_100_mb_each_way_over_spdy_in_a_websocket() {
    moves_100_mb_each_way_to_a_service("pf-svc-ws", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_forward_to_a_service_moves_100_mb_each_way_over_plain_spdy() {
    moves_100_mb_each_way_to_a_service("pf-svc-spdy", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_forward_to_a_pod_reaches_it_and_its_close_ends_the_connection() {
    let Some(h) = Harness::start_cluster_with("pf-pod", world()).await else {
        return;
    };
    let pod = pods_of(h.sandbox.store(), "default", "echo").remove(0);
    let name = pod.metadata.name.clone().expect("name");
    for websockets in [true, false] {
        let forward = Forward::start(&h, &format!("pod/{name}"), APP_PORT, websockets).await;
        let answer = within("an HTTP answer through kubectl", async {
            let mut stream = TcpStream::connect(forward.local).await.expect("connect");
            stream
                .write_all(b"GET /through HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await
                .expect("write");
            // The pod answers and closes; its close reaches the client as the end.
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await.expect("read");
            String::from_utf8(answer).expect("UTF-8")
        })
        .await;
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        assert!(
            answer.contains(&format!("X-Kubehop-Pod: {name}\r\n")),
            "{answer}"
        );
        assert!(answer.contains("(GET /through)"), "{answer}");
        forward.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_the_pod_does_not_listen_on_fails_on_the_error_stream() {
    let Some(h) = Harness::start_cluster_with("pf-refused", world()).await else {
        return;
    };
    let name = pods_of(h.sandbox.store(), "default", "echo")
        .remove(0)
        .metadata
        .name
        .expect("name");
    let mut child = h
        .command(&[
            "port-forward",
            &format!("pod/{name}"),
            ":9999",
            "--address",
            "127.0.0.1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl port-forward");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let local: SocketAddr = within("the forwarding line", async {
        loop {
            let line = lines
                .next_line()
                .await
                .expect("read")
                .expect("kubectl runs");
            if let Some(rest) = line.strip_prefix("Forwarding from ") {
                break rest
                    .split(' ')
                    .next()
                    .expect("address")
                    .parse()
                    .expect("address");
            }
        }
    })
    .await;
    let mut stream = TcpStream::connect(local).await.expect("connect");
    let mut nothing = Vec::new();
    within("the connection to end", stream.read_to_end(&mut nothing))
        .await
        .expect("an end, not an error");
    assert!(nothing.is_empty());
    // kubectl reports the error stream's message and gives up, as with a kubelet.
    let status = within("kubectl to exit", child.wait())
        .await
        .expect("status");
    assert!(!status.success());
    let stderr = stderr(&mut child).await;
    assert!(
        stderr.contains(&format!("error forwarding port 9999 to pod {name}")),
        "{stderr}"
    );
    assert!(
        stderr.contains("connection refused") || stderr.contains("Connection refused"),
        "{stderr}"
    );
}

/// The next binary message.
async fn next_binary<S>(socket: &mut S) -> bytes::Bytes
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match within("a frame", socket.next()).await {
            Some(Ok(Message::Binary(data))) => break data,
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    }
}

/// The pod `echo` on 127.0.0.7 with an echo "container" on a free port of that address.
async fn echo_pod() -> (Value, u16) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.7", 0))
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut connection, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut read, mut write) = connection.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
            });
        }
    });
    let mut echo = pod("echo", "127.0.0.7", "node-a");
    echo["spec"]["containers"][0]["ports"] = serde_json::json!([{"containerPort": port}]);
    (echo, port)
}

#[tokio::test]
async fn a_websocket_naming_no_subprotocol_gets_the_binary_channel_protocol() {
    let (sandbox, _client) = start_with(Sandbox::builder().plain_http(true)).await;
    let (echo, port) = echo_pod().await;
    sandbox.store().load_objects(vec![echo]);
    assert!(
        sandbox
            .store()
            .get::<Pod>("default", "echo")
            .expect("decodes")
            .is_some()
    );
    let url = format!(
        "ws://{}/api/v1/namespaces/default/pods/echo/portforward?ports={port}",
        sandbox.addr()
    );
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        http::header::AUTHORIZATION,
        format!("Bearer {}", sandbox.token())
            .parse()
            .expect("header"),
    );
    let (mut socket, response) = within("the upgrade", tokio_tungstenite::connect_async(request))
        .await
        .expect("a kubelet accepts a WebSocket without a subprotocol");
    assert!(response.headers().get("sec-websocket-protocol").is_none());
    let port_bytes = port.to_le_bytes();
    // Data channel 0 and error channel 1 each start with the port, little-endian.
    assert_eq!(
        &next_binary(&mut socket).await[..],
        [&[0u8][..], &port_bytes].concat()
    );
    assert_eq!(
        &next_binary(&mut socket).await[..],
        [&[1u8][..], &port_bytes].concat()
    );
    socket
        .send(Message::Binary(b"\x00unnamed channel".to_vec().into()))
        .await
        .expect("send");
    let mut echoed = Vec::new();
    while echoed.len() < b"unnamed channel".len() {
        let frame = next_binary(&mut socket).await;
        assert_eq!(frame[0], 0, "the data channel");
        echoed.extend_from_slice(&frame[1..]);
    }
    assert_eq!(echoed, b"unnamed channel");
    sandbox.shutdown().await;
}
