//! Pods as real listeners: the app of each running pod, on `podIP:port`.
//!
//! An HTTP request (anything starting with an HTTP method) gets `200 OK` with a one-line body
//! naming the pod, its node and the address it answered on, and the headers
//! `X-Kubehop-Pod: <name>`, `X-Kubehop-Namespace`, `X-Kubehop-Node` and `X-Kubehop-Port`;
//! keep-alive is honoured. Any other bytes are echoed back until the client closes. A pod
//! whose readiness switch is off answers its httpGet readiness probe's path with
//! `503 Service Unavailable`, as an app that is not ready does, so the kubelet's real probe
//! fails.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::bind::{BindPolicy, Failed};
use super::{Listening, Running};
use crate::access_log::{self, AccessLogs, HttpRequest, PodKey, Transport};
use crate::addresses::is_loopback;
use crate::control::{LISTEN_ANNOTATION, READY_ANNOTATION, listen_ports, switched_off};
use crate::notes::Notes;
use crate::tls::SandboxCa;
use kubehop_engine::unbound::UnboundReason;
use kubehop_engine::{ClusterSnapshot, ProxyModel, pods::typed as pod_facts};

/// The HTTP header naming the pod that answered.
pub const POD_HEADER: &str = "X-Kubehop-Pod";

/// Per listening address, the request paths its app answers with 503 (the httpGet readiness
/// probes of switched-off pods). Shared with the running listeners, so flipping the switch
/// changes answers without restarting a listener.
type Unready = Arc<std::sync::RwLock<BTreeMap<SocketAddr, BTreeSet<String>>>>;

/// The (port, path) of each httpGet readiness probe of a pod whose readiness switch is off.
pub(crate) fn unready_paths(pod: &Pod) -> Vec<(u16, String)> {
    let off = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(READY_ANNOTATION))
        .is_some_and(|value| switched_off(value));
    let Some(spec) = pod.spec.as_ref().filter(|_| off) else {
        return Vec::new();
    };
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    spec.containers
        .iter()
        .chain(sidecars)
        .filter_map(|container| {
            let get = container.readiness_probe.as_ref()?.http_get.as_ref()?;
            let port = match &get.port {
                IntOrString::Int(port) => u16::try_from(*port).ok()?,
                IntOrString::String(name) => name.parse().ok().or_else(|| {
                    container
                        .ports
                        .iter()
                        .flatten()
                        .find(|p| p.name.as_deref() == Some(name))
                        .and_then(|p| u16::try_from(p.container_port).ok())
                })?,
            };
            let path = get.path.as_deref().unwrap_or("/");
            Some((port, crate::control::probe_path(path)))
        })
        .collect()
}

/// Who is listening: enough to answer "which pod is this?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodApp {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub node: String,
    /// The cluster DNS app ([`super::dns`]) instead of HTTP and echo.
    pub dns: bool,
    /// The app terminates TLS first ([`super::pod_tls`]), then answers HTTP or echoes.
    pub tls: bool,
    /// For a kube-proxy pod: whether its proxy is healthy (it answers `/healthz` on
    /// [`super::nodes::HEALTH_PORT`] with 200, else 503).
    pub proxy_health: Option<bool>,
}

impl PodApp {
    /// The pod, for its access log.
    pub(crate) fn key(&self) -> PodKey<'_> {
        PodKey {
            namespace: &self.namespace,
            name: &self.name,
            uid: &self.uid,
        }
    }
}

/// The ports a pod's app listens on: its listen annotation, else its declared TCP
/// containerPorts (regular containers and sidecars) and the numeric ports its probes check
/// (an app that passes its probes listens there, declared or not). `Err` names a bad
/// annotation.
pub fn app_ports(pod: &Pod) -> Result<BTreeSet<u16>, String> {
    if let Some(text) = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(LISTEN_ANNOTATION))
    {
        return listen_ports(text);
    }
    let Some(spec) = pod.spec.as_ref() else {
        return Ok(BTreeSet::new());
    };
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    let containers: Vec<_> = spec.containers.iter().chain(sidecars).collect();
    let declared = containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter(|p| p.protocol.as_deref().is_none_or(|proto| proto == "TCP"))
        .map(|p| p.container_port);
    let probed = containers
        .iter()
        .flat_map(|c| [&c.readiness_probe, &c.liveness_probe, &c.startup_probe])
        .flatten()
        .filter_map(probe_port);
    Ok(declared
        .chain(probed)
        .filter_map(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
        .collect())
}

