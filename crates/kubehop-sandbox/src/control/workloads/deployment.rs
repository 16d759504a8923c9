//! The Deployment controller, as the real one works: one ReplicaSet per template revision,
//! named `<deployment>-<pod-template-hash>`, owned by the Deployment and annotated with its
//! `deployment.kubernetes.io/revision`; a rollout scales the new ReplicaSet up and the old
//! ones down (Recreate, or RollingUpdate within maxSurge / maxUnavailable), and the pods
//! follow from the ReplicaSet controller. Old ReplicaSets scaled to zero are kept as
//! revision history (`kubectl rollout history|undo`), at most `revisionHistoryLimit`.

use super::replicaset::{SetKind, is_active, reconcile_set};
use super::*;
use crate::control::events::{Event, component};
use crate::store::Part;

pub(super) const REVISION: &str = "deployment.kubernetes.io/revision";
const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
const MAX_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/max-replicas";
/// Deployment annotations a ReplicaSet does not copy.
const NOT_COPIED: &[&str] = &[
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS_ANNOTATION,
    "kubectl.kubernetes.io/last-applied-configuration",
];

/// One ReplicaSet of a Deployment as a pass sees it.
#[derive(Debug, Clone)]
struct Set {
    name: String,
    value: Value,
    /// `spec.replicas`, as this pass decides it.
    replicas: i64,
    /// Active pods, the ready ones among them, and pods still terminating.
    pods: i64,
    ready: i64,
    terminating: i64,
    revision: i64,
}

impl Set {
    fn of(c: &Controller, value: Value) -> Self {
        let all = super::replicaset::owned_pods(c, SetKind::ReplicaSet, &value);
        let terminating = all.iter().filter(|p| is_terminating(p)).count() as i64;
        let pods: Vec<Value> = all.into_iter().filter(is_active).collect();
        Set {
            name: text(&value, "/metadata/name").to_string(),
            replicas: value
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1),
            pods: pods.len() as i64,
            ready: pods.iter().filter(|p| is_ready(p)).count() as i64,
            terminating,
            revision: revision_of(&value),
            value,
        }
    }
}

pub(super) fn revision_of(object: &Value) -> i64 {
    object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION))
        .and_then(Value::as_str)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// The ReplicaSets a Deployment controls (by owner reference name and uid).
fn owned_sets(c: &Controller, deployment: &Value) -> Vec<Value> {
    let namespace = text(deployment, "/metadata/namespace");
    let name = text(deployment, "/metadata/name");
    let uid = text(deployment, "/metadata/uid");
    let (sets, _) = c
        .store
        .list_objects(ResourceId::ReplicaSets, Some(namespace));
    sets.iter()
        .map(|s| s.value())
        .filter(|set| {
            set.pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|o| {
                    o.get("controller").and_then(Value::as_bool) == Some(true)
                        && text(o, "/kind") == "Deployment"
                        && text(o, "/name") == name
                        && text(o, "/uid") == uid
                })
        })
        .collect()
}

