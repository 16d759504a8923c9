//! The scheduler and the kubelet: a pod without a node gets one; a pod on a node gets an IP,
//! phase Running and its readiness; a deleted pod terminates for its grace period and goes.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::events::{Event, component};
use super::{Controller, Key, NodeEntry, READY_ANNOTATION, scheduling};
use crate::admission::{Deletion, DeletionPolicy};
use crate::resources::ResourceId;
use crate::store::{DeleteOptions, DeleteOutcome, Part, StoreError, WriteOptions};
use kubehop_engine::pods::typed as pod_facts;

/// Deletes pods gracefully: `deletionTimestamp` now, removal by the kubelet after the pod's
/// grace period (the request's `gracePeriodSeconds`, else the pod's
/// `terminationGracePeriodSeconds`), capped so the sandbox stays quick. Other kinds go at once.
#[derive(Debug, Clone, Copy)]
pub struct GracefulPods {
    cap: Duration,
}

impl GracefulPods {
    pub fn new(cap: Duration) -> Self {
        GracefulPods { cap }
    }
}

impl DeletionPolicy for GracefulPods {
    fn decide(&self, resource: ResourceId, object: &Value, requested: Option<i64>) -> Deletion {
        if resource != ResourceId::Pods || self.cap.is_zero() {
            return Deletion::Immediate;
        }
        let wanted = requested.unwrap_or_else(|| {
            object
                .pointer("/spec/terminationGracePeriodSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(30)
        });
        if wanted <= 0 {
            return Deletion::Immediate;
        }
        let cap = i64::try_from(self.cap.as_secs()).unwrap_or(i64::MAX)
            + i64::from(self.cap.subsec_nanos() > 0);
        Deletion::Graceful {
            grace_period_seconds: wanted.min(cap).max(1),
        }
    }
}

/// How long a terminating pod still runs: its grace period, capped.
fn grace_of(pod: &Pod, cap: Duration) -> Duration {
    let seconds = pod
        .metadata
        .deletion_grace_period_seconds
        .unwrap_or(30)
        .max(0);
    Duration::from_secs(u64::try_from(seconds).unwrap_or(0)).min(cap)
}

/// The readiness switch on a pod: `Some(false)` for "false"/"0"/"no"/"off".
pub(super) fn switch_of(pod: &Value) -> Option<bool> {
    let value = pod
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(READY_ANNOTATION))
        .and_then(Value::as_str)?;
    Some(!super::switched_off(value))
}

fn decode_pod(value: &Value) -> Result<Pod, StoreError> {
    serde_json::from_value(value.clone())
        .map_err(|e| StoreError::Internal(format!("stored pod does not decode: {e}")))
}

