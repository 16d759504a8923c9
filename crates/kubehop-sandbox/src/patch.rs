//! PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch
//! with the list merge keys of the kinds the sandbox serves (Service ports by `port`,
//! containers by `name`, container ports by `containerPort`, ...) and the directives kubectl
//! sends (`$patch`, `$retainKeys`, `$setElementOrder/`, `$deleteFromPrimitiveList/`).

use serde_json::{Map, Value};

use crate::resources::ResourceId;

/// The patch formats, by Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Json,
    Merge,
    StrategicMerge,
    /// Server-side apply: not supported by the sandbox.
    Apply,
}

impl PatchKind {
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let essence = content_type.split(';').next().unwrap_or("").trim();
        match essence {
            "application/json-patch+json" => Some(PatchKind::Json),
            "application/merge-patch+json" => Some(PatchKind::Merge),
            "application/strategic-merge-patch+json" => Some(PatchKind::StrategicMerge),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
                Some(PatchKind::Apply)
            }
            _ => None,
        }
    }
}

/// Why a patch could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The body is not a patch of that kind (400).
    #[error("{0}")]
    Malformed(String),
    /// The patch does not apply to the object (422).
    #[error("{0}")]
    Unappliable(String),
}

/// Applies a patch body to `target`.
pub fn apply(
    kind: PatchKind,
    resource: ResourceId,
    target: &mut Value,
    body: &[u8],
) -> Result<(), PatchError> {
    match kind {
        PatchKind::Json => {
            let patch: json_patch::Patch = serde_json::from_slice(body)
                .map_err(|e| PatchError::Malformed(format!("invalid JSON patch: {e}")))?;
            json_patch::patch(target, &patch).map_err(|e| PatchError::Unappliable(e.to_string()))
        }
        PatchKind::Merge => {
            let patch: Value = parse(body)?;
            json_patch::merge(target, &patch);
            Ok(())
        }
        PatchKind::StrategicMerge => {
            let patch: Value = parse(body)?;
            strategic_merge(resource, target, &patch)
        }
        PatchKind::Apply => Err(PatchError::Malformed(
            "server-side apply is not supported by the sandbox".into(),
        )),
    }
}

fn parse(body: &[u8]) -> Result<Value, PatchError> {
    serde_json::from_slice(body)
        .map_err(|e| PatchError::Malformed(format!("error decoding patch: {e}")))
}

