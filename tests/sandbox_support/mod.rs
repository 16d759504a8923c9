//! Helpers shared by the sandbox test files.
#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kubehop::sandbox::{Sandbox, SandboxHandle};
use serde_json::{Value, json};

/// How long any single wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Awaits `future`, failing the test after [`DEADLINE`].
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(DEADLINE, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// A started sandbox and a kube-rs client for it.
pub async fn start() -> (SandboxHandle, kube::Client) {
    start_with(Sandbox::builder()).await
}

pub async fn start_with(
    builder: kubehop::sandbox::SandboxBuilder,
) -> (SandboxHandle, kube::Client) {
    let sandbox = builder.start().await.expect("sandbox starts");
    let client = sandbox.client().await.expect("client");
    (sandbox, client)
}

/// A pod as a scenario file would carry it (status included).
pub fn pod(name: &str, labels: Value, node: &str, ip: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {
            "nodeName": node,
            "containers": [{"name": "app", "image": "example/app:1", "ports": [{"containerPort": 8080, "name": "http"}]}]
        },
        "status": {
            "phase": "Running",
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "image": "example/app:1", "imageID": "", "state": {"running": {}}}]
        }
    })
}

pub fn node(name: &str, zone: &str, ip: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone}},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": ip}],
            "nodeInfo": {"kubeletVersion": "v1.37.0", "architecture": "amd64", "bootID": "", "containerRuntimeVersion": "sandbox://1", "kernelVersion": "6.0", "kubeProxyVersion": "", "machineID": "", "operatingSystem": "linux", "osImage": "kubehop sandbox", "systemUUID": ""}
        }
    })
}

pub fn service(name: &str, selector: Value, cluster_ip: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "selector": selector,
            "clusterIP": cluster_ip,
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}, {"name": "metrics", "port": 9090}]
        }
    })
}

pub fn slice(name: &str, service: &str, ip: &str, node: &str) -> Value {
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": "default", "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": true, "serving": true, "terminating": false}, "nodeName": node}]
    })
}

/// A small world: two nodes, three pods, one Service with its slice.
pub fn small_world() -> Vec<Value> {
    vec![
        node("node-a", "zone-1", "127.0.10.1"),
        node("node-b", "zone-2", "127.0.10.2"),
        pod(
            "web-1",
            json!({"app": "web", "tier": "front"}),
            "node-a",
            "127.1.0.2",
        ),
        pod(
            "web-2",
            json!({"app": "web", "tier": "front"}),
            "node-b",
            "127.1.0.3",
        ),
        pod("db-1", json!({"app": "db"}), "node-b", "127.1.0.4"),
        service("web", json!({"app": "web"}), "127.96.0.10"),
        slice("web-abcde", "web", "127.1.0.2", "node-a"),
        json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"ingressClassName": "sandbox", "rules": [{"host": "web.example", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}
            ]}}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "127.0.20.1"}]}}
        }),
        json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "db", "namespace": "default"},
            "spec": {"replicas": 1, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                     "template": {"metadata": {"labels": {"app": "db"}},
                                  "spec": {"containers": [{"name": "db", "image": "example/db:1"}]}}},
            "status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1}
        }),
    ]
}

fn kubectl_works(path: &Path) -> bool {
    std::process::Command::new(path)
        .args(["version", "--client"])
        .output()
        .is_ok_and(|out| {
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Client Version")
        })
}

/// kubectl from `KUBEHOP_KUBECTL` or the first PATH entry whose `kubectl version --client`
/// works; never the gcloud wrapper at /usr/bin/kubectl.
pub fn find_kubectl() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("KUBEHOP_KUBECTL") {
        let path = PathBuf::from(path);
        return kubectl_works(&path).then_some(path);
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join("kubectl"))
        .filter(|candidate| candidate.is_file())
        .filter(|candidate| {
            let real = std::fs::canonicalize(candidate).unwrap_or_else(|_| candidate.clone());
            !real.to_string_lossy().contains("google-cloud-sdk")
                && candidate != Path::new("/usr/bin/kubectl")
        })
        .find(|candidate| kubectl_works(candidate))
}

// ---------------------------------------------------------------------------------------------
// Sandboxes with the control plane and the data plane

