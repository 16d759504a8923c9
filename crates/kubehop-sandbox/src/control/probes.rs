//! The kubelet's readiness probes and container events.
//!
//! A sandbox pod's app listens on its declared TCP containerPorts and on the ports its
//! probes check (an app that passes its probes on a real cluster listens there), so its
//! probes pass without a connection: the data plane's listener answers there. The kubelet
//! really probes a pod only when the probe can fail:
//!
//! - its [`LISTEN_ANNOTATION`] says the app listens elsewhere than the probe's port (httpGet,
//!   tcpSocket or grpc): the connection is refused;
//! - its readiness switch ([`READY_ANNOTATION`](super::READY_ANNOTATION)) is off and the probe
//!   is an httpGet: the data plane's app answers the probe's path with 503.
//!
//! Then the kubelet connects to `podIP:port` every `periodSeconds` (an httpGet sends a real
//! `GET` as `kube-probe/<version>`), within `timeoutSeconds`, and reports a failure as the
//! real kubelet words it (`HTTP probe failed with statuscode: 503`, `dial tcp
//! 127.35.0.4:8081: connect: connection refused`) in a Warning `Unhealthy` Event, which the
//! recorder aggregates (`count`, `lastTimestamp`). Each attempt runs in a task of its own and
//! reports back, so the controller never waits on a socket. Probes connect only inside
//! 127.0.0.0/8. exec probes pass (sandbox pods run no processes).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::events::{Event, component};
use super::{Controller, Key, LISTEN_ANNOTATION, READY_ANNOTATION, listen_ports, switched_off};
use crate::addresses::is_loopback;
use crate::resources::ResourceId;

/// Where a readiness probe connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    pub container: String,
    pub port: u16,
    /// `Some((scheme, url path))` for httpGet.
    pub http: Option<(String, String)>,
    pub timeout: Duration,
    pub period: Duration,
    /// The app listens on the port (it answers, with 503): a refused connection means the
    /// data plane has not opened its listener yet, as a container still starting.
    pub app_listens: bool,
    /// The node's address the kubelet connects from (the pod's hostIP), when known.
    pub from: Option<IpAddr>,
}

/// One pod's probing as the kubelet keeps it.
#[derive(Debug, Clone, Copy)]
pub(super) struct ProbeState {
    /// When the next attempt is due.
    next: Instant,
    /// The last result (false until an attempt passed).
    ok: bool,
    /// An attempt is under way.
    pub in_flight: bool,
}

/// What one attempt found, reported to the controller.
#[derive(Debug)]
pub(super) struct Outcome {
    uid: String,
    key: Key,
    target: Target,
    result: Result<(), String>,
}

/// The channel attempts report on.
pub(super) struct Outcomes {
    sender: mpsc::UnboundedSender<Outcome>,
    pub receiver: mpsc::UnboundedReceiver<Outcome>,
}

impl Default for Outcomes {
    fn default() -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        Outcomes { sender, receiver }
    }
}

/// The ports the pod's app listens on when its listen annotation names them (`None`: it
/// listens where its probes look); a malformed annotation leaves the app listening nowhere,
/// as the data plane does.
fn app_ports(pod: &Value) -> Option<BTreeSet<u16>> {
    let text = pod
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LISTEN_ANNOTATION))
        .and_then(Value::as_str)?;
    Some(listen_ports(text).unwrap_or_default())
}

/// Whether the pod's readiness switch is off.
fn switch_off(pod: &Value) -> bool {
    pod.pointer("/metadata/annotations")
        .and_then(|a| a.get(READY_ANNOTATION))
        .and_then(Value::as_str)
        .is_some_and(switched_off)
}

/// The app containers and the sidecars (init containers that keep running).
fn containers(pod: &Value) -> impl Iterator<Item = &Value> {
    let list = |key: &str| {
        pod.pointer(&format!("/spec/{key}"))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    };
    list("containers").iter().chain(
        list("initContainers")
            .iter()
            .filter(|c| c.get("restartPolicy").and_then(Value::as_str) == Some("Always")),
    )
}

