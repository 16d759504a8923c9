//! The hop tree on a few shapes of Service, from the scenario files: kinds, labels, states and
//! expectations.

use rstest::rstest;

use super::*;
use crate::model::{ProxyModel, ServiceChain};
use crate::{EngineConfig, build};

fn scenario(name: &str) -> ProxyModel {
    let path = format!(
        "{}/../../assets/scenarios/{name}.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let load = crate::dump::load_paths(&[path.into()]).expect("the scenario loads");
    build(&load.snapshot, &EngineConfig::default())
}

fn service<'m>(model: &'m ProxyModel, namespace: &str, name: &str) -> &'m ServiceChain {
    model.service(namespace, name).expect("the Service exists")
}

/// `depth state label` per hop, depth first.
fn shape(tree: &PortHops<'_>) -> Vec<String> {
    fn walk(nodes: &[HopNode<'_>], depth: usize, out: &mut Vec<String>) {
        for node in nodes {
            out.push(format!("{depth} {:?} {}", node.state, node.kind));
            walk(&node.children, depth + 1, out);
        }
    }
    let mut out = Vec::new();
    walk(&tree.hops, 0, &mut out);
    out
}

fn verdicts(model: &ProxyModel, tree: &PortHops<'_>) -> Vec<String> {
    tree.walk()
        .filter_map(|node| {
            let expected = tree.expectation(node, model, None)?;
            Some(format!("{} -> {}", node.kind, expected.verdict()))
        })
        .collect()
}

/// Rules C1, A12, B7: a ClusterIP Service's port is its ClusterIP, then its endpoints per slice.
#[test]
fn cluster_ip_then_endpoints_per_slice() {
    let model = scenario("named-port-missing");
    let chain = service(&model, "search", "search");
    let tree = PortHops::new(chain, 1, None).expect("port 9090");
    let shape = shape(&tree);
    assert_eq!(shape[0], "0 Ok ClusterIP 127.10.0.16:9090");
    assert_eq!(shape[1], "0 Ok EndpointSlice search-s5x52");
    assert!(shape[2].starts_with("1 Ok endpoint search-"), "{shape:?}");
    assert!(shape[2].ends_with(":9090"), "{shape:?}");
    assert_eq!(shape.len(), 4, "{shape:?}");
}

/// Rule B4: a named targetPort no pod declares leaves the port without endpoints; the selected
/// pods are hops of their own, the ClusterIP rejects (C9).
#[test]
fn named_target_port_unresolved() {
    let model = scenario("named-port-missing");
    let chain = service(&model, "search", "search");
    let map = chain.port_map();
    let tree = PortHops::new(chain, 0, map.first()).expect("port 80");
    assert_eq!(
        shape(&tree),
        [
            "0 Reject ClusterIP 127.10.0.16:80",
            "0 Broken pod search-m5xjn6c67n-kr5g2",
            "0 Broken pod search-m5xjn6c67n-s92v4",
            "0 Broken no endpoints",
        ]
    );
    for node in tree.walk() {
        if let HopKind::PodNotReceiving { mapping } = node.kind {
            assert!(matches!(
                mapping.outcome,
                PodPortOutcome::NameNotDeclared { .. }
            ));
        }
    }
    assert_eq!(
        verdicts(&model, &tree),
        ["ClusterIP 127.10.0.16:80 -> reject"]
    );
}

/// Rules C3, C8, C9, D9: with externalTrafficPolicy Local, nodes without a local endpoint drop
/// while endpoints exist elsewhere; the load balancer only sends to nodes whose health check
/// passes.
#[test]
fn node_port_with_local_policy() {
    let model = scenario("etp-local-drops");
    let chain = service(&model, "edge", "gateway");
    let tree = PortHops::new(chain, 0, None).expect("port 80");
    let shape = shape(&tree);
    assert_eq!(
        shape[..6],
        [
            "0 Ok LoadBalancer 127.20.0.3:80",
            "0 Caveat NodePort 31080",
            "1 Ok NodePort node-1 127.0.1.1:31080",
            "1 Drop NodePort node-2 127.0.1.2:31080",
            "1 Drop NodePort node-3 127.0.1.3:31080",
            "0 Ok ClusterIP 127.10.0.19:80",
        ]
    );
    let verdicts = verdicts(&model, &tree);
    assert_eq!(
        verdicts[..5],
        [
            "LoadBalancer 127.20.0.3:80 -> connect",
            "NodePort node-1 127.0.1.1:31080 -> connect",
            "NodePort node-2 127.0.1.2:31080 -> drop",
            "NodePort node-3 127.0.1.3:31080 -> drop",
            "ClusterIP 127.10.0.19:80 -> connect",
        ]
    );
}

/// Rule C5: a LoadBalancer entry in VIP mode, then the nodePort on every node (eTP Cluster:
/// every node forwards, D8).
#[test]
fn load_balancer_then_node_ports() {
    let model = scenario("loadbalancer");
    let chain = service(&model, "edge", "frontend");
    let tree = PortHops::new(chain, 1, None).expect("port 443");
    let shape = shape(&tree);
    assert_eq!(shape[0], "0 Ok LoadBalancer 127.20.0.2:443");
    assert_eq!(shape[1], "0 Ok NodePort 30443");
    assert_eq!(shape[5], "0 Ok ClusterIP 127.10.0.13:443");
    let HopKind::LoadBalancer { entry, .. } = tree.hops[0].kind else {
        panic!("a load balancer first: {shape:?}");
    };
    assert_eq!(entry.ip_mode, Some(crate::model::IpMode::VIP));
    assert!(
        verdicts(&model, &tree)
            .iter()
            .all(|line| line.ends_with("connect")),
        "{shape:?}"
    );
}

/// A pending load balancer is a hop of its own, with a caveat.
#[test]
fn load_balancer_pending() {
    let model = scenario("lb-pending");
    let chain = model
        .services
        .iter()
        .find(|chain| chain.service_type == crate::model::ServiceType::LoadBalancer)
        .expect("a LoadBalancer Service");
    let tree = PortHops::new(chain, 0, None).expect("a port");
    assert_eq!(tree.hops[0].kind, HopKind::LoadBalancerPending);
    assert_eq!(tree.hops[0].state, HopState::Caveat);
    assert_eq!(tree.hops[0].kind.to_string(), "LoadBalancer <pending>");
}

/// Ingress rules come first, labelled `host/path`; a rule naming a port the Service does not
/// have is broken and belongs to no port.
#[rstest]
#[case::rules_of_a_port("web-ingress", "shop", "web")]
fn ingress_rules_first(#[case] file: &str, #[case] namespace: &str, #[case] name: &str) {
    let model = scenario(file);
    let chain = service(&model, namespace, name);
    let tree = PortHops::new(chain, 0, None).expect("a port");
    let ingresses: Vec<&HopNode<'_>> = tree
        .hops
        .iter()
        .take_while(|node| matches!(node.kind, HopKind::Ingress { .. }))
        .collect();
    assert!(!ingresses.is_empty(), "{:?}", shape(&tree));
    for node in &ingresses {
        let HopKind::Ingress { rule, .. } = node.kind else {
            unreachable!("filtered above");
        };
        let label = node.kind.to_string();
        assert!(
            label.starts_with(&format!("Ingress {}/{} ", rule.namespace, rule.name)),
            "{label}"
        );
        assert!(label.ends_with(&IngressRule(rule).to_string()), "{label}");
        assert_eq!(node.state, HopState::Ok);
        let expected = tree.expectation(node, &model, None).expect("expectation");
        assert_eq!(expected.verdict(), "connect");
    }
    assert!(ingress_hops(chain, None).is_empty());
}

/// Rule F1: a headless Service has no ClusterIP hop, only its endpoints.
#[test]
fn headless() {
    let model = scenario("mongodb");
    let chain = model
        .services
        .iter()
        .find(|chain| chain.headless && !chain.ports.is_empty())
        .expect("a headless Service with a port");
    let tree = PortHops::new(chain, 0, None).expect("a port");
    assert_eq!(tree.hops[0].kind, HopKind::Headless);
    assert_eq!(tree.hops[0].state, HopState::Info);
    assert!(
        !tree
            .walk()
            .any(|node| matches!(node.kind, HopKind::ClusterIp { .. })),
        "{:?}",
        shape(&tree)
    );
    assert!(
        verdicts(&model, &tree)
            .iter()
            .all(|line| line.starts_with("endpoint "))
    );
}

/// Rule A13: an ExternalName Service's port is a DNS alias and nothing else.
#[test]
fn external_name() {
    let model = scenario("externalname");
    let chain = service(&model, "legacy", "payments");
    let tree = PortHops::new(chain, 0, None).expect("a port");
    assert_eq!(
        shape(&tree),
        ["0 Info ExternalName → CNAME payments.example.test"]
    );
    assert!(verdicts(&model, &tree).is_empty());
}

/// Every keyed hop is found again by its key.
#[test]
fn hops_are_found_by_key() {
    let model = scenario("etp-local-drops");
    let chain = service(&model, "edge", "gateway");
    let tree = PortHops::new(chain, 0, None).expect("a port");
    for node in tree.walk() {
        if let Some(hop) = tree.hop(&node.kind) {
            assert_eq!(tree.find(&hop), Some(node));
        }
    }
}

#[rstest]
#[case("127.0.0.1".parse().unwrap(), 80, "127.0.0.1:80")]
#[case("::1".parse().unwrap(), 8080, "[::1]:8080")]
#[case("127.0.0.1".parse().unwrap(), 70000, "127.0.0.1:70000")]
fn socket_text(#[case] ip: std::net::IpAddr, #[case] port: i32, #[case] text: &str) {
    assert_eq!(SocketText(ip, port).to_string(), text);
}
