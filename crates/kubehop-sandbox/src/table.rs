//! Server-side printing: `meta.k8s.io/v1` Tables with the columns kubectl shows for each kind
//! (the API server's `pkg/printers/internalversion` printers, for the kinds the sandbox serves).

use std::collections::BTreeMap;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};

use crate::resources::ResourceId;

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

/// The columns for `resource`.
pub fn columns(resource: ResourceId) -> Vec<Column> {
    match resource {
        ResourceId::Namespaces => vec![NAME, col("Status", "The status of the namespace"), AGE],
        ResourceId::Nodes => vec![
            NAME,
            col("Status", "The status of the node"),
            col("Roles", "The roles of the node"),
            AGE,
            col("Version", "Kubelet Version reported by the node."),
            wide("Internal-IP", "List of internal IPs in the node."),
            wide("External-IP", "List of external IPs in the node."),
            wide(
                "OS-Image",
                "OS Image reported by the node from /etc/os-release.",
            ),
            wide("Kernel-Version", "Kernel Version reported by the node."),
            wide(
                "Container-Runtime",
                "Container Runtime Version reported by the node.",
            ),
        ],
        ResourceId::Pods => vec![
            NAME,
            col(
                "Ready",
                "The aggregate readiness state of this pod for accepting traffic.",
            ),
            col(
                "Status",
                "The aggregate status of the containers in this pod.",
            ),
            col(
                "Restarts",
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
            ),
            AGE,
            wide(
                "IP",
                "IP address allocated to the pod. Routable at least within the cluster.",
            ),
            wide("Node", "Name of the Node this pod is bound to."),
            wide(
                "Nominated Node",
                "Name of the Node this pod is nominated to run on.",
            ),
            wide(
                "Readiness Gates",
                "Readiness gates of this pod, with the number of them passing.",
            ),
        ],
        ResourceId::Services => vec![
            NAME,
            col(
                "Type",
                "The type of the service: ClusterIP, NodePort, LoadBalancer or ExternalName.",
            ),
            col(
                "Cluster-IP",
                "The IP address assigned to the service by the cluster.",
            ),
            col(
                "External-IP",
                "The external IPs of the service, or its LoadBalancer ingress.",
            ),
            col("Port(s)", "The ports the service exposes, with nodePorts."),
            AGE,
            wide(
                "Selector",
                "Route service traffic to pods with label keys and values matching this selector.",
            ),
        ],
        ResourceId::Endpoints => vec![
            NAME,
            col(
                "Endpoints",
                "Endpoints of the service (ip:port, up to three).",
            ),
            AGE,
        ],
        ResourceId::EndpointSlices => vec![
            NAME,
            col(
                "AddressType",
                "The type of address carried by this EndpointSlice.",
            ),
            col("Ports", "The ports of this EndpointSlice."),
            col("Endpoints", "The addresses of the endpoints (up to three)."),
            AGE,
        ],
        ResourceId::Ingresses => vec![
            NAME,
            col(
                "Class",
                "The name of the IngressClass resource that should be used.",
            ),
            col("Hosts", "Hosts that incoming requests are matched against."),
            col(
                "Address",
                "Address is a list containing ingress points for the load-balancer.",
            ),
            col("Ports", "Ports of TLS configurations that open."),
            AGE,
        ],
        ResourceId::Deployments => vec![
            NAME,
            col("Ready", "Number of the pod with ready state"),
            int(
                "Up-to-date",
                "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
            ),
            int(
                "Available",
                "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
            ),
            AGE,
            wide("Containers", "Names of each container in the template."),
            wide(
                "Images",
                "Images referenced by each container in the template.",
            ),
            wide("Selector", "Label selector for pods."),
        ],
        ResourceId::StatefulSets => vec![
            NAME,
            col("Ready", "Number of the pod with ready state"),
            AGE,
            wide("Containers", "Names of each container in the template."),
            wide(
                "Images",
                "Images referenced by each container in the template.",
            ),
        ],
        ResourceId::Events => vec![
            col("Last Seen", "Time when last event occurred"),
            col("Type", "Type of this event (Normal, Warning)."),
            col("Reason", "Why the action was taken."),
            col("Object", "The object this event is about."),
            wide("Subobject", "The subobject this event is about."),
            wide("Source", "The component reporting this event."),
            col(
                "Message",
                "A human-readable description of the status of this operation.",
            ),
            wide(
                "First Seen",
                "The time at which the event was first recorded.",
            ),
            wide("Count", "The number of times this event has occurred."),
            Column {
                priority: 1,
                ..NAME
            },
        ],
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
    }
}

