//! The sandbox's Ingress controller: for every Ingress it serves ([`ingress_rules`]), a
//! listener on each of its status IPs, port 80 (HTTP) and port 443 (HTTPS with a certificate
//! from the sandbox CA for the name the client asks for, when a rule names it).
//!
//! A request is routed by its Host and path to a Service port, then dialled like kube-proxy
//! dials a ClusterIP (the engine's route and picker, from the first node) and proxied: the
//! request goes to the picked pod with `X-Forwarded-For`, `X-Forwarded-Host`,
//! `X-Forwarded-Proto` and `Connection: close` (one request per connection, so every request
//! is routed), the answer comes back as it is. What a client sees otherwise, as from a real
//! controller: `404` when no rule matches (the default backend), `503` when the Service has no
//! usable endpoint (or does not exist, or has no such port), `502` when the picked pod does
//! not accept, `504` when kube-proxy would drop the connection.
//!
//! [`ingress_rules`]: super::ingress_rules

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::bind::{BindPolicy, Failed};
use super::certificates::{self, Presenter};
use super::ingress_rules::{self, Backend, Tables};
use super::pods::privileged_hint;
use super::policy::Opener;
use super::proxy::{self, Context, Dialed, Door, DoorKind};
use super::{Listening, Running};
use crate::addresses::is_loopback;
use crate::notes::Notes;
use crate::resources::ResourceId;
use crate::store::{Store, StoreError, WriteOptions};
use crate::tls::SandboxCa;

/// The Ingress controller's HTTPS names; a name no rule has gets `ingress.sandbox.invalid`.
const PRESENTER: Presenter = Presenter {
    who: "Ingress controller",
    fallback: "ingress.sandbox.invalid",
};
use kubehop_engine::model::{PortRef, Protocol};
use kubehop_engine::unbound::UnboundReason;
use kubehop_engine::{ClusterSnapshot, ProxyModel};
use serde_json::json;

/// Creates the controller's IngressClass ([`INGRESS_CLASS`], the default class) unless one of
/// that name exists (a scenario or a replayed dump may bring its own).
///
/// [`INGRESS_CLASS`]: ingress_rules::INGRESS_CLASS
pub fn install_class(store: &Store) -> Result<(), StoreError> {
    let class = json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {
            "name": ingress_rules::INGRESS_CLASS,
            "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"},
            "labels": {"app.kubernetes.io/managed-by": "kubehop-sandbox"},
        },
        "spec": {"controller": ingress_rules::INGRESS_CONTROLLER},
    });
    if store
        .get_object(ResourceId::IngressClasses, "", ingress_rules::INGRESS_CLASS)
        .is_some()
    {
        return Ok(());
    }
    match store.create_object(
        ResourceId::IngressClasses,
        class,
        WriteOptions::controller(),
    ) {
        Ok(_) | Err(StoreError::AlreadyExists { .. }) => Ok(()),
        Err(err) => Err(err),
    }
}

/// The Ingress controller's HTTP port.
pub const HTTP_PORT: u16 = 80;
/// The Ingress controller's HTTPS port.
pub const HTTPS_PORT: u16 = 443;
/// The largest request head the controller reads.
const MAX_HEAD: usize = 64 * 1024;

/// What the listeners share.
struct Shared {
    tables: watch::Receiver<Arc<Tables>>,
    proxy: Arc<Context>,
}

/// The controller's listeners, kept in step with the Ingresses.
pub(crate) struct IngressListeners {
    notes: Notes,
    cancel: CancellationToken,
    tables: watch::Sender<Arc<Tables>>,
    shared: Arc<Shared>,
    /// `None` without a sandbox CA (plain HTTP): no HTTPS listeners.
    tls: Option<TlsAcceptor>,
    policy: BindPolicy,
    running: BTreeMap<SocketAddr, Running>,
    /// Wanted listeners that could not be opened.
    failed: Failed,
}

