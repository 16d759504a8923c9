//! create, update, patch, delete and deletecollection, plus the `/scale` subresource.

use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::path::{Params, ResourceTarget};
use super::status::ApiError;
use super::{Shared, dry_run, json_response, rendered, rendered_value};
use crate::apply::{self, ApplyError};
use crate::patch::{self, PatchError, PatchKind};
use crate::protobuf::{self, ProtoError};
use crate::request_log::Verb;
use crate::resources::{ResourceId, convert};
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{
    DeleteOptions, DeleteOutcome, Part, Propagation, StoreError, WriteOptions, unknown_fields,
};
use crate::table::selector_string;

pub(super) fn write(
    shared: &Shared,
    verb: Verb,
    method: &Method,
    headers: &HeaderMap,
    target: &ResourceTarget,
    params: &Params,
    body: &[u8],
) -> Result<Response, ApiError> {
    if target.resource.info().read_only {
        return Err(StoreError::ReadOnly(target.resource).into());
    }
    let dry = dry_run(params)?;
    let fields = field_validation(params)?;
    match verb {
        Verb::Create => create(shared, headers, target, body, dry, fields),
        Verb::Update => update(shared, headers, target, params, body, dry, fields),
        Verb::Patch => patch(shared, headers, target, params, body, dry, fields),
        Verb::Delete => delete(shared, target, params, body, dry),
        Verb::DeleteCollection => delete_collection(shared, target, params, body, dry),
        _ => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method})"
        ))),
    }
}

/// The `fieldValidation` query parameter (the API server defaults to Warn).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

fn field_validation(params: &Params) -> Result<FieldValidation, ApiError> {
    match params.get("fieldValidation") {
        None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
        Some("Ignore") => Ok(FieldValidation::Ignore),
        Some("Strict") => Ok(FieldValidation::Strict),
        Some(other) => Err(ApiError::bad_request(format!(
            "fieldValidation must be one of Ignore, Warn, Strict; got {other}"
        ))),
    }
}

/// Unknown fields: a 400 under Strict, warnings under Warn.
fn check_fields(
    resource: ResourceId,
    object: &Value,
    mode: FieldValidation,
) -> Result<Vec<String>, StoreError> {
    if mode == FieldValidation::Ignore {
        return Ok(Vec::new());
    }
    let unknown: Vec<String> = unknown_fields(resource, object)
        .into_iter()
        .map(|field| format!("unknown field \"{field}\""))
        .collect();
    if mode == FieldValidation::Strict && !unknown.is_empty() {
        let info = resource.info();
        return Err(StoreError::BadRequest(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
            unknown.join(", "),
            kind = info.kind,
            version = info.version,
        )));
    }
    Ok(unknown)
}

/// Adds one `Warning: 299 - "..."` header per warning.
fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for warning in warnings {
        let text = format!(
            "299 - \"{}\"",
            warning.replace('\\', "\\\\").replace('"', "\\\"")
        );
        if let Ok(value) = header::HeaderValue::from_str(&text) {
            response.headers_mut().append(header::WARNING, value);
        }
    }
    response
}

/// A YAML parser's message in plain words: its resource limits are named as such instead of
/// as Rust values (`budget breached: ScalarBytes { .. }`), and a type mismatch that names the
/// same type twice says what the body is missing.
fn yaml_error_words(message: &str) -> String {
    if let Some(rest) = message.split("budget breached: ").nth(1) {
        let variant: String = rest
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        let limit = match variant.as_str() {
            "ScalarBytes" | "InputBytes" => "a value or the whole document is too long",
            "Depth" => "the document is nested too deeply",
            "Aliases" | "Anchors" | "AliasAnchorRatio" | "MergeKeys" => {
                "the document uses too many anchors and aliases"
            }
            "Documents" => "the body holds too many YAML documents",
            _ => "the document is too large",
        };
        return format!("the YAML document is over the server's limits: {limit}");
    }
    if let Some((_, rest)) = message.split_once("invalid type: ")
        && let Some((found, expected)) = rest.split_once(", expected ")
        && expected.starts_with(found.trim())
    {
        return "a mapping key must be a short plain string".to_owned();
    }
    // The parser's first line says it all; the rest draws the offending line.
    let first = message.lines().next().unwrap_or_default().trim();
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}

