//! NetworkPolicy verdicts per front door and source (rules N1-N10), through `route`'s
//! decision as `kubehop route --from` asks them.

use kubehop::engine::model::Protocol;
use kubehop::engine::model::TrafficPolicy;
use kubehop::engine::netpol::{Client, DoorFacts, PolicyIndex, PolicyVerdict};
use kubehop::engine::nodes::NodeTable;
use kubehop::engine::route::FrontDoor;
use kubehop::engine::{EngineConfig, ProxyModel, ServiceChains};
use rstest::rstest;
use serde_json::{Value, json};

use crate::support::engine::*;
use crate::support::fixtures::*;

/// shop/web (NodePort 30080, `http` 80 → container port `http` 8080) on web-1 (node-a); clients
/// frontend-1 and batch-1 in shop (node-b), nginx-1 in ingress-nginx and intruder-1 (labelled
/// like the frontend) in other (node-c).
fn world(etp: &str, policies: &[Value]) -> World {
    let mut world = World::new()
        .nodes(three_nodes())
        .namespace(
            "shop",
            &[("kubernetes.io/metadata.name", "shop"), ("team", "shop")],
        )
        .namespace(
            "ingress-nginx",
            &[("kubernetes.io/metadata.name", "ingress-nginx")],
        )
        .namespace("other", &[("kubernetes.io/metadata.name", "other")])
        .service(
            service("web")
                .type_("NodePort")
                .selector(&[("app", "web")])
                .port(Some("http"), 80, "http")
                .node_port(30080)
                .etp(etp),
        )
        .pod(
            pod("web-1", "127.2.0.1", "node-a")
                .labels(&[("app", "web")])
                .container_port("app", Some("http"), 8080, "TCP"),
        )
        .pod(pod("frontend-1", "127.2.0.2", "node-b").labels(&[("app", "frontend")]))
        .pod(pod("batch-1", "127.2.0.3", "node-b").labels(&[("app", "batch")]))
        .pod(
            pod("nginx-1", "127.3.0.1", "node-c")
                .namespace("ingress-nginx")
                .labels(&[("app.kubernetes.io/name", "ingress-nginx")]),
        )
        .pod(
            pod("intruder-1", "127.4.0.1", "node-c")
                .namespace("other")
                .labels(&[("app", "frontend")]),
        );
    for policy in policies {
        world = world.policy(policy.clone());
    }
    world
}

fn deny_all() -> Value {
    json!({"metadata": {"name": "default-deny"}, "spec": {"podSelector": {}}})
}