/// Applies a strategic merge patch.
pub fn strategic_merge(
    resource: ResourceId,
    target: &mut Value,
    patch: &Value,
) -> Result<(), PatchError> {
    let Some(patch) = patch.as_object() else {
        return Err(PatchError::Malformed(
            "a strategic merge patch must be a JSON object".into(),
        ));
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Some(original) = target.as_object_mut() else {
        return Ok(());
    };
    merge_map(resource, &mut Vec::new(), original, patch)
}

/// How a list field merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListStrategy {
    Replace,
    MergeByKey(&'static str),
    MergePrimitive,
}

/// The patch strategy of the list at `path` (field names from the object root, no indices),
/// from the `patchStrategy` / `patchMergeKey` tags of the Kubernetes types.
fn list_strategy(resource: ResourceId, path: &[String]) -> ListStrategy {
    let n = path.len();
    let last = path.last().map(String::as_str).unwrap_or("");
    let parent = if n >= 2 { path[n - 2].as_str() } else { "" };
    let container_list =
        |s: &str| matches!(s, "containers" | "initContainers" | "ephemeralContainers");
    match last {
        "containers" | "initContainers" | "ephemeralContainers" => ListStrategy::MergeByKey("name"),
        "ports" if container_list(parent) => ListStrategy::MergeByKey("containerPort"),
        "ports" if resource == ResourceId::Services && n == 2 && parent == "spec" => {
            ListStrategy::MergeByKey("port")
        }
        "env" if container_list(parent) => ListStrategy::MergeByKey("name"),
        "volumeMounts" if container_list(parent) => ListStrategy::MergeByKey("mountPath"),
        "volumeDevices" if container_list(parent) => ListStrategy::MergeByKey("devicePath"),
        "volumes" | "imagePullSecrets" | "resourceClaims" | "schedulingGates"
            if parent == "spec" =>
        {
            ListStrategy::MergeByKey("name")
        }
        "hostAliases" if parent == "spec" => ListStrategy::MergeByKey("ip"),
        "topologySpreadConstraints" if parent == "spec" => ListStrategy::MergeByKey("topologyKey"),
        "conditions" if parent == "status" => ListStrategy::MergeByKey("type"),
        "addresses" if parent == "status" && resource == ResourceId::Nodes => {
            ListStrategy::MergeByKey("type")
        }
        "podIPs" | "hostIPs" if parent == "status" => ListStrategy::MergeByKey("ip"),
        "ownerReferences" if parent == "metadata" => ListStrategy::MergeByKey("uid"),
        "finalizers" if parent == "metadata" => ListStrategy::MergePrimitive,
        "podCIDRs" if parent == "spec" && resource == ResourceId::Nodes => {
            ListStrategy::MergePrimitive
        }
        _ => ListStrategy::Replace,
    }
}

fn merge_map(
    resource: ResourceId,
    path: &mut Vec<String>,
    original: &mut Map<String, Value>,
    patch: &Map<String, Value>,
) -> Result<(), PatchError> {
    match patch.get("$patch").map(|d| d.as_str()) {
        None | Some(Some("merge")) => {}
        Some(Some("replace")) => {
            *original = strip_map(patch);
            return Ok(());
        }
        Some(Some("delete")) => {
            original.clear();
            return Ok(());
        }
        Some(other) => {
            return Err(PatchError::Unappliable(format!(
                "unknown patch type: {}",
                other.unwrap_or("(not a string)")
            )));
        }
    }
    let mut orders = Vec::new();
    let mut deletions = Vec::new();
    for (key, value) in patch {
        if key == "$patch" || key == "$retainKeys" {
            continue;
        }
        if let Some(field) = key.strip_prefix("$setElementOrder/") {
            orders.push((field.to_string(), value));
            continue;
        }
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            deletions.push((field, value));
            continue;
        }
        if key.starts_with('$') {
            return Err(PatchError::Unappliable(format!(
                "unknown strategic merge patch directive: {key}"
            )));
        }
        path.push(key.clone());
        let result = merge_field(resource, path, original, key, value);
        path.pop();
        result?;
    }
    for (field, remove) in deletions {
        if let (Some(Value::Array(list)), Some(remove)) =
            (original.get_mut(field), remove.as_array())
        {
            list.retain(|item| !remove.contains(item));
        }
    }
    for (field, order) in orders {
        path.push(field.clone());
        let strategy = list_strategy(resource, path);
        path.pop();
        if let (Some(Value::Array(list)), Some(order)) =
            (original.get_mut(&field), order.as_array())
        {
            reorder(list, order, strategy);
        }
    }
    if let Some(retain) = patch.get("$retainKeys").and_then(Value::as_array) {
        let keep: Vec<&str> = retain.iter().filter_map(Value::as_str).collect();
        original.retain(|k, _| keep.contains(&k.as_str()));
    }
    Ok(())
}

fn merge_field(
    resource: ResourceId,
    path: &mut Vec<String>,
    original: &mut Map<String, Value>,
    key: &str,
    value: &Value,
) -> Result<(), PatchError> {
    match value {
        Value::Null => {
            original.remove(key);
        }
        Value::Object(patch_map) => {
            if patch_map.get("$patch").and_then(Value::as_str) == Some("delete") {
                original.remove(key);
            } else if let Some(Value::Object(original_map)) = original.get_mut(key) {
                merge_map(resource, path, original_map, patch_map)?;
            } else {
                let mut fresh = Map::new();
                merge_map(resource, path, &mut fresh, patch_map)?;
                original.insert(key.to_string(), Value::Object(fresh));
            }
        }
        Value::Array(patch_list) => match list_strategy(resource, path) {
            ListStrategy::Replace => {
                original.insert(key.to_string(), strip(value));
            }
            ListStrategy::MergePrimitive => {
                let entry = original
                    .entry(key.to_string())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if !entry.is_array() {
                    *entry = Value::Array(Vec::new());
                }
                if let Value::Array(list) = entry {
                    for item in patch_list {
                        if !list.contains(item) {
                            list.push(item.clone());
                        }
                    }
                }
            }
            ListStrategy::MergeByKey(merge_key) => {
                let entry = original
                    .entry(key.to_string())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if !entry.is_array() {
                    *entry = Value::Array(Vec::new());
                }
                if let Value::Array(list) = entry {
                    merge_keyed_list(resource, path, list, patch_list, merge_key)?;
                }
            }
        },
        scalar => {
            original.insert(key.to_string(), scalar.clone());
        }
    }
    Ok(())
}

