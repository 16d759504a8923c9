//! The Gateway API objects as the sandbox's controller and data plane read them: parsed from
//! the store's JSON (the generic custom-resource store keeps them as the user wrote them), with
//! the API's defaults filled in, into plain structs.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde_json::Value;

use super::{GROUP, RouteKind};
use crate::resources::ResourceId;
use crate::store::Store;

fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn owned(value: &Value, pointer: &str) -> Option<String> {
    text(value, pointer).map(str::to_owned)
}

fn items<'a>(value: &'a Value, pointer: &str) -> impl Iterator<Item = &'a Value> {
    value
        .pointer(pointer)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn strings(value: &Value, pointer: &str) -> Vec<String> {
    items(value, pointer)
        .filter_map(Value::as_str)
        .map(str::to_ascii_lowercase)
        .collect()
}

fn port_of(value: &Value, pointer: &str) -> Option<i32> {
    value
        .pointer(pointer)
        .and_then(Value::as_i64)
        .and_then(|p| i32::try_from(p).ok())
}

/// Which namespaces a listener admits routes from.
#[derive(Debug, Clone, PartialEq)]
pub enum From {
    Same,
    All,
    /// A label selector (`matchLabels` / `matchExpressions`) on the route's Namespace.
    Selector(Value),
}

/// One listener of a Gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    pub name: String,
    pub port: u16,
    /// `HTTP`, `HTTPS`, `TLS`, `TCP`, `UDP` (as written).
    pub protocol: String,
    /// Lowercase; `None`: every host.
    pub hostname: Option<String>,
    /// `Terminate` (default) or `Passthrough`, for HTTPS and TLS.
    pub tls_mode: String,
    pub from: From,
    /// `allowedRoutes.kinds` as (group, kind); `None`: the protocol's kinds.
    pub kinds: Option<Vec<(String, String)>>,
}

/// A Gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct Gateway {
    pub namespace: String,
    pub name: String,
    pub class: String,
    pub generation: i64,
    pub listeners: Vec<Listener>,
    /// `spec.addresses` of type IPAddress.
    pub requested: Vec<Ipv4Addr>,
    /// The IPv4 addresses in `status.addresses`.
    pub addresses: Vec<Ipv4Addr>,
    pub status: Value,
}

/// A route's `parentRefs` entry, with defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct ParentRef {
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub section: Option<String>,
    pub port: Option<i32>,
    /// As written (what `status.parents[].parentRef` repeats).
    pub raw: Value,
}

/// A `backendRefs` entry, with defaults (group "", kind Service, weight 1).
#[derive(Debug, Clone, PartialEq)]
pub struct BackendRef {
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub port: Option<i32>,
    pub weight: u32,
}

/// How a path is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    Exact,
    Prefix,
    Regex,
}

/// One `matches` entry of an HTTPRoute rule.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpMatch {
    pub path: (PathKind, String),
    /// (lowercase name, exact value); regular-expression matches make the entry unusable.
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub method: Option<String>,
    /// Some header or query match is a regular expression: the sandbox does not match those.
    pub unsupported: bool,
}

/// One rule of a route.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// HTTPRoute only; empty: one match of `PathPrefix /`.
    pub matches: Vec<HttpMatch>,
    pub backends: Vec<BackendRef>,
}

/// An HTTPRoute, GRPCRoute, TLSRoute, TCPRoute or UDPRoute.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub kind: RouteKind,
    pub resource: ResourceId,
    pub namespace: String,
    pub name: String,
    pub generation: i64,
    pub created: String,
    pub hostnames: Vec<String>,
    pub parents: Vec<ParentRef>,
    pub rules: Vec<Rule>,
    pub status: Value,
}

/// What one ReferenceGrant allows: routes of (group, kind) in `from` namespaces to refer to
/// (group, kind, name) in the grant's namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceGrant {
    pub namespace: String,
    pub from: Vec<(String, String, String)>,
    pub to: Vec<(String, String, Option<String>)>,
}

/// A Service's ports: (name, port, protocol).
pub type ServicePorts = Vec<(Option<String>, i32, String)>;

/// Everything the controller and data plane read, at one moment.
#[derive(Debug, Clone, Default)]
pub struct World {
    /// GatewayClass name → controllerName.
    pub classes: BTreeMap<String, String>,
    pub gateways: Vec<Gateway>,
    pub routes: Vec<Route>,
    pub grants: Vec<ReferenceGrant>,
    pub services: BTreeMap<(String, String), ServicePorts>,
    pub namespace_labels: BTreeMap<String, BTreeMap<String, String>>,
}

/// The storage resources of the Gateway API kinds this store serves, by kind.
pub fn resources(store: &Store) -> BTreeMap<&'static str, ResourceId> {
    let mut out = BTreeMap::new();
    for id in store.custom_resources() {
        let info = id.info();
        if info.group == GROUP {
            out.insert(info.kind, info.storage);
        }
    }
    out
}

