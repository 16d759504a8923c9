//! Reading single objects on demand, for the TUI's drill-down (`d` describe, `l` logs, `y`
//! YAML): one `get` of a Pod, Service, EndpointSlice or Node, the Events about an object (a
//! list with a `fieldSelector` on `involvedObject`), the workload that owns a Service's pods
//! (through ReplicaSets to Deployments), and a pod's log as a stream of lines.
//!
//! Read-only: `get`, `list` and `pods/log`, nothing else. Every answer is plain data for the
//! app's state; nothing here knows the terminal (text is escaped when it is drawn).

use std::collections::BTreeSet;
use std::pin::Pin;

use futures::{AsyncBufReadExt, Stream, StreamExt};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Event, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Resource;
use kube::api::{Api, ListParams, LogParams};
use serde::Serialize;
use tokio::sync::watch;

/// The kinds the drill-down reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    Pod,
    Service,
    EndpointSlice,
    Node,
}

impl ObjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Pod => "Pod",
            ObjectKind::Service => "Service",
            ObjectKind::EndpointSlice => "EndpointSlice",
            ObjectKind::Node => "Node",
        }
    }
}

/// One object by kind and name (`namespace` is `None` for a Node).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    pub kind: ObjectKind,
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{} {namespace}/{}", self.kind.as_str(), self.name),
            None => write!(f, "{} {}", self.kind.as_str(), self.name),
        }
    }
}

/// One Event as `kubectl describe` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// `Normal` or `Warning`.
    pub kind: String,
    pub reason: String,
    pub message: String,
    /// How many times it happened (at least 1).
    pub count: i32,
    /// When it last happened, in seconds since the Unix epoch.
    pub last_seen: Option<i64>,
    /// Who reported it (`kubelet`, `default-scheduler`, ...).
    pub from: String,
}

impl EventRow {
    pub fn from_event(event: &Event) -> EventRow {
        let last_seen = event
            .last_timestamp
            .as_ref()
            .map(|time| time.0.as_second())
            .or_else(|| event.event_time.as_ref().map(|time| time.0.as_second()))
            .or_else(|| {
                event
                    .first_timestamp
                    .as_ref()
                    .map(|time| time.0.as_second())
            })
            .or_else(|| {
                event
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .map(|time| time.0.as_second())
            });
        let from = event
            .source
            .as_ref()
            .and_then(|source| source.component.clone())
            .or_else(|| event.reporting_component.clone())
            .unwrap_or_default();
        let count = event
            .series
            .as_ref()
            .and_then(|series| series.count)
            .or(event.count)
            .unwrap_or(1)
            .max(1);
        EventRow {
            kind: event.type_.clone().unwrap_or_else(|| "Normal".to_owned()),
            reason: event.reason.clone().unwrap_or_default(),
            message: event.message.clone().unwrap_or_default(),
            count,
            last_seen,
            from,
        }
    }
}

/// A workload that owns a Service's pods, with its rollout state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// `Deployment`, `StatefulSet`, `DaemonSet`, or the owner's kind when it is another one.
    pub kind: String,
    pub name: String,
    pub desired: i32,
    pub ready: i32,
    pub updated: i32,
    pub available: i32,
    /// In words: `complete`, `progressing: …`, `stalled: …`, `not read`.
    pub rollout: String,
}

/// What to stream of a pod's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRequest {
    pub namespace: String,
    pub pod: String,
    pub container: Option<String>,
    /// The previous (terminated) instance of the container.
    pub previous: bool,
    pub follow: bool,
    /// Lines from the end to start with.
    pub tail: i64,
}

/// A stream of log lines (or the error that ended it).
pub type LogLines = Pin<Box<dyn Stream<Item = Result<String, String>> + Send>>;

/// Reads objects through the source's API server; the client follows the source (a
/// re-created cluster gets a new one).
#[derive(Clone)]
pub struct Inspector {
    clients: watch::Receiver<kube::Client>,
}

impl std::fmt::Debug for Inspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inspector")
    }
}

fn say(error: kube::Error) -> String {
    match &error {
        kube::Error::Api(status) if status.code == 403 => {
            format!("forbidden: {}", status.message)
        }
        kube::Error::Api(status) if status.code == 404 => {
            format!("not found: {}", status.message)
        }
        _ => error.to_string(),
    }
}

/// A copy without managed fields and kubectl's last-applied annotation, as YAML.
fn yaml_of<K: Resource + Serialize + Clone>(object: &K) -> Result<String, String> {
    let mut object = object.clone();
    let metadata = object.meta_mut();
    metadata.managed_fields = None;
    if let Some(annotations) = metadata.annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
        if annotations.is_empty() {
            metadata.annotations = None;
        }
    }
    serde_saphyr::to_string(&object).map_err(|error| error.to_string())
}

