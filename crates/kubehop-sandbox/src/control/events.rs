//! The event recorder: core/v1 Events as the real components write them (reason, message,
//! source, involvedObject, type), aggregated like client-go's recorder: the same event about
//! the same object again bumps `count` and `lastTimestamp` instead of writing a new Event.
//! The sandbox keeps at most [`MAX_EVENTS`] Events; past that the oldest go (a real API
//! server expires them after an hour).

use std::collections::{HashMap, VecDeque};

use serde_json::{Value, json};

use crate::resources::ResourceId;
use crate::store::{DeleteOptions, Part, Store, StoreError, WriteOptions};

/// The most Events the recorder keeps in the store.
pub const MAX_EVENTS: usize = 1000;

/// Who reports an event (`source.component`, also `reportingComponent`).
pub(crate) mod component {
    pub const SCHEDULER: &str = "default-scheduler";
    pub const KUBELET: &str = "kubelet";
    pub const DEPLOYMENT: &str = "deployment-controller";
    pub const REPLICA_SET: &str = "replicaset-controller";
    pub const REPLICATION: &str = "replication-controller";
    pub const DAEMON_SET: &str = "daemonset-controller";
    pub const JOB: &str = "job-controller";
}

/// Normal or Warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Severity {
    Normal,
    Warning,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Normal => "Normal",
            Severity::Warning => "Warning",
        }
    }
}

/// One event to record.
#[derive(Debug, Clone)]
pub(crate) struct Event<'a> {
    pub severity: Severity,
    pub reason: &'a str,
    pub message: String,
    pub component: &'a str,
    /// `source.host` (the node, for the kubelet).
    pub host: Option<&'a str>,
    /// `involvedObject.fieldPath` (`spec.containers{app}`).
    pub field_path: Option<String>,
}

impl<'a> Event<'a> {
    pub fn normal(component: &'a str, reason: &'a str, message: impl Into<String>) -> Self {
        Event {
            severity: Severity::Normal,
            reason,
            message: message.into(),
            component,
            host: None,
            field_path: None,
        }
    }

    pub fn warning(component: &'a str, reason: &'a str, message: impl Into<String>) -> Self {
        Event {
            severity: Severity::Warning,
            ..Self::normal(component, reason, message)
        }
    }

    pub fn on_host(mut self, host: &'a str) -> Self {
        self.host = Some(host);
        self
    }

    pub fn at_field(mut self, field_path: String) -> Self {
        self.field_path = Some(field_path);
        self
    }
}

/// What makes two events the same (client-go's aggregation key, minus the timestamps).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct EventKey {
    component: String,
    host: String,
    involved: String,
    field_path: String,
    severity: Severity,
    reason: String,
    message: String,
}

/// The recorder's memory: which Event holds each key, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    written: HashMap<EventKey, (String, String)>,
    order: VecDeque<EventKey>,
    sequence: u64,
}

impl Recorder {
    /// Records `event` about `object` (a stored object's JSON); `now` is RFC 3339.
    pub fn record(
        &mut self,
        store: &Store,
        object: &Value,
        event: Event<'_>,
        now: &str,
    ) -> Result<(), StoreError> {
        let involved = involved_object(object, event.field_path.as_deref());
        let key = EventKey {
            component: event.component.to_string(),
            host: event.host.unwrap_or("").to_string(),
            involved: format!(
                "{}/{}/{}/{}",
                text(&involved, "kind"),
                text(&involved, "namespace"),
                text(&involved, "name"),
                text(&involved, "uid")
            ),
            field_path: event.field_path.clone().unwrap_or_default(),
            severity: event.severity,
            reason: event.reason.to_string(),
            message: event.message.clone(),
        };
        if let Some((namespace, name)) = self.written.get(&key).cloned() {
            match bump(store, &namespace, &name, now) {
                Err(StoreError::NotFound { .. }) => self.forget(&key),
                other => return other,
            }
        }
        self.create(store, key, involved, &event, now)
    }

    fn create(
        &mut self,
        store: &Store,
        key: EventKey,
        involved: Value,
        event: &Event<'_>,
        now: &str,
    ) -> Result<(), StoreError> {
        let namespace = match text(&involved, "namespace") {
            "" => "default".to_string(),
            namespace => namespace.to_string(),
        };
        self.sequence += 1;
        let stamp = now_nanos(now).wrapping_add(self.sequence);
        let name = format!("{}.{stamp:x}", text(&involved, "name"));
        let mut source = json!({"component": event.component});
        if let Some(host) = event.host {
            source["host"] = json!(host);
        }
        let object = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": involved,
            "reason": event.reason,
            "message": event.message,
            "source": source,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": event.severity.as_str(),
            "eventTime": null,
            "reportingComponent": event.component,
            "reportingInstance": event.host.unwrap_or(""),
        });
        store.create_object(ResourceId::Events, object, WriteOptions::controller())?;
        self.written.insert(key.clone(), (namespace, name));
        self.order.push_back(key);
        while self.order.len() > MAX_EVENTS {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some((namespace, name)) = self.written.remove(&oldest) {
                match store.delete_object(
                    ResourceId::Events,
                    &namespace,
                    &name,
                    &DeleteOptions::default(),
                ) {
                    Ok(_) | Err(StoreError::NotFound { .. }) => {}
                    Err(err) => return Err(err),
                }
            }
        }
        Ok(())
    }

    fn forget(&mut self, key: &EventKey) {
        self.written.remove(key);
        self.order.retain(|k| k != key);
    }
}

