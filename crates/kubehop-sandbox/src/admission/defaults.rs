//! Defaulting: the fields the API server fills in for each kind, and the status a new
//! object starts with.

use serde_json::{Value, json};

use crate::resources::ResourceId;

/// Applies the API server's defaults for `resource` (idempotent).
pub fn apply_defaults(resource: ResourceId, object: &mut Value) {
    match resource {
        ResourceId::Services => default_service(object),
        ResourceId::Pods => {
            if let Some(spec) = object.get_mut("spec") {
                default_pod_spec(spec);
                default_pod_admission(spec);
            }
            if let Some(status) = object.get_mut("status").filter(|s| s.is_object()) {
                // The v1 conversion keeps podIP/podIPs and hostIP/hostIPs in step.
                mirror_ip_list(status, "podIP", "podIPs");
                mirror_ip_list(status, "hostIP", "hostIPs");
            }
        }
        ResourceId::Deployments => default_deployment(object),
        ResourceId::StatefulSets => default_stateful_set(object),
        ResourceId::Namespaces => default_namespace(object),
        ResourceId::EndpointSlices => {
            for port in array_mut(object, "ports") {
                set_default(port, "protocol", json!("TCP"));
                // The controller always writes a name ("" for an unnamed Service port);
                // kubectl describe dereferences it.
                if let Some(port) = port.as_object_mut()
                    && port.get("name").is_none_or(Value::is_null)
                {
                    port.insert("name".into(), json!(""));
                }
            }
        }
        ResourceId::Nodes
        | ResourceId::Endpoints
        | ResourceId::Ingresses
        | ResourceId::Events
        | ResourceId::IngressClasses => {}
        ResourceId::ReplicaSets => default_replica_set(object),
        ResourceId::ReplicationControllers => default_replication_controller(object),
        ResourceId::DaemonSets => default_daemon_set(object),
        ResourceId::Jobs => default_job(object),
        _ => {}
    }
}

/// The status an API-created object starts with, for kinds with a status subresource.
pub fn initial_status(resource: ResourceId, object: &Value) -> Option<Value> {
    match resource {
        ResourceId::Pods => Some(json!({
            "phase": "Pending",
            "qosClass": pod_qos_class(object),
        })),
        ResourceId::Services => Some(json!({"loadBalancer": {}})),
        ResourceId::Namespaces => Some(json!({"phase": "Active"})),
        ResourceId::Ingresses => Some(json!({"loadBalancer": {}})),
        _ => None,
    }
}

fn pod_qos_class(pod: &Value) -> &'static str {
    let containers = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let has_resources = containers.iter().any(|c| {
        ["requests", "limits"].iter().any(|k| {
            c.pointer(&format!("/resources/{k}"))
                .and_then(Value::as_object)
                .is_some_and(|m| !m.is_empty())
        })
    });
    if has_resources {
        "Burstable"
    } else {
        "BestEffort"
    }
}

fn default_service(service: &mut Value) {
    if let Some(object) = service.as_object_mut() {
        object.entry("spec").or_insert_with(|| json!({}));
    }
    let Some(spec) = service.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    default_service_spec(spec);
}

fn default_service_spec(spec: &mut Value) {
    set_default(spec, "type", json!("ClusterIP"));
    set_default(spec, "sessionAffinity", json!("None"));
    let service_type = str_field(spec, "type").to_string();
    if str_field(spec, "sessionAffinity") == "ClientIP" {
        set_default(
            spec,
            "sessionAffinityConfig",
            json!({"clientIP": {"timeoutSeconds": 10800}}),
        );
    }
    for port in array_mut(spec, "ports") {
        set_default(port, "protocol", json!("TCP"));
        let missing = match port.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::Number(n)) => n.as_i64() == Some(0),
            Some(Value::String(s)) => s.is_empty(),
            Some(_) => false,
        };
        if missing && let Some(number) = port.get("port").cloned() {
            port["targetPort"] = number;
        }
    }
    if service_type == "ExternalName" {
        return;
    }
    let external_ips = spec
        .get("externalIPs")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if service_type == "NodePort" || service_type == "LoadBalancer" || external_ips {
        set_default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    set_default(spec, "internalTrafficPolicy", json!("Cluster"));
    if service_type == "LoadBalancer" {
        set_default(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    // clusterIP and clusterIPs mirror each other.
    let cluster_ip = str_field(spec, "clusterIP").to_string();
    let cluster_ips_empty = spec
        .get("clusterIPs")
        .and_then(Value::as_array)
        .is_none_or(|a| a.is_empty());
    if !cluster_ip.is_empty() && cluster_ips_empty {
        spec["clusterIPs"] = json!([cluster_ip]);
    } else if cluster_ip.is_empty()
        && let Some(first) = spec
            .get("clusterIPs")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .cloned()
    {
        spec["clusterIP"] = first;
    }
    let family = if str_field(spec, "clusterIP").contains(':') {
        "IPv6"
    } else {
        "IPv4"
    };
    set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
    let families_empty = spec
        .get("ipFamilies")
        .and_then(Value::as_array)
        .is_none_or(|a| a.is_empty());
    if families_empty {
        spec["ipFamilies"] = json!([family]);
    }
}

/// Pod spec defaults (also applied to Deployment and StatefulSet templates).
pub fn default_pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "securityContext", json!({}));
    set_default(spec, "enableServiceLinks", json!(true));
    for list in ["initContainers", "containers"] {
        for container in array_mut(spec, list) {
            let image = str_field(container, "image").to_string();
            let latest =
                image.ends_with(":latest") || !image.rsplit('/').next().unwrap_or("").contains(':');
            let policy = if latest && !image.contains('@') {
                "Always"
            } else {
                "IfNotPresent"
            };
            set_default(container, "imagePullPolicy", json!(policy));
            set_default(
                container,
                "terminationMessagePath",
                json!("/dev/termination-log"),
            );
            set_default(container, "terminationMessagePolicy", json!("File"));
            set_default(container, "resources", json!({}));
            for port in array_mut(container, "ports") {
                set_default(port, "protocol", json!("TCP"));
            }
            for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
                if let Some(probe) = container.get_mut(probe).filter(|p| p.is_object()) {
                    default_probe(probe);
                }
            }
            for env in array_mut(container, "env") {
                if let Some(field_ref) = env.pointer_mut("/valueFrom/fieldRef") {
                    set_default(field_ref, "apiVersion", json!("v1"));
                }
            }
        }
    }
    for volume in array_mut(spec, "volumes") {
        default_volume(volume);
    }
}