/// The numeric port a probe connects to (a named one is a declared port already).
fn probe_port(probe: &k8s_openapi::api::core::v1::Probe) -> Option<i32> {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let port = probe
        .http_get
        .as_ref()
        .map(|a| &a.port)
        .or(probe.tcp_socket.as_ref().map(|a| &a.port));
    match port {
        Some(IntOrString::Int(port)) => Some(*port),
        Some(IntOrString::String(_)) => None,
        None => probe.grpc.as_ref().map(|g| g.port),
    }
}

/// The IPv4 address a pod's app listens on: `None` for a pod whose containers ended
/// (Succeeded, Failed) or that has no IPv4 address.
pub(crate) fn app_ipv4(pod: &Pod) -> Option<IpAddr> {
    if matches!(
        pod_facts::phase_exclusion(pod),
        Some(pod_facts::Exclusion::Succeeded | pod_facts::Exclusion::Failed)
    ) {
        return None;
    }
    pod_facts::ips(pod).into_iter().find(IpAddr::is_ipv4)
}

/// Whether a pod says nothing about where its app listens: no listen annotation and no
/// containerPort in any container (declaring ports is optional in Kubernetes, and common to skip).
pub(crate) fn declares_no_ports(pod: &Pod) -> bool {
    let annotated = pod
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(LISTEN_ANNOTATION));
    let declared = pod.spec.as_ref().is_some_and(|spec| {
        spec.containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .any(|c| c.ports.as_ref().is_some_and(|ports| !ports.is_empty()))
    });
    !annotated && !declared
}

/// Where the app of a pod that declares no ports listens: the TCP targetPorts of the Services
/// selecting it (a number, or the Service's port when targetPort is unset). A real app listens
/// where its Service sends traffic — kube-proxy forwards whether or not the port is declared —
/// so the sandbox assumes it does. Named targetPorts cannot resolve on such a pod (rule B2) and
/// add nothing.
pub fn implied_ports<S: AsRef<Service>>(pod: &Pod, services: &[S]) -> BTreeSet<u16> {
    implied_ports_of(pod, services, "TCP")
}

/// [`implied_ports`] for `protocol` (`"TCP"`, `"UDP"`).
pub fn implied_ports_of<S: AsRef<Service>>(
    pod: &Pod,
    services: &[S],
    protocol: &str,
) -> BTreeSet<u16> {
    let namespace = pod_facts::namespace(pod);
    services
        .iter()
        .map(AsRef::as_ref)
        .filter(|service: &&Service| {
            service.metadata.namespace.as_deref().unwrap_or("default") == namespace
        })
        .filter_map(|service| service.spec.as_ref())
        .filter(|spec| {
            spec.selector.as_ref().is_some_and(|selector| {
                !selector.is_empty() && pod_facts::matches_selector(pod, selector)
            })
        })
        .flat_map(|spec| spec.ports.iter().flatten())
        .filter(|port| port.protocol.as_deref().unwrap_or("TCP") == protocol)
        .filter_map(|port| match &port.target_port {
            None => u16::try_from(port.port).ok(),
            Some(IntOrString::Int(number)) => u16::try_from(*number).ok(),
            Some(IntOrString::String(text)) => text.parse::<u16>().ok(),
        })
        .filter(|port| *port != 0)
        .collect()
}

/// The pod listeners, kept in step with the snapshot.
pub(crate) struct PodListeners {
    notes: Notes,
    access: AccessLogs,
    cancel: CancellationToken,
    policy: BindPolicy,
    /// What the cluster DNS pods answer.
    zones: super::dns::Zones,
    /// The model NetworkPolicy is judged with (connections from a pod's or node's address).
    model: watch::Receiver<Arc<ProxyModel>>,
    /// Signs the certificates of TLS pods (`None`: they answer in the clear).
    ca: Option<Arc<SandboxCa>>,
    running: BTreeMap<SocketAddr, (Arc<PodApp>, Running)>,
    unready: Unready,
    /// Wanted listeners that could not be opened.
    failed: Failed,
}

