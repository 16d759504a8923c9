//! The sandbox's control plane through kube-rs: Deployments and StatefulSets make pods, the
//! scheduler and kubelet run them, the EndpointSlice controller publishes them, deletion is
//! graceful, Services get addresses, LoadBalancers get ingress IPs. Loopback only; every wait
//! is on a condition with a deadline.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kubehop::sandbox::clock::ManualClock;
use kubehop::sandbox::{ControlPlaneConfig, Sandbox, SandboxHandle, Store};
use serde_json::{Value, json};

use crate::support::fixtures::manifest::{Edit, deployment, service, three_nodes};
use crate::support::sandbox::{
    is_ready, labelled, pods_of, scale_to, settle, start_cluster, start_with, wait_until,
};
use crate::support::wait::within;

fn active(pods: &[Pod]) -> Vec<&Pod> {
    pods.iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

fn slices_of(store: &Store, namespace: &str, service: &str) -> Vec<EndpointSlice> {
    labelled(store, namespace, "kubernetes.io/service-name", service)
}

/// (ready, serving, terminating) per endpoint address.
fn conditions(slices: &[EndpointSlice]) -> BTreeMap<String, (bool, bool, bool)> {
    slices
        .iter()
        .flat_map(|s| s.endpoints.iter().flatten())
        .map(|e| {
            let c = e.conditions.clone().unwrap_or_default();
            (
                e.addresses[0].clone(),
                (
                    c.ready.unwrap_or(true),
                    c.serving.unwrap_or(true),
                    c.terminating.unwrap_or(false),
                ),
            )
        })
        .collect()
}

fn block_of(sandbox: &SandboxHandle) -> u8 {
    sandbox.address_block().expect("control plane runs")
}

fn pod_ip(pod: &Pod) -> Ipv4Addr {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .and_then(|ip| ip.parse().ok())
        .expect("pod IP")
}

fn api_error(err: kube::Error) -> Box<kube::core::Status> {
    match err {
        kube::Error::Api(status) => status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_deployment_makes_ready_pods_spread_over_nodes_and_endpoint_slices() {
    let mut objects = three_nodes();
    objects.push(deployment("shop", "web", 3, 8080));
    objects.push(service("shop", "web", 8080));
    let (sandbox, client) = start_cluster(objects, Duration::ZERO).await;
    let block = block_of(&sandbox);

    let pods = Api::<Pod>::namespaced(client.clone(), "shop")
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("list pods")
        .items;
    assert_eq!(pods.len(), 3);
    let nodes: BTreeSet<String> = pods
        .iter()
        .map(|p| {
            p.spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .expect("scheduled")
        })
        .collect();
    assert_eq!(nodes.len(), 3, "one replica per node: {nodes:?}");
    let hash = pods[0].metadata.labels.as_ref().expect("labels")["pod-template-hash"].clone();
    for pod in &pods {
        let name = pod.metadata.name.as_deref().expect("name");
        let suffix = name
            .strip_prefix(&format!("web-{hash}-"))
            .expect("named <deployment>-<hash>-<suffix>");
        assert_eq!(suffix.len(), 5, "{name}");
        let owner = &pod.metadata.owner_references.as_ref().expect("owner")[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str()),
            ("ReplicaSet", format!("web-{hash}").as_str())
        );
        assert_eq!(
            pod.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Running")
        );
        assert!(is_ready(pod), "{name} is ready");
        assert_eq!(
            pod_ip(pod).octets()[..2],
            [127, block + 3],
            "pod IPs come from the block"
        );
    }

    let slices = Api::<EndpointSlice>::namespaced(client.clone(), "shop")
        .list(&ListParams::default().labels("kubernetes.io/service-name=web"))
        .await
        .expect("list slices")
        .items;
    assert_eq!(slices.len(), 1);
    let slice = &slices[0];
    assert_eq!(slice.metadata.name.as_deref(), Some("web-ipv4-0"));
    assert_eq!(
        slice.metadata.labels.as_ref().expect("labels")["endpointslice.kubernetes.io/managed-by"],
        "endpointslice-controller.k8s.io"
    );
    let ports = slice.ports.as_ref().expect("ports");
    assert_eq!(
        (ports[0].name.as_deref(), ports[0].port),
        (Some("http"), Some(8080))
    );
    let zones: BTreeMap<&str, &str> = [
        ("node-1", "zone-a"),
        ("node-2", "zone-a"),
        ("node-3", "zone-b"),
    ]
    .into();
    let endpoints = slice.endpoints.as_ref().expect("endpoints");
    assert_eq!(endpoints.len(), 3);
    for endpoint in endpoints {
        let c = endpoint.conditions.as_ref().expect("conditions");
        assert_eq!(
            (c.ready, c.serving, c.terminating),
            (Some(true), Some(true), Some(false))
        );
        let node = endpoint.node_name.as_deref().expect("nodeName");
        assert_eq!(
            endpoint.zone.as_deref(),
            Some(zones[node]),
            "zone from the node label"
        );
        let target = endpoint.target_ref.as_ref().expect("targetRef");
        assert_eq!(target.kind.as_deref(), Some("Pod"));
    }

    let web: Deployment = Api::namespaced(client.clone(), "shop")
        .get("web")
        .await
        .expect("get");
    let status = web.status.expect("status");
    assert_eq!(
        (
            status.replicas,
            status.updated_replicas,
            status.ready_replicas,
            status.available_replicas
        ),
        (Some(3), Some(3), Some(3), Some(3))
    );
    assert_eq!(status.observed_generation, web.metadata.generation);
    let available = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_.as_deref() == Some("Available"))
        .expect("Available");
    assert_eq!(available.status.as_deref(), Some("True"));

    let service: Service = Api::namespaced(client.clone(), "shop")
        .get("web")
        .await
        .expect("get");
    let cluster_ip: Ipv4Addr = service
        .spec
        .and_then(|s| s.cluster_ip)
        .and_then(|ip| ip.parse().ok())
        .expect("ClusterIP allocated");
    assert_eq!(cluster_ip.octets()[..2], [127, block + 1]);

    let node: Node = Api::all(client).get("node-3").await.expect("node");
    let address = &node.status.and_then(|s| s.addresses).expect("registered")[0];
    assert_eq!(address.type_, "InternalIP");
    assert_eq!(address.address, format!("127.{block}.0.3"));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_deleted_pod_terminates_while_serving_then_goes_and_is_replaced() {
    let mut objects = three_nodes();
    objects.push(deployment("shop", "web", 2, 8080));
    objects.push(service("shop", "web", 8080));
    let (sandbox, client) = start_cluster(objects, Duration::from_secs(1)).await;
    let store = sandbox.store().clone();
    let pods: Api<Pod> = Api::namespaced(client, "shop");
    let victim = pods_of(&store, "shop", "web")[0].clone();
    let name = victim.metadata.name.clone().expect("name");
    let ip = pod_ip(&victim).to_string();

    let (events_tx, mut events_rx) = tokio::sync::mpsc::unbounded_channel();
    let watched = pods.clone();
    let watch_task = tokio::spawn(async move {
        let mut stream = watcher(watched, watcher::Config::default()).boxed();
        while let Some(Ok(event)) = stream.next().await {
            if events_tx.send(event).is_err() {
                break;
            }
        }
    });
    // The watcher has listed once the initial batch is done.
    within("the watcher's initial list", async {
        while !matches!(events_rx.recv().await, Some(watcher::Event::InitDone)) {}
    })
    .await;

    // Every store change from here on, replayed in order: the terminating moment cannot be
    // missed however slow the machine is.
    let mut changes = store.subscribe();
    let deleted = pods
        .delete(&name, &DeleteParams::default())
        .await
        .expect("delete");
    let terminating = deleted.left().expect("graceful: the pod is still there");
    assert!(terminating.metadata.deletion_timestamp.is_some());
    assert_eq!(terminating.metadata.deletion_grace_period_seconds, Some(1));

    // While terminating, the endpoint is serving but not ready (rule A4).
    within("the endpoint to be terminating", async {
        loop {
            let event = changes.next().await.expect("subscription");
            if event.resource() != kubehop::sandbox::ResourceId::EndpointSlices {
                continue;
            }
            let slice: EndpointSlice = event.object.decode().expect("slice");
            if conditions(&[slice]).get(&ip) == Some(&(false, true, true)) {
                break;
            }
        }
    })
    .await;
    let mut saw_terminating = false;
    let mut saw_delete = false;
    within("the pod's terminating and deleted events", async {
        while let Some(event) = events_rx.recv().await {
            match event {
                watcher::Event::Apply(pod) if pod.metadata.name.as_deref() == Some(&name) => {
                    saw_terminating |= pod.metadata.deletion_timestamp.is_some();
                }
                watcher::Event::Delete(pod) if pod.metadata.name.as_deref() == Some(&name) => {
                    saw_delete = true;
                    break;
                }
                _ => {}
            }
        }
    })
    .await;
    assert!(saw_terminating && saw_delete);
    watch_task.abort();

    wait_until(&sandbox, "a replacement pod, ready", || {
        let pods = pods_of(&store, "shop", "web");
        let ready = active(&pods).into_iter().filter(|p| is_ready(p)).count();
        ready == 2
            && pods
                .iter()
                .all(|p| p.metadata.name.as_deref() != Some(&name))
    })
    .await;
    wait_until(&sandbox, "the slice to drop the old endpoint", || {
        let endpoints = conditions(&slices_of(&store, "shop", "web"));
        !endpoints.contains_key(&ip) && endpoints.len() == 2
    })
    .await;
    sandbox.shutdown().await;
}

/// Counts ready endpoints of a Service at every store change until told to stop; returns the
/// smallest count seen.
fn track_ready_endpoints(
    store: Store,
    namespace: &'static str,
    service: &'static str,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<usize>,
) {
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let mut changes = store.changes();
        let mut lowest = usize::MAX;
        loop {
            changes.borrow_and_update();
            let ready = conditions(&slices_of(&store, namespace, service))
                .values()
                .filter(|(ready, _, _)| *ready)
                .count();
            lowest = lowest.min(ready);
            tokio::select! {
                _ = &mut stop_rx => break,
                changed = changes.changed() => if changed.is_err() { break },
            }
        }
        lowest
    });
    (stop_tx, task)
}

