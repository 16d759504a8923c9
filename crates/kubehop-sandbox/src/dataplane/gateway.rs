//! The Gateway data plane: a listener on every socket a Gateway of the sandbox's class has
//! ([`gateway_routes`]), each request or connection routed by the engine's Gateway matcher
//! ([`Gateways`]: listener by host, route rule by the Gateway API's precedence, backend by
//! weight with [`RouteMatch::pick`](kubehop_engine::gateway::RouteMatch::pick) over a counter,
//! so every run of requests splits exactly by weight) and the chosen Service dialled like a
//! ClusterIP (the engine's route and picker), as the Ingress controller does
//! ([`ingress`](super::ingress)).
//!
//! - HTTP (and HTTPS, terminated with a certificate from the sandbox CA for the name the
//!   client asks for when a listener there takes it): one request per connection, routed by
//!   Host, path, method, headers and query; `404` when no rule matches, `500` when the drawn
//!   backend is invalid or every weight is 0, then what the Ingress controller answers for a
//!   Service without usable endpoints (`503`), a pod that does not accept (`502`) or a dropped
//!   connection (`504`).
//! - TLS passthrough: the ClientHello's server name (read, not answered: the bytes go on to
//!   the backend as they came) picks the TLSRoute; the connection is spliced to the backend.
//!   A ClientHello whose name no route takes is answered with a fatal `unrecognized_name`
//!   alert ([`UNRECOGNIZED_NAME`], as RFC 6066 section 3 suggests), which tells a client (and
//!   kubehop's probe) "no route for this name" apart from a backend that fails.
//! - TCP: the listener's TCPRoute; spliced.
//!
//! Any other connection that finds no route, or an invalid backend, on a TLS or TCP socket is
//! reset.
//!
//! [`gateway_routes`]: super::gateway_routes

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::bind::{BindPolicy, Failed};
use super::certificates::{self, Presenter};
use super::gateway_routes::{self, Protocol, Socket, Tables};
use super::ingress::{Head, answer, forward, read_head, service_address};
use super::ingress_rules::Backend as ServicePort;
use super::pods::privileged_hint;
use super::policy::Opener;
use super::proxy::{self, Context, Dialed, Door, DoorKind};
use super::{Listening, Running};
use crate::addresses::is_loopback;
use crate::gateway::objects::World;
use crate::notes::Notes;
use crate::tls::SandboxCa;
use kubehop_engine::ClusterSnapshot;
use kubehop_engine::gateway::{Gateways, HttpRequest, RouteMatch};
use kubehop_engine::model::PortRef;
use kubehop_engine::unbound::UnboundReason;

/// The Gateways' HTTPS names; a name no HTTPS listener takes gets `gateway.sandbox.invalid`.
const PRESENTER: Presenter = Presenter {
    who: "Gateway",
    fallback: "gateway.sandbox.invalid",
};

/// The largest ClientHello record read for its server name.
const MAX_HELLO: usize = 16 * 1024 + 5;

/// A TLS record holding a fatal `unrecognized_name` alert (RFC 8446 6, RFC 6066 3).
pub const UNRECOGNIZED_NAME: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 112];

/// The sockets and the snapshot the engine routes with, as of the last sync.
#[derive(Default)]
struct State {
    tables: Tables,
    snapshot: Arc<ClusterSnapshot>,
}

/// What the listeners share.
struct Shared {
    state: watch::Receiver<Arc<State>>,
    proxy: Arc<Context>,
    /// Numbers requests and connections for the weighted pick.
    count: AtomicU64,
    /// `None` without a sandbox CA: HTTPS listeners are not opened.
    tls: Option<TlsAcceptor>,
}

/// What a request or connection is routed to.
enum Routed {
    /// No listener or rule takes it (HTTP 404).
    Nothing,
    /// The rule's weights are all 0, or the drawn backend is invalid (HTTP 500), with why.
    Invalid(String),
    /// A Service port.
    Service(ServicePort),
}