/// The first readiness probe that can fail, which the kubelet therefore really attempts: one
/// aimed at a port the app does not listen on, or an httpGet of a switched-off pod.
pub(super) fn attempted_probe(pod: &Value) -> Option<Target> {
    let listening = app_ports(pod);
    let off = switch_off(pod);
    if listening.is_none() && !off {
        return None;
    }
    containers(pod).find_map(|container| {
        let probe = container.get("readinessProbe")?;
        let (action, http) = if let Some(get) = probe.get("httpGet") {
            let path = get.get("path").and_then(Value::as_str).unwrap_or("/");
            let scheme = get.get("scheme").and_then(Value::as_str).unwrap_or("HTTP");
            (
                get,
                Some((scheme.to_ascii_lowercase(), super::probe_path(path))),
            )
        } else {
            (probe.get("tcpSocket").or_else(|| probe.get("grpc"))?, None)
        };
        let port = resolve_port(container, action.get("port")?)?;
        let unheard = listening
            .as_ref()
            .is_some_and(|ports| !ports.contains(&port));
        let answers_503 = off && http.is_some();
        if !(unheard || answers_503) {
            return None;
        }
        let seconds = |key: &str, default: u64| {
            Duration::from_secs(
                probe
                    .get(key)
                    .and_then(Value::as_u64)
                    .unwrap_or(default)
                    .max(1),
            )
        };
        Some(Target {
            container: container
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            port,
            http,
            timeout: seconds("timeoutSeconds", 1),
            period: seconds("periodSeconds", 10),
            app_listens: !unheard,
            from: pod
                .pointer("/status/hostIP")
                .and_then(Value::as_str)
                .and_then(|ip| ip.parse().ok()),
        })
    })
}

/// A probe's port: a number, or the name of one of the container's ports.
fn resolve_port(container: &Value, port: &Value) -> Option<u16> {
    match port {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(name) => name.parse().ok().or_else(|| {
            container
                .get("ports")
                .and_then(Value::as_array)?
                .iter()
                .find(|p| p.get("name").and_then(Value::as_str) == Some(name))?
                .get("containerPort")
                .and_then(Value::as_u64)
                .and_then(|n| u16::try_from(n).ok())
        }),
        _ => None,
    }
}

/// The dial error as Go's net package words it.
fn dial_error(addr: SocketAddr, err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::ConnectionRefused => {
            format!("dial tcp {addr}: connect: connection refused")
        }
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            format!("dial tcp {addr}: i/o timeout")
        }
        _ => format!("dial tcp {addr}: connect: {err}"),
    }
}

/// One real attempt within the probe's timeout: a TCP connect, then for an http probe a
/// `GET` whose status must be 200-399. The error is the text the kubelet puts after
/// `Readiness probe failed: `.
pub(super) async fn attempt(ip: IpAddr, target: &Target) -> Result<(), String> {
    let addr = SocketAddr::new(ip, target.port);
    let url = target
        .http
        .as_ref()
        .map(|(scheme, path)| format!("{scheme}://{addr}{path}"));
    let in_get = |text: String| match &url {
        Some(url) => format!("Get \"{url}\": {text}"),
        None => text,
    };
    if !is_loopback(ip) {
        // The sandbox connects only inside 127.0.0.0/8.
        return Err(in_get(format!(
            "dial tcp {addr}: connect: network is unreachable"
        )));
    }
    let stream = match connect(addr, target).await {
        Err(text) => return Err(in_get(text)),
        Ok(stream) => stream,
    };
    let Some((scheme, path)) = &target.http else {
        return Ok(());
    };
    if scheme != "http" {
        // HTTPS: the kubelet skips verification; the sandbox's apps speak no TLS, so the
        // connection is what it checks.
        return Ok(());
    }
    let exchange = http_status(stream, addr, path);
    match tokio::time::timeout(target.timeout, exchange).await {
        Err(_) => Err(in_get(
            "context deadline exceeded (Client.Timeout exceeded while awaiting headers)".into(),
        )),
        Ok(Err(text)) => Err(in_get(text)),
        Ok(Ok(status)) if (200..400).contains(&status) => Ok(()),
        Ok(Ok(status)) => Err(format!("HTTP probe failed with statuscode: {status}")),
    }
}

/// Connects within the probe's timeout; while the app is starting (its listener not open
/// yet) a refusal is tried again until then.
async fn connect(addr: SocketAddr, target: &Target) -> Result<TcpStream, String> {
    let deadline = Instant::now() + target.timeout;
    loop {
        match tokio::time::timeout_at(deadline, dial(addr, target.from)).await {
            Err(_) => return Err(format!("dial tcp {addr}: i/o timeout")),
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(err))
                if target.app_listens
                    && err.kind() == std::io::ErrorKind::ConnectionRefused
                    && Instant::now() + RETRY < deadline =>
            {
                tokio::time::sleep(RETRY).await;
            }
            Ok(Err(err)) => return Err(dial_error(addr, &err)),
        }
    }
}

/// Connects to `addr` from the node's address, as the kubelet does (the app's log shows the
/// node), or from any address when that one cannot be bound.
async fn dial(addr: SocketAddr, from: Option<IpAddr>) -> std::io::Result<TcpStream> {
    if let Some(from) = from.filter(|from| is_loopback(*from) && from.is_ipv4() == addr.is_ipv4()) {
        let socket = if from.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        if socket.bind(SocketAddr::new(from, 0)).is_ok() {
            return socket.connect(addr).await;
        }
    }
    TcpStream::connect(addr).await
}

