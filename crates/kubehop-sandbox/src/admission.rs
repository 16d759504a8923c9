//! The admission path every write goes through, in the API server's order: for updates the
//! strategy's preparation ([`prepare_update`]: a Service that changes type loses the fields the
//! new type may not carry), defaulting, object metadata validation, kind validation (the
//! engine's Service rules, [`kubehop_engine::validate::validate_service`], are called at exactly
//! one place: [`validate_service`]), then the mutating hooks the control plane registers
//! (ClusterIP and nodePort allocation).

use std::fmt;

use k8s_openapi::api::core::v1::Service;
use serde_json::{Value, json};

use crate::resources::ResourceId;
use crate::store::StoreView;

/// Who is writing: decides how status and validation are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// An API client: status is reset on create and kept on main-resource updates for kinds
    /// with a `/status` subresource; everything is validated.
    Api,
    /// In-process controllers: status is written as given; everything is validated.
    Controller,
    /// Scenario and dump loading: status kept as given, defaults applied, no validation
    /// (a dump may carry objects the API server would reject today), namespaces auto-created.
    Load,
}

/// The kind of write being admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
}

/// `field.ErrorType` of apimachinery: the `reason` of a Status cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CauseType {
    Required,
    Invalid,
    Duplicate,
    NotSupported,
    Forbidden,
    TooLong,
}

impl CauseType {
    /// The Status cause `reason` (`FieldValueInvalid`).
    pub fn reason(self) -> &'static str {
        match self {
            CauseType::Required => "FieldValueRequired",
            CauseType::Invalid => "FieldValueInvalid",
            CauseType::Duplicate => "FieldValueDuplicate",
            CauseType::NotSupported => "FieldValueNotSupported",
            CauseType::Forbidden => "FieldValueForbidden",
            CauseType::TooLong => "FieldValueTooLong",
        }
    }

    fn words(self) -> &'static str {
        match self {
            CauseType::Required => "Required value",
            CauseType::Invalid => "Invalid value",
            CauseType::Duplicate => "Duplicate value",
            CauseType::NotSupported => "Unsupported value",
            CauseType::Forbidden => "Forbidden",
            CauseType::TooLong => "Too long",
        }
    }
}

/// One field error, rendered like apimachinery's `field.Error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldCause {
    pub cause: CauseType,
    /// `spec.ports[0].port`.
    pub field: String,
    /// `Invalid value: 0: must be between 1 and 65535, inclusive`.
    pub message: String,
}

impl FieldCause {
    pub fn invalid(field: impl Into<String>, value: &Value, detail: &str) -> Self {
        Self::with_value(CauseType::Invalid, field, value, detail)
    }

    pub fn required(field: impl Into<String>, detail: &str) -> Self {
        Self::plain(CauseType::Required, field, detail)
    }

    pub fn forbidden(field: impl Into<String>, detail: &str) -> Self {
        Self::plain(CauseType::Forbidden, field, detail)
    }

    pub fn duplicate(field: impl Into<String>, value: &Value) -> Self {
        Self::with_value(CauseType::Duplicate, field, value, "")
    }

    pub fn not_supported(field: impl Into<String>, value: &Value, supported: &[&str]) -> Self {
        let list = supported
            .iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ");
        Self::with_value(
            CauseType::NotSupported,
            field,
            value,
            &format!("supported values: {list}"),
        )
    }

    fn plain(cause: CauseType, field: impl Into<String>, detail: &str) -> Self {
        let message = if detail.is_empty() {
            cause.words().to_string()
        } else {
            format!("{}: {detail}", cause.words())
        };
        FieldCause {
            cause,
            field: field.into(),
            message,
        }
    }

    fn with_value(cause: CauseType, field: impl Into<String>, value: &Value, detail: &str) -> Self {
        let value = match value {
            Value::String(s) => format!("{s:?}"),
            other => other.to_string(),
        };
        let message = if detail.is_empty() {
            format!("{}: {value}", cause.words())
        } else {
            format!("{}: {value}: {detail}", cause.words())
        };
        FieldCause {
            cause,
            field: field.into(),
            message,
        }
    }
}