impl Inspector {
    pub fn new(clients: watch::Receiver<kube::Client>) -> Self {
        Inspector { clients }
    }

    fn client(&self) -> kube::Client {
        self.clients.borrow().clone()
    }

    fn namespaced<K>(&self, namespace: &str) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client(), namespace)
    }

    /// The pod as the API server has it now (the cache keeps only what the chain needs).
    pub async fn pod(&self, namespace: &str, name: &str) -> Result<Pod, String> {
        self.namespaced::<Pod>(namespace)
            .get(name)
            .await
            .map_err(say)
    }

    /// The Events about an object, oldest first (as `kubectl describe` prints them).
    pub async fn events(&self, target: &ObjectRef) -> Result<Vec<EventRow>, String> {
        let namespace = target.namespace.as_deref().unwrap_or("default");
        let fields = format!(
            "involvedObject.kind={},involvedObject.name={}",
            target.kind.as_str(),
            target.name
        );
        let list = self
            .namespaced::<Event>(namespace)
            .list(&ListParams::default().fields(&fields))
            .await
            .map_err(say)?;
        let mut rows: Vec<EventRow> = list.items.iter().map(EventRow::from_event).collect();
        rows.sort_by_key(|row| row.last_seen);
        Ok(rows)
    }

    /// The object's full YAML, read now with a `get`.
    pub async fn yaml(&self, target: &ObjectRef) -> Result<String, String> {
        let namespace = target.namespace.as_deref().unwrap_or("default");
        let name = target.name.as_str();
        match target.kind {
            ObjectKind::Pod => yaml_of(&self.pod(namespace, name).await?),
            ObjectKind::Service => yaml_of(
                &self
                    .namespaced::<Service>(namespace)
                    .get(name)
                    .await
                    .map_err(say)?,
            ),
            ObjectKind::EndpointSlice => yaml_of(
                &self
                    .namespaced::<EndpointSlice>(namespace)
                    .get(name)
                    .await
                    .map_err(say)?,
            ),
            ObjectKind::Node => {
                let nodes: Api<Node> = Api::all(self.client());
                yaml_of(&nodes.get(name).await.map_err(say)?)
            }
        }
    }

    /// The workloads owning pods with these owner references: a ReplicaSet is followed to
    /// its Deployment; StatefulSets and DaemonSets are read directly.
    pub async fn workloads(
        &self,
        namespace: &str,
        owners: &[OwnerReference],
    ) -> Result<Vec<Workload>, String> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for owner in owners {
            if !seen.insert((owner.kind.clone(), owner.name.clone())) {
                continue;
            }
            if let Some(workload) = self.workload(namespace, owner).await? {
                if out.iter().any(|known: &Workload| {
                    known.kind == workload.kind && known.name == workload.name
                }) {
                    continue;
                }
                out.push(workload);
            }
        }
        Ok(out)
    }

    async fn workload(
        &self,
        namespace: &str,
        owner: &OwnerReference,
    ) -> Result<Option<Workload>, String> {
        let name = owner.name.as_str();
        match owner.kind.as_str() {
            "ReplicaSet" => {
                let set = match self.namespaced::<ReplicaSet>(namespace).get(name).await {
                    Ok(set) => set,
                    Err(kube::Error::Api(status)) if status.code == 404 => {
                        return self.deployment_by_name(namespace, name).await;
                    }
                    Err(error) => return Err(say(error)),
                };
                let deployment = set
                    .metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .find(|parent| parent.kind == "Deployment");
                match deployment {
                    Some(parent) => {
                        let found = self
                            .namespaced::<Deployment>(namespace)
                            .get(&parent.name)
                            .await
                            .map_err(say)?;
                        Ok(Some(deployment_state(&found)))
                    }
                    None => Ok(Some(replica_set_state(&set))),
                }
            }
            "StatefulSet" => {
                let set = self
                    .namespaced::<StatefulSet>(namespace)
                    .get(name)
                    .await
                    .map_err(say)?;
                Ok(Some(stateful_set_state(&set)))
            }
            "DaemonSet" => {
                let set = self
                    .namespaced::<DaemonSet>(namespace)
                    .get(name)
                    .await
                    .map_err(say)?;
                Ok(Some(daemon_set_state(&set)))
            }
            other => Ok(Some(Workload {
                kind: other.to_owned(),
                name: name.to_owned(),
                desired: 0,
                ready: 0,
                updated: 0,
                available: 0,
                rollout: "not read".to_owned(),
            })),
        }
    }

    /// A ReplicaSet that cannot be read (gone, or not served): the Deployment its name comes
    /// from (`NAME-HASH`), said so.
    async fn deployment_by_name(
        &self,
        namespace: &str,
        replica_set: &str,
    ) -> Result<Option<Workload>, String> {
        let unread = Workload {
            kind: "ReplicaSet".to_owned(),
            name: replica_set.to_owned(),
            desired: 0,
            ready: 0,
            updated: 0,
            available: 0,
            rollout: "not read: the ReplicaSet is not found".to_owned(),
        };
        let Some((deployment, _hash)) = replica_set.rsplit_once('-') else {
            return Ok(Some(unread));
        };
        match self
            .namespaced::<Deployment>(namespace)
            .get(deployment)
            .await
        {
            Ok(found) => Ok(Some(deployment_state(&found))),
            Err(_) => Ok(Some(unread)),
        }
    }

    /// The pod's log, line by line (`pods/log`).
    pub async fn logs(&self, request: &LogRequest) -> Result<LogLines, String> {
        let params = LogParams {
            container: request.container.clone(),
            follow: request.follow,
            previous: request.previous,
            tail_lines: Some(request.tail),
            ..LogParams::default()
        };
        let reader = self
            .namespaced::<Pod>(&request.namespace)
            .log_stream(&request.pod, &params)
            .await
            .map_err(say)?;
        let lines = reader
            .lines()
            .map(|line| line.map_err(|error| error.to_string()));
        Ok(Box::pin(lines))
    }
}

