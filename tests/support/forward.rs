//! Helpers for the forward tests: a sandbox cluster, a snapshot feed of it, a forward with its
//! events on a channel, and clients that read the pods' answers.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kubehop::cluster::ClusterSnapshot;
use kubehop::engine::model::ServiceKey;
use kubehop::forward::{
    self, ForwardEvent, ForwardHandle, ForwardOptions, ForwardRequest, ForwardStats, Notice,
    PortMapping,
};
use kubehop::probe::{Dialer, PortForwardDialer};
use kubehop::sandbox::{SandboxHandle, Store};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use super::fixtures::manifest::{Edit, deployment, service, three_nodes};
use super::sandbox::{is_ready, pods_of as pods_labelled};
use super::wait::within;

pub const NAMESPACE: &str = "shop";
/// The Service port and the pods' containerPort (named `http`).
pub const PORT: u16 = 8080;

/// Three nodes, a Deployment `web` of `replicas` pods and its Service.
pub fn web(replicas: i32, spec: Value) -> Vec<Value> {
    let mut objects = three_nodes();
    objects.push(deployment(NAMESPACE, "web", replicas, PORT));
    objects.push(service(NAMESPACE, "web", PORT).spec(spec));
    objects
}

/// The binary's arguments to forward `LOCAL:REMOTE` (`port`) to Service `web` in
/// [`NAMESPACE`] of the cluster `kubeconfig` names.
pub fn forward_web_args(port: &str, kubeconfig: &str) -> Vec<String> {
    [
        "forward",
        "web",
        port,
        "-n",
        NAMESPACE,
        "--kubeconfig",
        kubeconfig,
    ]
    .map(str::to_owned)
    .to_vec()
}

pub fn key(name: &str) -> ServiceKey {
    ServiceKey {
        namespace: NAMESPACE.to_owned(),
        name: name.to_owned(),
    }
}

/// The store's snapshots as a feed: a new snapshot on every change of the store (what a live
/// source publishes after its watches caught up).
pub fn store_feed(sandbox: &SandboxHandle) -> watch::Receiver<Arc<ClusterSnapshot>> {
    let store = sandbox.store().clone();
    let first = store
        .cluster_snapshot(store.resource_version())
        .expect("the store reads");
    let (sender, receiver) = watch::channel(Arc::new(first));
    let mut changes = store.changes();
    tokio::spawn(async move {
        loop {
            if changes.changed().await.is_err() {
                return;
            }
            changes.borrow_and_update();
            let revision = store.resource_version();
            let Ok(snapshot) = store.cluster_snapshot(revision) else {
                return;
            };
            if sender.send(Arc::new(snapshot)).is_err() {
                return;
            }
        }
    });
    receiver
}

pub fn dialer(client: &kube::Client) -> Arc<dyn Dialer> {
    Arc::new(PortForwardDialer::new(client.clone()))
}

/// A running forward and what it reported.
pub struct Forward {
    pub handle: ForwardHandle,
    pub events: mpsc::UnboundedReceiver<ForwardEvent>,
    pub notices: Vec<Notice>,
    pub stats: Option<ForwardStats>,
    /// [`Forward::notice`] looks at notices from here on.
    pub mark: usize,
}

impl Forward {
    /// The first local address of the first forwarded port.
    pub fn local(&self) -> SocketAddr {
        self.handle.listening()[0].locals[0]
    }

    fn take(&mut self, event: ForwardEvent) -> Option<Notice> {
        keep(&mut self.notices, &mut self.stats, event)
    }

    /// From now on, [`Forward::notice`] only looks at notices that arrive later.
    pub fn mark(&mut self) {
        self.drain();
        self.mark = self.notices.len();
    }

    /// Waits for a notice that satisfies `wanted` (notices since the last [`Forward::mark`]
    /// count).
    pub async fn notice(&mut self, what: &str, wanted: impl Fn(&Notice) -> bool) -> Notice {
        if let Some(found) = self
            .notices
            .iter()
            .skip(self.mark)
            .find(|notice| wanted(notice))
        {
            return found.clone();
        }
        within(what, async {
            loop {
                let event = self.events.recv().await.expect("the forward runs");
                if let Some(notice) = self.take(event)
                    && wanted(&notice)
                {
                    return notice;
                }
            }
        })
        .await
    }

    /// Waits for stats that satisfy `wanted`.
    pub async fn stats_where(
        &mut self,
        what: &str,
        wanted: impl Fn(&ForwardStats) -> bool,
    ) -> ForwardStats {
        if let Some(stats) = self.stats.as_ref().filter(|stats| wanted(stats)) {
            return stats.clone();
        }
        within(what, async {
            loop {
                let event = self.events.recv().await.expect("the forward runs");
                self.take(event);
                if let Some(stats) = self.stats.as_ref().filter(|stats| wanted(stats)) {
                    return stats.clone();
                }
            }
        })
        .await
    }

