//! Incremental updates of a [`ProxyModel`]: a new snapshot of the same source is compared with
//! the previous one, and only the Services the changed objects can affect are built again.
//!
//! Pods, Services (same selector) and EndpointSlices are followed object by object; any other
//! change (nodes, Ingresses, namespaces, IngressClasses, NetworkPolicies, Gateway API objects,
//! a Service added, removed or re-selected, a missing kind, too many changes at once, objects
//! out of order) is a full [`crate::build`], and so is every change of a cluster with
//! NetworkPolicies or Gateway API routes. The result equals a full build of the new snapshot;
//! a property test applies random event sequences both ways and compares the models.

mod deps;
mod diff;
mod partial;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use k8s_openapi::api::core::v1::Service;

use crate::objects::PodInfo;
use crate::objects::SliceInfo;

use crate::config::EngineConfig;
use crate::model::ProxyModel;
use crate::netpol::PolicyIndex;
use crate::snapshot::ClusterSnapshot;
use deps::{Dependents, Position};
use diff::{Change, NotComparable};

/// What [`IncrementalModel::update`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// Nothing the model reads changed.
    Unchanged,
    /// The whole model was built again.
    Full,
    /// These Services (positions in [`ProxyModel::services`], ascending) were built again.
    Services(Vec<usize>),
}

/// A model kept current across snapshots of one source.
#[derive(Debug)]
pub struct IncrementalModel {
    config: EngineConfig,
    threads: usize,
    snapshot: Arc<ClusterSnapshot>,
    /// Shared with whoever holds [`IncrementalModel::shared_model`]; an update copies it only
    /// while someone else still holds the previous one.
    model: Arc<ProxyModel>,
    /// `None` when the snapshot cannot be followed object by object (unsorted objects,
    /// NetworkPolicies present): every change is then a full build.
    dependents: Option<Dependents>,
}

/// At most this many changed objects per update (a relist gives every object anew).
const MAX_CHANGES: usize = 4_096;

impl IncrementalModel {
    /// A full build of `snapshot`.
    pub fn new(snapshot: Arc<ClusterSnapshot>, config: &EngineConfig) -> Self {
        Self::on_threads(snapshot, config, crate::parallel::BUILD_THREADS)
    }

    /// [`IncrementalModel::new`] with full builds on a chosen number of threads.
    #[doc(hidden)]
    pub fn on_threads(
        snapshot: Arc<ClusterSnapshot>,
        config: &EngineConfig,
        threads: usize,
    ) -> Self {
        let model = Arc::new(crate::build_on_threads(&snapshot, config, threads));
        let dependents = followable(&snapshot).then(|| Dependents::new(&snapshot, &model));
        Self {
            config: config.clone(),
            threads,
            snapshot,
            model,
            dependents,
        }
    }

    pub fn model(&self) -> &ProxyModel {
        &self.model
    }

    /// The model, shared (no copy).
    pub fn shared_model(&self) -> Arc<ProxyModel> {
        self.model.clone()
    }

    pub fn snapshot(&self) -> &Arc<ClusterSnapshot> {
        &self.snapshot
    }

    /// Brings the model to `next`, a later snapshot of the same source.
    ///
    /// The cost follows the change, not the cluster: the merge walks compare pointers, and
    /// only the objects they find changed are checked for order (the others keep the order
    /// they had in the previous snapshot, which was checked), read and indexed.
    pub fn update(&mut self, next: Arc<ClusterSnapshot>) -> Update {
        let outcome = match self.dependents.is_some() {
            true => self.follow(&next),
            false => Err(NotComparable::Unordered),
        };
        match outcome {
            Ok(update) => {
                self.snapshot = next;
                update
            }
            Err(_) => {
                *self = Self::on_threads(next, &self.config, self.threads);
                Update::Full
            }
        }
    }