/// Pods of the Deployment's revisions: owned by a ReplicaSet `<deployment>-<their
/// pod-template-hash>` and matching its selector (served or not: a replayed dump may carry
/// pods without their ReplicaSets).
fn revision_pods(c: &Controller, deployment: &Value) -> Vec<Value> {
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

/// A deleted Deployment: the garbage collector deletes its ReplicaSets (whose pods follow).
pub(in crate::control) fn delete_deployment_pods(
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
    for set in owned_sets(c, deployment) {
        match c.store.delete_object(
            ResourceId::ReplicaSets,
            &key.0,
            text(&set, "/metadata/name"),
            &DeleteOptions::default(),
        ) {
            Ok(_) | Err(StoreError::NotFound { .. }) => {}
            Err(err) => return Err(err),
        }
    }
    for pod in revision_pods(c, deployment) {
        if !is_terminating(&pod) {
            delete_pod(c, &pod)?;
        }
    }
    Ok(())
}

pub(in crate::control) fn reconcile_deployment(
    c: &mut Controller,
    key: &Key,
) -> Result<(), StoreError> {
    let Some(stored) = c.store.get_object(ResourceId::Deployments, &key.0, &key.1) else {
        return Ok(());
    };
    let deployment = stored.value();
    if is_terminating(&deployment) {
        return Ok(());
    }
    let Some(spec) = deployment.get("spec").cloned() else {
        return Ok(());
    };
    let replicas = spec
        .get("replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .clamp(0, MAX_REPLICAS);
    let template = spec.get("template").cloned().unwrap_or_else(|| json!({}));
    let pods = revision_pods(c, &deployment);
    let active: Vec<&Value> = pods.iter().filter(|p| is_active(p)).collect();
    let hash = current_revision(
        c,
        ResourceId::Deployments,
        &deployment,
        template_hash(&template),
        &active,
        POD_TEMPLATE_HASH,
    );
    adopt_replayed_pods(c, &deployment, &pods, &hash)?;
    let limits = Limits::of(&spec, replicas);
    let mut sets: Vec<Set> = owned_sets(c, &deployment)
        .into_iter()
        .map(|v| Set::of(c, v))
        .collect();
    sets.sort_by(|a, b| (a.revision, &a.name).cmp(&(b.revision, &b.name)));
    let new_name = format!("{}-{hash}", key.1);
    let paused = spec.get("paused").and_then(Value::as_bool).unwrap_or(false);
    let mut created = false;
    if !paused && !sets.iter().any(|s| s.name == new_name) {
        let max_revision = sets.iter().map(|s| s.revision).max().unwrap_or(0);
        let value = create_new_set(c, &deployment, &new_name, &hash, max_revision + 1, limits)?;
        sets.push(Set::of(c, value));
        created = true;
    }
    let new_index = sets.iter().position(|s| s.name == new_name);
    if let Some(index) = new_index {
        sync_revision(c, &deployment, &mut sets, index)?;
    }
    let before: Vec<i64> = sets.iter().map(|s| s.replicas).collect();
    if !paused {
        plan(&mut sets, new_index, replicas, limits);
    }
    apply_scaling(c, &deployment, &mut sets, &before, new_index)?;
    clean_up_history(c, &spec, &sets, new_index)?;
    let outcome = Outcome {
        sets: &sets,
        new_index,
        replicas,
        limits,
        created,
    };
    let status = deployment_status(c, &deployment, &outcome);
    write_status(c, ResourceId::Deployments, key, Value::Object(status))
}

/// A replayed Deployment whose pods name ReplicaSets the store does not hold: those
/// ReplicaSets are created (at the pods' count), so the pods are adopted, not rolled.
fn adopt_replayed_pods(
    c: &mut Controller,
    deployment: &Value,
    pods: &[Value],
    current: &str,
) -> Result<(), StoreError> {
    let mut by_hash: BTreeMap<String, i64> = BTreeMap::new();
    for pod in pods.iter().filter(|p| is_active(p)) {
        *by_hash
            .entry(label(pod, POD_TEMPLATE_HASH).to_string())
            .or_default() += 1;
    }
    let namespace = text(deployment, "/metadata/namespace");
    let name = text(deployment, "/metadata/name");
    // Old revisions first, the current one last (the newest).
    let mut ordered: Vec<(String, i64)> = by_hash.into_iter().collect();
    ordered.sort_by_key(|(hash, _)| hash == current);
    for (revision, (hash, count)) in (1..).zip(ordered) {
        let set_name = format!("{name}-{hash}");
        if c.store
            .get_object(ResourceId::ReplicaSets, namespace, &set_name)
            .is_some()
        {
            continue;
        }
        let set = new_set_object(deployment, &set_name, &hash, revision, count);
        c.store
            .create_object(ResourceId::ReplicaSets, set, WriteOptions::controller())?;
    }
    Ok(())
}

/// The ReplicaSet object of revision `revision` (`hash`) with `replicas`.
fn new_set_object(
    deployment: &Value,
    name: &str,
    hash: &str,
    revision: i64,
    replicas: i64,
) -> Value {
    let mut template = deployment
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if !template.get("metadata").is_some_and(Value::is_object) {
        template["metadata"] = json!({});
    }
    if !template["metadata"]
        .get("labels")
        .is_some_and(Value::is_object)
    {
        template["metadata"]["labels"] = json!({});
    }
    template["metadata"]["labels"][POD_TEMPLATE_HASH] = json!(hash);
    let mut selector = deployment
        .pointer("/spec/selector")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if !selector.get("matchLabels").is_some_and(Value::is_object) {
        selector["matchLabels"] = json!({});
    }
    selector["matchLabels"][POD_TEMPLATE_HASH] = json!(hash);
    let mut annotations: Map<String, Value> = deployment
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(k, _)| !NOT_COPIED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    annotations.insert(REVISION.into(), json!(revision.to_string()));
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": text(deployment, "/metadata/namespace"),
            "labels": template["metadata"]["labels"].clone(),
            "annotations": annotations,
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "Deployment",
                "name": text(deployment, "/metadata/name"),
                "uid": text(deployment, "/metadata/uid"),
                "controller": true, "blockOwnerDeletion": true,
            }],
        },
        "spec": {"replicas": replicas, "selector": selector, "template": template},
    })
}