/// An ingress policy on app=web with one rule.
fn allow(name: &str, rule: Value) -> Value {
    json!({"metadata": {"name": name},
           "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [rule]}})
}

fn pods_from(labels: Value) -> Value {
    json!({"from": [{"podSelector": {"matchLabels": labels}}]})
}

/// Who connects, and through which door.
#[derive(Debug, Clone, Copy)]
enum From {
    /// A pod (namespace, name) through the cluster IP.
    Pod(&'static str, &'static str),
    /// A pod through the nodePort of its own node.
    PodViaNodePort(&'static str, &'static str),
    /// A pod through the nodePort of another node.
    PodViaNodePortOf(&'static str, &'static str, &'static str),
    /// An outside client reaching the nodePort on a node, with its address if known.
    Outside(&'static str, Option<&'static str>),
    /// A host process through the cluster IP.
    Node(&'static str),
    /// A host process of the first node through the nodePort of the second.
    NodeViaNodePortOf(&'static str, &'static str),
}

fn node_ip(node: &str) -> &'static str {
    match node {
        "node-a" => "127.1.0.1",
        "node-b" => "127.1.0.2",
        _ => "127.1.0.3",
    }
}

fn verdict(model: &ProxyModel, from: From) -> PolicyVerdict {
    let policies = model.policies();
    let (decision, client) = match from {
        From::Pod(namespace, name)
        | From::PodViaNodePort(namespace, name)
        | From::PodViaNodePortOf(namespace, name, _) => {
            let pod = policies.pod(namespace, name).expect("client pod");
            let node = pod.node_name.as_deref().map(str::to_owned).expect("node");
            let decision = match from {
                From::Pod(..) => route(model, "127.10.0.1", 80, from_pod(&node)),
                From::PodViaNodePortOf(.., other) => {
                    route(model, node_ip(other), 30080, from_pod(&node))
                }
                _ => route(model, node_ip(&node), 30080, from_pod(&node)),
            };
            (decision, Client::Pod(pod))
        }
        From::Outside(node, ip) => (
            route_full(
                model,
                node_ip(node),
                30080,
                Protocol::Tcp,
                from_outside(node),
                ip,
            ),
            Client::External(ip.map(|ip| ip.parse().expect("ip"))),
        ),
        From::Node(node) => (
            route(model, "127.10.0.1", 80, from_node(node)),
            Client::Node(node),
        ),
        From::NodeViaNodePortOf(node, other) => (
            route(model, node_ip(other), 30080, from_node(node)),
            Client::Node(node),
        ),
    };
    let mut verdicts = model.policy_verdicts(&decision, &client);
    assert_eq!(verdicts.len(), 1, "{decision:?}");
    (*verdicts.remove(0).verdict).clone()
}

/// (policies, source, allowed, words the verdict's text must contain)
#[rstest]
// N1: no policy, nothing is isolated.
#[case::no_policy(vec![], From::Pod("shop", "frontend-1"), Some(true), "no policy isolates")]
// N1/N3: the deny-all shape isolates and admits nothing.
#[case::deny_all(vec![deny_all()], From::Pod("shop", "frontend-1"), Some(false), "isolated by shop/default-deny; no rule admits anything")]
// N2: an egress-only policy (policyTypes Egress) does not isolate for ingress.
#[case::egress_only_typed(vec![json!({"metadata": {"name": "egress"}, "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Egress"]}})],
    From::Pod("shop", "frontend-1"), Some(true), "no policy isolates")]
// N2: egress rules without policyTypes default to Ingress and Egress: ingress is isolated too.
#[case::egress_rules_untyped(vec![json!({"metadata": {"name": "egress"}, "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "egress": [{}]}})],
    From::Pod("shop", "frontend-1"), Some(false), "isolated by shop/egress")]
// N3: rules add up; the allow-all shape wins over the deny-all one.
#[case::allow_all(vec![deny_all(), allow("allow-all", json!({}))], From::Pod("other", "intruder-1"), Some(true), "allowed by shop/allow-all rule 0")]
// N4: a pod selector admits matching pods of the policy's namespace.
#[case::pod_selector(vec![deny_all(), allow("allow-frontend", pods_from(json!({"app": "frontend"})))],
    From::Pod("shop", "frontend-1"), Some(true), "allowed by shop/allow-frontend rule 0")]
#[case::pod_selector_other_labels(vec![deny_all(), allow("allow-frontend", pods_from(json!({"app": "frontend"})))],
    From::Pod("shop", "batch-1"), Some(false), "pod shop/batch-1 does not carry app=frontend")]
#[case::pod_selector_other_namespace(vec![deny_all(), allow("allow-frontend", pods_from(json!({"app": "frontend"})))],
    From::Pod("other", "intruder-1"), Some(false), "covers namespace shop only, the source is in other")]
// N4/N5: a namespace selector alone admits every pod of the labelled namespaces.
#[case::namespace_selector(vec![allow("team", json!({"from": [{"namespaceSelector": {"matchLabels": {"team": "shop"}}}]}))],
    From::Pod("shop", "batch-1"), Some(true), "allowed by shop/team")]
#[case::namespace_label_missing(vec![allow("team", json!({"from": [{"namespaceSelector": {"matchLabels": {"team": "shop"}}}]}))],
    From::Pod("ingress-nginx", "nginx-1"), Some(false), "namespace ingress-nginx does not carry team=shop")]
// N4: both selectors in one peer are ANDed.
#[case::and_within_peer(vec![allow("nginx", json!({"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}, "podSelector": {"matchLabels": {"app": "frontend"}}}]}))],
    From::Pod("other", "intruder-1"), Some(false), "namespace other does not carry kubernetes.io/metadata.name=ingress-nginx")]
#[case::and_within_peer_match(vec![allow("nginx", json!({"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}, "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}}}]}))],
    From::Pod("ingress-nginx", "nginx-1"), Some(true), "allowed by shop/nginx rule 0")]
// N4: separate peers are ORed.
#[case::or_across_peers(vec![allow("either", json!({"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}, {"podSelector": {"matchLabels": {"app": "frontend"}}}]}))],
    From::Pod("shop", "frontend-1"), Some(true), "allowed by shop/either rule 0")]