    /// The object-by-object update, or why it is not possible.
    fn follow(&mut self, next: &Arc<ClusterSnapshot>) -> Result<Update, NotComparable> {
        let previous = self.snapshot.clone();
        if !others_unchanged(&previous, next) {
            return Err(NotComparable::TooMany);
        }
        let services = diff::diff(&previous.services, &next.services, MAX_CHANGES)?;
        let slices = diff::diff(
            &previous.endpoint_slices,
            &next.endpoint_slices,
            MAX_CHANGES,
        )?;
        let pods = diff::diff(&previous.pods, &next.pods, MAX_CHANGES)?;
        if services.is_empty() && slices.is_empty() && pods.is_empty() {
            return Ok(Update::Unchanged);
        }
        // K2: the node table reads the proxy pods; when a changed pod is one, every NodePort
        // row may change (K3, the pod ranges, is counted below).
        if touches_proxies(&pods) && !self.node_table_holds(next) {
            return Err(NotComparable::TooMany);
        }
        let replaced = self.services_replaced(&services)?;
        let Some(dependents) = self.dependents.as_mut() else {
            return Err(NotComparable::Unordered);
        };
        let mut affected: BTreeSet<Position> =
            replaced.iter().map(|(position, _)| *position).collect();
        apply_slices(dependents, &slices, &mut affected);
        apply_pods(dependents, &pods, &self.model, &mut affected);
        // K3: whether pods follow the node ranges reads every pod; a change of it is a full
        // build, as the node table changes.
        if dependents.ranges_followed() != self.model.nodes.ranges_followed()
            || affected.len() > self.model.services.len() / 4 + 16
        {
            return Err(NotComparable::TooMany);
        }
        let inputs = partial::Inputs {
            next,
            model: &self.model,
            dependents,
            replaced: &replaced,
            config: &self.config,
        };
        let rebuilt = partial::rebuild(&inputs, &affected);
        // The front doors' route index holds while no rebuilt chain changed one (pod events
        // change endpoints only): the screen's explanations ask routes after every update.
        let routes = self.model.routes.get().cloned().filter(|_| {
            rebuilt.iter().all(|(position, chain)| {
                self.model
                    .services
                    .get(*position as usize)
                    .is_some_and(|old| crate::route::same_front_doors(old, chain))
            })
        });
        // Someone (the screen) still holds the previous model: a copy shares every chain.
        if Arc::get_mut(&mut self.model).is_none() {
            self.model = Arc::new(self.model.sharing_copy());
        }
        let model = Arc::make_mut(&mut self.model);
        for (position, chain) in rebuilt {
            dependents.set_wide(position, deps::is_wide(&chain));
            if let Some(slot) = model.services.get_mut(position as usize) {
                *slot = Arc::new(chain);
            }
        }
        if !pods.is_empty() {
            // Without NetworkPolicies (the only case followed here) it holds only the pods.
            model.policies = Arc::new(PolicyIndex::of_shared(next));
        }
        model.routes = routes.map(OnceLock::from).unwrap_or_default();
        model.pod_ips = OnceLock::new();
        Ok(Update::Services(
            affected.into_iter().map(|p| p as usize).collect(),
        ))
    }