/// Creates the ReplicaSet of the current template (at 0 replicas: the plan scales it).
fn create_new_set(
    c: &mut Controller,
    deployment: &Value,
    name: &str,
    hash: &str,
    revision: i64,
    limits: Limits,
) -> Result<Value, StoreError> {
    let mut set = new_set_object(deployment, name, hash, revision, 0);
    let desired = deployment
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    set["metadata"]["annotations"][DESIRED_REPLICAS] = json!(desired.to_string());
    set["metadata"]["annotations"][MAX_REPLICAS_ANNOTATION] =
        json!((desired + limits.max_surge).to_string());
    let stored = c
        .store
        .create_object(ResourceId::ReplicaSets, set, WriteOptions::controller())?;
    Ok(stored.value())
}

/// The new ReplicaSet carries the highest revision (after `rollout undo` an old one becomes
/// new again: it gets the next revision and remembers its old one in revision-history), and
/// the Deployment the same revision annotation.
fn sync_revision(
    c: &mut Controller,
    deployment: &Value,
    sets: &mut [Set],
    index: usize,
) -> Result<(), StoreError> {
    let max_old = sets
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != index)
        .map(|(_, s)| s.revision)
        .max()
        .unwrap_or(0);
    let set = &mut sets[index];
    if set.revision <= max_old {
        let old = set.revision;
        let revision = max_old + 1;
        let namespace = text(deployment, "/metadata/namespace").to_string();
        let stored = c.store.modify_object(
            ResourceId::ReplicaSets,
            &namespace,
            &set.name,
            Part::Whole,
            WriteOptions::controller(),
            |value| {
                let annotations = ensure_map(value, "annotations");
                let history = annotations
                    .get(REVISION_HISTORY)
                    .and_then(Value::as_str)
                    .filter(|h| !h.is_empty())
                    .map(|h| format!("{h},{old}"))
                    .unwrap_or_else(|| old.to_string());
                if old > 0 {
                    annotations.insert(REVISION_HISTORY.into(), json!(history));
                }
                annotations.insert(REVISION.into(), json!(revision.to_string()));
                Ok(())
            },
        )?;
        set.value = stored.value();
        set.revision = revision;
    }
    let revision = set.revision.to_string();
    if revision_of(deployment).to_string() != revision {
        c.store.modify_object(
            ResourceId::Deployments,
            text(deployment, "/metadata/namespace"),
            text(deployment, "/metadata/name"),
            Part::Whole,
            WriteOptions::controller(),
            |value| {
                ensure_map(value, "annotations").insert(REVISION.into(), json!(revision));
                Ok(())
            },
        )?;
    }
    Ok(())
}

/// `metadata.<field>` as a map, created when missing.
fn ensure_map<'a>(object: &'a mut Value, field: &str) -> &'a mut Map<String, Value> {
    if !object.get("metadata").is_some_and(Value::is_object) {
        object["metadata"] = json!({});
    }
    let metadata = &mut object["metadata"];
    if !metadata.get(field).is_some_and(Value::is_object) {
        metadata[field] = json!({});
    }
    match metadata.get_mut(field) {
        Some(Value::Object(map)) => map,
        _ => unreachable!("just made an object"),
    }
}

/// The rollout strategy's limits: maxSurge and maxUnavailable resolved against the replica
/// count (Recreate: no surge, everything may be unavailable).
#[derive(Clone, Copy)]
struct Limits {
    recreate: bool,
    max_surge: i64,
    max_unavailable: i64,
}

impl Limits {
    fn of(spec: &Value, replicas: i64) -> Self {
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
        Self {
            recreate,
            max_surge,
            max_unavailable,
        }
    }
}

