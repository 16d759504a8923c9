//! The drill-down's on-demand reads against the sandbox: a pod read with a `get` (its probes,
//! which the live cache drops), the Events about one object only (a `fieldSelector` on
//! `involvedObject`), oldest first, an object's YAML without managed fields; all of it
//! read-only.

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, PostParams};
use kubehop::cluster::client::Scope;
use kubehop::cluster::inspect::{Inspector, ObjectKind, ObjectRef};
use serde_json::json;

use crate::support::live::{assert_read_only, kubehop_requests, target};
use crate::support::sandbox::start;

fn event(name: &str, pod: &str, reason: &str, message: &str, last: &str) -> Event {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": "shop"},
        "involvedObject": {"kind": "Pod", "namespace": "shop", "name": pod, "apiVersion": "v1"},
        "reason": reason,
        "message": message,
        "type": if reason == "Unhealthy" { "Warning" } else { "Normal" },
        "count": 3,
        "lastTimestamp": last,
        "source": {"component": "kubelet"}
    }))
    .expect("an Event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_its_events_and_its_yaml_are_read_on_demand() {
    let (sandbox, client) = start().await;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "shop"}})).expect("a namespace"),
        )
        .await
        .expect("the namespace is created");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "shop");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {"containers": [{
            "name": "web", "image": "nginx",
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}}
        }]}
    }))
    .expect("a pod");
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("the pod is created");
    let events: Api<Event> = Api::namespaced(client.clone(), "shop");
    for event in [
        event(
            "web-1.b",
            "web-1",
            "Unhealthy",
            "Readiness probe failed: HTTP probe failed with statuscode: 503",
            "2026-01-01T00:05:00Z",
        ),
        event(
            "web-1.a",
            "web-1",
            "Scheduled",
            "Successfully assigned shop/web-1",
            "2026-01-01T00:00:00Z",
        ),
        event(
            "web-2.a",
            "web-2",
            "Scheduled",
            "another pod",
            "2026-01-01T00:01:00Z",
        ),
    ] {
        events
            .create(&PostParams::default(), &event)
            .await
            .expect("the Event is created");
    }

    let config = target(&sandbox, Scope::All).await.config;
    let clients = kubehop::cluster::connector::following_clients(config, None).expect("a client");
    let inspector = Inspector::new(clients);
    let web = ObjectRef {
        kind: ObjectKind::Pod,
        namespace: Some("shop".to_owned()),
        name: "web-1".to_owned(),
    };
    let read = inspector
        .pod("shop", "web-1")
        .await
        .expect("the pod is read");
    let probe = read
        .spec
        .as_ref()
        .and_then(|spec| spec.containers[0].readiness_probe.clone());
    assert!(probe.is_some(), "the probe is in the pod read now");

    let rows = inspector.events(&web).await.expect("its Events are listed");
    let reasons: Vec<&str> = rows.iter().map(|row| row.reason.as_str()).collect();
    assert_eq!(
        reasons,
        ["Scheduled", "Unhealthy"],
        "only web-1's, oldest first"
    );
    assert_eq!(rows[1].count, 3);
    assert_eq!(rows[1].kind, "Warning");
    assert_eq!(rows[1].from, "kubelet");

    let yaml = inspector.yaml(&web).await.expect("its YAML");
    assert!(yaml.contains("readinessProbe:"), "{yaml}");
    assert!(!yaml.contains("managedFields"), "{yaml}");

    let missing = ObjectRef {
        name: "nope".to_owned(),
        ..web.clone()
    };
    let error = inspector.yaml(&missing).await.expect_err("no such pod");
    assert!(error.starts_with("not found"), "{error}");

    let requests = kubehop_requests(&sandbox);
    assert!(
        requests
            .iter()
            .any(|record| record.path.contains("/events")),
        "{requests:?}"
    );
    assert_read_only(&sandbox);
}

/// `d` on a Service: the workload owning its pods, through their owner references (the
/// ReplicaSet, or when it cannot be read, the Deployment its name comes from), with its
/// replica counts and rollout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workloads_owning_pods_with_their_rollout() {
    use crate::support::fixtures::manifest;
    let mut objects = manifest::three_nodes();
    objects.push(manifest::deployment("default", "web", 2, 8080));
    let (sandbox, client) =
        crate::support::sandbox::start_cluster(objects, std::time::Duration::ZERO).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let listed = pods
        .list(&kube::api::ListParams::default().labels("app=web"))
        .await
        .expect("the Deployment's pods");
    assert_eq!(listed.items.len(), 2);
    let owners: Vec<_> = listed
        .items
        .iter()
        .flat_map(|pod| pod.metadata.owner_references.clone().unwrap_or_default())
        .collect();
    assert!(!owners.is_empty(), "the pods have owners");

    let config = target(&sandbox, Scope::All).await.config;
    let clients = kubehop::cluster::connector::following_clients(config, None).expect("a client");
    let inspector = Inspector::new(clients);
    let workloads = inspector
        .workloads("default", &owners)
        .await
        .expect("the workloads are read");
    assert_eq!(workloads.len(), 1, "{workloads:?}");
    assert_eq!(workloads[0].kind, "Deployment");
    assert_eq!(workloads[0].name, "web");
    assert_eq!(workloads[0].desired, 2);
    assert_read_only(&sandbox);
}
