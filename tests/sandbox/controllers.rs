//! The controllers as kubectl sees them: Deployments with ReplicaSets and revision history
//! (`rollout status|history|undo`), DaemonSets, Jobs, the scheduler (spreading, node
//! selectors, taints, FailedScheduling) and the Events the components write.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod};
use serde_json::Value;

use crate::kubectl::{Harness, rows};
use crate::support::sandbox::{wait_until, wait_until_for};

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /, port: http}}
"#;

fn manifest(h: &Harness, name: &str, text: &str) -> String {
    h.write(name, text).to_str().expect("utf-8").to_string()
}

fn pods(h: &Harness) -> Vec<Pod> {
    h.sandbox
        .store()
        .list::<Pod>(Some("default"))
        .expect("pods")
}

fn node_of(pod: &Pod) -> String {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn deployments_keep_revisions_that_rollout_history_and_undo_use() {
    let Some(h) = Harness::start_cluster("rollout").await else {
        return;
    };
    h.ok(&["apply", "-f", &manifest(&h, "web.yaml", DEPLOYMENT)])
        .await;
    let out = h
        .ok(&["rollout", "status", "deployment/web", "--timeout=20s"])
        .await;
    assert!(out.contains("successfully rolled out"), "{out}");
    h.ok(&["set", "image", "deployment/web", "web=nginx:1.26"])
        .await;
    let out = h
        .ok(&["rollout", "status", "deployment/web", "--timeout=30s"])
        .await;
    assert!(out.contains("successfully rolled out"), "{out}");

    let history = rows(&h.ok(&["rollout", "history", "deployment/web"]).await);
    assert_eq!(
        history[1..3],
        ["REVISION CHANGE-CAUSE", "1 <none>"],
        "{history:#?}"
    );
    assert_eq!(history[3], "2 <none>", "{history:#?}");
    let out = h
        .ok(&["rollout", "history", "deployment/web", "--revision=1"])
        .await;
    assert!(out.contains("nginx:1.25"), "{out}");

    // Two ReplicaSets owned by the Deployment: the new one at 2, the old one at 0.
    let out = rows(&h.ok(&["get", "rs", "-l", "app=web"]).await);
    assert_eq!(out[0], "NAME DESIRED CURRENT READY AGE", "{out:#?}");
    assert_eq!(out.len(), 3, "{out:#?}");
    let sets = h
        .sandbox
        .store()
        .list::<ReplicaSet>(Some("default"))
        .expect("rs");
    let revisions: BTreeMap<String, (i32, String)> = sets
        .iter()
        .map(|rs| {
            let owner = &rs.metadata.owner_references.as_ref().expect("owned")[0];
            assert_eq!(
                (owner.kind.as_str(), owner.name.as_str()),
                ("Deployment", "web")
            );
            let annotations = rs.metadata.annotations.clone().unwrap_or_default();
            let revision = annotations["deployment.kubernetes.io/revision"].clone();
            let replicas = rs.spec.replicas.unwrap_or(-1);
            (
                revision,
                (replicas, rs.metadata.name.clone().unwrap_or_default()),
            )
        })
        .collect();
    assert_eq!(revisions.keys().collect::<Vec<_>>(), ["1", "2"]);
    assert_eq!((revisions["1"].0, revisions["2"].0), (0, 2));
    let template_hash = |name: &str| name.rsplit('-').next().unwrap_or("").to_string();
    // `rollout status` counts pods that are not terminating, as on a cluster: the old
    // revision's last pod may still be going away when it returns.
    let new_hash = template_hash(&revisions["2"].1);
    wait_until(&h.sandbox, "every pod to be of the new revision", || {
        pods(&h).iter().all(|pod| {
            let labels = pod.metadata.labels.as_ref();
            labels.and_then(|labels| labels.get("pod-template-hash")) == Some(&new_hash)
        })
    })
    .await;

    let out = h.ok(&["rollout", "undo", "deployment/web"]).await;
    assert_eq!(out.trim(), "deployment.apps/web rolled back");
    let out = h
        .ok(&["rollout", "status", "deployment/web", "--timeout=30s"])
        .await;
    assert!(out.contains("successfully rolled out"), "{out}");
    let image = h
        .ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ])
        .await;
    assert_eq!(image, "nginx:1.25");
    let history = rows(&h.ok(&["rollout", "history", "deployment/web"]).await);
    assert_eq!(history[2..], ["2 <none>", "3 <none>", ""], "{history:#?}");
    let revision = h
        .ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}",
        ])
        .await;
    assert_eq!(revision, "3");

    // describe runs through the ReplicaSets to the Events.
    let out = rows(&h.ok(&["describe", "deploy", "web"]).await);
    for expected in [
        "Type Status Reason",
        "Available True MinimumReplicasAvailable",
        "Progressing True NewReplicaSetAvailable",
        "Events:",
    ] {
        assert!(out.iter().any(|l| l == expected), "{expected}: {out:#?}");
    }
    let new_set = format!("NewReplicaSet: {} (2/2 replicas created)", revisions["1"].1);
    assert!(out.contains(&new_set), "{new_set}: {out:#?}");
    assert!(
        out.iter()
            .any(|l| l.starts_with("Normal ScalingReplicaSet ")
                && l.ends_with(&format!(
                    "deployment-controller Scaled up replica set {} from 0 to 2",
                    revisions["1"].1
                ))),
        "{out:#?}"
    );
}

