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
    // The 1,000-Service dump, and two smaller ones to see the time grow with the output.
    for (services, name) in [
        (1_000, "shared-pods.json"),
        (500, "shared-pods-500.json"),
        (250, "shared-pods-250.json"),
    ] {
        let dump = serde_json::to_vec(&shared_pods_dump(services, 5_000)).expect("JSON");
        std::fs::write(target(name), dump).expect("write");
    }
    let ports = serde_json::to_vec(&many_ports_dump(100_000)).expect("JSON");
    std::fs::write(target("many-ports.json"), ports).expect("write");
    // The same Service without its pod: the cost of the ports alone.
    let mut alone = many_ports_dump(100_000);
    if let Some(items) = alone["items"].as_array_mut() {
        items.remove(0);
    }
    let alone = serde_json::to_vec(&alone).expect("JSON");
    std::fs::write(target("many-ports-no-pod.json"), alone).expect("write");
}

fn snapshot_of(dump: &serde_json::Value) -> kubehop::engine::ClusterSnapshot {
    let bytes = serde_json::to_vec(dump).expect("JSON");
    dump::load_bytes("scale.json", &bytes)
        .expect("the dump loads")
        .snapshot
}

/// One Service with 100,000 ports and a pod: every port gets its one endpoint, on its own
/// number (joining the ports with the slices is linear; the figures are in
/// docs/performance.md).
#[test]
fn a_hundred_thousand_ports_each_get_their_endpoint() {
    let snapshot = snapshot_of(&many_ports_dump(100_000));
    let model = kubehop::engine::build(&snapshot, &Default::default());
    let chain = model.service("default", "wide").expect("the Service");
    assert_eq!(chain.ports.len(), 100_000);
    for port in &chain.ports {
        assert_eq!(port.endpoints.len(), 1, "port {:?}", port.name);
        let endpoint = &port.endpoints[0];
        assert_eq!(endpoint.port, port.port, "port {:?}", port.name);
        assert_eq!(endpoint.info.pod.as_deref(), Some("pod-0"));
        assert!(endpoint.info.ready);
    }
}

/// `chain -A -o json|yaml|text` written one Service at a time: the same document as the
/// whole model's serialisation, YAML the same data, text one tree per Service.
#[test]
fn streamed_output_is_the_whole_document() {
    let dump = shared_pods_dump(40, 150);
    let path = target("shared-pods-small.json");
    std::fs::write(&path, serde_json::to_vec(&dump).expect("JSON")).expect("write");
    let path = path.to_str().expect("UTF-8 path");
    let run = |format: &str| {
        let output = crate::support::bin::kubehop(&["chain", "-A", "-o", format, "-f", path]);
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        crate::support::bin::stdout(&output)
    };
    let json: serde_json::Value = serde_json::from_str(&run("json")).expect("one JSON document");
    let model = kubehop::engine::build(&snapshot_of(&dump), &Default::default());
    // Each Service as the model serialises it, plus its health.
    let services: Vec<serde_json::Value> = model
        .services
        .iter()
        .map(|chain| {
            let mut value = serde_json::to_value(chain).expect("model JSON");
            value["health"] = serde_json::to_value(kubehop::engine::verdict::Health::of(chain))
                .expect("health JSON");
            value
        })
        .collect();
    let expected = serde_json::json!({"services": services, "diagnostics": []});
    assert_eq!(json, expected);
    let services = json["services"].as_array().expect("services");
    assert_eq!(services.len(), 40);
    for service in services {
        let endpoints = service["ports"][0]["endpoints"]
            .as_array()
            .expect("endpoints");
        assert_eq!(endpoints.len(), 150, "{}", service["name"]);
    }
    let yaml: serde_json::Value = serde_saphyr::from_str(&run("yaml")).expect("one YAML document");
    assert_eq!(yaml, json);
    let text = run("text");
    for index in 0..40 {
        assert!(
            text.contains(&format!("default/svc-{index:04}  ClusterIP")),
            "svc-{index:04}"
        );
    }
    assert_eq!(text.matches("150 ready").count(), 40, "{text:.2000}");
}

/// Binary input is refused after its first bytes: `-f /dev/zero` with one line, and an endless
/// stream of zeros on standard input is left after little more than a pipe's buffer (not the
/// 512 MiB size limit).
#[test]
fn binary_input_is_refused_within_the_first_bytes() {
    let output = crate::support::bin::kubehop(&["chain", "-f", "/dev/zero"]);
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        message,
        "kubehop: /dev/zero:1:1: not a text file: a NUL byte: this looks like a binary file, not `kubectl get -o yaml|json` output\n"
    );

    let mut child = crate::support::bin::kubehop_command(&["chain", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubehop runs");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let zeros = [0u8; 4096];
        let mut written = 0usize;
        // Ends when kubehop closes its standard input (it exits); capped at the size limit.
        while written < 600 * 1024 * 1024 && stdin.write_all(&zeros).is_ok() {
            written += zeros.len();
        }
        written
    });
    let output = child.wait_with_output().expect("kubehop exits");
    let written = writer.join().expect("the writer");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("<stdin>:1:1: not a text file"),
        "{output:?}"
    );
    assert!(
        written < 1024 * 1024,
        "{written} bytes were taken before the refusal"
    );
}