impl PodListeners {
    pub(crate) fn new(
        (notes, access, zones): (Notes, AccessLogs, super::dns::Zones),
        (cancel, policy): (CancellationToken, BindPolicy),
        model: watch::Receiver<Arc<ProxyModel>>,
        ca: Option<Arc<SandboxCa>>,
    ) -> Self {
        PodListeners {
            notes,
            access,
            cancel,
            policy,
            zones,
            model,
            ca,
            running: BTreeMap::new(),
            unready: Unready::default(),
            failed: Failed::new(),
        }
    }

    /// The listeners the last sync wanted and could not open.
    pub(crate) fn failed(&self) -> &Failed {
        &self.failed
    }

    pub(crate) fn listening(&self) -> BTreeMap<SocketAddr, Listening> {
        self.running
            .iter()
            .map(|(addr, (app, _))| {
                (
                    *addr,
                    Listening::Pod {
                        namespace: app.namespace.clone(),
                        name: app.name.clone(),
                    },
                )
            })
            .collect()
    }

    /// The listeners the snapshot's pods want: address -> pod, for running pods with an IPv4
    /// loopback address and declared (or, declaring none, implied) ports; the first pod on an
    /// address wins.
    fn desired(&self, snapshot: &ClusterSnapshot) -> BTreeMap<SocketAddr, Arc<PodApp>> {
        let mut desired: BTreeMap<SocketAddr, Arc<PodApp>> = BTreeMap::new();
        for pod in snapshot.pods.iter().filter_map(|pod| pod.object.as_deref()) {
            let Some(ip) = app_ipv4(pod) else {
                continue;
            };
            let namespace = pod_facts::namespace(pod).to_string();
            let name = pod_facts::name(pod).to_string();
            let ports = match app_ports(pod) {
                // Declaring no ports, it listens where its Services and its probes look.
                Ok(probed) if declares_no_ports(pod) => {
                    let mut ports = implied_ports(pod, &snapshot.services);
                    ports.extend(probed);
                    ports
                }
                Ok(ports) => ports,
                Err(problem) => {
                    self.notes.push(format!(
                        "pod {namespace}/{name} listens on nothing: {problem}"
                    ));
                    continue;
                }
            };
            if ports.is_empty() {
                continue;
            }
            if !is_loopback(ip) {
                self.notes.push(format!(
                    "pod {namespace}/{name}: no listener on {ip}: the sandbox binds only inside 127.0.0.0/8"
                ));
                continue;
            }
            let app = Arc::new(PodApp {
                namespace,
                name,
                uid: pod.metadata.uid.clone().unwrap_or_default(),
                node: pod_facts::node_name(pod).unwrap_or("").to_string(),
                dns: super::dns::is_dns_pod(pod),
                tls: super::pod_tls::is_tls_pod(pod),
                proxy_health: super::nodes::proxy_health(pod),
            });
            // kube-proxy uses the host network: its health port answers on the node too.
            let host = host_health_address(pod, &app, &ports);
            for port in ports
                .into_iter()
                .map(|port| SocketAddr::new(ip, port))
                .chain(host)
            {
                let addr = port;
                if let Some(other) = desired.get(&addr) {
                    self.notes.push(format!(
                        "pods {}/{} and {}/{} both have {addr}; only the first listens",
                        other.namespace, other.name, app.namespace, app.name
                    ));
                    continue;
                }
                desired.insert(addr, app.clone());
            }
        }
        desired
    }

    pub(crate) async fn sync(&mut self, snapshot: &ClusterSnapshot) {
        let desired = self.desired(snapshot);
        let mut unready: BTreeMap<SocketAddr, BTreeSet<String>> = BTreeMap::new();
        for pod in snapshot.pods.iter().filter_map(|pod| pod.object.as_deref()) {
            let Some(ip) = app_ipv4(pod) else {
                continue;
            };
            for (port, path) in unready_paths(pod) {
                unready
                    .entry(SocketAddr::new(ip, port))
                    .or_default()
                    .insert(path);
            }
        }
        *self
            .unready
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = unready;
        // Stop what went away (or changed hands) first: the address may be reused at once.
        super::stop_unwanted(&mut self.running, &desired).await;
        self.failed.retain(|addr, _| desired.contains_key(addr));
        for (addr, app) in desired {
            if self.running.contains_key(&addr) {
                continue;
            }
            match self.policy.bind(addr).await {
                Ok(listener) => {
                    self.failed.remove(&addr);
                    let cancel = self.cancel.child_token();
                    let tls = self
                        .ca
                        .clone()
                        .filter(|_| app.tls)
                        .and_then(|ca| super::pod_tls::acceptor(ca, &app.namespace, &app.name));
                    let task = tokio::spawn(serve(
                        listener,
                        (addr, app.clone(), tls),
                        (
                            self.access.clone(),
                            self.unready.clone(),
                            self.zones.clone(),
                            self.model.clone(),
                        ),
                        cancel.clone(),
                    ));
                    self.running.insert(addr, (app, Running::new(cancel, task)));
                }
                Err(err) => {
                    self.failed
                        .insert(addr, UnboundReason::of(&err, addr.port()));
                    self.notes.push(format!(
                        "pod {}/{}: cannot listen on {addr}: {err}{}",
                        app.namespace,
                        app.name,
                        privileged_hint(addr.port(), &err)
                    ));
                }
            }
        }
    }