/// Decides the ReplicaSets' replicas for this pass (in `sets[..].replicas`).
fn plan(sets: &mut [Set], new_index: Option<usize>, replicas: i64, limits: Limits) {
    let Some(new_index) = new_index else {
        return;
    };
    let olds = || (0..sets.len()).filter(move |i| *i != new_index);
    if limits.recreate {
        let old_pods: i64 = olds().map(|i| sets[i].pods + sets[i].terminating).sum();
        let old_replicas: i64 = olds().map(|i| sets[i].replicas).sum();
        for i in olds().collect::<Vec<_>>() {
            sets[i].replicas = 0;
        }
        if old_pods == 0 && old_replicas == 0 {
            sets[new_index].replicas = replicas;
        }
        return;
    }
    // Scale the new ReplicaSet up within maxSurge (or down to the replica count).
    let new = sets[new_index].replicas;
    let total: i64 = sets.iter().map(|s| s.replicas).sum();
    if new > replicas {
        sets[new_index].replicas = replicas;
    } else if new < replicas {
        let up = (replicas + limits.max_surge - total)
            .min(replicas - new)
            .max(0);
        sets[new_index].replicas = new + up;
        if up > 0 {
            return;
        }
    }
    scale_down_old(sets, new_index, replicas, limits);
}

/// Scales old ReplicaSets down as far as maxUnavailable allows: unhealthy replicas first (they
/// cost no availability), then the oldest ReplicaSets' ready ones.
fn scale_down_old(sets: &mut [Set], new_index: usize, replicas: i64, limits: Limits) {
    let total: i64 = sets.iter().map(|s| s.replicas).sum();
    let min_available = replicas - limits.max_unavailable;
    let new = &sets[new_index];
    let new_unavailable = (new.replicas - new.ready).max(0);
    let mut budget = total - min_available - new_unavailable;
    if budget <= 0 {
        return;
    }
    for (i, set) in sets.iter_mut().enumerate() {
        if i == new_index || budget == 0 {
            continue;
        }
        let unhealthy = (set.replicas - set.ready).max(0).min(set.replicas);
        let down = unhealthy.min(budget);
        set.replicas -= down;
        budget -= down;
    }
    let available: i64 = sets.iter().map(|s| s.ready.min(s.replicas)).sum();
    let mut allowed = available - min_available;
    for (i, set) in sets.iter_mut().enumerate() {
        if i == new_index || allowed <= 0 {
            continue;
        }
        let down = set.replicas.min(allowed);
        set.replicas -= down;
        allowed -= down;
    }
}

/// Writes the ReplicaSets whose replicas the plan changed (ScalingReplicaSet events) and runs
/// the ReplicaSet controller on each at once, the new one first, so pods follow in the same
/// pass.
fn apply_scaling(
    c: &mut Controller,
    deployment: &Value,
    sets: &mut [Set],
    before: &[i64],
    new_index: Option<usize>,
) -> Result<(), StoreError> {
    let namespace = text(deployment, "/metadata/namespace").to_string();
    let mut order: Vec<usize> = new_index.into_iter().collect();
    order.extend((0..sets.len()).filter(|i| Some(*i) != new_index));
    for i in order {
        let (from, to) = (before[i], sets[i].replicas);
        if from != to {
            let desired = deployment
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let stored = c.store.modify_object(
                ResourceId::ReplicaSets,
                &namespace,
                &sets[i].name,
                Part::Whole,
                WriteOptions::controller(),
                |value| {
                    value["spec"]["replicas"] = json!(to);
                    ensure_map(value, "annotations")
                        .insert(DESIRED_REPLICAS.into(), json!(desired.to_string()));
                    Ok(())
                },
            )?;
            sets[i].value = stored.value();
            let direction = if to > from { "up" } else { "down" };
            let message = format!(
                "Scaled {direction} replica set {} from {from} to {to}",
                sets[i].name
            );
            c.record(
                deployment,
                Event::normal(component::DEPLOYMENT, "ScalingReplicaSet", message),
            );
            // The ReplicaSet controller acts at once (its own pass would too, later).
            let set_key = (namespace.clone(), sets[i].name.clone());
            reconcile_set(c, SetKind::ReplicaSet, &set_key)?;
            let refreshed = Set::of(c, sets[i].value.clone());
            sets[i].pods = refreshed.pods;
            sets[i].ready = refreshed.ready;
            sets[i].terminating = refreshed.terminating;
        }
    }
    Ok(())
}

