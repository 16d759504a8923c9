//! The embedded Kubernetes-API-compatible cluster on loopback (the sandbox).
//!
//! Three parts, each optional on [`SandboxBuilder`]:
//! - the API server and object store (always; described below);
//! - the control plane ([`SandboxBuilder::control_plane`], [`control`]): Deployments (through
//!   ReplicaSets, with revision history), ReplicaSets, ReplicationControllers, StatefulSets,
//!   DaemonSets and Jobs make pods, a scheduler (node selectors, node affinity, taints) and a
//!   kubelet run them (IPs, readiness probes, graceful termination), the components write
//!   Events, the EndpointSlice controller publishes pods with the engine's rules, Services get
//!   ClusterIPs and nodePorts, LoadBalancers get ingress IPs;
//! - the data plane ([`SandboxBuilder::data_plane`], [`dataplane`]): pods listen on their IPs
//!   and a userspace kube-proxy listens on every ClusterIP, nodePort and LoadBalancer IP.
//!
//! Everything binds and connects inside 127.0.0.0/8 only; each instance takes its own block of
//! addresses ([`addresses`]). What the sandbox could not do (an address outside loopback, a port
//! it could not bind) becomes a note ([`SandboxHandle::notes`]). [`SandboxHandle::settled`]
//! waits until controllers and listeners have caught up with the store.
//!
//! Scenario controls, as annotations a user flips with `kubectl annotate`:
//! - [`control::READY_ANNOTATION`] `sandbox.kubehop.dev/ready: "false"` on a pod (or its
//!   template): the pod is not ready; remove it or set `"true"` and it is ready again;
//! - [`control::LISTEN_ANNOTATION`] `sandbox.kubehop.dev/listen: "80"`: the pod's app listens
//!   on these ports only (targetPort-vs-listen-port bugs);
//! - [`control::LB_ANNOTATION`] `sandbox.kubehop.dev/lb: pending` on a LoadBalancer Service: no
//!   ingress IP.
//!
//! `kubehop sandbox` runs the built-in scenario ([`scenario`]) in the foreground;
//! `--demo` uses [`start_demo`].
//!
//! The API server and object store: an HTTPS server on 127.0.0.1 that
//! kube-rs and kubectl talk to exactly as to a real cluster (discovery, list / get / watch with
//! resourceVersion semantics, Tables for kubectl, writes with merge and strategic merge patch,
//! `/status` and `/scale`, WebSocket port-forward, `pods/log` from each pod's
//! [access log](access_log), a few truthful `pods/exec` commands, `SelfSubjectAccessReview` for
//! `kubectl auth can-i`), a [`Store`] that in-process controllers
//! use directly, a request log and fault injection for tests.
//!
//! Every built-in kind of a Kubernetes 1.37 API server is stored and served ([`resources`]: a
//! registry derived from k8s-openapi's types, a [`ResourceId`](resources::ResourceId) per
//! resource); kinds without a controller are stored but not enforced (RBAC, webhook
//! configurations...); NetworkPolicies are enforced by the data plane (`dataplane::policy`). CustomResourceDefinitions serve their custom resources
//! generically (not validated against the CRD's schema). `/openapi/v3` carries schemas
//! generated from k8s-openapi (`kubectl explain`), `/openapi/v2` an empty document.
//!
//! Design notes:
//! - HTTPS by default, with a CA made per sandbox and written into the kubeconfig: client-go
//!   (kubectl) drops the kubeconfig's bearer token over plain HTTP, so a token-protected
//!   plain-HTTP server would answer kubectl with 401s. [`SandboxBuilder::plain_http`] exists
//!   for kube-rs-only uses.
//! - Objects are stored as JSON bytes plus an index (labels, selectable fields, owners); see
//!   [`store`]. One resourceVersion counter; a bounded event history per resource for
//!   watches and one for subscriptions ([`SandboxBuilder::watch_history`] events each): a
//!   watcher that falls further behind gets 410 Expired and relists, as with a real API server.
//! - The control plane plugs in through [`Store::subscribe`], the typed helpers
//!   ([`Store::get`], [`Store::list`], [`Store::apply_status`], [`Store::modify`]),
//!   [`Store::add_admission_hook`] (ClusterIP / nodePort allocation),
//!   [`Store::set_deletion_policy`] (graceful pod termination), and [`Store::set_clock`] /
//!   [`Store::set_seed`] (reproducible timestamps, uids and generated names).
//! - Request bodies are JSON (or YAML); kubectl's typed generators send protobuf
//!   (`kubectl create deployment ...`) and get a 415 saying so.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kubehop_sandbox::SandboxError> {
//! use kubehop_sandbox::Sandbox;
//! let sandbox = Sandbox::builder().start().await?;
//! let client = sandbox.client().await?;
//! println!("KUBECONFIG={}", sandbox.kubeconfig_path().display());
//! # drop(client); sandbox.shutdown().await; Ok(()) }
//! ```

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

