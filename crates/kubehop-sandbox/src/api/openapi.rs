//! OpenAPI for kubectl: `/openapi/v3` (the index and one document per group-version) and a
//! minimal `/openapi/v2`.
//!
//! v3 documents carry every served resource's paths, whose write operations declare the
//! `fieldValidation` query parameter (kubectl's `--validate=strict`, the default, then leaves
//! validation to the server), and `components.schemas` keyed as a real API server keys them
//! (`io.k8s.api.core.v1.Service`), with `x-kubernetes-group-version-kind` on the top-level
//! kinds: `kubectl explain` reads them. Built-in schemas are generated from k8s-openapi's
//! types (their `JsonSchema` implementations, the upstream OpenAPI turned into Rust) on the
//! first request for a group-version and cached for the life of the process; a custom
//! resource's schema is its CRD's `openAPIV3Schema`.
//!
//! kubectl asks for `/openapi/v2`, in protobuf only, when v3 does not know a kind (a custom
//! resource whose CRD is not there yet, an unknown kind): the sandbox answers with an empty
//! document (no paths, no definitions), which makes kubectl skip client-side validation of
//! that object, as it does against a real server that does not know the kind; the object then
//! fails with `no matches for kind` while the others are applied.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};

use bytes::Bytes;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

use crate::resources::{ResourceId, ResourceInfo, api_groups};

/// Changes whenever the built-in documents do (clients cache by it).
const BUILTIN_HASH: &str = "kubehop-sandbox-2";

/// The served resources: the built-in ones and the store's custom ones.
fn served(custom: &[ResourceId]) -> impl Iterator<Item = ResourceId> + '_ {
    ResourceId::builtins().chain(custom.iter().copied())
}

/// `/openapi/v3`: where each group-version's document lives.
pub(crate) fn root(custom: &[ResourceId]) -> Value {
    let mut paths = Map::new();
    for (path, group, version) in group_versions(custom) {
        let hash = document_hash(group, version, custom);
        paths.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
        );
    }
    json!({"paths": paths})
}

/// (`api/v1` | `apis/group/version`, group, version) of every served group-version.
fn group_versions(custom: &[ResourceId]) -> Vec<(String, &'static str, &'static str)> {
    let mut out = vec![("api/v1".to_string(), "", "v1")];
    for group in api_groups(served(custom)) {
        for version in group.versions {
            out.push((
                format!("apis/{}/{version}", group.name),
                group.name,
                version,
            ));
        }
    }
    out
}