impl IngressListeners {
    pub(crate) fn new(
        notes: Notes,
        cancel: CancellationToken,
        (proxy, policy): (Arc<Context>, BindPolicy),
        ca: Option<Arc<SandboxCa>>,
    ) -> Self {
        let (tables, tables_rx) = watch::channel(Arc::new(Tables::new()));
        let tls = ca.and_then(|ca| {
            let tables = tables_rx.clone();
            let takes = move |name: &str| tables.borrow().values().any(|t| t.names_host(name));
            certificates::acceptor(ca, PRESENTER, &notes, takes)
        });
        IngressListeners {
            notes,
            cancel,
            tables,
            shared: Arc::new(Shared {
                tables: tables_rx,
                proxy,
            }),
            tls,
            policy,
            running: BTreeMap::new(),
            failed: Failed::new(),
        }
    }

    /// The listeners the last sync wanted and could not open.
    pub(crate) fn failed(&self) -> &Failed {
        &self.failed
    }

    pub(crate) fn listening(&self) -> BTreeMap<SocketAddr, Listening> {
        self.running
            .keys()
            .map(|addr| (*addr, Listening::Ingress))
            .collect()
    }

    pub(crate) async fn sync(&mut self, snapshot: &ClusterSnapshot) {
        let tables = ingress_rules::tables(snapshot.ingresses.iter().map(AsRef::as_ref));
        let mut desired: BTreeSet<SocketAddr> = BTreeSet::new();
        for ip in tables.keys() {
            if !is_loopback(*ip) {
                self.notes.push(format!(
                    "Ingress controller: no listener on {ip}: the sandbox binds only inside 127.0.0.0/8"
                ));
                continue;
            }
            desired.insert(SocketAddr::new(*ip, HTTP_PORT));
            if self.tls.is_some() {
                desired.insert(SocketAddr::new(*ip, HTTPS_PORT));
            }
        }
        self.tables.send_replace(Arc::new(tables));
        let stale: Vec<SocketAddr> = self
            .running
            .keys()
            .filter(|addr| !desired.contains(addr))
            .copied()
            .collect();
        for addr in stale {
            if let Some(running) = self.running.remove(&addr) {
                running.stop().await;
            }
        }
        self.failed.retain(|addr, _| desired.contains(addr));
        for addr in desired {
            if self.running.contains_key(&addr) {
                continue;
            }
            match self.policy.bind(addr).await {
                Ok(listener) => {
                    self.failed.remove(&addr);
                    let tls = (addr.port() == HTTPS_PORT)
                        .then(|| self.tls.clone())
                        .flatten();
                    let cancel = self.cancel.child_token();
                    let task = tokio::spawn(serve(
                        listener,
                        tls,
                        self.shared.clone(),
                        cancel.clone(),
                        self.cancel.clone(),
                    ));
                    self.running.insert(addr, Running::new(cancel, task));
                }
                Err(err) => {
                    self.failed
                        .insert(addr, UnboundReason::of(&err, addr.port()));
                    self.notes.push(format!(
                        "Ingress controller: cannot listen on {addr}: {err}{}",
                        privileged_hint(addr.port(), &err)
                    ));
                }
            }
        }
    }

    pub(crate) async fn stop_all(&mut self) {
        for (_, running) in std::mem::take(&mut self.running) {
            running.stop().await;
        }
    }
}

async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    connections: CancellationToken,
) {
    super::accept_each(listener, cancel, connections, |stream, peer| {
        let local = stream.local_addr().ok()?;
        let shared = shared.clone();
        let tls = tls.clone();
        Some(async move {
            match tls {
                Some(tls) => {
                    if let Ok(stream) = tls.accept(stream).await {
                        request(stream, peer, local, true, &shared).await;
                    }
                }
                None => request(stream, peer, local, false, &shared).await,
            }
        })
    })
    .await;
}

/// What the controller reads from a request head (the Gateway data plane reads it too).
pub(crate) struct Head {
    pub(crate) host: String,
    pub(crate) path: String,
    /// The head as received, then everything after it that was read with it.
    pub(crate) raw: Vec<u8>,
    pub(crate) end: usize,
}

