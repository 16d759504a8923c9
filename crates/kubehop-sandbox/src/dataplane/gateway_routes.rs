//! The Gateway data plane's routing tables: for every socket a Gateway of the sandbox's class
//! listens on (its status address and a listener's port), the listeners there and the routes
//! the controller accepted on them ([`crate::gateway::attach`], so what is served is exactly
//! what the status says), and how a request picks a rule and a backend.
//!
//! HTTP, in the Gateway API's order: the listener whose hostname matches the request's Host
//! most specifically (exact, then the longest wildcard, then none); among its routes whose
//! hostnames match, the most specific route hostname; then among the matching rules an
//! `Exact` path, the longest `PathPrefix` (whole path elements), a method match, the most
//! header matches, the most query parameter matches; ties go to the oldest route, then the
//! first by namespace/name, then the first rule. Matches by regular expression are not
//! supported by the sandbox (they match nothing). TLS passthrough picks the route by the
//! ClientHello's server name the same way; TCP takes the oldest route on the listener.
//!
//! A rule's backends are chosen by weight; an invalid backend (what `ResolvedRefs: False`
//! names) stays in the draw and the requests it draws get a 500, as the spec says; a rule whose
//! weights are all 0 answers 500 too.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use kubehop_engine::model::PortRef;

use super::ingress_rules::Backend as ServicePort;
use crate::gateway::attach::{self, Parent};
use crate::gateway::objects::{HttpMatch, PathKind, Route, Rule, World};

/// One weighted backend of a rule: a Service port, or why it is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub target: Result<ServicePort, String>,
    pub weight: u32,
}

/// A rule of an attached route, with what ranks it.
#[derive(Debug, Clone, PartialEq)]
struct Attached {
    /// `namespace/name` of the route.
    route: String,
    created: String,
    hostnames: Vec<String>,
    index: usize,
    matches: Vec<HttpMatch>,
    backends: Vec<Backend>,
}

/// One listener on a socket.
#[derive(Debug, Clone, PartialEq)]
pub struct Served {
    /// `namespace/name` of the Gateway and the listener's name.
    pub gateway: String,
    pub listener: String,
    hostname: Option<String>,
    rules: Vec<Attached>,
}

/// What a socket speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http,
    Https,
    TlsPassthrough,
    Tcp,
}

/// Every listener on one socket (several when their hostnames differ).
#[derive(Debug, Clone, PartialEq)]
pub struct Socket {
    pub protocol: Protocol,
    pub listeners: Vec<Served>,
}

/// The tables, by socket.
pub type Tables = BTreeMap<SocketAddr, Socket>;

fn protocol_of(protocol: &str, mode: &str) -> Option<Protocol> {
    match (protocol, mode) {
        ("HTTP", _) => Some(Protocol::Http),
        ("HTTPS", "Terminate") => Some(Protocol::Https),
        ("TLS", "Passthrough") => Some(Protocol::TlsPassthrough),
        ("TLS", "Terminate") | ("TCP", _) => Some(Protocol::Tcp),
        _ => None,
    }
}

fn backends(world: &World, route: &Route, rule: &Rule) -> Vec<Backend> {
    rule.backends
        .iter()
        .map(|b| Backend {
            target: attach::backend(world, route, b)
                .map(|()| ServicePort {
                    namespace: b.namespace.clone(),
                    service: b.name.clone(),
                    port: PortRef::Number(b.port.unwrap_or(0)),
                })
                .map_err(|(reason, message)| format!("{reason}: {message}")),
            weight: b.weight,
        })
        .collect()
}

/// Builds the tables from what the controller reads (Gateways with a status address only).
pub fn tables(world: &World) -> Tables {
    let mut tables = Tables::new();
    let mut served: BTreeMap<(usize, usize), Vec<Attached>> = BTreeMap::new();
    for route in &world.routes {
        for parent in &route.parents {
            let Parent::Ours {
                gateway,
                accepted: Ok(listeners),
                ..
            } = attach::parent(world, route, parent)
            else {
                continue;
            };
            for listener in listeners {
                let rules = served.entry((gateway, listener)).or_default();
                if rules
                    .iter()
                    .any(|r| r.route == format!("{}/{}", route.namespace, route.name))
                {
                    continue;
                }
                for (index, rule) in route.rules.iter().enumerate() {
                    rules.push(Attached {
                        route: format!("{}/{}", route.namespace, route.name),
                        created: route.created.clone(),
                        hostnames: route.hostnames.clone(),
                        index,
                        matches: rule.matches.clone(),
                        backends: backends(world, route, rule),
                    });
                }
            }
        }
    }
    for (g, gateway) in world.gateways.iter().enumerate() {
        if !world.is_ours(&gateway.class) {
            continue;
        }
        for (l, listener) in gateway.listeners.iter().enumerate() {
            let Some(protocol) = protocol_of(&listener.protocol, &listener.tls_mode) else {
                continue;
            };
            if attach::conflict(gateway, l).is_some() {
                continue;
            }
            for ip in &gateway.addresses {
                let socket = tables
                    .entry(SocketAddr::new(IpAddr::V4(*ip), listener.port))
                    .or_insert_with(|| Socket {
                        protocol,
                        listeners: Vec::new(),
                    });
                if socket.protocol != protocol {
                    continue;
                }
                socket.listeners.push(Served {
                    gateway: format!("{}/{}", gateway.namespace, gateway.name),
                    listener: listener.name.clone(),
                    hostname: listener.hostname.clone(),
                    rules: served.get(&(g, l)).cloned().unwrap_or_default(),
                });
            }
        }
    }
    tables
}