/// The request body as JSON (JSON, YAML or Kubernetes protobuf bodies).
fn parse_object(resource: ResourceId, headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    let kind = resource.info().kind;
    let value: Value = match essence {
        "application/json" | "" | "*/*" => serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!(
                "the object provided is unrecognized (must be of type {kind}): couldn't get version/kind; json parse error: {e}"
            ))
        })?,
        "application/yaml" => {
            let text = std::str::from_utf8(body)
                .map_err(|e| ApiError::bad_request(format!("the YAML body is not UTF-8: {e}")))?;
            serde_saphyr::from_str(text).map_err(|e| {
                ApiError::bad_request(format!(
                    "the object provided is unrecognized (must be of type {kind}): yaml parse error: {}",
                    yaml_error_words(&e.to_string())
                ))
            })?
        }
        // kubectl's typed generators (`kubectl create namespace|deployment|service ...`)
        // send protobuf.
        protobuf::MEDIA_TYPE => protobuf::decode(body).map_err(|e| match e {
            ProtoError::Malformed(message) => ApiError::bad_request(format!(
                "the object provided is unrecognized (must be of type {kind}): {message}"
            )),
            ProtoError::UnknownKind(message) => ApiError::unsupported_media_type(message),
        })?,
        other => {
            return Err(ApiError::unsupported_media_type(format!(
                "the body of the request was in an unknown format ({other}) - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf"
            )));
        }
    };
    if !value.is_object() {
        return Err(ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {}): not a JSON object",
            resource.info().kind
        )));
    }
    Ok(value)
}

/// Puts the URL's namespace into the object (400 if the object names another one).
fn align_namespace(target: &ResourceTarget, object: &mut Value) -> Result<(), ApiError> {
    if !target.resource.info().namespaced {
        return Ok(());
    }
    let Some(url_namespace) = target.namespace.as_deref() else {
        return Err(ApiError::method_not_allowed(format!(
            "{} are namespaced: write them under /namespaces/{{namespace}}/",
            target.resource.info().plural
        )));
    };
    let meta = object
        .as_object_mut()
        .map(|o| o.entry("metadata").or_insert_with(|| json!({})));
    if let Some(meta) = meta.and_then(Value::as_object_mut) {
        match meta.get("namespace").and_then(Value::as_str) {
            Some(given) if !given.is_empty() && given != url_namespace => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => {
                meta.insert("namespace".into(), json!(url_namespace));
            }
        }
    }
    Ok(())
}

fn create(
    shared: &Shared,
    headers: &HeaderMap,
    target: &ResourceTarget,
    body: &[u8],
    dry: bool,
    fields: FieldValidation,
) -> Result<Response, ApiError> {
    let mut object = parse_object(target.resource, headers, body)?;
    align_namespace(target, &mut object)?;
    let warnings = check_fields(target.resource, &object, fields)?;
    let storage = target.resource.info().storage;
    convert(&mut object, storage);
    let created = shared
        .store
        .create_object(storage, object, WriteOptions::api(dry))?;
    Ok(with_warnings(
        json_response(StatusCode::CREATED, rendered(target.resource, &created)),
        &warnings,
    ))
}

