//! Which pods a forwarded Service port may send a new connection to, from the engine's model.
//! Pure: no I/O, no clock.
//!
//! A port-forward enters no node, so there is no node N for kube-proxy's rules: the set is the
//! engine's cluster set (rule D2) without a topology node, which leaves ready endpoints, or, when
//! none is ready, the serving-and-terminating ones. internalTrafficPolicy does not apply (the
//! connection does not go through a ClusterIP); ClientIP affinity does (rules E1-E4), keyed on
//! the local client's address.
//!
//! Endpoints are deduplicated by pod (a dual-stack pod is listed once per family) and endpoints
//! that name no pod (hand-written EndpointSlices of a Service without selector) are left out: a
//! port-forward needs a pod.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;

use crate::engine::model::{
    AffinityConfig, PortChain, PortEndpoint, ServiceChain, ServiceKey, ServicePortKey,
};
use crate::engine::route::{Destination, RouteDecision, RouteEndpoint, RouteReason, SourceView};
use crate::engine::topology::{self, EndpointSet};
use crate::engine::{ClusterSnapshot, DiagnosticCode, EngineConfig, ProxyModel, Severity, Verdict};

/// A pod an endpoint names. The address is part of the identity: a StatefulSet pod recreated
/// under the same name is another pod.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
    pub ip: IpAddr,
}

impl fmt::Display for PodRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Why a pod is in the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Condition {
    Ready,
    /// No endpoint is ready: serving-and-terminating ones take the traffic (rule D2).
    ServingTerminating,
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Condition::Ready => "ready",
            Condition::ServingTerminating => "terminating, still serving",
        })
    }
}

/// One pod of the set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// The resolved targetPort on this pod (rule B3).
    pub port: u16,
    pub condition: Condition,
}

/// The state of one forwarded Service port at one snapshot.
#[derive(Debug, Clone)]
pub struct Backends {
    pub key: ServicePortKey,
    /// The engine's cluster set in the shape the [`crate::engine::Picker`] reads: verdict
    /// `Forward` with the endpoints, the Service's affinity and the Service port as the
    /// affinity key; `Reject` without endpoints.
    pub decision: RouteDecision,
    /// The pods of the set (where new connections may go).
    pub usable: BTreeMap<PodRef, Backend>,
    /// Every pod listed for this port, whatever its conditions. Open connections to a pod that
    /// is no longer listed end.
    pub listed: BTreeSet<PodRef>,
    /// Why the set is empty (`None` when it is not).
    pub empty_reason: Option<String>,
}

