//! The live source against the sandbox API server: first snapshot, changes reaching snapshots, coalescing,
//! namespaced scope, watch cuts and 410s, forbidden kinds, API server restarts. Loopback only;
//! every wait is a deadline on a condition, never a sleep.

use std::time::{Duration, Instant};

use futures::future::join_all;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kubehop::cluster::client::Scope;
use kubehop::cluster::feed::ConnectionStatus;
use kubehop::cluster::live::{LiveOptions, LiveSource};
use kubehop::cluster::{ClusterError, ResourceKind};
use kubehop::sandbox::{ControlPlaneConfig, Sandbox};
use rstest::rstest;
use serde_json::json;

use crate::support::fixtures::manifest::{
    Edit, deployment, node, pod as pod_object, service, slice, small_world,
};
use crate::support::live::{
    DEADLINE, assert_read_only, create_pod, keys, kubehop_requests, listed_inventory, live,
    pod_keys, snapshot_inventory, snapshot_pod, snapshot_where, status_where, target,
};
use crate::support::sandbox::{sandbox, sandbox_with, test_client};
use crate::support::wait::within_for;

// Latency bound (for the benchmarks, not asserted here): an API write should reach a new
// snapshot within 200 ms; `an_api_write_reaches_a_new_snapshot` prints the time it took.

#[tokio::test]
async fn first_snapshot_has_every_kind_once_each_initial_list_is_done() {
    let sandbox = sandbox_with(small_world()).await;
    let mut source = live(&sandbox, Scope::All).await;
    let snapshot = source.feed.snapshots.borrow_and_update().clone();
    assert_eq!(snapshot.generation, 1);
    assert_eq!(keys(&snapshot.services), ["default/web"]);
    assert_eq!(keys(&snapshot.endpoint_slices), ["default/web-abcde"]);
    assert_eq!(
        pod_keys(&snapshot.pods),
        ["default/db-1", "default/web-1", "default/web-2"]
    );
    assert_eq!(keys(&snapshot.nodes), ["/node-a", "/node-b"]);
    assert_eq!(keys(&snapshot.ingresses), ["default/web"]);
    assert!(keys(&snapshot.namespaces).contains(&"/default".to_owned()));
    // Nothing missing but the Gateway API, which this sandbox does not serve (one entry).
    let missing: Vec<ResourceKind> = snapshot.missing.iter().map(|m| m.kind).collect();
    assert_eq!(missing, [ResourceKind::Gateway], "{:?}", snapshot.missing);
    assert_eq!(*source.feed.status.borrow(), ConnectionStatus::Connected);
    assert_read_only(&sandbox);
}

#[tokio::test]
async fn cached_objects_are_trimmed() {
    let mut web = pod_object("web-1", "127.1.0.2", "node-a").labels(json!({"app": "web"}));
    web["metadata"]["annotations"] =
        json!({"kubectl.kubernetes.io/last-applied-configuration": "{}", "team": "shop"});
    web["spec"]["containers"][0]["env"] = json!([{"name": "A", "value": "1"}]);
    let mut front = service("default", "front", 80);
    front["metadata"]["annotations"] =
        json!({"kubectl.kubernetes.io/last-applied-configuration": "{}", "team": "shop"});
    let sandbox = sandbox_with(vec![web, front]).await;
    let source = live(&sandbox, Scope::All).await;
    let snapshot = source.feed.snapshots.borrow().clone();
    let cached = snapshot
        .services
        .iter()
        .find(|service| service.name_any() == "front")
        .expect("the Service");
    assert!(cached.metadata.managed_fields.is_none());
    assert_eq!(
        cached
            .metadata
            .annotations
            .as_ref()
            .map(|a| a.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["team".to_owned()])
    );
    // Pods are cached compact: what the engine reads, no typed object (no env, no annotations).
    let pod = snapshot_pod(&snapshot, "default", "web-1").expect("the pod");
    assert!(pod.object.is_none(), "no typed pod in the live cache");
    assert_eq!(pod.labels.as_ref().and_then(|l| l.get("app")), Some("web"));
    let container = &pod.containers[0];
    assert!(
        !container.ports.is_empty(),
        "ports are what the engine reads"
    );
}

#[derive(Debug, Clone, Copy)]
enum Change {
    PodReadiness,
    ServiceSelector,
    DeletePod,
    CreatePod,
    ScaleDeployment,
}