    pub(crate) async fn stop_all(&mut self) {
        for (_, (_, running)) in std::mem::take(&mut self.running) {
            running.stop().await;
        }
    }
}

/// Why binding a port below 1024 fails for a normal user, and what to do.
pub(crate) fn privileged_hint(port: u16, err: &std::io::Error) -> &'static str {
    if port < 1024 && err.kind() == std::io::ErrorKind::PermissionDenied {
        " (ports below 1024 need root, CAP_NET_BIND_SERVICE, or sysctl net.ipv4.ip_unprivileged_port_start=0)"
    } else {
        ""
    }
}

async fn serve(
    listener: TcpListener,
    (addr, app, tls): (SocketAddr, Arc<PodApp>, Option<TlsAcceptor>),
    (access, unready, zones, model): (
        AccessLogs,
        Unready,
        super::dns::Zones,
        watch::Receiver<Arc<ProxyModel>>,
    ),
    cancel: CancellationToken,
) {
    super::accept_each(listener, cancel.clone(), cancel, |stream, peer| {
        // NetworkPolicy for a connection from a pod's or node's own address: a reset.
        let model = model.borrow().clone();
        if !super::policy::direct_admits(&model, (&app.namespace, &app.name), peer.ip(), addr) {
            super::proxy::reset(stream);
            return None;
        }
        let app = app.clone();
        let log = AppLog {
            access: access.clone(),
            unready: unready.clone(),
            peer,
            local: addr,
        };
        let zones = zones.clone();
        let tls = tls.clone();
        Some(async move { answer(stream, &app, &log, (&zones, tls.as_ref())).await })
    })
    .await;
}

const METHODS: [&str; 9] = [
    "GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT ", "TRACE ",
];
/// The largest request head the app reads.
const MAX_HEAD: usize = 64 * 1024;

fn looks_like_http(bytes: &[u8]) -> bool {
    METHODS.iter().any(|method| {
        let method = method.as_bytes();
        let n = bytes.len().min(method.len());
        n > 0 && bytes[..n] == method[..n]
    })
}

fn find_head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

/// Where one connection's access-log lines go.
struct AppLog {
    access: AccessLogs,
    unready: Unready,
    peer: SocketAddr,
    local: SocketAddr,
}

impl AppLog {
    fn write(&self, app: &PodApp, text: String) {
        self.access
            .record(app.key(), Transport::Tcp, self.local.port(), text);
    }

    /// Whether this address answers `target` with 503 (a switched-off pod's probe path).
    fn unready(&self, target: &str) -> bool {
        let path = target.split('?').next().unwrap_or(target);
        self.unready
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&self.local)
            .is_some_and(|paths| {
                paths
                    .iter()
                    .any(|probe| probe.split('?').next().unwrap_or(probe) == path)
            })
    }
}

/// For a kube-proxy pod whose app listens on the health port: that port on its node's
/// address (`status.hostIP`), inside loopback.
fn host_health_address(pod: &Pod, app: &PodApp, ports: &BTreeSet<u16>) -> Option<SocketAddr> {
    let port = super::nodes::HEALTH_PORT;
    if app.proxy_health.is_none() || !ports.contains(&port) {
        return None;
    }
    let host: IpAddr = pod.status.as_ref()?.host_ip.as_deref()?.parse().ok()?;
    is_loopback(host).then(|| SocketAddr::new(host, port))
}