/// Reads a request head; `None` when the client closes first or sends too much.
pub(crate) async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Head> {
    let mut raw = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    let end = loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if raw.len() > MAX_HEAD {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&chunk[..n]);
    };
    let text = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let mut parts = lines.next().unwrap_or("").split_whitespace().skip(1);
    let target = parts.next().unwrap_or("/").to_owned();
    let mut host = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("host"))
        .map(|(_, value)| value.trim().to_owned())
        .unwrap_or_default();
    // An absolute-form target carries the host itself.
    let path = match target.split_once("://") {
        Some((_, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            host = authority.to_owned();
            if path.is_empty() { "/" } else { path }.to_owned()
        }
        None => target,
    };
    Some(Head {
        host,
        path,
        raw,
        end,
    })
}

/// A short plain-text answer, then the connection closes.
fn plain(status: u16, reason: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nServer: kubehop-sandbox-ingress\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}\n",
        body.len() + 1
    )
}

pub(crate) async fn answer<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    reason: &str,
    body: &str,
) {
    if stream
        .write_all(plain(status, reason, body).as_bytes())
        .await
        .is_ok()
    {
        let _ = stream.shutdown().await;
    }
}

/// One client connection: one request, routed and proxied.
async fn request<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    local: SocketAddr,
    https: bool,
    shared: &Shared,
) {
    let Some(head) = read_head(&mut stream).await else {
        return;
    };
    let backend = {
        let tables = shared.tables.borrow();
        tables
            .get(&local.ip())
            .and_then(|table| table.route(&head.host, &head.path))
            .cloned()
    };
    let Some(backend) = backend else {
        let body = format!(
            "kubehop sandbox ingress: no rule for host {:?} and path {:?} (default backend)",
            head.host, head.path
        );
        return answer(&mut stream, 404, "Not Found", &body).await;
    };
    forward(stream, &head, &backend, (peer, https), &shared.proxy).await;
}

/// Proxies one request to a Service port, dialled like a ClusterIP (the engine's route and
/// picker); what goes wrong becomes the answer a controller gives (503, 502, 504).
pub(crate) async fn forward<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    head: &Head,
    backend: &Backend,
    (peer, https): (SocketAddr, bool),
    proxy: &Context,
) {
    let model = proxy.model();
    let address = match service_address(&model, backend) {
        Ok(address) => address,
        Err(why) => return answer(&mut stream, 503, "Service Unavailable", &why).await,
    };
    let door = Door {
        kind: DoorKind::ClusterIp,
        namespace: backend.namespace.clone(),
        service: backend.service.clone(),
    };
    let service = format!("Service {}/{}", backend.namespace, backend.service);
    match proxy::dial(proxy, &door, (address, peer), Opener::IngressController).await {
        Dialed::Connected(mut upstream) => {
            let forwarded = forwarded_head(head, peer, https);
            if upstream.write_all(&forwarded).await.is_err()
                || upstream.write_all(&head.raw[head.end..]).await.is_err()
            {
                return answer(&mut stream, 502, "Bad Gateway", &service).await;
            }
            let _ = tokio::io::copy_bidirectional(&mut stream, &mut upstream).await;
        }
        Dialed::Rejected => {
            let body = format!("{service} has no usable endpoint");
            answer(&mut stream, 503, "Service Unavailable", &body).await;
        }
        Dialed::Denied => {
            let body = format!(
                "the endpoint of {service} reset the connection: NetworkPolicy does not admit the Ingress controller"
            );
            answer(&mut stream, 502, "Bad Gateway", &body).await;
        }
        Dialed::Failed => {
            let body = format!("the endpoint of {service} did not accept the connection");
            answer(&mut stream, 502, "Bad Gateway", &body).await;
        }
        Dialed::Dropped => {
            let body = format!("kube-proxy drops connections to {service} from this node");
            answer(&mut stream, 504, "Gateway Timeout", &body).await;
        }
    }
}

