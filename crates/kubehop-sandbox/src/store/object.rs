//! What the store keeps per object: its JSON bytes and the fields it indexes.

use super::*;

impl StoredObject {
    pub(super) fn from_value(resource: ResourceId, value: &Value) -> Result<Self, StoreError> {
        let meta = value.get("metadata");
        let text = |key: &str| {
            meta.and_then(|m| m.get(key))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let labels = meta
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object)
            .map(|labels| {
                labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let owners = meta
            .and_then(|m| m.get("ownerReferences"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|o| o.get("uid").and_then(Value::as_str).map(str::to_string))
            .collect();
        let fields = resource
            .info()
            .selectable_fields
            .iter()
            .map(|label| (*label, field_value(value, label)))
            .collect();
        let json = serde_json::to_vec(value)
            .map_err(|e| StoreError::Internal(format!("cannot serialize object: {e}")))?;
        Ok(StoredObject {
            resource,
            namespace: text("namespace"),
            name: text("name"),
            uid: text("uid"),
            resource_version: text("resourceVersion").parse().unwrap_or(0),
            labels,
            fields,
            owners,
            terminating: meta.and_then(|m| m.get("deletionTimestamp")).is_some(),
            finalizers: meta
                .and_then(|m| m.get("finalizers"))
                .and_then(Value::as_array)
                .is_some_and(|f| !f.is_empty()),
            json: Bytes::from(json),
        })
    }

    pub fn resource(&self) -> ResourceId {
        self.resource
    }
    /// "" for cluster-scoped objects.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn uid(&self) -> &str {
        &self.uid
    }
    pub fn resource_version(&self) -> u64 {
        self.resource_version
    }
    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }
    /// Whether `metadata.deletionTimestamp` is set.
    pub fn is_terminating(&self) -> bool {
        self.terminating
    }
    /// The object as JSON bytes (what the API serves).
    pub fn json(&self) -> &Bytes {
        &self.json
    }
    /// The object parsed into a JSON tree.
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }
    /// The object decoded into its k8s-openapi type.
    pub fn decode<K: DeserializeOwned>(&self) -> Result<K, serde_json::Error> {
        serde_json::from_slice(&self.json)
    }
    /// The value of a field-selector label ("" when absent).
    pub fn field(&self, label: &str) -> &str {
        match label {
            "metadata.name" => &self.name,
            "metadata.namespace" => &self.namespace,
            _ => self
                .fields
                .iter()
                .find(|(l, _)| *l == label)
                .map_or("", |(_, v)| v.as_str()),
        }
    }

    pub(crate) fn matches(&self, labels: &LabelSelector, fields: &FieldSelector) -> bool {
        labels.matches(&self.labels) && fields.matches(|f| self.field(f))
    }
}

/// The value of a field-selector label in an object, as the API server formats it.
pub(super) fn field_value(object: &Value, label: &str) -> String {
    let path = match label {
        "source" => "source.component",
        other => other,
    };
    let mut current = object;
    for part in path.split('.') {
        match current.get(part) {
            Some(next) => current = next,
            None => {
                return match label {
                    "spec.hostNetwork" | "spec.unschedulable" => "false".into(),
                    _ => String::new(),
                };
            }
        }
    }
    match current {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}
