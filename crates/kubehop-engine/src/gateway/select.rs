//! [`Gateways`]: the Gateway API objects of a snapshot with the lookups routing needs.

use std::cmp::Reverse;
use std::collections::BTreeMap;

/// The labels of a namespace the snapshot has without labels.
static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

use k8s_openapi::api::core::v1::Service;
use kubehop_gateway_api::{BackendRef, Gateway, Listener, ParentReference};

use super::attach::{AttachFailure, Attachment, attach};
use super::backends::{BackendProblem, WeightedBackend, pick};
use super::hostname::{host_matches, specificity};
use super::matcher::{MatchStrength, best_host, grpc_match, host_strength, http_match};
use super::objects::{GatewayObjects, RouteKind, RouteSource, RouteView};
use super::request::HttpRequest;
use crate::snapshot::ClusterSnapshot;

/// A route's parentRef and what it attaches to.
#[derive(Debug, Clone)]
pub struct ParentAttachment<'a> {
    pub parent_ref: &'a ParentReference,
    /// The Gateway's namespace (defaulted to the route's).
    pub namespace: String,
    /// `None`: no such Gateway (or the parent is not a Gateway).
    pub gateway: Option<&'a Gateway>,
    /// The listeners it attaches to, or why none; `None` when there is no Gateway.
    pub result: Option<Result<Vec<Attachment<'a>>, AttachFailure>>,
}

/// The rule a request or connection takes, and its backends.
#[derive(Debug, Clone)]
pub struct RouteMatch<'a> {
    pub route: RouteView<'a>,
    /// The rule's position in the route.
    pub rule: usize,
    /// The match's position in the rule (`None`: the rule has no matches).
    pub match_index: Option<usize>,
    /// The route's hostname on the listener that matched (`None`: every host).
    pub hostname: Option<String>,
    pub strength: MatchStrength,
    pub backends: Vec<WeightedBackend<'a>>,
}

impl<'a> RouteMatch<'a> {
    /// The backend the `n`th request goes to (see the weights); `None` when every weight is 0.
    /// A backend with a problem still takes its share: those requests fail.
    pub fn pick(&self, n: u64) -> Option<&WeightedBackend<'a>> {
        pick(&self.backends, n)
    }
}

/// The Gateway API objects of a snapshot, with the Services and namespace labels that routing
/// and attachment read.
#[derive(Debug, Clone)]
pub struct Gateways<'a> {
    pub objects: &'a GatewayObjects,
    services: BTreeMap<(&'a str, &'a str), &'a Service>,
    labels: BTreeMap<&'a str, &'a BTreeMap<String, String>>,
    /// The input carries Services (a dump of Gateway API objects alone does not).
    services_known: bool,
}

impl<'a> Gateways<'a> {
    pub fn new(snapshot: &'a ClusterSnapshot) -> Self {
        let services = snapshot
            .services
            .iter()
            .filter_map(|s| {
                let meta = &s.metadata;
                Some(((meta.namespace.as_deref()?, meta.name.as_deref()?), &**s))
            })
            .collect();
        let labels = snapshot
            .namespaces
            .iter()
            .filter_map(|n| {
                let labels = n.metadata.labels.as_ref().unwrap_or(&NO_LABELS);
                Some((n.metadata.name.as_deref()?, labels))
            })
            .collect();
        Gateways {
            objects: &snapshot.gateway_api,
            services,
            labels,
            services_known: snapshot.has(crate::snapshot::ResourceKind::Service),
        }
    }

