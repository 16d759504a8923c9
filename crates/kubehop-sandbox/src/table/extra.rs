//! Columns for the kinds without a printer of their own in `columns`: the API server's
//! printers for the common built-in kinds, a custom resource's `additionalPrinterColumns`
//! (JSONPath cells), and NAME, AGE for the rest.

use super::*;
use crate::resources::{CustomInfo, PrinterColumn};

/// The columns of a kind without its own arm in [`columns`](super::columns).
pub(super) fn columns(resource: ResourceId) -> Vec<Column> {
    if let Some(custom) = resource.info().custom {
        return custom_columns(custom);
    }
    match resource {
        ResourceId::ConfigMaps => vec![NAME, int("Data", "Number of data items"), AGE],
        ResourceId::Secrets => vec![
            NAME,
            col("Type", "The type of the secret"),
            int("Data", "Number of data items"),
            AGE,
        ],
        ResourceId::ServiceAccounts => vec![NAME, int("Secrets", "Number of secrets"), AGE],
        _ => workload_columns(resource),
    }
}

/// The columns of the workload kinds and the rest.
fn workload_columns(resource: ResourceId) -> Vec<Column> {
    match resource {
        ResourceId::CronJobs => vec![
            NAME,
            col("Schedule", "The schedule in Cron format."),
            col("Suspend", "Whether the cron job is suspended."),
            int("Active", "The number of running jobs."),
            col("Last Schedule", "When the job was last scheduled."),
            AGE,
        ],
        ResourceId::HorizontalPodAutoscalers | ResourceId::HorizontalPodAutoscalersV1 => vec![
            NAME,
            col("Reference", "The resource being scaled."),
            int("MinPods", "Lower limit for the number of pods."),
            int("MaxPods", "Upper limit for the number of pods."),
            int("Replicas", "Current number of replicas."),
            AGE,
        ],
        ResourceId::PodDisruptionBudgets => vec![
            NAME,
            col(
                "Min Available",
                "The minimum number of pods that must be available.",
            ),
            col(
                "Max Unavailable",
                "The maximum number of pods that may be unavailable.",
            ),
            int(
                "Allowed Disruptions",
                "Number of pod disruptions currently allowed.",
            ),
            AGE,
        ],
        ResourceId::CustomResourceDefinitions => {
            vec![NAME, col("Created At", "When the definition was created.")]
        }
        _ => vec![NAME, AGE],
    }
}

/// The cells of a kind without its own arm in [`cells`](super::cells).
pub(super) fn cells(
    resource: ResourceId,
    object: &Value,
    name: Value,
    age: Value,
    now: Timestamp,
) -> Vec<Value> {
    if let Some(custom) = resource.info().custom {
        let mut row = vec![name];
        row.extend(
            custom_columns(custom)[1..]
                .iter()
                .zip(printer_columns(custom))
                .map(|(column, printer)| jsonpath_cell(object, &printer.json_path, column, now)),
        );
        return row;
    }
    let count = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_object)
            .map_or(0, serde_json::Map::len)
    };
    match resource {
        ResourceId::ConfigMaps => {
            let data = count("/data") + count("/binaryData");
            vec![name, json!(data), age]
        }
        ResourceId::Secrets => vec![
            name,
            json!(text(object, "/type")),
            json!(count("/data")),
            age,
        ],
        ResourceId::ServiceAccounts => {
            vec![name, json!(array(object, "/secrets").len()), age]
        }
        ResourceId::CronJobs => cron_job_cells(object, name, age, now),
        ResourceId::HorizontalPodAutoscalers | ResourceId::HorizontalPodAutoscalersV1 => {
            autoscaler_cells(object, name, age)
        }
        ResourceId::PodDisruptionBudgets => vec![
            name,
            json!(int_or_string(object, "/spec/minAvailable")),
            json!(int_or_string(object, "/spec/maxUnavailable")),
            json!(int_at(object, "/status/disruptionsAllowed")),
            age,
        ],
        ResourceId::CustomResourceDefinitions => {
            vec![name, json!(text(object, "/metadata/creationTimestamp"))]
        }
        _ => vec![name, age],
    }
}

fn cron_job_cells(object: &Value, name: Value, age: Value, now: Timestamp) -> Vec<Value> {
    vec![
        name,
        json!(text(object, "/spec/schedule")),
        json!(
            object
                .pointer("/spec/suspend")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                .to_string()
                .to_ascii_lowercase()
        ),
        json!(array(object, "/status/active").len()),
        json!(match text(object, "/status/lastScheduleTime") {
            "" => "<none>".to_owned(),
            _ => age_of(object, "/status/lastScheduleTime", now),
        }),
        age,
    ]
}

fn autoscaler_cells(object: &Value, name: Value, age: Value) -> Vec<Value> {
    vec![
        name,
        json!(format!(
            "{}/{}",
            text(object, "/spec/scaleTargetRef/kind"),
            text(object, "/spec/scaleTargetRef/name")
        )),
        json!(
            object
                .pointer("/spec/minReplicas")
                .and_then(Value::as_i64)
                .unwrap_or(1)
        ),
        json!(int_at(object, "/spec/maxReplicas")),
        json!(int_at(object, "/status/currentReplicas")),
        age,
    ]
}

