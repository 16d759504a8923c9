//! NetworkPolicy verdicts through the built binary: `route --from pod/NS/NAME` and
//! `--source-ip` beside kube-proxy's decision, and `chain -o json|text` (rules N1-N10).

use std::io::Write;
use std::process::{Output, Stdio};

use serde_json::{Value, json};

use crate::support::bin::{kubehop_command as command, stderr, stdout};
use crate::support::fixtures::*;

fn run(args: &[&str], input: &str) -> Output {
    let mut child = command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the kubehop binary starts");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(input.as_bytes()).expect("write stdin");
    drop(stdin);
    child.wait_with_output().expect("the kubehop binary runs")
}

/// The world as a `kubectl get -o json` List.
fn dump(world: &World) -> String {
    let mut items: Vec<Value> = Vec::new();
    let mut add = |value: Value, api: &str, kind: &str| {
        let mut value = value;
        value["apiVersion"] = json!(api);
        value["kind"] = json!(kind);
        items.push(value);
    };
    for node in &world.nodes {
        add(serde_json::to_value(node).expect("node"), "v1", "Node");
    }
    for namespace in &world.namespaces {
        add(
            serde_json::to_value(namespace).expect("ns"),
            "v1",
            "Namespace",
        );
    }
    for service in &world.services {
        add(serde_json::to_value(service).expect("svc"), "v1", "Service");
    }
    for pod in &world.pods {
        add(serde_json::to_value(pod).expect("pod"), "v1", "Pod");
    }
    for policy in &world.network_policies {
        add(
            serde_json::to_value(policy).expect("policy"),
            "networking.k8s.io/v1",
            "NetworkPolicy",
        );
    }
    json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

/// shop/web (NodePort 30080, eTP Cluster) on web-1 (node-a), frontend-1 and batch-1 on node-b;
/// `policies` adds the default-deny and allow-frontend policies.
fn world(policies: bool) -> World {
    let world = World::new()
        .nodes(three_nodes())
        .namespace("shop", &[("kubernetes.io/metadata.name", "shop")])
        .service(
            service("web")
                .type_("NodePort")
                .selector(&[("app", "web")])
                .port(Some("http"), 80, "http")
                .node_port(30080),
        )
        .pod(
            pod("web-1", "127.2.0.1", "node-a")
                .labels(&[("app", "web")])
                .container_port("app", Some("http"), 8080, "TCP"),
        )
        .pod(pod("frontend-1", "127.2.0.2", "node-b").labels(&[("app", "frontend")]))
        .pod(pod("batch-1", "127.2.0.3", "node-b").labels(&[("app", "batch")]));
    if !policies {
        return world;
    }
    world
        .policy(json!({"metadata": {"name": "default-deny"}, "spec": {"podSelector": {}}}))
        .policy(json!({"metadata": {"name": "allow-frontend"},
            "spec": {"podSelector": {"matchLabels": {"app": "web"}},
                     "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "frontend"}}}],
                                  "ports": [{"port": "http"}]}]}}))
}

fn route_json(world: &World, args: &[&str]) -> Value {
    let mut all = vec!["route", "-o", "json", "-f", "-"];
    all.extend_from_slice(args);
    let output = run(&all, &dump(world));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    serde_json::from_str(&stdout(&output)).expect("route -o json prints JSON")
}

#[test]
fn route_from_a_named_pod_is_allowed_by_its_rule() {
    let answer = route_json(
        &world(true),
        &["127.10.0.1:80", "--from", "pod/shop/frontend-1"],
    );
    assert_eq!(answer["source"]["node"], "node-b", "the pod's own node");
    let policy = &answer["policy"];
    assert_eq!(policy["source"], "pod/shop/frontend-1");
    let endpoint = &policy["endpoints"][0];
    assert_eq!(endpoint["pod"], "shop/web-1");
    assert_eq!(endpoint["port"], 8080);
    assert_eq!(endpoint["allowed"], true);
    assert_eq!(
        endpoint["seenAs"],
        json!({"kind": "pod", "pod": "shop/frontend-1"})
    );
    assert_eq!(
        endpoint["ingress"],
        json!({"verdict": "allowed", "policy": "shop/allow-frontend", "rule": 0})
    );
}

#[test]
fn route_from_another_pod_is_denied_with_the_nearest_rule() {
    let answer = route_json(
        &world(true),
        &["127.10.0.1:80", "--from", "pod/shop/batch-1"],
    );
    let endpoint = &answer["policy"]["endpoints"][0];
    assert_eq!(endpoint["allowed"], false);
    let ingress = &endpoint["ingress"];
    assert_eq!(ingress["verdict"], "denied");
    assert_eq!(
        ingress["isolatedBy"],
        json!(["shop/allow-frontend", "shop/default-deny"])
    );
    assert_eq!(ingress["nearMiss"]["policy"], "shop/allow-frontend");
    assert_eq!(
        ingress["nearMiss"]["reasons"],
        json!([{"kind": "pod-labels", "pod": "shop/batch-1", "selector": "app=frontend"}])
    );
}