/// The same event again: count + 1, lastTimestamp now.
fn bump(store: &Store, namespace: &str, name: &str, now: &str) -> Result<(), StoreError> {
    store.modify_object(
        ResourceId::Events,
        namespace,
        name,
        Part::Whole,
        WriteOptions::controller(),
        |event| {
            let count = event.get("count").and_then(Value::as_i64).unwrap_or(1);
            event["count"] = json!(count + 1);
            event["lastTimestamp"] = json!(now);
            Ok(())
        },
    )?;
    Ok(())
}

/// The ObjectReference an Event names.
fn involved_object(object: &Value, field_path: Option<&str>) -> Value {
    let meta = |key: &str| object.pointer(&format!("/metadata/{key}")).cloned();
    let mut reference = json!({
        "apiVersion": object.get("apiVersion").cloned().unwrap_or(json!("v1")),
        "kind": object.get("kind").cloned().unwrap_or(json!("")),
        "name": meta("name").unwrap_or(json!("")),
        "uid": meta("uid").unwrap_or(json!("")),
        "resourceVersion": meta("resourceVersion").unwrap_or(json!("")),
    });
    if let Some(namespace) = meta("namespace").filter(|n| n.as_str().is_some_and(|n| !n.is_empty()))
    {
        reference["namespace"] = namespace;
    }
    if let Some(path) = field_path {
        reference["fieldPath"] = json!(path);
    }
    reference
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Nanoseconds since the epoch of an RFC 3339 time (0 when it does not parse): Event names
/// are `<object>.<hex nanoseconds>` as client-go spells them.
fn now_nanos(now: &str) -> u64 {
    now.parse::<k8s_openapi::jiff::Timestamp>()
        .ok()
        .and_then(|t| u64::try_from(t.as_nanosecond()).ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "web-1", "namespace": "default", "uid": "u-1", "resourceVersion": "7"}})
    }

    fn events(store: &Store) -> Vec<Value> {
        store
            .list_objects(ResourceId::Events, None)
            .0
            .iter()
            .map(|e| e.value())
            .collect()
    }

    #[test]
    fn the_same_event_again_bumps_its_count() {
        let store = Store::new(1000);
        let mut recorder = Recorder::default();
        let unhealthy = || {
            Event::warning(component::KUBELET, "Unhealthy", "Readiness probe failed: x")
                .on_host("node-1")
                .at_field("spec.containers{app}".into())
        };
        for at in ["2025-01-01T00:00:00Z", "2025-01-01T00:00:10Z"] {
            recorder
                .record(&store, &pod(), unhealthy(), at)
                .expect("records");
        }
        recorder
            .record(
                &store,
                &pod(),
                Event::normal(component::KUBELET, "Started", "Started container app"),
                "2025-01-01T00:00:11Z",
            )
            .expect("records");
        let events = events(&store);
        assert_eq!(events.len(), 2, "{events:#?}");
        let unhealthy = events
            .iter()
            .find(|e| e["reason"] == "Unhealthy")
            .expect("Unhealthy");
        assert_eq!(unhealthy["count"], 2);
        assert_eq!(unhealthy["firstTimestamp"], "2025-01-01T00:00:00Z");
        assert_eq!(unhealthy["lastTimestamp"], "2025-01-01T00:00:10Z");
        assert_eq!(unhealthy["type"], "Warning");
        assert_eq!(
            unhealthy["source"],
            json!({"component": "kubelet", "host": "node-1"})
        );
        assert_eq!(
            unhealthy["involvedObject"]["fieldPath"],
            "spec.containers{app}"
        );
        assert_eq!(unhealthy["involvedObject"]["uid"], "u-1");
        assert!(
            unhealthy["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("web-1."))
        );
    }

    #[test]
    fn the_oldest_events_go_past_the_bound() {
        let store = Store::new(10_000);
        let mut recorder = Recorder::default();
        for n in 0..MAX_EVENTS + 5 {
            recorder
                .record(
                    &store,
                    &pod(),
                    Event::normal(component::SCHEDULER, "Scheduled", format!("n={n}")),
                    "2025-01-01T00:00:00Z",
                )
                .expect("records");
        }
        let events = events(&store);
        assert_eq!(events.len(), MAX_EVENTS);
        assert!(events.iter().all(|e| e["message"] != "n=0"));
        assert!(
            events
                .iter()
                .any(|e| e["message"] == format!("n={}", MAX_EVENTS + 4))
        );
    }

    #[test]
    fn events_of_cluster_scoped_objects_go_to_default() {
        let store = Store::new(100);
        let mut recorder = Recorder::default();
        let node =
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1", "uid": "n"}});
        recorder
            .record(
                &store,
                &node,
                Event::normal(component::KUBELET, "NodeReady", "ready"),
                "2025-01-01T00:00:00Z",
            )
            .expect("records");
        let events = events(&store);
        assert_eq!(events[0]["metadata"]["namespace"], "default");
        assert!(events[0]["involvedObject"].get("namespace").is_none());
    }
}