fn merge_keyed_list(
    resource: ResourceId,
    path: &mut Vec<String>,
    original: &mut Vec<Value>,
    patch: &[Value],
    merge_key: &str,
) -> Result<(), PatchError> {
    let replace = patch
        .iter()
        .any(|item| item.get("$patch").and_then(Value::as_str) == Some("replace"));
    if replace {
        *original = patch
            .iter()
            .filter(|item| item.get("$patch").is_none())
            .map(strip)
            .collect();
        return Ok(());
    }
    for item in patch {
        let Some(item_map) = item.as_object() else {
            return Err(PatchError::Unappliable(format!(
                "the list {} merges by \"{merge_key}\" and takes objects, got {item}",
                path.join(".")
            )));
        };
        let Some(key_value) = item_map.get(merge_key) else {
            return Err(PatchError::Unappliable(format!(
                "map: {item} does not contain declared merge key: {merge_key}"
            )));
        };
        if item_map.get("$patch").and_then(Value::as_str) == Some("delete") {
            original.retain(|o| o.get(merge_key) != Some(key_value));
            continue;
        }
        match original
            .iter_mut()
            .find(|o| o.get(merge_key) == Some(key_value))
            .and_then(Value::as_object_mut)
        {
            Some(existing) => merge_map(resource, path, existing, item_map)?,
            None => {
                let mut fresh = Map::new();
                merge_map(resource, path, &mut fresh, item_map)?;
                original.push(Value::Object(fresh));
            }
        }
    }
    Ok(())
}

/// Orders `list` as `$setElementOrder` says; items it does not name keep their place after.
fn reorder(list: &mut Vec<Value>, order: &[Value], strategy: ListStrategy) {
    let position = |item: &Value| {
        order.iter().position(|o| match strategy {
            ListStrategy::MergeByKey(key) => o.get(key).is_some() && o.get(key) == item.get(key),
            _ => o == item,
        })
    };
    let mut indexed: Vec<(usize, usize, Value)> = list
        .drain(..)
        .enumerate()
        .map(|(i, item)| (position(&item).unwrap_or(usize::MAX), i, item))
        .collect();
    indexed.sort_by_key(|(p, i, _)| (*p, *i));
    list.extend(indexed.into_iter().map(|(_, _, item)| item));
}

/// A value with every `$` directive removed.
fn strip(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(strip_map(map)),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|i| !i.as_object().is_some_and(|m| m.contains_key("$patch")))
                .map(strip)
                .collect(),
        ),
        other => other.clone(),
    }
}