    /// The labels of namespace `name` (empty when it has none); `None` when the snapshot does
    /// not have the namespace (a dump without Namespaces): its labels are unknown.
    pub fn namespace_labels(&self, name: &str) -> Option<&'a BTreeMap<String, String>> {
        self.labels.get(name).copied()
    }

    /// The Service `namespace/name`.
    pub fn service(&self, namespace: &str, name: &str) -> Option<&'a Service> {
        self.services.get(&(namespace, name)).copied()
    }

    /// The Gateway `namespace/name`.
    pub fn gateway(&self, namespace: &str, name: &str) -> Option<&'a Gateway> {
        self.objects.gateway(namespace, name)
    }

    /// Whether the snapshot carries Services (a Service it lacks is then missing, GW14).
    pub fn services_known(&self) -> bool {
        self.services_known
    }

    /// Whether the snapshot carries Gateways at all: a dump of routes alone (`kubectl get
    /// httproutes`, or an app's manifests for a platform's shared Gateway) has neither a
    /// Gateway nor a GatewayClass, and a Gateway it lacks is unknown, not missing (GW14).
    pub fn gateways_known(&self) -> bool {
        !self.objects.gateways.is_empty() || !self.objects.gateway_classes.is_empty()
    }

    /// Whether a parentRef's Gateway, absent from the snapshot, is only unseen: the snapshot
    /// has no Gateway at all, or a controller accepted the route on that parent for its current
    /// generation, which it does only for a Gateway that exists (GW14).
    pub fn gateway_unseen(&self, route: &RouteView<'_>, parent: &ParentAttachment<'_>) -> bool {
        parent.gateway.is_none()
            && parent.parent_ref.is_gateway()
            && (!self.gateways_known() || accepted_in_status(route, parent.parent_ref))
    }

    /// The Gateway with this address (in its status, else its spec).
    pub fn by_address(&self, address: &str) -> Option<&'a Gateway> {
        let has = |g: &Gateway| {
            let status = g.status.as_ref().and_then(|s| s.addresses.as_ref());
            let spec = g.spec.addresses.as_ref();
            status
                .into_iter()
                .chain(spec)
                .flatten()
                .any(|a| a.value == address)
        };
        self.objects.gateways.iter().map(|g| &**g).find(|g| has(g))
    }

    /// The listener of `gateway` on `port` that serves `host` (the most specific hostname wins:
    /// exact, then the longest wildcard, then none); for TCP and UDP (`host` `None`) the first
    /// listener on the port.
    pub fn listener(
        &self,
        gateway: &'a Gateway,
        port: i32,
        host: Option<&str>,
    ) -> Option<&'a Listener> {
        let on_port = gateway.spec.listeners.iter().filter(|l| l.port == port);
        match host {
            None => on_port.into_iter().next(),
            Some(host) => on_port
                .filter(|l| l.hostname.as_deref().is_none_or(|h| host_matches(h, host)))
                .max_by_key(|l| (specificity(l.hostname.as_deref()), Reverse(l.name.as_str()))),
        }
    }

    /// Each parentRef of `route`, resolved to its Gateway and listeners.
    pub fn parents(&self, route: &RouteView<'a>) -> Vec<ParentAttachment<'a>> {
        route
            .parent_refs
            .iter()
            .map(|parent_ref| {
                let namespace = parent_ref.namespace(route.namespace).to_owned();
                let gateway = parent_ref
                    .is_gateway()
                    .then(|| self.gateway(&namespace, &parent_ref.name))
                    .flatten();
                let labels = self.namespace_labels(route.namespace);
                let result = gateway.map(|g| attach(g, parent_ref, route, labels));
                ParentAttachment {
                    parent_ref,
                    namespace,
                    gateway,
                    result,
                }
            })
            .collect()
    }

    /// The routes attached to `listener` of `gateway`, each with its hostnames there.
    pub fn routes_on(
        &self,
        gateway: &'a Gateway,
        listener: &Listener,
    ) -> Vec<(RouteView<'a>, Vec<Option<String>>)> {
        let mut out = Vec::new();
        for route in self.objects.routes() {
            let mut hostnames: Vec<Option<String>> = Vec::new();
            for parent in self.parents(&route) {
                let same = parent.gateway.is_some_and(|g| std::ptr::eq(g, gateway));
                let Some(Ok(attachments)) = parent.result.filter(|_| same) else {
                    continue;
                };
                for a in attachments
                    .into_iter()
                    .filter(|a| a.listener.name == listener.name)
                {
                    hostnames.extend(a.hostnames);
                }
            }
            if !hostnames.is_empty() {
                hostnames.sort();
                hostnames.dedup();
                out.push((route, hostnames));
            }
        }
        out
    }

    /// Why `backend` of a route of `kind` in `route_namespace` cannot take traffic, if so.
    pub fn backend_problem(
        &self,
        kind: RouteKind,
        route_namespace: &str,
        backend: &BackendRef,
    ) -> Option<BackendProblem> {
        if !backend.is_service() {
            return Some(BackendProblem::UnsupportedKind);
        }
        let namespace = backend.namespace(route_namespace);
        if namespace != route_namespace
            && !self.permitted(kind, route_namespace, namespace, &backend.name)
        {
            return Some(BackendProblem::RefNotPermitted);
        }
        let Some(service) = self.service(namespace, &backend.name) else {
            return Some(BackendProblem::ServiceNotFound);
        };
        let Some(port) = backend.port else {
            return Some(BackendProblem::PortMissing);
        };
        if service.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("ExternalName") {
            // Implementation-specific (GW15): the port is the external name's, not one the
            // Service lists.
            return None;
        }
        let ports = service.spec.as_ref().and_then(|s| s.ports.as_ref());
        if !ports.into_iter().flatten().any(|p| p.port == port) {
            return Some(BackendProblem::PortNotFound);
        }
        None
    }

    /// Whether a ReferenceGrant in `to_namespace` lets routes of `kind` in `from_namespace`
    /// refer to the Service `name` there (GW10).
    pub fn permitted(
        &self,
        kind: RouteKind,
        from_namespace: &str,
        to_namespace: &str,
        name: &str,
    ) -> bool {
        self.objects
            .reference_grants
            .iter()
            .filter(|g| g.metadata.namespace.as_deref() == Some(to_namespace))
            .any(|g| {
                let from = g.spec.from.iter().any(|f| {
                    f.group == kubehop_gateway_api::GROUP
                        && f.kind == kind.as_str()
                        && f.namespace == from_namespace
                });
                let to = g.spec.to.iter().any(|t| {
                    t.group.is_empty()
                        && t.kind == "Service"
                        && t.name.as_deref().is_none_or(|n| n == name)
                });
                from && to
            })
    }

    /// The weighted backends of rule `rule` of `route`.
    pub fn backends(&self, route: &RouteView<'a>, rule: usize) -> Vec<WeightedBackend<'a>> {
        let Some(rule) = route.rules.get(rule) else {
            return Vec::new();
        };
        rule.backends
            .iter()
            .map(|backend| WeightedBackend {
                backend,
                namespace: backend.namespace(route.namespace).to_owned(),
                weight: u32::try_from(backend.weight()).unwrap_or(0),
                problem: self.backend_problem(route.kind, route.namespace, backend),
            })
            .collect()
    }

    /// The rule an HTTP (or gRPC) request takes on `listener` of `gateway` (GW5, GW6): the
    /// strongest match; ties go to the oldest route, then the first by `namespace/name`, then
    /// the first rule and match in order. gRPC calls try GRPCRoutes first.
    pub fn match_http(
        &self,
        gateway: &'a Gateway,
        listener: &Listener,
        request: &HttpRequest,
    ) -> Option<RouteMatch<'a>> {
        let routes = self.routes_on(gateway, listener);
        let kinds: &[RouteKind] = if request.is_grpc() {
            &[RouteKind::Grpc, RouteKind::Http]
        } else {
            &[RouteKind::Http]
        };
        kinds.iter().find_map(|kind| {
            let candidates = routes.iter().filter(|(r, _)| r.kind == *kind);
            best(candidates.flat_map(|(route, hostnames)| candidates_of(route, hostnames, request)))
                .map(|c| self.finish(c))
        })
    }

    /// The rule a TLS (by SNI), TCP or UDP connection takes on `listener` of `gateway`: the
    /// route with the most specific hostname (TLS), then the oldest, then by `namespace/name`;
    /// its first rule.
    pub fn match_l4(
        &self,
        gateway: &'a Gateway,
        listener: &Listener,
        sni: Option<&str>,
    ) -> Option<RouteMatch<'a>> {
        let routes = self.routes_on(gateway, listener);
        let candidates = routes
            .iter()
            .filter(|(r, _)| matches!(r.kind, RouteKind::Tls | RouteKind::Tcp | RouteKind::Udp))
            .filter_map(|(route, hostnames)| {
                let (hostname, host) = if route.kind == RouteKind::Tls {
                    let sni = sni?;
                    (
                        best_host(hostnames, sni)?.clone(),
                        host_strength(route.hostnames, hostnames, sni)?,
                    )
                } else {
                    (None, (false, 0))
                };
                let strength = MatchStrength {
                    hostname: host,
                    ..MatchStrength::default()
                };
                (!route.rules.is_empty()).then(|| Candidate {
                    route: route.clone(),
                    hostname,
                    rule: 0,
                    match_index: None,
                    strength,
                })
            });
        best(candidates).map(|c| self.finish(c))
    }

    fn finish(&self, c: Candidate<'a>) -> RouteMatch<'a> {
        let hostname = c.hostname;
        RouteMatch {
            backends: self.backends(&c.route, c.rule),
            route: c.route,
            rule: c.rule,
            match_index: c.match_index,
            hostname,
            strength: c.strength,
        }
    }
}