#[tokio::test]
async fn daemon_sets_run_one_pod_per_fitting_node() {
    let Some(h) = Harness::start_cluster("daemonset").await else {
        return;
    };
    h.ok(&["taint", "nodes", "node-3", "dedicated=infra:NoSchedule"])
        .await;
    let daemon = |name: &str, tolerate: bool| {
        let tolerations = if tolerate {
            "      tolerations: [{key: dedicated, operator: Exists}]\n"
        } else {
            ""
        };
        format!(
            "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: {name}}}\nspec:\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      nodeSelector: {{kubernetes.io/os: linux}}\n{tolerations}      containers: [{{name: agent, image: agent:1}}]\n"
        )
    };
    h.ok(&[
        "apply",
        "-f",
        &manifest(&h, "a.yaml", &daemon("plain", false)),
    ])
    .await;
    h.ok(&[
        "apply",
        "-f",
        &manifest(&h, "b.yaml", &daemon("tolerant", true)),
    ])
    .await;
    let store = h.sandbox.store().clone();
    let nodes_of = |app: &str| -> Vec<String> {
        let mut nodes: Vec<String> = pods(&h)
            .iter()
            .filter(|p| {
                p.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("app"))
                    .map(String::as_str)
                    == Some(app)
            })
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .map(node_of)
            .collect();
        nodes.sort();
        nodes
    };
    wait_until(&h.sandbox, "the daemon pods to run", || {
        let ready = |name: &str, n: i32| {
            store
                .get::<DaemonSet>("default", name)
                .ok()
                .flatten()
                .and_then(|d| d.status)
                .is_some_and(|s| s.number_ready == n && s.desired_number_scheduled == n)
        };
        ready("plain", 2) && ready("tolerant", 3)
    })
    .await;
    assert_eq!(nodes_of("plain"), ["node-1", "node-2"]);
    assert_eq!(nodes_of("tolerant"), ["node-1", "node-2", "node-3"]);
    let out = rows(&h.ok(&["get", "ds"]).await);
    assert_eq!(
        out[0],
        "NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE"
    );
    assert!(
        out[1].starts_with("plain 2 2 2 2 2 kubernetes.io/os=linux "),
        "{out:#?}"
    );
    assert!(
        out[2].starts_with("tolerant 3 3 3 3 3 kubernetes.io/os=linux "),
        "{out:#?}"
    );
}

#[tokio::test]
async fn jobs_run_to_completion() {
    let Some(h) = Harness::start_cluster("job").await else {
        return;
    };
    let job = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: migrate}\nspec:\n  completions: 2\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: migrate, image: migrate:1}]\n";
    h.ok(&["apply", "-f", &manifest(&h, "job.yaml", job)]).await;
    h.ok(&[
        "wait",
        "--for=condition=complete",
        "job/migrate",
        "--timeout=20s",
    ])
    .await;
    let stored: Job = h
        .sandbox
        .store()
        .get("default", "migrate")
        .expect("decodes")
        .expect("exists");
    let status = stored.status.expect("status");
    assert_eq!(status.succeeded, Some(2));
    assert!(status.completion_time.is_some());
    let out = rows(&h.ok(&["get", "jobs"]).await);
    assert_eq!(out[0], "NAME STATUS COMPLETIONS DURATION AGE");
    assert!(out[1].starts_with("migrate Complete 2/2 "), "{out:#?}");
    let out = rows(&h.ok(&["get", "pods", "-l", "job-name=migrate"]).await);
    assert_eq!(out.len(), 3, "{out:#?}");
    assert!(
        out[1..3].iter().all(|l| l.contains(" 0/1 Completed 0 ")),
        "{out:#?}"
    );
}