pub(super) fn reconcile(c: &mut Controller, key: &Key) -> Result<(), StoreError> {
    let Some(stored) = c.store.get_object(ResourceId::Pods, &key.0, &key.1) else {
        return Ok(());
    };
    let value = stored.value();
    let pod = decode_pod(&value)?;
    let uid = stored.uid().to_string();
    let now = Instant::now();
    let terminating = pod_facts::is_terminating(&pod);
    if terminating && !c.frozen.contains(&uid) {
        let grace = grace_of(&pod, c.config.grace_period);
        if !c.remove_at.contains_key(&uid) && c.started.contains(&uid) {
            super::probes::record_stopping(c, &value);
        }
        let due = *c.remove_at.entry(uid.clone()).or_insert(now + grace);
        if now >= due {
            let outcome = c.store.delete_object(
                ResourceId::Pods,
                &key.0,
                &key.1,
                &DeleteOptions {
                    grace_period_seconds: Some(0),
                    precondition_uid: Some(uid.clone()),
                    ..DeleteOptions::default()
                },
            )?;
            if matches!(outcome, DeleteOutcome::Deleted(_)) {
                return Ok(());
            }
            // Finalizers hold it: it keeps running (and its readiness switch keeps working).
        } else {
            c.schedule(due, key.clone());
        }
    }
    let Some(node_name) = pod_facts::node_name(&pod) else {
        if !terminating {
            schedule(c, key, &value)?;
        }
        return Ok(());
    };
    // A pod on a node that does not exist stays Pending (no kubelet runs it).
    let Some(entry) = c.nodes.get(node_name).filter(|e| e.node.is_some()).cloned() else {
        return Ok(());
    };
    if matches!(
        pod_facts::phase_exclusion(&pod),
        Some(pod_facts::Exclusion::Succeeded | pod_facts::Exclusion::Failed)
    ) {
        return Ok(());
    }
    if !pod_facts::has_ip(&pod) {
        return start(c, key, &value, &uid, &entry);
    }
    let switch = switch_of(&value);
    if !c.started.contains(&uid) {
        // Replayed status stays as it is; only an explicit switch is honoured.
        if let Some(ready) = switch
            && ready != pod_facts::is_ready(&pod)
        {
            set_ready(c, key, ready)?;
        }
        return Ok(());
    }
    let switch = switch.unwrap_or(true);
    let previous = c.switches.insert(uid.clone(), switch);
    if switch && previous == Some(false) {
        c.ready_at.insert(uid.clone(), now + c.config.ready_delay);
    }
    let due = c.ready_at.get(&uid).copied();
    let up = due.is_none_or(|due| now >= due);
    if up && controller_owner(&value).is_some_and(|(kind, _)| kind == "Job") {
        // A Job's pod has run its course: it completes.
        return complete(c, key);
    }
    // A switched-off pod is probed too: its app fails an httpGet probe (503), as the
    // Events then say.
    let probed = up && super::probes::readiness(c, key, &value, &uid);
    let ready = switch && probed;
    if !up && let Some(due) = due {
        c.schedule(due, key.clone());
    }
    if ready != pod_facts::is_ready(&pod) {
        set_ready(c, key, ready)?;
    }
    Ok(())
}

/// The scheduler: picks the least loaded node among those the pod fits (fewest pods of the
/// same controller, then fewest pods, then the first name), or records why none fits.
fn schedule(c: &mut Controller, key: &Key, pod: &Value) -> Result<(), StoreError> {
    let spec = pod.get("spec").cloned().unwrap_or_else(|| json!({}));
    let owner = controller_owner(pod);
    let load = node_load(c, key, owner.as_ref());
    let mut misfits = Vec::new();
    let mut candidates: Vec<&str> = Vec::new();
    for (name, node) in c
        .nodes
        .iter()
        .filter_map(|(name, entry)| Some((name, entry.node.as_ref()?)))
    {
        match scheduling::misfit(&spec, node) {
            None => candidates.push(name.as_str()),
            Some(misfit) => misfits.push(misfit),
        }
    }
    let now = c.now();
    let Some(chosen) = candidates
        .iter()
        .min_by_key(|name| {
            let (same, all) = load.get(**name).copied().unwrap_or_default();
            (same, all, **name)
        })
        .map(|name| name.to_string())
    else {
        let message = scheduling::unschedulable_message(misfits.len(), &misfits);
        return mark_unschedulable(c, key, pod, message, &now);
    };
    let stored = c.store.modify_object(
        ResourceId::Pods,
        &key.0,
        &key.1,
        Part::Whole,
        WriteOptions::controller(),
        |value| {
            if let Some(spec) = value.get_mut("spec").and_then(Value::as_object_mut) {
                spec.insert("nodeName".into(), json!(chosen));
            }
            upsert_condition(
                value,
                json!({"type": "PodScheduled", "status": "True", "lastTransitionTime": now, "lastProbeTime": null}),
            );
            Ok(())
        },
    )?;
    let message = format!("Successfully assigned {}/{} to {chosen}", key.0, key.1);
    c.record(
        &stored.value(),
        Event::normal(component::SCHEDULER, "Scheduled", message),
    );
    Ok(())
}

/// Pods per node, terminating ones excluded: (those with the same controller owner in the
/// pod's namespace, all).
fn node_load(
    c: &Controller,
    key: &Key,
    owner: Option<&(String, String)>,
) -> BTreeMap<String, (usize, usize)> {
    let mut load: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let (pods, _) = c.store.list_objects(ResourceId::Pods, None);
    for other in pods {
        let node = other.field("spec.nodeName");
        if node.is_empty() || other.is_terminating() {
            continue;
        }
        let counts = load.entry(node.to_string()).or_default();
        counts.1 += 1;
        if owner.is_some()
            && other.namespace() == key.0
            && controller_owner(&other.value()).as_ref() == owner
        {
            counts.0 += 1;
        }
    }
    load
}

