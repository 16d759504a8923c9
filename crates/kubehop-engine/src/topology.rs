//! Endpoint sets per traffic source (rules D1-D5), after kube-proxy's `CategorizeEndpoints`.

use super::model::PortEndpoint;

/// Whether topology hints narrowed the cluster set for node N (rule D5), and why not.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TopologyOutcome {
    /// Kept endpoints hinted for N (PreferSameNode feature gate on).
    SameNode { node: String },
    /// Kept endpoints hinted for N's zone.
    SameZone { zone: String },
    /// All ready endpoints were kept.
    NotApplied(TopologySkip),
}

/// Why the topology filter kept every ready endpoint (rule D5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TopologySkip {
    /// No ready endpoint: nothing to filter (the fallback ignores topology, D2).
    NoReadyEndpoints,
    /// No ready endpoint carries hints (trafficDistribution unset).
    NoHints,
    /// Some ready endpoints carry zone hints and some do not.
    HintMissing,
    /// N has no `topology.kubernetes.io/zone` label (or N is not a known node).
    NodeZoneUnknown,
    /// No ready endpoint is hinted for N's zone.
    NoEndpointForZone { zone: String },
}

/// Rule D5 applied to the ready endpoints. Returns the kept endpoints and the outcome.
pub fn filter<'a>(
    ready: &[&'a PortEndpoint],
    node: &str,
    node_zone: Option<&str>,
    prefer_same_node: bool,
) -> (Vec<&'a PortEndpoint>, TopologyOutcome) {
    if ready.is_empty() {
        return (
            Vec::new(),
            TopologyOutcome::NotApplied(TopologySkip::NoReadyEndpoints),
        );
    }
    if prefer_same_node && let Some(kept) = same_node(ready, node) {
        return (
            kept,
            TopologyOutcome::SameNode {
                node: node.to_owned(),
            },
        );
    }
    let hinted = ready
        .iter()
        .filter(|endpoint| {
            endpoint
                .info
                .zone_hints
                .as_ref()
                .is_some_and(|hints| !hints.is_empty())
        })
        .count();
    let skip = if hinted == 0 {
        Some(TopologySkip::NoHints)
    } else if hinted < ready.len() {
        Some(TopologySkip::HintMissing)
    } else {
        None
    };
    if let Some(skip) = skip {
        return (ready.to_vec(), TopologyOutcome::NotApplied(skip));
    }
    let Some(zone) = node_zone.filter(|zone| !zone.is_empty()) else {
        return (
            ready.to_vec(),
            TopologyOutcome::NotApplied(TopologySkip::NodeZoneUnknown),
        );
    };
    same_zone(ready, zone)
}

/// PreferSameNode (D5): when every ready endpoint carries node hints, those hinted for `node`
/// (`None` when there are none).
fn same_node<'a>(ready: &[&'a PortEndpoint], node: &str) -> Option<Vec<&'a PortEndpoint>> {
    let all_hinted = ready.iter().all(|endpoint| {
        endpoint
            .info
            .node_hints
            .as_ref()
            .is_some_and(|hints| !hints.is_empty())
    });
    if !all_hinted {
        return None;
    }
    let kept: Vec<&PortEndpoint> = ready
        .iter()
        .copied()
        .filter(|endpoint| {
            endpoint
                .info
                .node_hints
                .as_ref()
                .is_some_and(|hints| hints.iter().any(|hint| hint == node))
        })
        .collect();
    (!kept.is_empty()).then_some(kept)
}

/// Zone hints (D5): the endpoints hinted for `zone`, or all of them when none is.
fn same_zone<'a>(
    ready: &[&'a PortEndpoint],
    zone: &str,
) -> (Vec<&'a PortEndpoint>, TopologyOutcome) {
    let kept: Vec<&PortEndpoint> = ready
        .iter()
        .copied()
        .filter(|endpoint| {
            endpoint
                .info
                .zone_hints
                .as_ref()
                .is_some_and(|hints| hints.iter().any(|hint| hint == zone))
        })
        .collect();
    if kept.is_empty() {
        (
            ready.to_vec(),
            TopologyOutcome::NotApplied(TopologySkip::NoEndpointForZone {
                zone: zone.to_owned(),
            }),
        )
    } else {
        (
            kept,
            TopologyOutcome::SameZone {
                zone: zone.to_owned(),
            },
        )
    }
}

/// Which set an answer was drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointSet {
    /// Rule D2: cluster-wide ready endpoints after topology, else serving-terminating ones.
    Cluster,
    /// Rule D3: ready endpoints on N, else serving-terminating ones on N.
    Local,
}

/// The result of computing one set.
#[derive(Debug, Clone)]
pub struct SetSelection<'a> {
    pub endpoints: Vec<&'a PortEndpoint>,
    pub terminating_fallback: bool,
    pub topology: Option<TopologyOutcome>,
}

/// Rule D2: the cluster set for node N.
pub fn cluster_set<'a>(
    endpoints: &[&'a PortEndpoint],
    node: &str,
    node_zone: Option<&str>,
    prefer_same_node: bool,
) -> SetSelection<'a> {
    let ready: Vec<&PortEndpoint> = endpoints
        .iter()
        .copied()
        .filter(|endpoint| endpoint.info.ready)
        .collect();
    let (kept, outcome) = filter(&ready, node, node_zone, prefer_same_node);
    if !kept.is_empty() {
        return SetSelection {
            endpoints: kept,
            terminating_fallback: false,
            topology: Some(outcome),
        };
    }
    SetSelection {
        endpoints: endpoints
            .iter()
            .copied()
            .filter(|endpoint| endpoint.info.serving_terminating())
            .collect(),
        terminating_fallback: true,
        topology: Some(outcome),
    }
}

/// Rule D3: the local set for node N (no topology).
pub fn local_set<'a>(endpoints: &[&'a PortEndpoint], node: &str) -> SetSelection<'a> {
    let on_node = |endpoint: &&PortEndpoint| endpoint.info.node.as_deref() == Some(node);
    let ready: Vec<&PortEndpoint> = endpoints
        .iter()
        .copied()
        .filter(on_node)
        .filter(|endpoint| endpoint.info.ready)
        .collect();
    if !ready.is_empty() {
        return SetSelection {
            endpoints: ready,
            terminating_fallback: false,
            topology: None,
        };
    }
    SetSelection {
        endpoints: endpoints
            .iter()
            .copied()
            .filter(on_node)
            .filter(|endpoint| endpoint.info.serving_terminating())
            .collect(),
        terminating_fallback: true,
        topology: None,
    }
}

/// Rule D4: some endpoint anywhere is ready or serving-and-terminating.
pub fn has_any_usable(endpoints: &[&PortEndpoint]) -> bool {
    endpoints
        .iter()
        .any(|endpoint| endpoint.info.ready || endpoint.info.serving_terminating())
}