/// The route's status entry for `parent_ref` (same Gateway, listener and port), if a
/// controller wrote one (GW13).
pub fn status_entry<'a>(
    route: &RouteView<'a>,
    parent_ref: &ParentReference,
) -> Option<&'a kubehop_gateway_api::RouteParentStatus> {
    let ns = route.namespace;
    route.status?.parents.iter().find(|p| {
        let got = &p.parent_ref;
        got.name == parent_ref.name
            && got.group() == parent_ref.group()
            && got.kind() == parent_ref.kind()
            && got.namespace(ns) == parent_ref.namespace(ns)
            && got.section_name == parent_ref.section_name
            && got.port == parent_ref.port
    })
}

/// Whether a condition describes the object's current spec: its `observedGeneration` is not
/// older than the object's `generation` (GW13).
pub fn current(condition: &kubehop_gateway_api::Condition, generation: Option<i64>) -> bool {
    !matches!((condition.observed_generation, generation), (Some(seen), Some(now)) if seen < now)
}

/// Whether a controller accepted the route on `parent_ref` for its current generation.
fn accepted_in_status(route: &RouteView<'_>, parent_ref: &ParentReference) -> bool {
    status_entry(route, parent_ref).is_some_and(|entry| {
        entry.conditions.iter().any(|c| {
            c.type_ == "Accepted" && c.status == "True" && current(c, route.metadata.generation)
        })
    })
}