fn update(
    shared: &Shared,
    headers: &HeaderMap,
    target: &ResourceTarget,
    params: &Params,
    body: &[u8],
    dry: bool,
    fields: FieldValidation,
) -> Result<Response, ApiError> {
    let name = target.name.as_deref().unwrap_or("");
    if target.subresource.as_deref() == Some("scale") {
        let manager = field_manager(params, headers);
        return update_scale(shared, target, body, dry, &manager);
    }
    let mut object = parse_object(target.resource, headers, body)?;
    align_namespace(target, &mut object)?;
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        match meta.get("name").and_then(Value::as_str) {
            Some(given) if !given.is_empty() && given != name => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({given}) does not match the name on the URL ({name})"
                )));
            }
            _ => {
                meta.insert("name".into(), json!(name));
            }
        }
    }
    let warnings = check_fields(target.resource, &object, fields)?;
    let part = part_of(target);
    let storage = target.resource.info().storage;
    convert(&mut object, storage);
    // Only objects an apply touched (their JSON names managedFields) are parsed again here.
    if let Some(stored) = shared
        .store
        .get_object(storage, target.namespace.as_deref().unwrap_or(""), name)
        .filter(|stored| {
            std::str::from_utf8(stored.json()).is_ok_and(|t| t.contains("\"managedFields\""))
        })
    {
        let manager = field_manager(params, headers);
        track_update(shared, storage, &manager, &stored.value(), &mut object);
    }
    let updated = shared
        .store
        .update_object(storage, object, part, WriteOptions::api(dry))?;
    Ok(with_warnings(
        json_response(StatusCode::OK, rendered(target.resource, &updated)),
        &warnings,
    ))
}

fn part_of(target: &ResourceTarget) -> Part {
    if target.subresource.as_deref() == Some("status") {
        Part::Status
    } else {
        Part::Whole
    }
}

fn patch_kind(headers: &HeaderMap) -> Result<PatchKind, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    match PatchKind::from_content_type(content_type) {
        Some(PatchKind::Apply) if essence != "application/apply-patch+yaml" => {
            Err(ApiError::unsupported_media_type(format!(
                "the body of the request was in an unknown format ({essence}) - accepted media types include: application/apply-patch+yaml"
            )))
        }
        Some(kind) => Ok(kind),
        None => Err(ApiError::unsupported_media_type(format!(
            "the body of the request was in an unknown format ({content_type}) - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json"
        ))),
    }
}

fn patch_error(err: PatchError) -> StoreError {
    match err {
        PatchError::Malformed(message) => StoreError::BadRequest(message),
        PatchError::Unappliable(message) => StoreError::UnprocessablePatch(message),
    }
}

fn patch(
    shared: &Shared,
    headers: &HeaderMap,
    target: &ResourceTarget,
    params: &Params,
    body: &[u8],
    dry: bool,
    fields: FieldValidation,
) -> Result<Response, ApiError> {
    let kind = patch_kind(headers)?;
    if kind == PatchKind::Apply {
        return server_side_apply(shared, target, params, body, dry, fields);
    }
    let resource = target.resource;
    let name = target.name.as_deref().unwrap_or("");
    let namespace = target.namespace.as_deref().unwrap_or("");
    if target.subresource.as_deref() == Some("scale") {
        let manager = field_manager(params, headers);
        return patch_scale(shared, target, kind, body, dry, &manager);
    }
    let part = part_of(target);
    let manager = field_manager(params, headers);
    let mut warnings = Vec::new();
    let storage = resource.info().storage;
    let patched = shared.store.modify_object(
        storage,
        namespace,
        name,
        part,
        WriteOptions::api(dry),
        |object| {
            convert(object, resource);
            let before = tracked(object).then(|| object.clone());
            patch::apply(kind, resource, object, body).map_err(patch_error)?;
            warnings = check_fields(resource, object, fields)?;
            if let Some(before) = &before {
                track_update(shared, resource, &manager, before, object);
            }
            convert(object, storage);
            Ok(())
        },
    )?;
    Ok(with_warnings(
        json_response(StatusCode::OK, rendered(resource, &patched)),
        &warnings,
    ))
}