impl World {
    /// Reads the Gateway API objects, Services and Namespaces from `store`.
    pub fn read(store: &Store) -> World {
        let ids = resources(store);
        let mut world = World::default();
        let list = |kind: &str| -> Vec<Value> {
            ids.get(kind)
                .map(|id| store.list_objects(*id, None).0)
                .unwrap_or_default()
                .iter()
                .map(|o| o.value())
                .collect()
        };
        for class in list("GatewayClass") {
            if let (Some(name), Some(controller)) = (
                owned(&class, "/metadata/name"),
                owned(&class, "/spec/controllerName"),
            ) {
                world.classes.insert(name, controller);
            }
        }
        world.gateways = list("Gateway").iter().map(gateway).collect();
        for kind in RouteKind::ALL {
            if let Some(id) = ids.get(kind.kind()) {
                world
                    .routes
                    .extend(list(kind.kind()).iter().map(|r| route(kind, *id, r)));
            }
        }
        world.grants = list("ReferenceGrant").iter().map(grant).collect();
        let (services, _) = store.list_objects(ResourceId::Services, None);
        for service in services {
            let value = service.value();
            let ports = items(&value, "/spec/ports")
                .map(|p| {
                    (
                        owned(p, "/name"),
                        port_of(p, "/port").unwrap_or(0),
                        text(p, "/protocol").unwrap_or("TCP").to_owned(),
                    )
                })
                .collect();
            let key = (service.namespace().to_owned(), service.name().to_owned());
            world.services.insert(key, ports);
        }
        let (namespaces, _) = store.list_objects(ResourceId::Namespaces, None);
        for namespace in namespaces {
            world
                .namespace_labels
                .insert(namespace.name().to_owned(), namespace.labels().clone());
        }
        world
    }

    /// Whether the sandbox's controller owns `class`.
    pub fn is_ours(&self, class: &str) -> bool {
        self.classes.get(class).map(String::as_str) == Some(super::CONTROLLER_NAME)
    }
}

fn listener(value: &Value) -> Listener {
    let from = match text(value, "/allowedRoutes/namespaces/from") {
        Some("All") => From::All,
        Some("Selector") => From::Selector(
            value
                .pointer("/allowedRoutes/namespaces/selector")
                .cloned()
                .unwrap_or(Value::Null),
        ),
        _ => From::Same,
    };
    let kinds = value
        .pointer("/allowedRoutes/kinds")
        .and_then(Value::as_array)
        .filter(|kinds| !kinds.is_empty())
        .map(|kinds| {
            kinds
                .iter()
                .map(|k| {
                    let group = value_or(k, "/group", GROUP);
                    (group, owned(k, "/kind").unwrap_or_default())
                })
                .collect()
        });
    Listener {
        name: owned(value, "/name").unwrap_or_default(),
        port: port_of(value, "/port")
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(0),
        protocol: owned(value, "/protocol").unwrap_or_default(),
        hostname: owned(value, "/hostname").map(|h| h.to_ascii_lowercase()),
        tls_mode: owned(value, "/tls/mode").unwrap_or_else(|| "Terminate".to_owned()),
        from,
        kinds,
    }
}

/// The string at `pointer`, or `default` when absent (an empty string stays empty: the core
/// group is spelled "").
fn value_or(value: &Value, pointer: &str, default: &str) -> String {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or(default)
        .to_owned()
}

fn ipv4s(value: &Value, pointer: &str) -> Vec<Ipv4Addr> {
    items(value, pointer)
        .filter(|a| text(a, "/type").is_none_or(|t| t == "IPAddress"))
        .filter_map(|a| text(a, "/value")?.parse().ok())
        .collect()
}

fn gateway(value: &Value) -> Gateway {
    Gateway {
        namespace: owned(value, "/metadata/namespace").unwrap_or_else(|| "default".to_owned()),
        name: owned(value, "/metadata/name").unwrap_or_default(),
        class: owned(value, "/spec/gatewayClassName").unwrap_or_default(),
        generation: value
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0),
        listeners: items(value, "/spec/listeners").map(listener).collect(),
        requested: ipv4s(value, "/spec/addresses"),
        addresses: ipv4s(value, "/status/addresses"),
        status: value.get("status").cloned().unwrap_or(Value::Null),
    }
}

fn parent_ref(namespace: &str, value: &Value) -> ParentRef {
    ParentRef {
        group: value_or(value, "/group", GROUP),
        kind: value_or(value, "/kind", "Gateway"),
        namespace: owned(value, "/namespace").unwrap_or_else(|| namespace.to_owned()),
        name: owned(value, "/name").unwrap_or_default(),
        section: owned(value, "/sectionName"),
        port: port_of(value, "/port"),
        raw: value.clone(),
    }
}