#[tokio::test]
async fn scale_and_rollout_restart_replace_pods_without_losing_every_endpoint() {
    let mut objects = three_nodes();
    objects.push(deployment("shop", "web", 3, 8080));
    objects.push(service("shop", "web", 8080));
    let (sandbox, client) = start_cluster(objects, Duration::ZERO).await;
    let store = sandbox.store().clone();
    let deployments: Api<Deployment> = Api::namespaced(client, "shop");
    let (stop, tracker) = track_ready_endpoints(store.clone(), "shop", "web");

    scale_to(&deployments, "web", 5).await.expect("scale up");
    wait_until(&sandbox, "5 ready pods", || {
        active(&pods_of(&store, "shop", "web"))
            .into_iter()
            .filter(|p| is_ready(p))
            .count()
            == 5
    })
    .await;
    let before: BTreeSet<String> = pods_of(&store, "shop", "web")
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();

    // What `kubectl rollout restart` sends.
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"metadata": {"annotations": {
                "kubectl.kubernetes.io/restartedAt": "2025-05-12T09:00:00Z"}}}}})),
        )
        .await
        .expect("restart");
    wait_until(&sandbox, "the rollout to finish", || {
        let Ok(Some(web)) = store.get::<Deployment>("shop", "web") else {
            return false;
        };
        let status = web.status.unwrap_or_default();
        let pods = pods_of(&store, "shop", "web");
        status.observed_generation == web.metadata.generation
            && status.updated_replicas == Some(5)
            && status.replicas == Some(5)
            && status.available_replicas == Some(5)
            && pods.len() == 5
            && pods
                .iter()
                .all(|p| !before.contains(p.metadata.name.as_deref().unwrap_or("")))
    })
    .await;
    let complete = store
        .get::<Deployment>("shop", "web")
        .expect("decodes")
        .expect("exists")
        .status
        .and_then(|s| s.conditions)
        .and_then(|c| {
            c.into_iter()
                .find(|c| c.type_.as_deref() == Some("Progressing"))
        })
        .expect("Progressing");
    assert_eq!(complete.reason.as_deref(), Some("NewReplicaSetAvailable"));

    scale_to(&deployments, "web", 2).await.expect("scale down");
    wait_until(&sandbox, "2 pods", || {
        pods_of(&store, "shop", "web").len() == 2
    })
    .await;
    stop.send(()).expect("tracker running");
    let lowest = tracker.await.expect("tracker");
    assert!(
        lowest >= 2,
        "the Service kept ready endpoints throughout (lowest: {lowest})"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_readiness_switch_breaks_and_heals_a_pod_live() {
    let mut objects = three_nodes();
    objects.push(deployment("shop", "web", 2, 8080));
    objects.push(service("shop", "web", 8080));
    let (sandbox, client) = start_cluster(objects, Duration::ZERO).await;
    let store = sandbox.store().clone();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "shop");
    let victim = pods_of(&store, "shop", "web")[0].clone();
    let name = victim.metadata.name.clone().expect("name");
    let ip = pod_ip(&victim).to_string();

    let annotate = |value: Value| {
        Patch::Merge(json!({"metadata": {"annotations": {"sandbox.kubehop.dev/ready": value}}}))
    };
    pods.patch(&name, &PatchParams::default(), &annotate(json!("false")))
        .await
        .expect("annotate");
    wait_until(&sandbox, "the pod to turn unready", || {
        conditions(&slices_of(&store, "shop", "web")).get(&ip) == Some(&(false, false, false))
    })
    .await;
    let pod = pods.get(&name).await.expect("get");
    assert!(!is_ready(&pod));
    let statuses = pod
        .status
        .and_then(|s| s.container_statuses)
        .expect("containerStatuses");
    assert!(!statuses[0].ready);

    pods.patch(&name, &PatchParams::default(), &annotate(Value::Null))
        .await
        .expect("remove the annotation");
    wait_until(&sandbox, "the pod to be ready again", || {
        conditions(&slices_of(&store, "shop", "web")).get(&ip) == Some(&(true, true, false))
    })
    .await;

    // On the template: a rollout whose new pods never get ready, so the old ones stay
    // (maxUnavailable 0) and keep serving.
    let deployments: Api<Deployment> = Api::namespaced(client, "shop");
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"metadata": {"annotations": {"sandbox.kubehop.dev/ready": "false"}}}}})),
        )
        .await
        .expect("annotate the template");
    wait_until(&sandbox, "the stalled rollout", || {
        let pods = pods_of(&store, "shop", "web");
        let unready_new = pods.iter().filter(|p| !is_ready(p)).count();
        pods.len() == 3 && unready_new == 1
    })
    .await;
    settle(&sandbox).await;
    let ready = conditions(&slices_of(&store, "shop", "web"))
        .values()
        .filter(|(ready, _, _)| *ready)
        .count();
    assert_eq!(ready, 2, "the old pods keep serving");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn statefulset_pods_have_ordinals_hostnames_and_scale_down_from_the_top() {
    let mut objects = three_nodes();
    objects.push(json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "data"},
        "spec": {
            "replicas": 3, "serviceName": "db-headless",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}},
                         "spec": {"containers": [
                             {"name": "db", "image": "example/db:1", "ports": [{"name": "db", "containerPort": 27017}]},
                             {"name": "metrics", "image": "example/exporter:1", "ports": [{"name": "metrics", "containerPort": 9216}]}]}}
        }
    }));
    objects.push(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "db-headless", "namespace": "data"},
        "spec": {"clusterIP": "None", "selector": {"app": "db"}, "ports": [{"name": "db", "port": 27017, "targetPort": "db"}]}
    }));
    let (sandbox, client) = start_cluster(objects, Duration::ZERO).await;
    let store = sandbox.store().clone();
    let names: Vec<String> = pods_of(&store, "data", "db")
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    assert_eq!(names, ["db-0", "db-1", "db-2"]);
    for pod in pods_of(&store, "data", "db") {
        let spec = pod.spec.as_ref().expect("spec");
        assert_eq!(spec.hostname, pod.metadata.name);
        assert_eq!(spec.subdomain.as_deref(), Some("db-headless"));
        let labels = pod.metadata.labels.as_ref().expect("labels");
        assert_eq!(
            labels["statefulset.kubernetes.io/pod-name"],
            pod.metadata.name.clone().expect("name")
        );
        assert!(labels["controller-revision-hash"].starts_with("db-"));
        let statuses = pod
            .status
            .and_then(|s| s.container_statuses)
            .expect("statuses");
        assert_eq!(statuses.len(), 2, "the sidecar runs too");
    }
    let hostnames: BTreeSet<String> = slices_of(&store, "data", "db-headless")
        .iter()
        .flat_map(|s| s.endpoints.iter().flatten())
        .filter_map(|e| e.hostname.clone())
        .collect();
    assert_eq!(hostnames, ["db-0", "db-1", "db-2"].map(String::from).into());
    let db: StatefulSet = Api::namespaced(client.clone(), "data")
        .get("db")
        .await
        .expect("get");
    let status = db.status.expect("status");
    assert_eq!((status.replicas, status.ready_replicas), (3, Some(3)));
    assert_eq!(status.current_revision, status.update_revision);

    scale_to(&Api::<StatefulSet>::namespaced(client, "data"), "db", 1)
        .await
        .expect("scale");
    wait_until(&sandbox, "only db-0 left", || {
        pods_of(&store, "data", "db")
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect::<Vec<_>>()
            == ["db-0"]
    })
    .await;
    sandbox.shutdown().await;
}

