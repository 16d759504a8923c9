//! Just enough OpenAPI v3 for kubectl: the root index and one document per group-version
//! whose write operations declare the `fieldValidation` query parameter. kubectl's
//! `--validate=strict` (the default) then leaves validation to the server instead of
//! downloading schemas for client-side validation, and `kubectl apply` computes its strategic
//! merge patches from its compiled-in types. There are no schemas (`kubectl explain` does not
//! work against the sandbox).

use serde_json::{Map, Value, json};

use crate::resources::{GROUPS, RESOURCES, ResourceInfo};

/// Changes whenever the documents do (clients cache by it).
const HASH: &str = "kubehop-sandbox-1";

/// `/openapi/v3`: where each group-version's document lives.
pub(crate) fn root() -> Value {
    let mut paths = Map::new();
    for path in group_version_paths() {
        paths.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={HASH}")}),
        );
    }
    json!({"paths": paths})
}

fn group_version_paths() -> Vec<String> {
    let mut paths = vec!["api/v1".to_string()];
    paths.extend(GROUPS.iter().map(|(g, v)| format!("apis/{g}/{v}")));
    paths
}

/// `/openapi/v3/{api/v1 | apis/group/version}`, or None for an unknown group-version.
pub(crate) fn document(group_version_path: &str) -> Option<Value> {
    let (group, version) = match group_version_path.split('/').collect::<Vec<_>>().as_slice() {
        ["api", "v1"] => ("", "v1"),
        ["apis", group, version] => (*group, *version),
        _ => return None,
    };
    if !group_version_paths()
        .iter()
        .any(|p| p == group_version_path)
    {
        return None;
    }
    let mut paths = Map::new();
    for info in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        let (collection, object) = resource_paths(group_version_path, info);
        let gvk = json!({"group": info.group, "version": info.version, "kind": info.kind});
        let write = |id: &str| {
            json!({
                "operationId": id,
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [
                    query_parameter("dryRun"),
                    query_parameter("fieldManager"),
                    query_parameter("fieldValidation"),
                ],
                "responses": {"200": {"description": "OK"}},
            })
        };
        let read = |id: &str| {
            json!({
                "operationId": id,
                "x-kubernetes-group-version-kind": gvk,
                "responses": {"200": {"description": "OK"}},
            })
        };
        let kind = info.kind;
        let mut collection_ops = Map::new();
        collection_ops.insert("get".into(), read(&format!("list{kind}")));
        if !info.read_only {
            collection_ops.insert("post".into(), write(&format!("create{kind}")));
        }
        let mut object_ops = Map::new();
        object_ops.insert("get".into(), read(&format!("read{kind}")));
        if !info.read_only {
            object_ops.insert("put".into(), write(&format!("replace{kind}")));
            object_ops.insert("patch".into(), write(&format!("patch{kind}")));
            object_ops.insert("delete".into(), read(&format!("delete{kind}")));
        }
        paths.insert(collection, Value::Object(collection_ops));
        paths.insert(object, Value::Object(object_ops));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (kubehop sandbox)", "version": "v1.37.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

fn resource_paths(prefix: &str, info: &ResourceInfo) -> (String, String) {
    let collection = if info.namespaced {
        format!("/{prefix}/namespaces/{{namespace}}/{}", info.plural)
    } else {
        format!("/{prefix}/{}", info.plural)
    };
    let object = format!("{collection}/{{name}}");
    (collection, object)
}

fn query_parameter(name: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_lists_every_group_version() {
        let root = root();
        for path in [
            "api/v1",
            "apis/apps/v1",
            "apis/discovery.k8s.io/v1",
            "apis/networking.k8s.io/v1",
        ] {
            assert!(root["paths"].get(path).is_some(), "{path}");
        }
    }

    #[test]
    fn patch_operations_declare_field_validation() {
        let document = document("apis/apps/v1").expect("served");
        let patch =
            &document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"]["kind"],
            "Deployment"
        );
        assert!(
            patch["parameters"]
                .as_array()
                .expect("parameters")
                .iter()
                .any(|p| p["name"] == "fieldValidation")
        );
        assert!(super::document("apis/policy/v1").is_none());
    }
}