/// No node fits: the PodScheduled=False condition (written only when its message changes)
/// and a FailedScheduling event.
fn mark_unschedulable(
    c: &mut Controller,
    key: &Key,
    pod: &Value,
    message: String,
    now: &str,
) -> Result<(), StoreError> {
    let condition = json!({
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": message, "lastTransitionTime": now, "lastProbeTime": null,
    });
    c.write_status(ResourceId::Pods, key, |value| {
        let same = conditions_of(value).iter().any(|c| {
            c.get("type") == Some(&json!("PodScheduled"))
                && c.get("message") == condition.get("message")
        });
        if !same {
            upsert_condition(value, condition);
        }
        Ok(())
    })?;
    c.record(
        pod,
        Event::warning(component::SCHEDULER, "FailedScheduling", message),
    );
    Ok(())
}

/// (kind, name) of the pod's controller owner.
fn controller_owner(pod: &Value) -> Option<(String, String)> {
    pod.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true))
        .map(|o| {
            let text = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            (text("kind"), text("name"))
        })
}

fn conditions_of(pod: &Value) -> Vec<Value> {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Replaces the condition of the same type (or appends it).
fn upsert_condition(pod: &mut Value, condition: Value) {
    let Some(object) = pod.as_object_mut() else {
        return;
    };
    let status = object.entry("status").or_insert_with(|| json!({}));
    if !status.is_object() {
        *status = json!({});
    }
    let conditions = status
        .as_object_mut()
        .map(|s| s.entry("conditions").or_insert_with(|| json!([])));
    let Some(Value::Array(conditions)) = conditions else {
        return;
    };
    match conditions
        .iter_mut()
        .find(|c| c.get("type") == condition.get("type"))
    {
        Some(existing) => *existing = condition,
        None => conditions.push(condition),
    }
}

/// The kubelet starts a pod: an IP from its node's range, phase Running, containers running.
fn start(
    c: &mut Controller,
    key: &Key,
    pod: &Value,
    uid: &str,
    node: &NodeEntry,
) -> Result<(), StoreError> {
    let Some(range) = c.block.pod_ips(node.index) else {
        c.notes.push(format!(
            "pod {}/{} stays Pending: node {} is beyond the 256 nodes the sandbox has pod address ranges for",
            key.0,
            key.1,
            node.node
                .as_ref()
                .and_then(|n| n.metadata.name.clone())
                .unwrap_or_default()
        ));
        return Ok(());
    };
    let pool = c
        .pod_ips
        .entry(node.index)
        .or_insert_with(|| super::pool::Pool::new(u32::from(range.first)..=u32::from(range.last)));
    let Some(ip) = pool.allocate(uid.to_string()) else {
        c.notes.push(format!(
            "pod {}/{} stays Pending: the node's pod address range is full",
            key.0, key.1
        ));
        return Ok(());
    };
    let ip = std::net::Ipv4Addr::from(ip).to_string();
    let host_ip = node
        .node
        .as_ref()
        .and_then(|n| n.status.as_ref())
        .and_then(|s| s.addresses.as_ref())
        .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
        .map(|a| a.address.clone())
        .unwrap_or_default();
    let switch = switch_of(pod).unwrap_or(true);
    let ready = switch && c.config.ready_delay.is_zero();
    let now = Instant::now();
    // A switched-off pod's probes start after the same delay (its app is up by then).
    let due = now + c.config.ready_delay;
    c.ready_at.insert(uid.to_string(), due);
    if due > now {
        c.schedule(due, key.clone());
    }
    c.started.insert(uid.to_string());
    c.switches.insert(uid.to_string(), switch);
    let probe_ok = super::probes::attempted_probe(pod).is_none();
    let status = running_status(pod, &ip, &host_ip, ready && probe_ok, &c.now());
    let stored = c.write_status_returning(ResourceId::Pods, key, |value| {
        value["status"] = status;
        Ok(())
    })?;
    let node_name = node
        .node
        .as_ref()
        .and_then(|n| n.metadata.name.clone())
        .unwrap_or_default();
    super::probes::record_started(c, &stored, &node_name);
    if ready && !probe_ok {
        // Probe at once: the Unhealthy event says why.
        c.dirty.pods.insert(key.clone());
    }
    Ok(())
}

/// A Job's pod completes: phase Succeeded, its containers terminated with exit code 0.
fn complete(c: &mut Controller, key: &Key) -> Result<(), StoreError> {
    let now = c.now();
    c.write_status(ResourceId::Pods, key, |value| {
        value["status"]["phase"] = json!("Succeeded");
        for kind in ["Ready", "ContainersReady"] {
            upsert_condition(
                value,
                json!({"type": kind, "status": "False", "reason": "PodCompleted",
                       "lastTransitionTime": now, "lastProbeTime": null}),
            );
        }
        for list in ["containerStatuses", "initContainerStatuses"] {
            if let Some(statuses) = value
                .pointer_mut(&format!("/status/{list}"))
                .and_then(Value::as_array_mut)
            {
                for status in statuses {
                    let started = status
                        .pointer("/state/running/startedAt")
                        .cloned()
                        .unwrap_or_else(|| json!(now));
                    status["state"] = json!({"terminated": {"exitCode": 0, "reason": "Completed",
                        "startedAt": started, "finishedAt": now}});
                    status["ready"] = json!(false);
                    status["started"] = json!(false);
                }
            }
        }
        Ok(())
    })
}

fn container_names(pod: &Value, list: &str) -> Vec<(String, String, bool)> {
    pod.pointer(&format!("/spec/{list}"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let text = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            (
                text("name"),
                text("image"),
                c.get("restartPolicy").and_then(Value::as_str) == Some("Always"),
            )
        })
        .collect()
}

fn not_ready_message(pod: &Value) -> String {
    let names: Vec<String> = container_names(pod, "containers")
        .into_iter()
        .map(|(name, _, _)| name)
        .collect();
    format!("containers with unready status: [{}]", names.join(" "))
}

/// The status of a running pod.
fn running_status(pod: &Value, ip: &str, host_ip: &str, ready: bool, now: &str) -> Value {
    let uid = pod
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let short_uid: String = uid.chars().filter(|c| *c != '-').take(12).collect();
    let scheduled = conditions_of(pod)
        .into_iter()
        .find(|c| c.get("type") == Some(&json!("PodScheduled")))
        .unwrap_or_else(|| json!({"type": "PodScheduled", "status": "True", "lastTransitionTime": now, "lastProbeTime": null}));
    let readiness = |kind: &str| {
        if ready {
            json!({"type": kind, "status": "True", "lastTransitionTime": now, "lastProbeTime": null})
        } else {
            json!({"type": kind, "status": "False", "lastTransitionTime": now, "lastProbeTime": null,
                   "reason": "ContainersNotReady", "message": not_ready_message(pod)})
        }
    };
    let container_status = |name: &str, image: &str, running: bool, ready: bool| {
        let state = if running {
            json!({"running": {"startedAt": now}})
        } else {
            json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}})
        };
        json!({
            "name": name,
            "image": image,
            "imageID": format!("sandbox://{image}"),
            "containerID": format!("sandbox://{short_uid}-{name}"),
            "ready": ready,
            "started": running,
            "restartCount": 0,
            "state": state,
        })
    };
    let containers: Vec<Value> = container_names(pod, "containers")
        .iter()
        .map(|(name, image, _)| container_status(name, image, true, ready))
        .collect();
    let init: Vec<Value> = container_names(pod, "initContainers")
        .iter()
        .map(|(name, image, sidecar)| container_status(name, image, *sidecar, *sidecar))
        .collect();
    let qos = pod
        .pointer("/status/qosClass")
        .cloned()
        .or_else(|| {
            crate::admission::initial_status(ResourceId::Pods, pod)
                .and_then(|s| s.get("qosClass").cloned())
        })
        .unwrap_or_else(|| json!("BestEffort"));
    let mut status = json!({
        "phase": "Running",
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": now,
        "qosClass": qos,
        "conditions": [
            {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": now, "lastProbeTime": null},
            {"type": "Initialized", "status": "True", "lastTransitionTime": now, "lastProbeTime": null},
            readiness("Ready"),
            readiness("ContainersReady"),
            scheduled,
        ],
        "containerStatuses": containers,
    });
    if host_ip.is_empty()
        && let Some(map) = status.as_object_mut()
    {
        map.remove("hostIP");
        map.remove("hostIPs");
    }
    if !init.is_empty() {
        status["initContainerStatuses"] = Value::Array(init);
    }
    status
}

