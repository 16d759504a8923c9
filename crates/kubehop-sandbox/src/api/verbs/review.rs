//! `SelfSubjectAccessReview` and `SelfSubjectRulesReview` (authorization.k8s.io/v1):
//! create-only, answered and not stored, for `kubectl auth can-i [--list]`.
//!
//! The sandbox's user may do everything (as a cluster-admin may, unknown resources included)
//! except what the fault settings forbid ([`Faults::forbid`](crate::faults::Faults::forbid)):
//! a forbidden verb on a resource answers `allowed: false`.
//!
//! kubectl 1.37 sends these as protobuf; the few fields read are decoded here (the
//! `k8s\0` envelope of an `Unknown` whose `raw` is the review).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::super::status::ApiError;
use super::super::{Shared, json_response};
use crate::request_log::Verb;
use crate::resources::ResourceId;

const API_VERSION: &str = "authorization.k8s.io/v1";

fn verb_named(name: &str) -> Option<Verb> {
    Some(match name {
        "get" => Verb::Get,
        "list" => Verb::List,
        "watch" => Verb::Watch,
        "create" => Verb::Create,
        "update" => Verb::Update,
        "patch" => Verb::Patch,
        "delete" => Verb::Delete,
        "deletecollection" => Verb::DeleteCollection,
        _ => return None,
    })
}

/// Whether the fault settings forbid `verb` (`*` for any) on `resource`.
fn forbidden(shared: &Shared, verb: &str, resource: &str) -> bool {
    if verb == "*" {
        return shared
            .faults
            .forbidden()
            .iter()
            .any(|(r, verbs)| (r == resource || resource == "*") && !verbs.is_empty());
    }
    verb_named(verb).is_some_and(|v| shared.faults.is_forbidden(resource, v))
}

/// The review's `spec` from a JSON, YAML or protobuf body.
fn decode(body: &[u8], kind: &str) -> Result<Value, ApiError> {
    let document: Value = if let Some(message) = body.strip_prefix(proto::MAGIC) {
        proto::review(message, kind)?
    } else {
        serde_saphyr::from_slice::<Value>(body)
            .map_err(|e| ApiError::bad_request(format!("cannot decode the {kind}: {e}")))?
    };
    if document
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k != kind)
    {
        return Err(ApiError::bad_request(format!(
            "the body must be a {kind}, not a {}",
            document["kind"].as_str().unwrap_or("")
        )));
    }
    Ok(document.get("spec").cloned().unwrap_or_else(|| json!({})))
}

fn answer(kind: &str, spec: Value, status: Value) -> Response {
    let document = json!({
        "kind": kind,
        "apiVersion": API_VERSION,
        "metadata": {},
        "spec": spec,
        "status": status,
    });
    json_response(StatusCode::CREATED, document.to_string())
}

pub(crate) fn access_review(shared: &Shared, body: &[u8]) -> Result<Response, ApiError> {
    const KIND: &str = "SelfSubjectAccessReview";
    let spec = decode(body, KIND)?;
    let attributes = spec.get("resourceAttributes");
    if attributes.is_none() && spec.get("nonResourceAttributes").is_none() {
        return Err(ApiError::invalid(format!(
            "{KIND}.authorization.k8s.io \"\" is invalid: spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified"
        )));
    }
    let field = |name: &str| {
        attributes
            .and_then(|a| a.get(name))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let (verb, resource) = (field("verb"), field("resource"));
    let status = if attributes.is_some() && forbidden(shared, verb, resource) {
        let scope = match field("namespace") {
            "" => "at the cluster scope".to_string(),
            ns => format!("in the namespace \"{ns}\""),
        };
        json!({
            "allowed": false,
            "reason": format!("the sandbox's fault settings forbid {verb} on {resource} {scope}"),
        })
    } else {
        json!({"allowed": true})
    };
    Ok(answer(KIND, spec, status))
}

pub(crate) fn rules_review(shared: &Shared, body: &[u8]) -> Result<Response, ApiError> {
    const KIND: &str = "SelfSubjectRulesReview";
    let spec = decode(body, KIND)?;
    let forbidden = shared.faults.forbidden();
    let resource_rules: Vec<Value> = if forbidden.is_empty() {
        vec![json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})]
    } else {
        // Rules only grant: with something forbidden, each served resource is listed with
        // the verbs it still allows.
        ResourceId::builtins()
            .map(ResourceId::info)
            .filter_map(|info| {
                let verbs: Vec<&str> = info
                    .verbs()
                    .iter()
                    .copied()
                    .filter(|verb| {
                        !verb_named(verb)
                            .is_some_and(|v| shared.faults.is_forbidden(info.plural, v))
                    })
                    .collect();
                (!verbs.is_empty()).then(|| {
                    json!({"verbs": verbs, "apiGroups": [info.group], "resources": [info.plural]})
                })
            })
            .chain(std::iter::once(json!({
                "verbs": ["create"],
                "apiGroups": ["authorization.k8s.io"],
                "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
            })))
            .collect()
    };
    let status = json!({
        "resourceRules": resource_rules,
        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
        "incomplete": false,
    });
    Ok(answer(KIND, spec, status))
}

