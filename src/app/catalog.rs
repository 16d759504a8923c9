//! What one snapshot means for the screen: the engine's model plus per-Service summaries that
//! the Services pane, the filter and the header read. Built off the UI thread
//! ([`build_catalog`]), once per snapshot, so drawing never walks 10,000 chains.

use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use crate::engine::model::{ServiceChain, ServiceKey, ServiceType, TargetPort};
use crate::engine::{ClusterSnapshot, EngineConfig, ProxyModel};

/// A monotonic number for each snapshot the app asked the engine to read. Results carrying an
/// older number than the one asked for last are dropped (a stale build never lands).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Generation(pub u64);

impl Generation {
    pub fn next(self) -> Generation {
        Generation(self.0.saturating_add(1))
    }
}

/// The health of a Service: the engine's, shared by every renderer.
pub use crate::engine::verdict::Health;

/// One row of the Services pane, prepared once per snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSummary {
    pub health: Health,
    /// `80→http/TCP, 443:30443→8443/TCP`.
    pub ports: String,
    /// Ready and total endpoints (addresses, deduplicated).
    pub ready: usize,
    pub total: usize,
    /// Changes whenever anything shown about the Service changes (for the change highlight).
    pub fingerprint: u64,
}

/// `port[:nodePort][→targetPort]/PROTOCOL`: the arrow only when the target differs.
pub fn port_summary(chain: &ServiceChain) -> String {
    chain
        .ports
        .iter()
        .map(|port| {
            let mut text = port.port.to_string();
            if let Some(node_port) = port.node_port {
                text.push_str(&format!(":{node_port}"));
            }
            match &port.target_port {
                TargetPort::Number(number) if *number == port.port => {}
                target => text.push_str(&format!("→{target}")),
            }
            text.push('/');
            text.push_str(port.protocol.as_str());
            text
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn summarize(chain: &ServiceChain) -> ServiceSummary {
    let health = Health::of(chain);
    let ports = port_summary(chain);
    let ready = chain
        .details
        .endpoints
        .iter()
        .filter(|endpoint| endpoint.ready)
        .count();
    let total = chain.details.endpoints.len();
    let mut hasher = DefaultHasher::new();
    health.hash(&mut hasher);
    ports.hash(&mut hasher);
    for endpoint in &chain.details.endpoints {
        (
            endpoint.ip,
            endpoint.ready,
            endpoint.serving,
            endpoint.terminating,
            endpoint.node.as_deref(),
        )
            .hash(&mut hasher);
    }
    for diagnostic in &chain.diagnostics {
        (diagnostic.code, &diagnostic.message).hash(&mut hasher);
    }
    for port in &chain.ports {
        for row in port.node_ports.rows() {
            (row.address, row.accepts, row.local_endpoints).hash(&mut hasher);
        }
        for entry in &port.load_balancer {
            (&entry.ip, &entry.hostname).hash(&mut hasher);
        }
    }
    ServiceSummary {
        health,
        ports,
        ready,
        total,
        fingerprint: hasher.finish(),
    }
}

/// Object counts for the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ObjectCounts {
    pub services: usize,
    pub pods: usize,
    pub nodes: usize,
    pub endpoint_slices: usize,
    pub ingresses: usize,
}

/// The engine's model of one snapshot, with what the screen needs precomputed.
#[derive(Debug)]
pub struct Catalog {
    pub generation: Generation,
    pub snapshot: Arc<ClusterSnapshot>,
    /// Shared with the [`CatalogBuilder`] that made it (read-only here).
    pub model: Arc<ProxyModel>,
    /// Parallel to `model.services`; each shared with the [`CatalogBuilder`], which replaces
    /// only the summaries of the Services an update built again.
    pub summaries: Vec<Arc<ServiceSummary>>,
    pub counts: ObjectCounts,
    /// Every namespace seen (Namespace objects and the namespaces of Services), sorted.
    pub namespaces: Arc<[String]>,
}

impl Catalog {
    pub fn service(&self, key: &ServiceKey) -> Option<(usize, &ServiceChain)> {
        let index = self
            .model
            .services
            .binary_search_by(|chain| {
                (chain.namespace.as_str(), chain.name.as_str())
                    .cmp(&(key.namespace.as_str(), key.name.as_str()))
            })
            .ok()?;
        self.model
            .services
            .get(index)
            .map(|chain| (index, chain.as_ref()))
    }

    pub fn summary(&self, index: usize) -> Option<&ServiceSummary> {
        self.summaries.get(index).map(|summary| summary.as_ref())
    }
}

/// Runs the engine over a snapshot and prepares the summaries (call it off the UI thread).
pub fn build_catalog(
    snapshot: Arc<ClusterSnapshot>,
    config: &EngineConfig,
    generation: Generation,
) -> Catalog {
    let model = crate::engine::build(&snapshot, config);
    let summaries = summarize_all(&model);
    let namespaces = namespaces_of(&snapshot, &model);
    catalog_of(snapshot, Arc::new(model), summaries, namespaces, generation)
}

/// Builds the catalogs of successive snapshots of one source, updating the engine's model
/// incrementally: only the Services a change can affect are built and summarised again.
#[derive(Debug)]
pub struct CatalogBuilder {
    config: EngineConfig,
    engine: Option<crate::engine::incremental::IncrementalModel>,
    summaries: Vec<Arc<ServiceSummary>>,
    /// Those of the last full build: an incremental update adds or removes no Service and
    /// changes no Namespace object.
    namespaces: Arc<[String]>,
}

impl CatalogBuilder {
    pub fn new(config: &EngineConfig) -> Self {
        Self {
            config: config.clone(),
            engine: None,
            summaries: Vec::new(),
            namespaces: Arc::from([]),
        }
    }

    /// Forgets the model: the next catalog is a full build.
    pub fn reset(&mut self) {
        self.engine = None;
    }

    /// The catalog of `snapshot`: the same as [`build_catalog`] gives.
    pub fn build(&mut self, snapshot: Arc<ClusterSnapshot>, generation: Generation) -> Catalog {
        use crate::engine::incremental::{IncrementalModel, Update};
        let (engine, update) = match self.engine.as_mut() {
            Some(engine) => {
                let update = engine.update(snapshot.clone());
                (engine, update)
            }
            None => (
                self.engine
                    .insert(IncrementalModel::new(snapshot.clone(), &self.config)),
                Update::Full,
            ),
        };
        let model = engine.model();
        match update {
            Update::Full => {
                self.summaries = summarize_all(model);
                self.namespaces = namespaces_of(&snapshot, model);
            }
            Update::Services(positions) => {
                for position in positions {
                    if let (Some(slot), Some(chain)) = (
                        self.summaries.get_mut(position),
                        model.services.get(position),
                    ) {
                        *slot = Arc::new(summarize(chain));
                    }
                }
            }
            Update::Unchanged => {}
        }
        catalog_of(
            snapshot,
            engine.shared_model(),
            self.summaries.clone(),
            self.namespaces.clone(),
            generation,
        )
    }
}

fn summarize_all(model: &ProxyModel) -> Vec<Arc<ServiceSummary>> {
    model
        .services
        .iter()
        .map(|chain| Arc::new(summarize(chain)))
        .collect()
}

/// Every namespace seen (Namespace objects and the namespaces of Services), sorted.
fn namespaces_of(snapshot: &ClusterSnapshot, model: &ProxyModel) -> Arc<[String]> {
    let mut namespaces: BTreeSet<&str> = snapshot
        .namespaces
        .iter()
        .filter_map(|namespace| namespace.metadata.name.as_deref())
        .collect();
    namespaces.extend(model.services.iter().map(|chain| chain.namespace.as_str()));
    namespaces.into_iter().map(str::to_owned).collect()
}

fn catalog_of(
    snapshot: Arc<ClusterSnapshot>,
    model: Arc<ProxyModel>,
    summaries: Vec<Arc<ServiceSummary>>,
    namespaces: Arc<[String]>,
    generation: Generation,
) -> Catalog {
    let counts = ObjectCounts {
        services: model.services.len(),
        pods: snapshot.pods.len(),
        nodes: snapshot.nodes.len(),
        endpoint_slices: snapshot.endpoint_slices.len(),
        ingresses: snapshot.ingresses.len(),
    };
    Catalog {
        generation,
        snapshot,
        model,
        summaries,
        counts,
        namespaces,
    }
}

/// Whether a Service has ports worth a ClusterIP hop (not ExternalName).
pub fn is_proxied_type(chain: &ServiceChain) -> bool {
    chain.service_type != ServiceType::ExternalName
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::synthetic::{SyntheticSpec, generate, sorted};

    /// An endpoint of the slice at `at` turned unready, and the pod at `at` relabelled.
    fn changed(snapshot: &ClusterSnapshot, at: usize) -> ClusterSnapshot {
        let mut next = snapshot.clone();
        let mut slice = (*next.endpoint_slices[at]).clone();
        for endpoint in slice.endpoints.iter_mut().flatten().take(1) {
            if let Some(conditions) = endpoint.conditions.as_mut() {
                conditions.ready = Some(false);
            }
        }
        next.endpoint_slices[at] = Arc::new(slice);
        let mut pod = (*next.pods[at].to_pod()).clone();
        pod.metadata.labels = Some([("app".to_owned(), "moved".to_owned())].into());
        Arc::make_mut(&mut next.pods)[at] = Arc::new(pod.into());
        next
    }

    #[test]
    fn the_builder_gives_the_catalog_of_a_full_build() {
        let spec = SyntheticSpec {
            services: 200,
            pods: 600,
            nodes: 10,
            namespaces: 4,
        };
        let config = EngineConfig::default();
        let mut snapshot = sorted(generate(&spec));
        let mut builder = CatalogBuilder::new(&config);
        let mut previous: Option<Vec<Arc<ServiceSummary>>> = None;
        for step in 0..6_u64 {
            if step > 0 {
                snapshot = changed(&snapshot, usize::try_from(step * 17).expect("small"));
            }
            let shared = Arc::new(snapshot.clone());
            let built = builder.build(shared.clone(), Generation(step));
            let full = build_catalog(shared, &config, Generation(step));
            assert_eq!(built.summaries, full.summaries, "step {step}");
            assert_eq!(
                serde_json::to_string(&*built.model).expect("JSON"),
                serde_json::to_string(&*full.model).expect("JSON"),
                "step {step}"
            );
            assert_eq!(built.namespaces, full.namespaces);
            assert_eq!(built.counts, full.counts);
            assert_ne!(previous.as_ref(), Some(&built.summaries), "step {step}");
            previous = Some(built.summaries);
        }
    }
}
