//! The Deployment and StatefulSet controllers.
//!
//! Pods of a Deployment are owned, as on a real cluster, by a ReplicaSet
//! `<deployment>-<pod-template-hash>` (which the sandbox does not serve); a pod belongs to a
//! Deployment when its controller owner is a ReplicaSet named `<deployment>-<its
//! pod-template-hash label>` and the Deployment's selector matches it. Pods of a StatefulSet
//! are `<statefulset>-<ordinal>` owned by the StatefulSet.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

use super::{Controller, Key};
use crate::admission::initial_status;
use crate::resources::ResourceId;
use crate::rng::{SplitMix64, fnv1a32, safe_encode};
use crate::store::{DeleteOptions, Part, StoreError, WriteOptions};

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

/// The workload a pod event concerns (for marking it dirty).
pub(super) fn owner_of(pod: &Value) -> Option<(ResourceId, Key)> {
    let namespace = text(pod, "/metadata/namespace").to_string();
    match controller_ref(pod)? {
        ("ReplicaSet", name) => {
            let (deployment, _) = name.rsplit_once('-')?;
            Some((ResourceId::Deployments, (namespace, deployment.to_string())))
        }
        ("StatefulSet", name) => Some((ResourceId::StatefulSets, (namespace, name.to_string()))),
        _ => None,
    }
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
    c.store.modify_object(
        resource,
        &key.0,
        &key.1,
        Part::Status,
        WriteOptions::controller(),
        |value| {
            value["status"] = status;
            Ok(())
        },
    )?;
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

// ---------------------------------------------------------------------------------------------
// Deployments

fn deployment_pods(c: &Controller, deployment: &Value) -> Vec<Value> {
    let namespace = text(deployment, "/metadata/namespace");
    let name = text(deployment, "/metadata/name");
    let selector = deployment
        .pointer("/spec/selector")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let (pods, _) = c.store.list_objects(ResourceId::Pods, Some(namespace));
    pods.iter()
        .map(|p| p.value())
        .filter(|pod| {
            let hash = label(pod, POD_TEMPLATE_HASH);
            controller_ref(pod).is_some_and(|(kind, owner)| {
                kind == "ReplicaSet" && !hash.is_empty() && owner == format!("{name}-{hash}")
            }) && selector_matches(
                &selector,
                pod.pointer("/metadata/labels").and_then(Value::as_object),
            )
        })
        .collect()
}

pub(super) fn delete_deployment_pods(
    c: &mut Controller,
    deployment: &Value,
) -> Result<(), StoreError> {
    let key = (
        text(deployment, "/metadata/namespace").to_string(),
        text(deployment, "/metadata/name").to_string(),
    );
    if c.store
        .get_object(ResourceId::Deployments, &key.0, &key.1)
        .is_some()
    {
        // Created again under the same name: its controller decides.
        return Ok(());
    }
    for pod in deployment_pods(c, deployment) {
        if !is_terminating(&pod) {
            delete_pod(c, &pod)?;
        }
    }
    Ok(())
}

/// A uid for the (unserved) ReplicaSet of a Deployment revision, stable across runs.
fn replica_set_uid(deployment_uid: &str, hash: &str) -> String {
    let seed =
        u64::from(fnv1a32(deployment_uid.as_bytes())) << 32 | u64::from(fnv1a32(hash.as_bytes()));
    SplitMix64::new(seed).uuid().to_string()
}

pub(super) fn reconcile_deployment(c: &mut Controller, key: &Key) -> Result<(), StoreError> {
    let Some(stored) = c.store.get_object(ResourceId::Deployments, &key.0, &key.1) else {
        return Ok(());
    };
    let deployment = stored.value();
    let Some(spec) = deployment.get("spec").cloned() else {
        return Ok(());
    };
    let replicas = spec
        .get("replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .clamp(0, MAX_REPLICAS);
    let template = spec.get("template").cloned().unwrap_or_else(|| json!({}));
    let pods = deployment_pods(c, &deployment);
    let active: Vec<&Value> = pods.iter().filter(|p| !is_terminating(p)).collect();
    let hash = current_revision(
        c,
        ResourceId::Deployments,
        &deployment,
        template_hash(&template),
        &active,
        POD_TEMPLATE_HASH,
    );
    let replica_set = format!("{}-{hash}", key.1);
    let (mut new, mut old): (Vec<Value>, Vec<Value>) = active
        .iter()
        .map(|p| (*p).clone())
        .partition(|p| label(p, POD_TEMPLATE_HASH) == hash);
    let new_ready = new.iter().filter(|p| is_ready(p)).count() as i64;
    let old_ready = old.iter().filter(|p| is_ready(p)).count() as i64;
    let strategy = spec.get("strategy").cloned().unwrap_or_else(|| json!({}));
    let recreate = text(&strategy, "/type") == "Recreate";
    let mut max_surge = resolve(
        strategy.pointer("/rollingUpdate/maxSurge"),
        replicas,
        true,
        25,
    );
    let mut max_unavailable = resolve(
        strategy.pointer("/rollingUpdate/maxUnavailable"),
        replicas,
        false,
        25,
    );
    if recreate {
        max_surge = 0;
        max_unavailable = replicas;
    } else if max_surge == 0 && max_unavailable == 0 {
        max_unavailable = 1;
    }
    let paused = spec.get("paused").and_then(Value::as_bool).unwrap_or(false);

    let new_count = new.len() as i64;
    let old_count = old.len() as i64;
    let mut create = 0i64;
    let mut delete: Vec<Value> = Vec::new();
    if paused {
        // A paused Deployment only scales what it has.
    } else if recreate {
        if old_count > 0 {
            delete.append(&mut old);
        } else if pods
            .iter()
            .any(|p| is_terminating(p) && label(p, POD_TEMPLATE_HASH) != hash)
        {
            // Wait until the old pods are gone.
        } else if new_count < replicas {
            create = replicas - new_count;
        } else if new_count > replicas {
            deletion_order(&mut new);
            delete.extend(new.drain(..usize::try_from(new_count - replicas).unwrap_or(0)));
        }
    } else if old_count == 0 {
        if new_count < replicas {
            create = replicas - new_count;
        } else if new_count > replicas {
            deletion_order(&mut new);
            delete.extend(new.drain(..usize::try_from(new_count - replicas).unwrap_or(0)));
        }
    } else {
        let total = new_count + old_count;
        if new_count < replicas {
            create = (replicas - new_count)
                .min(replicas + max_surge - total)
                .max(0);
        }
        if create == 0 {
            let min_available = replicas - max_unavailable;
            let new_unavailable = new_count - new_ready;
            let mut budget = total - min_available - new_unavailable;
            if new_count > replicas {
                deletion_order(&mut new);
                let extra = usize::try_from(new_count - replicas).unwrap_or(0);
                delete.extend(new.drain(..extra));
            }
            if budget > 0 {
                deletion_order(&mut old);
                // Unhealthy old pods first: removing them costs no availability.
                let unhealthy: Vec<Value> = old.iter().filter(|p| !is_ready(p)).cloned().collect();
                for pod in unhealthy {
                    if budget == 0 {
                        break;
                    }
                    delete.push(pod);
                    budget -= 1;
                }
                let mut spare = new_ready + old_ready - min_available;
                for pod in old.iter().filter(|p| is_ready(p)) {
                    if budget == 0 || spare <= 0 {
                        break;
                    }
                    delete.push(pod.clone());
                    budget -= 1;
                    spare -= 1;
                }
            }
        }
    }

    let owner = json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": replica_set,
        "uid": replica_set_uid(stored.uid(), &hash),
        "controller": true, "blockOwnerDeletion": true,
    });
    for _ in 0..create.min(MAX_CREATES_PER_PASS) {
        let mut attempts = 0;
        loop {
            let name = format!("{replica_set}-{}", c.rng.name_suffix(5));
            let pod = pod_from_template(
                &template,
                &key.0,
                &name,
                &[(POD_TEMPLATE_HASH, hash.clone())],
                owner.clone(),
            );
            match c
                .store
                .create_object(ResourceId::Pods, pod, WriteOptions::controller())
            {
                Err(StoreError::AlreadyExists { .. }) if attempts < 5 => attempts += 1,
                Err(err) => return Err(err),
                Ok(_) => break,
            }
        }
    }
    for pod in &delete {
        delete_pod(c, pod)?;
    }

    // Status.
    let updated = new_count;
    let ready = new_ready + old_ready;
    let available = ready;
    let complete = updated == replicas && old_count == 0 && available == replicas;
    let now = c.now();
    let existing: Vec<Value> = deployment
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let available_condition = if available >= replicas - max_unavailable {
        condition(
            &existing,
            "Available",
            true,
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            &now,
        )
    } else {
        condition(
            &existing,
            "Available",
            false,
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            &now,
        )
    };
    let progressing = if complete {
        condition(
            &existing,
            "Progressing",
            true,
            "NewReplicaSetAvailable",
            &format!("ReplicaSet \"{replica_set}\" has successfully progressed."),
            &now,
        )
    } else {
        condition(
            &existing,
            "Progressing",
            true,
            "ReplicaSetUpdated",
            &format!("ReplicaSet \"{replica_set}\" is progressing."),
            &now,
        )
    };
    let mut status = counts(&[
        ("replicas", new_count + old_count),
        ("updatedReplicas", updated),
        ("readyReplicas", ready),
        ("availableReplicas", available),
        ("unavailableReplicas", (replicas - available).max(0)),
    ]);
    status.insert(
        "observedGeneration".into(),
        deployment
            .pointer("/metadata/generation")
            .cloned()
            .unwrap_or_else(|| json!(1)),
    );
    status.insert(
        "conditions".into(),
        json!([available_condition, progressing]),
    );
    write_status(c, ResourceId::Deployments, key, Value::Object(status))
}