pub mod access_log;
pub mod addresses;
pub mod admission;
mod api;
pub mod apply;
/// The API server's request handling without a socket, for the fuzz target.
#[doc(hidden)]
pub use api::fuzzing;
pub mod clock;
pub mod control;
pub mod dataplane;
pub mod demo;
pub mod endpoints;
pub mod faults;
pub mod gateway;
pub mod kubeconfig;
pub mod notes;
pub mod patch;
pub mod protobuf;
pub mod request_log;
pub mod resources;
pub(crate) mod rng;
pub mod scenario;
pub mod selector;
mod server;
pub mod store;
pub mod table;
mod tls;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

pub use addresses::AddressBlock;
pub use control::{ControlPlane, ControlPlaneConfig};
pub use dataplane::{DataPlane, Listening};
pub use demo::start_demo;
pub use faults::{Faults, PortForwardFault};
pub use notes::Notes;
pub use request_log::{RequestLog, RequestRecord, Verb};
pub use resources::ResourceId;
pub use store::{LoadReport, Store, StoreError};

/// Errors starting or driving the sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("the sandbox only listens inside 127.0.0.0/8, not on {0}")]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build a client for the sandbox: {0}")]
    Client(String),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Addresses(#[from] addresses::AddressError),
    #[error("cannot read the scenario: {0}")]
    Scenario(#[from] kubehop_engine::dump::DumpError),
}

/// Default interval between watch bookmarks (the API server sends them about once a minute).
pub const DEFAULT_BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);

/// Loads `objects`; with `gateway_api`, the Gateway API CRDs are installed after the other
/// objects and before the Gateway API ones, so that a scenario's other objects get the same
/// uids with and without them.
fn load_with_gateway_api(
    store: &Store,
    objects: Vec<Value>,
    gateway_api: bool,
    notes: &Notes,
) -> LoadReport {
    if !gateway_api {
        return store.load_objects(objects);
    }
    let (gateway_objects, others): (Vec<Value>, Vec<Value>) =
        objects.into_iter().partition(|object| {
            object
                .get("apiVersion")
                .and_then(Value::as_str)
                .is_some_and(|v| v.starts_with(&format!("{}/", gateway::GROUP)))
        });
    let mut load = store.load_objects(others);
    for problem in gateway::install_crds(store) {
        notes.push(problem);
    }
    let rest = store.load_objects(gateway_objects);
    load.loaded += rest.loaded;
    load.skipped.extend(rest.skipped);
    load
}

/// Entry point: `Sandbox::builder()...start().await`.
pub struct Sandbox;

impl Sandbox {
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder::default()
    }
}

/// Options of a sandbox about to start.
#[derive(Debug)]
pub struct SandboxBuilder {
    listen: SocketAddr,
    kubeconfig_path: Option<PathBuf>,
    token: Option<String>,
    watch_history: usize,
    bookmark_interval: Duration,
    objects: Vec<Value>,
    store: Option<Store>,
    plain_http: bool,
    control_plane: Option<ControlPlaneConfig>,
    data_plane: bool,
    gateway_api: bool,
    bind_policy: dataplane::bind::BindPolicy,
    limits: server::ServerLimits,
}