/// A sandbox running controllers (pods ready at once, terminating for `grace`) and the data
/// plane, with `objects` loaded; settled before it is returned.
pub async fn start_cluster(objects: Vec<Value>, grace: Duration) -> (SandboxHandle, kube::Client) {
    let (sandbox, client) = start_with(
        Sandbox::builder()
            .objects(objects)
            .control_plane(kubehop::sandbox::ControlPlaneConfig::immediate(grace))
            .data_plane(true),
    )
    .await;
    settle(&sandbox).await;
    (sandbox, client)
}

/// Waits until the controllers are idle and the listeners match the store.
pub async fn settle(sandbox: &SandboxHandle) {
    within("the sandbox to settle", sandbox.settled()).await;
}

/// Waits (on store changes, no sleeping) until `condition` holds.
pub async fn wait_until(sandbox: &SandboxHandle, what: &str, mut condition: impl FnMut() -> bool) {
    let mut changes = sandbox.store().changes();
    within(what, async {
        loop {
            changes.borrow_and_update();
            if condition() {
                return;
            }
            changes.changed().await.expect("store alive");
        }
    })
    .await;
}

/// A node as a manifest: the control plane registers it (address, Ready).
pub fn node_manifest(name: &str, zone: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone}}
    })
}

/// Three nodes in two zones, as manifests.
pub fn three_nodes() -> Vec<Value> {
    vec![
        node_manifest("node-1", "zone-a"),
        node_manifest("node-2", "zone-a"),
        node_manifest("node-3", "zone-b"),
    ]
}

/// A Deployment of pods labelled `app: NAME` with one container port `http` = `port`.
pub fn deployment(namespace: &str, name: &str, replicas: i32, port: u16) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "example/app:1",
                          "ports": [{"name": "http", "containerPort": port}]}]}
            }
        }
    })
}

/// What a client saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP answer from this pod.
    Answered(String),
    /// Connection refused.
    Refused,
    /// Accepted, then reset (or closed) without an answer.
    Reset,
    /// Accepted, then nothing before the client gave up.
    Silent,
}

/// How long a client waits for an answer before calling the connection silent (a drop).
pub const SILENCE: Duration = Duration::from_millis(400);
/// How long a client waits for an answer it expects.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// Connects to `addr`, sends one HTTP GET and says what happened (no answer within
/// [`PATIENCE`]: silent).
pub async fn probe(addr: std::net::SocketAddr) -> Outcome {
    probe_within(addr, PATIENCE).await
}

/// [`probe`], giving up after `wait` (a short wait is what shows a drop).
pub async fn probe_within(addr: std::net::SocketAddr, wait: Duration) -> Outcome {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    assert!(
        kubehop::sandbox::is_sandbox_address(addr.ip()),
        "tests connect only inside 127.0.0.0/8"
    );
    let mut stream = match within("a connect", tokio::net::TcpStream::connect(addr)).await {
        Ok(stream) => stream,
        Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => return Outcome::Refused,
        Err(err) => panic!("connect to {addr}: {err}"),
    };
    let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return Outcome::Reset;
    }
    let mut answer = Vec::new();
    match tokio::time::timeout(wait, stream.read_to_end(&mut answer)).await {
        Err(_) => Outcome::Silent,
        Ok(Err(_)) => Outcome::Reset,
        Ok(Ok(_)) => {
            let text = String::from_utf8_lossy(&answer);
            text.lines()
                .find_map(|line| line.strip_prefix("X-Kubehop-Pod: "))
                .map_or(Outcome::Reset, |pod| {
                    Outcome::Answered(pod.trim().to_string())
                })
        }
    }
}

/// The objects of kind `K` in `namespace` whose label `key` is `value`, from the store.
pub fn labelled<K>(
    store: &kubehop::sandbox::Store,
    namespace: &str,
    key: &str,
    value: &str,
) -> Vec<K>
where
    K: k8s_openapi::Resource
        + k8s_openapi::Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>
        + serde::de::DeserializeOwned,
{
    store
        .list::<K>(Some(namespace))
        .expect("objects decode")
        .into_iter()
        .filter(|object| {
            object
                .metadata()
                .labels
                .as_ref()
                .and_then(|labels| labels.get(key))
                .map(String::as_str)
                == Some(value)
        })
        .collect()
}

/// The pods labelled `app: APP` in `namespace`, from the store.
pub fn pods_of(
    store: &kubehop::sandbox::Store,
    namespace: &str,
    app: &str,
) -> Vec<k8s_openapi::api::core::v1::Pod> {
    labelled(store, namespace, "app", app)
}
