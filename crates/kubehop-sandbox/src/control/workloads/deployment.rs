//! The Deployment controller: pods owned by the (unserved) ReplicaSet of each template
//! revision, rolled out with Recreate or RollingUpdate (maxSurge, maxUnavailable).

use super::*;

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

pub(in crate::control) fn reconcile_deployment(
    c: &mut Controller,
    key: &Key,
) -> Result<(), StoreError> {
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
    let mut revisions = Revisions::split(&active, &hash);
    let limits = Limits::of(&spec, replicas);
    let old_terminating = pods
        .iter()
        .any(|p| is_terminating(p) && label(p, POD_TEMPLATE_HASH) != hash);
    let plan = plan_pass(&mut revisions, &spec, replicas, limits, old_terminating);
    let owner = json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": replica_set,
        "uid": replica_set_uid(stored.uid(), &hash),
        "controller": true, "blockOwnerDeletion": true,
    });
    let new_pods = NewPods {
        template: &template,
        namespace: &key.0,
        replica_set: &replica_set,
        hash: &hash,
        owner: &owner,
    };
    for _ in 0..plan.create.min(MAX_CREATES_PER_PASS) {
        create_new_pod(c, &new_pods)?;
    }
    for pod in &plan.delete {
        delete_pod(c, pod)?;
    }
    let status = deployment_status(c, &deployment, &revisions, replicas, limits, &replica_set);
    write_status(c, ResourceId::Deployments, key, Value::Object(status))
}

/// The Deployment's active pods split by revision: `new` at the current template hash,
/// `old` at any other. The counts are taken before a pass deletes any of them.
struct Revisions {
    new: Vec<Value>,
    old: Vec<Value>,
    new_count: i64,
    old_count: i64,
    new_ready: i64,
    old_ready: i64,
}

impl Revisions {
    fn split(active: &[&Value], hash: &str) -> Self {
        let (new, old): (Vec<Value>, Vec<Value>) = active
            .iter()
            .map(|p| (*p).clone())
            .partition(|p| label(p, POD_TEMPLATE_HASH) == hash);
        Self {
            new_count: new.len() as i64,
            old_count: old.len() as i64,
            new_ready: new.iter().filter(|p| is_ready(p)).count() as i64,
            old_ready: old.iter().filter(|p| is_ready(p)).count() as i64,
            new,
            old,
        }
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

/// What one pass does: create `create` pods at the current revision and delete `delete`.
#[derive(Default)]
struct Plan {
    create: i64,
    delete: Vec<Value>,
}

/// Decides one pass: a paused Deployment does nothing; Recreate deletes every old pod and
/// waits for them to go before creating new ones; a rolling update surges and scales down
/// old pods within the limits.
fn plan_pass(
    revisions: &mut Revisions,
    spec: &Value,
    replicas: i64,
    limits: Limits,
    old_terminating: bool,
) -> Plan {
    let mut plan = Plan::default();
    let paused = spec.get("paused").and_then(Value::as_bool).unwrap_or(false);
    if paused {
        // A paused Deployment only scales what it has.
    } else if limits.recreate {
        if revisions.old_count > 0 {
            plan.delete.append(&mut revisions.old);
        } else if old_terminating {
            // Wait until the old pods are gone.
        } else {
            scale_new(revisions, replicas, &mut plan);
        }
    } else if revisions.old_count == 0 {
        scale_new(revisions, replicas, &mut plan);
    } else {
        plan_rolling(revisions, replicas, limits, &mut plan);
    }
    plan
}

/// Scales the current revision to `replicas`: creates the missing pods or deletes the extra
/// ones, the cheapest to lose first.
fn scale_new(revisions: &mut Revisions, replicas: i64, plan: &mut Plan) {
    let new_count = revisions.new_count;
    if new_count < replicas {
        plan.create = replicas - new_count;
    } else if new_count > replicas {
        deletion_order(&mut revisions.new);
        let extra = usize::try_from(new_count - replicas).unwrap_or(0);
        plan.delete.extend(revisions.new.drain(..extra));
    }
}

/// A rolling update step: create new pods up to maxSurge; when none can be created, delete
/// extra new pods and as many old ones as maxUnavailable allows (unready old pods first).
fn plan_rolling(revisions: &mut Revisions, replicas: i64, limits: Limits, plan: &mut Plan) {
    let (new_count, old_count) = (revisions.new_count, revisions.old_count);
    let total = new_count + old_count;
    if new_count < replicas {
        plan.create = (replicas - new_count)
            .min(replicas + limits.max_surge - total)
            .max(0);
    }
    if plan.create != 0 {
        return;
    }
    let min_available = replicas - limits.max_unavailable;
    let new_unavailable = new_count - revisions.new_ready;
    let mut budget = total - min_available - new_unavailable;
    if new_count > replicas {
        deletion_order(&mut revisions.new);
        let extra = usize::try_from(new_count - replicas).unwrap_or(0);
        plan.delete.extend(revisions.new.drain(..extra));
    }
    if budget <= 0 {
        return;
    }
    let old = &mut revisions.old;
    deletion_order(old);
    // Unhealthy old pods first: removing them costs no availability.
    let unhealthy: Vec<Value> = old.iter().filter(|p| !is_ready(p)).cloned().collect();
    for pod in unhealthy {
        if budget == 0 {
            break;
        }
        plan.delete.push(pod);
        budget -= 1;
    }
    let mut spare = revisions.new_ready + revisions.old_ready - min_available;
    for pod in old.iter().filter(|p| is_ready(p)) {
        if budget == 0 || spare <= 0 {
            break;
        }
        plan.delete.push(pod.clone());
        budget -= 1;
        spare -= 1;
    }
}

/// What a new pod of the current revision is made from.
struct NewPods<'a> {
    template: &'a Value,
    namespace: &'a str,
    replica_set: &'a str,
    hash: &'a str,
    owner: &'a Value,
}

/// Creates one pod `<replica set>-<suffix>`, drawing another suffix when the name is taken
/// (up to five times).
fn create_new_pod(c: &mut Controller, new_pods: &NewPods<'_>) -> Result<(), StoreError> {
    let mut attempts = 0;
    loop {
        let name = format!("{}-{}", new_pods.replica_set, c.rng.name_suffix(5));
        let pod = pod_from_template(
            new_pods.template,
            new_pods.namespace,
            &name,
            &[(POD_TEMPLATE_HASH, new_pods.hash.to_owned())],
            new_pods.owner.clone(),
        );
        match c
            .store
            .create_object(ResourceId::Pods, pod, WriteOptions::controller())
        {
            Err(StoreError::AlreadyExists { .. }) if attempts < 5 => attempts += 1,
            Err(err) => return Err(err),
            Ok(_) => return Ok(()),
        }
    }
}

/// The Deployment's status: replica counts and the Available and Progressing conditions.
fn deployment_status(
    c: &Controller,
    deployment: &Value,
    revisions: &Revisions,
    replicas: i64,
    limits: Limits,
    replica_set: &str,
) -> Map<String, Value> {
    let updated = revisions.new_count;
    let ready = revisions.new_ready + revisions.old_ready;
    let available = ready;
    let complete = updated == replicas && revisions.old_count == 0 && available == replicas;
    let now = c.now();
    let existing: Vec<Value> = deployment
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let available_condition = if available >= replicas - limits.max_unavailable {
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
        ("replicas", revisions.new_count + revisions.old_count),
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