impl fmt::Display for FieldCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// A mutating step run under the store's write lock, after defaulting and validation: the
/// control plane's ClusterIP / nodePort allocator plugs in here.
pub struct AdmissionRequest<'a> {
    pub resource: ResourceId,
    pub operation: Operation,
    pub origin: Origin,
    /// The object about to be stored; the hook may change it.
    pub object: &'a mut Value,
    /// The stored object an update replaces.
    pub previous: Option<&'a Value>,
    /// Nothing will be stored: do not commit allocations.
    pub dry_run: bool,
    /// Read access to the store as it is now (the write lock is held: do not call the store).
    pub view: StoreView<'a>,
}

/// Registered with [`Store::add_admission_hook`](crate::store::Store::add_admission_hook).
pub trait AdmissionHook: Send + Sync {
    /// Mutates or rejects a write. Errors become a 422 Invalid Status.
    fn admit(&self, request: AdmissionRequest<'_>) -> Result<(), Vec<FieldCause>>;

    /// Told when an object leaves the store (to free what `admit` allocated for it).
    fn released(&self, _resource: ResourceId, _object: &Value) {}
}

/// What happens when a client deletes an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// Gone now.
    Immediate,
    /// Set `deletionTimestamp` now + grace and keep the object; whoever owns the graceful
    /// shutdown (the control plane's kubelet) deletes it later with a grace period of 0.
    Graceful { grace_period_seconds: i64 },
}

/// Decides how deletes are carried out (the control plane makes pods terminate gracefully).
pub trait DeletionPolicy: Send + Sync {
    /// `requested_grace` is the client's `gracePeriodSeconds`, if any.
    fn decide(
        &self,
        resource: ResourceId,
        object: &Value,
        requested_grace: Option<i64>,
    ) -> Deletion;
}

/// The default: everything is deleted immediately (there is no kubelet to wait for).
#[derive(Debug, Default)]
pub struct ImmediateDeletion;

impl DeletionPolicy for ImmediateDeletion {
    fn decide(&self, _: ResourceId, _: &Value, _: Option<i64>) -> Deletion {
        Deletion::Immediate
    }
}

// ---------------------------------------------------------------------------------------------
// Validation

/// THE call site for the engine's Service validation (rule group (g) hard errors): every
/// [`engine::validate::FieldError`](kubehop_engine::validate::FieldError) becomes a
/// [`FieldCause`] of the 422 Status, with the API server's field path and wording.
pub fn validate_service(service: &Service) -> Vec<FieldCause> {
    use kubehop_engine::validate::{self, FieldErrorKind, ValidationConfig};
    validate::validate_service(service, &ValidationConfig::default())
        .into_iter()
        .map(|error| FieldCause {
            cause: match error.kind {
                FieldErrorKind::Required => CauseType::Required,
                FieldErrorKind::Invalid => CauseType::Invalid,
                FieldErrorKind::Duplicate => CauseType::Duplicate,
                FieldErrorKind::Forbidden => CauseType::Forbidden,
                FieldErrorKind::NotSupported => CauseType::NotSupported,
            },
            message: error.body(),
            field: error.field,
        })
        .collect()
}