/// The protobuf wire format, as far as the reviews need it.
mod proto {
    use super::*;

    pub(super) const MAGIC: &[u8] = b"k8s\0";

    /// The fields of one message: (number, bytes of a length-delimited field); varints and
    /// fixed-width fields are skipped (no review field read here has one).
    fn fields(mut bytes: &[u8]) -> Result<Vec<(u64, &[u8])>, ApiError> {
        let bad = || ApiError::bad_request("the protobuf body is malformed");
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let key = varint(&mut bytes).ok_or_else(bad)?;
            match key & 7 {
                0 => {
                    varint(&mut bytes).ok_or_else(bad)?;
                }
                1 => bytes = bytes.get(8..).ok_or_else(bad)?,
                5 => bytes = bytes.get(4..).ok_or_else(bad)?,
                2 => {
                    let len =
                        usize::try_from(varint(&mut bytes).ok_or_else(bad)?).map_err(|_| bad())?;
                    let value = bytes.get(..len).ok_or_else(bad)?;
                    out.push((key >> 3, value));
                    bytes = &bytes[len..];
                }
                _ => return Err(bad()),
            }
        }
        Ok(out)
    }

    fn varint(bytes: &mut &[u8]) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = bytes.split_first()?;
            *bytes = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn field(message: &[u8], number: u64) -> Result<Option<&[u8]>, ApiError> {
        Ok(fields(message)?
            .into_iter()
            .rev()
            .find(|(n, _)| *n == number)
            .map(|(_, v)| v))
    }

    /// A message of string fields as a JSON object (`names[i]` is field i + 1).
    fn strings(message: &[u8], names: &[&str]) -> Result<Value, ApiError> {
        let mut object = Map::new();
        for (number, value) in fields(message)? {
            let name = usize::try_from(number)
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|i| names.get(i));
            if let Some(name) = name {
                object.insert(
                    (*name).to_string(),
                    Value::String(String::from_utf8_lossy(value).into_owned()),
                );
            }
        }
        Ok(Value::Object(object))
    }

    /// `{"kind", "spec"}` of a protobuf review (after the magic).
    pub(super) fn review(envelope: &[u8], kind: &str) -> Result<Value, ApiError> {
        let raw = field(envelope, 2)?.unwrap_or_default();
        let spec_bytes = field(raw, 2)?.unwrap_or_default();
        let mut spec = Map::new();
        if kind == "SelfSubjectAccessReview" {
            if let Some(attributes) = field(spec_bytes, 1)? {
                let names = [
                    "namespace",
                    "verb",
                    "group",
                    "version",
                    "resource",
                    "subresource",
                    "name",
                ];
                spec.insert("resourceAttributes".into(), strings(attributes, &names)?);
            }
            if let Some(attributes) = field(spec_bytes, 2)? {
                spec.insert(
                    "nonResourceAttributes".into(),
                    strings(attributes, &["path", "verb"])?,
                );
            }
        } else if let Some(object) = strings(spec_bytes, &["namespace"])?.as_object() {
            spec.extend(object.clone());
        }
        Ok(json!({"kind": kind, "spec": spec}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A length-delimited field.
    fn field(number: u8, value: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3) | 2, u8::try_from(value.len()).expect("short")];
        out.extend_from_slice(value);
        out
    }

    #[test]
    fn a_protobuf_review_decodes() {
        let attributes = [field(1, b"default"), field(2, b"list"), field(5, b"pods")].concat();
        let spec = field(1, &attributes);
        let raw = [field(1, b""), field(2, &spec)].concat();
        let type_meta = [
            field(1, b"authorization.k8s.io/v1"),
            field(2, b"SelfSubjectAccessReview"),
        ]
        .concat();
        let envelope = [proto::MAGIC, &field(1, &type_meta), &field(2, &raw)].concat();
        let spec = decode(&envelope, "SelfSubjectAccessReview").expect("decodes");
        assert_eq!(
            spec,
            json!({"resourceAttributes": {"namespace": "default", "verb": "list", "resource": "pods"}})
        );
        assert!(decode(b"k8s\0\x12\x05ab", "SelfSubjectAccessReview").is_err());
    }

    #[test]
    fn a_json_review_decodes() {
        let body = br#"{"kind":"SelfSubjectAccessReview","apiVersion":"authorization.k8s.io/v1","spec":{"resourceAttributes":{"verb":"get","resource":"nodes"}}}"#;
        let spec = decode(body, "SelfSubjectAccessReview").expect("decodes");
        assert_eq!(spec["resourceAttributes"]["resource"], "nodes");
    }
}