#[tokio::test]
async fn services_get_addresses_and_conflicts_are_422_like_the_api_server() {
    let (sandbox, client) = start_cluster(three_nodes(), Duration::ZERO).await;
    let block = block_of(&sandbox);
    let services: Api<Service> = Api::namespaced(client, "default");
    let create = |value: Value| {
        let services = services.clone();
        async move {
            let service: Service = serde_json::from_value(value).expect("service");
            services.create(&PostParams::default(), &service).await
        }
    };
    let node_port = |service: &Service| {
        service
            .spec
            .as_ref()
            .and_then(|s| s.ports.as_ref())
            .and_then(|p| p[0].node_port)
    };

    let first = create(json!({"metadata": {"name": "first"},
        "spec": {"type": "NodePort", "selector": {"app": "x"}, "ports": [{"port": 8080}]}}))
    .await
    .expect("created");
    let allocated = node_port(&first).expect("nodePort allocated");
    assert!((30000..=32767).contains(&allocated));
    let ip: Ipv4Addr = first
        .spec
        .as_ref()
        .and_then(|s| s.cluster_ip.clone())
        .expect("ClusterIP")
        .parse()
        .expect("ip");
    assert_eq!(ip.octets()[..2], [127, block + 1]);

    let taken = create(json!({"metadata": {"name": "second"},
        "spec": {"type": "NodePort", "selector": {"app": "x"}, "ports": [{"port": 8080, "nodePort": allocated}]}}))
    .await
    .map(|_| ())
    .map_err(api_error)
    .expect_err("taken");
    assert_eq!(taken.code, 422);
    assert!(
        taken.message.contains("provided port is already allocated"),
        "{}",
        taken.message
    );

    let out_of_range = create(json!({"metadata": {"name": "third"},
        "spec": {"type": "NodePort", "ports": [{"port": 8080, "nodePort": 8080}]}}))
    .await
    .map(|_| ())
    .map_err(api_error)
    .expect_err("out of range");
    assert_eq!(out_of_range.code, 422);
    assert!(
        out_of_range
            .message
            .contains("provided port is not in the valid range"),
        "{}",
        out_of_range.message
    );

    let foreign_ip = create(json!({"metadata": {"name": "fourth"},
        "spec": {"clusterIP": "127.9.9.9", "ports": [{"port": 8080}]}}))
    .await
    .map(|_| ())
    .map_err(api_error)
    .expect_err("outside the range");
    assert!(
        foreign_ip
            .message
            .contains("provided IP is not in the valid range"),
        "{}",
        foreign_ip.message
    );

    // The engine's validation is the admission check (rule group (g)).
    let unnamed = create(json!({"metadata": {"name": "fifth"},
        "spec": {"ports": [{"name": "a", "port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}}))
    .await
    .map(|_| ())
    .map_err(api_error)
    .expect_err("invalid");
    assert_eq!(unnamed.code, 422);
    assert_eq!(
        unnamed.message,
        "Service \"fifth\" is invalid: spec.ports[1].name: Required value"
    );

    let local = create(json!({"metadata": {"name": "sixth"},
        "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local", "ports": [{"port": 8080}]}}))
    .await
    .expect("created");
    let health = local
        .spec
        .as_ref()
        .and_then(|s| s.health_check_node_port)
        .expect("healthCheckNodePort");
    assert!((30000..=32767).contains(&health));

    // Back to ClusterIP: the nodePort goes (and is free again).
    let patched = services
        .patch(
            "first",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"type": "ClusterIP"}})),
        )
        .await
        .expect("type change");
    assert_eq!(node_port(&patched), None);
    assert_eq!(
        patched.spec.and_then(|s| s.cluster_ip),
        Some(ip.to_string()),
        "the ClusterIP stays"
    );
    create(json!({"metadata": {"name": "seventh"},
        "spec": {"type": "NodePort", "ports": [{"port": 8080, "nodePort": allocated}]}}))
    .await
    .expect("the freed nodePort can be used again");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn load_balancers_get_an_ingress_ip_unless_pending() {
    let mut objects = three_nodes();
    objects.push(deployment("edge", "gw", 1, 8080));
    objects.push(service("edge", "gw", 8080).spec(json!({"type": "LoadBalancer"})));
    objects.push(service("edge", "preview", 8080).merged(json!({
        "metadata": {"annotations": {"sandbox.kubehop.dev/lb": "pending"}},
        "spec": {"type": "LoadBalancer"}})));
    let (sandbox, client) = start_cluster(objects, Duration::ZERO).await;
    let block = block_of(&sandbox);
    let services: Api<Service> = Api::namespaced(client, "edge");
    let ingress = |service: &Service| {
        service
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.clone())
            .unwrap_or_default()
    };
    let gw = services.get("gw").await.expect("get");
    let entries = ingress(&gw);
    assert_eq!(entries.len(), 1);
    let ip: Ipv4Addr = entries[0].ip.as_deref().expect("ip").parse().expect("ip");
    assert_eq!(ip.octets()[..2], [127, block + 2]);
    assert_eq!(entries[0].ip_mode.as_deref(), Some("VIP"));
    assert!(
        ingress(&services.get("preview").await.expect("get")).is_empty(),
        "pending"
    );

    services
        .patch(
            "preview",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"sandbox.kubehop.dev/lb": null}}})),
        )
        .await
        .expect("un-pend");
    let store = sandbox.store().clone();
    wait_until(&sandbox, "the preview load balancer", || {
        store
            .get::<Service>("edge", "preview")
            .ok()
            .flatten()
            .is_some_and(|s| !ingress(&s).is_empty())
    })
    .await;
    services
        .patch(
            "gw",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"type": "ClusterIP"}})),
        )
        .await
        .expect("not a load balancer any more");
    wait_until(&sandbox, "the gw load balancer to go", || {
        store
            .get::<Service>("edge", "gw")
            .ok()
            .flatten()
            .is_some_and(|s| ingress(&s).is_empty())
    })
    .await;
    sandbox.shutdown().await;
}