/// How specifically `pattern` (a hostname or wildcard; `None`: any) matches `host`:
/// (non-wildcard characters matched, characters matched), or no match.
fn host_rank(pattern: Option<&str>, host: &str) -> Option<(usize, usize)> {
    match pattern {
        None => Some((0, 0)),
        Some(p) if p == host => Some((p.len(), p.len())),
        Some(p) if p.starts_with('*') && attach::covers(p, host) => Some((0, p.len())),
        Some(_) => None,
    }
}

/// The best rank of a route's hostnames for `host` (no hostnames: any host, least specific).
fn route_host_rank(hostnames: &[String], host: &str) -> Option<(usize, usize)> {
    if hostnames.is_empty() {
        return Some((0, 0));
    }
    hostnames
        .iter()
        .filter_map(|h| host_rank(Some(h), host))
        .max()
}

/// A request as the HTTP matcher reads it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Lowercase, without port.
    pub host: String,
    pub method: String,
    /// Without query.
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Lowercase names.
    pub headers: Vec<(String, String)>,
}

fn path_rank(kind: PathKind, value: &str, path: &str) -> Option<(bool, usize)> {
    match kind {
        PathKind::Exact => (value == path).then_some((true, value.len())),
        PathKind::Prefix => {
            let prefix = value.trim_end_matches('/');
            let rest = path.strip_prefix(prefix)?;
            (rest.is_empty() || rest.starts_with('/')).then_some((false, prefix.len()))
        }
        PathKind::Regex => None,
    }
}

/// How a match ranks for `request`: (exact path, prefix length, method, headers, query).
fn match_rank(m: &HttpMatch, request: &Request) -> Option<(bool, usize, bool, usize, usize)> {
    if m.unsupported {
        return None;
    }
    let (exact, length) = path_rank(m.path.0, &m.path.1, &request.path)?;
    if m.method
        .as_ref()
        .is_some_and(|wanted| *wanted != request.method)
    {
        return None;
    }
    let headers_match = m
        .headers
        .iter()
        .all(|(name, value)| request.headers.iter().any(|(n, v)| n == name && v == value));
    let query_match = m
        .query
        .iter()
        .all(|(name, value)| request.query.iter().any(|(n, v)| n == name && v == value));
    (headers_match && query_match).then_some((
        exact,
        length,
        m.method.is_some(),
        m.headers.len(),
        m.query.len(),
    ))
}

impl Socket {
    /// The listener whose hostname matches `host` most specifically.
    fn listener_for(&self, host: &str) -> Option<&Served> {
        self.listeners
            .iter()
            .filter_map(|l| Some((host_rank(l.hostname.as_deref(), host)?, l)))
            .max_by_key(|(rank, _)| *rank)
            .map(|(_, l)| l)
    }

    /// The backends of the rule an HTTP request matches (`None`: no rule, a 404), and the
    /// route it belongs to.
    pub fn http(&self, request: &Request) -> Option<(&str, &[Backend])> {
        let listener = self.listener_for(&request.host)?;
        let mut best = None;
        for rule in &listener.rules {
            let Some(host) = route_host_rank(&rule.hostnames, &request.host) else {
                continue;
            };
            let Some(matched) = rule
                .matches
                .iter()
                .filter_map(|m| match_rank(m, request))
                .max()
            else {
                continue;
            };
            let key = (
                host,
                matched,
                Reverse(rule.created.as_str()),
                Reverse(rule.route.as_str()),
                Reverse(rule.index),
            );
            if best.as_ref().is_none_or(|(b, _)| key > *b) {
                best = Some((key, rule));
            }
        }
        best.map(|(_, rule)| (rule.route.as_str(), rule.backends.as_slice()))
    }

