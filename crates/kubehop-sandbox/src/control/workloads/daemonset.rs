//! The DaemonSet controller: one pod per node the template fits (nodeSelector, required node
//! affinity, taints against its tolerations plus the ones the real controller adds), pinned
//! to its node by a `metadata.name` node-affinity term the scheduler honours; pods on nodes
//! that no longer fit go; a template change replaces pods node by node within
//! `maxUnavailable`.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;

use super::replicaset::is_active;
use super::*;
use crate::control::events::{Event, component};
use crate::control::scheduling;

const TEMPLATE_GENERATION: &str = "pod-template-generation";

/// The tolerations the DaemonSet controller adds to every daemon pod.
fn daemon_tolerations() -> Vec<Value> {
    let mut tolerations: Vec<Value> = [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ]
    .iter()
    .map(|key| json!({"key": key, "operator": "Exists", "effect": "NoExecute"}))
    .collect();
    for key in [
        "node.kubernetes.io/disk-pressure",
        "node.kubernetes.io/memory-pressure",
        "node.kubernetes.io/pid-pressure",
        "node.kubernetes.io/unschedulable",
    ] {
        tolerations.push(json!({"key": key, "operator": "Exists", "effect": "NoSchedule"}));
    }
    tolerations
}

/// The template's pod spec with the daemon tolerations added.
fn daemon_spec(template: &Value) -> Value {
    let mut spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));
    if !spec.is_object() {
        spec = json!({});
    }
    let mut tolerations = spec
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for toleration in daemon_tolerations() {
        if !tolerations.contains(&toleration) {
            tolerations.push(toleration);
        }
    }
    spec["tolerations"] = Value::Array(tolerations);
    spec
}

/// The node a daemon pod is for: its nodeName, else its `metadata.name` affinity term.
fn node_of(pod: &Value) -> String {
    let name = text(pod, "/spec/nodeName");
    if !name.is_empty() {
        return name.to_string();
    }
    pod.pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/0/matchFields/0/values/0")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

pub(in crate::control) fn reconcile_daemonset(
    c: &mut Controller,
    key: &Key,
) -> Result<(), StoreError> {
    let Some(stored) = c.store.get_object(ResourceId::DaemonSets, &key.0, &key.1) else {
        return Ok(());
    };
    let set = stored.value();
    if is_terminating(&set) {
        return Ok(());
    }
    let template = set.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let hash = template_hash(&template);
    let spec = daemon_spec(&template);
    let nodes: Vec<Arc<Node>> = c.node_list();
    let wanted: Vec<String> = nodes
        .iter()
        .filter(|n| scheduling::misfit(&spec, n).is_none())
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    let by_node = pods_by_node(c, &set, key);
    let deletions = deletions(&set, &wanted, &by_node, &hash);
    for pod in &deletions {
        delete_pod(c, pod)?;
        let message = format!("Deleted pod: {}", text(pod, "/metadata/name"));
        c.record(
            &set,
            Event::normal(component::DAEMON_SET, "SuccessfulDelete", message),
        );
    }
    let owner = json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet", "name": key.1,
        "uid": stored.uid(), "controller": true, "blockOwnerDeletion": true,
    });
    let generation = set
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    for node in wanted.iter().filter(|n| !by_node.contains_key(*n)) {
        let name = create_daemon_pod(c, &set, &template, node, &hash, generation, owner.clone())?;
        let message = format!("Created pod: {name}");
        c.record(
            &set,
            Event::normal(component::DAEMON_SET, "SuccessfulCreate", message),
        );
    }
    let status = daemon_status(&set, &wanted, &by_node, &hash);
    write_status(c, ResourceId::DaemonSets, key, Value::Object(status))
}

/// The DaemonSet's active pods by the node they are for.
fn pods_by_node(c: &Controller, set: &Value, key: &Key) -> BTreeMap<String, Vec<Value>> {
    let selector = set.pointer("/spec/selector").cloned().unwrap_or(json!({}));
    let (pods, _) = c.store.list_objects(ResourceId::Pods, Some(&key.0));
    let mut by_node: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for pod in pods.iter().map(|p| p.value()) {
        let owned = controller_ref(&pod) == Some(("DaemonSet", key.1.as_str()))
            && selector_matches(
                &selector,
                pod.pointer("/metadata/labels").and_then(Value::as_object),
            );
        if owned && is_active(&pod) {
            by_node.entry(node_of(&pod)).or_default().push(pod);
        }
    }
    by_node
}