// N4: an empty namespace selector is every namespace.
#[case::empty_namespace_selector(vec![allow("any-ns", json!({"from": [{"namespaceSelector": {}}]}))],
    From::Pod("other", "intruder-1"), Some(true), "allowed by shop/any-ns")]
#[case::match_expressions(vec![allow("not-batch", json!({"from": [{"podSelector": {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["batch"]}]}}]}))],
    From::Pod("shop", "batch-1"), Some(false), "does not carry app notin (batch)")]
// N7: a named port is resolved on the destination pod.
#[case::named_port(vec![allow("http", json!({"ports": [{"port": "http"}]}))], From::Pod("shop", "batch-1"), Some(true), "allowed by shop/http")]
#[case::named_port_undeclared(vec![allow("web-port", json!({"ports": [{"port": "web"}]}))],
    From::Pod("shop", "batch-1"), Some(false), "allows port \"web\"/TCP, which the destination pod does not declare")]
// N8: policies see the targetPort, not the Service port.
#[case::number_is_target_port(vec![allow("p8080", json!({"ports": [{"port": 8080}]}))], From::Pod("shop", "batch-1"), Some(true), "allowed by shop/p8080")]
#[case::service_port_is_not_seen(vec![allow("p80", json!({"ports": [{"port": 80}]}))], From::Pod("shop", "batch-1"), Some(false), "allows ports 80/TCP, not 8080/TCP")]
// N7: endPort ranges and the protocol.
#[case::end_port(vec![allow("range", json!({"ports": [{"port": 8000, "endPort": 8100}]}))], From::Pod("shop", "batch-1"), Some(true), "allowed by shop/range")]
#[case::end_port_outside(vec![allow("range", json!({"ports": [{"port": 8081, "endPort": 8100}]}))], From::Pod("shop", "batch-1"), Some(false), "8081-8100/TCP, not 8080/TCP")]
#[case::protocol(vec![allow("udp", json!({"ports": [{"port": 8080, "protocol": "UDP"}]}))], From::Pod("shop", "batch-1"), Some(false), "8080/UDP, not 8080/TCP")]
// N6: an ipBlock and a pod address: left to the plugin.
#[case::ip_block_pod_address(vec![allow("cidr", json!({"from": [{"ipBlock": {"cidr": "127.2.0.0/16"}}]}))],
    From::Pod("shop", "batch-1"), None, "covers the pod address 127.2.0.3")]
// N8: the source pod's egress policies count too.
#[case::egress_denied(vec![json!({"metadata": {"name": "frontend-egress"}, "spec": {"podSelector": {"matchLabels": {"app": "frontend"}}, "policyTypes": ["Egress"]}})],
    From::Pod("shop", "frontend-1"), Some(false), "")]
#[case::egress_named_port(vec![json!({"metadata": {"name": "frontend-egress"}, "spec": {"podSelector": {"matchLabels": {"app": "frontend"}}, "policyTypes": ["Egress"], "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"port": "http"}]}]}})],
    From::Pod("shop", "frontend-1"), Some(true), "no policy isolates")]
// N10: a host process is seen as its node's address.
#[case::node_source(vec![allow("node-b", json!({"from": [{"ipBlock": {"cidr": "127.1.0.2/32"}}]}))], From::Node("node-b"), Some(true), "allowed by shop/node-b")]
// N9: the pod's own node is always let in.
#[case::own_node(vec![deny_all()], From::Node("node-a"), Some(true), "own node")]
fn cluster_ip_and_node_sources(
    #[case] policies: Vec<Value>,
    #[case] from: From,
    #[case] allowed: Option<bool>,
    #[case] words: &str,
) {
    let model = world("Cluster", &policies).model();
    let verdict = verdict(&model, from);
    assert_eq!(verdict.allowed, allowed, "{verdict:#?}");
    let text = format!("{}", verdict.ingress);
    assert!(
        text.contains(words),
        "{text:?} lacks {words:?}\n{verdict:#?}"
    );
}

fn clients_block(except: &[&str]) -> Value {
    json!({"from": [{"ipBlock": {"cidr": "127.0.0.0/8", "except": except}}]})
}

/// (eTP, policies, source, allowed, words) for the external doors (N10).
#[rstest]
// eTP Local keeps the client's address: the ipBlock decides.
#[case::local_client_kept("Local", vec![allow("clients", clients_block(&["127.98.0.0/16"]))],
    From::Outside("node-a", Some("127.99.0.5")), Some(true), "allowed by shop/clients")]