/// Who writes: the `fieldManager` parameter, else the client's User-Agent up to its first `/`,
/// as the API server names managers.
fn field_manager(params: &Params, headers: &HeaderMap) -> String {
    if let Some(manager) = params.get("fieldManager").filter(|m| !m.is_empty()) {
        return manager.to_string();
    }
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match agent.split('/').next().filter(|a| !a.is_empty()) {
        Some(prefix) => prefix.chars().take(128).collect(),
        None => "unknown".into(),
    }
}

/// Whether an object's field ownership is tracked (an apply touched it).
fn tracked(object: &Value) -> bool {
    object.pointer("/metadata/managedFields").is_some()
}

/// A plain write's effect on field ownership, where the object's ownership is tracked and the
/// client did not set managedFields itself.
fn track_update(
    shared: &Shared,
    resource: ResourceId,
    manager: &str,
    before: &Value,
    after: &mut Value,
) {
    let owned = |v: &Value| v.pointer("/metadata/managedFields").cloned();
    let given = owned(after);
    if owned(before).is_none() || (given.is_some() && given != owned(before)) {
        return;
    }
    let now = crate::store::format_time(shared.store.now());
    apply::record_update(resource, manager, &now, before, after);
}

/// Server-side apply: the config in the body, applied by `fieldManager` (forced with
/// `force=true`); the first apply creates the object.
fn server_side_apply(
    shared: &Shared,
    target: &ResourceTarget,
    params: &Params,
    body: &[u8],
    dry: bool,
    fields: FieldValidation,
) -> Result<Response, ApiError> {
    let resource = target.resource;
    if let Some(sub) = target.subresource.as_deref() {
        return Err(ApiError::unsupported_media_type(format!(
            "server-side apply to the {sub} subresource is not supported by the sandbox"
        )));
    }
    let manager = params
        .get("fieldManager")
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError::bad_request("PATCH with apply requires fieldManager"))?;
    let force = apply_force(params)?;
    let mut config = apply_config(target, body)?;
    let warnings = check_fields(resource, &config, fields)?;
    if let Some(meta) = config.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    // Other served versions of the kind are stored at its storage version.
    let served = resource;
    let resource = served.info().storage;
    convert(&mut config, resource);
    let now = crate::store::format_time(shared.store.now());
    let apply = apply::Apply {
        resource,
        manager,
        force,
        now: &now,
    };
    let name = target.name.as_deref().unwrap_or("");
    let mut conflicts = None;
    let outcome = shared.store.modify_object(
        resource,
        target.namespace.as_deref().unwrap_or(""),
        name,
        Part::Whole,
        WriteOptions::api(dry),
        |object| {
            apply::apply_to(&apply, object, &config).map_err(|ApplyError::Conflicts(found)| {
                conflicts = Some(found);
                StoreError::Conflict {
                    resource,
                    name: name.to_string(),
                    reason: "apply conflicts".into(),
                }
            })
        },
    );
    let (status, object) = match outcome {
        Ok(updated) => (StatusCode::OK, updated),
        Err(StoreError::NotFound { .. }) if conflicts.is_none() => {
            let created = shared.store.create_object(
                resource,
                apply::create(&apply, &config),
                WriteOptions::api(dry),
            )?;
            (StatusCode::CREATED, created)
        }
        Err(err) => {
            return Err(match conflicts {
                Some(found) => apply_conflict(&found),
                None => err.into(),
            });
        }
    };
    Ok(with_warnings(
        json_response(status, rendered(served, &object)),
        &warnings,
    ))
}

/// The `force` parameter of an apply.
fn apply_force(params: &Params) -> Result<bool, ApiError> {
    match params.get("force") {
        None | Some("") | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "invalid force value {other:?}: must be true or false"
        ))),
    }
}