// ---------------------------------------------------------------------------------------------
// StatefulSets

fn statefulset_pods(c: &Controller, statefulset: &Value) -> BTreeMap<u32, Value> {
    let namespace = text(statefulset, "/metadata/namespace");
    let name = text(statefulset, "/metadata/name");
    let (pods, _) = c.store.list_objects(ResourceId::Pods, Some(namespace));
    pods.iter()
        .filter_map(|p| {
            let pod = p.value();
            let owned = controller_ref(&pod)
                .is_some_and(|(kind, owner)| kind == "StatefulSet" && owner == name);
            let ordinal = p
                .name()
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('-'))
                .and_then(|n| n.parse::<u32>().ok());
            match (owned, ordinal) {
                (true, Some(ordinal)) => Some((ordinal, pod)),
                _ => None,
            }
        })
        .collect()
}

pub(super) fn delete_statefulset_pods(
    c: &mut Controller,
    statefulset: &Value,
) -> Result<(), StoreError> {
    let namespace = text(statefulset, "/metadata/namespace");
    let name = text(statefulset, "/metadata/name");
    if c.store
        .get_object(ResourceId::StatefulSets, namespace, name)
        .is_some()
    {
        return Ok(());
    }
    for pod in statefulset_pods(c, statefulset).values() {
        if !is_terminating(pod) {
            delete_pod(c, pod)?;
        }
    }
    Ok(())
}