fn node_cells(object: &Value, name: Value, age: Value) -> Vec<Value> {
    let ready = array(object, "/status/conditions")
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        .map(|c| match c.get("status").and_then(Value::as_str) {
            Some("True") => "Ready",
            Some("False") => "NotReady",
            _ => "Unknown",
        })
        .unwrap_or("Unknown");
    let mut status = ready.to_string();
    if object
        .pointer("/spec/unschedulable")
        .and_then(Value::as_bool)
        == Some(true)
    {
        status.push_str(",SchedulingDisabled");
    }
    let mut roles: Vec<String> = object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| {
                    if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                        (!role.is_empty()).then(|| role.to_string())
                    } else if k == "kubernetes.io/role" {
                        v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
                    } else {
                        None
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    roles.dedup();
    let address = |kind: &str| {
        let found: Vec<&str> = array(object, "/status/addresses")
            .iter()
            .filter(|a| a.get("type").and_then(Value::as_str) == Some(kind))
            .filter_map(|a| a.get("address").and_then(Value::as_str))
            .collect();
        or_none(&found.join(",")).to_string()
    };
    vec![
        name,
        json!(status),
        json!(or_none(&roles.join(","))),
        age,
        json!(text(object, "/status/nodeInfo/kubeletVersion")),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(or_unknown(text(object, "/status/nodeInfo/osImage"))),
        json!(or_unknown(text(object, "/status/nodeInfo/kernelVersion"))),
        json!(or_unknown(text(
            object,
            "/status/nodeInfo/containerRuntimeVersion"
        ))),
    ]
}

fn pod_cells(object: &Value, name: Value, age: Value, now: Timestamp) -> Vec<Value> {
    let containers = array(object, "/spec/containers").len();
    let mut restarts = 0i64;
    let mut last_restart: Option<Timestamp> = None;
    let mut ready = 0usize;
    let mut reason = text(object, "/status/phase").to_string();
    if !text(object, "/status/reason").is_empty() {
        reason = text(object, "/status/reason").to_string();
    }
    let note_restart = |status: &Value, restarts: &mut i64, last: &mut Option<Timestamp>| {
        *restarts += status
            .get("restartCount")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if let Some(at) = status
            .pointer("/lastState/terminated/finishedAt")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<Timestamp>().ok())
            && last.is_none_or(|l| at > l)
        {
            *last = Some(at);
        }
    };
    let init_statuses = array(object, "/status/initContainerStatuses");
    let init_count = array(object, "/spec/initContainers").len();
    let mut initializing = false;
    for (i, status) in init_statuses.iter().enumerate() {
        note_restart(status, &mut restarts, &mut last_restart);
        if let Some(terminated) = status.pointer("/state/terminated") {
            if terminated.get("exitCode").and_then(Value::as_i64) == Some(0) {
                continue;
            }
            let why = terminated
                .get("reason")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| exit_reason(terminated));
            reason = format!("Init:{why}");
        } else if let Some(why) = status
            .pointer("/state/waiting/reason")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty() && *r != "PodInitializing")
        {
            reason = format!("Init:{why}");
        } else if status.get("started").and_then(Value::as_bool) == Some(true)
            && status.get("ready").and_then(Value::as_bool) == Some(true)
        {
            // A restartable init container (sidecar) that runs: not initializing.
            continue;
        } else {
            reason = format!("Init:{i}/{init_count}");
        }
        initializing = true;
        break;
    }
    if !initializing {
        let mut has_running = false;
        for status in array(object, "/status/containerStatuses").iter().rev() {
            note_restart(status, &mut restarts, &mut last_restart);
            if let Some(why) = status
                .pointer("/state/waiting/reason")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
            {
                reason = why.to_string();
            } else if let Some(terminated) = status.pointer("/state/terminated") {
                reason = terminated
                    .get("reason")
                    .and_then(Value::as_str)
                    .filter(|r| !r.is_empty())
                    .map(str::to_string)
                    .unwrap_or_else(|| exit_reason(terminated));
            } else if status.pointer("/state/running").is_some() {
                has_running = true;
                if status.get("ready").and_then(Value::as_bool) == Some(true) {
                    ready += 1;
                }
            }
        }
        if reason == "Completed" && has_running {
            reason = if pod_condition_true(object, "Ready") {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }
    if object.pointer("/metadata/deletionTimestamp").is_some() {
        reason = if text(object, "/status/reason") == "NodeLost" {
            "Unknown".into()
        } else {
            "Terminating".into()
        };
    }
    let restarts = match last_restart {
        Some(at) if restarts > 0 => format!(
            "{restarts} ({} ago)",
            human_duration(now.duration_since(at))
        ),
        _ => restarts.to_string(),
    };
    let gates = array(object, "/spec/readinessGates");
    let gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let passing = gates
            .iter()
            .filter(|g| {
                g.get("conditionType")
                    .and_then(Value::as_str)
                    .is_some_and(|t| pod_condition_true(object, t))
            })
            .count();
        format!("{passing}/{}", gates.len())
    };
    vec![
        name,
        json!(format!("{ready}/{containers}")),
        json!(reason),
        json!(restarts),
        age,
        json!(or_none(text(object, "/status/podIP"))),
        json!(or_none(text(object, "/spec/nodeName"))),
        json!(or_none(text(object, "/status/nominatedNodeName"))),
        json!(gates),
    ]
}