/// `SetDefaults_Probe` and its handlers' defaults.
fn default_probe(probe: &mut Value) {
    set_default(probe, "timeoutSeconds", json!(1));
    set_default(probe, "periodSeconds", json!(10));
    set_default(probe, "successThreshold", json!(1));
    set_default(probe, "failureThreshold", json!(3));
    if let Some(get) = probe.get_mut("httpGet").filter(|g| g.is_object()) {
        set_default(get, "path", json!("/"));
        set_default(get, "scheme", json!("HTTP"));
    }
    if let Some(grpc) = probe.get_mut("grpc").filter(|g| g.is_object()) {
        set_default(grpc, "service", json!(""));
    }
}

/// A volume without a source is an emptyDir; projected files get mode 0644.
fn default_volume(volume: &mut Value) {
    let Some(map) = volume.as_object_mut() else {
        return;
    };
    if map.keys().all(|k| k == "name") {
        map.insert("emptyDir".into(), json!({}));
    }
    for source in ["configMap", "secret", "projected", "downwardAPI"] {
        if let Some(source) = map.get_mut(source).filter(|s| s.is_object()) {
            set_default(source, "defaultMode", json!(420));
        }
    }
}

/// What admission adds to a pod (not to templates): the default service account and the
/// DefaultTolerationSeconds tolerations for not-ready and unreachable nodes.
fn default_pod_admission(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    set_default(spec, "serviceAccountName", json!("default"));
    let account = spec["serviceAccountName"].clone();
    set_default(spec, "serviceAccount", account);
    set_default(spec, "priority", json!(0));
    let mut tolerations = spec
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        let covered = tolerations.iter().any(|t| {
            let field = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or("");
            (field("key") == key || (field("key").is_empty() && field("operator") == "Exists"))
                && matches!(field("effect"), "" | "NoExecute")
        });
        if !covered {
            tolerations.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
        }
    }
    spec["tolerations"] = Value::Array(tolerations);
}

fn default_template(object: &mut Value) {
    if let Some(spec) = object.pointer_mut("/spec/template/spec") {
        default_pod_spec(spec);
    }
}

fn default_deployment(object: &mut Value) {
    let Some(spec) = object.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    set_default(spec, "replicas", json!(1));
    set_default(spec, "strategy", json!({}));
    if let Some(strategy) = spec.get_mut("strategy").filter(|s| s.is_object()) {
        set_default(strategy, "type", json!("RollingUpdate"));
        if str_field(strategy, "type") == "RollingUpdate" {
            set_default(strategy, "rollingUpdate", json!({}));
            if let Some(rolling) = strategy.get_mut("rollingUpdate").filter(|r| r.is_object()) {
                set_default(rolling, "maxUnavailable", json!("25%"));
                set_default(rolling, "maxSurge", json!("25%"));
            }
        }
    }
    set_default(spec, "revisionHistoryLimit", json!(10));
    set_default(spec, "progressDeadlineSeconds", json!(600));
    default_template(object);
}

