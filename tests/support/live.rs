//! The live source: one watching a sandbox, waits (with deadlines) for its snapshots and
//! connection status, and what kubehop asked the API server for.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use kube::Resource;
use kube::api::{Api, ListParams, PostParams};
use kubehop::cluster::ClusterSnapshot;
use kubehop::cluster::client::{ClusterTarget, Scope, USER_AGENT};
use kubehop::cluster::feed::ConnectionStatus;
use kubehop::cluster::live::{LiveOptions, LiveSource};
use kubehop::engine::objects::PodInfo;
use kubehop::sandbox::{RequestRecord, SandboxHandle, Verb};

use super::fixtures::manifest::{self, Edit};
use super::wait::within_for;

/// How long a wait for something that should happen "soon" may take before the test fails
/// (generous: backoff after errors starts at 0.8 s and the machine is shared).
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The target kubehop uses for the sandbox.
pub async fn target(sandbox: &SandboxHandle, scope: Scope) -> ClusterTarget {
    let config = sandbox.config().await.expect("the sandbox's kubeconfig");
    ClusterTarget::new(config, "kubehop-sandbox", scope)
}

/// A live source over the sandbox, after its first snapshot.
pub async fn live(sandbox: &SandboxHandle, scope: Scope) -> LiveSource {
    let mut source = LiveSource::start(&target(sandbox, scope).await, LiveOptions::default())
        .expect("the live source starts");
    within_for(DEADLINE, "the first snapshot", source.first_snapshot())
        .await
        .expect("a first snapshot");
    source
}

/// Waits until a published snapshot satisfies `condition`; returns it.
pub async fn snapshot_where(
    source: &mut LiveSource,
    limit: Duration,
    what: &str,
    condition: impl FnMut(&Arc<ClusterSnapshot>) -> bool,
) -> Arc<ClusterSnapshot> {
    let snapshots = &mut source.feed.snapshots;
    within_for(limit, what, snapshots.wait_for(condition))
        .await
        .expect("the live source is running")
        .clone()
}

/// Waits until the connection status satisfies `condition`; returns it.
pub async fn status_where(
    source: &mut LiveSource,
    what: &str,
    condition: impl FnMut(&ConnectionStatus) -> bool,
) -> ConnectionStatus {
    let status = &mut source.feed.status;
    within_for(DEADLINE, what, status.wait_for(condition))
        .await
        .expect("the live source is running")
        .clone()
}

/// `namespace/name` of each object.
pub fn keys<K: Resource>(objects: &[Arc<K>]) -> Vec<String> {
    objects
        .iter()
        .map(|object| {
            let meta = object.meta();
            format!(
                "{}/{}",
                meta.namespace.as_deref().unwrap_or(""),
                meta.name.as_deref().unwrap_or("")
            )
        })
        .collect()
}

/// [`keys`] of the pods.
pub fn pod_keys(pods: &[Arc<PodInfo>]) -> Vec<String> {
    pods.iter()
        .map(|pod| {
            format!(
                "{}/{}",
                pod.namespace.as_deref().unwrap_or(""),
                pod.name.as_deref().unwrap_or("")
            )
        })
        .collect()
}

/// The pod `namespace/name` in a snapshot.
pub fn snapshot_pod<'a>(
    snapshot: &'a ClusterSnapshot,
    namespace: &str,
    name: &str,
) -> Option<&'a PodInfo> {
    snapshot
        .pods
        .iter()
        .find(|pod| {
            pod.name.as_deref() == Some(name) && pod.namespace.as_deref() == Some(namespace)
        })
        .map(Arc::as_ref)
}

/// Creates pod `name` labelled `app=<app>` through the API.
pub async fn create_pod(pods: &Api<Pod>, name: &str, ip: &str, node: &str, app: &str) {
    let object: Pod = serde_json::from_value(
        manifest::pod(name, ip, node).labels(serde_json::json!({"app": app})),
    )
    .expect("a pod");
    pods.create(&PostParams::default(), &object)
        .await
        .expect("create");
}

/// (kind, namespace/name, resourceVersion) of every object, to compare a snapshot with lists.
pub type Inventory = BTreeSet<(String, String, String)>;

fn add<'a, K: Resource<DynamicType = ()> + 'a>(
    inventory: &mut Inventory,
    objects: impl IntoIterator<Item = &'a K>,
) {
    let kind = K::kind(&());
    for object in objects {
        let meta = object.meta();
        inventory.insert((
            kind.to_string(),
            format!(
                "{}/{}",
                meta.namespace.as_deref().unwrap_or(""),
                meta.name.as_deref().unwrap_or("")
            ),
            meta.resource_version.clone().unwrap_or_default(),
        ));
    }
}

pub fn snapshot_inventory(snapshot: &ClusterSnapshot) -> Inventory {
    let mut inventory = Inventory::new();
    add(&mut inventory, snapshot.services.iter().map(Arc::as_ref));
    add(
        &mut inventory,
        snapshot.endpoint_slices.iter().map(Arc::as_ref),
    );
    for pod in snapshot.pods.iter() {
        inventory.insert((
            "Pod".to_owned(),
            format!(
                "{}/{}",
                pod.namespace.as_deref().unwrap_or(""),
                pod.name.as_deref().unwrap_or("")
            ),
            pod.resource_version
                .as_deref()
                .unwrap_or_default()
                .to_owned(),
        ));
    }
    add(&mut inventory, snapshot.nodes.iter().map(Arc::as_ref));
    add(&mut inventory, snapshot.ingresses.iter().map(Arc::as_ref));
    add(&mut inventory, snapshot.namespaces.iter().map(Arc::as_ref));
    inventory
}

/// Every object of kind `K` in every namespace, listed through the API.
pub async fn list_all<K>(client: &kube::Client) -> Vec<K>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    Api::<K>::all(client.clone())
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
}

/// What a fresh list of every kind returns right now (through the API, like kubectl).
pub async fn listed_inventory(client: &kube::Client) -> Inventory {
    let mut inventory = Inventory::new();
    add(&mut inventory, &list_all::<Service>(client).await);
    add(&mut inventory, &list_all::<EndpointSlice>(client).await);
    add(&mut inventory, &list_all::<Pod>(client).await);
    add(&mut inventory, &list_all::<Node>(client).await);
    add(&mut inventory, &list_all::<Ingress>(client).await);
    add(&mut inventory, &list_all::<Namespace>(client).await);
    inventory
}

/// The verbs of every request kubehop (its User-Agent) made.
/// Every request kubehop (its User-Agent) made, oldest first.
pub fn kubehop_requests(sandbox: &SandboxHandle) -> Vec<RequestRecord> {
    sandbox
        .request_log()
        .entries()
        .into_iter()
        .filter(|record| record.user_agent.starts_with(USER_AGENT))
        .collect()
}

pub fn kubehop_verbs(sandbox: &SandboxHandle) -> HashSet<Verb> {
    let records = kubehop_requests(sandbox);
    assert!(
        !records.is_empty(),
        "the request log shows kubehop's requests"
    );
    records.into_iter().map(|record| record.verb).collect()
}

/// Asserts that kubehop only read.
pub fn assert_read_only(sandbox: &SandboxHandle) {
    let verbs = kubehop_verbs(sandbox);
    let allowed = HashSet::from([Verb::Get, Verb::List, Verb::Watch]);
    assert!(
        verbs.is_subset(&allowed),
        "kubehop used {verbs:?}, only get/list/watch are expected"
    );
}