/// The ClusterIP:port of a backend; why not, for a 503.
pub(crate) fn service_address(model: &ProxyModel, backend: &Backend) -> Result<SocketAddr, String> {
    let name = format!("Service {}/{}", backend.namespace, backend.service);
    let chain = model
        .services
        .iter()
        .find(|c| c.namespace == backend.namespace && c.name == backend.service)
        .ok_or_else(|| format!("{name} does not exist"))?;
    let port = chain
        .ports
        .iter()
        .filter(|p| p.protocol == Protocol::Tcp)
        .find(|p| match &backend.port {
            PortRef::Name(wanted) => p.name.as_deref() == Some(wanted.as_str()),
            PortRef::Number(wanted) => p.port == *wanted,
        })
        .ok_or_else(|| format!("{name} has no port {}", backend.port))?;
    let hop = port
        .cluster_ip
        .ok_or_else(|| format!("{name} has no ClusterIP"))?;
    let number = u16::try_from(hop.port).map_err(|_| format!("{name}: bad port {}", hop.port))?;
    Ok(SocketAddr::new(hop.ip, number))
}

/// The request head sent to the pod: hop-by-hop connection headers replaced (one request per
/// connection, unless it is an upgrade), forwarding headers added.
fn forwarded_head(head: &Head, peer: SocketAddr, https: bool) -> Vec<u8> {
    let text = String::from_utf8_lossy(&head.raw[..head.end]);
    let mut lines = text.split("\r\n").filter(|line| !line.is_empty());
    let mut out = String::with_capacity(head.end + 160);
    out.push_str(lines.next().unwrap_or(""));
    out.push_str("\r\n");
    let mut upgrade = false;
    for line in lines {
        let name = line.split(':').next().unwrap_or("").trim();
        let value = line.split_once(':').map_or("", |(_, v)| v.trim());
        if name.eq_ignore_ascii_case("connection") {
            upgrade |= value.to_ascii_lowercase().contains("upgrade");
            continue;
        }
        if ["keep-alive", "proxy-connection"]
            .iter()
            .any(|hop| name.eq_ignore_ascii_case(hop))
        {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    let client: IpAddr = peer.ip();
    let proto = if https { "https" } else { "http" };
    out.push_str(&format!(
        "X-Forwarded-For: {client}\r\nX-Real-IP: {client}\r\nX-Forwarded-Host: {}\r\nX-Forwarded-Proto: {proto}\r\nConnection: {}\r\n\r\n",
        head.host,
        if upgrade { "Upgrade" } else { "close" }
    ));
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn head_of(raw: &[u8]) -> Head {
        let mut reader = raw;
        read_head(&mut reader).await.expect("a head")
    }

    #[tokio::test]
    async fn the_pod_gets_the_request_with_forwarding_headers_and_one_request_per_connection() {
        let raw = b"GET /api?x=1 HTTP/1.1\r\nHost: shop.test\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nAccept: */*\r\n\r\nBODY";
        let head = head_of(raw).await;
        assert_eq!(
            (head.host.as_str(), head.path.as_str()),
            ("shop.test", "/api?x=1")
        );
        assert_eq!(&head.raw[head.end..], b"BODY");
        let peer: SocketAddr = "127.0.0.9:5000".parse().unwrap();
        let sent = String::from_utf8(forwarded_head(&head, peer, true)).unwrap();
        assert_eq!(
            sent,
            "GET /api?x=1 HTTP/1.1\r\nHost: shop.test\r\nAccept: */*\r\nX-Forwarded-For: 127.0.0.9\r\nX-Real-IP: 127.0.0.9\r\nX-Forwarded-Host: shop.test\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n"
        );
    }

    #[tokio::test]
    async fn an_upgrade_stays_an_upgrade_and_an_absolute_target_names_the_host() {
        let raw = b"GET http://docs.test/ws HTTP/1.1\r\nHost: ignored\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
        let head = head_of(raw).await;
        assert_eq!(
            (head.host.as_str(), head.path.as_str()),
            ("docs.test", "/ws")
        );
        let peer: SocketAddr = "127.0.0.9:5000".parse().unwrap();
        let sent = String::from_utf8(forwarded_head(&head, peer, false)).unwrap();
        assert!(sent.contains("Upgrade: websocket\r\n"), "{sent}");
        assert!(sent.ends_with("Connection: Upgrade\r\n\r\n"), "{sent}");
    }

    #[tokio::test]
    async fn a_client_that_closes_before_the_head_ends_gets_nothing() {
        let mut reader: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n";
        assert!(read_head(&mut reader).await.is_none());
    }
}
