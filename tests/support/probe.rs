//! Helpers for the probe tests: a sandbox world with one Service per situation the probe must
//! tell apart, plans made from the sandbox's store, and the loopback transports.

use std::sync::Arc;

use kubehop::engine::model::ServiceKey;
use kubehop::engine::plan::{PlanContext, PortSelector, ProbePlan, Via, probe_plan_with};
use kubehop::engine::{ClusterSnapshot, EngineConfig, ProxyModel, build};
use kubehop::probe::Transports;
use kubehop::sandbox::SandboxHandle;
use serde_json::{Value, json};

use super::fixtures::manifest::{Edit, deployment, ingress, service, three_nodes};

pub const NAMESPACE: &str = "default";

/// `web`: 3 pods behind a LoadBalancer (every front door but an Ingress).
pub fn healthy() -> Vec<Value> {
    vec![
        deployment(NAMESPACE, "web", 3, 8080),
        service(NAMESPACE, "web", 8080).spec(json!({"type": "LoadBalancer"})),
    ]
}

/// An Ingress rule in front of `web` (the sandbox gives it an address, but runs no ingress
/// controller).
pub fn web_ingress() -> Vec<Value> {
    vec![ingress(NAMESPACE, "web", "web.example.test", "web", 8080)]
}

/// `catalog` (rule M5): targetPort 8080 is declared, the app listens on 9090 — the Service's
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
        service(NAMESPACE, "catalog", 8080)
            .spec(json!({"ports": [{"name": "http", "port": 9090, "targetPort": 8080}]})),
        shelf,
        service(NAMESPACE, "shelf", 8080)
            .spec(json!({"ports": [{"name": "http", "port": 8081, "targetPort": 8080}]})),
    ]
}

/// `gateway`: LoadBalancer with externalTrafficPolicy Local, both pods on node-1.
pub fn local_policy() -> Vec<Value> {
    let mut gateway = deployment(NAMESPACE, "gateway", 2, 8080);
    gateway["spec"]["template"]["spec"]["nodeSelector"] =
        json!({"kubernetes.io/hostname": "node-1"});
    vec![
        gateway,
        service(NAMESPACE, "gateway", 8080)
            .spec(json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local"})),
    ]
}

/// `invoices`: a NodePort Service whose selector matches no pod.
pub fn no_endpoints() -> Vec<Value> {
    vec![
        service(NAMESPACE, "invoices", 8080)
            .spec(json!({"type": "NodePort", "selector": {"app": "invoice-api"}})),
    ]
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
