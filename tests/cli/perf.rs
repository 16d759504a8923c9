//! The synthetic cluster of the engine benchmark (10,000 Services, 50,000 pods, 500 nodes) as
//! dump files, for measuring `kubehop chain -A -o json` on it (README, "Performance"):
//!
//! ```sh
//! cargo test --release --test cli perf:: -- --ignored
//! /usr/bin/time -v target/release/kubehop chain -A -o json -f target/tmp/synthetic.json > /dev/null
//! ```
//!
//! Ignored by default: writing and re-reading the dumps takes a while and a few hundred MB.

use std::path::PathBuf;

use kubehop::cluster::dump;
use kubehop::cluster::synthetic::{SyntheticSpec, objects};

/// A `kubectl get ... -o json|yaml` style `v1 List` of the synthetic cluster.
fn list() -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "List",
        "metadata": {"resourceVersion": ""},
        "items": objects(&SyntheticSpec::default()),
    })
}

fn target(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// Reads the written dump back and checks it is the whole synthetic cluster.
fn check(path: &PathBuf) {
    let load = dump::load_paths(std::slice::from_ref(path)).expect("the dump loads");
    let snapshot = load.snapshot;
    assert_eq!(snapshot.services.len(), 10_000);
    assert_eq!(snapshot.pods.len(), 50_000);
    assert_eq!(snapshot.nodes.len(), 500);
    assert!(snapshot.endpoint_slices.len() >= 9_500);
    assert!(load.notes.is_empty(), "{:?}", load.notes);
}

#[test]
#[ignore = "writes ~100 MB dumps to target/tmp; run for the README's memory figures"]
fn write_synthetic_dumps() {
    let list = list();
    let json = target("synthetic.json");
    std::fs::write(&json, serde_json::to_vec(&list).expect("JSON")).expect("write JSON dump");
    check(&json);
    let yaml = target("synthetic.yaml");
    std::fs::write(&yaml, serde_saphyr::to_string(&list).expect("YAML")).expect("write YAML dump");
    check(&yaml);
}

/// A pod `pod-{index}` labelled `app: shared`, running and ready on `node-0`, at a loopback
/// address.
fn shared_pod(index: usize) -> serde_json::Value {
    let ip = format!("127.1.{}.{}", index / 250, index % 250 + 1);
    serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("pod-{index}"), "namespace": "default", "labels": {"app": "shared"}},
        "spec": {"nodeName": "node-0", "containers": [{"name": "app", "image": "app",
            "ports": [{"name": "http", "containerPort": 8080}]}]},
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True"}]},
    })
}

fn list_of(items: Vec<serde_json::Value>) -> serde_json::Value {
    serde_json::json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items})
}

/// `services` Services that all select the same `pods` pods (no EndpointSlices: kubehop derives
/// them): the output is services × pods endpoints from an input of services + pods objects.
pub fn shared_pods_dump(services: usize, pods: usize) -> serde_json::Value {
    let mut items: Vec<serde_json::Value> = (0..pods).map(shared_pod).collect();
    items.extend((0..services).map(|index| {
        serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": format!("svc-{index:04}"), "namespace": "default"},
            "spec": {"type": "ClusterIP", "clusterIP": format!("127.2.{}.{}", index / 250, index % 250 + 1),
                "selector": {"app": "shared"},
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]},
        })
    }));
    list_of(items)
}

/// One Service with `ports` ports (`p{i}`, numbers 1..=65535 over TCP, then UDP) and one pod it
/// selects: every port one endpoint.
pub fn many_ports_dump(ports: usize) -> serde_json::Value {
    let service_ports: Vec<serde_json::Value> = (0..ports)
        .map(|index| {
            let number = index % 65_535 + 1;
            let protocol = if index < 65_535 { "TCP" } else { "UDP" };
            serde_json::json!({"name": format!("p{index}"), "port": number, "targetPort": number, "protocol": protocol})
        })
        .collect();
    list_of(vec![
        shared_pod(0),
        serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "wide", "namespace": "default"},
            "spec": {"type": "ClusterIP", "clusterIP": "127.2.0.1", "selector": {"app": "shared"},
                "ports": service_ports},
        }),
    ])
}

#[test]
#[ignore = "writes the two scale dumps of docs/performance.md to target/tmp"]
fn write_scale_dumps() {
    let shared = target("shared-pods.json");
    std::fs::write(&shared, serde_json::to_vec(&shared_pods_dump(1_000, 5_000)).expect("JSON"))
        .expect("write");
    let ports = target("many-ports.json");
    std::fs::write(&ports, serde_json::to_vec(&many_ports_dump(100_000)).expect("JSON"))
        .expect("write");
}
