//! Which routes attach to which listeners, and whether their backends resolve: the rules the
//! controller writes status from and the data plane routes with, so the two never disagree.
//!
//! A parentRef attaches in steps, each with the reason a conformant implementation reports
//! when it is the step that fails (`Accepted: False`):
//! 1. the reference names a Gateway of a class the sandbox controls (else the sandbox says
//!    nothing: another controller, or nobody, owns that parent);
//! 2. some listener has the `sectionName` and `port` it gives (`NoMatchingParent`);
//! 3. such a listener admits the route's kind and namespace (`allowedRoutes`,
//!    `NotAllowedByListeners`); these listeners count the route in `attachedRoutes`;
//! 4. the route's hostnames intersect the listener's hostname (`NoMatchingListenerHostname`).
//!
//! Backends (`ResolvedRefs`): a Service in the core group (`InvalidKind`), in the route's
//! namespace or allowed by a ReferenceGrant there (`RefNotPermitted`), that exists and has the
//! port (`BackendNotFound`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::objects::{BackendRef, From, Gateway, Listener, ParentRef, Route, World};
use super::{GROUP, RouteKind};

/// Why something is not accepted or not resolved: (reason, message).
pub type Refusal = (&'static str, String);

/// The route kinds a listener's protocol carries (as kubehop's engine has them, so the status
/// agrees with the engine's attachment); `None` for a protocol the API does not define.
pub fn protocol_kinds(listener: &Listener) -> Option<&'static [RouteKind]> {
    match (listener.protocol.as_str(), listener.tls_mode.as_str()) {
        ("HTTP" | "HTTPS", _) => Some(&[RouteKind::Http, RouteKind::Grpc]),
        ("TLS", "Passthrough") => Some(&[RouteKind::Tls]),
        ("TLS", _) => Some(&[RouteKind::Tls, RouteKind::Tcp]),
        ("TCP", _) => Some(&[RouteKind::Tcp]),
        ("UDP", _) => Some(&[RouteKind::Udp]),
        _ => None,
    }
}

/// Whether the sandbox's data plane serves a listener: HTTP, HTTPS terminated, TLS
/// passthrough and TCP (not UDP, TLS terminated by the Gateway, HTTPS passthrough).
pub fn served(listener: &Listener) -> bool {
    matches!(
        (listener.protocol.as_str(), listener.tls_mode.as_str()),
        ("HTTP", _) | ("HTTPS", "Terminate") | ("TLS", "Passthrough") | ("TCP", _)
    )
}

/// The route kinds a listener admits (its `supportedKinds`), and whether `allowedRoutes.kinds`
/// named one it cannot carry (`InvalidRouteKinds`).
pub fn supported_kinds(listener: &Listener) -> (Vec<RouteKind>, bool) {
    let Some(carried) = protocol_kinds(listener) else {
        return (Vec::new(), false);
    };
    match &listener.kinds {
        None => (carried.to_vec(), false),
        Some(asked) => {
            let mut kinds = Vec::new();
            let mut invalid = false;
            for (group, kind) in asked {
                match carried.iter().find(|k| group == GROUP && k.kind() == kind) {
                    Some(k) if !kinds.contains(k) => kinds.push(*k),
                    Some(_) => {}
                    None => invalid = true,
                }
            }
            (kinds, invalid)
        }
    }
}

/// Why a listener conflicts with another on its port, if it does: listeners of different
/// protocol families on one port (`ProtocolConflict`), or of one family that cannot tell them
/// apart (the same hostname, or TCP/UDP: `HostnameConflict`).
pub fn conflict(gateway: &Gateway, index: usize) -> Option<&'static str> {
    let listener = &gateway.listeners[index];
    let family = |l: &Listener| match l.protocol.as_str() {
        "HTTP" => 0,
        "HTTPS" | "TLS" => 1,
        "TCP" => 2,
        _ => 3,
    };
    let others: Vec<&Listener> = gateway
        .listeners
        .iter()
        .enumerate()
        .filter(|(i, l)| *i != index && l.port == listener.port)
        .map(|(_, l)| l)
        .collect();
    if others.iter().any(|l| family(l) != family(listener)) {
        return Some("ProtocolConflict");
    }
    if others
        .iter()
        .any(|l| family(listener) >= 2 || l.hostname == listener.hostname)
    {
        return Some("HostnameConflict");
    }
    None
}

