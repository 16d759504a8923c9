//! `kubehop route` through the built binary: ClusterIP, NodePort, LoadBalancer, unknown
//! addresses, externalTrafficPolicy Local drops, `--from` and bad input.

use rstest::rstest;
use serde_json::Value;

use crate::support::bin::{kubehop, stderr, stdout};

/// `route -o json` for a destination in a scenario file.
fn route(scenario: &str, destination: &str, extra: &[&str]) -> Value {
    let file = format!("assets/scenarios/{scenario}.yaml");
    let mut args = vec!["route", destination, "-o", "json", "-f", &file];
    args.extend_from_slice(extra);
    let output = kubehop(&args);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    serde_json::from_str(&stdout(&output)).expect("route -o json prints JSON")
}

fn endpoint_pods(decision: &Value) -> Vec<&str> {
    decision["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .map(|endpoint| endpoint["pod"].as_str().expect("pod"))
        .collect()
}

#[rstest]
// ClusterIP from a pod (default source: pod@<first node>).
#[case::cluster_ip("web-ingress", "127.10.0.10:80", &[], ("pod", "node-1", Some("clusterIP"), "forward", 3))]
// A port the ClusterIP does not have: rejected (nftables semantics).
#[case::cluster_ip_wrong_port("web-ingress", "127.10.0.10:81", &[], ("pod", "node-1", None, "reject", 0))]
// The same number over UDP is another port (rule B8).
#[case::cluster_ip_wrong_protocol("web-ingress", "127.10.0.10:80/udp", &[], ("pod", "node-1", None, "reject", 0))]
// NodePort on a node address: external client arriving at that node by default.
#[case::node_port("nodeport", "127.0.1.3:31852", &[], ("external", "node-3", Some("nodePort"), "forward", 3))]
// LoadBalancer VIP: external client at the first node by default.
#[case::load_balancer("loadbalancer", "127.20.0.2:443/tcp", &[], ("external", "node-1", Some("loadBalancer"), "forward", 2))]
// Nothing owns the address.
#[case::unknown_ip("web-ingress", "127.99.0.1:80", &[], ("pod", "node-1", None, "no-service", 0))]
// eTP Local: node-2 has no local endpoint, so external traffic arriving there is dropped...
#[case::etp_local_drop("etp-local-drops", "127.0.1.2:31080", &[], ("external", "node-2", Some("nodePort"), "drop", 0))]
// ...node-1 has both pods...
#[case::etp_local_forward("etp-local-drops", "127.0.1.1:31080", &[], ("external", "node-1", Some("nodePort"), "forward", 2))]
// ...and the LB IP from outside at node-3 is dropped too, while a pod there reaches both (D9).
#[case::etp_local_lb_drop("etp-local-drops", "127.20.0.3:80", &["--from", "external@node-3"], ("external", "node-3", Some("loadBalancer"), "drop", 0))]
#[case::etp_local_lb_from_pod("etp-local-drops", "127.20.0.3:80", &["--from", "pod@node-3"], ("pod", "node-3", Some("loadBalancer"), "forward", 2))]
// A host process on node-2 calling the NodePort of node-2: the node itself, cluster set (D9).
#[case::etp_local_from_node("etp-local-drops", "127.0.1.2:31080", &["--from", "node@node-2"], ("node", "node-2", Some("nodePort"), "forward", 2))]
// No ready endpoint anywhere: rejected.
#[case::not_ready("pods-not-ready", "127.10.0.17:80", &[], ("pod", "node-1", Some("clusterIP"), "reject", 0))]
// Only terminating pods: the serving one is used.
#[case::terminating("terminating-only", "127.10.0.18:80", &["--from", "pod"], ("pod", "node-1", Some("clusterIP"), "forward", 1))]
fn decisions(
    #[case] scenario: &str,
    #[case] destination: &str,
    #[case] extra: &[&str],
    // (source kind, source node, via, verdict, number of endpoints)
    #[case] expected: (&str, &str, Option<&str>, &str, usize),
) {
    let (source_kind, source_node, via, verdict, endpoints) = expected;
    let decision = route(scenario, destination, extra);
    assert_eq!(decision["source"]["kind"], source_kind);
    assert_eq!(decision["source"]["node"], source_node);
    assert_eq!(decision["matched"]["via"].as_str(), via);
    assert_eq!(decision["verdict"], verdict);
    assert_eq!(endpoint_pods(&decision).len(), endpoints);
}

#[test]
fn json_shape_is_designs() {
    let decision = route(
        "web-ingress",
        "127.10.0.10:80/tcp",
        &["--from", "pod@node-2"],
    );
    let keys: Vec<&String> = decision.as_object().expect("object").keys().collect();
    assert_eq!(
        keys,
        ["destination", "endpoints", "matched", "source", "verdict"]
    );
    assert_eq!(
        decision["destination"],
        serde_json::json!({"ip": "127.10.0.10", "port": 80, "protocol": "TCP"})
    );
    assert_eq!(
        decision["matched"],
        serde_json::json!({"namespace": "shop", "service": "web", "port": "http", "via": "clusterIP"})
    );
    let endpoint = &decision["endpoints"][0];
    let keys: Vec<&String> = endpoint.as_object().expect("object").keys().collect();
    assert_eq!(
        keys,
        [
            "ip",
            "namespace",
            "node",
            "pod",
            "port",
            "ready",
            "serving",
            "terminating"
        ]
    );
    assert_eq!(endpoint["port"], 8080);
    // An unnamed port is named by its number.
    let decision = route("nodeport", "127.10.0.12:80", &[]);
    assert_eq!(decision["matched"]["port"], 80);
}

#[test]
fn source_ranges_use_the_source_ip() {
    // A LoadBalancer restricted to 127.50.0.0/16, read from standard input.
    let file = format!("{}/lb-ranges.yaml", env!("CARGO_TARGET_TMPDIR"));
    let dump = std::fs::read_to_string(format!(
        "{}/assets/scenarios/loadbalancer.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("scenario")
    .replacen(
        "    type: LoadBalancer\n",
        "    type: LoadBalancer\n    loadBalancerSourceRanges:\n    - 127.50.0.0/16\n",
        1,
    );
    assert!(dump.contains("127.50.0.0/16"));
    std::fs::write(&file, dump).expect("write dump");
    let run = |source_ip: &str| {
        let output = kubehop(&[
            "route",
            "127.20.0.2:80",
            "--source-ip",
            source_ip,
            "-o",
            "json",
            "-f",
            &file,
        ]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let decision: Value = serde_json::from_str(&stdout(&output)).expect("JSON");
        decision["verdict"].as_str().expect("verdict").to_owned()
    };
    assert_eq!(run("127.50.3.4"), "forward");
    assert_eq!(run("127.60.3.4"), "drop");
}

#[rstest]
#[case::web_cluster_ip("web-ingress", "127.10.0.10:80", &[])]
#[case::etp_local_drop("etp-local-drops", "127.0.1.2:31080", &[])]
#[case::etp_local_pod("etp-local-drops", "127.20.0.3:80", &["--from", "pod@node-2"])]
#[case::terminating("terminating-only", "127.10.0.18:80", &[])]
#[case::unknown("web-ingress", "127.99.0.1:80/udp", &[])]
fn text(#[case] scenario: &str, #[case] destination: &str, #[case] extra: &[&str]) {
    let file = format!("assets/scenarios/{scenario}.yaml");
    let mut args = vec!["route", destination, "-f", &file];
    args.extend_from_slice(extra);
    let output = kubehop(&args);
    assert_eq!(output.status.code(), Some(0));
    let name = format!(
        "route_text__{scenario}__{}",
        destination.replace([':', '/'], "_")
    );
    insta::assert_snapshot!(name, stdout(&output));
}

#[rstest]
#[case::unknown_node(
    &["127.10.0.10:80", "--from", "pod@node-9"],
    "kubehop: unknown node \"node-9\" in --from \"pod@node-9\": the input's nodes are node-1, node-2, node-3\n"
)]
#[case::bad_from(
    &["127.10.0.10:80", "--from", "client@node-1"],
    "kubehop: invalid --from \"client@node-1\": expected pod@NODE, pod/NAMESPACE/NAME, node@NODE or external@NODE\n"
)]
#[case::no_port(
    &["127.10.0.10"],
    "kubehop: invalid destination \"127.10.0.10\": expected IP:PORT[/tcp|udp|sctp], e.g. 127.10.0.1:80/tcp or [fd00::1]:53/udp, or a Service: SERVICE[:PORT], NAMESPACE/SERVICE[:PORT] or SERVICE.NAMESPACE.svc.cluster.local[:PORT]\n"
)]
#[case::service_elsewhere(
    &["web:80"],
    "kubehop: no Service default/web (it exists in namespace shop: use -n shop or shop/web)\n"
)]
#[case::service_port_unknown(
    &["shop/web:81"],
    "kubehop: Service shop/web has no port 81 (its ports: 80 (http))\n"
)]
#[case::foreign_domain(
    &["web.shop.svc.example.org:80"],
    "kubehop: invalid destination \"web.shop.svc.example.org:80\": \"svc.example.org\" is not this cluster's domain (a Service's name is SERVICE.NAMESPACE.svc.cluster.local)\n"
)]
#[case::bad_protocol(
    &["127.10.0.10:80/icmp"],
    "kubehop: invalid destination \"127.10.0.10:80/icmp\": unknown protocol \"icmp\" (use tcp, udp or sctp)\n"
)]
#[case::missing_file(
    &["127.10.0.10:80", "-f", "missing.yaml"],
    "kubehop: missing.yaml: cannot read: No such file or directory (os error 2)\n"
)]
fn bad_input_exits_2(#[case] args: &[&str], #[case] message: &str) {
    let mut all = vec!["route"];
    all.extend_from_slice(args);
    if !args.contains(&"-f") {
        all.extend_from_slice(&["-f", "assets/scenarios/web-ingress.yaml"]);
    }
    let output = kubehop(&all);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(stderr(&output), message);
    assert!(stdout(&output).is_empty());
}

