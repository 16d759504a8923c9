//! Node registration: a node object without addresses (a scenario manifest) is filled in the
//! way a kubelet registers its node: an InternalIP from the instance's block, its podCIDR,
//! well-known labels, a Ready condition, capacity and node info. Nodes that carry addresses
//! (replayed) are left alone.

use serde_json::{Value, json};

use super::Controller;
use crate::resources::ResourceId;
use crate::store::{Part, StoreError, WriteOptions};

pub(super) fn reconcile(c: &mut Controller, name: &str) -> Result<(), StoreError> {
    let Some(stored) = c.store.get_object(ResourceId::Nodes, "", name) else {
        return Ok(());
    };
    let node = stored.value();
    let registered = node
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if registered {
        return Ok(());
    }
    let Some(index) = c.nodes.get(name).map(|e| e.index) else {
        return Ok(());
    };
    let Some(ip) = c.block.node_ip(index) else {
        c.notes.push(format!(
            "node {name} gets no address: the sandbox's address block has room for 63,750 nodes"
        ));
        return Ok(());
    };
    let pod_cidr = c.block.pod_cidr(index);
    let now = c.now();
    let status = registered_status(name, &ip.to_string(), &now);
    c.store.modify_object(
        ResourceId::Nodes,
        "",
        name,
        Part::Whole,
        WriteOptions::controller(),
        |value| {
            let labels = value
                .pointer_mut("/metadata")
                .and_then(Value::as_object_mut)
                .map(|m| m.entry("labels").or_insert_with(|| json!({})));
            if let Some(Value::Object(labels)) = labels {
                kubelet_labels(labels, name);
            }
            if !value.get("spec").is_some_and(Value::is_object) {
                value["spec"] = json!({});
            }
            if let Some(cidr) = &pod_cidr
                && value.pointer("/spec/podCIDR").is_none()
            {
                value["spec"]["podCIDR"] = json!(cidr);
                value["spec"]["podCIDRs"] = json!([cidr]);
            }
            value["status"] = status;
            Ok(())
        },
    )?;
    Ok(())
}

/// The labels a kubelet sets on the node it registers (`kubernetes.io/hostname|os|arch` and
/// their `beta.` forms), and the zone and region labels in both the GA and the
/// `failure-domain.beta` spelling, as the cloud node controller keeps them in step.
pub(crate) fn kubelet_labels(labels: &mut serde_json::Map<String, Value>, name: &str) {
    for (key, default) in [
        ("kubernetes.io/hostname", name),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
    ] {
        labels.entry(key).or_insert_with(|| json!(default));
    }
    for (beta, ga) in [
        ("beta.kubernetes.io/os", "kubernetes.io/os"),
        ("beta.kubernetes.io/arch", "kubernetes.io/arch"),
        (
            "failure-domain.beta.kubernetes.io/zone",
            "topology.kubernetes.io/zone",
        ),
        (
            "failure-domain.beta.kubernetes.io/region",
            "topology.kubernetes.io/region",
        ),
    ] {
        match (labels.get(beta).cloned(), labels.get(ga).cloned()) {
            (None, Some(value)) => {
                labels.insert(beta.into(), value);
            }
            (Some(value), None) => {
                labels.insert(ga.into(), value);
            }
            _ => {}
        }
    }
}

/// The status a kubelet reports when it registers node `name` at `ip`: addresses, healthy
/// conditions, capacity and node info.
fn registered_status(name: &str, ip: &str, now: &str) -> Value {
    let condition = |kind: &str, status: &str, reason: &str, message: &str| {
        json!({"type": kind, "status": status, "reason": reason, "message": message,
               "lastHeartbeatTime": now, "lastTransitionTime": now})
    };
    json!({
        "addresses": [
            {"type": "InternalIP", "address": ip},
            {"type": "Hostname", "address": name},
        ],
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "50Gi"},
        "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "50Gi"},
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "architecture": "amd64", "bootID": "", "containerRuntimeVersion": "sandbox://1.0",
            "kernelVersion": "", "kubeProxyVersion": "", "kubeletVersion": "v1.37.0",
            "machineID": "", "operatingSystem": "linux", "osImage": "kubehop sandbox",
            "systemUUID": "",
        },
    })
}