    /// The Services whose object changed, with the new object; a Service added, removed or
    /// with another selector is not followed.
    fn services_replaced(
        &self,
        changes: &[Change<'_, Service>],
    ) -> Result<Vec<(Position, Arc<Service>)>, NotComparable> {
        let Some(dependents) = self.dependents.as_ref() else {
            return Err(NotComparable::Unordered);
        };
        let mut out = Vec::with_capacity(changes.len());
        for change in changes {
            let (Some(old), Some(new)) = change else {
                return Err(NotComparable::TooMany);
            };
            let selector = |service: &Service| {
                service
                    .spec
                    .as_ref()
                    .and_then(|spec| spec.selector.clone())
                    .filter(|selector| !selector.is_empty())
            };
            if selector(old) != selector(new) {
                return Err(NotComparable::TooMany);
            }
            let namespace = new.metadata.namespace.as_deref().unwrap_or("default");
            let name = new.metadata.name.as_deref().unwrap_or_default();
            let position = dependents
                .position(namespace, name)
                .ok_or(NotComparable::Unordered)?;
            out.push((position, (*new).clone()));
        }
        Ok(out)
    }
}

/// Whether a changed pod is, or was, a node's proxy (rule K2).
fn touches_proxies(pods: &[Change<'_, PodInfo>]) -> bool {
    pods.iter()
        .flat_map(|(old, new)| old.iter().chain(new.iter()))
        .any(|pod| crate::node_proxy::proxy_kind(pod).is_some())
}

/// Whether a snapshot can be followed object by object (checked on a full build; an update
/// checks the order only where objects changed).
fn followable(snapshot: &ClusterSnapshot) -> bool {
    snapshot.network_policies.is_empty()
        && diff::strictly_sorted(&snapshot.services)
        && diff::strictly_sorted(&snapshot.endpoint_slices)
        && diff::strictly_sorted(&snapshot.pods)
}

impl IncrementalModel {
    /// Whether the model's node table is the one `next` builds.
    fn node_table_holds(&self, next: &ClusterSnapshot) -> bool {
        let table = crate::nodes::NodeTable::new(next.nodes.iter().map(|node| node.as_ref()))
            .with_pods(&next.pods);
        *self.model.nodes == table
    }
}

/// Whether everything but Services, EndpointSlices and pods is as before. Every field is
/// named, so a kind added to the snapshot must be handled here (a change of it is a full
/// build).
fn others_unchanged(before: &ClusterSnapshot, after: &ClusterSnapshot) -> bool {
    let ClusterSnapshot {
        generation: _,
        services: _,
        endpoint_slices: _,
        pods: _,
        nodes,
        ingresses,
        namespaces,
        ingress_classes,
        network_policies,
        gateway_api,
        missing,
    } = after;
    // Gateway API routes and NetworkPolicies read Services and pods across namespaces (a
    // route's backends and their endpoints, a policy's peers): a cluster with any of them is
    // built whole. GatewayClasses, Gateways and ReferenceGrants without a route add nothing
    // to a chain (its links and findings come from routes), so they only have to be the same;
    // a sandbox or a cluster with a Gateway API controller installed always has a class.
    if has_routes(&before.gateway_api)
        || has_routes(gateway_api)
        || !network_policies.is_empty()
        || !before.network_policies.is_empty()
    {
        return false;
    }
    same_gateway_objects(&before.gateway_api, gateway_api)
        && diff::same(&before.nodes, nodes)
        && diff::same(&before.ingresses, ingresses)
        && diff::same(&before.namespaces, namespaces)
        && diff::same(&before.ingress_classes, ingress_classes)
        && diff::same(&before.network_policies, network_policies)
        && before.missing == *missing
}

fn has_routes(objects: &crate::gateway::GatewayObjects) -> bool {
    objects.routes().next().is_some()
}

/// Every Gateway API object of `after` is the one `before` had (every list is named, so a
/// kind added to [`crate::gateway::GatewayObjects`] must be compared here).
fn same_gateway_objects(
    before: &crate::gateway::GatewayObjects,
    after: &crate::gateway::GatewayObjects,
) -> bool {
    let crate::gateway::GatewayObjects {
        gateway_classes,
        gateways,
        http_routes,
        grpc_routes,
        tls_routes,
        tcp_routes,
        udp_routes,
        reference_grants,
    } = after;
    diff::same(&before.gateway_classes, gateway_classes)
        && diff::same(&before.gateways, gateways)
        && diff::same(&before.http_routes, http_routes)
        && diff::same(&before.grpc_routes, grpc_routes)
        && diff::same(&before.tls_routes, tls_routes)
        && diff::same(&before.tcp_routes, tcp_routes)
        && diff::same(&before.udp_routes, udp_routes)
        && diff::same(&before.reference_grants, reference_grants)
}

fn apply_slices(
    dependents: &mut Dependents,
    changes: &[Change<'_, SliceInfo>],
    affected: &mut BTreeSet<Position>,
) {
    for (old, new) in changes {
        for slice in old.iter().chain(new.iter()) {
            if let Some((namespace, service)) = deps::slice_owner(slice)
                && let Some(position) = dependents.position(&namespace, &service)
            {
                affected.insert(position);
            }
        }
        if let Some(old) = old {
            dependents.remove_slice(old);
        }
        if let Some(new) = new {
            dependents.add_slice(new);
        }
    }
}

fn apply_pods(
    dependents: &mut Dependents,
    changes: &[Change<'_, PodInfo>],
    model: &ProxyModel,
    affected: &mut BTreeSet<Position>,
) {
    for (old, new) in changes {
        for pod in old.iter().chain(new.iter()) {
            dependents.affected_by_pod(pod, model, affected);
        }
        if let Some(old) = old {
            dependents.remove_pod(old, &model.nodes);
        }
        if let Some(new) = new {
            dependents.add_pod(new, &model.nodes);
        }
    }
}
