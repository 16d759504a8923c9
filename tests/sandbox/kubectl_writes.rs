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
    // What controllers write after the create (a Job's progress) and what derives from the
    // uid (a Job's selector labels) differ between the two objects by design.
    if let Some(object) = object.as_object_mut() {
        object.remove("status");
    }
    drop_uid_labels(&mut object);
    object
}

/// Removes the `controller-uid` labels and selector entries a Job gets from its own uid.
fn drop_uid_labels(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|key, _| !key.ends_with("controller-uid"));
            map.values_mut().for_each(drop_uid_labels);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_uid_labels),
        _ => {}
    }
}

/// Runs a generator twice: as kubectl sends it (protobuf) in namespace `proto`, and as the JSON
/// it prints with `--dry-run=client -o json`, created with `kubectl create -f` in namespace
/// `json`; both stored objects must be the same.
async fn same_as_json(h: &Harness, generator: &[&str], kind: &str, name: &str) {
    // Flags go before a `--` (what follows it is the container's command).
    let with = |flags: &[&'static str]| {
        let at = generator
            .iter()
            .position(|a| *a == "--")
            .unwrap_or(generator.len());
        let mut args = generator[..at].to_vec();
        args.extend(flags);
        args.extend(&generator[at..]);
        args
    };
    h.ok(&with(&["-n", "proto"])).await;
    let printed = h
        .ok(&with(&["-n", "json", "--dry-run=client", "-o", "json"]))
        .await;
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

/// The kinds the sandbox serves, as `kubectl api-resources -o name` names them.
async fn served(h: &Harness) -> Vec<String> {
    rows(&h.ok(&["api-resources", "-o", "name"]).await)
}

/// The generators of kinds the sandbox may not serve yet: each runs when its kind is served.
#[tokio::test]
async fn generators_of_more_kinds_store_what_json_would_where_served() {
    let Some(h) = Harness::start("more-generators").await else {
        return;
    };
    h.ok(&["create", "namespace", "proto"]).await;
    h.ok(&["create", "namespace", "json"]).await;
    let served = served(&h).await;
    let cases: [(&str, &[&str], &str, &str); 7] = [
        (
            "configmaps",
            &[
                "create",
                "configmap",
                "settings",
                "--from-literal=mode=fast",
                "--from-literal=empty=",
            ],
            "configmap",
            "settings",
        ),
        (
            "secrets",
            &[
                "create",
                "secret",
                "generic",
                "token",
                "--from-literal=key=s3cret",
            ],
            "secret",
            "token",
        ),
        (
            "serviceaccounts",
            &["create", "serviceaccount", "robot"],
            "serviceaccount",
            "robot",
        ),
        (
            "jobs.batch",
            &[
                "create",
                "job",
                "once",
                "--image=busybox:1",
                "--",
                "echo",
                "hi",
            ],
            "job",
            "once",
        ),
        (
            "cronjobs.batch",
            &[
                "create",
                "cronjob",
                "tick",
                "--image=busybox:1",
                "--schedule=*/5 * * * *",
            ],
            "cronjob",
            "tick",
        ),
        (
            "roles.rbac.authorization.k8s.io",
            &[
                "create",
                "role",
                "reader",
                "--verb=get,list",
                "--resource=pods,services",
            ],
            "role",
            "reader",
        ),
        (
            "poddisruptionbudgets.policy",
            &[
                "create",
                "poddisruptionbudget",
                "keep",
                "--selector=app=web",
                "--min-available=1",
            ],
            "poddisruptionbudget",
            "keep",
        ),
    ];
    let mut ran = 0;
    for (resource, generator, kind, name) in cases {
        if !served.iter().any(|s| s == resource) {
            eprintln!("(not served here, skipped: {resource})");
            continue;
        }
        same_as_json(&h, generator, kind, name).await;
        ran += 1;
    }
    eprintln!("{ran} generators of more kinds compared");
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
    assert_eq!(
        h.ok(&["run", "tmp", "--image=busybox:1"]).await.trim(),
        "pod/tmp created"
    );
}

const SHOP: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
  labels: {app: shop}
spec:
  replicas: 2
  selector:
    matchLabels: {app: shop}
  template:
    metadata:
      labels: {app: shop}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 8080
        env:
        - {name: MODE, value: fast}
        - {name: DEBUG, value: "1"}
---
apiVersion: v1
kind: Service
metadata:
  name: shop
spec:
  selector: {app: shop}
  ports:
  - {name: http, port: 80, targetPort: 8080}
  - {name: metrics, port: 9090}
"#;

async fn apply_server_side(
    h: &Harness,
    file: &str,
    text: &str,
    extra: &[&str],
) -> (bool, String, String) {
    let path = h.write(file, text);
    let mut args = vec![
        "apply",
        "--server-side",
        "-f",
        path.to_str().expect("utf-8"),
    ];
    args.extend(extra);
    h.run(&args).await
}

fn deployment(h: &Harness) -> Value {
    h.sandbox
        .store()
        .get_object(kubehop::sandbox::ResourceId::Deployments, "default", "shop")
        .expect("the Deployment exists")
        .value()
}

#[tokio::test]
async fn server_side_apply_sets_removes_and_reports_conflicts() {
    let Some(h) = Harness::start("server-side-apply").await else {
        return;
    };
    let (success, stdout, stderr) = apply_server_side(&h, "shop.yaml", SHOP, &[]).await;
    assert!(success, "{stdout}\n{stderr}");
    assert_eq!(
        rows(&stdout),
        [
            "deployment.apps/shop serverside-applied",
            "service/shop serverside-applied"
        ]
    );
    assert_eq!(deployment(&h)["spec"]["replicas"], 2);

    // Again with a changed field (replicas) and removed ones (an env var, a Service port).
    let changed = SHOP
        .replace("replicas: 2", "replicas: 3")
        .replace("        - {name: DEBUG, value: \"1\"}\n", "")
        .replace("  - {name: metrics, port: 9090}\n", "");
    let (success, stdout, stderr) = apply_server_side(&h, "shop2.yaml", &changed, &[]).await;
    assert!(success, "{stdout}\n{stderr}");
    let stored = deployment(&h);
    assert_eq!(stored["spec"]["replicas"], 3);
    let container = &stored["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["env"],
        serde_json::json!([{"name": "MODE", "value": "fast"}])
    );
    assert_eq!(
        container["imagePullPolicy"], "IfNotPresent",
        "defaults stay"
    );
    let service = h
        .sandbox
        .store()
        .get_object(kubehop::sandbox::ResourceId::Services, "default", "shop")
        .expect("the Service exists")
        .value();
    let ports = service["spec"]["ports"].as_array().expect("ports");
    assert_eq!(ports.len(), 1, "{ports:?}");
    assert_eq!(ports[0]["name"], "http");
    assert_eq!(
        service["spec"]["sessionAffinity"], "None",
        "defaulted fields stay"
    );

    // A server-side dry run changes nothing; a cluster-scoped kind applies too.
    let dry = changed.replace("replicas: 3", "replicas: 9");
    let (success, stdout, stderr) =
        apply_server_side(&h, "dry.yaml", &dry, &["--dry-run=server"]).await;
    assert!(success, "{stdout}\n{stderr}");
    assert_eq!(deployment(&h)["spec"]["replicas"], 3);
    let namespace =
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: applied\n  labels: {team: a}\n";
    let (success, stdout, stderr) = apply_server_side(&h, "ns.yaml", namespace, &[]).await;
    assert!(success, "{stdout}\n{stderr}");
    assert_eq!(stdout.trim(), "namespace/applied serverside-applied");

    // Another manager setting the same field to another value conflicts...
    let scale =
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: shop\nspec:\n  replicas: 5\n";
    let (success, _stdout, stderr) =
        apply_server_side(&h, "scale.yaml", scale, &["--field-manager=autoscaler"]).await;
    assert!(!success);
    assert!(
        stderr.contains("Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas"),
        "{stderr}"
    );
    assert_eq!(deployment(&h)["spec"]["replicas"], 3);
    // ... unless forced, which takes the field over.
    let (success, stdout, stderr) = apply_server_side(
        &h,
        "scale.yaml",
        scale,
        &["--field-manager=autoscaler", "--force-conflicts"],
    )
    .await;
    assert!(success, "{stdout}\n{stderr}");
    assert_eq!(deployment(&h)["spec"]["replicas"], 5);

    let yaml = h
        .ok(&[
            "get",
            "deploy",
            "shop",
            "-o",
            "yaml",
            "--show-managed-fields",
        ])
        .await;
    for expected in [
        "manager: kubectl",
        "manager: autoscaler",
        "operation: Apply",
        "f:replicas: {}",
    ] {
        assert!(yaml.contains(expected), "{expected} in\n{yaml}");
    }
    let plain = h.ok(&["get", "deploy", "shop", "-o", "yaml"]).await;
    assert!(!plain.contains("managedFields"), "{plain}");

    // A plain write takes the fields it changes (`kubectl scale` names no manager: it is
    // "kubectl", from its User-Agent, with an Update entry): the next apply of another value
    // conflicts with it.
    h.ok(&["scale", "deploy", "shop", "--replicas=7"]).await;
    let (success, _stdout, stderr) =
        apply_server_side(&h, "scale.yaml", scale, &["--field-manager=autoscaler"]).await;
    assert!(!success);
    assert!(
        stderr.contains(
            "Apply failed with 1 conflict: conflict with \"kubectl\" using apps/v1: .spec.replicas"
        ),
        "{stderr}"
    );
    // kubectl's own manager no longer owns replicas: leaving them out leaves them alone.
    let without = changed.replace("  replicas: 3\n", "");
    let (success, stdout, stderr) = apply_server_side(&h, "shop3.yaml", &without, &[]).await;
    assert!(success, "{stdout}\n{stderr}");
    assert_eq!(deployment(&h)["spec"]["replicas"], 7);
    h.ok(&["label", "deploy", "shop", "extra=yes"]).await;
    let yaml = h
        .ok(&[
            "get",
            "deploy",
            "shop",
            "-o",
            "yaml",
            "--show-managed-fields",
        ])
        .await;
    assert!(yaml.contains("manager: kubectl-label"), "{yaml}");
    assert!(yaml.contains("operation: Update"), "{yaml}");
}