/// The Service strategy's `PrepareForUpdate` (`dropTypeDependentFields`): when a Service
/// changes type, the allocated fields the new type may not carry are dropped if the client
/// left them as they were (so `kubectl patch svc x -p '{"spec":{"type":"ClusterIP"}}'` works on
/// a NodePort Service, as on a real API server).
pub fn prepare_update(resource: ResourceId, object: &mut Value, previous: &Value) {
    if resource != ResourceId::Services {
        return;
    }
    let old = previous.get("spec").cloned().unwrap_or_else(|| json!({}));
    let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let new_type = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    let same = |spec: &serde_json::Map<String, Value>, key: &str| spec.get(key) == old.get(key);
    let node_ports = |ports: Option<&Value>| -> std::collections::BTreeSet<i64> {
        ports
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("nodePort").and_then(Value::as_i64))
            .filter(|n| *n != 0)
            .collect()
    };
    let allocate_node_ports = spec
        .get("allocateLoadBalancerNodePorts")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let needs_node_ports =
        new_type == "NodePort" || (new_type == "LoadBalancer" && allocate_node_ports);
    if !needs_node_ports && node_ports(spec.get("ports")) == node_ports(old.get("ports")) {
        for port in spec
            .get_mut("ports")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(port) = port.as_object_mut() {
                port.remove("nodePort");
            }
        }
    }
    let local = spec.get("externalTrafficPolicy").and_then(Value::as_str) == Some("Local");
    if !(new_type == "LoadBalancer" && local) && same(spec, "healthCheckNodePort") {
        spec.remove("healthCheckNodePort");
    }
    let external_ips = spec
        .get("externalIPs")
        .and_then(Value::as_array)
        .is_some_and(|ips| !ips.is_empty());
    let externally_accessible = new_type == "NodePort"
        || new_type == "LoadBalancer"
        || (new_type == "ClusterIP" && external_ips);
    if !externally_accessible && same(spec, "externalTrafficPolicy") {
        spec.remove("externalTrafficPolicy");
    }
    if new_type != "LoadBalancer" {
        for key in ["allocateLoadBalancerNodePorts", "loadBalancerClass"] {
            if same(spec, key) {
                spec.remove(key);
            }
        }
    }
    if new_type == "ExternalName" {
        for key in [
            "clusterIP",
            "clusterIPs",
            "ipFamilies",
            "ipFamilyPolicy",
            "internalTrafficPolicy",
        ] {
            if same(spec, key) {
                spec.remove(key);
            }
        }
    }
}

/// Kind-specific validation. Objects were already decoded into their typed form.
pub fn validate_kind(resource: ResourceId, object: &Value) -> Vec<FieldCause> {
    match resource {
        ResourceId::Services => match serde_json::from_value::<Service>(object.clone()) {
            Ok(service) => validate_service(&service),
            Err(_) => Vec::new(), // decoding errors are reported earlier, as 400
        },
        _ => Vec::new(),
    }
}