#[case::local_client_excepted("Local", vec![allow("clients", clients_block(&["127.99.0.0/16"]))],
    From::Outside("node-a", Some("127.99.0.5")), Some(false), "excludes 127.99.0.5")]
#[case::local_address_unknown("Local", vec![allow("clients", clients_block(&[]))],
    From::Outside("node-a", None), None, "not known")]
// eTP Cluster: SNAT to the forwarding node's address, which the except range removes.
#[case::cluster_snat_excepted("Cluster", vec![allow("clients", clients_block(&["127.1.0.0/16"]))],
    From::Outside("node-b", Some("127.99.0.5")), Some(false), "excludes 127.1.0.2")]
#[case::cluster_snat_outside("Cluster", vec![allow("clients", json!({"from": [{"ipBlock": {"cidr": "127.99.0.0/16"}}]}))],
    From::Outside("node-b", Some("127.99.0.5")), Some(false), "does not contain 127.1.0.2")]
#[case::cluster_snat_node_range("Cluster", vec![allow("nodes", json!({"from": [{"ipBlock": {"cidr": "127.1.0.0/16"}}]}))],
    From::Outside("node-b", Some("127.99.0.5")), Some(true), "allowed by shop/nodes")]
// N9 + N10: masqueraded by the pod's own node.
#[case::cluster_snat_own_node("Cluster", vec![deny_all()], From::Outside("node-a", Some("127.99.0.5")), Some(true), "own node")]
// N10: a pod through a nodePort with eTP Cluster is masqueraded too: its labels no longer count.
#[case::pod_via_node_port_masqueraded("Cluster", vec![allow("allow-frontend", pods_from(json!({"app": "frontend"})))],
    From::PodViaNodePort("shop", "frontend-1"), Some(false), "matches pods only, and the source is seen as address 127.1.0.2")]
// ... by the node whose nodePort it called, not its own (that node's rules handle the packet).
#[case::pod_via_other_node_port("Cluster", vec![allow("node-c", json!({"from": [{"ipBlock": {"cidr": "127.1.0.3/32"}}]}))],
    From::PodViaNodePortOf("shop", "frontend-1", "node-c"), Some(true), "allowed by shop/node-c")]
#[case::pod_via_other_node_port_not_own("Cluster", vec![allow("node-b", json!({"from": [{"ipBlock": {"cidr": "127.1.0.2/32"}}]}))],
    From::PodViaNodePortOf("shop", "frontend-1", "node-c"), Some(false), "does not contain 127.1.0.3")]
// ... and so is a host process, even one of the endpoint's own node.
#[case::host_via_other_node_port("Cluster", vec![deny_all()],
    From::NodeViaNodePortOf("node-a", "node-c"), Some(false), "isolated by shop/default-deny")]
// ... while eTP Local keeps the pod as the source (C10).
#[case::pod_via_node_port_local("Local", vec![allow("allow-frontend", pods_from(json!({"app": "frontend"})))],
    From::PodViaNodePort("shop", "frontend-1"), Some(true), "allowed by shop/allow-frontend")]
fn external_doors(
    #[case] etp: &str,
    #[case] policies: Vec<Value>,
    #[case] from: From,
    #[case] allowed: Option<bool>,
    #[case] words: &str,
) {
    let model = world(etp, &policies).model();
    let verdict = verdict(&model, from);
    assert_eq!(verdict.allowed, allowed, "{verdict:#?}");
    let text = format!("{}", verdict.ingress);
    assert!(
        text.contains(words),
        "{text:?} lacks {words:?}\n{verdict:#?}"
    );
}