pub(super) fn reconcile_statefulset(c: &mut Controller, key: &Key) -> Result<(), StoreError> {
    let Some(stored) = c.store.get_object(ResourceId::StatefulSets, &key.0, &key.1) else {
        return Ok(());
    };
    let statefulset = stored.value();
    let Some(spec) = statefulset.get("spec").cloned() else {
        return Ok(());
    };
    let replicas = u32::try_from(
        spec.get("replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(0),
    )
    .unwrap_or(0);
    let template = spec.get("template").cloned().unwrap_or_else(|| json!({}));
    let service_name = text(&spec, "/serviceName").to_string();
    let parallel = text(&spec, "/podManagementPolicy") == "Parallel";
    let on_delete = text(&spec, "/updateStrategy/type") == "OnDelete";
    let partition = spec
        .pointer("/updateStrategy/rollingUpdate/partition")
        .and_then(Value::as_i64)
        .and_then(|p| u32::try_from(p).ok())
        .unwrap_or(0);
    let pods = statefulset_pods(c, &statefulset);
    let active: Vec<&Value> = pods.values().filter(|p| !is_terminating(p)).collect();
    let revision = current_revision(
        c,
        ResourceId::StatefulSets,
        &statefulset,
        format!("{}-{}", key.1, template_hash(&template)),
        &active,
        REVISION_HASH,
    );
    let owner = json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet", "name": key.1,
        "uid": stored.uid(), "controller": true, "blockOwnerDeletion": true,
    });

    let mut blocked = false;
    let mut acted = false;
    let mut created = 0;
    for ordinal in 0..replicas {
        if (blocked && !parallel) || created >= MAX_CREATES_PER_PASS {
            break;
        }
        match pods.get(&ordinal) {
            None => {
                let name = format!("{}-{ordinal}", key.1);
                let mut pod = pod_from_template(
                    &template,
                    &key.0,
                    &name,
                    &[
                        (REVISION_HASH, revision.clone()),
                        (POD_NAME_LABEL, name.clone()),
                        (POD_INDEX_LABEL, ordinal.to_string()),
                    ],
                    owner.clone(),
                );
                if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.insert("hostname".into(), json!(name));
                    if !service_name.is_empty() {
                        spec.insert("subdomain".into(), json!(service_name));
                    }
                }
                match c
                    .store
                    .create_object(ResourceId::Pods, pod, WriteOptions::controller())
                {
                    Ok(_) | Err(StoreError::AlreadyExists { .. }) => {}
                    Err(err) => return Err(err),
                }
                acted = true;
                blocked = true;
                created += 1;
            }
            Some(pod) if is_terminating(pod) || !is_ready(pod) => blocked = true,
            Some(_) => {}
        }
    }
    let extras: Vec<&Value> = pods.range(replicas..).map(|(_, p)| p).rev().collect();
    if !acted && (!blocked || parallel) {
        if parallel {
            for pod in extras.iter().filter(|p| !is_terminating(p)) {
                delete_pod(c, pod)?;
                acted = true;
            }
        } else if !extras.iter().any(|p| is_terminating(p))
            && let Some(pod) = extras.first()
        {
            delete_pod(c, pod)?;
            acted = true;
        }
    }
    let settled = !acted && !blocked && extras.is_empty();
    if settled && !on_delete && !pods.values().any(is_terminating) {
        // Rolling update: the highest ordinal not at the update revision goes first.
        let stale = pods
            .range(partition.min(replicas)..replicas)
            .rev()
            .find(|(_, p)| label(p, REVISION_HASH) != revision);
        if let Some((_, pod)) = stale {
            delete_pod(c, pod)?;
        }
    }

    // Status.
    let ready = active.iter().filter(|p| is_ready(p)).count() as i64;
    let updated = active
        .iter()
        .filter(|p| label(p, REVISION_HASH) == revision)
        .count() as i64;
    let count = active.len() as i64;
    let mut by_revision: HashMap<&str, i64> = HashMap::new();
    for pod in &active {
        *by_revision.entry(label(pod, REVISION_HASH)).or_default() += 1;
    }
    let rolled_out = updated == i64::from(replicas) && count == i64::from(replicas);
    let current_revision = if rolled_out {
        revision.clone()
    } else {
        let old = text(&statefulset, "/status/currentRevision");
        if old.is_empty() {
            revision.clone()
        } else {
            old.to_string()
        }
    };
    let current = by_revision
        .get(current_revision.as_str())
        .copied()
        .unwrap_or(0);
    let mut status = counts(&[
        ("replicas", count),
        ("readyReplicas", ready),
        ("availableReplicas", ready),
        ("currentReplicas", current),
        ("updatedReplicas", updated),
    ]);
    status.insert(
        "observedGeneration".into(),
        statefulset
            .pointer("/metadata/generation")
            .cloned()
            .unwrap_or_else(|| json!(1)),
    );
    status.insert("currentRevision".into(), json!(current_revision));
    status.insert("updateRevision".into(), json!(revision));
    status.insert("collisionCount".into(), json!(0));
    write_status(c, ResourceId::StatefulSets, key, Value::Object(status))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(json!({"matchLabels": {"app": "web"}}), json!({"app": "web", "x": "y"}), true)]
    #[case(json!({"matchLabels": {"app": "web"}}), json!({"app": "api"}), false)]
    #[case(json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}), json!({"tier": "b"}), true)]
    #[case(json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]}), json!({}), true)]
    #[case(json!({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}), json!({}), false)]
    #[case(json!({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}), json!({}), true)]
    #[case(json!({"matchExpressions": [{"key": "tier", "operator": "Bogus"}]}), json!({"tier": "a"}), false)]
    fn label_selectors(#[case] selector: Value, #[case] labels: Value, #[case] expected: bool) {
        assert_eq!(selector_matches(&selector, labels.as_object()), expected);
    }

    #[rstest]
    #[case(None, 3, true, 1)]
    #[case(None, 3, false, 0)]
    #[case(Some(json!("50%")), 3, true, 2)]
    #[case(Some(json!("50%")), 3, false, 1)]
    #[case(Some(json!(2)), 3, false, 2)]
    #[case(Some(json!("2")), 3, false, 2)]
    fn surge_and_unavailable(
        #[case] value: Option<Value>,
        #[case] replicas: i64,
        #[case] round_up: bool,
        #[case] expected: i64,
    ) {
        assert_eq!(resolve(value.as_ref(), replicas, round_up, 25), expected);
    }

    #[test]
    fn owners_of_pods() {
        let pod = json!({"metadata": {"namespace": "shop", "ownerReferences": [
            {"kind": "ReplicaSet", "name": "web-abc12", "controller": true}]}});
        assert_eq!(
            owner_of(&pod),
            Some((ResourceId::Deployments, ("shop".into(), "web".into())))
        );
        let pod = json!({"metadata": {"namespace": "data", "ownerReferences": [
            {"kind": "StatefulSet", "name": "mongodb", "controller": true}]}});
        assert_eq!(
            owner_of(&pod),
            Some((ResourceId::StatefulSets, ("data".into(), "mongodb".into())))
        );
        assert_eq!(owner_of(&json!({"metadata": {}})), None);
    }

    #[test]
    fn deletion_prefers_unready_then_newest() {
        let pod = |name: &str, ready: bool, created: &str| {
            json!({"metadata": {"name": name, "creationTimestamp": created},
                   "spec": {"nodeName": "n"}, "status": {"podIP": "127.0.0.1",
                   "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}})
        };
        let mut pods = vec![
            pod("a", true, "2025-01-01T00:00:00Z"),
            pod("b", true, "2025-01-02T00:00:00Z"),
            pod("c", false, "2025-01-01T00:00:00Z"),
        ];
        deletion_order(&mut pods);
        let names: Vec<&str> = pods.iter().map(|p| text(p, "/metadata/name")).collect();
        assert_eq!(names, ["c", "b", "a"]);
    }
}