#[tokio::test]
async fn replication_controllers_keep_their_replicas() {
    let Some(h) = Harness::start_cluster("rc").await else {
        return;
    };
    let rc = "apiVersion: v1\nkind: ReplicationController\nmetadata: {name: legacy}\nspec:\n  replicas: 2\n  template:\n    metadata: {labels: {app: legacy}}\n    spec: {containers: [{name: c, image: c:1}]}\n";
    h.ok(&["apply", "-f", &manifest(&h, "rc.yaml", rc)]).await;
    let store = h.sandbox.store().clone();
    let ready = |n: i32| {
        store
            .get::<k8s_openapi::api::core::v1::ReplicationController>("default", "legacy")
            .ok()
            .flatten()
            .and_then(|rc| rc.status)
            .is_some_and(|s| s.ready_replicas == Some(n) && s.replicas == n)
    };
    wait_until(&h.sandbox, "two ready replicas", || ready(2)).await;
    let out = rows(&h.ok(&["get", "rc"]).await);
    assert_eq!(out[0], "NAME DESIRED CURRENT READY AGE");
    assert!(out[1].starts_with("legacy 2 2 2 "), "{out:#?}");
    h.ok(&["scale", "rc", "legacy", "--replicas=1"]).await;
    wait_until(&h.sandbox, "one replica left", || ready(1)).await;
    let out = h
        .ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.kind=ReplicationController",
        ])
        .await;
    assert!(out.contains("SuccessfulDelete"), "{out}");
    // The kubelet stopped the deleted pod's container.
    wait_until(&h.sandbox, "the Killing event", || {
        store
            .list::<Event>(Some("default"))
            .expect("events")
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("Killing")
                    && e.message.as_deref() == Some("Stopping container c")
            })
    })
    .await;
}

#[tokio::test]
async fn a_hundred_pods_spread_over_the_nodes() {
    let Some(h) = Harness::start_cluster("spread").await else {
        return;
    };
    let list: String = (0..100)
        .map(|i| format!("---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}, labels: {{app: many}}}}\nspec: {{containers: [{{name: c, image: c:1}}]}}\n"))
        .collect();
    h.ok(&["apply", "-f", &manifest(&h, "many.yaml", &list)])
        .await;
    // A hundred pods through the scheduler: 11 s alone, more than the usual deadline on a
    // machine busy with other builds.
    let limit = std::time::Duration::from_secs(90);
    wait_until_for(
        limit,
        &h.sandbox,
        "the hundred pods to be scheduled",
        || pods(&h).iter().filter(|p| !node_of(p).is_empty()).count() == 100,
    )
    .await;
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    for pod in pods(&h) {
        *per_node.entry(node_of(&pod)).or_default() += 1;
    }
    assert_eq!(per_node.len(), 3, "{per_node:?}");
    assert!(
        per_node.values().all(|n| (33..=34).contains(n)),
        "{per_node:?}"
    );
}

#[tokio::test]
async fn node_selectors_schedule_or_say_why_not() {
    let Some(h) = Harness::start_cluster("selector").await else {
        return;
    };
    let pod = |name: &str, key: &str, value: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  nodeSelector: {{{key}: {value}}}\n  containers: [{{name: c, image: c:1}}]\n"
        )
    };
    h.ok(&[
        "apply",
        "-f",
        &manifest(
            &h,
            "a.yaml",
            &pod("linux", "beta.kubernetes.io/os", "linux"),
        ),
    ])
    .await;
    h.ok(&[
        "apply",
        "-f",
        &manifest(&h, "b.yaml", &pod("ssd", "disktype", "ssd")),
    ])
    .await;
    h.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/linux",
        "--timeout=20s",
    ])
    .await;
    let expected = "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.";
    let store = h.sandbox.store().clone();
    wait_until(&h.sandbox, "the FailedScheduling event", || {
        store
            .list::<Event>(Some("default"))
            .expect("events")
            .iter()
            .any(|e| e.reason.as_deref() == Some("FailedScheduling"))
    })
    .await;
    let out = h
        .ok(&["get", "pod", "ssd", "-o", "jsonpath={.status.phase} {.status.conditions[0].reason}: {.status.conditions[0].message}"])
        .await;
    assert_eq!(out, format!("Pending Unschedulable: {expected}"));
    let out = rows(
        &h.ok(&[
            "get",
            "events",
            "--field-selector",
            "reason=FailedScheduling",
        ])
        .await,
    );
    assert_eq!(out.len(), 2, "{out:#?}");
    assert!(
        out[1].contains(&format!("Warning FailedScheduling pod/ssd {expected}")),
        "{out:#?}"
    );
    let out = h.ok(&["events", "--for", "pod/linux"]).await;
    assert!(
        out.contains("Successfully assigned default/linux to node-"),
        "{out}"
    );
    assert!(out.contains("Started container c"), "{out}");
    let out = rows(&h.ok(&["describe", "pod", "ssd"]).await);
    assert!(
        out.iter()
            .any(|l| l.starts_with("Warning FailedScheduling ")
                && l.ends_with(&format!("default-scheduler {expected}"))),
        "{out:#?}"
    );
}

