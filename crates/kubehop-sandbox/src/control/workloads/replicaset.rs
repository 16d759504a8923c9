//! The ReplicaSet and ReplicationController controllers: keep `spec.replicas` pods of the
//! template, named `<owner>-<5 chars>` and owned by it (the ones cheapest to lose go first),
//! and report replicas / readyReplicas / availableReplicas. Deployments drive their
//! ReplicaSets through `spec.replicas`; a ReplicaSet or ReplicationController applied on its
//! own works the same way.

use super::*;
use crate::control::events::{Event, component};

/// A ReplicaSet (apps/v1, label selector) or a ReplicationController (v1, map selector).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::control) enum SetKind {
    ReplicaSet,
    ReplicationController,
}

impl SetKind {
    pub(in crate::control) fn resource(self) -> ResourceId {
        match self {
            SetKind::ReplicaSet => ResourceId::ReplicaSets,
            SetKind::ReplicationController => ResourceId::ReplicationControllers,
        }
    }

    fn kind(self) -> &'static str {
        match self {
            SetKind::ReplicaSet => "ReplicaSet",
            SetKind::ReplicationController => "ReplicationController",
        }
    }

    fn api_version(self) -> &'static str {
        match self {
            SetKind::ReplicaSet => "apps/v1",
            SetKind::ReplicationController => "v1",
        }
    }

    fn component(self) -> &'static str {
        match self {
            SetKind::ReplicaSet => component::REPLICA_SET,
            SetKind::ReplicationController => component::REPLICATION,
        }
    }
}

/// The selector as a `metav1.LabelSelector` (a ReplicationController's is a plain map; an
/// absent one selects the template's labels, as the API server defaults it).
pub(super) fn label_selector(set: &Value) -> Value {
    match set.pointer("/spec/selector") {
        Some(Value::Object(map))
            if !map.contains_key("matchLabels") && !map.contains_key("matchExpressions") =>
        {
            if map.is_empty() {
                json!({"matchLabels": set.pointer("/spec/template/metadata/labels").cloned().unwrap_or(json!({}))})
            } else {
                json!({ "matchLabels": map })
            }
        }
        Some(selector) => selector.clone(),
        None => {
            json!({"matchLabels": set.pointer("/spec/template/metadata/labels").cloned().unwrap_or(json!({}))})
        }
    }
}

/// The pods `set` controls: its controller owner reference names it and its selector matches.
pub(super) fn owned_pods(c: &Controller, kind: SetKind, set: &Value) -> Vec<Value> {
    let namespace = text(set, "/metadata/namespace");
    let name = text(set, "/metadata/name");
    let selector = label_selector(set);
    let (pods, _) = c.store.list_objects(ResourceId::Pods, Some(namespace));
    pods.iter()
        .map(|p| p.value())
        .filter(|pod| {
            controller_ref(pod) == Some((kind.kind(), name))
                && selector_matches(
                    &selector,
                    pod.pointer("/metadata/labels").and_then(Value::as_object),
                )
        })
        .collect()
}

/// Pods that count toward replicas: neither terminating nor finished.
pub(super) fn is_active(pod: &Value) -> bool {
    !is_terminating(pod) && !matches!(text(pod, "/status/phase"), "Succeeded" | "Failed")
}

/// The owner reference a pod of `set` carries.
fn owner_reference(kind: SetKind, set: &Value) -> Value {
    json!({
        "apiVersion": kind.api_version(), "kind": kind.kind(),
        "name": text(set, "/metadata/name"), "uid": text(set, "/metadata/uid"),
        "controller": true, "blockOwnerDeletion": true,
    })
}

pub(in crate::control) fn reconcile_set(
    c: &mut Controller,
    kind: SetKind,
    key: &Key,
) -> Result<(), StoreError> {
    let Some(stored) = c.store.get_object(kind.resource(), &key.0, &key.1) else {
        return Ok(());
    };
    let set = stored.value();
    if is_terminating(&set) {
        return Ok(());
    }
    let replicas = set
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .clamp(0, MAX_REPLICAS);
    let mut active: Vec<Value> = owned_pods(c, kind, &set)
        .into_iter()
        .filter(is_active)
        .collect();
    let count = active.len() as i64;
    if count < replicas {
        let template = set
            .pointer("/spec/template")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let owner = owner_reference(kind, &set);
        for _ in 0..(replicas - count).min(MAX_CREATES_PER_PASS) {
            let pod = create_pod(c, &template, key, owner.clone())?;
            let message = format!("Created pod: {}", text(&pod, "/metadata/name"));
            c.record(
                &set,
                Event::normal(kind.component(), "SuccessfulCreate", message),
            );
            active.push(pod);
        }
    } else if count > replicas {
        deletion_order(&mut active);
        let extra = usize::try_from(count - replicas).unwrap_or(0);
        for pod in active.drain(..extra) {
            delete_pod(c, &pod)?;
            let message = format!("Deleted pod: {}", text(&pod, "/metadata/name"));
            c.record(
                &set,
                Event::normal(kind.component(), "SuccessfulDelete", message),
            );
        }
    }
    let ready = active.iter().filter(|p| is_ready(p)).count() as i64;
    let mut status = counts(&[
        ("replicas", active.len() as i64),
        ("fullyLabeledReplicas", active.len() as i64),
        ("readyReplicas", ready),
        ("availableReplicas", ready),
    ]);
    status.insert(
        "observedGeneration".into(),
        set.pointer("/metadata/generation")
            .cloned()
            .unwrap_or_else(|| json!(1)),
    );
    // `replicas` is not omitted when 0 (kubectl describe prints it).
    status.entry("replicas").or_insert_with(|| json!(0));
    write_status(c, kind.resource(), key, Value::Object(status))
}

/// Creates one pod `<set>-<suffix>`, drawing another suffix when the name is taken (up to
/// five times); returns it as stored.
fn create_pod(
    c: &mut Controller,
    template: &Value,
    key: &Key,
    owner: Value,
) -> Result<Value, StoreError> {
    let mut attempts = 0;
    loop {
        let name = format!("{}-{}", key.1, c.rng.name_suffix(5));
        let pod = pod_from_template(template, &key.0, &name, &[], owner.clone());
        match c
            .store
            .create_object(ResourceId::Pods, pod, WriteOptions::controller())
        {
            Err(StoreError::AlreadyExists { .. }) if attempts < 5 => attempts += 1,
            Err(err) => return Err(err),
            Ok(stored) => return Ok(stored.value()),
        }
    }
}