/// Pod names, uids, node, creation time and IP (relative to the block) of a settled sandbox.
async fn fingerprint(seed: u64) -> Vec<(String, String, String, String, [u8; 3])> {
    let mut objects = three_nodes();
    objects.push(deployment("shop", "web", 3, 8080));
    objects.push(json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "data"},
        "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                 "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "db:1"}]}}}
    }));
    let clock = Arc::new(ManualClock::at("2025-05-12T08:00:00Z"));
    let (sandbox, _client) = start_with(
        Sandbox::builder().objects(objects).control_plane(
            ControlPlaneConfig::immediate(Duration::ZERO)
                .seed(seed)
                .clock(clock),
        ),
    )
    .await;
    settle(&sandbox).await;
    let block = block_of(&sandbox);
    let mut out: Vec<_> = sandbox
        .store()
        .list::<Pod>(None)
        .expect("pods")
        .into_iter()
        .map(|pod| {
            let ip = pod_ip(&pod).octets();
            (
                pod.metadata.name.clone().unwrap_or_default(),
                pod.metadata.uid.clone().unwrap_or_default(),
                pod.spec
                    .as_ref()
                    .and_then(|s| s.node_name.clone())
                    .unwrap_or_default(),
                pod.metadata
                    .creation_timestamp
                    .as_ref()
                    .map(|t| t.0.to_string())
                    .unwrap_or_default(),
                [ip[1] - block, ip[2], ip[3]],
            )
        })
        .collect();
    let default: k8s_openapi::api::core::v1::Namespace = sandbox
        .store()
        .get("", "default")
        .expect("decodes")
        .expect("exists");
    out.push((
        "namespace/default".into(),
        default.metadata.uid.unwrap_or_default(),
        String::new(),
        default
            .metadata
            .creation_timestamp
            .map(|t| t.0.to_string())
            .unwrap_or_default(),
        [0, 0, 0],
    ));
    out.sort();
    sandbox.shutdown().await;
    out
}

