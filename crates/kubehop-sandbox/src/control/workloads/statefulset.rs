//! The StatefulSet controller: pods `<statefulset>-<ordinal>` created in order (or in
//! parallel), scaled down from the highest ordinal, rolled highest ordinal first.

use super::*;

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

pub(in crate::control) fn delete_statefulset_pods(
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

pub(in crate::control) fn reconcile_statefulset(
    c: &mut Controller,
    key: &Key,
) -> Result<(), StoreError> {
    let Some(stored) = c.store.get_object(ResourceId::StatefulSets, &key.0, &key.1) else {
        return Ok(());
    };
    let statefulset = stored.value();
    let Some(spec) = statefulset.get("spec").cloned() else {
        return Ok(());
    };
    let set = SetSpec::of(&spec);
    let pods = statefulset_pods(c, &statefulset);
    let active: Vec<&Value> = pods.values().filter(|p| !is_terminating(p)).collect();
    let revision = current_revision(
        c,
        ResourceId::StatefulSets,
        &statefulset,
        format!("{}-{}", key.1, template_hash(&set.template)),
        &active,
        REVISION_HASH,
    );
    let owner = json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet", "name": key.1,
        "uid": stored.uid(), "controller": true, "blockOwnerDeletion": true,
    });
    let (mut acted, blocked) = create_missing(c, key, &set, &pods, &revision, &owner)?;
    let extras: Vec<&Value> = pods.range(set.replicas..).map(|(_, p)| p).rev().collect();
    if !acted && (!blocked || set.parallel) {
        acted = delete_extras(c, &extras, set.parallel)?;
    }
    let settled = !acted && !blocked && extras.is_empty();
    if settled && !set.on_delete && !pods.values().any(is_terminating) {
        // Rolling update: the highest ordinal not at the update revision goes first.
        let stale = pods
            .range(set.partition.min(set.replicas)..set.replicas)
            .rev()
            .find(|(_, p)| label(p, REVISION_HASH) != revision);
        if let Some((_, pod)) = stale {
            delete_pod(c, pod)?;
        }
    }
    let status = statefulset_status(&statefulset, &active, &revision, set.replicas);
    write_status(c, ResourceId::StatefulSets, key, Value::Object(status))
}

/// What the StatefulSet controller reads from the spec.
struct SetSpec {
    replicas: u32,
    template: Value,
    service_name: String,
    /// podManagementPolicy Parallel: no waiting for each ordinal to be ready.
    parallel: bool,
    /// updateStrategy OnDelete: no rolling update.
    on_delete: bool,
    /// Ordinals below the partition keep their revision.
    partition: u32,
}

impl SetSpec {
    fn of(spec: &Value) -> Self {
        let replicas = u32::try_from(
            spec.get("replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1)
                .max(0),
        )
        .unwrap_or(0);
        Self {
            replicas,
            template: spec.get("template").cloned().unwrap_or_else(|| json!({})),
            service_name: text(spec, "/serviceName").to_string(),
            parallel: text(spec, "/podManagementPolicy") == "Parallel",
            on_delete: text(spec, "/updateStrategy/type") == "OnDelete",
            partition: spec
                .pointer("/updateStrategy/rollingUpdate/partition")
                .and_then(Value::as_i64)
                .and_then(|p| u32::try_from(p).ok())
                .unwrap_or(0),
        }
    }
}

/// Creates the missing ordinals below `replicas`, in order; with OrderedReady management an
/// ordinal that is missing, terminating or unready blocks the ones above it. Returns
/// (acted, blocked).
fn create_missing(
    c: &mut Controller,
    key: &Key,
    set: &SetSpec,
    pods: &BTreeMap<u32, Value>,
    revision: &str,
    owner: &Value,
) -> Result<(bool, bool), StoreError> {
    let mut blocked = false;
    let mut acted = false;
    let mut created = 0;
    for ordinal in 0..set.replicas {
        if (blocked && !set.parallel) || created >= MAX_CREATES_PER_PASS {
            break;
        }
        match pods.get(&ordinal) {
            None => {
                create_ordinal(c, key, set, ordinal, revision, owner)?;
                acted = true;
                blocked = true;
                created += 1;
            }
            Some(pod) if is_terminating(pod) || !is_ready(pod) => blocked = true,
            Some(_) => {}
        }
    }
    Ok((acted, blocked))
}

/// Creates pod `<statefulset>-<ordinal>` with its stable hostname and subdomain.
fn create_ordinal(
    c: &mut Controller,
    key: &Key,
    set: &SetSpec,
    ordinal: u32,
    revision: &str,
    owner: &Value,
) -> Result<(), StoreError> {
    let name = format!("{}-{ordinal}", key.1);
    let mut pod = pod_from_template(
        &set.template,
        &key.0,
        &name,
        &[
            (REVISION_HASH, revision.to_owned()),
            (POD_NAME_LABEL, name.clone()),
            (POD_INDEX_LABEL, ordinal.to_string()),
        ],
        owner.clone(),
    );
    if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("hostname".into(), json!(name));
        if !set.service_name.is_empty() {
            spec.insert("subdomain".into(), json!(set.service_name));
        }
    }
    match c
        .store
        .create_object(ResourceId::Pods, pod, WriteOptions::controller())
    {
        Ok(_) | Err(StoreError::AlreadyExists { .. }) => Ok(()),
        Err(err) => Err(err),
    }
}

/// Deletes the ordinals at or above `replicas` (`extras`, highest first): all at once when
/// Parallel, else the highest one once no extra is terminating. Returns whether it acted.
fn delete_extras(
    c: &mut Controller,
    extras: &[&Value],
    parallel: bool,
) -> Result<bool, StoreError> {
    let mut acted = false;
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
    Ok(acted)
}

/// The StatefulSet's status: replica counts per revision and the current and update
/// revisions (the current one moves to the update revision once every ordinal has it).
fn statefulset_status(
    statefulset: &Value,
    active: &[&Value],
    revision: &str,
    replicas: u32,
) -> Map<String, Value> {
    let ready = active.iter().filter(|p| is_ready(p)).count() as i64;
    let updated = active
        .iter()
        .filter(|p| label(p, REVISION_HASH) == revision)
        .count() as i64;
    let count = active.len() as i64;
    let mut by_revision: HashMap<&str, i64> = HashMap::new();
    for pod in active {
        *by_revision.entry(label(pod, REVISION_HASH)).or_default() += 1;
    }
    let rolled_out = updated == i64::from(replicas) && count == i64::from(replicas);
    let current_revision = if rolled_out {
        revision.to_owned()
    } else {
        let old = text(statefulset, "/status/currentRevision");
        if old.is_empty() {
            revision.to_owned()
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
    status
}
