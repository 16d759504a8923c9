//! Helpers for the probe tests: a sandbox world with one Service per situation the probe must
//! tell apart, plans made from the sandbox's store, and the loopback transports.
#![allow(dead_code)]

use std::sync::Arc;

use kubehop::engine::model::ServiceKey;
use kubehop::engine::plan::{PlanContext, PortSelector, ProbePlan, Via, probe_plan_with};
use kubehop::engine::{ClusterSnapshot, EngineConfig, ProxyModel, build};
use kubehop::probe::Transports;
use kubehop::sandbox::SandboxHandle;
use serde_json::{Value, json};

#[path = "../sandbox_support/mod.rs"]
pub mod sandbox_support;

#[allow(unused_imports)]
pub use sandbox_support::{deployment, settle, start_cluster, three_nodes, wait_until, within};

pub const NAMESPACE: &str = "default";

/// A Service manifest in [`NAMESPACE`] selecting `app: NAME`, with `spec` merged in.
pub fn service(name: &str, spec: Value) -> Value {
    let mut service = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 8080, "targetPort": "http"}]}
    });
    json_patch::merge(&mut service["spec"], &spec);
    service
}

/// `web`: 3 pods behind a LoadBalancer (every front door but an Ingress).
pub fn healthy() -> Vec<Value> {
    vec![
        deployment(NAMESPACE, "web", 3, 8080),
        service("web", json!({"type": "LoadBalancer"})),
    ]
}

/// An Ingress rule in front of `web` (the sandbox gives it an address, but runs no ingress
/// controller).
pub fn web_ingress() -> Vec<Value> {
    vec![json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "web", "namespace": NAMESPACE},
            "spec": {"ingressClassName": "sandbox", "rules": [{"host": "web.example.test", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 8080}}}}
            ]}}]}
    })]
}

/// `catalog` (spec M5): targetPort 8080 is declared, the app listens on 9090 — the Service's
/// own port. `shelf`: the pods declare 8080 and 9091 and listen on 9091 only.
pub fn wrong_target_port() -> Vec<Value> {
    let mut catalog = deployment(NAMESPACE, "catalog", 2, 8080);
    catalog["spec"]["template"]["metadata"]["annotations"] =
        json!({"sandbox.kubehop.dev/listen": "9090"});
    let mut shelf = deployment(NAMESPACE, "shelf", 1, 8080);
    shelf["spec"]["template"]["metadata"]["annotations"] =
        json!({"sandbox.kubehop.dev/listen": "9091"});
    shelf["spec"]["template"]["spec"]["containers"][0]["ports"] = json!([
        {"name": "http", "containerPort": 8080},
        {"name": "alt", "containerPort": 9091}
    ]);
    vec![
        catalog,
        service(
            "catalog",
            json!({"ports": [{"name": "http", "port": 9090, "targetPort": 8080}]}),
        ),
        shelf,
        service(
            "shelf",
            json!({"ports": [{"name": "http", "port": 8081, "targetPort": 8080}]}),
        ),
    ]
}

/// `gateway`: LoadBalancer with externalTrafficPolicy Local, both pods on node-1.
pub fn local_policy() -> Vec<Value> {
    let mut gateway = deployment(NAMESPACE, "gateway", 2, 8080);
    gateway["spec"]["template"]["spec"]["nodeSelector"] =
        json!({"kubernetes.io/hostname": "node-1"});
    vec![
        gateway,
        service(
            "gateway",
            json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local"}),
        ),
    ]
}

/// `invoices`: a NodePort Service whose selector matches no pod.
pub fn no_endpoints() -> Vec<Value> {
    vec![service(
        "invoices",
        json!({"type": "NodePort", "selector": {"app": "invoice-api"}}),
    )]
}

/// Every situation at once, on three nodes.
pub fn world() -> Vec<Value> {
    let mut objects = three_nodes();
    objects.extend(healthy());
    objects.extend(wrong_target_port());
    objects.extend(local_policy());
    objects.extend(no_endpoints());
    objects
}

pub fn key(name: &str) -> ServiceKey {
    ServiceKey {
        namespace: NAMESPACE.to_owned(),
        name: name.to_owned(),
    }
}

/// The store as a snapshot (read directly: no API request).
pub fn snapshot(sandbox: &SandboxHandle) -> ClusterSnapshot {
    let store = sandbox.store();
    store
        .cluster_snapshot(store.resource_version())
        .expect("the store reads")
}

pub fn model(snapshot: &ClusterSnapshot) -> ProxyModel {
    build(snapshot, &EngineConfig::default())
}

/// The plan for `name` over the store as it is now.
pub fn plan(sandbox: &SandboxHandle, name: &str, via: Via) -> ProbePlan {
    let snapshot = snapshot(sandbox);
    probe_plan_with(
        &model(&snapshot),
        &key(name),
        &PortSelector::All,
        via,
        &PlanContext::from_snapshot(&snapshot),
    )
    .expect("a plan")
}

pub fn transports(client: &kube::Client) -> Arc<Transports> {
    Arc::new(Transports::loopback(client.clone()))
}
