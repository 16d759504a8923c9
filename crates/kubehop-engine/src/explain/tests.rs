use std::net::IpAddr;

use super::*;
use crate::model::{EndpointInfo, NotProxied, Protocol, TrafficPolicy};
use crate::route::{Destination, RouteEndpoint, SourceView};
use crate::route::{
    FrontDoor, PolicyScope, RouteDecision, RouteQuery, RouteReason, SourceKind, SourceRangeCheck,
    TrafficSource, Verdict,
};
use crate::topology::TopologySkip;
use crate::topology::{EndpointSet, TopologyOutcome};
use std::net::Ipv4Addr;
use std::sync::Arc;

/// One value of every reason variant (a list, hence its length).
fn every_reason() -> Vec<RouteReason> {
    let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 1, 2));
    vec![
        RouteReason::FrontDoor {
            via: FrontDoor::ClusterIp,
        },
        RouteReason::FrontDoor {
            via: FrontDoor::NodePort,
        },
        RouteReason::FrontDoor {
            via: FrontDoor::LoadBalancer,
        },
        RouteReason::FrontDoor {
            via: FrontDoor::ExternalIp,
        },
        RouteReason::NodePortAddress {
            node: "node-2".into(),
            address: ip,
        },
        RouteReason::ProcessedOn {
            node: "node-2".into(),
            known: true,
        },
        RouteReason::ProcessedOn {
            node: "node-9".into(),
            known: false,
        },
        RouteReason::Policy {
            scope: PolicyScope::External,
            policy: TrafficPolicy::Local,
        },
        RouteReason::Policy {
            scope: PolicyScope::Internal,
            policy: TrafficPolicy::Cluster,
        },
        RouteReason::ExternalLocalShortCircuit {
            source: SourceKind::Pod,
        },
        RouteReason::EndpointSet(EndpointSet::Cluster),
        RouteReason::EndpointSet(EndpointSet::Local),
        RouteReason::TerminatingFallback(EndpointSet::Cluster),
        RouteReason::TerminatingFallback(EndpointSet::Local),
        RouteReason::Topology(TopologyOutcome::SameNode {
            node: "node-1".into(),
        }),
        RouteReason::Topology(TopologyOutcome::SameZone {
            zone: "zone-a".into(),
        }),
        RouteReason::Topology(TopologyOutcome::NotApplied(TopologySkip::NoReadyEndpoints)),
        RouteReason::Topology(TopologyOutcome::NotApplied(TopologySkip::NoHints)),
        RouteReason::Topology(TopologyOutcome::NotApplied(TopologySkip::HintMissing)),
        RouteReason::Topology(TopologyOutcome::NotApplied(TopologySkip::NodeZoneUnknown)),
        RouteReason::Topology(TopologyOutcome::NotApplied(
            TopologySkip::NoEndpointForZone {
                zone: "zone-c".into(),
            },
        )),
        RouteReason::SourceRanges(SourceRangeCheck::NoRanges),
        RouteReason::SourceRanges(SourceRangeCheck::Allowed {
            range: "127.0.0.0/8".into(),
        }),
        RouteReason::SourceRanges(SourceRangeCheck::AllowedLoadBalancerSource),
        RouteReason::SourceRanges(SourceRangeCheck::Denied { source: ip }),
        RouteReason::SourceRanges(SourceRangeCheck::NotEvaluated),
        RouteReason::SourceNat { masquerade: true },
        RouteReason::SourceNat { masquerade: false },
        RouteReason::SessionAffinity {
            timeout_seconds: 10_800,
        },
        RouteReason::NoUsableEndpoints,
        RouteReason::NoLocalEndpoints {
            node: "node-2".into(),
        },
        RouteReason::UnknownPortOnClusterIp {
            other_protocols: vec![],
        },
        RouteReason::UnknownPortOnClusterIp {
            other_protocols: vec![Protocol::Udp],
        },
        RouteReason::NodePortAddressNotSelected {
            node: "node-2".into(),
            address: ip,
        },
        RouteReason::LoadBalancerProxyMode,
        RouteReason::NotProxied(NotProxied::Headless),
        RouteReason::NotProxied(NotProxied::ExternalName),
        RouteReason::NotProxied(NotProxied::OtherProxy),
        RouteReason::DestinationIsPod {
            namespace: "shop".into(),
            pod: "web-1".into(),
        },
        RouteReason::NoRuleForDestination,
    ]
}