#[test]
fn demo_routes_on_the_embedded_cluster() {
    // No Service owns 127.0.0.1:1 in the demo cluster; the answer comes from its snapshot.
    let output = kubehop(&["route", "127.0.0.1:1", "--demo", "-o", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let decision: serde_json::Value =
        serde_json::from_str(&String::from_utf8_lossy(&output.stdout)).expect("route JSON");
    assert_eq!(decision["matched"], serde_json::Value::Null);
    assert_eq!(decision["source"]["kind"], "pod", "{decision}");
}

/// A Service named the ways a user types it routes exactly as its ClusterIP:PORT does.
#[rstest]
#[case::namespace_slash(&["shop/web:80"])]
#[case::namespace_flag(&["web:80", "-n", "shop"])]
#[case::only_port(&["web", "-n", "shop"])]
#[case::port_name(&["shop/web:http"])]
#[case::cluster_dns(&["web.shop.svc.cluster.local:80"])]
#[case::short_dns(&["web.shop:80/tcp"])]
fn services_route_as_their_cluster_ip(#[case] args: &[&str]) {
    let by_address = route("web-ingress", "127.10.0.10:80", &[]);
    let by_service = route("web-ingress", args[0], &args[1..]);
    assert_eq!(by_address["verdict"], "forward");
    assert_eq!(by_service, by_address);
}