/// Whether `host` (a name or a wildcard `*.x`) is covered by `pattern` (a name or wildcard).
/// A wildcard covers names with one or more labels in front of its suffix.
pub fn covers(pattern: &str, host: &str) -> bool {
    if pattern == host {
        return true;
    }
    let Some(suffix) = pattern.strip_prefix('*') else {
        return false;
    };
    // `*.example.test` covers `a.example.test`, `a.b.example.test` and `*.a.example.test`.
    host.strip_suffix(suffix)
        .is_some_and(|front| !front.is_empty() && !front.ends_with('.'))
}

/// Whether a route's hostnames intersect a listener's hostname.
pub fn hostnames_intersect(listener: Option<&str>, route: &[String]) -> bool {
    let Some(listener) = listener else {
        return true;
    };
    route.is_empty()
        || route
            .iter()
            .any(|h| covers(listener, h) || covers(h, listener))
}

/// Whether a label selector (`matchLabels`, `matchExpressions`) selects `labels`.
pub fn selects(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    let by_labels = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str());
    let by_expressions = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .all(|e| {
            let key = e.get("key").and_then(Value::as_str).unwrap_or("");
            let values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let value = labels.get(key).map(String::as_str);
            match e.get("operator").and_then(Value::as_str).unwrap_or("") {
                "In" => value.is_some_and(|v| values.contains(&v)),
                "NotIn" => value.is_none_or(|v| !values.contains(&v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        });
    by_labels && by_expressions
}

/// Whether `listener` of `gateway` admits a route of `kind` from `namespace`.
pub fn admits(
    world: &World,
    gateway: &Gateway,
    listener: &Listener,
    kind: RouteKind,
    namespace: &str,
) -> bool {
    if !supported_kinds(listener).0.contains(&kind) {
        return false;
    }
    match &listener.from {
        From::Same => namespace == gateway.namespace,
        From::All => true,
        From::Selector(selector) => {
            // The API server labels every namespace with its name.
            let mut labels = world
                .namespace_labels
                .get(namespace)
                .cloned()
                .unwrap_or_default();
            labels
                .entry("kubernetes.io/metadata.name".to_owned())
                .or_insert_with(|| namespace.to_owned());
            selects(selector, &labels)
        }
    }
}

/// What the sandbox says about one parentRef of a route.
#[derive(Debug, Clone, PartialEq)]
pub enum Parent {
    /// Not a Gateway the sandbox controls: no status from the sandbox.
    NotOurs,
    /// A Gateway of ours; `counted`: listener indexes whose `attachedRoutes` count the route;
    /// `accepted`: the listeners that serve it, or why none does.
    Ours {
        gateway: usize,
        counted: Vec<usize>,
        accepted: Result<Vec<usize>, Refusal>,
    },
}

/// The index of the Gateway a parentRef names, if the sandbox controls it.
pub fn our_gateway(world: &World, parent: &ParentRef) -> Option<usize> {
    if parent.group != GROUP || parent.kind != "Gateway" {
        return None;
    }
    world
        .gateways
        .iter()
        .position(|g| g.namespace == parent.namespace && g.name == parent.name)
        .filter(|i| world.is_ours(&world.gateways[*i].class))
}

/// Resolves one parentRef of `route` (steps 1 to 4 of the module documentation).
pub fn parent(world: &World, route: &Route, parent: &ParentRef) -> Parent {
    let Some(index) = our_gateway(world, parent) else {
        return Parent::NotOurs;
    };
    let gateway = &world.gateways[index];
    let named: Vec<usize> = (0..gateway.listeners.len())
        .filter(|i| {
            let l = &gateway.listeners[*i];
            parent.section.as_ref().is_none_or(|s| *s == l.name)
                && parent.port.is_none_or(|p| p == i32::from(l.port))
        })
        .collect();
    let ours = |accepted| Parent::Ours {
        gateway: index,
        counted: Vec::new(),
        accepted,
    };
    if named.is_empty() {
        let what = match (&parent.section, parent.port) {
            (Some(section), Some(port)) => format!("no listener {section:?} on port {port}"),
            (Some(section), None) => format!("no listener named {section:?}"),
            (None, Some(port)) => format!("no listener on port {port}"),
            (None, None) => "no listeners".to_owned(),
        };
        let message = format!("Gateway {}/{} has {what}", gateway.namespace, gateway.name);
        return ours(Err(("NoMatchingParent", message)));
    }
    let counted: Vec<usize> = named
        .into_iter()
        .filter(|i| {
            admits(
                world,
                gateway,
                &gateway.listeners[*i],
                route.kind,
                &route.namespace,
            )
        })
        .collect();
    if counted.is_empty() {
        let message = format!(
            "no listener of Gateway {}/{} admits a {} from namespace {}",
            gateway.namespace,
            gateway.name,
            route.kind.kind(),
            route.namespace
        );
        return ours(Err(("NotAllowedByListeners", message)));
    }
    let serving: Vec<usize> = counted
        .iter()
        .copied()
        .filter(|i| {
            !route.kind.has_hostnames()
                || hostnames_intersect(gateway.listeners[*i].hostname.as_deref(), &route.hostnames)
        })
        .collect();
    let accepted = if serving.is_empty() {
        let message = format!(
            "no listener hostname of Gateway {}/{} intersects the route's hostnames",
            gateway.namespace, gateway.name
        );
        Err(("NoMatchingListenerHostname", message))
    } else {
        Ok(serving)
    };
    Parent::Ours {
        gateway: index,
        counted,
        accepted,
    }
}

/// Whether a ReferenceGrant lets a `kind` route in `from` refer to Service `name` in `to`.
pub fn granted(world: &World, kind: RouteKind, from: &str, to: &str, name: &str) -> bool {
    world.grants.iter().filter(|g| g.namespace == to).any(|g| {
        g.from
            .iter()
            .any(|(group, k, ns)| group == GROUP && k == kind.kind() && ns == from)
            && g.to.iter().any(|(group, k, n)| {
                group.is_empty() && k == "Service" && n.as_ref().is_none_or(|n| n == name)
            })
    })
}

/// Whether a backendRef of `route` is valid; why not (`ResolvedRefs: False`).
pub fn backend(world: &World, route: &Route, backend: &BackendRef) -> Result<(), Refusal> {
    let name = format!("{}/{}", backend.namespace, backend.name);
    if !backend.group.is_empty() || backend.kind != "Service" {
        let group = if backend.group.is_empty() {
            "core".to_owned()
        } else {
            backend.group.clone()
        };
        let message = format!(
            "backendRef {name}: kind {} of group {group} is not a Service",
            backend.kind
        );
        return Err(("InvalidKind", message));
    }
    if backend.namespace != route.namespace
        && !granted(
            world,
            route.kind,
            &route.namespace,
            &backend.namespace,
            &backend.name,
        )
    {
        let message = format!(
            "backendRef to Service {name} is not permitted: no ReferenceGrant in namespace {} allows {} from namespace {}",
            backend.namespace,
            route.kind.kind(),
            route.namespace
        );
        return Err(("RefNotPermitted", message));
    }
    let key = (backend.namespace.clone(), backend.name.clone());
    let Some(ports) = world.services.get(&key) else {
        return Err(("BackendNotFound", format!("Service {name} not found")));
    };
    let Some(port) = backend.port else {
        return Err((
            "BackendNotFound",
            format!("backendRef to Service {name} has no port"),
        ));
    };
    if !ports.iter().any(|(_, p, _)| *p == port) {
        let message = format!("Service {name} has no port {port}");
        return Err(("BackendNotFound", message));
    }
    Ok(())
}

/// The route's `ResolvedRefs`: the first invalid backend of any rule, in order.
pub fn resolved_refs(world: &World, route: &Route) -> Result<(), Refusal> {
    route
        .rules
        .iter()
        .flat_map(|r| &r.backends)
        .try_for_each(|b| backend(world, route, b))
}
