//! The workload controllers: Deployments (`deployment`, through ReplicaSets), ReplicaSets and
//! ReplicationControllers (`replicaset`), StatefulSets (`statefulset`), DaemonSets
//! (`daemonset`) and Jobs (`job`).
//!
//! Pods of a Deployment are owned, as on a real cluster, by its ReplicaSet
//! `<deployment>-<pod-template-hash>`; a ReplicaSet (or ReplicationController, DaemonSet, Job)
//! controls the pods whose controller owner reference names it and that its selector matches.
//! Pods of a StatefulSet are `<statefulset>-<ordinal>` owned by the StatefulSet.
//!
//! The shared helpers live here.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

use super::{Controller, Key};
use crate::admission::initial_status;
use crate::resources::ResourceId;
use crate::rng::{fnv1a32, safe_encode};
use crate::store::{DeleteOptions, StoreError, WriteOptions};

mod daemonset;
mod deployment;
mod job;
mod replicaset;
mod statefulset;
#[cfg(test)]
mod tests;

pub(super) use daemonset::reconcile_daemonset;
pub(super) use deployment::{delete_deployment_pods, reconcile_deployment};
pub(super) use job::reconcile_job;
pub(super) use replicaset::{SetKind, reconcile_set};
pub(super) use statefulset::{delete_statefulset_pods, reconcile_statefulset};

const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// The largest replica count the controllers work with (`spec.replicas` is an int32).
const MAX_REPLICAS: i64 = i32::MAX as i64;
/// Pods one workload creates per pass; more follow in the next passes (like the real
/// controllers' batches), so a huge `replicas` cannot stall the control plane.
const MAX_CREATES_PER_PASS: i64 = 500;
const REVISION_HASH: &str = "controller-revision-hash";
const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn label<'a>(pod: &'a Value, key: &str) -> &'a str {
    pod.pointer("/metadata/labels")
        .and_then(|l| l.get(key))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn controller_ref(pod: &Value) -> Option<(&str, &str)> {
    pod.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true))
        .map(|o| {
            (
                o.get("kind").and_then(Value::as_str).unwrap_or(""),
                o.get("name").and_then(Value::as_str).unwrap_or(""),
            )
        })
}

/// The workloads a pod event concerns (for marking them dirty): its controller, and for a
/// ReplicaSet `<deployment>-<hash>` the Deployment too.
pub(super) fn owners_of(pod: &Value) -> Vec<(ResourceId, Key)> {
    let namespace = text(pod, "/metadata/namespace").to_string();
    let Some((kind, name)) = controller_ref(pod) else {
        return Vec::new();
    };
    let key = (namespace.clone(), name.to_string());
    match kind {
        "ReplicaSet" => {
            let mut owners = vec![(ResourceId::ReplicaSets, key)];
            if let Some((deployment, _)) = name.rsplit_once('-') {
                owners.push((ResourceId::Deployments, (namespace, deployment.to_string())));
            }
            owners
        }
        "StatefulSet" => vec![(ResourceId::StatefulSets, key)],
        "DaemonSet" => vec![(ResourceId::DaemonSets, key)],
        "Job" => vec![(ResourceId::Jobs, key)],
        "ReplicationController" => vec![(ResourceId::ReplicationControllers, key)],
        _ => Vec::new(),
    }
}

/// The Deployment that controls a ReplicaSet (by its owner reference).
pub(super) fn deployment_of(set: &Value) -> Option<Key> {
    let (kind, name) = controller_ref(set)?;
    (kind == "Deployment").then(|| {
        (
            text(set, "/metadata/namespace").to_string(),
            name.to_string(),
        )
    })
}

/// `metav1.LabelSelector` semantics (matchLabels and matchExpressions).
pub(super) fn selector_matches(selector: &Value, labels: Option<&Map<String, Value>>) -> bool {
    let empty = Map::new();
    let labels = labels.unwrap_or(&empty);
    let get = |key: &str| labels.get(key).and_then(Value::as_str);
    let by_labels = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .all(|(k, v)| get(k) == v.as_str());
    let by_expressions = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .all(|expression| {
            let key = text(expression, "/key");
            let values: Vec<&str> = expression
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            match text(expression, "/operator") {
                "In" => get(key).is_some_and(|v| values.contains(&v)),
                "NotIn" => get(key).is_none_or(|v| !values.contains(&v)),
                "Exists" => get(key).is_some(),
                "DoesNotExist" => get(key).is_none(),
                _ => false,
            }
        });
    by_labels && by_expressions
}

fn is_terminating(pod: &Value) -> bool {
    pod.pointer("/metadata/deletionTimestamp").is_some()
}

pub(super) fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| text(c, "/type") == "Ready" && text(c, "/status") == "True")
}

/// The template's hash, spelled like Kubernetes spells pod-template-hash.
fn template_hash(template: &Value) -> String {
    safe_encode(fnv1a32(&serde_json::to_vec(template).unwrap_or_default()))
}

/// Pods worth deleting first: unscheduled, then without IP, then not ready, then newest.
fn deletion_order(pods: &mut [Value]) {
    pods.sort_by(|a, b| {
        let rank = |p: &Value| {
            (
                !text(p, "/spec/nodeName").is_empty(),
                p.pointer("/status/podIP").is_some(),
                is_ready(p),
            )
        };
        rank(a).cmp(&rank(b)).then_with(|| {
            text(b, "/metadata/creationTimestamp")
                .cmp(text(a, "/metadata/creationTimestamp"))
                .then_with(|| text(b, "/metadata/name").cmp(text(a, "/metadata/name")))
        })
    });
}