#[derive(Debug, Clone)]
struct Candidate<'a> {
    route: RouteView<'a>,
    hostname: Option<String>,
    rule: usize,
    match_index: Option<usize>,
    strength: MatchStrength,
}

/// Every (rule, match) of `route` that matches `request`, with its strength.
fn candidates_of<'a>(
    route: &RouteView<'a>,
    hostnames: &[Option<String>],
    request: &HttpRequest,
) -> Vec<Candidate<'a>> {
    let (Some(best), Some(hostname)) = (
        best_host(hostnames, &request.host),
        host_strength(route.hostnames, hostnames, &request.host),
    ) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut push = |rule: usize, match_index: Option<usize>, strength: Option<MatchStrength>| {
        if let Some(strength) = strength {
            let strength = MatchStrength {
                hostname,
                ..strength
            };
            out.push(Candidate {
                route: route.clone(),
                hostname: best.clone(),
                rule,
                match_index,
                strength,
            });
        }
    };
    match route.source {
        RouteSource::Http(r) => {
            for (i, rule) in r.spec.rules.iter().flatten().enumerate() {
                match rule.matches.as_deref() {
                    None | Some([]) => push(i, None, http_match(None, request)),
                    Some(ms) => ms
                        .iter()
                        .enumerate()
                        .for_each(|(j, m)| push(i, Some(j), http_match(Some(m), request))),
                }
            }
        }
        RouteSource::Grpc(r) => {
            for (i, rule) in r.spec.rules.iter().flatten().enumerate() {
                match rule.matches.as_deref() {
                    None | Some([]) => push(i, None, grpc_match(None, request)),
                    Some(ms) => ms
                        .iter()
                        .enumerate()
                        .for_each(|(j, m)| push(i, Some(j), grpc_match(Some(m), request))),
                }
            }
        }
        _ => {}
    }
    out
}

/// The winning candidate: the greatest strength; ties to the oldest route (one without a
/// creation time counts as newest), then `namespace/name`, then rule and match order.
fn best<'a>(candidates: impl Iterator<Item = Candidate<'a>>) -> Option<Candidate<'a>> {
    candidates.min_by(|a, b| {
        let key = |c: &Candidate<'a>| {
            let created = c.route.metadata.creation_timestamp.as_ref().map(|t| t.0);
            (
                Reverse(c.strength),
                created.is_none(),
                created,
                c.route.namespace,
                c.route.name,
                c.rule,
                c.match_index,
            )
        };
        key(a).cmp(&key(b))
    })
}