/// The applied config: a YAML (or JSON) object of the URL's kind, named as the URL names it.
fn apply_config(target: &ResourceTarget, body: &[u8]) -> Result<Value, ApiError> {
    let info = target.resource.info();
    let text = std::str::from_utf8(body)
        .map_err(|e| ApiError::bad_request(format!("the YAML body is not UTF-8: {e}")))?;
    let mut config: Value = serde_saphyr::from_str(text).map_err(|e| {
        ApiError::bad_request(format!(
            "error decoding YAML: {}",
            yaml_error_words(&e.to_string())
        ))
    })?;
    if !config.is_object() {
        return Err(ApiError::bad_request(
            "the applied configuration is not an object",
        ));
    }
    let api_version = config.get("apiVersion").and_then(Value::as_str);
    let kind = config.get("kind").and_then(Value::as_str);
    if api_version != Some(info.api_version().as_str()) || kind != Some(info.kind) {
        return Err(ApiError::bad_request(format!(
            "the applied configuration is a {} {}, not a {} {}",
            api_version.unwrap_or("(no apiVersion)"),
            kind.unwrap_or("(no kind)"),
            info.api_version(),
            info.kind
        )));
    }
    align_namespace(target, &mut config)?;
    let name = target.name.as_deref().unwrap_or("");
    let meta = config
        .as_object_mut()
        .map(|o| o.entry("metadata").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut);
    if let Some(meta) = meta {
        match meta.get("name").and_then(Value::as_str) {
            Some(given) if !given.is_empty() && given != name => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({given}) does not match the name on the URL ({name})"
                )));
            }
            _ => {
                meta.insert("name".into(), json!(name));
            }
        }
    }
    Ok(config)
}

/// The 409 of an apply that conflicts, as the API server words it.
fn apply_conflict(conflicts: &[apply::Conflict]) -> ApiError {
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|c| {
            json!({
                "reason": "FieldManagerConflict",
                "message": format!("conflict with {}", c.manager),
                "field": c.field,
            })
        })
        .collect();
    let mut error = ApiError::new(
        StatusCode::CONFLICT,
        "Conflict",
        apply::conflict_message(conflicts),
    );
    error.details = Some(json!({"causes": causes}));
    error
}

/// The client's DeleteOptions, from the body and the query.
fn delete_options(params: &Params, body: &[u8], dry: bool) -> Result<DeleteOptions, ApiError> {
    let mut options = DeleteOptions {
        dry_run: dry,
        ..DeleteOptions::default()
    };
    let mut propagation: Option<String> = params.get("propagationPolicy").map(str::to_string);
    if let Some(grace) = params.get("gracePeriodSeconds") {
        options.grace_period_seconds =
            Some(grace.parse().map_err(|_| {
                ApiError::bad_request(format!("invalid gracePeriodSeconds: {grace}"))
            })?);
    }
    if !body.iter().all(u8::is_ascii_whitespace) {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?;
        if let Some(grace) = value.get("gracePeriodSeconds").and_then(Value::as_i64) {
            options.grace_period_seconds = Some(grace);
        }
        if let Some(uid) = value.pointer("/preconditions/uid").and_then(Value::as_str) {
            options.precondition_uid = Some(uid.to_string());
        }
        if let Some(rv) = value
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
        {
            options.precondition_resource_version = Some(rv.to_string());
        }
        if let Some(policy) = value.get("propagationPolicy").and_then(Value::as_str) {
            propagation = Some(policy.to_string());
        }
        if value.get("orphanDependents").and_then(Value::as_bool) == Some(true) {
            propagation = Some("Orphan".into());
        }
        if value
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|v| v == "All"))
        {
            options.dry_run = true;
        }
    }
    options.propagation = match propagation.as_deref() {
        None | Some("") | Some("Background") => Propagation::Background,
        Some("Foreground") => Propagation::Foreground,
        Some("Orphan") => Propagation::Orphan,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "propagationPolicy: Unsupported value: \"{other}\": supported values: \"Background\", \"Foreground\", \"Orphan\""
            )));
        }
    };
    Ok(options)
}