/// N8: an egress denial names the source pod's policy.
#[test]
fn egress_denial_names_the_policy() {
    let policy = json!({"metadata": {"name": "frontend-egress"},
        "spec": {"podSelector": {"matchLabels": {"app": "frontend"}}, "policyTypes": ["Egress"],
                 "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}]}});
    let model = world("Cluster", &[policy]).model();
    let verdict = verdict(&model, From::Pod("shop", "frontend-1"));
    let egress = format!("{}", verdict.egress.expect("egress decision"));
    assert!(
        egress.contains("isolated by shop/frontend-egress"),
        "{egress}"
    );
    assert!(
        egress.contains("allows ports 53/UDP, not 8080/TCP"),
        "{egress}"
    );
}

/// N2: a manifest without policyTypes and a dump with them defaulted read the same.
#[test]
fn policy_types_default_like_the_api_server() {
    let untyped = allow("frontend", pods_from(json!({"app": "frontend"})));
    let mut typed = untyped.clone();
    typed["spec"]["policyTypes"] = json!(["Ingress"]);
    for policy in [untyped, typed] {
        let model = world("Cluster", &[policy]).model();
        assert_eq!(
            verdict(&model, From::Pod("shop", "batch-1")).allowed,
            Some(false)
        );
        assert_eq!(
            verdict(&model, From::Pod("shop", "frontend-1")).allowed,
            Some(true)
        );
    }
}

/// N10: a load balancer in ipMode Proxy opens its own connection: under eTP Local the policies
/// see the load balancer's address, not the client's; under eTP Cluster the node's.
#[rstest]
#[case::local_sees_the_balancer(TrafficPolicy::Local, "127.60.0.0/16", Some(true))]
#[case::local_not_the_client(TrafficPolicy::Local, "127.99.0.0/16", Some(false))]
#[case::cluster_sees_the_node(TrafficPolicy::Cluster, "127.1.0.0/16", Some(true))]
#[case::cluster_not_the_balancer(TrafficPolicy::Cluster, "127.60.0.0/16", Some(false))]
fn proxy_mode_load_balancer(
    #[case] etp: TrafficPolicy,
    #[case] cidr: &str,
    #[case] allowed: Option<bool>,
) {
    let rule = json!({"from": [{"ipBlock": {"cidr": cidr}}]});
    let world = world("Cluster", &[allow("lb", rule)]);
    let model = world.model();
    let nodes = NodeTable::new(world.nodes.iter());
    let door = DoorFacts {
        via: FrontDoor::LoadBalancer,
        external_policy: etp,
        forwarding: Some("node-b"),
        proxy_address: Some("127.60.0.1".parse().expect("lb address")),
    };
    let client = Client::External(Some("127.99.0.5".parse().expect("client")));
    let web = model.policies().pod("shop", "web-1").expect("web-1");
    let seen = PolicyIndex::seen(&client, &door, &nodes, "127.2.0.1".parse().expect("ip"));
    let verdict = model.policies().verdict(&seen, web, 8080, Protocol::Tcp);
    assert_eq!(verdict.allowed, allowed, "{verdict:#?}");
}

/// N10 in the Policy tab's LoadBalancer hop: a load balancer in ipMode Proxy is the source the
/// policies see (its address under eTP Local); in VIP mode the outside client's own address
/// is kept, and unknown without `--source-ip`.
#[rstest]
#[case::proxy_local(Some("Proxy"), "Local", Some(true), "allowed by shop/lb")]
#[case::vip_local(None, "Local", None, "the client's address is not known")]
#[case::proxy_cluster(Some("Proxy"), "Cluster", Some(false), "does not contain 127.1.0.")]
fn load_balancer_hop_sees_a_proxying_balancer(
    #[case] mode: Option<&str>,
    #[case] etp: &str,
    #[case] allowed: Option<bool>,
    #[case] words: &str,
) {
    let world = World::new()
        .nodes(three_nodes())
        .namespace("shop", &[("kubernetes.io/metadata.name", "shop")])
        .service(
            service("web")
                .type_("LoadBalancer")
                .selector(&[("app", "web")])
                .port(Some("http"), 80, "http")
                .node_port(30080)
                .etp(etp)
                .lb_ingress(Some("127.60.0.1"), None, mode),
        )
        .pod(
            pod("web-1", "127.2.0.1", "node-a")
                .labels(&[("app", "web")])
                .container_port("app", Some("http"), 8080, "TCP"),
        )
        .policy(allow(
            "lb",
            json!({"from": [{"ipBlock": {"cidr": "127.60.0.0/16"}}]}),
        ));
    let model = world.model();
    let chain = model.service("shop", "web").expect("shop/web");
    let hop = model.hop_policies(
        chain,
        kubehop::engine::netpol::PolicyHop::LoadBalancer(0),
        None,
    );
    let verdict = &hop.verdicts[0].endpoints[0].verdict;
    assert_eq!(verdict.allowed, allowed, "{verdict:#?}");
    let text = verdict.ingress.to_string();
    assert!(text.contains(words), "{text:?} lacks {words:?}");
}

/// A pod of app `app` with role `role` in the data tier, on node-a.
fn data_pod(name: &str, ip: &str, app: &str, role: &str) -> PodBuilder {
    pod(name, ip, "node-a").labels(&[("app", app), ("role", role), ("tier", "data")])
}

/// `pod` declaring the container port `sql` (5432/TCP).
fn with_sql(pod: PodBuilder) -> PodBuilder {
    pod.container_port("app", Some("sql"), 5432, "TCP")
}

/// The data tier's policies in shop: deny all both ways, egress to `role=db` on 5432, ingress
/// to `tier=data` on the named port `sql`.
fn data_policies(world: World) -> World {
    world
        .policy(json!({"metadata": {"name": "default-deny"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}))
        .policy(json!({"metadata": {"name": "to-db"},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"],
                     "egress": [{"to": [{"podSelector": {"matchLabels": {"role": "db"}}}],
                                 "ports": [{"port": 5432}]}]}}))
        .policy(json!({"metadata": {"name": "sql"},
            "spec": {"podSelector": {"matchLabels": {"tier": "data"}},
                     "ingress": [{"ports": [{"port": "sql"}]}]}}))
}

/// shop, isolated by a default-deny: every pod may reach the `role=db` pods on 5432 (egress)
/// and anyone may reach a pod's port named `sql` (ingress, on `tier=data` pods). Services on
/// 5432: orders-db and users-db (pods `role=db`, declaring `sql`), cache (pods `role=cache`)
/// and legacy-db (pods `role=db`, declaring no port).
fn shared_world() -> World {
    let db_service = |name: &str, app: &str| {
        service(name)
            .cluster_ip(match name {
                "orders-db" => "127.10.0.11",
                "users-db" => "127.10.0.12",
                "cache" => "127.10.0.13",
                _ => "127.10.0.14",
            })
            .selector(&[("app", app)])
            .port(Some("sql"), 5432, "5432")
    };
    data_policies(World::new())
        .nodes(three_nodes())
        .namespace("shop", &[("kubernetes.io/metadata.name", "shop")])
        .service(db_service("orders-db", "orders-db"))
        .service(db_service("users-db", "users-db"))
        .service(db_service("cache", "cache"))
        .service(db_service("legacy-db", "legacy-db"))
        .pod(with_sql(data_pod(
            "orders-db-1",
            "127.2.0.11",
            "orders-db",
            "db",
        )))
        .pod(with_sql(data_pod(
            "users-db-1",
            "127.2.0.12",
            "users-db",
            "db",
        )))
        .pod(with_sql(data_pod(
            "cache-1",
            "127.2.0.13",
            "cache",
            "cache",
        )))
        .pod(data_pod("legacy-db-1", "127.2.0.14", "legacy-db", "db"))
}

/// The verdict of the cluster IP hop (from a pod of the namespace) for the Service's endpoint.
fn cluster_ip_verdict<'m>(model: &'m ProxyModel, name: &str) -> &'m PolicyVerdict {
    let verdicts = cluster_ip_verdicts(model, name);
    assert_eq!(verdicts.len(), 1, "{name}");
    verdicts[0].1
}

// N4/N7/N8: chains whose endpoints the rules cannot tell apart share one verdict (computed
// once); a label the source's egress selector reads, or a named port the destination does
// not declare, keeps them apart.
#[test]
fn chains_the_rules_cannot_tell_apart_share_a_verdict() {
    let model = shared_world().model();
    let orders = cluster_ip_verdict(&model, "orders-db");
    let users = cluster_ip_verdict(&model, "users-db");
    // Different apps, same policies, same `role` and the same declared `sql`: one verdict.
    assert!(std::ptr::eq(orders, users), "{orders:?}\n{users:?}");
    assert_eq!(orders.allowed, Some(true), "{orders:?}");
    // `role=cache` is read by the source's egress rule: denied, and its own verdict.
    let cache = cluster_ip_verdict(&model, "cache");
    assert_eq!(cache.allowed, Some(false), "{cache:?}");
    assert_eq!(cache.ingress.allowed(), Some(true), "{cache:?}");
    assert!(
        cache
            .egress
            .as_ref()
            .is_some_and(|egress| egress.allowed() == Some(false))
    );
    // No `sql` port declared: the ingress rule does not admit it, though labels match.
    let legacy = cluster_ip_verdict(&model, "legacy-db");
    assert!(!std::ptr::eq(legacy, orders));
    assert_eq!(legacy.ingress.allowed(), Some(false), "{legacy:?}");
    assert!(
        legacy.ingress.to_string().contains("\"sql\"/TCP"),
        "{}",
        legacy.ingress
    );
    // Each verdict is the one the chain built alone (nothing kept from other chains) gives.
    let snapshot = shared_world().snapshot();
    let chains = ServiceChains::new(&snapshot, &EngineConfig::default());
    for (position, (_, name)) in chains.keys().enumerate() {
        let alone = chains.chain(position).expect("the chain");
        let model_chain = model.services.iter().find(|chain| chain.name == name);
        assert_eq!(
            alone.network_policy,
            model_chain.and_then(|chain| chain.network_policy.clone()),
            "{name}"
        );
    }
}

/// The cluster IP hop's verdicts of `name`'s endpoints, in order, with their pods.
fn cluster_ip_verdicts<'m>(model: &'m ProxyModel, name: &str) -> Vec<(String, &'m PolicyVerdict)> {
    let chain = model
        .services
        .iter()
        .find(|chain| chain.name == name)
        .expect("the chain");
    let block = chain
        .network_policy
        .as_ref()
        .expect("a networkPolicy block");
    let hop = block
        .hops()
        .iter()
        .find(|hop| hop.hop == *"5432/TCP/clusterIP")
        .expect("the cluster IP hop");
    block
        .verdicts(hop)
        .map(|endpoint| (endpoint.pod.to_string(), endpoint.verdict))
        .collect()
}

