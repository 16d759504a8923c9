//! The in-process sandbox: started with a client, with its control plane and data plane,
//! settled; waits on its store; a client's view of its data plane (`probe`); reads of its
//! store.

use std::time::Duration;

use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::core::v1::Pod;
use kubehop::sandbox::{Sandbox, SandboxBuilder, SandboxHandle};
use serde_json::Value;

use super::wait::within;

/// A started sandbox (no client).
pub async fn sandbox(builder: SandboxBuilder) -> SandboxHandle {
    builder.start().await.expect("the sandbox starts")
}

/// A started sandbox holding `objects` (no client).
pub async fn sandbox_with(objects: Vec<Value>) -> SandboxHandle {
    sandbox(Sandbox::builder().objects(objects)).await
}

/// A kube-rs client for the test's own reads and writes (not kubehop's).
pub async fn test_client(sandbox: &SandboxHandle) -> kube::Client {
    sandbox.client().await.expect("a client")
}

/// A started sandbox and a kube-rs client for it.
pub async fn start() -> (SandboxHandle, kube::Client) {
    start_with(Sandbox::builder()).await
}

pub async fn start_with(builder: SandboxBuilder) -> (SandboxHandle, kube::Client) {
    let sandbox = builder.start().await.expect("sandbox starts");
    let client = sandbox.client().await.expect("client");
    (sandbox, client)
}

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
pub async fn wait_until(sandbox: &SandboxHandle, what: &str, condition: impl FnMut() -> bool) {
    wait_until_for(super::wait::DEADLINE, sandbox, what, condition).await;
}

/// [`wait_until`] with its own deadline (bulk work that a loaded machine slows down).
pub async fn wait_until_for(
    limit: Duration,
    sandbox: &SandboxHandle,
    what: &str,
    mut condition: impl FnMut() -> bool,
) {
    let mut changes = sandbox.store().changes();
    super::wait::within_for(limit, what, async {
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

/// The pod's Ready condition is True.
pub fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|status| status.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|condition| condition.type_ == "Ready" && condition.status == "True")
        })
}

/// Sets the replicas of `name` through its scale subresource (a merge patch, like
/// `kubectl scale`).
pub async fn scale_to<K>(api: &kube::Api<K>, name: &str, replicas: i32) -> kube::Result<Scale>
where
    K: Clone + serde::de::DeserializeOwned,
{
    let patch = serde_json::json!({"spec": {"replicas": replicas}});
    api.patch_scale(
        name,
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(patch),
    )
    .await
}

/// `kubehop sandbox --kubeconfig-out KUBECONFIG ARGS...` (the built binary), its stdout as
/// lines; killed when dropped.
pub fn spawn_sandbox_binary(
    kubeconfig: &std::path::Path,
    args: &[&str],
) -> (
    tokio::process::Child,
    tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(super::bin::KUBEHOP)
        .arg("sandbox")
        .arg("--kubeconfig-out")
        .arg(kubeconfig)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("kubehop runs");
    let stdout = child.stdout.take().expect("stdout");
    (child, tokio::io::BufReader::new(stdout).lines())
}

/// The banner `kubehop sandbox` prints, up to and with its "Ctrl-C stops" line.
pub async fn read_banner(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
) -> Vec<String> {
    let mut banner = Vec::new();
    loop {
        let line = lines
            .next_line()
            .await
            .expect("read")
            .expect("kubehop still running");
        let done = line.starts_with("Ctrl-C stops");
        banner.push(line);
        if done {
            return banner;
        }
    }
}

/// A GET of `uri` asking for a Table (as `kubectl get` does), JSON as the fallback.
pub fn table_request(uri: &str) -> http::Request<Vec<u8>> {
    http::Request::get(uri)
        .header(
            "accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .body(Vec::new())
        .expect("request")
}
