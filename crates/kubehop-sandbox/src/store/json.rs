//! JSON helpers for the store: type metadata, decoding checks, unknown fields, list
//! flattening and time formatting.

use super::*;

pub(super) fn served<K: k8s_openapi::Resource>() -> Result<ResourceId, StoreError> {
    ResourceId::of::<K>()
        .ok_or_else(|| StoreError::NotServed(format!("{} {}", K::API_VERSION, K::KIND)))
}

pub(super) fn scope_namespace(resource: ResourceId, namespace: &str) -> &str {
    if resource.info().namespaced {
        namespace
    } else {
        ""
    }
}

pub(super) fn decode<K: DeserializeOwned>(object: &StoredObject) -> Result<K, StoreError> {
    object
        .decode()
        .map_err(|e| StoreError::Internal(format!("stored object does not decode: {e}")))
}

pub(super) fn to_value<K: Serialize>(object: &K) -> Result<Value, StoreError> {
    serde_json::to_value(object).map_err(|e| StoreError::BadRequest(e.to_string()))
}

pub(super) fn flatten_lists(object: Value, out: &mut Vec<Value>) {
    let is_list = object
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k == "List" || k.ends_with("List"))
        && object.get("items").is_some_and(Value::is_array);
    if !is_list {
        out.push(object);
        return;
    }
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("List")
        .to_string();
    let api_version = object.get("apiVersion").cloned();
    if let Value::Object(mut map) = object
        && let Some(Value::Array(items)) = map.remove("items")
    {
        for mut item in items {
            // Typed lists (PodList) may omit kind/apiVersion on items.
            if let Some(item_map) = item.as_object_mut()
                && kind != "List"
            {
                item_map
                    .entry("kind")
                    .or_insert_with(|| json!(kind.trim_end_matches("List")));
                if let Some(api_version) = &api_version {
                    item_map
                        .entry("apiVersion")
                        .or_insert_with(|| api_version.clone());
                }
            }
            flatten_lists(item, out);
        }
    }
}

pub(super) fn metadata_mut(object: &mut Value) -> Result<&mut Map<String, Value>, StoreError> {
    let map = object
        .as_object_mut()
        .ok_or_else(|| StoreError::BadRequest("the object is not a JSON object".into()))?;
    let meta = map.entry("metadata").or_insert_with(|| json!({}));
    if meta.is_null() {
        *meta = json!({});
    }
    meta.as_object_mut()
        .ok_or_else(|| StoreError::BadRequest("metadata must be an object".into()))
}

/// Checks (or sets) apiVersion and kind for `resource`.
pub(super) fn prepare_type_meta(
    resource: ResourceId,
    object: &mut Value,
) -> Result<(), StoreError> {
    let info = resource.info();
    let map = object
        .as_object_mut()
        .ok_or_else(|| StoreError::BadRequest("the object is not a JSON object".into()))?;
    let expected_version = info.api_version();
    match map.get("apiVersion").and_then(Value::as_str) {
        Some(given) if !given.is_empty() && given != expected_version => {
            return Err(StoreError::BadRequest(format!(
                "the API version in the data ({given}) does not match the expected API version ({expected_version})"
            )));
        }
        _ => {
            map.insert("apiVersion".into(), json!(expected_version));
        }
    }
    match map.get("kind").and_then(Value::as_str) {
        Some(given) if !given.is_empty() && given != info.kind => {
            return Err(StoreError::BadRequest(format!(
                "the kind in the data ({given}) does not match the expected kind ({})",
                info.kind
            )));
        }
        _ => {
            map.insert("kind".into(), json!(info.kind));
        }
    }
    Ok(())
}