impl Backends {
    /// The state before any snapshot: nothing known yet.
    pub fn unknown(key: ServicePortKey) -> Self {
        Backends {
            decision: reject(&key, AffinityConfig::None),
            key,
            usable: BTreeMap::new(),
            listed: BTreeSet::new(),
            empty_reason: Some("the cluster has not been read yet".to_owned()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.usable.is_empty()
    }

    /// The decision without the pods in `tried` (they failed for this connection).
    pub fn without(&self, tried: &BTreeSet<PodRef>) -> RouteDecision {
        let mut decision = self.decision.clone();
        if tried.is_empty() {
            return decision;
        }
        decision.endpoints.retain(|endpoint| {
            pod_ref(&endpoint.0, &self.key.service).is_none_or(|pod| !tried.contains(&pod))
        });
        if decision.endpoints.is_empty() {
            decision.verdict = Verdict::Reject;
        }
        decision
    }
}

/// The pod an endpoint names, if any.
pub fn pod_ref(endpoint: &PortEndpoint, service: &ServiceKey) -> Option<PodRef> {
    let info = &endpoint.info;
    Some(PodRef {
        namespace: info
            .namespace
            .as_deref()
            .unwrap_or(service.namespace.as_str())
            .to_owned(),
        name: info.pod.as_deref()?.to_owned(),
        ip: info.ip,
    })
}

/// The picked endpoint's pod and port, when it names a pod.
pub fn chosen(endpoint: &RouteEndpoint, service: &ServiceKey) -> Option<(PodRef, u16)> {
    let pod = pod_ref(&endpoint.0, service)?;
    let port = u16::try_from(endpoint.0.port).ok()?;
    Some((pod, port))
}

fn reject(key: &ServicePortKey, affinity: AffinityConfig) -> RouteDecision {
    RouteDecision {
        // A port-forward has no destination address or node; these fields are informational.
        destination: Destination {
            ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: u16::try_from(key.port).unwrap_or(0),
            protocol: key.protocol,
        },
        source: SourceView {
            kind: crate::engine::route::SourceKind::External,
            node: String::new(),
        },
        matched: None,
        verdict: Verdict::Reject,
        endpoints: Vec::new(),
        affinity,
        service_port: Some(key.clone()),
        reasons: vec![RouteReason::NoUsableEndpoints],
    }
}

/// Only what the engine needs to model one Service: the Service, its EndpointSlices, the pods
/// of its namespace (for slices derived from pods and named targetPorts) and the nodes.
pub fn service_snapshot(snapshot: &ClusterSnapshot, service: &ServiceKey) -> ClusterSnapshot {
    let in_namespace = |namespace: Option<&String>| {
        namespace.map_or("default", String::as_str) == service.namespace
    };
    let is_service = |candidate: &Arc<Service>| {
        candidate.metadata.name.as_deref() == Some(service.name.as_str())
            && in_namespace(candidate.metadata.namespace.as_ref())
    };
    ClusterSnapshot {
        generation: snapshot.generation,
        services: snapshot
            .services
            .iter()
            .filter(|s| is_service(s))
            .cloned()
            .collect(),
        endpoint_slices: snapshot
            .endpoint_slices
            .iter()
            .filter(|slice| {
                in_namespace(slice.metadata.namespace.as_ref())
                    && slice
                        .metadata
                        .labels
                        .as_ref()
                        .and_then(|labels| labels.get("kubernetes.io/service-name"))
                        == Some(&service.name)
            })
            .cloned()
            .collect(),
        pods: snapshot
            .pods
            .iter()
            .filter(|pod| crate::engine::pods::namespace(pod) == service.namespace)
            .cloned()
            .collect::<Vec<_>>()
            .into(),
        nodes: snapshot.nodes.clone(),
        ingresses: Vec::new(),
        namespaces: Vec::new(),
        ingress_classes: Vec::new(),
        network_policies: Vec::new(),
        gateway_api: Default::default(),
        missing: snapshot.missing.clone(),
    }
}

/// The model of one Service in `snapshot` (see [`service_snapshot`]).
pub fn service_model(
    snapshot: &ClusterSnapshot,
    service: &ServiceKey,
    config: &EngineConfig,
) -> ProxyModel {
    crate::engine::build(&service_snapshot(snapshot, service), config)
}

/// The set for `key` in `model`.
pub fn backends(model: &ProxyModel, key: &ServicePortKey) -> Backends {
    let service = &key.service;
    let Some(chain) = model.service(&service.namespace, &service.name) else {
        return empty(
            key,
            AffinityConfig::None,
            format!("Service {service} does not exist"),
        );
    };
    let Some(port) = chain
        .ports
        .iter()
        .find(|port| port.port == key.port && port.protocol == key.protocol)
    else {
        return empty(
            key,
            AffinityConfig::None,
            format!(
                "Service {service} has no {} port {}",
                key.protocol, key.port
            ),
        );
    };
    // Rule E5: affinity is ignored for headless Services.
    let affinity = if chain.headless {
        AffinityConfig::None
    } else {
        chain.details.affinity
    };
    let (candidates, listed, without_pod) = candidates(port, service);
    let selection = topology::cluster_set(&candidates, "", None, false);
    let mut usable = BTreeMap::new();
    let mut endpoints = Vec::new();
    for endpoint in &selection.endpoints {
        let (Some(pod), Ok(number)) = (pod_ref(endpoint, service), u16::try_from(endpoint.port))
        else {
            continue;
        };
        let condition = if selection.terminating_fallback {
            Condition::ServingTerminating
        } else {
            Condition::Ready
        };
        usable.insert(
            pod,
            Backend {
                port: number,
                condition,
            },
        );
        endpoints.push(RouteEndpoint((*endpoint).clone()));
    }
    if endpoints.is_empty() {
        let reason = empty_reason(chain, port, candidates.len(), without_pod);
        let mut backends = empty(key, affinity, reason);
        backends.listed = listed;
        return backends;
    }
    let mut decision = reject(key, affinity);
    decision.verdict = Verdict::Forward;
    decision.endpoints = endpoints;
    decision.reasons = vec![RouteReason::EndpointSet(EndpointSet::Cluster)];
    if selection.terminating_fallback {
        decision
            .reasons
            .push(RouteReason::TerminatingFallback(EndpointSet::Cluster));
    }
    Backends {
        key: key.clone(),
        decision,
        usable,
        listed,
        empty_reason: None,
    }
}

/// The port's endpoints with a pod, one per pod (the candidates), every pod listed, and how
/// many endpoints have no pod.
fn candidates<'a>(
    port: &'a PortChain,
    service: &ServiceKey,
) -> (Vec<&'a PortEndpoint>, BTreeSet<PodRef>, usize) {
    let mut seen = BTreeSet::new();
    let mut listed = BTreeSet::new();
    let mut candidates: Vec<&PortEndpoint> = Vec::new();
    let mut without_pod = 0usize;
    for endpoint in &port.endpoints {
        let Some(pod) = pod_ref(endpoint, service) else {
            without_pod += 1;
            continue;
        };
        listed.insert(pod.clone());
        if seen.insert((pod.namespace.clone(), pod.name.clone())) {
            candidates.push(endpoint);
        }
    }
    (candidates, listed, without_pod)
}

fn empty(key: &ServicePortKey, affinity: AffinityConfig, reason: String) -> Backends {
    Backends {
        key: key.clone(),
        decision: reject(key, affinity),
        usable: BTreeMap::new(),
        listed: BTreeSet::new(),
        empty_reason: Some(reason),
    }
}

/// Why a port has no usable endpoint, in the engine's words where it has some.
fn empty_reason(
    chain: &ServiceChain,
    port: &PortChain,
    with_pod: usize,
    without_pod: usize,
) -> String {
    if with_pod == 0 && without_pod > 0 {
        return format!(
            "its {without_pod} endpoint(s) name no pod (a Service without selector): a port-forward needs a pod"
        );
    }
    if with_pod > 0 {
        return format!("none of its {with_pod} endpoint(s) is ready or serving");
    }
    let explained = chain.diagnostics.iter().find(|diagnostic| {
        diagnostic.severity == Severity::Error
            && matches!(
                diagnostic.code,
                DiagnosticCode::SelectorNoMatch
                    | DiagnosticCode::NoReadyEndpoints
                    | DiagnosticCode::NamedPortNotFound
                    | DiagnosticCode::SelectorlessNoEndpoints
            )
    });
    match explained {
        Some(diagnostic) => diagnostic.message.to_string(),
        None => format!("port {} has no endpoints", port.port),
    }
}

/// How the set changed between two snapshots, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A pod entered the set.
    Added {
        pod: PodRef,
        address: SocketAddr,
        condition: Condition,
    },
    /// A pod left the set; `listed` says whether it is still an endpoint (not ready, or
    /// terminating while others are ready) or gone.
    Removed { pod: PodRef, listed: bool },
    /// A pod of the set changed its condition (ready → terminating, still serving).
    Condition { pod: PodRef, condition: Condition },
    /// The set became empty.
    Emptied { reason: String },
    /// The set was empty and has pods again.
    Refilled { count: usize },
}