/// N10: eTP Cluster masquerades an outside client to the address of the node it arrives at.
#[test]
fn route_through_a_node_port_sees_the_node_address() {
    let output = run(
        &[
            "route",
            "127.1.0.2:30080",
            "--from",
            "external@node-b",
            "--source-ip",
            "127.99.0.5",
            "-f",
            "-",
        ],
        &dump(&world(true)),
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    for words in [
        "policy (NetworkPolicy, from external/127.99.0.5)",
        "shop/web-1 127.2.0.1:8080: denied, seen as node node-b (127.1.0.2)",
        "matches pods only, and the source is seen as address 127.1.0.2",
    ] {
        assert!(text.contains(words), "{words:?} missing in\n{text}");
    }
}

/// Without NetworkPolicies the answer is exactly the old one: no `policy` key.
#[test]
fn route_without_policies_is_unchanged() {
    let answer = route_json(
        &world(false),
        &["127.10.0.1:80", "--from", "pod/shop/batch-1"],
    );
    assert!(answer.get("policy").is_none(), "{answer:#}");
    assert_eq!(answer["verdict"], "forward");
}

#[test]
fn route_from_an_unknown_pod_is_a_usage_error() {
    let output = run(
        &[
            "route",
            "127.10.0.1:80",
            "--from",
            "pod/shop/nope",
            "-f",
            "-",
        ],
        &dump(&world(true)),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("unknown pod \"shop/nope\" in --from"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn chain_json_carries_the_policy_block_only_with_policies() {
    let with = run(
        &["chain", "-A", "-o", "json", "-f", "-"],
        &dump(&world(true)),
    );
    let with: Value = serde_json::from_str(&stdout(&with)).expect("json");
    let block = &with["services"][0]["networkPolicy"];
    assert_eq!(
        block["endpoints"][0],
        json!({"pod": "shop/web-1", "ip": "127.2.0.1",
               "ingress": ["shop/allow-frontend", "shop/default-deny"], "egress": []})
    );
    let hops: Vec<&str> = block["hops"]
        .as_array()
        .expect("hops")
        .iter()
        .map(|hop| hop["hop"].as_str().expect("hop"))
        .collect();
    assert_eq!(hops, ["80/TCP/clusterIP", "80/TCP/nodePort"]);
    let without = run(
        &["chain", "-A", "-o", "json", "-f", "-"],
        &dump(&world(false)),
    );
    let without: Value = serde_json::from_str(&stdout(&without)).expect("json");
    assert!(without["services"][0].get("networkPolicy").is_none());
}

/// The text tree marks the hops a default source cannot pass.
#[test]
fn chain_text_marks_hops_default_sources_cannot_pass() {
    let output = run(&["chain", "-A", "-f", "-"], &dump(&world(true)));
    let text = stdout(&output);
    for words in [
        "policy: namespace/shop cannot pass 80/TCP/clusterIP (seen as a pod of namespace shop without labels): denied",
        "it admits pods with app=frontend only, not any pod of namespace shop",
        // N10: through another node than web-1's, masqueraded to that node's address.
        "policy: external cannot pass 80/TCP/nodePort (seen as node node-b (127.1.0.2)): denied",
    ] {
        assert!(text.contains(words), "{words:?} missing in\n{text}");
    }
}

/// A policy that selects nothing is listed under its own heading, and in the top-level
/// `diagnostics` of the JSON with its namespace.
#[test]
fn a_policy_that_selects_nothing_is_listed_apart() {
    let world = world(true).policy(json!({"metadata": {"name": "web-typo"},
        "spec": {"podSelector": {"matchLabels": {"app": "wbe"}}, "ingress": [{}]}}));
    let text = stdout(&run(&["chain", "-A", "-f", "-"], &dump(&world)));
    assert!(
        text.contains("NetworkPolicies  policies that protect no pod"),
        "{text}"
    );
    assert!(text.contains("policy-selects-nothing"), "{text}");
    let output = run(&["chain", "-A", "-o", "json", "-f", "-"], &dump(&world));
    let document: Value = serde_json::from_str(&stdout(&output)).expect("json");
    let orphan = &document["diagnostics"][0];
    assert_eq!(orphan["code"], "policy-selects-nothing");
    assert_eq!(orphan["subject"], "networkpolicy/web-typo");
    assert_eq!(orphan["namespace"], "shop");
}

/// `--from pod@NODE` names a node, not a pod: kube-proxy's decision as always, and no policy
/// verdict until the pod is named (by `--source-ip`, its address).
#[test]
fn route_from_pod_at_node_is_judged_once_the_address_names_the_pod() {
    let unnamed = route_json(&world(true), &["127.10.0.1:80", "--from", "pod@node-b"]);
    assert_eq!(unnamed["verdict"], "forward", "{unnamed:#}");
    assert_eq!(unnamed["policy"]["source"], Value::Null, "{unnamed:#}");
    assert_eq!(unnamed["policy"]["endpoints"], json!([]));
    let named = route_json(
        &world(true),
        &[
            "127.10.0.1:80",
            "--from",
            "pod@node-b",
            "--source-ip",
            "127.2.0.2",
        ],
    );
    assert_eq!(
        named["policy"]["source"], "pod/shop/frontend-1",
        "{named:#}"
    );
    let endpoint = &named["policy"]["endpoints"][0];
    assert_eq!(endpoint["allowed"], true, "{named:#}");
    assert_eq!(endpoint["seenAs"]["pod"], "shop/frontend-1", "{named:#}");
    assert_eq!(endpoint["ingress"]["policy"], "shop/allow-frontend");
    let other = route_json(
        &world(true),
        &[
            "127.10.0.1:80",
            "--from",
            "pod@node-b",
            "--source-ip",
            "127.2.0.3",
        ],
    );
    assert_eq!(other["policy"]["source"], "pod/shop/batch-1", "{other:#}");
    assert_eq!(
        other["policy"]["endpoints"][0]["allowed"], false,
        "{other:#}"
    );
}