/// The pods to delete: on nodes the template no longer fits, extra ones on a node, and (a
/// rolling update) old-revision ones while no more than maxUnavailable nodes lack a ready pod.
fn deletions(
    set: &Value,
    wanted: &[String],
    by_node: &BTreeMap<String, Vec<Value>>,
    hash: &str,
) -> Vec<Value> {
    let mut unavailable = wanted
        .iter()
        .filter(|n| {
            !by_node
                .get(*n)
                .is_some_and(|pods| pods.iter().any(is_ready))
        })
        .count() as i64;
    let max_unavailable = resolve(
        set.pointer("/spec/updateStrategy/rollingUpdate/maxUnavailable"),
        wanted.len() as i64,
        false,
        0,
    )
    .max(1);
    let rolling = text(set, "/spec/updateStrategy/type") != "OnDelete";
    let mut deletions = Vec::new();
    for (node, pods) in by_node {
        if !wanted.contains(node) {
            deletions.extend(pods.iter().cloned());
            continue;
        }
        let mut pods = pods.clone();
        // Keep one pod per node: the current revision's if any.
        pods.sort_by_key(|p| label(p, REVISION_HASH) != hash);
        deletions.extend(pods.drain(1..));
        if rolling && label(&pods[0], REVISION_HASH) != hash && unavailable < max_unavailable {
            if is_ready(&pods[0]) {
                unavailable += 1;
            }
            deletions.push(pods[0].clone());
        }
    }
    deletions
}

fn create_daemon_pod(
    c: &mut Controller,
    set: &Value,
    template: &Value,
    node: &str,
    hash: &str,
    generation: i64,
    owner: Value,
) -> Result<String, StoreError> {
    let namespace = text(set, "/metadata/namespace");
    let set_name = text(set, "/metadata/name");
    let mut attempts = 0;
    loop {
        let name = format!("{set_name}-{}", c.rng.name_suffix(5));
        let extra = [
            (REVISION_HASH, hash.to_string()),
            (TEMPLATE_GENERATION, generation.to_string()),
        ];
        let mut pod = pod_from_template(template, namespace, &name, &extra, owner.clone());
        let mut spec = daemon_spec(template);
        spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = json!({
            "nodeSelectorTerms": [{"matchFields": [
                {"key": "metadata.name", "operator": "In", "values": [node]}]}]
        });
        pod["spec"] = spec;
        match c
            .store
            .create_object(ResourceId::Pods, pod, WriteOptions::controller())
        {
            Err(StoreError::AlreadyExists { .. }) if attempts < 5 => attempts += 1,
            Err(err) => return Err(err),
            Ok(_) => return Ok(name),
        }
    }
}

fn daemon_status(
    set: &Value,
    wanted: &[String],
    by_node: &BTreeMap<String, Vec<Value>>,
    hash: &str,
) -> Map<String, Value> {
    let on = |node: &String, test: &dyn Fn(&Value) -> bool| {
        by_node.get(node).is_some_and(|pods| pods.iter().any(test))
    };
    let current = wanted.iter().filter(|n| by_node.contains_key(*n)).count() as i64;
    let ready = wanted.iter().filter(|n| on(n, &is_ready)).count() as i64;
    let updated = wanted
        .iter()
        .filter(|n| on(n, &|p: &Value| label(p, REVISION_HASH) == hash))
        .count() as i64;
    let misscheduled = by_node.keys().filter(|n| !wanted.contains(n)).count() as i64;
    let desired = wanted.len() as i64;
    let mut status = counts(&[
        ("currentNumberScheduled", current),
        ("desiredNumberScheduled", desired),
        ("numberMisscheduled", misscheduled),
        ("numberReady", ready),
        ("numberAvailable", ready),
        ("updatedNumberScheduled", updated),
        ("numberUnavailable", (desired - ready).max(0)),
    ]);
    // The four required counts are written even when 0.
    for required in [
        "currentNumberScheduled",
        "desiredNumberScheduled",
        "numberMisscheduled",
        "numberReady",
    ] {
        status.entry(required).or_insert_with(|| json!(0));
    }
    status.insert(
        "observedGeneration".into(),
        set.pointer("/metadata/generation")
            .cloned()
            .unwrap_or(json!(1)),
    );
    status
}