impl Default for SandboxBuilder {
    fn default() -> Self {
        SandboxBuilder {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            kubeconfig_path: None,
            token: None,
            watch_history: store::DEFAULT_HISTORY,
            bookmark_interval: DEFAULT_BOOKMARK_INTERVAL,
            objects: Vec::new(),
            store: None,
            plain_http: false,
            control_plane: None,
            data_plane: false,
            gateway_api: false,
            bind_policy: dataplane::bind::BindPolicy::default(),
            limits: server::ServerLimits::default(),
        }
    }
}

impl SandboxBuilder {
    /// Where the API server listens (default 127.0.0.1 on a free port). Must be in 127.0.0.0/8.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Where to write the kubeconfig (default: a file in a fresh private folder under the
    /// system temp folder, both removed on shutdown). Written atomically with mode 0600.
    pub fn kubeconfig_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.kubeconfig_path = Some(path.into());
        self
    }

    /// How long a client may take for the TLS handshake (default 10 s) before the connection
    /// is closed.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.limits.handshake_timeout = timeout;
        self
    }

    /// How long a client may take to send a request's headers (default 10 s) before the
    /// connection is closed.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.limits.header_read_timeout = timeout;
        self
    }

    /// How many connections are served at once (default 1024); more wait to be accepted.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.limits.max_connections = connections;
        self
    }

    /// The bearer token clients must send (default: random).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// How many events the store keeps for replay, per resource for watches and in all for
    /// subscriptions (older resourceVersions get 410 Expired).
    pub fn watch_history(mut self, events: usize) -> Self {
        self.watch_history = events;
        self
    }

    /// Interval between BOOKMARK events on watches that allow them.
    pub fn bookmark_interval(mut self, interval: Duration) -> Self {
        self.bookmark_interval = interval;
        self
    }

    /// Objects loaded before the server starts (status kept as given).
    pub fn objects(mut self, objects: Vec<Value>) -> Self {
        self.objects = objects;
        self
    }

    /// Serve plain HTTP instead of HTTPS. kube-rs still sends the bearer token; kubectl
    /// (client-go) does not send credentials over plain HTTP, so it gets 401s.
    pub fn plain_http(mut self, plain: bool) -> Self {
        self.plain_http = plain;
        self
    }

    /// Serve an existing store instead of a new one.
    pub fn store(mut self, store: Store) -> Self {
        self.store = Some(store);
        self
    }

    /// Runs the control plane ([`control`]): workloads make pods, pods get nodes, IPs and
    /// readiness, Services get addresses and EndpointSlices. Without it the sandbox is an API
    /// server over whatever is loaded or written.
    pub fn control_plane(mut self, config: ControlPlaneConfig) -> Self {
        self.control_plane = Some(config);
        self
    }

    /// Runs the data plane ([`dataplane`]): pods listen on their IPs, kube-proxy on every
    /// ClusterIP, nodePort and LoadBalancer IP. Off for `--api-only`.
    /// The data plane listens as an unprivileged process would, even when run as root: no
    /// listener below port 1024 (each gets a note and is published on the Nodes). A test hook
    /// for what a normal user sees.
    pub fn unprivileged(mut self, on: bool) -> Self {
        self.bind_policy.unprivileged = on;
        self
    }

    pub fn data_plane(mut self, on: bool) -> Self {
        self.data_plane = on;
        self
    }

    /// Installs the Gateway API CRDs ([`gateway::crds`], generated from
    /// `kubehop_gateway_api`'s types) before the objects load, so a scenario can hold
    /// Gateways and routes. Users can also apply them themselves; either way the control plane
    /// then creates the GatewayClass [`gateway::GATEWAY_CLASS`] and serves its Gateways.
    pub fn gateway_api(mut self, on: bool) -> Self {
        self.gateway_api = on;
        self
    }

    /// Starts the sandbox: store, TLS and kubeconfig, API server, then the control and data
    /// planes when asked for. One linear assembly in start order (a little over ~80 lines):
    /// splitting it would only pass the half-built parts around.
    pub async fn start(self) -> Result<SandboxHandle, SandboxError> {
        if !is_sandbox_address(self.listen.ip()) {
            return Err(SandboxError::NotLoopback(self.listen));
        }
        let store = match (self.store, &self.control_plane) {
            (Some(store), _) => store,
            (None, Some(config)) => {
                Store::with_identity(self.watch_history, config.clock.clone(), Some(config.seed))
            }
            (None, None) => Store::new(self.watch_history),
        };
        let notes = Notes::default();
        let seed = self.control_plane.as_ref().map_or(1, |config| config.seed);
        let installed = match self.control_plane {
            Some(config) => {
                let block = AddressBlock::reserve(config.address_block)?;
                Some(ControlPlane::install(&store, config, block))
            }
            None => None,
        };
        let load = load_with_gateway_api(&store, self.objects, self.gateway_api, &notes);
        for note in skipped_notes(&load.skipped) {
            notes.push(note);
        }
        if self.data_plane
            && let Err(err) = dataplane::ingress::install_class(&store)
        {
            notes.push(format!("cannot create the IngressClass: {err}"));
        }
        let (listener, addr) = bind_listener(self.listen).await?;
        let token = self
            .token
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        let (kubeconfig_path, owns_kubeconfig) = match self.kubeconfig_path {
            Some(path) => (path, false),
            // A fresh private folder: a predictable path could be planted in advance.
            None => {
                let dir = kubeconfig::private_dir(&std::env::temp_dir()).map_err(|source| {
                    SandboxError::Kubeconfig {
                        path: std::env::temp_dir(),
                        source,
                    }
                })?;
                (dir.join("kubeconfig"), true)
            }
        };
        let tls = if self.plain_http {
            None
        } else {
            Some(tls::serving_tls(addr.ip())?)
        };
        let url = match tls {
            Some(_) => format!("https://{addr}"),
            None => format!("http://{addr}"),
        };
        let ca_pem = tls.as_ref().map(|t| t.ca_pem.clone());
        kubeconfig::write(&kubeconfig_path, &url, ca_pem.as_deref(), &token).map_err(|source| {
            SandboxError::Kubeconfig {
                path: kubeconfig_path.clone(),
                source,
            }
        })?;
        let access = access_log::AccessLogs::new(store.clone());
        let shared = Arc::new(api::Shared {
            store: store.clone(),
            access: access.clone(),
            log: RequestLog::default(),
            faults: Faults::default(),
            token: token.clone(),
            bookmark_interval: self.bookmark_interval,
            server_address: addr.to_string(),
            limits: self.limits,
        });
        let root = CancellationToken::new();
        let running = server::Listener::spawn(listener, tls.clone(), shared.clone(), &root);
        let control = installed.map(|installed| {
            ControlPlane::start(installed, store.clone(), notes.clone(), root.child_token())
        });
        let ca = tls.as_ref().map(|t| t.ca.clone());
        let data = self.data_plane.then(|| {
            DataPlane::start(
                (store.clone(), access.clone(), shared.faults.clone()),
                notes.clone(),
                (seed, self.bind_policy),
                ca,
                root.child_token(),
            )
        });
        Ok(SandboxHandle {
            notes,
            control: std::sync::Mutex::new(control),
            data: std::sync::Mutex::new(data),
            shared,
            tls,
            ca_pem,
            addr,
            url,
            kubeconfig_path,
            owns_kubeconfig,
            load,
            root,
            listener: Mutex::new(Some(running)),
        })
    }
}