impl Shared {
    /// Routes with the engine: `request` for HTTP, else `sni` for TLS / a TCP connection.
    fn route(&self, local: SocketAddr, request: Option<&HttpRequest>, sni: Option<&str>) -> Routed {
        let state = self.state.borrow().clone();
        let Some(socket) = state.tables.get(&local) else {
            return Routed::Nothing;
        };
        let gateways = Gateways::new(&state.snapshot);
        let Some(gateway) = gateways.gateway(&socket.namespace, &socket.gateway) else {
            return Routed::Nothing;
        };
        let port = i32::from(local.port());
        let host = request.map(|r| r.host.as_str()).or(sni);
        let matched = gateways
            .listener(
                gateway,
                port,
                host.filter(|_| socket.protocol != Protocol::Tcp),
            )
            .and_then(|listener| match request {
                Some(request) => gateways.match_http(gateway, listener, request),
                None => gateways.match_l4(gateway, listener, sni),
            });
        match matched {
            Some(matched) => self.draw(&matched),
            None => Routed::Nothing,
        }
    }

    fn draw(&self, matched: &RouteMatch<'_>) -> Routed {
        let route = format!(
            "{} {}/{}",
            matched.route.kind.as_str(),
            matched.route.namespace,
            matched.route.name
        );
        let n = self.count.fetch_add(1, Ordering::Relaxed);
        let Some(backend) = matched.pick(n) else {
            return Routed::Invalid(format!("{route}: every backend of the rule has weight 0"));
        };
        if let Some(problem) = backend.problem {
            return Routed::Invalid(format!(
                "{route}: backend {} is invalid ({})",
                backend.label(),
                problem.reason()
            ));
        }
        let service = ServicePort {
            namespace: backend.namespace.clone(),
            service: backend.backend.name.clone(),
            port: PortRef::Number(backend.backend.port.unwrap_or(0)),
        };
        Routed::Service(service)
    }
}

/// The Gateway listeners, kept in step with the Gateways and routes.
pub(crate) struct GatewayListeners {
    notes: Notes,
    cancel: CancellationToken,
    state: watch::Sender<Arc<State>>,
    shared: Arc<Shared>,
    policy: BindPolicy,
    running: BTreeMap<SocketAddr, (String, Running)>,
    failed: Failed,
}

impl GatewayListeners {
    pub(crate) fn new(
        (notes, cancel): (Notes, CancellationToken),
        (proxy, policy): (Arc<Context>, BindPolicy),
        ca: Option<Arc<SandboxCa>>,
    ) -> Self {
        let (state, state_rx) = watch::channel(Arc::new(State::default()));
        let tls = ca.and_then(|ca| {
            let state = state_rx.clone();
            let takes = move |name: &str| {
                state
                    .borrow()
                    .tables
                    .values()
                    .any(|s: &Socket| s.protocol == Protocol::Https && s.names(name))
            };
            certificates::acceptor(ca, PRESENTER, &notes, takes)
        });
        GatewayListeners {
            notes,
            cancel,
            state,
            shared: Arc::new(Shared {
                state: state_rx,
                proxy,
                count: AtomicU64::new(0),
                tls,
            }),
            policy,
            running: BTreeMap::new(),
            failed: Failed::new(),
        }
    }

    pub(crate) fn failed(&self) -> &Failed {
        &self.failed
    }

    pub(crate) fn listening(&self) -> BTreeMap<SocketAddr, Listening> {
        self.running
            .iter()
            .map(|(addr, (gateway, _))| {
                let (namespace, name) = gateway.split_once('/').unwrap_or(("", gateway));
                let listening = Listening::Gateway {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                };
                (*addr, listening)
            })
            .collect()
    }