/// Fails to compile when a variant is added without a case in `every_reason`.
fn variant_is_listed(reason: &RouteReason) -> bool {
    match reason {
        RouteReason::FrontDoor { .. }
        | RouteReason::NodePortAddress { .. }
        | RouteReason::ProcessedOn { .. }
        | RouteReason::Policy { .. }
        | RouteReason::ExternalLocalShortCircuit { .. }
        | RouteReason::EndpointSet(_)
        | RouteReason::TerminatingFallback(_)
        | RouteReason::Topology(_)
        | RouteReason::SourceRanges(_)
        | RouteReason::SourceNat { .. }
        | RouteReason::SessionAffinity { .. }
        | RouteReason::NoUsableEndpoints
        | RouteReason::NoLocalEndpoints { .. }
        | RouteReason::UnknownPortOnClusterIp { .. }
        | RouteReason::NodePortAddressNotSelected { .. }
        | RouteReason::LoadBalancerProxyMode
        | RouteReason::NotProxied(_)
        | RouteReason::DestinationIsPod { .. }
        | RouteReason::NoRuleForDestination => true,
    }
}

#[test]
fn every_reason_variant_has_words() {
    let reasons = every_reason();
    let mut seen = std::collections::HashSet::new();
    for reason in &reasons {
        assert!(variant_is_listed(reason));
        let text = reason_sentence(reason);
        assert!(text.len() > 20, "{reason:?} -> {text:?}");
        assert!(text.ends_with('.'), "{reason:?} -> {text:?}");
        assert!(
            seen.insert(text.clone()),
            "two reasons share the words {text:?}"
        );
    }
}

#[test]
fn values_appear_in_the_words() {
    let text = reason_sentence(&RouteReason::NoLocalEndpoints {
        node: "node-7".into(),
    });
    assert!(text.contains("node-7"));
    let text = reason_sentence(&RouteReason::SessionAffinity {
        timeout_seconds: 42,
    });
    assert!(text.contains("42 s"));
}

fn endpoint(pod: &str, last: u8) -> RouteEndpoint {
    RouteEndpoint(crate::model::PortEndpoint {
        info: Arc::new(EndpointInfo {
            pod: Some(pod.into()),
            namespace: Some(Arc::from("shop")),
            node: Some(Arc::from("node-1")),
            zone: None,
            hostname: None,
            ip: IpAddr::V4(Ipv4Addr::new(127, 1, 1, last)),
            ready: true,
            serving: true,
            terminating: false,
            zone_hints: None,
            node_hints: None,
            slice: Arc::from("web-abc"),
        }),
        port: 8080,
    })
}

fn decision(
    verdict: Verdict,
    reasons: Vec<RouteReason>,
    endpoints: Vec<RouteEndpoint>,
) -> RouteDecision {
    RouteDecision {
        destination: Destination {
            ip: IpAddr::V4(Ipv4Addr::new(127, 0, 1, 2)),
            port: 31852,
            protocol: Protocol::Tcp,
        },
        source: SourceView {
            kind: SourceKind::External,
            node: "node-2".into(),
        },
        matched: None,
        verdict,
        endpoints,
        affinity: crate::model::AffinityConfig::None,
        service_port: None,
        reasons,
    }
}

fn node_port_query() -> RouteQuery {
    RouteQuery {
        destination: IpAddr::V4(Ipv4Addr::new(127, 0, 1, 2)),
        port: 31852,
        protocol: Protocol::Tcp,
        source: TrafficSource::External {
            node: "node-2".into(),
        },
        source_ip: None,
    }
}