/// Flips a pod's Ready and ContainersReady conditions and its containers' `ready`.
fn set_ready(c: &mut Controller, key: &Key, ready: bool) -> Result<(), StoreError> {
    let now = c.now();
    c.write_status(
        ResourceId::Pods,
        key,
        |value| {
            let message = not_ready_message(value);
            for kind in ["Ready", "ContainersReady"] {
                let condition = if ready {
                    json!({"type": kind, "status": "True", "lastTransitionTime": now, "lastProbeTime": null})
                } else {
                    json!({"type": kind, "status": "False", "lastTransitionTime": now, "lastProbeTime": null,
                           "reason": "ContainersNotReady", "message": message})
                };
                upsert_condition(value, condition);
            }
            if let Some(statuses) = value
                .pointer_mut("/status/containerStatuses")
                .and_then(Value::as_array_mut)
            {
                for status in statuses {
                    status["ready"] = json!(ready);
                }
            }
            Ok(())
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(None, Some(30), Deletion::Graceful { grace_period_seconds: 3 })]
    #[case(Some(1), None, Deletion::Graceful { grace_period_seconds: 1 })]
    #[case(Some(0), None, Deletion::Immediate)]
    #[case(None, Some(0), Deletion::Immediate)]
    fn pods_terminate_gracefully_within_the_cap(
        #[case] requested: Option<i64>,
        #[case] pod_grace: Option<i64>,
        #[case] expected: Deletion,
    ) {
        let policy = GracefulPods::new(Duration::from_millis(2500));
        let pod = json!({"spec": {"terminationGracePeriodSeconds": pod_grace}});
        assert_eq!(policy.decide(ResourceId::Pods, &pod, requested), expected);
        assert_eq!(
            policy.decide(ResourceId::Services, &pod, requested),
            Deletion::Immediate
        );
    }

    #[rstest]
    #[case("false", Some(false))]
    #[case("False", Some(false))]
    #[case("0", Some(false))]
    #[case("true", Some(true))]
    #[case("yes", Some(true))]
    fn readiness_switch_values(#[case] text: &str, #[case] expected: Option<bool>) {
        let pod = json!({"metadata": {"annotations": {READY_ANNOTATION: text}}});
        assert_eq!(switch_of(&pod), expected);
        assert_eq!(switch_of(&json!({"metadata": {}})), None);
    }

    #[test]
    fn running_status_lists_every_container() {
        let pod = json!({
            "metadata": {"uid": "0123-4567"},
            "spec": {"containers": [{"name": "app", "image": "a:1"}, {"name": "metrics", "image": "m:1"}],
                     "initContainers": [{"name": "proxy", "image": "p:1", "restartPolicy": "Always"}]}
        });
        let status = running_status(
            &pod,
            "127.35.0.2",
            "127.32.0.1",
            false,
            "2025-01-01T00:00:00Z",
        );
        assert_eq!(status["phase"], "Running");
        assert_eq!(status["podIPs"], json!([{"ip": "127.35.0.2"}]));
        assert_eq!(
            status["containerStatuses"].as_array().map(Vec::len),
            Some(2)
        );
        assert_eq!(status["initContainerStatuses"][0]["ready"], true);
        let ready = &status["conditions"][2];
        assert_eq!(ready["type"], "Ready");
        assert_eq!(
            ready["message"],
            "containers with unready status: [app metrics]"
        );
    }
}