#[rstest]
#[case::pod_readiness(Change::PodReadiness)]
#[case::service_selector(Change::ServiceSelector)]
#[case::delete_pod(Change::DeletePod)]
#[case::create_pod(Change::CreatePod)]
#[case::scale_deployment(Change::ScaleDeployment)]
#[tokio::test]
async fn an_api_write_reaches_a_new_snapshot(#[case] change: Change) {
    let sandbox = match change {
        // The control plane turns the Deployment into pods (ready at once).
        Change::ScaleDeployment => {
            let sandbox = sandbox(
                Sandbox::builder()
                    .objects(vec![
                        node("node-a", "zone-1").registered("127.0.10.1"),
                        deployment("default", "api", 1, 8080),
                    ])
                    .control_plane(ControlPlaneConfig {
                        ready_delay: Duration::ZERO,
                        ..ControlPlaneConfig::default()
                    }),
            )
            .await;
            within_for(DEADLINE, "the control plane to settle", sandbox.settled()).await;
            sandbox
        }
        _ => sandbox_with(small_world()).await,
    };
    let client = test_client(&sandbox).await;
    let mut source = live(&sandbox, Scope::All).await;
    let before = source.feed.snapshots.borrow_and_update().generation;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let deployments: Api<Deployment> = Api::namespaced(client, "default");

    let started = Instant::now();
    match change {
        Change::PodReadiness => {
            let status = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}});
            pods.patch_status("web-1", &PatchParams::default(), &Patch::Merge(&status))
                .await
                .expect("status update");
        }
        Change::ServiceSelector => {
            let patch = json!({"spec": {"selector": {"app": "db"}}});
            services
                .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .expect("selector update");
        }
        Change::DeletePod => {
            pods.delete("web-2", &DeleteParams::default())
                .await
                .expect("delete");
        }
        Change::CreatePod => {
            create_pod(&pods, "web-3", "127.1.0.5", "node-a", "web").await;
        }
        Change::ScaleDeployment => {
            let scale = json!({"spec": {"replicas": 3}});
            deployments
                .patch_scale("api", &PatchParams::default(), &Patch::Merge(&scale))
                .await
                .expect("scale");
        }
    }
    let written = started.elapsed();
    let condition = move |snapshot: &std::sync::Arc<kubehop::cluster::ClusterSnapshot>| match change
    {
        Change::PodReadiness => {
            snapshot_pod(snapshot, "default", "web-1").is_some_and(|p| !p.ready)
        }
        Change::ServiceSelector => snapshot.services.iter().any(|s| {
            s.spec
                .as_ref()
                .and_then(|spec| spec.selector.as_ref())
                .and_then(|selector| selector.get("app"))
                .is_some_and(|app| app == "db")
        }),
        Change::DeletePod => snapshot_pod(snapshot, "default", "web-2").is_none(),
        Change::CreatePod => snapshot_pod(snapshot, "default", "web-3").is_some(),
        Change::ScaleDeployment => {
            snapshot
                .pods
                .iter()
                .filter(|pod| pod.labels.as_ref().and_then(|l| l.get("app")) == Some("api"))
                .count()
                == 3
        }
    };
    let snapshot = snapshot_where(
        &mut source,
        DEADLINE,
        &format!("{change:?} to reach a snapshot"),
        condition,
    )
    .await;
    eprintln!(
        "{change:?}: API write answered after {written:?}, snapshot after {:?}",
        started.elapsed()
    );
    assert!(snapshot.generation > before);
    assert_read_only(&sandbox);
}

#[tokio::test]
async fn a_burst_of_changes_is_coalesced() {
    let sandbox = sandbox_with(small_world()).await;
    let client = test_client(&sandbox).await;
    let mut source = live(&sandbox, Scope::All).await;
    let before = source.feed.snapshots.borrow_and_update().generation;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    const BURST: usize = 60;
    let creates = (0..BURST).map(|i| {
        let pods = pods.clone();
        async move {
            let ip = format!("127.1.1.{i}");
            create_pod(&pods, &format!("burst-{i:02}"), &ip, "node-a", "burst").await;
        }
    });
    join_all(creates).await;
    let snapshot = snapshot_where(&mut source, DEADLINE, "every burst pod", |snapshot| {
        snapshot.pods.len() == 3 + BURST
    })
    .await;
    let published = snapshot.generation - before;
    assert!(
        published < BURST as u64 / 2,
        "{BURST} events gave {published} snapshots; bursts should be coalesced"
    );
}