/// Checks that the object decodes into its k8s-openapi type (the API server's 400 otherwise).
pub(super) fn check_decodes(resource: ResourceId, object: &Value) -> Result<(), StoreError> {
    use k8s_openapi::api::{
        apps::v1 as apps, core::v1 as core, discovery::v1 as discovery,
        networking::v1 as networking,
    };
    use serde::Deserialize;
    let result = match resource {
        ResourceId::Namespaces => core::Namespace::deserialize(object).map(drop),
        ResourceId::Nodes => core::Node::deserialize(object).map(drop),
        ResourceId::Pods => core::Pod::deserialize(object).map(drop),
        ResourceId::Services => core::Service::deserialize(object).map(drop),
        ResourceId::Endpoints => core::Endpoints::deserialize(object).map(drop),
        ResourceId::EndpointSlices => discovery::EndpointSlice::deserialize(object).map(drop),
        ResourceId::Ingresses => networking::Ingress::deserialize(object).map(drop),
        ResourceId::Deployments => apps::Deployment::deserialize(object).map(drop),
        ResourceId::StatefulSets => apps::StatefulSet::deserialize(object).map(drop),
        ResourceId::Events => core::Event::deserialize(object).map(drop),
        ResourceId::IngressClasses => networking::IngressClass::deserialize(object).map(drop),
        ResourceId::ReplicaSets => apps::ReplicaSet::deserialize(object).map(drop),
        ResourceId::DaemonSets => apps::DaemonSet::deserialize(object).map(drop),
        ResourceId::Jobs => k8s_openapi::api::batch::v1::Job::deserialize(object).map(drop),
        ResourceId::ReplicationControllers => {
            core::ReplicationController::deserialize(object).map(drop)
        }
    };
    result.map_err(|e| {
        let info = resource.info();
        StoreError::BadRequest(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {e}",
            kind = info.kind,
            version = info.version
        ))
    })
}

/// Fields of `object` its k8s-openapi type does not know (`spec.replica`), for the API
/// server's `fieldValidation`: found by decoding and re-encoding, which drops unknown fields.
pub fn unknown_fields(resource: ResourceId, object: &Value) -> Vec<String> {
    use k8s_openapi::api::{
        apps::v1 as apps, core::v1 as core, discovery::v1 as discovery,
        networking::v1 as networking,
    };
    pub(super) fn round_trip<K: DeserializeOwned + Serialize>(object: &Value) -> Option<Value> {
        let typed = K::deserialize(object).ok()?;
        serde_json::to_value(typed).ok()
    }
    let known = match resource {
        ResourceId::Namespaces => round_trip::<core::Namespace>(object),
        ResourceId::Nodes => round_trip::<core::Node>(object),
        ResourceId::Pods => round_trip::<core::Pod>(object),
        ResourceId::Services => round_trip::<core::Service>(object),
        ResourceId::Endpoints => round_trip::<core::Endpoints>(object),
        ResourceId::EndpointSlices => round_trip::<discovery::EndpointSlice>(object),
        ResourceId::Ingresses => round_trip::<networking::Ingress>(object),
        ResourceId::Deployments => round_trip::<apps::Deployment>(object),
        ResourceId::StatefulSets => round_trip::<apps::StatefulSet>(object),
        ResourceId::Events => round_trip::<core::Event>(object),
        ResourceId::IngressClasses => round_trip::<networking::IngressClass>(object),
        ResourceId::ReplicaSets => round_trip::<apps::ReplicaSet>(object),
        ResourceId::DaemonSets => round_trip::<apps::DaemonSet>(object),
        ResourceId::Jobs => round_trip::<k8s_openapi::api::batch::v1::Job>(object),
        ResourceId::ReplicationControllers => round_trip::<core::ReplicationController>(object),
    };
    let mut unknown = Vec::new();
    if let Some(known) = known {
        collect_unknown(object, &known, "", &mut unknown);
    }
    unknown
}

pub(super) fn collect_unknown(given: &Value, known: &Value, path: &str, out: &mut Vec<String>) {
    match (given, known) {
        (Value::Object(given), Value::Object(known)) => {
            for (key, value) in given {
                if value.is_null() {
                    continue;
                }
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match known.get(key) {
                    None => out.push(child),
                    Some(known_value) => collect_unknown(value, known_value, &child, out),
                }
            }
        }
        (Value::Array(given), Value::Array(known)) => {
            for (i, (value, known_value)) in given.iter().zip(known).enumerate() {
                collect_unknown(value, known_value, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

pub(super) fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(5)
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// RFC 3339 at second precision, as Kubernetes writes timestamps.
pub fn format_time(at: Timestamp) -> String {
    k8s_openapi::jiff::fmt::strtime::format("%Y-%m-%dT%H:%M:%SZ", at)
        .unwrap_or_else(|_| at.to_string())
}

pub fn now_rfc3339() -> String {
    format_time(Timestamp::now())
}