#[tokio::test]
async fn the_same_seed_and_clock_give_the_same_cluster() {
    let first = fingerprint(7).await;
    assert_eq!(first.len(), 6, "5 pods and the default namespace");
    assert!(
        first
            .iter()
            .all(|(_, _, _, created, _)| created == "2025-05-12T08:00:00Z")
    );
    assert_eq!(fingerprint(7).await, first);
    let other: Vec<String> = fingerprint(8).await.into_iter().map(|p| p.0).collect();
    let first_names: Vec<String> = first.into_iter().map(|p| p.0).collect();
    assert_ne!(other, first_names, "another seed, other generated names");
}

#[tokio::test]
async fn a_replayed_dump_keeps_its_status_and_slices() {
    let objects = kubehop::sandbox::scenario::load(&[std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/scenarios/demo-all.yaml"
    ))])
    .expect("demo-all loads");
    let dump = kubehop::cluster::dump::load_paths(&[std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/scenarios/demo-all.yaml"
    ))])
    .expect("as a dump")
    .snapshot;
    let (sandbox, _client) = start_with(
        Sandbox::builder()
            .objects(objects)
            .control_plane(ControlPlaneConfig::immediate(Duration::ZERO)),
    )
    .await;
    settle(&sandbox).await;
    let store = sandbox.store();
    let pods = store.list::<Pod>(None).expect("pods");
    assert_eq!(pods.len(), dump.pods.len(), "no pod added or removed");
    for original in dump.pods.iter().map(|pod| pod.to_pod()) {
        let name = original.metadata.name.as_deref().expect("name");
        let namespace = original.metadata.namespace.as_deref().expect("namespace");
        let now: Pod = store
            .get(namespace, name)
            .expect("decodes")
            .expect("still there");
        assert_eq!(
            now.status, original.status,
            "{namespace}/{name} keeps its status"
        );
    }
    for original in &dump.endpoint_slices {
        let name = original.metadata.name.as_deref().expect("name");
        let namespace = original.metadata.namespace.as_deref().expect("namespace");
        let now: EndpointSlice = store.get(namespace, name).expect("decodes").expect("kept");
        assert_eq!(
            now.endpoints,
            original.to_slice().endpoints,
            "{namespace}/{name} unchanged"
        );
    }
    let frontend: Service = store
        .get("edge", "frontend")
        .expect("decodes")
        .expect("exists");
    assert_eq!(
        frontend.status,
        dump.services
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some("frontend"))
            .and_then(|s| s.status.clone())
    );
    // The Service the dump has no slices for gets the controller's.
    let catalog = slices_of(store, "catalog", "catalog");
    assert_eq!(catalog.len(), 1);
    assert_eq!(catalog[0].endpoints.as_ref().map(Vec::len), Some(2));
    sandbox.shutdown().await;
}