fn backend_ref(namespace: &str, value: &Value) -> BackendRef {
    BackendRef {
        group: value_or(value, "/group", ""),
        kind: value_or(value, "/kind", "Service"),
        namespace: owned(value, "/namespace").unwrap_or_else(|| namespace.to_owned()),
        name: owned(value, "/name").unwrap_or_default(),
        port: port_of(value, "/port"),
        weight: value
            .pointer("/weight")
            .and_then(Value::as_u64)
            .and_then(|w| u32::try_from(w).ok())
            .unwrap_or(1),
    }
}

fn http_match(value: &Value) -> HttpMatch {
    let path_kind = match text(value, "/path/type") {
        Some("Exact") => PathKind::Exact,
        Some("RegularExpression") => PathKind::Regex,
        _ => PathKind::Prefix,
    };
    let path = (path_kind, value_or(value, "/path/value", "/"));
    let mut unsupported = path_kind == PathKind::Regex;
    let mut pairs = |pointer: &str, lowercase: bool| -> Vec<(String, String)> {
        items(value, pointer)
            .filter_map(|h| {
                if text(h, "/type").is_some_and(|t| t != "Exact") {
                    unsupported = true;
                }
                let name = owned(h, "/name")?;
                let name = if lowercase {
                    name.to_ascii_lowercase()
                } else {
                    name
                };
                Some((name, value_or(h, "/value", "")))
            })
            .collect()
    };
    let headers = pairs("/headers", true);
    let query = pairs("/queryParams", false);
    HttpMatch {
        path,
        headers,
        query,
        method: owned(value, "/method"),
        unsupported,
    }
}

fn route(kind: RouteKind, resource: ResourceId, value: &Value) -> Route {
    let namespace = owned(value, "/metadata/namespace").unwrap_or_else(|| "default".to_owned());
    let rules = items(value, "/spec/rules")
        .map(|rule| {
            let mut matches: Vec<HttpMatch> = items(rule, "/matches").map(http_match).collect();
            if matches.is_empty() && kind == RouteKind::Http {
                matches.push(http_match(&Value::Null));
            }
            Rule {
                matches,
                backends: items(rule, "/backendRefs")
                    .map(|b| backend_ref(&namespace, b))
                    .collect(),
            }
        })
        .collect();
    Route {
        kind,
        resource,
        parents: items(value, "/spec/parentRefs")
            .map(|p| parent_ref(&namespace, p))
            .collect(),
        name: owned(value, "/metadata/name").unwrap_or_default(),
        generation: value
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0),
        created: owned(value, "/metadata/creationTimestamp").unwrap_or_default(),
        hostnames: strings(value, "/spec/hostnames"),
        rules,
        status: value.get("status").cloned().unwrap_or(Value::Null),
        namespace,
    }
}

fn grant(value: &Value) -> ReferenceGrant {
    ReferenceGrant {
        namespace: owned(value, "/metadata/namespace").unwrap_or_else(|| "default".to_owned()),
        from: items(value, "/spec/from")
            .map(|f| {
                (
                    value_or(f, "/group", ""),
                    value_or(f, "/kind", ""),
                    value_or(f, "/namespace", ""),
                )
            })
            .collect(),
        to: items(value, "/spec/to")
            .map(|t| {
                (
                    value_or(t, "/group", ""),
                    value_or(t, "/kind", ""),
                    owned(t, "/name"),
                )
            })
            .collect(),
    }
}

/// The Gateway API objects of `store` decoded into the engine's snapshot form; an object that
/// does not decode is left out (and logged), so one bad object does not blind the data plane.
pub fn typed(store: &Store) -> kubehop_engine::gateway::GatewayObjects {
    use serde::de::DeserializeOwned;
    use std::sync::Arc;
    fn all<K: DeserializeOwned>(
        store: &Store,
        ids: &BTreeMap<&'static str, ResourceId>,
        kind: &str,
    ) -> Vec<Arc<K>> {
        let Some(id) = ids.get(kind) else {
            return Vec::new();
        };
        store
            .list_objects(*id, None)
            .0
            .iter()
            .filter_map(|object| match object.decode::<K>() {
                Ok(decoded) => Some(Arc::new(decoded)),
                Err(err) => {
                    tracing::debug!("sandbox: {kind} {} left out: {err}", object.name());
                    None
                }
            })
            .collect()
    }
    let ids = resources(store);
    kubehop_engine::gateway::GatewayObjects {
        gateway_classes: all(store, &ids, "GatewayClass"),
        gateways: all(store, &ids, "Gateway"),
        http_routes: all(store, &ids, "HTTPRoute"),
        grpc_routes: all(store, &ids, "GRPCRoute"),
        tls_routes: all(store, &ids, "TLSRoute"),
        tcp_routes: all(store, &ids, "TCPRoute"),
        udp_routes: all(store, &ids, "UDPRoute"),
        reference_grants: all(store, &ids, "ReferenceGrant"),
    }
}