/// How soon a connection refused by a starting app is tried again.
const RETRY: Duration = Duration::from_millis(25);

/// Sends the kubelet's GET and reads the response's status code.
async fn http_status(mut stream: TcpStream, addr: SocketAddr, path: &str) -> Result<u16, String> {
    let (major, minor) = (crate::api::discovery::MAJOR, crate::api::discovery::MINOR);
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: kube-probe/{major}.{minor}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    let eof = "net/http: HTTP/1.x transport connection broken: unexpected EOF";
    let broken = |_: std::io::Error| eof.to_string();
    stream.write_all(request.as_bytes()).await.map_err(broken)?;
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 8192 {
        let n = stream.read(&mut chunk).await.map_err(broken)?;
        if n == 0 {
            return Err(eof.to_string());
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .filter(|_| line.starts_with("HTTP/"))
        .ok_or_else(|| {
            "net/http: HTTP/1.x transport connection broken: malformed HTTP response".into()
        })
}

/// Whether the pod's readiness probes pass now. A probe that can fail is attempted every
/// period in a task of its own ([`finish`] takes its result); until then the last result
/// holds (not ready before the first attempt passed).
pub(super) fn readiness(c: &mut Controller, key: &Key, pod: &Value, uid: &str) -> bool {
    let Some(target) = attempted_probe(pod) else {
        c.probes.remove(uid);
        return true;
    };
    let now = Instant::now();
    let last = c.probes.get(uid).copied();
    if let Some(state) = last {
        if state.in_flight {
            return state.ok;
        }
        if now < state.next {
            c.schedule(state.next, key.clone());
            return state.ok;
        }
    }
    let ok = last.is_some_and(|state| state.ok);
    let Some(ip) = pod
        .pointer("/status/podIP")
        .and_then(Value::as_str)
        .and_then(|ip| ip.parse::<IpAddr>().ok())
    else {
        return false;
    };
    c.probes.insert(
        uid.to_string(),
        ProbeState {
            next: now,
            ok,
            in_flight: true,
        },
    );
    let sender = c.probe_results.sender.clone();
    let (uid, key) = (uid.to_string(), key.clone());
    tokio::spawn(async move {
        let result = attempt(ip, &target).await;
        // The controller may have stopped: nobody waits for the result then.
        let sent = sender.send(Outcome {
            uid,
            key,
            target,
            result,
        });
        if sent.is_err() {
            tracing::trace!("probe result after the control plane stopped");
        }
    });
    ok
}

/// An attempt's result: an `Unhealthy` Event when it failed, the next attempt one period
/// later, and another look at the pod.
pub(super) fn finish(c: &mut Controller, outcome: Outcome) {
    let Outcome {
        uid,
        key,
        target,
        result,
    } = outcome;
    let Some(state) = c.probes.get_mut(&uid).filter(|state| state.in_flight) else {
        // The pod went, or its probe no longer runs.
        return;
    };
    state.in_flight = false;
    state.ok = result.is_ok();
    state.next = Instant::now() + target.period;
    c.dirty.pods.insert(key.clone());
    let Err(output) = result else {
        return;
    };
    let Some(pod) = c
        .store
        .get_object(ResourceId::Pods, &key.0, &key.1)
        .filter(|stored| stored.uid() == uid)
        .map(|stored| stored.value())
    else {
        return;
    };
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let event = Event::warning(
        component::KUBELET,
        "Unhealthy",
        format!("Readiness probe failed: {output}"),
    )
    .on_host(&node)
    .at_field(format!("spec.containers{{{}}}", target.container));
    c.record(&pod, event);
}

/// The kubelet's events for a pod it starts: per container Pulled (the sandbox has every
/// image), Created and Started.
pub(super) fn record_started(c: &mut Controller, pod: &Value, node: &str) {
    for (list, field) in [
        ("initContainers", "spec.initContainers"),
        ("containers", "spec.containers"),
    ] {
        let entries = pod
            .pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for container in entries {
            let name = container.get("name").and_then(Value::as_str).unwrap_or("");
            let image = container.get("image").and_then(Value::as_str).unwrap_or("");
            let at = format!("{field}{{{name}}}");
            for (reason, message) in [
                (
                    "Pulled",
                    format!("Container image \"{image}\" already present on machine"),
                ),
                ("Created", format!("Created container: {name}")),
                ("Started", format!("Started container {name}")),
            ] {
                let event = Event::normal(component::KUBELET, reason, message)
                    .on_host(node)
                    .at_field(at.clone());
                c.record(pod, event);
            }
        }
    }
}

/// The kubelet's Killing event for each container of a pod it stops (a deleted pod).
pub(super) fn record_stopping(c: &mut Controller, pod: &Value) {
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let names: Vec<String> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    for name in names {
        let event = Event::normal(
            component::KUBELET,
            "Killing",
            format!("Stopping container {name}"),
        )
        .on_host(&node)
        .at_field(format!("spec.containers{{{name}}}"));
        c.record(pod, event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(probe: Value, annotations: Value) -> Value {
        json!({"metadata": {"annotations": annotations}, "spec": {"containers": [{
            "name": "app", "ports": [{"name": "http", "containerPort": 8080}],
            "readinessProbe": probe}]}})
    }

    #[test]
    fn probes_on_listened_ports_pass_others_are_attempted() {
        assert_eq!(
            attempted_probe(&pod(json!({"httpGet": {"port": "http"}}), json!({}))),
            None
        );
        assert_eq!(
            attempted_probe(&pod(json!({"exec": {"command": ["true"]}}), json!({}))),
            None
        );
        // Undeclared, but the app listens where its probes look.
        assert_eq!(
            attempted_probe(&pod(json!({"httpGet": {"port": 10254}}), json!({}))),
            None
        );
        let failing = attempted_probe(&pod(
            json!({"httpGet": {"path": "/healthz", "port": 8081, "scheme": "HTTP"}, "timeoutSeconds": 2}),
            json!({LISTEN_ANNOTATION: "8080"}),
        ))
        .expect("8081 is not listened on");
        assert_eq!(failing.port, 8081);
        assert_eq!(failing.timeout, Duration::from_secs(2));
        assert_eq!(failing.period, Duration::from_secs(10));
        // The app listens elsewhere: the named port's probe fails.
        let moved = attempted_probe(&pod(
            json!({"tcpSocket": {"port": "http"}}),
            json!({LISTEN_ANNOTATION: "80"}),
        ))
        .expect("fails");
        assert_eq!((moved.port, moved.http), (8080, None));
    }

    #[test]
    fn a_switched_off_pod_has_its_http_probe_attempted() {
        let off = json!({READY_ANNOTATION: "false"});
        let get = attempted_probe(&pod(
            json!({"httpGet": {"path": "healthz", "port": "http"}}),
            off.clone(),
        ))
        .expect("the app answers 503 there");
        assert_eq!(get.port, 8080);
        assert_eq!(get.http, Some(("http".into(), "/healthz".into())));
        assert!(get.app_listens);
        // A tcpSocket probe would pass: the switch alone keeps the pod unready.
        assert_eq!(
            attempted_probe(&pod(json!({"tcpSocket": {"port": 8080}}), off)),
            None
        );
        assert_eq!(
            attempted_probe(&pod(
                json!({"httpGet": {"port": "http"}}),
                json!({READY_ANNOTATION: "true"})
            )),
            None
        );
    }

    #[tokio::test]
    async fn an_http_attempt_sends_the_kubelets_get_and_judges_the_status() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = tokio::spawn(async move {
            let mut requests = Vec::new();
            for status in ["503 Service Unavailable", "302 Found"] {
                let (mut stream, _) = listener.accept().await.expect("accept");
                let mut head = vec![0u8; 1024];
                let n = stream.read(&mut head).await.expect("read");
                requests.push(String::from_utf8_lossy(&head[..n]).into_owned());
                let answer = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
                stream.write_all(answer.as_bytes()).await.expect("write");
            }
            requests
        });
        let target = Target {
            container: "app".into(),
            port,
            http: Some(("http".into(), "/healthz".into())),
            timeout: Duration::from_secs(5),
            period: Duration::from_secs(10),
            app_listens: true,
            from: Some("127.0.0.1".parse().expect("ip")),
        };
        let ip = "127.0.0.1".parse().expect("ip");
        assert_eq!(
            attempt(ip, &target).await,
            Err("HTTP probe failed with statuscode: 503".to_string())
        );
        assert_eq!(attempt(ip, &target).await, Ok(()), "3xx passes");
        let requests = server.await.expect("server");
        assert!(
            requests[0].starts_with("GET /healthz HTTP/1.1\r\n")
                && requests[0].contains("\r\nUser-Agent: kube-probe/"),
            "{requests:?}"
        );
    }

    #[tokio::test]
    async fn a_refused_attempt_reads_like_the_kubelet() {
        // A port nothing listens on: bind, learn the port, close.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let target = Target {
            container: "app".into(),
            port,
            http: Some(("http".into(), "/healthz".into())),
            timeout: Duration::from_secs(1),
            period: Duration::from_secs(10),
            app_listens: false,
            from: None,
        };
        let error = attempt("127.0.0.1".parse().expect("ip"), &target)
            .await
            .expect_err("refused");
        assert_eq!(
            error,
            format!(
                "Get \"http://127.0.0.1:{port}/healthz\": dial tcp 127.0.0.1:{port}: connect: connection refused"
            )
        );
    }
}
