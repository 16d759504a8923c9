//! Server-side printing: `meta.k8s.io/v1` Tables with the columns kubectl shows for each kind
//! (the API server's `pkg/printers/internalversion` printers, for the kinds the sandbox serves).
//!
//! `columns` lists each kind's columns; `cells` fills them from an object.

use std::collections::BTreeMap;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};

use crate::resources::ResourceId;

mod cells;
mod columns;
mod extra;
#[cfg(test)]
mod tests;
mod workloads;

use cells::*;
pub use columns::columns;
use workloads::*;

/// One column of a Table.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: &'static str,
    pub format: &'static str,
    pub description: &'static str,
    /// 0: always shown; 1: shown with `-o wide`.
    pub priority: u8,
}

const fn col(name: &'static str, description: &'static str) -> Column {
    Column {
        name,
        kind: "string",
        format: "",
        description,
        priority: 0,
    }
}

const fn wide(name: &'static str, description: &'static str) -> Column {
    Column {
        name,
        kind: "string",
        format: "",
        description,
        priority: 1,
    }
}

const fn int(name: &'static str, description: &'static str) -> Column {
    Column {
        name,
        kind: "integer",
        format: "",
        description,
        priority: 0,
    }
}

const NAME: Column = Column {
    name: "Name",
    kind: "string",
    format: "name",
    description: "Name must be unique within a namespace.",
    priority: 0,
};
const AGE: Column = col(
    "Age",
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
);

/// Which form of the object each row carries (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    None,
    #[default]
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(value: Option<&str>) -> Option<Self> {
        match value {
            None | Some("") | Some("Metadata") => Some(IncludeObject::Metadata),
            Some("None") => Some(IncludeObject::None),
            Some("Object") => Some(IncludeObject::Object),
            Some(_) => None,
        }
    }
}

/// `columnDefinitions` as JSON.
pub fn column_definitions(resource: ResourceId) -> Value {
    Value::Array(
        columns(resource)
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "type": c.kind,
                    "format": c.format,
                    "description": c.description,
                    "priority": c.priority,
                })
            })
            .collect(),
    )
}

/// One row: cells plus the object in the requested form.
pub fn row(resource: ResourceId, object: &Value, include: IncludeObject, now: Timestamp) -> Value {
    let mut row = Map::new();
    row.insert("cells".into(), Value::Array(cells(resource, object, now)));
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => {
            row.insert("object".into(), partial_object_metadata(object));
        }
        IncludeObject::Object => {
            row.insert("object".into(), object.clone());
        }
    }
    Value::Object(row)
}