/// One connection: DNS for a cluster DNS pod, else (inside TLS for a TLS pod whose client
/// starts a handshake) HTTP or echo, decided by the first bytes.
async fn answer(
    mut stream: TcpStream,
    app: &PodApp,
    log: &AppLog,
    (zones, tls): (&super::dns::Zones, Option<&TlsAcceptor>),
) {
    let addr = log.local;
    let started = std::time::Instant::now();
    if app.dns {
        let pod = format!("{}/{}", app.namespace, app.name);
        super::dns::serve_tcp(stream, zones, &pod).await;
        let seconds = started.elapsed().as_secs_f64();
        log.write(app, access_log::tcp_line(log.peer, addr, 0, seconds));
        return;
    }
    let Some(buffer) = first_bytes(&mut stream).await else {
        // A client that only connected (a TCP probe) is a connection served too.
        let seconds = started.elapsed().as_secs_f64();
        log.write(app, access_log::tcp_line(log.peer, addr, 0, seconds));
        return;
    };
    match tls.filter(|_| buffer.first() == Some(&0x16)) {
        Some(acceptor) => {
            let Ok(mut secured) = acceptor
                .accept(super::pod_tls::Replay::new(buffer, stream))
                .await
            else {
                let seconds = started.elapsed().as_secs_f64();
                log.write(app, access_log::tcp_line(log.peer, addr, 0, seconds));
                return;
            };
            match first_bytes(&mut secured).await {
                Some(buffer) => serve_app(secured, buffer, app, (log, started)).await,
                None => {
                    let seconds = started.elapsed().as_secs_f64();
                    log.write(app, access_log::tcp_line(log.peer, addr, 0, seconds));
                }
            }
        }
        None => serve_app(stream, buffer, app, (log, started)).await,
    }
}

/// The first bytes of a connection, enough to tell HTTP from anything else; `None` when the
/// client sent nothing.
async fn first_bytes<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Vec<u8>> {
    let mut buffer = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => n,
        };
        buffer.extend_from_slice(&chunk[..n]);
        // Decide once the first word is complete (or clearly not a method).
        let decided = buffer.len() >= 8 || buffer.contains(&b' ') || !looks_like_http(&buffer);
        if decided {
            return Some(buffer);
        }
    }
}

/// HTTP or echo, by the first bytes.
async fn serve_app<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    buffer: Vec<u8>,
    app: &PodApp,
    (log, started): (&AppLog, std::time::Instant),
) {
    if !looks_like_http(&buffer) {
        let mut echoed = buffer.len() as u64;
        if stream.write_all(&buffer).await.is_ok() {
            echoed += echo(stream).await;
        }
        let seconds = started.elapsed().as_secs_f64();
        log.write(
            app,
            access_log::tcp_line(log.peer, log.local, echoed, seconds),
        );
        return;
    }
    let _ = http(stream, buffer, app, log).await;
}

/// Echoes until the client closes; returns the bytes echoed.
async fn echo<S: AsyncRead + AsyncWrite + Unpin>(stream: S) -> u64 {
    let (reader, mut writer) = tokio::io::split(stream);
    // 64 KiB at a time (tokio's `copy` takes 8 KiB), like an application streaming data.
    let mut reader = tokio::io::BufReader::with_capacity(64 * 1024, reader);
    let copied = tokio::io::copy_buf(&mut reader, &mut writer)
        .await
        .unwrap_or(0);
    if writer.shutdown().await.is_err() {
        tracing::trace!("pod app: the echo's client left first");
    }
    copied
}

/// What the pod app reads from a request head.
struct RequestHead {
    method: String,
    target: String,
    version: String,
    referer: Option<String>,
    user_agent: Option<String>,
    content_length: usize,
    /// HTTP/1.0 or `Connection: close`.
    close: bool,
    chunked: bool,
}

