//! Which listeners of a Gateway a route's parentRef attaches to (rules GW1-GW4).

use std::collections::BTreeMap;

use kubehop_gateway_api::{Gateway, Listener, ParentReference};

use super::hostname::effective_hostnames;
use super::objects::{RouteKind, RouteView};
use crate::netpol::Selector;

/// The label every namespace carries with its own name (the API server sets it).
const NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// A listener a route attaches to, with the hostnames the route has on it (GW3).
#[derive(Debug, Clone)]
pub struct Attachment<'a> {
    pub listener: &'a Listener,
    /// `None` in the list: every hostname.
    pub hostnames: Vec<Option<String>>,
}

/// Why a parentRef attaches to no listener of its Gateway, in the order the checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum AttachFailure {
    /// No listener has the parentRef's `sectionName` / `port` (GW1).
    NoMatchingParent,
    /// The listeners that match do not allow the route's kind or namespace (GW4).
    NotAllowedByListeners,
    /// The listeners that allow it share no hostname with the route (GW3).
    NoMatchingListenerHostname,
}

impl AttachFailure {
    /// The condition reason a conformant controller writes for it.
    pub fn reason(self) -> &'static str {
        match self {
            AttachFailure::NoMatchingParent => "NoMatchingParent",
            AttachFailure::NotAllowedByListeners => "NotAllowedByListeners",
            AttachFailure::NoMatchingListenerHostname => "NoMatchingListenerHostname",
        }
    }
}

/// Whether the parentRef names this listener (GW1): `sectionName` is the listener's name and
/// `port` its port, each when given.
pub fn selects_listener(parent_ref: &ParentReference, listener: &Listener) -> bool {
    parent_ref
        .section_name
        .as_deref()
        .is_none_or(|s| s == listener.name)
        && parent_ref.port.is_none_or(|p| p == listener.port)
}

/// The route kinds a listener's protocol carries (GW4); `None` for a protocol kubehop does not
/// know (implementation-specific: every kind is let through).
pub fn protocol_kinds(listener: &Listener) -> Option<&'static [RouteKind]> {
    let terminate = listener
        .tls
        .as_ref()
        .and_then(|t| t.mode.as_deref())
        .is_none_or(|m| m == "Terminate");
    Some(match listener.protocol.as_str() {
        "HTTP" | "HTTPS" => &[RouteKind::Http, RouteKind::Grpc],
        "TLS" if terminate => &[RouteKind::Tls, RouteKind::Tcp],
        "TLS" => &[RouteKind::Tls],
        "TCP" => &[RouteKind::Tcp],
        "UDP" => &[RouteKind::Udp],
        _ => return None,
    })
}

/// Whether the listener accepts routes of this kind (GW4): listed in `allowedRoutes.kinds` when
/// given, else carried by its protocol.
pub fn allows_kind(listener: &Listener, kind: RouteKind) -> bool {
    let listed = listener
        .allowed_routes
        .as_ref()
        .and_then(|a| a.kinds.as_ref());
    let by_protocol = protocol_kinds(listener).is_none_or(|kinds| kinds.contains(&kind));
    match listed {
        Some(kinds) => {
            by_protocol
                && kinds
                    .iter()
                    .any(|k| k.group() == kubehop_gateway_api::GROUP && k.kind == kind.as_str())
        }
        None => by_protocol,
    }
}

/// Whether the listener accepts routes from `namespace` (GW4): `Same` (default) is the Gateway's
/// namespace, `All` any, `Selector` those whose labels match. `labels` `None`: the namespace's
/// labels are unknown (not in the snapshot); a selector that reads only the name label is still
/// decided, any other lets the route through (GW4: kubehop does not refuse on a guess).
pub fn allows_namespace(
    gateway: &Gateway,
    listener: &Listener,
    namespace: &str,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    let from = listener
        .allowed_routes
        .as_ref()
        .and_then(|a| a.namespaces.as_ref());
    match from.and_then(|n| n.from.as_deref()).unwrap_or("Same") {
        "All" => true,
        "Selector" => {
            let Some(selector) = from.and_then(|n| n.selector.as_ref()) else {
                return false;
            };
            let Some(labels) = labels.or_else(|| reads_name_only(selector).then_some(&NO_LABELS))
            else {
                return true;
            };
            let mut labels = labels.clone();
            labels
                .entry(NAME_LABEL.to_owned())
                .or_insert_with(|| namespace.to_owned());
            Selector::from_api(selector).matches(Some(&labels))
        }
        _ => gateway.metadata.namespace.as_deref() == Some(namespace),
    }
}

static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

/// Whether a label selector reads no label but the namespace's name.
fn reads_name_only(
    selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
) -> bool {
    let labels = selector.match_labels.iter().flatten().map(|(k, _)| k);
    let expressions = selector.match_expressions.iter().flatten().map(|e| &e.key);
    labels.chain(expressions).all(|key| key == NAME_LABEL)
}

/// The listeners of `gateway` the route's `parent_ref` attaches to, or why none.
pub fn attach<'g>(
    gateway: &'g Gateway,
    parent_ref: &ParentReference,
    route: &RouteView<'_>,
    labels: Option<&BTreeMap<String, String>>,
) -> Result<Vec<Attachment<'g>>, AttachFailure> {
    let selected: Vec<&Listener> = gateway
        .spec
        .listeners
        .iter()
        .filter(|l| selects_listener(parent_ref, l))
        .collect();
    if selected.is_empty() {
        return Err(AttachFailure::NoMatchingParent);
    }
    let allowed: Vec<&Listener> = selected
        .into_iter()
        .filter(|l| {
            allows_kind(l, route.kind) && allows_namespace(gateway, l, route.namespace, labels)
        })
        .collect();
    if allowed.is_empty() {
        return Err(AttachFailure::NotAllowedByListeners);
    }
    let attached: Vec<Attachment<'g>> = allowed
        .into_iter()
        .filter_map(|listener| {
            let hostnames = if route.kind.has_hostnames() {
                effective_hostnames(listener.hostname.as_deref(), route.hostnames)
            } else {
                vec![None]
            };
            (!hostnames.is_empty()).then_some(Attachment {
                listener,
                hostnames,
            })
        })
        .collect();
    if attached.is_empty() {
        return Err(AttachFailure::NoMatchingListenerHostname);
    }
    Ok(attached)
}