/// `maxSurge` / `maxUnavailable`: a number, or a percentage of `replicas` (surge rounds up,
/// unavailable rounds down).
fn resolve(value: Option<&Value>, replicas: i64, round_up: bool, default_percent: i64) -> i64 {
    let percent = |p: i64| {
        let scaled = replicas.saturating_mul(p);
        if round_up {
            scaled.saturating_add(99) / 100
        } else {
            scaled / 100
        }
    };
    match value {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0).max(0),
        Some(Value::String(s)) => match s.strip_suffix('%').and_then(|p| p.trim().parse().ok()) {
            Some(p) => percent(p),
            None => s.trim().parse().unwrap_or(0),
        },
        _ => percent(default_percent),
    }
    .clamp(0, MAX_REPLICAS)
}

/// A pod from a workload's template.
fn pod_from_template(
    template: &Value,
    namespace: &str,
    name: &str,
    extra_labels: &[(&str, String)],
    owner: Value,
) -> Value {
    let mut labels = template
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (key, value) in extra_labels {
        labels.insert((*key).to_string(), json!(value));
    }
    let mut metadata = json!({
        "name": name,
        "namespace": namespace,
        "labels": labels,
        "ownerReferences": [owner],
    });
    if let Some(annotations) = template.pointer("/metadata/annotations") {
        metadata["annotations"] = annotations.clone();
    }
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": template.get("spec").cloned().unwrap_or_else(|| json!({})),
    });
    if let Some(status) = initial_status(ResourceId::Pods, &pod) {
        pod["status"] = status;
    }
    pod
}

fn delete_pod(c: &Controller, pod: &Value) -> Result<(), StoreError> {
    match c.store.delete_object(
        ResourceId::Pods,
        text(pod, "/metadata/namespace"),
        text(pod, "/metadata/name"),
        &DeleteOptions {
            precondition_uid: Some(text(pod, "/metadata/uid").to_string()),
            ..DeleteOptions::default()
        },
    ) {
        Ok(_) | Err(StoreError::NotFound { .. }) => Ok(()),
        Err(err) => Err(err),
    }
}

/// A condition, keeping the old timestamps when nothing about it changed.
fn condition(
    existing: &[Value],
    kind: &str,
    ok: bool,
    reason: &str,
    message: &str,
    now: &str,
) -> Value {
    let status = if ok { "True" } else { "False" };
    let old = existing.iter().find(|c| text(c, "/type") == kind);
    if let Some(old) = old
        && text(old, "/status") == status
        && text(old, "/reason") == reason
        && text(old, "/message") == message
    {
        return old.clone();
    }
    let transition = match old {
        Some(old) if text(old, "/status") == status => old
            .get("lastTransitionTime")
            .cloned()
            .unwrap_or_else(|| json!(now)),
        _ => json!(now),
    };
    json!({
        "type": kind, "status": status, "reason": reason, "message": message,
        "lastUpdateTime": now, "lastTransitionTime": transition,
    })
}

fn write_status(
    c: &Controller,
    resource: ResourceId,
    key: &Key,
    status: Value,
) -> Result<(), StoreError> {
    c.write_status(resource, key, |value| {
        value["status"] = status;
        Ok(())
    })?;
    Ok(())
}

/// Drops zero counts, as the API's `omitempty` does.
fn counts(fields: &[(&str, i64)]) -> Map<String, Value> {
    fields
        .iter()
        .filter(|(_, n)| *n != 0)
        .map(|(k, n)| ((*k).to_string(), json!(n)))
        .collect()
}

/// The revision a workload's current template runs as: our hash, or for a workload replayed
/// with its pods, the revision those pods carry (decided at the first look).
fn current_revision(
    c: &mut Controller,
    resource: ResourceId,
    workload: &Value,
    ours: String,
    active: &[&Value],
    label_key: &str,
) -> String {
    let uid = text(workload, "/metadata/uid").to_string();
    let generation = workload
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    if c.seen_workloads.insert(uid.clone()) {
        let observed = workload
            .pointer("/status/observedGeneration")
            .and_then(Value::as_i64);
        let has_ours = active.iter().any(|p| label(p, label_key) == ours);
        if observed == Some(generation) && !has_ours && !active.is_empty() {
            let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
            for pod in active {
                *tally.entry(label(pod, label_key)).or_default() += 1;
            }
            if let Some((revision, _)) = tally.iter().max_by_key(|(_, n)| **n) {
                c.revision_alias.insert(
                    (resource, uid.clone()),
                    (generation, (*revision).to_string()),
                );
            }
        }
    }
    match c.revision_alias.get(&(resource, uid)) {
        Some((alias_generation, revision)) if *alias_generation == generation => revision.clone(),
        _ => ours,
    }
}

/// A deleted ReplicaSet, ReplicationController, DaemonSet or Job: the garbage collector
/// deletes the pods it controlled (unless one of the same name exists again).
pub(super) fn delete_owned_pods(
    c: &mut Controller,
    resource: ResourceId,
    owner: &Value,
) -> Result<(), StoreError> {
    let namespace = text(owner, "/metadata/namespace");
    let name = text(owner, "/metadata/name");
    if c.store.get_object(resource, namespace, name).is_some() {
        return Ok(());
    }
    let kind = resource.info().kind;
    let (pods, _) = c.store.list_objects(ResourceId::Pods, Some(namespace));
    for pod in pods.iter().map(|p| p.value()) {
        if controller_ref(&pod) == Some((kind, name)) && !is_terminating(&pod) {
            delete_pod(c, &pod)?;
        }
    }
    Ok(())
}