fn exit_reason(terminated: &Value) -> String {
    match terminated.get("signal").and_then(Value::as_i64) {
        Some(signal) if signal != 0 => format!("Signal:{signal}"),
        _ => format!(
            "ExitCode:{}",
            terminated
                .get("exitCode")
                .and_then(Value::as_i64)
                .unwrap_or(0)
        ),
    }
}

fn pod_condition_true(object: &Value, kind: &str) -> bool {
    array(object, "/status/conditions").iter().any(|c| {
        c.get("type").and_then(Value::as_str) == Some(kind)
            && c.get("status").and_then(Value::as_str) == Some("True")
    })
}

fn service_cells(object: &Value, name: Value, age: Value) -> Vec<Value> {
    let service_type = text(object, "/spec/type");
    let external_ips: Vec<&str> = array(object, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let external = match service_type {
        "ClusterIP" | "NodePort" => or_none(&external_ips.join(",")).to_string(),
        "LoadBalancer" => {
            let mut all: Vec<String> = array(object, "/status/loadBalancer/ingress")
                .iter()
                .filter_map(|i| {
                    i.get("ip")
                        .or_else(|| i.get("hostname"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .collect();
            let mut lb = all.join(",");
            if lb.len() > 16 {
                lb = format!("{}...", lb.chars().take(13).collect::<String>());
            }
            if external_ips.is_empty() {
                if lb.is_empty() {
                    "<pending>".to_string()
                } else {
                    lb
                }
            } else {
                all.extend(external_ips.iter().map(|s| s.to_string()));
                all.join(",")
            }
        }
        "ExternalName" => text(object, "/spec/externalName").to_string(),
        _ => "<unknown>".to_string(),
    };
    let ports: Vec<String> = array(object, "/spec/ports")
        .iter()
        .map(|p| {
            let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
            let protocol = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            match p.get("nodePort").and_then(Value::as_i64) {
                Some(node_port) if node_port > 0 => format!("{port}:{node_port}/{protocol}"),
                _ => format!("{port}/{protocol}"),
            }
        })
        .collect();
    let selector = object
        .pointer("/spec/selector")
        .and_then(Value::as_object)
        .map(|s| {
            let sorted: BTreeMap<_, _> = s.iter().collect();
            sorted
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    vec![
        name,
        json!(service_type),
        json!(or_none(text(object, "/spec/clusterIP"))),
        json!(external),
        json!(or_none(&ports.join(","))),
        age,
        json!(or_none(&selector)),
    ]
}

fn endpoints_summary(object: &Value) -> String {
    let mut pairs = Vec::new();
    let mut total = 0usize;
    for subset in array(object, "/subsets") {
        let addresses = subset
            .get("addresses")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let ports = subset
            .get("ports")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for address in addresses {
            let ip = address.get("ip").and_then(Value::as_str).unwrap_or("");
            if ports.is_empty() {
                total += 1;
                if pairs.len() < 3 {
                    pairs.push(ip.to_string());
                }
            }
            for port in ports {
                total += 1;
                if pairs.len() < 3 {
                    let number = port.get("port").and_then(Value::as_i64).unwrap_or(0);
                    pairs.push(format!("{ip}:{number}"));
                }
            }
        }
    }
    if pairs.is_empty() {
        return "<none>".into();
    }
    let mut out = pairs.join(",");
    if total > pairs.len() {
        out.push_str(&format!(" + {} more...", total - pairs.len()));
    }
    out
}

fn slice_ports(object: &Value) -> String {
    let ports = array(object, "/ports");
    if ports.is_empty() {
        return "<unset>".into();
    }
    let numbers: Vec<String> = ports
        .iter()
        .map(|p| match p.get("port").and_then(Value::as_i64) {
            Some(n) => n.to_string(),
            None => "<unset>".into(),
        })
        .collect();
    let mut text = numbers
        .iter()
        .take(3)
        .cloned()
        .collect::<Vec<_>>()
        .join(",");
    if numbers.len() > 3 {
        text.push_str(&format!(" + {} more...", numbers.len() - 3));
    }
    text
}

fn slice_endpoints(object: &Value) -> String {
    let addresses: Vec<&str> = array(object, "/endpoints")
        .iter()
        .flat_map(|e| {
            e.get("addresses")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
        })
        .filter_map(Value::as_str)
        .collect();
    if addresses.is_empty() {
        return "<none>".into();
    }
    let mut text = addresses
        .iter()
        .take(3)
        .copied()
        .collect::<Vec<_>>()
        .join(",");
    if addresses.len() > 3 {
        text.push_str(&format!(" + {} more...", addresses.len() - 3));
    }
    text
}

fn ingress_cells(object: &Value, name: Value, age: Value) -> Vec<Value> {
    let hosts: Vec<&str> = array(object, "/spec/rules")
        .iter()
        .map(|r| r.get("host").and_then(Value::as_str).unwrap_or("*"))
        .collect();
    let mut host_text = hosts.iter().take(4).copied().collect::<Vec<_>>().join(",");
    if hosts.len() > 4 {
        host_text.push_str(&format!(" + {} more...", hosts.len() - 4));
    }
    if host_text.is_empty() {
        host_text = "*".into();
    }
    let addresses: Vec<&str> = array(object, "/status/loadBalancer/ingress")
        .iter()
        .filter_map(|i| {
            i.get("ip")
                .or_else(|| i.get("hostname"))
                .and_then(Value::as_str)
        })
        .collect();
    let ports = if array(object, "/spec/tls").is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        name,
        json!(or_none(text(object, "/spec/ingressClassName"))),
        json!(host_text),
        json!(addresses.join(",")),
        json!(ports),
        age,
    ]
}

fn event_cells(object: &Value, name: Value, now: Timestamp) -> Vec<Value> {
    let last_seen = [
        "/lastTimestamp",
        "/eventTime",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .find(|p| !text(object, p).is_empty())
    .map(|p| age(object, p, now))
    .unwrap_or_else(|| "<unknown>".into());
    let first_seen = [
        "/firstTimestamp",
        "/eventTime",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .find(|p| !text(object, p).is_empty())
    .map(|p| age(object, p, now))
    .unwrap_or_else(|| "<unknown>".into());
    let kind = text(object, "/involvedObject/kind").to_lowercase();
    let target = format!("{kind}/{}", text(object, "/involvedObject/name"));
    let source = [
        text(object, "/source/component"),
        text(object, "/source/host"),
    ]
    .iter()
    .filter(|s| !s.is_empty())
    .copied()
    .collect::<Vec<_>>()
    .join(", ");
    vec![
        json!(last_seen),
        json!(text(object, "/type")),
        json!(text(object, "/reason")),
        json!(target),
        json!(text(object, "/involvedObject/fieldPath")),
        json!(source),
        json!(text(object, "/message").trim()),
        json!(first_seen),
        json!(int_at(object, "/count").max(1)),
        name,
    ]
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

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(0, "0s")]
    #[case(119, "119s")]
    #[case(120, "2m")]
    #[case(200, "3m20s")]
    #[case(11 * 60, "11m")]
    #[case(5 * 3600 + 60, "5h1m")]
    #[case(30 * 3600, "30h")]
    #[case(3 * 86400 + 3600, "3d1h")]
    #[case(40 * 86400, "40d")]
    #[case(3 * 365 * 86400 + 86400, "3y1d")]
    fn human_durations(#[case] seconds: i64, #[case] expected: &str) {
        assert_eq!(human_duration(SignedDuration::from_secs(seconds)), expected);
    }

    fn now() -> Timestamp {
        "2025-01-01T00:10:00Z".parse().expect("timestamp")
    }

    #[test]
    fn service_rows_match_kubectl() {
        let service = json!({
            "metadata": {"name": "web", "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {"type": "LoadBalancer", "clusterIP": "127.96.0.10", "selector": {"app": "web"},
                     "ports": [{"port": 80, "protocol": "TCP", "nodePort": 31852}, {"port": 53, "protocol": "UDP"}]},
            "status": {"loadBalancer": {}}
        });
        assert_eq!(
            cells(ResourceId::Services, &service, now()),
            vec![
                json!("web"),
                json!("LoadBalancer"),
                json!("127.96.0.10"),
                json!("<pending>"),
                json!("80:31852/TCP,53/UDP"),
                json!("10m"),
                json!("app=web"),
            ]
        );
    }

    #[test]
    fn pod_rows_show_readiness_and_terminating() {
        let pod = json!({
            "metadata": {"name": "web-1", "creationTimestamp": "2025-01-01T00:09:00Z", "deletionTimestamp": "2025-01-01T00:10:30Z"},
            "spec": {"nodeName": "node-a", "containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "podIP": "127.1.0.5", "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 2, "state": {"running": {}}},
                {"name": "b", "ready": false, "restartCount": 0, "state": {"running": {}}}
            ]}
        });
        let row = cells(ResourceId::Pods, &pod, now());
        assert_eq!(row[1], json!("1/2"));
        assert_eq!(row[2], json!("Terminating"));
        assert_eq!(row[3], json!("2"));
        assert_eq!(row[4], json!("60s"));
        assert_eq!(row[5], json!("127.1.0.5"));
        assert_eq!(row[6], json!("node-a"));
    }

    #[test]
    fn every_kind_has_one_cell_per_column() {
        let empty = json!({"metadata": {"name": "x"}});
        for id in ResourceId::ALL {
            assert_eq!(cells(id, &empty, now()).len(), columns(id).len(), "{id}");
        }
    }

    #[test]
    fn selectors_print_like_kubectl() {
        let selector = json!({"matchLabels": {"b": "2", "a": "1"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["x", "y"]}]});
        assert_eq!(selector_string(Some(&selector)), "a=1,b=2,tier in (x,y)");
    }
}
