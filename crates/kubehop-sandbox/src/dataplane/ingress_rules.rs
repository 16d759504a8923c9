//! The Ingress controller's routing table: which Ingresses it serves (those of its class, or
//! without a class since its class is the default), the addresses it listens on (each
//! Ingress's `status.loadBalancer.ingress` IPs) and how a request's Host and path choose a
//! backend.
//!
//! Matching, as the Ingress API defines it: a rule's host is exact (`shop.example.test`) or a
//! wildcard of one label (`*.example.test`), a rule without host matches every request. Rules
//! for the exact host are tried first, then wildcards, then rules without host. Among the
//! paths of that group the longest match wins, `Exact` before `Prefix` at equal length;
//! `Prefix` matches whole path elements (`/foo` matches `/foo` and `/foo/bar`, not
//! `/foobar`), `ImplementationSpecific` is treated as `Prefix`. No rule: the Ingress's
//! `defaultBackend`, else nothing (the controller answers 404).

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::networking::v1::{Ingress, IngressServiceBackend};

use kubehop_engine::model::PortRef;

/// The IngressClass the sandbox's controller owns (and marks default).
pub const INGRESS_CLASS: &str = "sandbox";
/// The `spec.controller` of that IngressClass.
pub const INGRESS_CONTROLLER: &str = "sandbox.kubehop.dev/ingress-controller";
/// The annotation older manifests name a class with.
const CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

/// A Service port an Ingress sends requests to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub namespace: String,
    pub service: String,
    pub port: PortRef,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PathKind {
    Exact,
    Prefix,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PathRule {
    path: String,
    kind: PathKind,
    backend: Backend,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct HostRule {
    /// `None`: every host.
    host: Option<String>,
    paths: Vec<PathRule>,
}

/// One Ingress's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IngressRules {
    rules: Vec<HostRule>,
    default_backend: Option<Backend>,
}

/// Every Ingress the controller serves on one address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    ingresses: Vec<IngressRules>,
}

/// The controller's tables, by listening IP.
pub type Tables = BTreeMap<IpAddr, Table>;

/// Whether the sandbox's controller serves `ingress`: its class, or no class at all.
pub fn is_ours(ingress: &Ingress) -> bool {
    let annotated = ingress
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(CLASS_ANNOTATION));
    let class = ingress
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_ref())
        .or(annotated);
    class.is_none_or(|class| class == INGRESS_CLASS)
}

fn backend(namespace: &str, service: &IngressServiceBackend) -> Option<Backend> {
    let port = service.port.as_ref()?;
    let port = match (&port.name, port.number) {
        (Some(name), _) if !name.is_empty() => PortRef::Name(name.clone()),
        (_, Some(number)) => PortRef::Number(number),
        _ => return None,
    };
    Some(Backend {
        namespace: namespace.to_owned(),
        service: service.name.clone(),
        port,
    })
}

fn rules_of(ingress: &Ingress) -> IngressRules {
    let namespace = ingress.metadata.namespace.as_deref().unwrap_or("default");
    let spec = ingress.spec.as_ref();
    let default_backend = spec
        .and_then(|s| s.default_backend.as_ref())
        .and_then(|b| b.service.as_ref())
        .and_then(|s| backend(namespace, s));
    let mut rules = Vec::new();
    for rule in spec.and_then(|s| s.rules.as_ref()).into_iter().flatten() {
        let mut paths = Vec::new();
        for path in rule.http.iter().flat_map(|h| &h.paths) {
            let Some(backend) = path
                .backend
                .service
                .as_ref()
                .and_then(|s| backend(namespace, s))
            else {
                continue;
            };
            let kind = if path.path_type == "Exact" {
                PathKind::Exact
            } else {
                PathKind::Prefix
            };
            paths.push(PathRule {
                path: path.path.clone().unwrap_or_else(|| "/".to_owned()),
                kind,
                backend,
            });
        }
        rules.push(HostRule {
            host: rule
                .host
                .as_ref()
                .filter(|h| !h.is_empty())
                .map(|h| h.to_ascii_lowercase()),
            paths,
        });
    }
    IngressRules {
        rules,
        default_backend,
    }
}

/// The IPv4 addresses in an Ingress's `status.loadBalancer.ingress`.
pub fn status_ips(ingress: &Ingress) -> Vec<IpAddr> {
    ingress
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ip.as_deref()?.parse().ok())
        .collect()
}

/// The tables of the Ingresses the controller serves, by status IP.
pub fn tables<'a>(ingresses: impl IntoIterator<Item = &'a Ingress>) -> Tables {
    let mut tables = Tables::new();
    for ingress in ingresses.into_iter().filter(|i| is_ours(i)) {
        let rules = rules_of(ingress);
        for ip in status_ips(ingress) {
            tables.entry(ip).or_default().ingresses.push(rules.clone());
        }
    }
    tables
}

/// How specifically a rule's host matches a request's: exact 2, wildcard 1, no host 0.
fn host_match(rule: Option<&str>, host: &str) -> Option<u8> {
    let Some(rule) = rule else {
        return Some(0);
    };
    if rule == host {
        return Some(2);
    }
    let suffix = rule.strip_prefix("*.")?;
    let (first, rest) = host.split_once('.')?;
    (!first.is_empty() && rest == suffix).then_some(1)
}