// N4/N7/N8 within one chain: the endpoints of one pod template share one verdict (asked once
// per run of a template and port); a pod of another template gets its own; a verdict that
// names the destination pod (the source's egress selector misses its labels) is each pod's
// own.
#[test]
fn endpoints_of_one_template_share_a_verdict_unless_it_names_the_pod() {
    let model = data_policies(World::new())
        .nodes(three_nodes())
        .namespace("shop", &[("kubernetes.io/metadata.name", "shop")])
        .service(
            service("db")
                .cluster_ip("127.10.0.21")
                .selector(&[("app", "db")])
                .port(Some("sql"), 5432, "5432"),
        )
        .service(
            service("cache")
                .cluster_ip("127.10.0.22")
                .selector(&[("app", "cache")])
                .port(Some("sql"), 5432, "5432"),
        )
        .pod(with_sql(data_pod("db-1", "127.2.0.21", "db", "db")))
        .pod(with_sql(data_pod("db-2", "127.2.0.22", "db", "db")))
        // Another template: it does not declare `sql`, which the ingress rule names.
        .pod(data_pod("db-3", "127.2.0.23", "db", "db"))
        .pod(with_sql(data_pod("db-4", "127.2.0.24", "db", "db")))
        .pod(with_sql(data_pod(
            "cache-1",
            "127.2.0.31",
            "cache",
            "cache",
        )))
        .pod(with_sql(data_pod(
            "cache-2",
            "127.2.0.32",
            "cache",
            "cache",
        )))
        .model();
    let db = cluster_ip_verdicts(&model, "db");
    let pods: Vec<&str> = db.iter().map(|(pod, _)| pod.as_str()).collect();
    assert_eq!(pods, ["shop/db-1", "shop/db-2", "shop/db-3", "shop/db-4"]);
    let allowed = |verdict: &PolicyVerdict| verdict.allowed;
    assert_eq!(
        db.iter()
            .map(|(_, verdict)| allowed(verdict))
            .collect::<Vec<_>>(),
        [Some(true), Some(true), Some(false), Some(true)],
        "{db:?}"
    );
    // One verdict for the template's three pods, before and after the other template's.
    assert!(std::ptr::eq(db[0].1, db[1].1) && std::ptr::eq(db[1].1, db[3].1));
    assert!(!std::ptr::eq(db[2].1, db[0].1));
    // The source's egress rule reads `role`: each cache pod is denied in its own words.
    let cache = cluster_ip_verdicts(&model, "cache");
    assert_eq!(cache.len(), 2, "{cache:?}");
    assert!(!std::ptr::eq(cache[0].1, cache[1].1));
    for (pod, verdict) in &cache {
        assert_eq!(verdict.allowed, Some(false), "{pod}: {verdict:?}");
        let egress = verdict.egress.as_ref().expect("an egress decision");
        let name = pod.trim_start_matches("shop/");
        assert!(egress.to_string().contains(name), "{pod}: {egress}");
    }
}