/// ObjectMeta validation (`ValidateObjectMeta`): name, namespace, labels, annotations.
pub fn validate_metadata(resource: ResourceId, object: &Value) -> Vec<FieldCause> {
    let mut causes = Vec::new();
    let meta = object.get("metadata");
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if name.is_empty() {
        causes.push(FieldCause::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        let (ok, rule) = match resource {
            // ValidateServiceName: a DNS-1035 label (spec rule F2).
            ResourceId::Services => (is_dns1035_label(name), DNS1035_LABEL_RULE),
            ResourceId::Namespaces => (is_dns1123_label(name), DNS1123_LABEL_RULE),
            ResourceId::Events => (!name.contains('/') && name != "." && name != "..", ""),
            _ => (is_dns1123_subdomain(name), DNS1123_SUBDOMAIN_RULE),
        };
        if !ok {
            causes.push(FieldCause::invalid(
                "metadata.name",
                &Value::String(name.to_string()),
                rule,
            ));
        }
    }
    if let Some(labels) = meta
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
    {
        for (key, value) in labels {
            if !is_qualified_name(key) {
                causes.push(FieldCause::invalid(
                    "metadata.labels",
                    &Value::String(key.clone()),
                    QUALIFIED_NAME_RULE,
                ));
            }
            let text = value.as_str().unwrap_or("");
            if !is_label_value(text) {
                causes.push(FieldCause::invalid(
                    "metadata.labels",
                    value,
                    LABEL_VALUE_RULE,
                ));
            }
        }
    }
    if let Some(annotations) = meta
        .and_then(|m| m.get("annotations"))
        .and_then(Value::as_object)
    {
        let mut total = 0usize;
        for (key, value) in annotations {
            if !is_qualified_name(&key.to_ascii_lowercase()) {
                causes.push(FieldCause::invalid(
                    "metadata.annotations",
                    &Value::String(key.clone()),
                    QUALIFIED_NAME_RULE,
                ));
            }
            total += key.len() + value.as_str().map_or(0, str::len);
        }
        if total > 256 * 1024 {
            causes.push(FieldCause::plain(
                CauseType::TooLong,
                "metadata.annotations",
                "must have at most 262144 bytes",
            ));
        }
    }
    causes
}

const DNS1123_SUBDOMAIN_RULE: &str = "a lowercase RFC 1123 subdomain must consist of lower case \
alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. \
'example.com', regex used for validation is \
'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1123_LABEL_RULE: &str = "a lowercase RFC 1123 label must consist of lower case \
alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. \
'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_LABEL_RULE: &str = "a DNS-1035 label must consist of lower case alphanumeric \
characters or '-', start with an alphabetic character, and end with an alphanumeric character \
(e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const QUALIFIED_NAME_RULE: &str = "name part must consist of alphanumeric characters, '-', '_' \
or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or \
'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_RULE: &str = "a valid label must be an empty string or consist of alphanumeric \
characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. \
'MyValue',  or 'my_value',  or '12345', regex used for validation is \
'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

pub fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

pub fn is_dns1035_label(s: &str) -> bool {
    is_dns1123_label(s) && s.as_bytes()[0].is_ascii_lowercase()
}

pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// A label / annotation key: `[prefix/]name`, prefix a DNS subdomain, name ≤ 63 chars.
pub fn is_qualified_name(s: &str) -> bool {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if let Some(prefix) = prefix
        && !is_dns1123_subdomain(prefix)
    {
        return false;
    }
    !name.is_empty() && name.len() <= 63 && is_label_name_body(name)
}

/// A label value: empty, or ≤ 63 alphanumerics with `-_.` inside.
pub fn is_label_value(s: &str) -> bool {
    s.is_empty() || (s.len() <= 63 && is_label_name_body(s))
}

fn is_label_name_body(s: &str) -> bool {
    let bytes = s.as_bytes();
    let alnum = |b: u8| b.is_ascii_alphanumeric();
    bytes.first().copied().is_some_and(alnum)
        && bytes.last().copied().is_some_and(alnum)
        && bytes
            .iter()
            .all(|&b| alnum(b) || b == b'-' || b == b'_' || b == b'.')
}

// ---------------------------------------------------------------------------------------------
// Defaulting

/// Applies the API server's defaults for `resource` (idempotent).
pub fn apply_defaults(resource: ResourceId, object: &mut Value) {
    match resource {
        ResourceId::Services => default_service(object),
        ResourceId::Pods => {
            if let Some(spec) = object.get_mut("spec") {
                default_pod_spec(spec);
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
        ResourceId::Nodes | ResourceId::Endpoints | ResourceId::Ingresses | ResourceId::Events => {}
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
        }
    }
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
    set_default(
        spec,
        "strategy",
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
    );
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

/// Removes every `null` member of `metadata` so stored objects stay canonical.
pub fn tidy_metadata(object: &mut Value) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.retain(|_, v| !v.is_null());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("web", true)]
    #[case("web-1", true)]
    #[case("1web", false)]
    #[case("Web", false)]
    #[case("web_1", false)]
    #[case("-web", false)]
    fn service_names_are_dns1035_labels(#[case] name: &str, #[case] ok: bool) {
        let service = json!({"metadata": {"name": name}, "spec": {}});
        let causes = validate_metadata(ResourceId::Services, &service);
        assert_eq!(causes.is_empty(), ok, "{causes:?}");
    }

    #[test]
    fn missing_name_is_required() {
        let causes = validate_metadata(ResourceId::Pods, &json!({"metadata": {}}));
        assert_eq!(
            causes[0].to_string(),
            "metadata.name: Required value: name or generateName is required"
        );
    }

    #[test]
    fn bad_label_value_is_reported_like_the_api_server() {
        let pod = json!({"metadata": {"name": "p", "labels": {"app": "bad value"}}});
        let causes = validate_metadata(ResourceId::Pods, &pod);
        assert_eq!(causes.len(), 1);
        assert!(
            causes[0]
                .to_string()
                .starts_with("metadata.labels: Invalid value: \"bad value\": a valid label")
        );
    }

    #[test]
    fn service_defaults_follow_the_api_server() {
        let mut service = json!({
            "metadata": {"name": "web"},
            "spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 443, "targetPort": "https"}]}
        });
        apply_defaults(ResourceId::Services, &mut service);
        let spec = &service["spec"];
        assert_eq!(spec["ports"][0]["protocol"], "TCP");
        assert_eq!(spec["ports"][0]["targetPort"], 80);
        assert_eq!(spec["ports"][1]["targetPort"], "https");
        assert_eq!(spec["sessionAffinity"], "None");
        assert_eq!(spec["externalTrafficPolicy"], "Cluster");
        assert_eq!(spec["internalTrafficPolicy"], "Cluster");
        assert_eq!(spec["ipFamilyPolicy"], "SingleStack");
        assert_eq!(spec["ipFamilies"], json!(["IPv4"]));
        assert!(spec.get("allocateLoadBalancerNodePorts").is_none());
    }

    #[test]
    fn external_name_services_get_no_ip_defaults() {
        let mut service = json!({
            "metadata": {"name": "ext"},
            "spec": {"type": "ExternalName", "externalName": "example.com"}
        });
        apply_defaults(ResourceId::Services, &mut service);
        assert!(service["spec"].get("ipFamilies").is_none());
        assert!(service["spec"].get("internalTrafficPolicy").is_none());
        assert_eq!(service["spec"]["sessionAffinity"], "None");
    }

    #[rstest]
    // NodePort -> ClusterIP, nodePort left as it was: dropped.
    #[case(json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30001}]}),
           json!({"type": "ClusterIP", "ports": [{"port": 80, "nodePort": 30001}]}),
           json!({"type": "ClusterIP", "ports": [{"port": 80}]}))]
    // The client changed the nodePort on purpose: kept (validation rejects it).
    #[case(json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30001}]}),
           json!({"type": "ClusterIP", "ports": [{"port": 80, "nodePort": 30002}]}),
           json!({"type": "ClusterIP", "ports": [{"port": 80, "nodePort": 30002}]}))]
    // LoadBalancer + Local -> NodePort: healthCheckNodePort and allocateLoadBalancerNodePorts go.
    #[case(json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local", "healthCheckNodePort": 32000, "allocateLoadBalancerNodePorts": true}),
           json!({"type": "NodePort", "externalTrafficPolicy": "Local", "healthCheckNodePort": 32000, "allocateLoadBalancerNodePorts": true}),
           json!({"type": "NodePort", "externalTrafficPolicy": "Local"}))]
    // -> ExternalName: the ClusterIP and the IP families go.
    #[case(json!({"type": "ClusterIP", "clusterIP": "127.33.0.1", "clusterIPs": ["127.33.0.1"], "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster"}),
           json!({"type": "ExternalName", "externalName": "x.example", "clusterIP": "127.33.0.1", "clusterIPs": ["127.33.0.1"], "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster"}),
           json!({"type": "ExternalName", "externalName": "x.example"}))]
    fn a_type_change_drops_what_the_new_type_cannot_carry(
        #[case] old: Value,
        #[case] new: Value,
        #[case] expected: Value,
    ) {
        let previous = json!({"spec": old});
        let mut object = json!({"spec": new});
        prepare_update(ResourceId::Services, &mut object, &previous);
        assert_eq!(object["spec"], expected);
    }

    #[test]
    fn cluster_ip_and_cluster_ips_mirror_each_other() {
        let mut service = json!({"metadata": {"name": "a"}, "spec": {"clusterIP": "127.96.0.10"}});
        apply_defaults(ResourceId::Services, &mut service);
        assert_eq!(service["spec"]["clusterIPs"], json!(["127.96.0.10"]));
        let mut headless = json!({"metadata": {"name": "b"}, "spec": {"clusterIPs": ["None"]}});
        apply_defaults(ResourceId::Services, &mut headless);
        assert_eq!(headless["spec"]["clusterIP"], "None");
    }
}
