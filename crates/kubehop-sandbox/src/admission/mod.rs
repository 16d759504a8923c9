//! The admission path every write goes through, in the API server's order: for updates the
//! strategy's preparation ([`prepare_update`]: a Service that changes type loses the fields the
//! new type may not carry), defaulting, object metadata validation, kind validation (the
//! engine's Service rules, [`kubehop_engine::validate::validate_service`], are called at exactly
//! one place: [`validate_service`]), then the mutating hooks the control plane registers
//! (ClusterIP and nodePort allocation).
//!
//! `names` holds the name and label syntax checks, `defaults` the defaulting step.

use std::fmt;

use k8s_openapi::api::core::v1::Service;
use serde_json::{Value, json};

use crate::resources::ResourceId;
use crate::store::StoreView;

mod defaults;
mod names;
#[cfg(test)]
mod tests;

pub use defaults::{apply_defaults, default_pod_spec, initial_status};
use names::*;
pub use names::{
    is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_label_value, is_qualified_name,
};

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

/// Removes every `null` member of `metadata` so stored objects stay canonical.
pub fn tidy_metadata(object: &mut Value) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.retain(|_, v| !v.is_null());
    }
}