fn delete(
    shared: &Shared,
    target: &ResourceTarget,
    params: &Params,
    body: &[u8],
    dry: bool,
) -> Result<Response, ApiError> {
    let options = delete_options(params, body, dry)?;
    let outcome = shared.store.delete_object(
        target.resource.info().storage,
        target.namespace.as_deref().unwrap_or(""),
        target.name.as_deref().unwrap_or(""),
        &options,
    )?;
    Ok(json_response(
        StatusCode::OK,
        rendered(target.resource, outcome.object()),
    ))
}

fn delete_collection(
    shared: &Shared,
    target: &ResourceTarget,
    params: &Params,
    body: &[u8],
    dry: bool,
) -> Result<Response, ApiError> {
    let options = delete_options(params, body, dry)?;
    let labels = LabelSelector::parse(params.get("labelSelector").unwrap_or(""))
        .map_err(|e| ApiError::bad_request(e.0))?;
    let fields = FieldSelector::parse(params.get("fieldSelector").unwrap_or(""))
        .map_err(|e| ApiError::bad_request(e.0))?;
    let storage = target.resource.info().storage;
    let (objects, _) =
        shared
            .store
            .select_objects(storage, target.namespace.as_deref(), &labels, &fields);
    let mut items = Vec::new();
    for object in objects {
        match shared
            .store
            .delete_object(storage, object.namespace(), object.name(), &options)
        {
            Ok(DeleteOutcome::Deleted(gone) | DeleteOutcome::Pending(gone)) => {
                items.push(rendered_value(target.resource, &gone));
            }
            Err(StoreError::NotFound { .. }) => {}
            Err(err) => return Err(err.into()),
        }
    }
    let info = target.resource.info();
    let list = json!({
        "kind": info.list_kind(),
        "apiVersion": info.api_version(),
        "metadata": {"resourceVersion": shared.store.resource_version().to_string()},
        "items": items,
    });
    Ok(json_response(StatusCode::OK, list.to_string()))
}

// ---------------------------------------------------------------------------------------------
// The /scale subresource (autoscaling/v1 Scale)

/// Where a resource keeps what its Scale shows: (spec replicas, status replicas, selector) as
/// JSON pointers; a custom resource's come from its CRD.
fn scale_pointers(resource: ResourceId) -> (String, String, Option<String>) {
    let pointer = |path: &str| path.trim_start_matches('.').replace('.', "/");
    match resource.info().custom.and_then(|c| c.scale.as_ref()) {
        Some(paths) => (
            format!("/{}", pointer(&paths.spec_replicas)),
            format!("/{}", pointer(&paths.status_replicas)),
            paths
                .label_selector
                .as_deref()
                .map(|p| format!("/{}", pointer(p))),
        ),
        None => ("/spec/replicas".into(), "/status/replicas".into(), None),
    }
}

/// The Scale view of a Deployment, StatefulSet, ReplicaSet or custom resource.
pub(super) fn scale_of(resource: ResourceId, object: &Value) -> Value {
    let meta = object.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let pick = |key: &str| meta.get(key).cloned().unwrap_or(Value::Null);
    let (spec_replicas, status_replicas, selector_at) = scale_pointers(resource);
    let selector = match &selector_at {
        Some(at) => object
            .pointer(at)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        None if resource.info().custom.is_some() => String::new(),
        None => match selector_string(object.pointer("/spec/selector")).as_str() {
            "<none>" => String::new(),
            other => other.to_string(),
        },
    };
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": pick("name"),
            "namespace": pick("namespace"),
            "uid": pick("uid"),
            "resourceVersion": pick("resourceVersion"),
            "creationTimestamp": pick("creationTimestamp"),
        },
        "spec": {"replicas": object.pointer(&spec_replicas).and_then(Value::as_i64).unwrap_or(0)},
        "status": {
            "replicas": object.pointer(&status_replicas).and_then(Value::as_i64).unwrap_or(0),
            "selector": selector,
        },
    })
}