    /// The backends for a TLS connection asking for `name` (passthrough), or for a TCP
    /// connection (`name` ignored): the first rule of the best route.
    pub fn stream(&self, name: Option<&str>) -> Option<(&str, &[Backend])> {
        let name = name.unwrap_or("").to_ascii_lowercase();
        let tls = self.protocol == Protocol::TlsPassthrough;
        let listener = if tls {
            self.listener_for(&name)?
        } else {
            self.listeners.first()?
        };
        listener
            .rules
            .iter()
            .filter_map(|rule| {
                let host = if tls {
                    route_host_rank(&rule.hostnames, &name)?
                } else {
                    (0, 0)
                };
                Some((
                    (
                        host,
                        Reverse(rule.created.as_str()),
                        Reverse(rule.route.as_str()),
                        Reverse(rule.index),
                    ),
                    rule,
                ))
            })
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, rule)| (rule.route.as_str(), rule.backends.as_slice()))
    }

    /// The hostnames TLS certificates may be issued for on this socket: whether `name` is
    /// one of its listeners' (a listener without hostname takes any name).
    pub fn names(&self, name: &str) -> bool {
        self.listeners
            .iter()
            .any(|l| host_rank(l.hostname.as_deref(), name).is_some())
    }
}

/// Draws a backend by weight with `roll` (any number); `None` when every weight is 0.
pub fn draw(backends: &[Backend], roll: u64) -> Option<&Backend> {
    let total: u64 = backends.iter().map(|b| u64::from(b.weight)).sum();
    if total == 0 {
        return None;
    }
    let mut point = roll % total;
    for backend in backends {
        let weight = u64::from(backend.weight);
        if point < weight {
            return Some(backend);
        }
        point -= weight;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::tests::{gw, test_crds};
    use crate::gateway::{CONTROLLER_NAME, GROUP};
    use crate::store::Store;
    use rstest::rstest;
    use serde_json::{Value, json};

    const ADDRESS: &str = "127.2.0.7";

    fn service(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "shop"},
               "spec": {"ports": [{"port": 80}]}})
    }

    fn backend(name: &str, weight: u32) -> Value {
        json!({"name": name, "port": 80, "weight": weight})
    }

    fn world(routes: Vec<Value>) -> World {
        let store = Store::new(1000);
        let mut objects = test_crds();
        objects
            .push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}));
        for name in ["web", "api", "canary", "v2", "exact", "admin", "db"] {
            objects.push(service(name));
        }
        objects.push(
            json!({"apiVersion": format!("{GROUP}/v1"), "kind": "GatewayClass",
            "metadata": {"name": "sandbox"}, "spec": {"controllerName": CONTROLLER_NAME}}),
        );
        let mut gateway = gw(
            "Gateway",
            "shop",
            "edge",
            json!({"gatewayClassName": "sandbox", "listeners": [
                {"name": "http", "port": 8080, "protocol": "HTTP"},
                {"name": "admin", "port": 8080, "protocol": "HTTP", "hostname": "admin.shop.test"},
                {"name": "tls", "port": 8443, "protocol": "TLS", "tls": {"mode": "Passthrough"}},
                {"name": "tcp", "port": 5432, "protocol": "TCP"},
            ]}),
        );
        gateway["status"] = json!({"addresses": [{"type": "IPAddress", "value": ADDRESS}]});
        objects.push(gateway);
        objects.extend(routes);
        let report = store.load_objects(objects);
        assert!(report.skipped.is_empty(), "{:?}", report.skipped);
        World::read(&store)
    }

    fn shop() -> Tables {
        let http = |name: &str, spec: Value| gw("HTTPRoute", "shop", name, spec);
        tables(&world(vec![
            http(
                "main",
                json!({"parentRefs": [{"name": "edge", "sectionName": "http"}],
                "hostnames": ["shop.test", "*.shop.test"],
                "rules": [
                    {"backendRefs": [backend("web", 1)]},
                    {"matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
                     "backendRefs": [backend("api", 1)]},
                    {"matches": [{"path": {"type": "PathPrefix", "value": "/api"},
                                  "headers": [{"name": "X-Canary", "value": "yes"}]}],
                     "backendRefs": [backend("canary", 1)]},
                    {"matches": [{"path": {"type": "PathPrefix", "value": "/api"}, "method": "POST"}],
                     "backendRefs": [backend("v2", 1)]},
                    {"matches": [{"path": {"type": "Exact", "value": "/api/health"}}],
                     "backendRefs": [backend("exact", 1)]},
                    {"matches": [{"path": {"type": "PathPrefix", "value": "/broken"}}],
                     "backendRefs": [backend("gone", 1)]},
                ]}),
            ),
            http(
                "admin",
                json!({"parentRefs": [{"name": "edge", "sectionName": "admin"}],
                "rules": [{"backendRefs": [backend("admin", 1)]}]}),
            ),
            gw(
                "TLSRoute",
                "shop",
                "db-tls",
                json!({"parentRefs": [{"name": "edge", "sectionName": "tls"}],
                "hostnames": ["db.shop.test"], "rules": [{"backendRefs": [backend("db", 1)]}]}),
            ),
            gw(
                "TCPRoute",
                "shop",
                "db-tcp",
                json!({"parentRefs": [{"name": "edge", "sectionName": "tcp"}],
                "rules": [{"backendRefs": [{"name": "db", "port": 80}]}]}),
            ),
        ]))
    }

    fn socket(port: u16) -> SocketAddr {
        SocketAddr::new(ADDRESS.parse().unwrap(), port)
    }

    #[rstest]
    #[case("shop.test", "GET", "/", &[], Some("web"))]
    #[case("a.shop.test", "GET", "/cart", &[], Some("web"))]
    #[case("shop.test", "GET", "/api", &[], Some("api"))]
    #[case("shop.test", "GET", "/apix", &[], Some("web"))]
    #[case("shop.test", "GET", "/api/items", &[("x-canary", "yes")], Some("canary"))]
    #[case("shop.test", "POST", "/api/items", &[], Some("v2"))]
    #[case("shop.test", "POST", "/api/items", &[("x-canary", "yes")], Some("v2"))]
    #[case("shop.test", "GET", "/api/health", &[("x-canary", "yes")], Some("exact"))]
    #[case("admin.shop.test", "GET", "/", &[], Some("admin"))]
    #[case("other.test", "GET", "/", &[], None)]
    fn http_requests_pick_the_rule_the_spec_orders_first(
        #[case] host: &str,
        #[case] method: &str,
        #[case] path: &str,
        #[case] headers: &[(&str, &str)],
        #[case] expected: Option<&str>,
    ) {
        let tables = shop();
        let request = Request {
            host: host.into(),
            method: method.into(),
            path: path.into(),
            query: Vec::new(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        };
        let got =
            tables[&socket(8080)]
                .http(&request)
                .map(|(_, backends)| match &backends[0].target {
                    Ok(service) => service.service.clone(),
                    Err(why) => why.clone(),
                });
        assert_eq!(got.as_deref(), expected);
    }

    #[test]
    fn an_invalid_backend_is_drawn_with_its_reason() {
        let tables = shop();
        let request = Request {
            host: "shop.test".into(),
            method: "GET".into(),
            path: "/broken".into(),
            ..Request::default()
        };
        let (route, backends) = tables[&socket(8080)].http(&request).expect("a rule");
        assert_eq!(route, "shop/main");
        let why = backends[0].target.clone().unwrap_err();
        assert!(why.starts_with("BackendNotFound: "), "{why}");
    }

    #[test]
    fn tls_picks_by_server_name_and_tcp_by_port() {
        let tables = shop();
        let tls = &tables[&socket(8443)];
        assert_eq!(tls.protocol, Protocol::TlsPassthrough);
        assert_eq!(
            tls.stream(Some("DB.shop.test")).map(|(r, _)| r),
            Some("shop/db-tls")
        );
        assert_eq!(tls.stream(Some("other.test")).map(|(r, _)| r), None);
        let tcp = &tables[&socket(5432)];
        assert_eq!(tcp.stream(None).map(|(r, _)| r), Some("shop/db-tcp"));
    }

    #[test]
    fn weights_share_the_draws_and_zero_weights_draw_nothing() {
        let target = |name: &str| {
            Ok(ServicePort {
                namespace: "shop".into(),
                service: name.into(),
                port: PortRef::Number(80),
            })
        };
        let backends = [
            Backend {
                target: target("a"),
                weight: 3,
            },
            Backend {
                target: target("b"),
                weight: 0,
            },
            Backend {
                target: target("c"),
                weight: 1,
            },
        ];
        let drawn: Vec<String> = (0..8)
            .map(|roll| {
                draw(&backends, roll)
                    .unwrap()
                    .target
                    .clone()
                    .unwrap()
                    .service
            })
            .collect();
        assert_eq!(drawn, ["a", "a", "a", "c", "a", "a", "a", "c"]);
        let zero = [Backend {
            target: target("a"),
            weight: 0,
        }];
        assert!(draw(&zero, 5).is_none());
    }
}
