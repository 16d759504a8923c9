//! The kubelet's readiness probes and container events.
//!
//! A sandbox pod's app listens on its declared TCP containerPorts and on the ports its
//! probes check (an app that passes its probes on a real cluster listens there), so its
//! probes pass without a connection: the data plane's listener answers there. Only a pod
//! whose [`LISTEN_ANNOTATION`] says where its app really listens can have a readiness probe
//! (httpGet, tcpSocket or grpc) aimed elsewhere: that probe cannot pass, the kubelet really
//! connects to `podIP:port` every `periodSeconds` and reports what the attempt returned
//! (`dial tcp 127.35.0.4:8081: connect: connection refused`) in a Warning `Unhealthy` Event,
//! and the pod stays not ready. exec probes pass (sandbox pods run no processes).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::events::{Event, component};
use super::{Controller, Key, LISTEN_ANNOTATION, listen_ports};

/// Where a readiness probe connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    pub container: String,
    pub port: u16,
    /// `Some(url path)` for httpGet (with its scheme).
    pub http: Option<(String, String)>,
    pub timeout: Duration,
    pub period: Duration,
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

/// The first readiness probe the pod's app cannot answer, if any.
pub(super) fn failing_probe(pod: &Value) -> Option<Target> {
    let listening = app_ports(pod)?;
    containers(pod).find_map(|container| {
        let probe = container.get("readinessProbe")?;
        let (action, http) = if let Some(get) = probe.get("httpGet") {
            let path = get.get("path").and_then(Value::as_str).unwrap_or("/");
            let scheme = get.get("scheme").and_then(Value::as_str).unwrap_or("HTTP");
            (get, Some((scheme.to_ascii_lowercase(), path.to_string())))
        } else {
            (probe.get("tcpSocket").or_else(|| probe.get("grpc"))?, None)
        };
        let port = resolve_port(container, action.get("port")?)?;
        if listening.contains(&port) {
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

/// One real attempt: the error text as the kubelet (Go's net package) words it.
pub(super) fn attempt(ip: IpAddr, target: &Target) -> Result<(), String> {
    let addr = SocketAddr::new(ip, target.port);
    let dial = match TcpStream::connect_timeout(&addr, target.timeout) {
        Ok(_) => return Ok(()),
        Err(err) => match err.kind() {
            std::io::ErrorKind::ConnectionRefused => {
                format!("dial tcp {addr}: connect: connection refused")
            }
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                format!("dial tcp {addr}: i/o timeout")
            }
            _ => format!("dial tcp {addr}: connect: {err}"),
        },
    };
    Err(match &target.http {
        Some((scheme, path)) => format!("Get \"{scheme}://{addr}{path}\": {dial}"),
        None => dial,
    })
}

/// Whether the pod's readiness probes pass now: probes that cannot pass are attempted every
/// period (an `Unhealthy` Event each time they fail), the last result holds in between.
pub(super) fn readiness(c: &mut Controller, key: &Key, pod: &Value, uid: &str) -> bool {
    let Some(target) = failing_probe(pod) else {
        c.probes.remove(uid);
        return true;
    };
    let now = Instant::now();
    if let Some((next, ok)) = c.probes.get(uid).copied()
        && now < next
    {
        c.schedule(next, key.clone());
        return ok;
    }
    let Some(ip) = pod
        .pointer("/status/podIP")
        .and_then(Value::as_str)
        .and_then(|ip| ip.parse::<IpAddr>().ok())
    else {
        return false;
    };
    let result = attempt(ip, &target);
    if let Err(output) = &result {
        let node = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or("");
        let event = Event::warning(
            component::KUBELET,
            "Unhealthy",
            format!("Readiness probe failed: {output}"),
        )
        .on_host(node)
        .at_field(format!("spec.containers{{{}}}", target.container));
        c.record(pod, event);
    }
    let next = now + target.period;
    c.probes.insert(uid.to_string(), (next, result.is_ok()));
    c.schedule(next, key.clone());
    result.is_ok()
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
            failing_probe(&pod(json!({"httpGet": {"port": "http"}}), json!({}))),
            None
        );
        assert_eq!(
            failing_probe(&pod(json!({"exec": {"command": ["true"]}}), json!({}))),
            None
        );
        // Undeclared, but the app listens where its probes look.
        assert_eq!(
            failing_probe(&pod(json!({"httpGet": {"port": 10254}}), json!({}))),
            None
        );
        let failing = failing_probe(&pod(
            json!({"httpGet": {"path": "/healthz", "port": 8081, "scheme": "HTTP"}, "timeoutSeconds": 2}),
            json!({LISTEN_ANNOTATION: "8080"}),
        ))
        .expect("8081 is not listened on");
        assert_eq!(failing.port, 8081);
        assert_eq!(failing.timeout, Duration::from_secs(2));
        assert_eq!(failing.period, Duration::from_secs(10));
        // The app listens elsewhere: the named port's probe fails.
        let moved = failing_probe(&pod(
            json!({"tcpSocket": {"port": "http"}}),
            json!({LISTEN_ANNOTATION: "80"}),
        ))
        .expect("fails");
        assert_eq!((moved.port, moved.http), (8080, None));
    }

    #[test]
    fn a_refused_attempt_reads_like_the_kubelet() {
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
        };
        let error = attempt("127.0.0.1".parse().expect("ip"), &target).expect_err("refused");
        assert_eq!(
            error,
            format!(
                "Get \"http://127.0.0.1:{port}/healthz\": dial tcp 127.0.0.1:{port}: connect: connection refused"
            )
        );
    }
}
