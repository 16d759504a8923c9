//! Conversion between the served versions of the same objects: a custom resource's versions
//! differ only in `apiVersion` (the CRD conversion strategy `None`); autoscaling/v1
//! HorizontalPodAutoscalers are autoscaling/v2 ones with only a CPU utilization target;
//! `events.k8s.io/v1` Events are core `v1` Events with their fields renamed.

use serde_json::{Map, Value, json};

use super::ResourceId;

/// Rewrites `object` (of any served version of `to`'s objects) as `to`'s version.
pub fn convert(object: &mut Value, to: ResourceId) {
    let info = to.info();
    let Some(map) = object.as_object_mut() else {
        return;
    };
    let from = map
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let target = info.api_version();
    if from == target {
        return;
    }
    match (from.as_str(), target.as_str()) {
        ("autoscaling/v2", "autoscaling/v1") => hpa_to_v1(map),
        ("autoscaling/v1", "autoscaling/v2") => hpa_to_v2(map),
        ("v1", "events.k8s.io/v1") => rename(map, EVENT_FIELDS, false),
        ("events.k8s.io/v1", "v1") => rename(map, EVENT_FIELDS, true),
        _ => {}
    }
    map.insert("apiVersion".into(), json!(target));
}

/// (core v1 field, events.k8s.io/v1 field) of an Event.
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("reportingComponent", "reportingController"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
];

/// Renames top-level fields (`back`: from the second name to the first).
fn rename(map: &mut Map<String, Value>, fields: &[(&str, &str)], back: bool) {
    for (core, other) in fields {
        let (from, to) = if back { (other, core) } else { (core, other) };
        if let Some(value) = map.remove(*from) {
            map.insert((*to).to_owned(), value);
        }
    }
}

const CPU: &str = "cpu";

/// The CPU utilization a v2 metric list targets (or currently measures).
fn cpu_utilization(metrics: Option<&Value>, field: &str) -> Option<Value> {
    metrics?
        .as_array()?
        .iter()
        .find(|m| {
            m.get("type").and_then(Value::as_str) == Some("Resource")
                && m.pointer("/resource/name").and_then(Value::as_str) == Some(CPU)
        })
        .and_then(|m| m.pointer(&format!("/resource/{field}/averageUtilization")))
        .cloned()
}

fn hpa_to_v1(map: &mut Map<String, Value>) {
    if let Some(spec) = map.get_mut("spec").and_then(Value::as_object_mut) {
        let target = cpu_utilization(spec.get("metrics"), "target");
        spec.remove("metrics");
        spec.remove("behavior");
        if let Some(target) = target {
            spec.insert("targetCPUUtilizationPercentage".into(), target);
        }
    }
    if let Some(status) = map.get_mut("status").and_then(Value::as_object_mut) {
        let current = cpu_utilization(status.get("currentMetrics"), "current");
        status.remove("currentMetrics");
        status.remove("conditions");
        if let Some(current) = current {
            status.insert("currentCPUUtilizationPercentage".into(), current);
        }
    }
}

fn hpa_to_v2(map: &mut Map<String, Value>) {
    if let Some(spec) = map.get_mut("spec").and_then(Value::as_object_mut)
        && let Some(target) = spec.remove("targetCPUUtilizationPercentage")
    {
        spec.insert(
            "metrics".into(),
            json!([{"type": "Resource", "resource": {"name": CPU,
                "target": {"type": "Utilization", "averageUtilization": target}}}]),
        );
    }
    if let Some(status) = map.get_mut("status").and_then(Value::as_object_mut)
        && let Some(current) = status.remove("currentCPUUtilizationPercentage")
    {
        status.insert(
            "currentMetrics".into(),
            json!([{"type": "Resource", "resource": {"name": CPU,
                "current": {"averageUtilization": current}}}]),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_convert_both_ways() {
        let mut event = json!({"apiVersion": "v1", "kind": "Event", "reason": "Started",
            "involvedObject": {"kind": "Pod", "name": "web-1"}, "message": "Started container",
            "count": 2});
        convert(&mut event, ResourceId::EventsK8sIo);
        assert_eq!(event["apiVersion"], "events.k8s.io/v1");
        assert_eq!(event["regarding"]["name"], "web-1");
        assert_eq!(event["note"], "Started container");
        assert_eq!(event["deprecatedCount"], 2);
        convert(&mut event, ResourceId::Events);
        assert_eq!(event["involvedObject"]["name"], "web-1");
        assert!(event.get("regarding").is_none());
    }

    #[test]
    fn autoscalers_convert_both_ways() {
        let v1 =
            ResourceId::from_path("autoscaling", "v1", "horizontalpodautoscalers").expect("served");
        let mut object = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "spec": {"maxReplicas": 5, "targetCPUUtilizationPercentage": 70}});
        convert(&mut object, ResourceId::HorizontalPodAutoscalers);
        assert_eq!(object["apiVersion"], "autoscaling/v2");
        assert_eq!(
            object.pointer("/spec/metrics/0/resource/target/averageUtilization"),
            Some(&json!(70))
        );
        convert(&mut object, v1);
        assert_eq!(object["apiVersion"], "autoscaling/v1");
        assert_eq!(object["spec"]["targetCPUUtilizationPercentage"], 70);
        assert!(object["spec"].get("metrics").is_none());
    }
}