impl RequestHead {
    fn parse(head: &str) -> Self {
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or("");
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("GET").to_string();
        let target = parts.next().unwrap_or("/").to_string();
        let version = parts.next().unwrap_or("HTTP/1.1").to_string();
        let mut content_length = 0usize;
        let mut close = version == "HTTP/1.0";
        let mut chunked = false;
        let mut referer = None;
        let mut user_agent = None;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => content_length = value.parse().unwrap_or(0),
                "connection" if value.eq_ignore_ascii_case("close") => close = true,
                "connection" if value.eq_ignore_ascii_case("keep-alive") => close = false,
                "transfer-encoding" if value.to_ascii_lowercase().contains("chunked") => {
                    chunked = true;
                }
                "referer" => referer = Some(value.to_string()),
                "user-agent" => user_agent = Some(value.to_string()),
                _ => {}
            }
        }
        Self {
            method,
            target,
            version,
            referer,
            user_agent,
            content_length,
            close,
            chunked,
        }
    }
}

impl RequestHead {
    fn as_logged(&self) -> HttpRequest<'_> {
        HttpRequest {
            method: &self.method,
            target: &self.target,
            version: &self.version,
            referer: self.referer.as_deref(),
            user_agent: self.user_agent.as_deref(),
        }
    }
}

/// The access-log line of a request whose head was too large (its request line, if any).
fn too_large_line(peer: SocketAddr, pending: &[u8]) -> String {
    let head = String::from_utf8_lossy(&pending[..pending.len().min(512)]).into_owned();
    let mut parts = head.split("\r\n").next().unwrap_or("").split_whitespace();
    let request = HttpRequest {
        method: parts.next().unwrap_or("-"),
        target: parts.next().unwrap_or("-"),
        version: parts.next().unwrap_or("-"),
        referer: None,
        user_agent: None,
    };
    access_log::http_line(peer, &request, 431, 0)
}

/// The pod app's answer: 200 (503 when `unready`) with the pod, node and port in headers and
/// body (no body for HEAD); with the body's length in bytes as sent.
fn http_response(
    app: &PodApp,
    addr: SocketAddr,
    head: &RequestHead,
    (close, unready): (bool, bool),
) -> (String, usize) {
    let (status, state) = if unready {
        ("503 Service Unavailable", "is not ready")
    } else {
        ("200 OK", "answered")
    };
    let body = format!(
        "kubehop sandbox: pod {}/{} on node {} {state} on {addr} ({} {})\n",
        app.namespace,
        app.name,
        if app.node.is_empty() {
            "(none)"
        } else {
            &app.node
        },
        head.method,
        head.target,
    );
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n{POD_HEADER}: {}\r\nX-Kubehop-Namespace: {}\r\nX-Kubehop-Node: {}\r\nX-Kubehop-Port: {}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
        app.name,
        app.namespace,
        app.node,
        addr.port(),
        body.len(),
        if close { "close" } else { "keep-alive" },
    );
    if head.method == "HEAD" {
        return (response, 0);
    }
    response.push_str(&body);
    (response, body.len())
}