    pub(crate) async fn sync(&mut self, world: &World, snapshot: Arc<ClusterSnapshot>) {
        let tables = gateway_routes::tables(world);
        let mut desired: BTreeMap<SocketAddr, String> = BTreeMap::new();
        for (addr, socket) in &tables {
            let gateway = format!("{}/{}", socket.namespace, socket.gateway);
            if !is_loopback(addr.ip()) {
                self.notes.push(format!(
                    "Gateway {gateway}: no listener on {addr}: the sandbox binds only inside 127.0.0.0/8"
                ));
                continue;
            }
            if socket.protocol == Protocol::Https && self.shared.tls.is_none() {
                continue;
            }
            desired.insert(*addr, gateway);
        }
        self.state
            .send_replace(Arc::new(State { tables, snapshot }));
        super::stop_unwanted(&mut self.running, &desired).await;
        self.failed.retain(|addr, _| desired.contains_key(addr));
        for (addr, gateway) in desired {
            if self.running.contains_key(&addr) {
                continue;
            }
            match self.policy.bind(addr).await {
                Ok(listener) => {
                    self.failed.remove(&addr);
                    let cancel = self.cancel.child_token();
                    let task = tokio::spawn(serve(
                        listener,
                        self.shared.clone(),
                        cancel.clone(),
                        self.cancel.clone(),
                    ));
                    self.running
                        .insert(addr, (gateway, Running::new(cancel, task)));
                }
                Err(err) => {
                    self.failed
                        .insert(addr, UnboundReason::of(&err, addr.port()));
                    self.notes.push(format!(
                        "Gateway {gateway}: cannot listen on {addr}: {err}{}",
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

async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    connections: CancellationToken,
) {
    super::accept_each(listener, cancel, connections, |stream, peer| {
        let local = stream.local_addr().ok()?;
        let shared = shared.clone();
        Some(async move { connection(stream, peer, local, &shared).await })
    })
    .await;
}

async fn connection(mut stream: TcpStream, peer: SocketAddr, local: SocketAddr, shared: &Shared) {
    let protocol = shared.state.borrow().tables.get(&local).map(|s| s.protocol);
    match protocol {
        Some(Protocol::Http) => request(stream, peer, local, false, shared).await,
        Some(Protocol::Https) => {
            if let Some(tls) = &shared.tls
                && let Ok(stream) = tls.accept(stream).await
            {
                request(stream, peer, local, true, shared).await;
            }
        }
        Some(Protocol::TlsPassthrough) => {
            let (hello, name) = read_client_hello(&mut stream).await;
            splice(stream, &hello, name.as_deref(), (peer, local), shared).await;
        }
        Some(Protocol::Tcp) => splice(stream, &[], None, (peer, local), shared).await,
        None => super::proxy::reset(stream),
    }
}

/// The request the engine's matcher reads from a head.
fn parse_request(head: &Head) -> HttpRequest {
    let text = String::from_utf8_lossy(&head.raw[..head.end]);
    let mut lines = text.split("\r\n");
    let method = lines
        .next()
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or("")
        .to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let (path, query) = head.path.split_once('?').unwrap_or((&head.path, ""));
    let query = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    HttpRequest {
        host: strip_port(&head.host).to_ascii_lowercase(),
        method,
        path: path.split('#').next().unwrap_or("/").to_owned(),
        query,
        headers,
    }
}

fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

/// One HTTP request: matched, a backend drawn, proxied.
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
    let parsed = parse_request(&head);
    match shared.route(local, Some(&parsed), None) {
        Routed::Service(backend) => {
            forward(stream, &head, &backend, (peer, https), &shared.proxy).await;
        }
        Routed::Invalid(why) => answer(&mut stream, 500, "Internal Server Error", &why).await,
        Routed::Nothing => {
            let body = format!(
                "kubehop sandbox gateway: no route for host {:?} and path {:?}",
                parsed.host, head.path
            );
            answer(&mut stream, 404, "Not Found", &body).await;
        }
    }
}

/// TLS passthrough and TCP: the route's backend drawn, dialled, and the bytes already read
/// (`prefix`) sent on before splicing.
async fn splice(
    mut stream: TcpStream,
    prefix: &[u8],
    name: Option<&str>,
    (peer, local): (SocketAddr, SocketAddr),
    shared: &Shared,
) {
    let routed = shared.route(local, None, name);
    let Routed::Service(backend) = routed else {
        if matches!(routed, Routed::Nothing) && prefix.first() == Some(&0x16) {
            // Best effort: the client may already be gone.
            let _ = stream.write_all(&UNRECOGNIZED_NAME).await;
            let _ = stream.shutdown().await;
            return;
        }
        return super::proxy::reset(stream);
    };
    let model = shared.proxy.model();
    let Ok(address) = service_address(&model, &backend) else {
        return super::proxy::reset(stream);
    };
    let door = Door {
        kind: DoorKind::ClusterIp,
        namespace: backend.namespace.clone(),
        service: backend.service.clone(),
    };
    match proxy::dial(
        &shared.proxy,
        &door,
        (address, peer),
        Opener::IngressController,
    )
    .await
    {
        Dialed::Connected(mut upstream) => {
            if upstream.write_all(prefix).await.is_ok() {
                let _ = tokio::io::copy_bidirectional(&mut stream, &mut upstream).await;
            }
        }
        _ => super::proxy::reset(stream),
    }
}

/// Reads the first TLS record (a ClientHello, if the client speaks TLS) and the server name
/// it asks for; the bytes read are returned to be passed on.
async fn read_client_hello(stream: &mut TcpStream) -> (Vec<u8>, Option<String>) {
    let mut raw = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        if raw.len() >= 5 {
            let wanted = 5 + usize::from(u16::from_be_bytes([raw[3], raw[4]]));
            if raw[0] != 0x16 || raw.len() >= wanted.min(MAX_HELLO) {
                let name = server_name(&raw);
                return (raw, name);
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return (raw, None),
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A cursor over a byte slice that reads big-endian lengths.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn number(&mut self, n: usize) -> Option<usize> {
        Some(
            self.take(n)?
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b)),
        )
    }
    fn vector(&mut self, length_bytes: usize) -> Option<&'a [u8]> {
        let n = self.number(length_bytes)?;
        self.take(n)
    }
}

/// The server_name extension of a TLS record holding a ClientHello (RFC 8446 4.1.2, RFC 6066
/// section 3).
pub(crate) fn server_name(record: &[u8]) -> Option<String> {
    let mut r = Bytes(record);
    if r.number(1)? != 0x16 {
        return None;
    }
    r.take(2)?;
    let mut hello = Bytes(r.vector(2)?);
    if hello.number(1)? != 1 {
        return None;
    }
    let mut body = Bytes(hello.vector(3)?);
    body.take(2 + 32)?;
    body.vector(1)?;
    body.vector(2)?;
    body.vector(1)?;
    let mut extensions = Bytes(body.vector(2)?);
    while let (Some(kind), Some(data)) = (extensions.number(2), extensions.vector(2)) {
        if kind != 0 {
            continue;
        }
        let mut list = Bytes(Bytes(data).vector(2)?);
        while let (Some(name_type), Some(name)) = (list.number(1), list.vector(2)) {
            if name_type == 0 {
                return std::str::from_utf8(name).ok().map(str::to_ascii_lowercase);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello as rustls writes it, captured from a real handshake.
    async fn client_hello(name: &str) -> Vec<u8> {
        use tokio_rustls::TlsConnector;
        use tokio_rustls::rustls::crypto::ring::default_provider;
        use tokio_rustls::rustls::pki_types::ServerName;
        use tokio_rustls::rustls::{ClientConfig, RootCertStore};
        let config = ClientConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth();
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        let connector = TlsConnector::from(Arc::new(config));
        let name = ServerName::try_from(name.to_owned()).expect("a name");
        let handshake = tokio::spawn(async move { connector.connect(name, client).await });
        let mut raw = vec![0u8; 64 * 1024];
        let n = server.read(&mut raw).await.expect("the hello");
        raw.truncate(n);
        handshake.abort();
        raw
    }

    #[tokio::test]
    async fn the_server_name_is_read_from_a_real_client_hello() {
        let hello = client_hello("Db.Shop.Test").await;
        assert_eq!(server_name(&hello).as_deref(), Some("db.shop.test"));
        assert_eq!(server_name(&hello[..20]), None);
        assert_eq!(server_name(b"GET / HTTP/1.1\r\n\r\n"), None);
    }

    #[test]
    fn a_request_head_becomes_what_the_matcher_reads() {
        let raw = b"POST /cart/items?id=7&x=a%20b HTTP/1.1\r\nHost: Shop.Test:8080\r\nX-Canary: yes\r\n\r\n";
        let head = Head {
            host: "Shop.Test:8080".into(),
            path: "/cart/items?id=7&x=a%20b".into(),
            raw: raw.to_vec(),
            end: raw.len(),
        };
        let request = parse_request(&head);
        assert_eq!(request.host, "shop.test");
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/cart/items");
        assert_eq!(
            request.query,
            [("id".into(), "7".into()), ("x".into(), "a b".into())]
        );
        assert!(request.headers.contains(&("x-canary".into(), "yes".into())));
    }
}