/// The length of `rule`'s match of `path`, if it matches.
fn path_match(rule: &PathRule, path: &str) -> Option<usize> {
    match rule.kind {
        PathKind::Exact => (rule.path == path).then_some(rule.path.len()),
        PathKind::Prefix => {
            let prefix = rule.path.trim_end_matches('/');
            if prefix.is_empty() {
                return Some(0);
            }
            let rest = path.strip_prefix(prefix)?;
            (rest.is_empty() || rest.starts_with('/')).then_some(prefix.len())
        }
    }
}

impl Table {
    /// The Hosts the rules name (exact or wildcard), for TLS certificates.
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.ingresses
            .iter()
            .flat_map(|i| &i.rules)
            .filter_map(|r| r.host.as_deref())
    }

    /// Whether some rule names `host` (exactly or by wildcard).
    pub fn names_host(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.hosts()
            .any(|rule| host_match(Some(rule), &host).is_some())
    }

    /// The backend for a request to `host` (a Host header, port allowed) and `path`.
    pub fn route(&self, host: &str, path: &str) -> Option<&Backend> {
        let host = strip_port(host).to_ascii_lowercase();
        let path = path.split(['?', '#']).next().unwrap_or("/");
        for wanted in [2u8, 1, 0] {
            // (match length, exact) of the best path so far.
            let mut best: Option<((usize, bool), &Backend)> = None;
            for rule in self.ingresses.iter().flat_map(|i| &i.rules) {
                if host_match(rule.host.as_deref(), &host) != Some(wanted) {
                    continue;
                }
                for candidate in &rule.paths {
                    let Some(length) = path_match(candidate, path) else {
                        continue;
                    };
                    let score = (length, candidate.kind == PathKind::Exact);
                    if best.is_none_or(|(b, _)| score > b) {
                        best = Some((score, &candidate.backend));
                    }
                }
            }
            if let Some((_, backend)) = best {
                return Some(backend);
            }
        }
        self.ingresses
            .iter()
            .find_map(|i| i.default_backend.as_ref())
    }
}

/// `host:port` → `host`; `[v6]:port` → `v6`.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    fn ingress(value: serde_json::Value) -> Ingress {
        serde_json::from_value(value).expect("ingress")
    }

    fn path(path: &str, kind: &str, service: &str) -> serde_json::Value {
        json!({"path": path, "pathType": kind,
               "backend": {"service": {"name": service, "port": {"number": 80}}}})
    }

    fn table() -> Table {
        let one = ingress(json!({
            "metadata": {"name": "a", "namespace": "shop"},
            "spec": {
                "defaultBackend": {"service": {"name": "fallback", "port": {"name": "http"}}},
                "rules": [
                    {"host": "shop.example.test", "http": {"paths": [
                        path("/", "Prefix", "web"),
                        path("/static", "Prefix", "static"),
                        path("/static/logo.png", "Exact", "logo"),
                        path("/api/", "ImplementationSpecific", "api"),
                    ]}},
                    {"host": "*.example.test", "http": {"paths": [path("/", "Prefix", "wild")]}},
                    {"http": {"paths": [path("/any", "Exact", "hostless")]}},
                ]
            },
            "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.9"}]}}
        }));
        tables([&one])
            .remove(&"127.0.0.9".parse().unwrap())
            .expect("table")
    }

    #[rstest]
    #[case("shop.example.test", "/", Some("web"))]
    #[case("shop.example.test:80", "/cart?x=1", Some("web"))]
    #[case("SHOP.example.test", "/static", Some("static"))]
    #[case("shop.example.test", "/static/", Some("static"))]
    #[case("shop.example.test", "/static/app.js", Some("static"))]
    #[case("shop.example.test", "/staticfoo", Some("web"))]
    #[case("shop.example.test", "/static/logo.png", Some("logo"))]
    #[case("shop.example.test", "/api", Some("api"))]
    #[case("shop.example.test", "/api/v1", Some("api"))]
    #[case("docs.example.test", "/x", Some("wild"))]
    #[case("a.b.example.test", "/any", Some("hostless"))]
    #[case("other.test", "/any", Some("hostless"))]
    #[case("other.test", "/any/more", Some("fallback"))]
    fn requests_reach_the_longest_match(
        #[case] host: &str,
        #[case] path: &str,
        #[case] expected: Option<&str>,
    ) {
        let table = table();
        let got = table.route(host, path).map(|b| b.service.as_str());
        assert_eq!(got, expected);
    }

    #[test]
    fn without_a_default_backend_an_unknown_host_has_no_route() {
        let one = ingress(json!({
            "metadata": {"name": "a", "namespace": "shop"},
            "spec": {"rules": [{"host": "shop.example.test",
                                "http": {"paths": [path("/", "Prefix", "web")]}}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.9"}]}}
        }));
        let tables = tables([&one]);
        let table = &tables[&"127.0.0.9".parse::<IpAddr>().unwrap()];
        assert_eq!(table.route("unknown.test", "/"), None);
        assert!(table.names_host("shop.example.test"));
        assert!(!table.names_host("unknown.test"));
    }

    #[rstest]
    #[case(json!({}), true)]
    #[case(json!({"ingressClassName": "sandbox"}), true)]
    #[case(json!({"ingressClassName": "nginx"}), false)]
    fn the_controller_serves_its_class_and_unclassed_ingresses(
        #[case] spec: serde_json::Value,
        #[case] expected: bool,
    ) {
        let one = ingress(json!({"metadata": {"name": "a"}, "spec": spec}));
        assert_eq!(is_ours(&one), expected);
    }
}