    /// Takes what arrived so far without waiting.
    pub fn drain(&mut self) {
        while let Ok(event) = self.events.try_recv() {
            self.take(event);
        }
    }

    /// Stops the forward and collects everything it reported until then.
    pub async fn stop(self) -> (Vec<Notice>, Option<ForwardStats>) {
        let Forward {
            handle,
            mut events,
            mut notices,
            mut stats,
            ..
        } = self;
        within("the forward to stop", handle.stop()).await;
        within("the forward's last events", async {
            while let Some(event) = events.recv().await {
                keep(&mut notices, &mut stats, event);
            }
        })
        .await;
        (notices, stats)
    }
}

fn keep(
    notices: &mut Vec<Notice>,
    stats: &mut Option<ForwardStats>,
    event: ForwardEvent,
) -> Option<Notice> {
    match event {
        ForwardEvent::Notice(notice) => {
            notices.push(notice.clone());
            Some(notice)
        }
        ForwardEvent::Stats(latest) => {
            *stats = Some(latest);
            None
        }
    }
}

/// Forwards `mapping` (e.g. `0:8080`) of Service `name` over `feed`.
pub fn start_forward(
    name: &str,
    mapping: &str,
    feed: watch::Receiver<Arc<ClusterSnapshot>>,
    client: &kube::Client,
    options: ForwardOptions,
) -> Forward {
    start_forward_with(name, mapping, feed, dialer(client), options)
}

pub fn start_forward_with(
    name: &str,
    mapping: &str,
    feed: watch::Receiver<Arc<ClusterSnapshot>>,
    dialer: Arc<dyn Dialer>,
    options: ForwardOptions,
) -> Forward {
    let (sender, events) = mpsc::unbounded_channel();
    let request = ForwardRequest {
        service: key(name),
        ports: vec![PortMapping::parse(mapping).expect("a valid mapping")],
    };
    let handle = forward::start(&request, feed, dialer, options, move |event| {
        let _ = sender.send(event);
    })
    .expect("the forward starts");
    for listening in handle.listening() {
        for local in &listening.locals {
            assert!(
                kubehop::sandbox::is_sandbox_address(local.ip()),
                "tests listen only inside 127.0.0.0/8"
            );
        }
    }
    Forward {
        handle,
        events,
        notices: Vec::new(),
        stats: None,
        mark: 0,
    }
}

/// What a client of the forward saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// An HTTP answer from this pod.
    Pod(String),
    /// Connection refused by the kernel (nothing listens).
    Refused,
    /// Accepted, then reset or closed before a full answer.
    Reset(String),
}

/// Connects to `addr`, sends one HTTP GET and reads the answer by its Content-Length.
pub async fn get(addr: SocketAddr) -> Answer {
    assert!(
        kubehop::sandbox::is_sandbox_address(addr.ip()),
        "tests connect only inside 127.0.0.0/8"
    );
    let mut stream = match TcpStream::connect(addr).await {
        Ok(stream) => stream,
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Answer::Refused;
        }
        Err(error) => return Answer::Reset(format!("connect: {error}")),
    };
    let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    if let Err(error) = stream.write_all(request.as_bytes()).await {
        return Answer::Reset(format!("write: {error}"));
    }
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) => {
                return Answer::Reset(format!(
                    "closed after {} bytes: {:?}",
                    answer.len(),
                    String::from_utf8_lossy(&answer)
                ));
            }
            Ok(count) => answer.extend_from_slice(&chunk[..count]),
            Err(error) => return Answer::Reset(format!("read: {error}")),
        }
        let text = String::from_utf8_lossy(&answer);
        if let Some((head, body)) = text.split_once("\r\n\r\n")
            && let Some(length) = header(head, "Content-Length").and_then(|n| n.parse().ok())
            && body.len() >= length
        {
            return match header(head, "X-Kubehop-Pod") {
                Some(pod) => Answer::Pod(pod.to_owned()),
                None => Answer::Reset(format!("no pod header: {text:?}")),
            };
        }
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then_some(value.trim())
    })
}

/// Pods labelled `app: NAME` in [`NAMESPACE`].
pub fn pods_of(store: &Store, app: &str) -> Vec<Pod> {
    pods_labelled(store, NAMESPACE, app)
}

pub fn name(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

/// Names of the pods of `app` that are ready and not terminating.
pub fn ready_pods(store: &Store, app: &str) -> BTreeSet<String> {
    pods_of(store, app)
        .iter()
        .filter(|pod| pod.metadata.deletion_timestamp.is_none() && is_ready(pod))
        .map(name)
        .collect()
}

/// How long the tests' clients wait between connections of a paced load.
pub const PACE: Duration = Duration::from_millis(20);