/// Binds the API server's listener on `listen`; returns it with the address it got.
async fn bind_listener(
    listen: SocketAddr,
) -> Result<(tokio::net::TcpListener, SocketAddr), SandboxError> {
    let listener = server::bind(listen)
        .await
        .map_err(|source| SandboxError::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SandboxError::Bind {
        addr: listen,
        source,
    })?;
    Ok((listener, addr))
}

/// One note per kind and reason for the objects a load skipped ("apps/v1 ReplicaSet web-1:
/// not served" x 12 -> "not loaded: 12 apps/v1 ReplicaSet objects: not served").
fn skipped_notes(skipped: &[String]) -> Vec<String> {
    let mut groups: std::collections::BTreeMap<(String, String), usize> = Default::default();
    for entry in skipped {
        let (label, reason) = entry.split_once(": ").unwrap_or((entry.as_str(), ""));
        let kind = label.rsplit_once(' ').map_or(label, |(kind, _name)| kind);
        *groups
            .entry((kind.to_string(), reason.to_string()))
            .or_default() += 1;
    }
    groups
        .into_iter()
        .map(|((kind, reason), count)| {
            let objects = if count == 1 { "object" } else { "objects" };
            format!("not loaded: {count} {kind} {objects}: {reason}")
        })
        .collect()
}

