//! The cells of one Table row, one function per kind (kubectl's printers).

use super::*;

pub(super) fn node_cells(object: &Value, name: Value, age: Value) -> Vec<Value> {
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

pub(super) fn pod_cells(object: &Value, name: Value, age: Value, now: Timestamp) -> Vec<Value> {
    let containers = array(object, "/spec/containers").len();
    let mut restarts = Restarts::default();
    let mut ready = 0usize;
    let mut reason = text(object, "/status/phase").to_string();
    if !text(object, "/status/reason").is_empty() {
        reason = text(object, "/status/reason").to_string();
    }
    match init_container_reason(object, &mut restarts) {
        Some(init) => reason = init,
        None => ready = container_reason(object, &mut reason, &mut restarts),
    }
    if object.pointer("/metadata/deletionTimestamp").is_some() {
        reason = if text(object, "/status/reason") == "NodeLost" {
            "Unknown".into()
        } else {
            "Terminating".into()
        };
    }
    vec![
        name,
        json!(format!("{ready}/{containers}")),
        json!(reason),
        json!(restarts.render(now)),
        age,
        json!(or_none(text(object, "/status/podIP"))),
        json!(or_none(text(object, "/spec/nodeName"))),
        json!(or_none(text(object, "/status/nominatedNodeName"))),
        json!(readiness_gates(object)),
    ]
}

/// The Restarts column: the restart count over the containers seen, and when the last one
/// finished.
#[derive(Default)]
struct Restarts {
    count: i64,
    last: Option<Timestamp>,
}

impl Restarts {
    fn note(&mut self, status: &Value) {
        self.count += status
            .get("restartCount")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if let Some(at) = status
            .pointer("/lastState/terminated/finishedAt")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<Timestamp>().ok())
            && self.last.is_none_or(|l| at > l)
        {
            self.last = Some(at);
        }
    }

    fn render(&self, now: Timestamp) -> String {
        match self.last {
            Some(at) if self.count > 0 => format!(
                "{} ({} ago)",
                self.count,
                human_duration(now.duration_since(at))
            ),
            _ => self.count.to_string(),
        }
    }
}

/// The status while an init container has not finished (`Init:<reason>` or `Init:<i>/<n>`),
/// or `None` once every init container is done or running as a sidecar.
fn init_container_reason(object: &Value, restarts: &mut Restarts) -> Option<String> {
    let init_count = array(object, "/spec/initContainers").len();
    for (i, status) in array(object, "/status/initContainerStatuses")
        .iter()
        .enumerate()
    {
        restarts.note(status);
        if let Some(terminated) = status.pointer("/state/terminated") {
            if terminated.get("exitCode").and_then(Value::as_i64) == Some(0) {
                continue;
            }
            return Some(format!("Init:{}", terminated_reason(terminated)));
        } else if let Some(why) = status
            .pointer("/state/waiting/reason")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty() && *r != "PodInitializing")
        {
            return Some(format!("Init:{why}"));
        } else if status.get("started").and_then(Value::as_bool) == Some(true)
            && status.get("ready").and_then(Value::as_bool) == Some(true)
        {
            // A restartable init container (sidecar) that runs: not initializing.
            continue;
        }
        return Some(format!("Init:{i}/{init_count}"));
    }
    None
}

/// Updates `reason` from the app containers' states (the first container's state wins, as
/// kubectl walks them in reverse) and returns how many running containers are ready.
fn container_reason(object: &Value, reason: &mut String, restarts: &mut Restarts) -> usize {
    let mut ready = 0usize;
    let mut has_running = false;
    for status in array(object, "/status/containerStatuses").iter().rev() {
        restarts.note(status);
        if let Some(why) = status
            .pointer("/state/waiting/reason")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
        {
            *reason = why.to_string();
        } else if let Some(terminated) = status.pointer("/state/terminated") {
            *reason = terminated_reason(terminated);
        } else if status.pointer("/state/running").is_some() {
            has_running = true;
            if status.get("ready").and_then(Value::as_bool) == Some(true) {
                ready += 1;
            }
        }
    }
    if reason == "Completed" && has_running {
        *reason = if pod_condition_true(object, "Ready") {
            "Running".into()
        } else {
            "NotReady".into()
        };
    }
    ready
}

/// A terminated container's reason, or one made from its signal or exit code.
fn terminated_reason(terminated: &Value) -> String {
    terminated
        .get("reason")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| exit_reason(terminated))
}

/// The Readiness Gates column: `<passing>/<total>`, or `<none>`.
fn readiness_gates(object: &Value) -> String {
    let gates = array(object, "/spec/readinessGates");
    if gates.is_empty() {
        return "<none>".to_string();
    }
    let passing = gates
        .iter()
        .filter(|g| {
            g.get("conditionType")
                .and_then(Value::as_str)
                .is_some_and(|t| pod_condition_true(object, t))
        })
        .count();
    format!("{passing}/{}", gates.len())
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

pub(super) fn service_cells(object: &Value, name: Value, age: Value) -> Vec<Value> {
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

pub(super) fn endpoints_summary(object: &Value) -> String {
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

pub(super) fn slice_ports(object: &Value) -> String {
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

pub(super) fn slice_endpoints(object: &Value) -> String {
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

pub(super) fn ingress_cells(object: &Value, name: Value, age: Value) -> Vec<Value> {
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

pub(super) fn event_cells(object: &Value, name: Value, now: Timestamp) -> Vec<Value> {
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