/// Deletes the oldest ReplicaSets scaled to zero beyond `revisionHistoryLimit`.
fn clean_up_history(
    c: &mut Controller,
    spec: &Value,
    sets: &[Set],
    new_index: Option<usize>,
) -> Result<(), StoreError> {
    let limit = spec
        .get("revisionHistoryLimit")
        .and_then(Value::as_i64)
        .unwrap_or(10)
        .max(0);
    let idle: Vec<&Set> = sets
        .iter()
        .enumerate()
        .filter(|(i, s)| Some(*i) != new_index && s.replicas == 0 && s.pods == 0)
        .map(|(_, s)| s)
        .collect();
    let extra = idle
        .len()
        .saturating_sub(usize::try_from(limit).unwrap_or(0));
    for set in idle.into_iter().take(extra) {
        match c.store.delete_object(
            ResourceId::ReplicaSets,
            text(&set.value, "/metadata/namespace"),
            &set.name,
            &DeleteOptions::default(),
        ) {
            Ok(_) | Err(StoreError::NotFound { .. }) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// What a pass leaves for the status.
struct Outcome<'a> {
    sets: &'a [Set],
    new_index: Option<usize>,
    replicas: i64,
    limits: Limits,
    created: bool,
}

/// The Deployment's status: replica counts and the Available and Progressing conditions
/// with the real controller's reasons.
fn deployment_status(
    c: &Controller,
    deployment: &Value,
    outcome: &Outcome<'_>,
) -> Map<String, Value> {
    let sets = outcome.sets;
    let new = outcome.new_index.map(|i| &sets[i]);
    let new_name = new.map(|s| s.name.as_str()).unwrap_or("");
    let replicas = outcome.replicas;
    let total: i64 = sets.iter().map(|s| s.pods).sum();
    let updated = new.map(|s| s.pods).unwrap_or(0);
    let ready: i64 = sets.iter().map(|s| s.ready).sum();
    let available = ready;
    let complete = updated == replicas && total == replicas && available == replicas;
    let now = c.now();
    let existing: Vec<Value> = deployment
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let available_condition = if available >= replicas - outcome.limits.max_unavailable {
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
    let (reason, message) = if complete {
        (
            "NewReplicaSetAvailable",
            format!("ReplicaSet \"{new_name}\" has successfully progressed."),
        )
    } else if outcome.created {
        (
            "NewReplicaSetCreated",
            format!("Created new replica set \"{new_name}\""),
        )
    } else {
        (
            "ReplicaSetUpdated",
            format!("ReplicaSet \"{new_name}\" is progressing."),
        )
    };
    let progressing = condition(&existing, "Progressing", true, reason, &message, &now);
    let mut status = counts(&[
        ("replicas", total),
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
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(name: &str, replicas: i64, pods: i64, ready: i64) -> Set {
        Set {
            name: name.into(),
            value: json!({}),
            replicas,
            pods,
            ready,
            terminating: 0,
            revision: 0,
        }
    }

    fn rolling(surge: i64, unavailable: i64) -> Limits {
        Limits {
            recreate: false,
            max_surge: surge,
            max_unavailable: unavailable,
        }
    }

    #[test]
    fn a_rollout_surges_first_then_scales_old_down_within_availability() {
        // 3 old ready, new at 0: surge by 1.
        let mut sets = vec![set("old", 3, 3, 3), set("new", 0, 0, 0)];
        plan(&mut sets, Some(1), 3, rolling(1, 0));
        assert_eq!((sets[0].replicas, sets[1].replicas), (3, 1));
        // The new pod is not ready yet: nothing more.
        let mut sets = vec![set("old", 3, 3, 3), set("new", 1, 1, 0)];
        plan(&mut sets, Some(1), 3, rolling(1, 0));
        assert_eq!((sets[0].replicas, sets[1].replicas), (3, 1));
        // Ready: one old goes.
        let mut sets = vec![set("old", 3, 3, 3), set("new", 1, 1, 1)];
        plan(&mut sets, Some(1), 3, rolling(1, 0));
        assert_eq!((sets[0].replicas, sets[1].replicas), (2, 1));
    }

    #[test]
    fn unhealthy_old_replicas_go_first_and_recreate_waits_for_old_pods() {
        let mut sets = vec![set("old", 3, 3, 1), set("new", 3, 3, 0)];
        plan(&mut sets, Some(1), 3, rolling(0, 1));
        assert_eq!(
            sets[0].replicas, 2,
            "one unhealthy old replica within the budget"
        );
        let recreate = Limits {
            recreate: true,
            max_surge: 0,
            max_unavailable: 3,
        };
        let mut sets = vec![set("old", 3, 3, 3), set("new", 0, 0, 0)];
        plan(&mut sets, Some(1), 3, recreate);
        assert_eq!((sets[0].replicas, sets[1].replicas), (0, 0));
        let mut sets = vec![set("old", 0, 0, 0), set("new", 0, 0, 0)];
        plan(&mut sets, Some(1), 3, recreate);
        assert_eq!(sets[1].replicas, 3);
    }
}