/// The changes from `before` to `after`, in a stable order.
pub fn changes(before: &Backends, after: &Backends) -> Vec<Change> {
    let mut out = Vec::new();
    for (pod, backend) in &after.usable {
        match before.usable.get(pod) {
            None => out.push(Change::Added {
                pod: pod.clone(),
                address: SocketAddr::new(pod.ip, backend.port),
                condition: backend.condition,
            }),
            Some(previous) if previous.condition != backend.condition => {
                out.push(Change::Condition {
                    pod: pod.clone(),
                    condition: backend.condition,
                });
            }
            Some(_) => {}
        }
    }
    for pod in before.usable.keys() {
        if !after.usable.contains_key(pod) {
            out.push(Change::Removed {
                pod: pod.clone(),
                listed: after.listed.contains(pod),
            });
        }
    }
    match (before.is_empty(), after.is_empty(), &after.empty_reason) {
        (false, true, Some(reason)) => out.push(Change::Emptied {
            reason: reason.clone(),
        }),
        (true, false, _) => out.push(Change::Refilled {
            count: after.usable.len(),
        }),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::model::Protocol;
    use serde_json::{Value, json};

    fn snapshot(objects: Vec<Value>) -> ClusterSnapshot {
        let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
        crate::cluster::dump::load_str("inline.json", &list.to_string())
            .expect("valid objects")
            .snapshot
    }

    fn service(spec: Value) -> Value {
        let mut service = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"clusterIP": "127.40.0.10", "selector": {"app": "web"},
                     "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}
        });
        json_patch::merge(&mut service["spec"], &spec);
        service
    }

    fn endpoint(pod: &str, ip: &str, ready: bool, serving: bool, terminating: bool) -> Value {
        json!({"addresses": [ip], "nodeName": "node-1",
               "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
               "targetRef": {"kind": "Pod", "name": pod, "namespace": "shop"}})
    }

    fn slice(endpoints: Vec<Value>) -> Value {
        json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "web-abc", "namespace": "shop",
                         "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": endpoints
        })
    }

    fn key() -> ServicePortKey {
        ServicePortKey {
            service: ServiceKey {
                namespace: "shop".into(),
                name: "web".into(),
            },
            port: 80,
            protocol: Protocol::Tcp,
        }
    }

    fn backends_of(objects: Vec<Value>) -> Backends {
        let key = key();
        let model = service_model(&snapshot(objects), &key.service, &EngineConfig::default());
        backends(&model, &key)
    }

    fn names(backends: &Backends) -> Vec<(String, Condition)> {
        backends
            .usable
            .iter()
            .map(|(pod, backend)| (pod.name.clone(), backend.condition))
            .collect()
    }

    #[test]
    fn ready_endpoints_form_the_set() {
        let backends = backends_of(vec![
            service(json!({})),
            slice(vec![
                endpoint("web-1", "127.40.3.1", true, true, false),
                endpoint("web-2", "127.40.3.2", true, true, false),
                endpoint("web-3", "127.40.3.3", false, false, false),
                endpoint("web-4", "127.40.3.4", false, true, true),
            ]),
        ]);
        assert_eq!(
            names(&backends),
            [
                ("web-1".to_owned(), Condition::Ready),
                ("web-2".to_owned(), Condition::Ready)
            ]
        );
        assert_eq!(backends.decision.verdict, Verdict::Forward);
        assert_eq!(backends.decision.endpoints.len(), 2);
        assert_eq!(
            backends.listed.len(),
            4,
            "unready and terminating pods are still listed"
        );
        assert_eq!(
            backends.usable.values().map(|b| b.port).collect::<Vec<_>>(),
            [8080, 8080],
            "the resolved targetPort"
        );
    }

    #[test]
    fn serving_terminating_endpoints_take_over_when_none_is_ready() {
        let backends = backends_of(vec![
            service(json!({})),
            slice(vec![
                endpoint("web-1", "127.40.3.1", false, true, true),
                endpoint("web-2", "127.40.3.2", false, false, true),
            ]),
        ]);
        assert_eq!(
            names(&backends),
            [("web-1".to_owned(), Condition::ServingTerminating)]
        );
    }

    #[test]
    fn no_usable_endpoint_rejects_with_a_reason() {
        let backends = backends_of(vec![
            service(json!({})),
            slice(vec![endpoint("web-1", "127.40.3.1", false, false, true)]),
        ]);
        assert!(backends.is_empty());
        assert_eq!(backends.decision.verdict, Verdict::Reject);
        assert_eq!(
            backends.empty_reason.as_deref(),
            Some("none of its 1 endpoint(s) is ready or serving")
        );
        let gone = backends_of(vec![]);
        assert_eq!(
            gone.empty_reason.as_deref(),
            Some("Service shop/web does not exist")
        );
    }

    #[test]
    fn endpoints_without_a_pod_cannot_be_forwarded_to() {
        let mut no_pod = endpoint("x", "127.40.3.9", true, true, false);
        no_pod.as_object_mut().expect("object").remove("targetRef");
        let backends = backends_of(vec![
            service(json!({"selector": null})),
            slice(vec![no_pod]),
        ]);
        assert!(backends.is_empty());
        assert!(
            backends
                .empty_reason
                .as_deref()
                .is_some_and(|reason| reason.contains("name no pod")),
            "{:?}",
            backends.empty_reason
        );
    }

    #[test]
    fn client_ip_affinity_is_carried_and_dropped_for_headless_services() {
        let sticky = json!({"sessionAffinity": "ClientIP",
                            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}});
        let ready = || slice(vec![endpoint("web-1", "127.40.3.1", true, true, false)]);
        let backends = backends_of(vec![service(sticky.clone()), ready()]);
        assert_eq!(
            backends.decision.affinity,
            AffinityConfig::ClientIp {
                timeout: std::time::Duration::from_secs(60)
            }
        );
        let mut headless = sticky;
        headless["clusterIP"] = json!("None");
        let backends = backends_of(vec![service(headless), ready()]);
        assert_eq!(backends.decision.affinity, AffinityConfig::None);
        assert_eq!(names(&backends).len(), 1, "headless Services forward too");
    }

    #[test]
    fn tried_pods_are_left_out_of_the_decision() {
        let backends = backends_of(vec![
            service(json!({})),
            slice(vec![
                endpoint("web-1", "127.40.3.1", true, true, false),
                endpoint("web-2", "127.40.3.2", true, true, false),
            ]),
        ]);
        let first = backends.usable.keys().next().cloned().expect("a pod");
        let decision = backends.without(&BTreeSet::from([first.clone()]));
        assert_eq!(decision.endpoints.len(), 1);
        assert_ne!(
            decision.endpoints[0].0.info.pod.as_deref(),
            Some(first.name.as_str())
        );
        let all: BTreeSet<PodRef> = backends.usable.keys().cloned().collect();
        assert_eq!(backends.without(&all).verdict, Verdict::Reject);
    }

    #[test]
    fn changes_name_added_removed_and_emptied() {
        let both = backends_of(vec![
            service(json!({})),
            slice(vec![
                endpoint("web-1", "127.40.3.1", true, true, false),
                endpoint("web-2", "127.40.3.2", true, true, false),
            ]),
        ]);
        let one_terminating = backends_of(vec![
            service(json!({})),
            slice(vec![
                endpoint("web-1", "127.40.3.1", true, true, false),
                endpoint("web-2", "127.40.3.2", false, true, true),
            ]),
        ]);
        let none = backends_of(vec![service(json!({})), slice(vec![])]);
        let unknown = Backends::unknown(key());
        let pod = |name: &str, ip: &str| PodRef {
            namespace: "shop".into(),
            name: name.into(),
            ip: ip.parse().expect("ip"),
        };
        assert_eq!(
            changes(&unknown, &both),
            [
                Change::Added {
                    pod: pod("web-1", "127.40.3.1"),
                    address: "127.40.3.1:8080".parse().expect("address"),
                    condition: Condition::Ready
                },
                Change::Added {
                    pod: pod("web-2", "127.40.3.2"),
                    address: "127.40.3.2:8080".parse().expect("address"),
                    condition: Condition::Ready
                },
                Change::Refilled { count: 2 },
            ]
        );
        assert_eq!(
            changes(&both, &one_terminating),
            [Change::Removed {
                pod: pod("web-2", "127.40.3.2"),
                listed: true
            }]
        );
        let emptied = changes(&one_terminating, &none);
        assert!(
            matches!(
                emptied.as_slice(),
                [
                    Change::Removed { listed: false, .. },
                    Change::Emptied { .. }
                ]
            ),
            "{emptied:?}"
        );
    }
}