/// Waits for a change of an optional watch channel (forever without one).
async fn changed(receiver: Option<&mut tokio::sync::watch::Receiver<u64>>) {
    match receiver {
        Some(receiver) => {
            if receiver.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

/// Whether the sandbox may bind or connect to `ip` (127.0.0.0/8 only).
pub fn is_sandbox_address(ip: IpAddr) -> bool {
    addresses::is_loopback(ip)
}

/// A running sandbox API server. Dropping it stops the server.
pub struct SandboxHandle {
    notes: Notes,
    control: std::sync::Mutex<Option<ControlPlane>>,
    data: std::sync::Mutex<Option<DataPlane>>,
    shared: Arc<api::Shared>,
    tls: Option<tls::ServingTls>,
    ca_pem: Option<String>,
    addr: SocketAddr,
    url: String,
    kubeconfig_path: PathBuf,
    owns_kubeconfig: bool,
    load: LoadReport,
    root: CancellationToken,
    listener: Mutex<Option<server::Listener>>,
}

impl std::fmt::Debug for SandboxHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxHandle")
            .field("url", &self.url)
            .field("kubeconfig_path", &self.kubeconfig_path)
            .finish_non_exhaustive()
    }
}

impl SandboxHandle {
    /// `https://127.0.0.1:PORT` (`http://` with [`SandboxBuilder::plain_http`]).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// The PEM of the CA that signed the serving certificate (None over plain HTTP).
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The bearer token the server requires.
    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// What loading the builder's objects did.
    pub fn load_report(&self) -> &LoadReport {
        &self.load
    }

    /// The kube-rs configuration of the sandbox's kubeconfig (context `kubehop-sandbox`).
    pub async fn config(&self) -> Result<kube::Config, SandboxError> {
        let kubeconfig = kube::config::Kubeconfig::read_from(&self.kubeconfig_path)
            .map_err(|e| SandboxError::Client(e.to_string()))?;
        let options = kube::config::KubeConfigOptions {
            context: Some(kubeconfig::CONTEXT.to_string()),
            ..Default::default()
        };
        kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| SandboxError::Client(e.to_string()))
    }

    /// A kube-rs client built from the sandbox's kubeconfig.
    pub async fn client(&self) -> Result<kube::Client, SandboxError> {
        let config = self.config().await?;
        kube::Client::try_from(config).map_err(|e| SandboxError::Client(e.to_string()))
    }

    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    pub fn request_log(&self) -> &RequestLog {
        &self.shared.log
    }

    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Fault: makes `node`'s kube-proxy unhealthy (`healthy: false`) or heals it. Its pod turns
    /// NotReady, its `/healthz` answers 503 and the node's NodePorts stop answering
    /// ([`dataplane::nodes`]). Returns how many kube-proxy pods were switched (0: none runs
    /// on that node).
    pub fn set_node_proxy_healthy(
        &self,
        node: &str,
        healthy: bool,
    ) -> Result<usize, store::StoreError> {
        dataplane::nodes::set_node_proxy_healthy(&self.shared.store, node, healthy)
    }

    /// Fault: cuts (or heals) forwarding between nodes `a` and `b`: a connection entering one
    /// of them for a pod on the other fails ([`dataplane::nodes`]).
    pub fn cut_nodes(&self, a: &str, b: &str, cut: bool) -> Result<(), store::StoreError> {
        dataplane::nodes::cut_nodes(&self.shared.store, a, b, cut)
    }

    /// What the sandbox wants its user to know (addresses it would not bind, ports it could
    /// not bind, objects it did not load).
    pub fn notes(&self) -> &Notes {
        &self.notes
    }

    /// The second octet of the instance's loopback block, when the control plane runs (see
    /// [`addresses`]).
    pub fn address_block(&self) -> Option<u8> {
        self.control
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(|control| control.addresses().base())
    }

    /// Every socket the data plane listens on (empty without a data plane).
    pub fn listening(&self) -> std::collections::BTreeMap<SocketAddr, Listening> {
        self.data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(DataPlane::listening)
            .unwrap_or_default()
    }

    /// Every UDP socket the data plane answers on (empty without a data plane).
    pub fn listening_udp(&self) -> std::collections::BTreeMap<SocketAddr, Listening> {
        self.data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(DataPlane::listening_udp)
            .unwrap_or_default()
    }

    /// The store resourceVersion the data plane's listeners last caught up with (`None`
    /// without a data plane).
    pub fn data_plane_applied(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(DataPlane::applied)
    }

    /// Waits until the controllers have nothing left to do and the data plane's listeners
    /// match the store (returns at once without them). Pods still waiting for their readiness
    /// delay or grace period do not count. Wrap it in a timeout.
    pub async fn settled(&self) {
        let mut idle = self
            .control
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(ControlPlane::idle);
        let mut applied = self.data_plane_applied();
        let mut changes = self.store().changes();
        loop {
            changes.borrow_and_update();
            let revision = self.store().resource_version();
            let controlled = idle
                .as_mut()
                .is_none_or(|idle| *idle.borrow_and_update() >= revision);
            let listened = applied
                .as_mut()
                .is_none_or(|applied| *applied.borrow_and_update() >= revision);
            if controlled && listened {
                return;
            }
            tokio::select! {
                _ = changed(idle.as_mut()) => {}
                _ = changed(applied.as_mut()) => {}
                _ = changes.changed() => {}
            }
        }
    }

    /// Stops listening and drops every connection (watches end, port-forwards close).
    pub async fn stop_listener(&self) {
        if let Some(listener) = self.listener.lock().await.take() {
            listener.stop().await;
        }
    }

    /// Listens again on the same address after [`stop_listener`](Self::stop_listener).
    pub async fn restart_listener(&self) -> Result<(), SandboxError> {
        let mut slot = self.listener.lock().await;
        if slot.is_some() {
            return Ok(());
        }
        let listener = server::bind(self.addr)
            .await
            .map_err(|source| SandboxError::Bind {
                addr: self.addr,
                source,
            })?;
        *slot = Some(server::Listener::spawn(
            listener,
            self.tls.clone(),
            self.shared.clone(),
            &self.root,
        ));
        Ok(())
    }

    /// Stops the server, the controllers and every data-plane listener (waiting until they are
    /// closed) and removes a kubeconfig it wrote to the temp folder.
    pub async fn shutdown(self) {
        self.stop_listener().await;
        self.root.cancel();
        let control = self
            .control
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(mut control) = control {
            control.join().await;
        }
        let data = self
            .data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(mut data) = data {
            data.join().await;
        }
        // Drop removes the kubeconfig.
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        self.root.cancel();
        if self.owns_kubeconfig {
            let _ = std::fs::remove_file(&self.kubeconfig_path);
            if let Some(dir) = self.kubeconfig_path.parent() {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipped_objects_are_noted_once_per_kind_and_reason() {
        let skipped = [
            "apps/v1 ReplicaSet web-1: not served".to_string(),
            "apps/v1 ReplicaSet web-2: not served".to_string(),
            "v1 Secret token: not served".to_string(),
        ];
        assert_eq!(
            skipped_notes(&skipped),
            [
                "not loaded: 2 apps/v1 ReplicaSet objects: not served",
                "not loaded: 1 v1 Secret object: not served",
            ]
        );
    }
}
