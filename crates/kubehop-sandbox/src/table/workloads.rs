//! Table columns and cells of the workload kinds the controllers own: ReplicaSets,
//! ReplicationControllers, DaemonSets and Jobs (kubectl's printer columns for each).

use super::*;

const CONTAINERS: Column = wide("Containers", "Names of each container in the template.");
const IMAGES: Column = wide(
    "Images",
    "Images referenced by each container in the template.",
);
const SELECTOR: Column = wide("Selector", "Label selector for pods.");

/// ReplicaSets and ReplicationControllers: DESIRED CURRENT READY AGE.
pub(super) fn replica_set_columns() -> Vec<Column> {
    vec![
        NAME,
        int("Desired", "Number of desired pods."),
        int("Current", "Number of actual replicas."),
        int(
            "Ready",
            "The number of ready replicas for this replica set.",
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ]
}

pub(super) fn daemon_set_columns() -> Vec<Column> {
    vec![
        NAME,
        int(
            "Desired",
            "The total number of nodes that should be running the daemon pod.",
        ),
        int(
            "Current",
            "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.",
        ),
        int(
            "Ready",
            "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.",
        ),
        int(
            "Up-to-date",
            "The total number of nodes that are running updated daemon pod.",
        ),
        int(
            "Available",
            "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available.",
        ),
        col(
            "Node Selector",
            "NodeSelector is a selector which must be true for the pod to fit on a node.",
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ]
}

pub(super) fn job_columns() -> Vec<Column> {
    vec![
        NAME,
        col("Status", "Status of the job."),
        col(
            "Completions",
            "The completed pods of the job, out of the desired completions.",
        ),
        col("Duration", "Time required to complete the job."),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ]
}

/// The three wide cells every workload kind ends with.
fn template_cells(object: &Value) -> [Value; 3] {
    let selector = object.pointer("/spec/selector");
    // A ReplicationController's selector is a plain map.
    let selector = match selector {
        Some(Value::Object(map))
            if !map.contains_key("matchLabels") && !map.contains_key("matchExpressions") =>
        {
            selector_string(Some(&json!({"matchLabels": map})))
        }
        other => selector_string(other),
    };
    [
        json!(container_field(object, "name")),
        json!(container_field(object, "image")),
        json!(selector),
    ]
}

pub(super) fn replica_set_cells(object: &Value, name: Value, age: Value) -> Vec<Value> {
    let mut cells = vec![
        name,
        json!(int_at(object, "/spec/replicas")),
        json!(int_at(object, "/status/replicas")),
        json!(int_at(object, "/status/readyReplicas")),
        age,
    ];
    cells.extend(template_cells(object));
    cells
}

pub(super) fn daemon_set_cells(object: &Value, name: Value, age: Value) -> Vec<Value> {
    let node_selector = object
        .pointer("/spec/template/spec/nodeSelector")
        .and_then(Value::as_object)
        .map(|m| {
            let sorted: BTreeMap<_, _> = m.iter().collect();
            sorted
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let mut cells = vec![
        name,
        json!(int_at(object, "/status/desiredNumberScheduled")),
        json!(int_at(object, "/status/currentNumberScheduled")),
        json!(int_at(object, "/status/numberReady")),
        json!(int_at(object, "/status/updatedNumberScheduled")),
        json!(int_at(object, "/status/numberAvailable")),
        json!(or_none(&node_selector)),
        age,
    ];
    cells.extend(template_cells(object));
    cells
}

/// A Job's STATUS as kubectl prints it: Complete, Failed, Suspended or Running.
fn job_status(object: &Value) -> &'static str {
    let has = |kind: &str| {
        array(object, "/status/conditions")
            .iter()
            .any(|c| text(c, "/type") == kind && text(c, "/status") == "True")
    };
    if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if has("Suspended") {
        "Suspended"
    } else if has("FailureTarget") {
        "FailureTarget"
    } else if has("SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    }
}

pub(super) fn job_cells(object: &Value, name: Value, age: Value, now: Timestamp) -> Vec<Value> {
    let completions = match object.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(n) => format!("{}/{n}", int_at(object, "/status/succeeded")),
        None => {
            let parallelism = object
                .pointer("/spec/parallelism")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            format!("{}/1 of {parallelism}", int_at(object, "/status/succeeded"))
        }
    };
    let time = |pointer: &str| text(object, pointer).parse::<Timestamp>().ok();
    let duration = match (time("/status/startTime"), time("/status/completionTime")) {
        (Some(start), Some(end)) => human_duration(end.duration_since(start)),
        (Some(start), None) => human_duration(now.duration_since(start)),
        _ => String::new(),
    };
    let mut cells = vec![
        name,
        json!(job_status(object)),
        json!(completions),
        json!(duration),
        age,
    ];
    cells.extend(template_cells(object));
    cells
}