fn age_of(object: &Value, pointer: &str, now: Timestamp) -> String {
    super::age(object, pointer, now)
}

fn int_or_string(object: &Value, pointer: &str) -> String {
    match object.pointer(pointer) {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => "N/A".to_owned(),
    }
}

/// The printer columns of a custom resource: its own, or AGE when it declares none.
fn printer_columns(custom: &'static CustomInfo) -> &'static [PrinterColumn] {
    &custom.printer_columns
}

fn custom_columns(custom: &'static CustomInfo) -> Vec<Column> {
    let mut out = vec![NAME];
    if custom.printer_columns.is_empty() {
        out.push(AGE);
        return out;
    }
    out.extend(custom.printer_columns.iter().map(|c| Column {
        name: c.name.as_str(),
        kind: c.kind.as_str(),
        format: c.format.as_str(),
        description: c.description.as_str(),
        priority: c.priority,
    }));
    out
}

/// One JSONPath cell, typed by its column (`date` as an age).
fn jsonpath_cell(object: &Value, path: &str, column: &Column, now: Timestamp) -> Value {
    let found = jsonpath(object, path);
    let Some(first) = found.first() else {
        return Value::Null;
    };
    if found.len() > 1 {
        let parts: Vec<String> = found.iter().map(|v| plain(v)).collect();
        return json!(parts.join(","));
    }
    match (column.kind, first) {
        ("date", Value::String(at)) => match at.parse::<Timestamp>() {
            Ok(at) => json!(human_duration(now.duration_since(at))),
            Err(_) => json!(at),
        },
        ("integer" | "number" | "boolean", value) if !value.is_object() && !value.is_array() => {
            (*first).clone()
        }
        _ => json!(plain(first)),
    }
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The values a JSONPath (the subset printer columns use: `.a.b`, `[0]`, `[*]`,
/// `[?(@.k=="v")]`, `['key']`) selects.
pub(super) fn jsonpath<'a>(object: &'a Value, path: &str) -> Vec<&'a Value> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}');
    let mut current = vec![object];
    for step in steps(path) {
        let mut next = Vec::new();
        for value in current {
            apply_step(value, &step, &mut next);
        }
        current = next;
    }
    current
}

#[derive(Debug, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    All,
    Filter(String, String),
}

fn steps(path: &str) -> Vec<Step> {
    let mut out = Vec::new();
    let mut rest = path.trim_start_matches('$');
    while !rest.is_empty() {
        if let Some(tail) = rest.strip_prefix('.') {
            let end = tail.find(['.', '[']).unwrap_or(tail.len());
            if end > 0 {
                out.push(Step::Field(tail[..end].to_owned()));
            }
            rest = &tail[end..];
        } else if let Some(tail) = rest.strip_prefix('[') {
            let end = tail.find(']').unwrap_or(tail.len());
            out.push(bracket(&tail[..end]));
            rest = tail.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            out.push(Step::Field(rest[..end].to_owned()));
            rest = &rest[end..];
        }
    }
    out
}

fn bracket(inner: &str) -> Step {
    let inner = inner.trim();
    if inner == "*" {
        return Step::All;
    }
    if let Ok(index) = inner.parse::<usize>() {
        return Step::Index(index);
    }
    if let Some(filter) = inner.strip_prefix("?(").and_then(|f| f.strip_suffix(')'))
        && let Some((left, right)) = filter.split_once("==")
    {
        let key = left.trim().trim_start_matches("@.").to_owned();
        let value = right.trim().trim_matches(['"', '\'']).to_owned();
        return Step::Filter(key, value);
    }
    Step::Field(inner.trim_matches(['"', '\'']).to_owned())
}

fn apply_step<'a>(value: &'a Value, step: &Step, out: &mut Vec<&'a Value>) {
    match step {
        Step::Field(name) => out.extend(value.get(name.as_str())),
        Step::Index(index) => out.extend(value.get(*index)),
        Step::All => match value {
            Value::Array(items) => out.extend(items),
            Value::Object(map) => out.extend(map.values()),
            _ => {}
        },
        Step::Filter(key, expected) => {
            for item in value.as_array().into_iter().flatten() {
                if item.get(key.as_str()).map(plain).as_deref() == Some(expected.as_str()) {
                    out.push(item);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonpath_subset() {
        let object = json!({"spec": {"size": 3, "ports": [{"port": 80}, {"port": 443}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        assert_eq!(jsonpath(&object, ".spec.size"), [&json!(3)]);
        assert_eq!(jsonpath(&object, ".spec.ports[1].port"), [&json!(443)]);
        assert_eq!(jsonpath(&object, ".spec.ports[*].port").len(), 2);
        assert_eq!(
            jsonpath(&object, ".status.conditions[?(@.type==\"Ready\")].status"),
            [&json!("True")]
        );
        assert!(jsonpath(&object, ".spec.missing").is_empty());
    }
}