async fn http<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    mut pending: Vec<u8>,
    app: &PodApp,
    log: &AppLog,
) -> std::io::Result<()> {
    let addr = log.local;
    let mut chunk = [0u8; 8192];
    loop {
        let head_end = loop {
            if let Some(end) = find_head_end(&pending) {
                break end;
            }
            if pending.len() > MAX_HEAD {
                log.write(app, too_large_line(log.peer, &pending));
                stream
                    .write_all(b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await?;
                return stream.shutdown().await;
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            pending.extend_from_slice(&chunk[..n]);
        };
        let head = RequestHead::parse(&String::from_utf8_lossy(&pending[..head_end]));
        let content_length = head.content_length;
        let mut close = head.close;
        // The body is read and ignored; chunked bodies end the connection after the answer.
        pending.drain(..head_end.min(pending.len()));
        let consumed = content_length.min(pending.len());
        pending.drain(..consumed);
        let mut body_left = content_length - consumed;
        while body_left > 0 {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            let used = n.min(body_left);
            body_left -= used;
            pending.extend_from_slice(&chunk[used..n]);
        }
        close |= head.chunked;
        let path = head.target.split('?').next().unwrap_or("");
        if let Some(healthy) = app.proxy_health
            && addr.port() == super::nodes::HEALTH_PORT
            && (path == "/healthz" || path == "/livez")
        {
            let now = k8s_openapi::jiff::Timestamp::now().to_string();
            let response =
                super::nodes::health_response(&app.node, healthy, &now, head.method == "HEAD");
            let status = if healthy { 200 } else { 503 };
            log.write(
                app,
                access_log::http_line(log.peer, &head.as_logged(), status, 0),
            );
            stream.write_all(response.as_bytes()).await?;
            return stream.shutdown().await;
        }
        let unready = log.unready(&head.target);
        let (response, body_bytes) = http_response(app, addr, &head, (close, unready));
        let status = if unready { 503 } else { 200 };
        log.write(
            app,
            access_log::http_line(log.peer, &head.as_logged(), status, body_bytes),
        );
        stream.write_all(response.as_bytes()).await?;
        if close {
            return stream.shutdown().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    fn pod(value: serde_json::Value) -> Pod {
        serde_json::from_value(value).expect("pod")
    }

    #[rstest]
    #[case(json!({}), Ok(vec![8080, 9090, 10254]))]
    #[case(json!({LISTEN_ANNOTATION: "80"}), Ok(vec![80]))]
    #[case(json!({LISTEN_ANNOTATION: "80, 81"}), Ok(vec![80, 81]))]
    #[case(json!({LISTEN_ANNOTATION: ""}), Ok(vec![]))]
    #[case(json!({LISTEN_ANNOTATION: "http"}), Err(()))]
    fn ports_an_app_listens_on(
        #[case] annotations: serde_json::Value,
        #[case] expected: Result<Vec<u16>, ()>,
    ) {
        let pod = pod(json!({
            "metadata": {"name": "p", "annotations": annotations},
            "spec": {
                "containers": [{"name": "a", "ports": [
                    {"containerPort": 8080}, {"containerPort": 53, "protocol": "UDP"}],
                    "readinessProbe": {"httpGet": {"port": 10254}},
                    "livenessProbe": {"tcpSocket": {"port": "8080"}}}],
                "initContainers": [
                    {"name": "side", "restartPolicy": "Always", "ports": [{"containerPort": 9090}]},
                    {"name": "init", "ports": [{"containerPort": 7070}]}]
            }
        }));
        let got = app_ports(&pod)
            .map(|p| p.into_iter().collect::<Vec<_>>())
            .map_err(|_| ());
        assert_eq!(got, expected);
    }

    #[rstest]
    #[case::target_port(json!({"port": 80, "targetPort": 8080}), vec![8080])]
    #[case::numeric_text(json!({"port": 80, "targetPort": "9000"}), vec![9000])]
    #[case::port_only(json!({"port": 6379}), vec![6379])]
    #[case::named(json!({"port": 80, "targetPort": "http"}), vec![])]
    #[case::udp(json!({"port": 53, "protocol": "UDP"}), vec![])]
    fn a_pod_declaring_no_ports_listens_where_its_services_send(
        #[case] port: serde_json::Value,
        #[case] expected: Vec<u16>,
    ) {
        let pod = pod(json!({
            "metadata": {"name": "redis-0", "namespace": "shop", "labels": {"app": "redis"}},
            "spec": {"containers": [{"name": "redis"}]}
        }));
        assert!(declares_no_ports(&pod));
        let service = |namespace: &str, selector: serde_json::Value| -> Service {
            serde_json::from_value(json!({
                "metadata": {"name": "s", "namespace": namespace},
                "spec": {"selector": selector, "ports": [port.clone()]}
            }))
            .expect("service")
        };
        let services = [
            service("shop", json!({"app": "redis"})),
            // Another namespace, another app: neither adds a port.
            service("other", json!({"app": "redis"})),
            service("shop", json!({"app": "web"})),
        ]
        .map(Arc::new);
        let got: Vec<u16> = implied_ports(&pod, &services).into_iter().collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn declared_or_annotated_ports_are_not_implied() {
        let declared = pod(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a", "ports": [{"containerPort": 8080}]}]}
        }));
        assert!(!declares_no_ports(&declared));
        let annotated = pod(json!({
            "metadata": {"name": "p", "annotations": {LISTEN_ANNOTATION: ""}},
            "spec": {"containers": [{"name": "a"}]}
        }));
        assert!(!declares_no_ports(&annotated));
    }

    #[rstest]
    #[case(b"GET / HTTP/1.1\r\n".as_slice(), true)]
    #[case(b"HEA".as_slice(), true)]
    #[case(b"hello".as_slice(), false)]
    #[case(b"\x16\x03\x01".as_slice(), false)]
    fn http_is_recognised_by_its_method(#[case] bytes: &[u8], #[case] expected: bool) {
        assert_eq!(looks_like_http(bytes), expected);
    }
}