/// A Deployment's rollout as `kubectl rollout status` judges it.
pub fn deployment_state(deployment: &Deployment) -> Workload {
    let desired = deployment.spec.replicas.unwrap_or(1);
    let status = deployment.status.clone().unwrap_or_default();
    let (ready, updated, available) = (
        status.ready_replicas.unwrap_or(0),
        status.updated_replicas.unwrap_or(0),
        status.available_replicas.unwrap_or(0),
    );
    let progressing = status
        .conditions
        .iter()
        .flatten()
        .find(|condition| condition.type_.as_deref() == Some("Progressing"));
    let observed =
        status.observed_generation.unwrap_or(0) >= deployment.metadata.generation.unwrap_or(0);
    let rollout =
        if progressing.is_some_and(|c| c.reason.as_deref() == Some("ProgressDeadlineExceeded")) {
            format!(
                "stalled: {}",
                progressing
                    .and_then(|c| c.message.clone())
                    .unwrap_or_default()
            )
        } else if !observed {
            "progressing: the new spec is not observed yet".to_owned()
        } else if updated < desired {
            format!("progressing: {updated} of {desired} updated")
        } else if status.replicas.unwrap_or(0) > updated {
            format!(
                "progressing: {} old replicas pending termination",
                status.replicas.unwrap_or(0) - updated
            )
        } else if available < updated {
            format!("progressing: {available} of {updated} updated replicas available")
        } else {
            "complete".to_owned()
        };
    Workload {
        kind: "Deployment".to_owned(),
        name: deployment.metadata.name.clone().unwrap_or_default(),
        desired,
        ready,
        updated,
        available,
        rollout,
    }
}

fn replica_set_state(set: &ReplicaSet) -> Workload {
    let desired = set.spec.replicas.unwrap_or(1);
    let status = set.status.clone().unwrap_or_default();
    let ready = status.ready_replicas.unwrap_or(0);
    Workload {
        kind: "ReplicaSet".to_owned(),
        name: set.metadata.name.clone().unwrap_or_default(),
        desired,
        ready,
        updated: status.replicas,
        available: status.available_replicas.unwrap_or(0),
        rollout: if ready >= desired {
            "complete".to_owned()
        } else {
            format!("{ready} of {desired} ready")
        },
    }
}

fn stateful_set_state(set: &StatefulSet) -> Workload {
    let desired = set.spec.replicas.unwrap_or(1);
    let status = set.status.clone().unwrap_or_default();
    let (ready, updated) = (
        status.ready_replicas.unwrap_or(0),
        status.updated_replicas.unwrap_or(0),
    );
    let rollout = if status.current_revision.is_some()
        && status.current_revision == status.update_revision
        && ready >= desired
    {
        "complete".to_owned()
    } else {
        format!("progressing: {updated} of {desired} updated, {ready} ready")
    };
    Workload {
        kind: "StatefulSet".to_owned(),
        name: set.metadata.name.clone().unwrap_or_default(),
        desired,
        ready,
        updated,
        available: status.available_replicas.unwrap_or(0),
        rollout,
    }
}

fn daemon_set_state(set: &DaemonSet) -> Workload {
    let status = set.status.clone().unwrap_or_default();
    let desired = status.desired_number_scheduled;
    let (ready, updated) = (
        status.number_ready,
        status.updated_number_scheduled.unwrap_or(0),
    );
    let rollout = if updated >= desired && ready >= desired {
        "complete".to_owned()
    } else {
        format!("progressing: {updated} of {desired} updated, {ready} ready")
    };
    Workload {
        kind: "DaemonSet".to_owned(),
        name: set.metadata.name.clone().unwrap_or_default(),
        desired,
        ready,
        updated,
        available: status.number_available.unwrap_or(0),
        rollout,
    }
}