fn default_stateful_set(object: &mut Value) {
    let Some(spec) = object.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    set_default(spec, "replicas", json!(1));
    set_default(spec, "podManagementPolicy", json!("OrderedReady"));
    set_default(
        spec,
        "updateStrategy",
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
    );
    set_default(spec, "revisionHistoryLimit", json!(10));
    set_default(
        spec,
        "persistentVolumeClaimRetentionPolicy",
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
    );
    default_template(object);
}

fn default_replica_set(object: &mut Value) {
    if let Some(spec) = object.get_mut("spec").filter(|s| s.is_object()) {
        set_default(spec, "replicas", json!(1));
        default_template(object);
    }
}

/// A ReplicationController without selector or labels takes its template's labels.
fn default_replication_controller(object: &mut Value) {
    let template_labels = object.pointer("/spec/template/metadata/labels").cloned();
    if let Some(spec) = object.get_mut("spec").filter(|s| s.is_object()) {
        set_default(spec, "replicas", json!(1));
        if let Some(labels) = &template_labels {
            let empty = spec
                .get("selector")
                .and_then(Value::as_object)
                .is_none_or(|s| s.is_empty());
            if empty {
                spec["selector"] = labels.clone();
            }
        }
    }
    if let (Some(labels), Some(meta)) = (
        template_labels,
        object.get_mut("metadata").filter(|m| m.is_object()),
    ) && meta
        .get("labels")
        .and_then(Value::as_object)
        .is_none_or(|l| l.is_empty())
    {
        meta["labels"] = labels;
    }
    default_template(object);
}

fn default_daemon_set(object: &mut Value) {
    let Some(spec) = object.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    set_default(
        spec,
        "updateStrategy",
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
    );
    set_default(spec, "revisionHistoryLimit", json!(10));
    default_template(object);
}

/// Job defaults; without a selector the API server selects the Job's own uid and labels the
/// template with it (`batch.kubernetes.io/controller-uid`, `job-name`).
fn default_job(object: &mut Value) {
    let uid = object
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(spec) = object.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    if spec.get("completions").is_none_or(Value::is_null)
        && spec.get("parallelism").is_none_or(Value::is_null)
    {
        spec["completions"] = json!(1);
    }
    set_default(spec, "parallelism", json!(1));
    set_default(spec, "backoffLimit", json!(6));
    set_default(spec, "completionMode", json!("NonIndexed"));
    set_default(spec, "suspend", json!(false));
    set_default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
    let manual = spec.get("manualSelector").and_then(Value::as_bool) == Some(true);
    if !manual && !uid.is_empty() && spec.get("selector").is_none_or(Value::is_null) {
        spec["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
        if !spec.get("template").is_some_and(Value::is_object) {
            spec["template"] = json!({});
        }
        let template = &mut spec["template"];
        if !template.get("metadata").is_some_and(Value::is_object) {
            template["metadata"] = json!({});
        }
        if !template["metadata"]
            .get("labels")
            .is_some_and(Value::is_object)
        {
            template["metadata"]["labels"] = json!({});
        }
        for (key, value) in [
            ("batch.kubernetes.io/controller-uid", &uid),
            ("batch.kubernetes.io/job-name", &name),
            ("controller-uid", &uid),
            ("job-name", &name),
        ] {
            template["metadata"]["labels"][key] = json!(value);
        }
    }
    default_template(object);
}

fn default_namespace(object: &mut Value) {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Some(meta) = object.get_mut("metadata").filter(|m| m.is_object()) {
        if !meta.get("labels").is_some_and(Value::is_object) {
            meta["labels"] = json!({});
        }
        meta["labels"]["kubernetes.io/metadata.name"] = json!(name);
    }
    if let Some(obj) = object.as_object_mut() {
        let spec = obj.entry("spec").or_insert_with(|| json!({}));
        set_default(spec, "finalizers", json!(["kubernetes"]));
        let status = obj.entry("status").or_insert_with(|| json!({}));
        set_default(status, "phase", json!("Active"));
    }
}

/// `ip` and `ips: [{ip}]` describe the same primary address; fill whichever is missing.
fn mirror_ip_list(status: &mut Value, single: &str, list: &str) {
    let primary = str_field(status, single).to_string();
    let first = status
        .get(list)
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(|e| e.get("ip"))
        .and_then(Value::as_str)
        .map(str::to_string);
    match first {
        None if !primary.is_empty() => status[list] = json!([{"ip": primary}]),
        Some(first) if primary.is_empty() => status[single] = json!(first),
        _ => {}
    }
}

fn set_default(object: &mut Value, key: &str, value: Value) {
    if let Some(map) = object.as_object_mut() {
        let absent = match map.get(key) {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            _ => false,
        };
        if absent {
            map.insert(key.to_string(), value);
        }
    }
}

fn str_field<'a>(object: &'a Value, key: &str) -> &'a str {
    object.get(key).and_then(Value::as_str).unwrap_or("")
}

fn array_mut<'a>(object: &'a mut Value, key: &str) -> impl Iterator<Item = &'a mut Value> {
    object
        .get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}