#[test]
fn forward_sentence_reads_like_the_issue() {
    let reasons = vec![
        RouteReason::NodePortAddress {
            node: "node-2".into(),
            address: IpAddr::V4(Ipv4Addr::new(127, 0, 1, 2)),
        },
        RouteReason::FrontDoor {
            via: FrontDoor::NodePort,
        },
        RouteReason::ProcessedOn {
            node: "node-2".into(),
            known: true,
        },
        RouteReason::Policy {
            scope: PolicyScope::External,
            policy: TrafficPolicy::Cluster,
        },
        RouteReason::EndpointSet(EndpointSet::Cluster),
        RouteReason::SourceNat { masquerade: true },
    ];
    let endpoints = vec![
        endpoint("web-1", 5),
        endpoint("web-2", 6),
        endpoint("web-3", 7),
    ];
    let text = explain_route(
        &node_port_query(),
        &decision(Verdict::Forward, reasons, endpoints),
    )
    .text();
    assert_eq!(
        text,
        "A connection to 127.0.1.2:31852 (node-2) is accepted because NodePort Services open the port on every node; it is forwarded to one of 3 ready pods, on any node, because externalTrafficPolicy is Cluster. The pod sees a node address as the client, not the real client (the connection is source-NATed)."
    );
}

#[test]
fn drop_sentence_names_the_node_and_the_policy() {
    let reasons = vec![
        RouteReason::NodePortAddress {
            node: "node-2".into(),
            address: IpAddr::V4(Ipv4Addr::new(127, 0, 1, 2)),
        },
        RouteReason::FrontDoor {
            via: FrontDoor::NodePort,
        },
        RouteReason::Policy {
            scope: PolicyScope::External,
            policy: TrafficPolicy::Local,
        },
        RouteReason::EndpointSet(EndpointSet::Local),
        RouteReason::NoLocalEndpoints {
            node: "node-2".into(),
        },
    ];
    let text = explain_route(
        &node_port_query(),
        &decision(Verdict::Drop, reasons, vec![]),
    )
    .text();
    assert!(text.contains("dropped"), "{text}");
    assert!(
        text.contains("externalTrafficPolicy is Local and node-2 has no ready pod"),
        "{text}"
    );
}

#[test]
fn single_endpoint_is_named() {
    let reasons = vec![
        RouteReason::FrontDoor {
            via: FrontDoor::ClusterIp,
        },
        RouteReason::Policy {
            scope: PolicyScope::Internal,
            policy: TrafficPolicy::Cluster,
        },
        RouteReason::EndpointSet(EndpointSet::Cluster),
    ];
    let query = RouteQuery {
        source: TrafficSource::Pod {
            node: "node-1".into(),
        },
        ..node_port_query()
    };
    let text = explain_route(
        &query,
        &decision(Verdict::Forward, reasons, vec![endpoint("web-1", 5)]),
    )
    .text();
    assert!(text.contains("from a pod on node-1"), "{text}");
    assert!(
        text.contains(
            "forwarded to the only ready pod, web-1 at 127.1.1.5:8080, on any node, because internalTrafficPolicy is Cluster."
        ),
        "{text}"
    );
    assert!(!text.contains(",,"), "{text}");
}

/// A single endpoint with no scope sentence ends the sentence cleanly (no ",." or ",,").
#[rstest::rstest]
#[case::no_scope(vec![RouteReason::FrontDoor { via: FrontDoor::ClusterIp }], "127.1.1.5:8080.")]
#[case::cluster_scope_without_policy(
    vec![
        RouteReason::FrontDoor { via: FrontDoor::ClusterIp },
        RouteReason::EndpointSet(EndpointSet::Cluster),
    ],
    "127.1.1.5:8080, on any node."
)]
#[case::local_scope(
    vec![
        RouteReason::FrontDoor { via: FrontDoor::NodePort },
        RouteReason::Policy { scope: PolicyScope::External, policy: TrafficPolicy::Local },
        RouteReason::EndpointSet(EndpointSet::Local),
    ],
    "127.1.1.5:8080, on node-2 only, because externalTrafficPolicy is Local."
)]
fn single_endpoint_punctuation(#[case] reasons: Vec<RouteReason>, #[case] ending: &str) {
    let text = explain_route(
        &node_port_query(),
        &decision(Verdict::Forward, reasons, vec![endpoint("web-1", 5)]),
    )
    .text();
    assert!(text.contains(ending), "{text}");
    assert!(!text.contains(",,") && !text.contains(",."), "{text}");
}