/// The hash in a group-version's URL: fixed for built-in groups, derived from the CRDs'
/// descriptions for custom ones.
fn document_hash(group: &str, version: &str, custom: &[ResourceId]) -> String {
    let mut state: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for byte in bytes {
            state = (state ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    let mut any = false;
    for id in custom {
        let info = id.info();
        if info.group == group && info.version == version {
            any = true;
            feed(info.kind.as_bytes());
            feed(format!("{:?}", info.custom).as_bytes());
        }
    }
    if any {
        format!("{state:016X}")
    } else {
        BUILTIN_HASH.to_string()
    }
}

/// `/openapi/v3/{api/v1 | apis/group/version}`, or None for an unknown group-version.
pub(crate) fn document(group_version_path: &str, custom: &[ResourceId]) -> Option<Bytes> {
    let (_, group, version) = group_versions(custom)
        .into_iter()
        .find(|(path, _, _)| path == group_version_path)?;
    let has_custom = custom.iter().any(|id| {
        let info = id.info();
        info.group == group && info.version == version
    });
    if has_custom {
        return Some(Bytes::from(
            build_document(group_version_path, group, version, custom).to_string(),
        ));
    }
    static CACHE: LazyLock<Mutex<HashMap<String, Bytes>>> = LazyLock::new(Default::default);
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    let document = cache
        .entry(group_version_path.to_string())
        .or_insert_with(|| {
            Bytes::from(build_document(group_version_path, group, version, &[]).to_string())
        });
    Some(document.clone())
}

fn build_document(prefix: &str, group: &str, version: &str, custom: &[ResourceId]) -> Value {
    let mut generator = SchemaSettings::openapi3().into_generator();
    let mut paths = Map::new();
    let mut kinds = Vec::new();
    let mut custom_schemas = Vec::new();
    for info in served(custom)
        .map(ResourceId::info)
        .filter(|r| r.group == group && r.version == version)
    {
        let name = match (info.typed, info.custom) {
            (Some(typed), _) => {
                (typed.schema)(&mut generator);
                (typed.schema_name)().into_owned()
            }
            (None, Some(custom)) => {
                let name = custom_schema_name(info);
                let schema = custom_schema(custom.schema.as_ref(), &mut generator);
                custom_schemas.push((name.clone(), schema));
                name
            }
            (None, None) => continue,
        };
        let reference = json!({"$ref": format!("#/components/schemas/{name}")});
        add_paths(&mut paths, prefix, info, &reference);
        kinds.push((name, info));
    }
    let mut schemas = generator.take_definitions(true);
    schemas.extend(custom_schemas);
    for (name, info) in kinds {
        if let Some(schema) = schemas.get_mut(&name).and_then(Value::as_object_mut) {
            schema.insert(
                "x-kubernetes-group-version-kind".into(),
                json!([{"group": info.group, "version": info.version, "kind": info.kind}]),
            );
        }
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (kubehop sandbox)", "version": "v1.37.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

/// A custom resource's schema name as a real API server makes it: the group reversed, then
/// version and kind (`com.example.v1.Widget`).
fn custom_schema_name(info: &ResourceInfo) -> String {
    let reversed: Vec<&str> = info.group.split('.').rev().collect();
    format!("{}.{}.{}", reversed.join("."), info.version, info.kind)
}

/// A CRD's `openAPIV3Schema` with the object fields every kind has (`apiVersion`, `kind`,
/// `metadata` as ObjectMeta), as the API server publishes it.
fn custom_schema(schema: Option<&Value>, generator: &mut SchemaGenerator) -> Value {
    let mut schema = schema
        .cloned()
        .unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    let meta = generator.subschema_for::<ObjectMeta>();
    if let Some(map) = schema.as_object_mut() {
        let properties = map.entry("properties").or_insert_with(|| json!({}));
        if let Some(properties) = properties.as_object_mut() {
            properties.insert(
                "apiVersion".into(),
                json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."}),
            );
            properties.insert(
                "kind".into(),
                json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."}),
            );
            properties.insert(
                "metadata".into(),
                json!({"allOf": [meta.to_value()], "description": "Standard object's metadata."}),
            );
        }
    }
    schema
}

fn add_paths(paths: &mut Map<String, Value>, prefix: &str, info: &ResourceInfo, schema: &Value) {
    let (collection, object) = resource_paths(prefix, info);
    let gvk = json!({"group": info.group, "version": info.version, "kind": info.kind});
    let body = json!({"content": {"application/json": {"schema": schema}}});
    let ok =
        json!({"200": {"description": "OK", "content": {"application/json": {"schema": schema}}}});
    let write = |id: String| {
        json!({
            "operationId": id,
            "x-kubernetes-group-version-kind": gvk,
            "parameters": [
                query_parameter("dryRun"),
                query_parameter("fieldManager"),
                query_parameter("fieldValidation"),
            ],
            "requestBody": body,
            "responses": ok,
        })
    };
    let read = |id: String| {
        json!({
            "operationId": id,
            "x-kubernetes-group-version-kind": gvk,
            "responses": ok,
        })
    };
    let kind = info.kind;
    let mut collection_ops = Map::new();
    collection_ops.insert("get".into(), read(format!("list{kind}")));
    if !info.read_only {
        collection_ops.insert("post".into(), write(format!("create{kind}")));
    }
    let mut object_ops = Map::new();
    object_ops.insert("get".into(), read(format!("read{kind}")));
    if !info.read_only {
        object_ops.insert("put".into(), write(format!("replace{kind}")));
        object_ops.insert("patch".into(), write(format!("patch{kind}")));
        object_ops.insert("delete".into(), read(format!("delete{kind}")));
    }
    paths.insert(collection, Value::Object(collection_ops));
    paths.insert(object, Value::Object(object_ops));
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

/// The media type of `/openapi/v2` in protobuf (kubectl asks for it with `@v1.0`, which is
/// not a valid media type to answer with).
pub(crate) const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// `/openapi/v2` as JSON: an empty Swagger 2.0 document.
pub(crate) fn v2_json() -> Value {
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes (kubehop sandbox)", "version": "v1.37.0"},
        "paths": {},
        "definitions": {},
    })
}

/// `/openapi/v2` in the protobuf encoding of gnostic's `openapi.v2.Document`: swagger (1),
/// info (2: title 1, version 2), empty paths (8) and definitions (9).
pub(crate) fn v2_protobuf() -> Vec<u8> {
    fn field(out: &mut Vec<u8>, number: u8, bytes: &[u8]) {
        out.push(number << 3 | 2);
        let mut len = bytes.len();
        loop {
            let byte = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
        out.extend_from_slice(bytes);
    }
    let mut info = Vec::new();
    field(&mut info, 1, b"Kubernetes (kubehop sandbox)");
    field(&mut info, 2, b"v1.37.0");
    let mut document = Vec::new();
    field(&mut document, 1, b"2.0");
    field(&mut document, 2, &info);
    field(&mut document, 8, &[]);
    field(&mut document, 9, &[]);
    document
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(path: &str) -> Value {
        serde_json::from_slice(&document(path, &[]).expect("served")).expect("json")
    }

    #[test]
    fn root_lists_every_group_version() {
        let root = root(&[]);
        for path in [
            "api/v1",
            "apis/apps/v1",
            "apis/discovery.k8s.io/v1",
            "apis/networking.k8s.io/v1",
            "apis/autoscaling/v2",
            "apis/autoscaling/v1",
            "apis/apiextensions.k8s.io/v1",
        ] {
            assert!(root["paths"].get(path).is_some(), "{path}");
        }
    }

    #[test]
    fn patch_operations_declare_field_validation() {
        let document = parsed("apis/apps/v1");
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
        assert!(super::document("apis/batch/v9", &[]).is_none());
    }

    #[test]
    fn schemas_are_keyed_like_the_api_server_and_name_their_kind() {
        let document = parsed("api/v1");
        let schemas = &document["components"]["schemas"];
        let service = &schemas["io.k8s.api.core.v1.Service"];
        assert_eq!(
            service["x-kubernetes-group-version-kind"],
            json!([{"group": "", "version": "v1", "kind": "Service"}])
        );
        assert_eq!(
            service["properties"]["spec"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.api.core.v1.ServiceSpec"
        );
        assert!(
            schemas["io.k8s.api.core.v1.ServiceSpec"]["properties"]["clusterIP"]["description"]
                .as_str()
                .is_some_and(|d| d.contains("clusterIP"))
        );
        assert!(
            schemas
                .get("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
                .is_some()
        );
    }

    #[test]
    fn v2_protobuf_is_a_well_formed_message() {
        let bytes = v2_protobuf();
        // Field 1 (swagger), length-delimited, "2.0".
        assert_eq!(&bytes[..5], &[0x0a, 3, b'2', b'.', b'0']);
        // Ends with the empty paths (8) and definitions (9).
        assert_eq!(&bytes[bytes.len() - 4..], &[0x42, 0, 0x4a, 0]);
    }
}