#[tokio::test]
async fn namespaced_mode_watches_one_namespace_plus_nodes_and_namespaces() {
    let mut shop_web = service("default", "web", 80)
        .cluster_ip("127.96.0.11")
        .port("metrics", 9090, None);
    shop_web["metadata"]["namespace"] = json!("shop");
    let mut shop_pod = pod_object("web-1", "127.1.0.9", "node-a").labels(json!({"app": "web"}));
    shop_pod["metadata"]["namespace"] = json!("shop");
    let mut objects = small_world();
    objects.extend([shop_web, shop_pod]);
    let sandbox = sandbox_with(objects).await;
    let source = live(&sandbox, Scope::Namespace("shop".to_owned())).await;
    let snapshot = source.feed.snapshots.borrow().clone();
    assert_eq!(keys(&snapshot.services), ["shop/web"]);
    assert_eq!(pod_keys(&snapshot.pods), ["shop/web-1"]);
    assert!(snapshot.endpoint_slices.is_empty() && snapshot.ingresses.is_empty());
    assert_eq!(keys(&snapshot.nodes), ["/node-a", "/node-b"]);
    assert!(keys(&snapshot.namespaces).contains(&"/shop".to_owned()));
    assert_eq!(source.feed.label.namespace.as_deref(), Some("shop"));
    // Namespaced kinds were requested in the namespace only.
    let paths: Vec<String> = kubehop_requests(&sandbox)
        .into_iter()
        .filter(|record| record.resource.as_deref() == Some("pods"))
        .map(|record| record.path)
        .collect();
    assert!(!paths.is_empty());
    assert!(
        paths
            .iter()
            .all(|path| path.starts_with("/api/v1/namespaces/shop/pods")),
        "{paths:?}"
    );
}

#[tokio::test]
async fn watch_cuts_and_forced_410s_converge_to_the_servers_state() {
    let sandbox = sandbox_with(small_world()).await;
    let client = test_client(&sandbox).await;
    // Every watch stream ends after 3 events; two watches are answered 410 Expired.
    sandbox.faults().cut_watches_after(Some(3));
    sandbox.faults().expire_next_watch(None);
    sandbox.faults().expire_next_watch(None);
    let mut source = live(&sandbox, Scope::All).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    for i in 0..25 {
        let ip = format!("127.1.2.{i}");
        create_pod(&pods, &format!("churn-{i:02}"), &ip, "node-b", "churn").await;
        if i % 3 == 0 {
            pods.delete(&format!("churn-{i:02}"), &DeleteParams::default())
                .await
                .expect("delete");
        }
        if i % 5 == 0 {
            let patch = json!({"metadata": {"labels": {"round": i.to_string()}}});
            services
                .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .expect("patch");
        }
    }
    pods.delete("web-1", &DeleteParams::default())
        .await
        .expect("delete");
    sandbox.faults().expire_next_watch(None);
    let object: Service = serde_json::from_value(
        service("default", "late", 80)
            .cluster_ip("127.96.0.12")
            .port("metrics", 9090, None),
    )
    .expect("a service");
    services
        .create(&PostParams::default(), &object)
        .await
        .expect("create");

    let expected = listed_inventory(&client).await;
    let mut watching = source.feed.snapshots.clone();
    let converged = tokio::time::timeout(DEADLINE, async {
        loop {
            let snapshot = source.feed.snapshots.borrow_and_update().clone();
            if snapshot_inventory(&snapshot) == expected {
                return snapshot;
            }
            source
                .feed
                .snapshots
                .changed()
                .await
                .expect("the live source is running");
        }
    })
    .await
    .unwrap_or_else(|_| {
        let actual = snapshot_inventory(&watching.borrow_and_update());
        panic!(
            "the snapshot did not converge: missing {:?}, phantom {:?}, status {:?}",
            expected.difference(&actual).collect::<Vec<_>>(),
            actual.difference(&expected).collect::<Vec<_>>(),
            source.feed.status.borrow()
        )
    });
    assert!(
        snapshot_pod(&converged, "default", "web-1").is_none(),
        "no phantom pod"
    );
    assert!(
        snapshot_pod(&converged, "default", "churn-23").is_some(),
        "no lost pod"
    );
    let watches_cut = kubehop_requests(&sandbox)
        .into_iter()
        .filter(|record| record.verb == kubehop::sandbox::Verb::Watch)
        .count();
    assert!(
        watches_cut > 6,
        "the watches were restarted ({watches_cut} watch requests)"
    );
    assert_read_only(&sandbox);
}