/// Writes the Scale's replicas into the object (422 for a negative or missing count).
fn apply_scale(resource: ResourceId, object: &mut Value, scale: &Value) -> Result<(), StoreError> {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let replicas = scale.pointer("/spec/replicas");
    let Some(count) = replicas.and_then(Value::as_i64).filter(|n| *n >= 0) else {
        return Err(StoreError::Invalid {
            resource,
            name,
            causes: vec![crate::admission::FieldCause::invalid(
                "spec.replicas",
                replicas.unwrap_or(&Value::Null),
                "must be greater than or equal to 0",
            )],
        });
    };
    // A resourceVersion in the Scale is a precondition on the parent object.
    if let Some(rv) = scale
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|rv| !rv.is_empty())
        && let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut)
    {
        meta.insert("resourceVersion".into(), json!(rv));
    }
    let (spec_replicas, _, _) = scale_pointers(resource);
    set_at(object, &spec_replicas, json!(count));
    Ok(())
}

/// Sets the value at a JSON pointer, making the objects on the way.
fn set_at(object: &mut Value, pointer: &str, value: Value) {
    let mut current = object;
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        let Some(map) = current.as_object_mut() else {
            return;
        };
        if i + 1 == parts.len() {
            map.insert((*part).to_string(), value);
            return;
        }
        current = map.entry(*part).or_insert_with(|| json!({}));
    }
}

fn update_scale(
    shared: &Shared,
    target: &ResourceTarget,
    body: &[u8],
    dry: bool,
    manager: &str,
) -> Result<Response, ApiError> {
    let scale: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid Scale: {e}")))?;
    let resource = target.resource;
    let updated = shared.store.modify_object(
        resource.info().storage,
        target.namespace.as_deref().unwrap_or(""),
        target.name.as_deref().unwrap_or(""),
        Part::Whole,
        WriteOptions::api(dry),
        |object| {
            let before = tracked(object).then(|| object.clone());
            apply_scale(resource, object, &scale)?;
            if let Some(before) = &before {
                track_update(shared, resource, manager, before, object);
            }
            Ok(())
        },
    )?;
    Ok(json_response(
        StatusCode::OK,
        scale_of(resource, &updated.value()).to_string(),
    ))
}

fn patch_scale(
    shared: &Shared,
    target: &ResourceTarget,
    kind: PatchKind,
    body: &[u8],
    dry: bool,
    manager: &str,
) -> Result<Response, ApiError> {
    let resource = target.resource;
    let updated = shared.store.modify_object(
        resource.info().storage,
        target.namespace.as_deref().unwrap_or(""),
        target.name.as_deref().unwrap_or(""),
        Part::Whole,
        WriteOptions::api(dry),
        |object| {
            let before = tracked(object).then(|| object.clone());
            let mut scale = scale_of(resource, object);
            patch::apply(kind, resource, &mut scale, body).map_err(patch_error)?;
            apply_scale(resource, object, &scale)?;
            if let Some(before) = &before {
                track_update(shared, resource, manager, before, object);
            }
            Ok(())
        },
    )?;
    Ok(json_response(
        StatusCode::OK,
        scale_of(resource, &updated.value()).to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::yaml_error_words;

    #[test]
    fn yaml_errors_are_put_in_plain_words() {
        let budget = "budget breached: ScalarBytes { total_scalar_bytes: 1048577 } at line 1";
        assert_eq!(
            yaml_error_words(budget),
            "the YAML document is over the server's limits: a value or the whole document is too long"
        );
        assert_eq!(
            yaml_error_words("invalid type: a mapping, expected a mapping"),
            "a mapping key must be a short plain string"
        );
        assert_eq!(
            yaml_error_words("error: line 6: bad\n --> <input>:6\n | drawing"),
            "line 6: bad"
        );
    }
}
