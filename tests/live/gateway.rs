//! The Gateway API in the live source: a cluster without it is one `missing` entry and no
//! note; CRDs applied while kubehop watches are picked up (no restart, no polling) with their
//! objects, and the Service's chain gains the route hop; a forbidden kind is left out silently.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, PostParams};
use kube::discovery::ApiResource;
use kubehop::cluster::client::Scope;
use kubehop::cluster::feed::ConnectionStatus;
use kubehop::cluster::live::gateway::NOT_INSTALLED;
use kubehop::cluster::live::missing_notes;
use kubehop::cluster::{ClusterSnapshot, MissingKind, ResourceKind};
use kubehop::sandbox::Sandbox;
use serde_json::{Value, json};

use crate::support::fixtures::manifest::small_world;
use crate::support::live::{DEADLINE, assert_read_only, live, snapshot_where};
use crate::support::sandbox::{sandbox, sandbox_with, test_client};

/// A GatewayClass, a Gateway `infra/edge` listening on HTTP 80 for every namespace, and an
/// HTTPRoute `default/web` sending `web.example/` to Service `default/web` port 80.
fn gateway_objects() -> Vec<Value> {
    vec![
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
            "metadata": {"name": "edge-class"},
            "spec": {"controllerName": "example.com/gateway"}
        }),
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "edge", "namespace": "infra"},
            "spec": {"gatewayClassName": "edge-class",
                     "listeners": [{"name": "http", "port": 80, "protocol": "HTTP",
                                    "allowedRoutes": {"namespaces": {"from": "All"}}}]}
        }),
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"parentRefs": [{"name": "edge", "namespace": "infra"}],
                     "hostnames": ["web.example"],
                     "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                                "backendRefs": [{"name": "web", "port": 80}]}]}
        }),
    ]
}

/// Creates `object` through the dynamic API of its group/version/kind.
async fn create(client: &kube::Client, object: Value) {
    let object: DynamicObject = serde_json::from_value(object).expect("an object");
    let types = object.types.clone().expect("apiVersion and kind");
    let (group, version) = types
        .api_version
        .split_once('/')
        .expect("a grouped apiVersion");
    let plural = format!("{}s", types.kind.to_lowercase()).replace("classs", "classes");
    let resource = ApiResource {
        group: group.to_owned(),
        version: version.to_owned(),
        api_version: types.api_version.clone(),
        kind: types.kind.clone(),
        plural,
    };
    let api: Api<DynamicObject> = match object.metadata.namespace.as_deref() {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    api.create(&PostParams::default(), &object)
        .await
        .expect("the object is created");
}

fn web_routes(snapshot: &ClusterSnapshot) -> Vec<kubehop::engine::gateway::GatewayRouteRef> {
    let model = kubehop::engine::build(snapshot, &kubehop::engine::EngineConfig::default());
    model
        .service("default", "web")
        .expect("the web chain")
        .gateway_routes
        .clone()
}

/// Without the CRDs: one `missing` entry, no note, connected. `kubectl apply` of the CRDs
/// generated from the types, a Gateway and an HTTPRoute: the snapshot gains them and the
/// chain of `default/web` its route hop, within the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_api_installed_while_watching_is_picked_up() {
    let mut objects = small_world();
    objects.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "infra"}}));
    let sandbox = sandbox_with(objects).await;
    let mut source = live(&sandbox, Scope::All).await;
    let snapshot = source.feed.snapshots.borrow_and_update().clone();
    assert_eq!(
        snapshot.missing,
        [MissingKind {
            kind: ResourceKind::Gateway,
            reason: NOT_INSTALLED.to_owned(),
        }]
    );
    assert!(missing_notes(&snapshot).is_empty(), "no note");
    assert!(snapshot.gateway_api.is_empty());
    assert_eq!(*source.feed.status.borrow(), ConnectionStatus::Connected);

    let client = test_client(&sandbox).await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in kubehop_gateway_api::crds() {
        crds.create(&PostParams::default(), &crd)
            .await
            .expect("the CRD is created");
    }
    for object in gateway_objects() {
        create(&client, object).await;
    }
    let snapshot = snapshot_where(
        &mut source,
        DEADLINE,
        "the Gateway API objects",
        |snapshot| {
            snapshot.missing.is_empty()
                && snapshot.gateway_api.gateway_classes.len() == 1
                && snapshot.gateway_api.gateways.len() == 1
                && snapshot.gateway_api.http_routes.len() == 1
        },
    )
    .await;
    let routes = web_routes(&snapshot);
    assert_eq!(routes.len(), 1, "{routes:?}");
    assert_eq!(routes[0].name, "web");
    assert_eq!(routes[0].gateway.name, "edge");
    assert_eq!(routes[0].gateway.listener.as_deref(), Some("http"));
    assert!(routes[0].passes(), "{:?}", routes[0]);
    assert_eq!(*source.feed.status.borrow(), ConnectionStatus::Connected);
    assert_read_only(&sandbox);
}

/// A forbidden Gateway API kind is left out silently (nothing missing, no note) and comes back
/// when allowed; the other kinds are read on their served versions (TLSRoute `v1alpha2`, not
/// the group's preferred `v1`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_gateway_api_kind_is_left_out_silently() {
    let mut objects = small_world();
    objects.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "infra"}}));
    objects.extend(gateway_objects());
    objects.push(json!({
        "apiVersion": "gateway.networking.k8s.io/v1alpha2", "kind": "TLSRoute",
        "metadata": {"name": "web-tls", "namespace": "default"},
        "spec": {"parentRefs": [{"name": "edge", "namespace": "infra"}],
                 "rules": [{"backendRefs": [{"name": "web", "port": 80}]}]}
    }));
    let sandbox = sandbox(Sandbox::builder().objects(objects).gateway_api(true)).await;
    sandbox.faults().forbid("httproutes");
    let mut source = live(&sandbox, Scope::All).await;
    let snapshot = source.feed.snapshots.borrow_and_update().clone();
    assert!(snapshot.missing.is_empty(), "{:?}", snapshot.missing);
    assert!(missing_notes(&snapshot).is_empty());
    assert!(snapshot.gateway_api.http_routes.is_empty());
    assert_eq!(snapshot.gateway_api.gateways.len(), 1);
    assert_eq!(snapshot.gateway_api.tls_routes.len(), 1, "v1alpha2 is read");
    assert_eq!(*source.feed.status.borrow(), ConnectionStatus::Connected);

    sandbox.faults().allow("httproutes");
    let snapshot = snapshot_where(&mut source, DEADLINE, "HTTPRoutes allowed", |snapshot| {
        snapshot.gateway_api.http_routes.len() == 1
    })
    .await;
    assert!(
        web_routes(&snapshot)
            .iter()
            .any(|route| route.name == "web")
    );
}
