//! kubectl's writes beyond JSON: the typed generators (`kubectl create namespace|deployment|
//! service ...`, `run`, `expose`), which send protobuf, and server-side apply.

use serde_json::Value;

use crate::kubectl::{Harness, rows};

/// The stored object as `kubectl get -o json` prints it, without what differs between two
/// creates of the same object in two namespaces.
async fn comparable(h: &Harness, kind: &str, name: &str, namespace: &str) -> Value {
    let out = h
        .ok(&["get", kind, name, "-n", namespace, "-o", "json"])
        .await;
    let mut object: Value = serde_json::from_str(&out).expect("JSON");
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in [
            "namespace",
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "managedFields",
        ] {
            meta.remove(key);
        }
    }
    if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) {
        spec.remove("clusterIP");
        spec.remove("clusterIPs");
    }
    object
}

/// Runs a generator twice: as kubectl sends it (protobuf) in namespace `proto`, and as the JSON
/// it prints with `--dry-run=client -o json`, created with `kubectl create -f` in namespace
/// `json`; both stored objects must be the same.
async fn same_as_json(h: &Harness, generator: &[&str], kind: &str, name: &str) {
    let mut proto = generator.to_vec();
    proto.extend(["-n", "proto"]);
    h.ok(&proto).await;
    let mut dry = generator.to_vec();
    dry.extend(["-n", "json", "--dry-run=client", "-o", "json"]);
    let printed = h.ok(&dry).await;
    let file = h.write(&format!("{kind}-{name}.json"), &printed);
    h.ok(&["create", "-n", "json", "-f", file.to_str().expect("utf-8")])
        .await;
    let from_proto = comparable(h, kind, name, "proto").await;
    let from_json = comparable(h, kind, name, "json").await;
    assert_eq!(
        from_proto,
        from_json,
        "kubectl {}: the protobuf create stored\n{}\nthe JSON create stored\n{}",
        generator.join(" "),
        serde_json::to_string_pretty(&from_proto).unwrap_or_default(),
        serde_json::to_string_pretty(&from_json).unwrap_or_default()
    );
}

#[tokio::test]
async fn typed_generators_send_protobuf_and_store_what_json_would() {
    let Some(h) = Harness::start("generators").await else {
        return;
    };
    // The namespaces themselves: one through protobuf (kubectl says so at -v=8), one as JSON.
    let (success, stdout, stderr) = h.run(&["create", "namespace", "proto", "-v=8"]).await;
    assert!(success, "{stdout}\n{stderr}");
    assert_eq!(stdout.trim(), "namespace/proto created");
    assert!(
        stderr.contains("Content-Type: application/vnd.kubernetes.protobuf"),
        "kubectl did not send protobuf:\n{stderr}"
    );
    let printed = h
        .ok(&[
            "create",
            "namespace",
            "json",
            "--dry-run=client",
            "-o",
            "json",
        ])
        .await;
    let file = h.write("namespace.json", &printed);
    h.ok(&["create", "-f", file.to_str().expect("utf-8")]).await;

    same_as_json(
        &h,
        &[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.27",
            "--replicas=2",
            "--port=8080",
        ],
        "deployment",
        "web",
    )
    .await;
    same_as_json(
        &h,
        &["create", "service", "clusterip", "web", "--tcp=80:8080"],
        "service",
        "web",
    )
    .await;
    same_as_json(
        &h,
        &[
            "create",
            "service",
            "nodeport",
            "edge",
            "--tcp=443:8443",
            "--node-port=30443",
        ],
        "service",
        "edge",
    )
    .await;
    same_as_json(
        &h,
        &[
            "create",
            "ingress",
            "web",
            "--class=sandbox",
            "--rule=web.example/api*=web:80",
            "--rule=web.example/=web:http",
        ],
        "ingress",
        "web",
    )
    .await;
    same_as_json(
        &h,
        &[
            "run",
            "tmp",
            "--image=busybox:1",
            "--port=9000",
            "--labels=app=tmp,tier=x",
        ],
        "pod",
        "tmp",
    )
    .await;
    same_as_json(
        &h,
        &[
            "expose",
            "deployment",
            "web",
            "--name=web-exposed",
            "--port=81",
            "--target-port=8080",
        ],
        "service",
        "web-exposed",
    )
    .await;
}

#[tokio::test]
async fn a_generator_of_a_kind_the_sandbox_does_not_serve_gets_a_404_not_a_415() {
    let Some(h) = Harness::start("generator-unserved").await else {
        return;
    };
    let (success, _stdout, stderr) = h
        .run(&["create", "priorityclass", "high", "--value=1000"])
        .await;
    assert!(!success);
    assert!(!stderr.contains("415"), "{stderr}");
    assert!(!stderr.contains("unknown format"), "{stderr}");
}

#[tokio::test]
async fn create_from_files_and_run_still_work() {
    let Some(h) = Harness::start("create-files").await else {
        return;
    };
    let manifest = h.write("app.yaml", crate::kubectl::MANIFEST);
    let out = h
        .ok(&["create", "-f", manifest.to_str().expect("utf-8")])
        .await;
    assert_eq!(
        rows(&out),
        ["deployment.apps/api created", "service/api created"]
    );
}