#[tokio::test]
async fn forbidden_kinds_are_left_out_with_a_reason_and_come_back_when_allowed() {
    let sandbox = sandbox_with(small_world()).await;
    sandbox.faults().forbid("nodes");
    sandbox.faults().forbid("pods");
    let mut source = live(&sandbox, Scope::All).await;
    let snapshot = source.feed.snapshots.borrow_and_update().clone();
    let missing: Vec<ResourceKind> = snapshot.missing.iter().map(|m| m.kind).collect();
    // The sandbox has no Gateway API: its one entry follows the forbidden kinds.
    assert_eq!(
        missing,
        [ResourceKind::Pod, ResourceKind::Node, ResourceKind::Gateway]
    );
    for entry in snapshot.missing.iter().filter(|m| !m.kind.is_gateway_api()) {
        assert!(
            entry
                .reason
                .starts_with(&format!("forbidden: cannot list {}", entry.kind)),
            "{}",
            entry.reason
        );
    }
    assert!(snapshot.pods.is_empty() && snapshot.nodes.is_empty());
    assert_eq!(keys(&snapshot.services), ["default/web"], "the rest works");
    assert_eq!(*source.feed.status.borrow(), ConnectionStatus::Connected);
    // The engine still builds every chain.
    let model = kubehop::engine::build(&snapshot, &kubehop::engine::EngineConfig::default());
    assert_eq!(model.services.len(), 1);

    sandbox.faults().allow("nodes");
    let snapshot = snapshot_where(&mut source, DEADLINE, "nodes to come back", |snapshot| {
        snapshot.has(ResourceKind::Node) && snapshot.nodes.len() == 2
    })
    .await;
    assert!(!snapshot.has(ResourceKind::Pod));
}

#[tokio::test]
async fn a_403_that_appears_later_leaves_the_kind_out() {
    let sandbox = sandbox_with(small_world()).await;
    // Watch streams end after one event, so that a write makes the watcher watch again.
    sandbox.faults().cut_watches_after(Some(1));
    let mut source = live(&sandbox, Scope::All).await;
    sandbox.faults().forbid("endpointslices");
    let client = test_client(&sandbox).await;
    let slices: Api<k8s_openapi::api::discovery::v1::EndpointSlice> =
        Api::namespaced(client.clone(), "default");
    // The write ends the current watch of EndpointSlices; the next one is refused.
    let object =
        serde_json::from_value(slice("web", "web-fghij", "127.1.0.3", "node-b")).expect("a slice");
    let _ = slices.create(&PostParams::default(), &object).await;
    let snapshot = snapshot_where(
        &mut source,
        DEADLINE,
        "EndpointSlices to be left out",
        |snapshot| !snapshot.has(ResourceKind::EndpointSlice),
    )
    .await;
    assert!(snapshot.endpoint_slices.is_empty());
    assert_eq!(keys(&snapshot.services), ["default/web"]);
}

#[tokio::test]
async fn forbidden_services_fail_the_first_snapshot() {
    let sandbox = sandbox_with(small_world()).await;
    sandbox.faults().forbid("services");
    let mut source = LiveSource::start(
        &target(&sandbox, Scope::Namespace("default".into())).await,
        LiveOptions::default(),
    )
    .expect("starts");
    let error = within_for(DEADLINE, "the first snapshot", source.first_snapshot())
        .await
        .expect_err("services are required");
    assert!(matches!(error, ClusterError::Forbidden { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("cannot list services in namespace default"),
        "{message}"
    );
    assert!(
        message.contains("kubectl auth can-i list services -n default"),
        "{message}"
    );
}

#[tokio::test]
async fn an_api_server_restart_shows_reconnecting_then_recovers_and_catches_up() {
    let sandbox = sandbox_with(small_world()).await;
    let mut source = live(&sandbox, Scope::All).await;
    sandbox.stop_listener().await;
    let status = status_where(&mut source, "Reconnecting", |status| {
        matches!(status, ConnectionStatus::Reconnecting { .. })
    })
    .await;
    let ConnectionStatus::Reconnecting { error, .. } = &status else {
        unreachable!("matched above")
    };
    assert!(error.contains("cannot reach the API server"), "{error}");
    // The stale snapshot stays visible.
    assert_eq!(source.feed.snapshots.borrow().services.len(), 1);
    assert!(status.is_stale());

    // Changes while the server is down (written to its store directly).
    sandbox.store().load_objects(vec![
        pod_object("while-down", "127.1.0.7", "node-b").labels(json!({"app": "web"})),
    ]);
    sandbox.restart_listener().await.expect("listens again");
    status_where(&mut source, "Connected again", |status| {
        *status == ConnectionStatus::Connected
    })
    .await;
    snapshot_where(
        &mut source,
        DEADLINE,
        "the snapshot to catch up",
        |snapshot| snapshot_pod(snapshot, "default", "while-down").is_some(),
    )
    .await;
    assert_read_only(&sandbox);
}

#[tokio::test]
async fn the_source_stops_when_every_feed_is_dropped() {
    let sandbox = sandbox(
        Sandbox::builder().objects(vec![node("node-a", "zone-1").registered("127.0.10.1")]),
    )
    .await;
    let source = live(&sandbox, Scope::All).await;
    let (feed, task) = source.into_parts();
    drop(feed);
    within_for(DEADLINE, "the background task to end", task)
        .await
        .expect("ends cleanly");
}