fn strip_map(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .map(|(k, v)| (k.clone(), strip(v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn smp(resource: ResourceId, mut target: Value, patch: Value) -> Value {
        strategic_merge(resource, &mut target, &patch).expect("applies");
        target
    }

    #[test]
    fn service_ports_merge_by_port() {
        let service = json!({"spec": {"ports": [
            {"name": "http", "port": 80, "targetPort": 8080},
            {"name": "https", "port": 443}
        ]}});
        let patched = smp(
            ResourceId::Services,
            service,
            json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 8443, "name": "alt"}]}}),
        );
        assert_eq!(
            patched["spec"]["ports"],
            json!([
                {"name": "http", "port": 80, "targetPort": 9090},
                {"name": "https", "port": 443},
                {"name": "alt", "port": 8443}
            ])
        );
    }

    #[test]
    fn containers_merge_by_name_and_ports_by_container_port() {
        let deployment = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "nginx:1", "ports": [{"containerPort": 80, "name": "http"}]},
            {"name": "sidecar", "image": "envoy:1"}
        ]}}}});
        let patched = smp(
            ResourceId::Deployments,
            deployment,
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "web", "image": "nginx:2", "ports": [{"containerPort": 80, "protocol": "TCP"}]}
            ]}}}}),
        );
        let containers = &patched["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0]["image"], "nginx:2");
        assert_eq!(
            containers[0]["ports"],
            json!([{"containerPort": 80, "name": "http", "protocol": "TCP"}])
        );
        assert_eq!(containers[1]["name"], "sidecar");
    }

    #[test]
    fn null_deletes_and_maps_merge() {
        let pod = json!({"metadata": {"labels": {"a": "1", "b": "2"}, "annotations": {"x": "y"}}});
        let patched = smp(
            ResourceId::Pods,
            pod,
            json!({"metadata": {"labels": {"a": null, "c": "3"}}}),
        );
        assert_eq!(patched["metadata"]["labels"], json!({"b": "2", "c": "3"}));
        assert_eq!(patched["metadata"]["annotations"], json!({"x": "y"}));
    }

    #[test]
    fn directives_kubectl_sends() {
        let service = json!({"spec": {"ports": [{"port": 80}, {"port": 81}], "selector": {"app": "a", "tier": "t"}}});
        let patched = smp(
            ResourceId::Services,
            service,
            json!({"spec": {
                "$setElementOrder/ports": [{"port": 81}, {"port": 80}],
                "ports": [{"port": 81, "name": "b"}, {"port": 90, "$patch": "delete"}],
                "selector": {"$patch": "replace", "app": "b"}
            }}),
        );
        assert_eq!(
            patched["spec"]["ports"],
            json!([{"port": 81, "name": "b"}, {"port": 80}])
        );
        assert_eq!(patched["spec"]["selector"], json!({"app": "b"}));
    }

    #[test]
    fn delete_from_keyed_list_and_retain_keys() {
        let deployment = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}}});
        let patched = smp(
            ResourceId::Deployments,
            deployment,
            json!({"spec": {
                "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
                "template": {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}
            }}),
        );
        assert_eq!(patched["spec"]["strategy"], json!({"type": "Recreate"}));
        assert_eq!(
            patched["spec"]["template"]["spec"]["containers"],
            json!([{"name": "b"}])
        );
    }

    #[test]
    fn finalizers_merge_as_a_set() {
        let object = json!({"metadata": {"finalizers": ["a"]}});
        let patched = smp(
            ResourceId::Services,
            object,
            json!({"metadata": {"finalizers": ["a", "b"], "$deleteFromPrimitiveList/finalizers": ["a"]}}),
        );
        assert_eq!(patched["metadata"]["finalizers"], json!(["b"]));
    }

    #[test]
    fn keyed_items_need_their_key() {
        let mut service = json!({"spec": {"ports": [{"port": 80}]}});
        let err = strategic_merge(
            ResourceId::Services,
            &mut service,
            &json!({"spec": {"ports": [{"name": "x"}]}}),
        )
        .expect_err("no merge key");
        assert!(matches!(err, PatchError::Unappliable(_)));
    }

    #[test]
    fn other_lists_are_replaced() {
        let slice = json!({"endpoints": [{"addresses": ["127.0.0.2"]}]});
        let patched = smp(
            ResourceId::EndpointSlices,
            slice,
            json!({"endpoints": [{"addresses": ["127.0.0.3"]}]}),
        );
        assert_eq!(patched["endpoints"], json!([{"addresses": ["127.0.0.3"]}]));
    }

    #[test]
    fn json_patch_and_merge_patch() {
        let mut target = json!({"spec": {"replicas": 1}});
        apply(
            PatchKind::Json,
            ResourceId::Deployments,
            &mut target,
            br#"[{"op": "replace", "path": "/spec/replicas", "value": 3}]"#,
        )
        .expect("applies");
        assert_eq!(target["spec"]["replicas"], 3);
        apply(
            PatchKind::Merge,
            ResourceId::Deployments,
            &mut target,
            br#"{"spec": {"replicas": null}}"#,
        )
        .expect("applies");
        assert_eq!(target, json!({"spec": {}}));
        let err = apply(
            PatchKind::Json,
            ResourceId::Deployments,
            &mut target,
            br#"[{"op": "test", "path": "/spec/replicas", "value": 9}]"#,
        )
        .expect_err("test fails");
        assert!(matches!(err, PatchError::Unappliable(_)));
        let err = apply(
            PatchKind::Merge,
            ResourceId::Deployments,
            &mut target,
            b"{nope",
        )
        .expect_err("bad json");
        assert!(matches!(err, PatchError::Malformed(_)));
    }
}