#[tokio::test]
async fn a_switched_off_pod_fails_its_http_probe_with_503_and_the_events_aggregate() {
    let Some(h) = Harness::start_cluster("probe503").await else {
        return;
    };
    // The readiness switch is off: the app answers its probe path with 503, the kubelet's
    // real GET fails every second and the recorder bumps one Event's count.
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: sulky, annotations: {sandbox.kubehop.dev/ready: \"false\"}}\nspec:\n  containers:\n  - name: app\n    image: app:1\n    ports: [{name: http, containerPort: 8080}]\n    readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 1}\n";
    h.ok(&["apply", "-f", &manifest(&h, "sulky.yaml", pod)])
        .await;
    let store = h.sandbox.store().clone();
    let message = "Readiness probe failed: HTTP probe failed with statuscode: 503";
    let unhealthy = || {
        store
            .list::<Event>(Some("default"))
            .expect("events")
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("Unhealthy"))
            .collect::<Vec<_>>()
    };
    wait_until(&h.sandbox, "the Unhealthy event seen twice", || {
        unhealthy().iter().any(|e| e.count.unwrap_or(0) >= 2)
    })
    .await;
    let events = unhealthy();
    assert_eq!(events.len(), 1, "aggregated into one Event: {events:#?}");
    let event = &events[0];
    assert_eq!(event.message.as_deref(), Some(message));
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert_eq!(event.involved_object.kind.as_deref(), Some("Pod"));
    assert_eq!(event.involved_object.name.as_deref(), Some("sulky"));
    assert_eq!(
        event.involved_object.field_path.as_deref(),
        Some("spec.containers{app}")
    );
    assert!(event.last_timestamp >= event.first_timestamp);
    let out = rows(&h.ok(&["describe", "pod", "sulky"]).await);
    assert!(out.iter().any(|l| l == "Ready False"), "{out:#?}");
    assert!(
        out.iter().any(|l| l.starts_with("Warning Unhealthy ")
            && l.ends_with(&format!("kubelet spec.containers{{app}}: {message}"))),
        "{out:#?}"
    );
    // The app's log shows the kubelet's requests and what it answered.
    let log = h.ok(&["logs", "sulky"]).await;
    assert!(
        log.lines()
            .any(|l| l.contains("\"GET /healthz HTTP/1.1\" 503 ") && l.contains("kube-probe/")),
        "{log}"
    );

    // Healed: the probe passes, the pod turns ready, no new failure is recorded.
    h.ok(&["annotate", "pod", "sulky", "sandbox.kubehop.dev/ready-"])
        .await;
    let ready = h
        .ok(&[
            "wait",
            "--for=condition=Ready",
            "pod/sulky",
            "--timeout=20s",
        ])
        .await;
    assert!(ready.contains("condition met"), "{ready}");
}

#[tokio::test]
async fn a_failing_readiness_probe_is_described_with_the_real_error() {
    let Some(h) = Harness::start_cluster("probe").await else {
        return;
    };
    // The app listens on 8080 only (the listen annotation): the probe on 8081 cannot pass.
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: shy, annotations: {sandbox.kubehop.dev/listen: \"8080\"}}\nspec:\n  containers:\n  - name: app\n    image: app:1\n    ports: [{containerPort: 8080}]\n    readinessProbe: {tcpSocket: {port: 8081}}\n";
    h.ok(&["apply", "-f", &manifest(&h, "shy.yaml", pod)]).await;
    let store = h.sandbox.store().clone();
    wait_until(&h.sandbox, "the Unhealthy event", || {
        store
            .list::<Event>(Some("default"))
            .expect("events")
            .iter()
            .any(|e| e.reason.as_deref() == Some("Unhealthy"))
    })
    .await;
    let stored: Pod = store
        .get("default", "shy")
        .expect("decodes")
        .expect("exists");
    let ip = stored.status.and_then(|s| s.pod_ip).expect("running");
    let out = rows(&h.ok(&["describe", "pod", "shy"]).await);
    assert!(
        out.iter().any(|l| l
            == "Readiness: tcp-socket :8081 delay=0s timeout=1s period=10s successThreshold=1 failureThreshold=3"),
        "{out:#?}"
    );
    assert!(out.iter().any(|l| l == "Ready False"), "{out:#?}");
    let message =
        format!("Readiness probe failed: dial tcp {ip}:8081: connect: connection refused");
    assert!(
        out.iter().any(|l| l.starts_with("Warning Unhealthy ")
            && l.ends_with(&format!("kubelet spec.containers{{app}}: {message}"))),
        "{message}: {out:#?}"
    );
    let value: Value =
        serde_json::from_str(&h.ok(&["get", "events", "-o", "json"]).await).expect("json");
    let reasons: Vec<&str> = value["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .collect();
    for reason in ["Scheduled", "Pulled", "Created", "Started", "Unhealthy"] {
        assert!(reasons.contains(&reason), "{reason}: {reasons:?}");
    }
}