/// `meta.k8s.io/v1 PartialObjectMetadata` for an object.
pub fn partial_object_metadata(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// A whole Table.
pub fn table(
    resource: ResourceId,
    objects: &[Value],
    include: IncludeObject,
    list_metadata: Value,
    with_columns: bool,
    now: Timestamp,
) -> Value {
    let mut table = Map::new();
    table.insert("kind".into(), json!("Table"));
    table.insert("apiVersion".into(), json!("meta.k8s.io/v1"));
    table.insert("metadata".into(), list_metadata);
    if with_columns {
        table.insert("columnDefinitions".into(), column_definitions(resource));
    }
    table.insert(
        "rows".into(),
        Value::Array(
            objects
                .iter()
                .map(|o| row(resource, o, include, now))
                .collect(),
        ),
    );
    Value::Object(table)
}

/// The cells of one row.
pub fn cells(resource: ResourceId, object: &Value, now: Timestamp) -> Vec<Value> {
    let name = json!(text(object, "/metadata/name"));
    let age = json!(age(object, "/metadata/creationTimestamp", now));
    match resource {
        ResourceId::Namespaces => vec![name, json!(or_none(text(object, "/status/phase"))), age],
        ResourceId::Nodes => node_cells(object, name, age),
        ResourceId::Pods => pod_cells(object, name, age, now),
        ResourceId::Services => service_cells(object, name, age),
        ResourceId::Endpoints => vec![name, json!(endpoints_summary(object)), age],
        ResourceId::EndpointSlices => vec![
            name,
            json!(text(object, "/addressType")),
            json!(slice_ports(object)),
            json!(slice_endpoints(object)),
            age,
        ],
        ResourceId::Ingresses => ingress_cells(object, name, age),
        ResourceId::Deployments => vec![
            name,
            json!(format!(
                "{}/{}",
                int_at(object, "/status/readyReplicas"),
                int_at(object, "/spec/replicas")
            )),
            json!(int_at(object, "/status/updatedReplicas")),
            json!(int_at(object, "/status/availableReplicas")),
            age,
            json!(container_field(object, "name")),
            json!(container_field(object, "image")),
            json!(selector_string(object.pointer("/spec/selector"))),
        ],
        ResourceId::StatefulSets => vec![
            name,
            json!(format!(
                "{}/{}",
                int_at(object, "/status/readyReplicas"),
                int_at(object, "/spec/replicas")
            )),
            age,
            json!(container_field(object, "name")),
            json!(container_field(object, "image")),
        ],
        ResourceId::Events => event_cells(object, name, now),
        ResourceId::ReplicaSets | ResourceId::ReplicationControllers => {
            replica_set_cells(object, name, age)
        }
        ResourceId::DaemonSets => daemon_set_cells(object, name, age),
        ResourceId::Jobs => job_cells(object, name, age, now),
        ResourceId::IngressClasses => {
            let parameters = object
                .pointer("/spec/parameters")
                .map(|parameters| {
                    let kind = parameters.get("kind").and_then(Value::as_str).unwrap_or("");
                    let named = parameters.get("name").and_then(Value::as_str).unwrap_or("");
                    format!("{kind}/{named}")
                })
                .unwrap_or_else(|| "<none>".to_owned());
            vec![
                name,
                json!(text(object, "/spec/controller")),
                json!(parameters),
                age,
            ]
        }
        _ => extra::cells(resource, object, name, age, now),
    }
}

/// `metav1.LabelSelector` as the string kubectl prints (`app=web,tier in (a,b)`).
pub fn selector_string(selector: Option<&Value>) -> String {
    let Some(selector) = selector else {
        return "<none>".into();
    };
    let mut parts = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        let sorted: BTreeMap<_, _> = labels.iter().collect();
        for (k, v) in sorted {
            parts.push(format!("{k}={}", v.as_str().unwrap_or("")));
        }
    }
    for expression in selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = expression.get("key").and_then(Value::as_str).unwrap_or("");
        let values: Vec<&str> = expression
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let part = match expression.get("operator").and_then(Value::as_str) {
            Some("In") => format!("{key} in ({})", values.join(",")),
            Some("NotIn") => format!("{key} notin ({})", values.join(",")),
            Some("Exists") => key.to_string(),
            Some("DoesNotExist") => format!("!{key}"),
            _ => continue,
        };
        parts.push(part);
    }
    if parts.is_empty() {
        "<none>".into()
    } else {
        parts.join(",")
    }
}

fn container_field(object: &Value, key: &str) -> String {
    array(object, "/spec/template/spec/containers")
        .iter()
        .filter_map(|c| c.get(key).and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(",")
}

fn text<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn int_at(object: &Value, pointer: &str) -> i64 {
    object.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn array<'a>(object: &'a Value, pointer: &str) -> &'a [Value] {
    object
        .pointer(pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn or_none(s: &str) -> &str {
    if s.is_empty() { "<none>" } else { s }
}

fn or_unknown(s: &str) -> &str {
    if s.is_empty() { "<unknown>" } else { s }
}

fn age(object: &Value, pointer: &str, now: Timestamp) -> String {
    match text(object, pointer).parse::<Timestamp>() {
        Ok(at) => human_duration(now.duration_since(at)),
        Err(_) => "<unknown>".into(),
    }
}

/// apimachinery's `duration.HumanDuration`: "45s", "3m20s", "5h", "12d", "2y30d".
pub fn human_duration(duration: SignedDuration) -> String {
    let seconds = duration.as_secs();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}
