//! Engine helpers: a model's chains, their diagnostic codes, and routing questions to it.

use kubehop::engine::model::Protocol;
use kubehop::engine::{
    DiagnosticCode, ProxyModel, RouteDecision, RouteQuery, ServiceChain, TrafficSource,
};

use super::fixtures::NS;

pub fn chain<'a>(model: &'a ProxyModel, name: &str) -> &'a ServiceChain {
    model.service(NS, name).expect("service in model")
}

pub fn codes(chain: &ServiceChain) -> Vec<&'static str> {
    chain.diagnostics.iter().map(|d| d.code.as_str()).collect()
}

pub fn has_code(chain: &ServiceChain, code: DiagnosticCode) -> bool {
    chain.diagnostics.iter().any(|d| d.code == code)
}

pub fn from_pod(node: &str) -> TrafficSource {
    TrafficSource::Pod {
        node: node.to_owned(),
    }
}

pub fn from_node(node: &str) -> TrafficSource {
    TrafficSource::Node {
        node: node.to_owned(),
    }
}

pub fn from_outside(node: &str) -> TrafficSource {
    TrafficSource::External {
        node: node.to_owned(),
    }
}

pub fn route(
    model: &ProxyModel,
    destination: &str,
    port: u16,
    source: TrafficSource,
) -> RouteDecision {
    route_full(model, destination, port, Protocol::Tcp, source, None)
}

pub fn route_full(
    model: &ProxyModel,
    destination: &str,
    port: u16,
    protocol: Protocol,
    source: TrafficSource,
    source_ip: Option<&str>,
) -> RouteDecision {
    model.route(&RouteQuery {
        destination: destination.parse().expect("destination ip"),
        port,
        protocol,
        source,
        source_ip: source_ip.map(|ip| ip.parse().expect("source ip")),
    })
}

/// Pod names of a decision's endpoints, sorted.
pub fn endpoint_pods(decision: &RouteDecision) -> Vec<String> {
    let mut pods: Vec<String> = decision
        .endpoints
        .iter()
        .map(|e| e.0.info.pod.as_deref().unwrap_or_default().to_owned())
        .collect();
    pods.sort();
    pods
}
