//! The Kubernetes-API-compatible HTTP front: one entry point that authenticates, logs, applies
//! latency faults, catches panics, and dispatches on the parsed path and verb.

pub(crate) mod discovery;
#[doc(hidden)]
pub mod fuzzing;
mod openapi;
mod path;
mod portforward;
mod read;
pub(crate) mod spdy;
pub(crate) mod status;
mod verbs;
mod write;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use tokio_util::sync::CancellationToken;

use crate::faults::Faults;
use crate::request_log::{RequestLog, RequestRecord, Verb};
use crate::resources::ResourceId;
use crate::store::Store;
use crate::table::IncludeObject;

use self::path::{Params, ResourceTarget, Target};
use self::status::ApiError;

/// What every request handler shares.
pub(crate) struct Shared {
    pub store: Store,
    /// The pods' access logs (`pods/log`).
    pub access: crate::access_log::AccessLogs,
    pub log: RequestLog,
    pub faults: Faults,
    pub token: String,
    pub bookmark_interval: Duration,
    /// `host:port` the API server listens on (for `/api`'s serverAddressByClientCIDRs).
    pub server_address: String,
    /// Timeouts and the connection cap of the listener.
    pub limits: crate::server::ServerLimits,
}

/// One listener generation: the shared state plus the token that ends its connections.
pub(crate) struct ApiContext {
    pub shared: Arc<Shared>,
    pub cancel: CancellationToken,
}

/// The router for one listener generation.
pub(crate) fn router(context: Arc<ApiContext>) -> Router {
    Router::new().fallback(entry).with_state(context)
}

/// The API server's warning on every core/v1 Endpoints request.
const ENDPOINTS_DEPRECATED: &str =
    "299 - \"v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice\"";

/// Largest request body accepted (the API server's limit).
const MAX_BODY: usize = 3 * 1024 * 1024;

async fn entry(State(context): State<Arc<ApiContext>>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let params = Params::parse(&query);
    let custom = context.shared.store.custom_resources();
    let target = path::parse_with(&path, &custom);
    let verb = path::verb(&method, &target, &params);

    let latency = context.shared.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let response = if !authorized(&context.shared.token, request.headers()) {
        ApiError::unauthorized().into_response()
    } else {
        let handled = AssertUnwindSafe(dispatch(&context, request, &target, &params, verb))
            .catch_unwind()
            .await;
        match handled {
            Ok(response) => response,
            Err(_) => {
                tracing::error!("sandbox API handler panicked on {method} {path}");
                ApiError::internal("the sandbox API server failed while handling this request")
                    .into_response()
            }
        }
    };
    let (resource, namespace, name, subresource) = match &target {
        Target::Resource(r) => (
            Some(r.resource.info().plural.to_string()),
            r.namespace.clone(),
            r.name.clone(),
            r.subresource.clone(),
        ),
        Target::Verbs(route) => (Some(route.plural().to_string()), None, None, None),
        _ => (None, None, None, None),
    };
    context.shared.log.push(RequestRecord {
        method: method.to_string(),
        path,
        query,
        verb,
        resource,
        subresource,
        namespace,
        name,
        user_agent,
        status: response.status().as_u16(),
    });
    response
}

fn authorized(token: &str, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| given.trim() == token)
}

async fn dispatch(
    context: &Arc<ApiContext>,
    request: Request,
    target: &Target,
    params: &Params,
    verb: Verb,
) -> Response {
    let shared = &context.shared;
    let custom = shared.store.custom_resources();
    let read_only = |document: serde_json::Value| -> Response {
        if verb == Verb::Get {
            json_response(StatusCode::OK, document.to_string())
        } else {
            ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource ({})",
                request.method()
            ))
            .into_response()
        }
    };
    match target {
        Target::Version => read_only(discovery::version()),
        Target::ApiVersions => read_only(discovery::api_versions(&shared.server_address)),
        Target::Groups => read_only(discovery::groups(&custom)),
        Target::Group(group) => read_only(discovery::group(group, &custom)),
        Target::Resources { group, version } => {
            read_only(discovery::resources(group, version, &custom))
        }
        Target::Health => {
            let mut response = Response::new(Body::from("ok"));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            response
        }
        Target::OpenApiRoot => read_only(openapi::root(&custom)),
        Target::OpenApiDocument(path) => match openapi::document(path, &custom) {
            Some(document) if verb == Verb::Get => json_response(StatusCode::OK, document),
            Some(_) => read_only(serde_json::Value::Null),
            None => ApiError::not_found_path().into_response(),
        },
        Target::OpenApiV2 if verb == Verb::Get => openapi_v2(request.headers()),
        Target::OpenApiV2 => read_only(serde_json::Value::Null),
        Target::NotFound => ApiError::not_found_path().into_response(),
        Target::Verbs(route) => verbs::serve(context, request, *route).await,
        Target::Resource(resource) => {
            let mut response =
                match resource_request(context, request, resource, params, verb).await {
                    Ok(response) => response,
                    Err(err) => err.into_response(),
                };
            if resource.resource == ResourceId::Endpoints {
                response.headers_mut().insert(
                    header::WARNING,
                    header::HeaderValue::from_static(ENDPOINTS_DEPRECATED),
                );
            }
            response
        }
    }
}

/// `/openapi/v2`: protobuf when asked for (kubectl asks for nothing else), JSON otherwise.
fn openapi_v2(headers: &HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains("protobuf") {
        let mut response = Response::new(Body::from(openapi::v2_protobuf()));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(openapi::V2_PROTOBUF),
        );
        response
    } else {
        json_response(StatusCode::OK, openapi::v2_json().to_string())
    }
}

async fn resource_request(
    context: &Arc<ApiContext>,
    request: Request,
    target: &ResourceTarget,
    params: &Params,
    verb: Verb,
) -> Result<Response, ApiError> {
    let shared = &context.shared;
    let info = target.resource.info();
    if shared.faults.is_forbidden(info.plural, verb) {
        return Err(ApiError::forbidden(
            verb,
            target.resource,
            target.namespace.as_deref(),
            target.name.as_deref(),
        ));
    }
    if let Some(sub) = target.subresource.as_deref() {
        let known = match sub {
            "status" => info.status_subresource,
            "scale" => info.scale_subresource,
            "portforward" => target.resource == ResourceId::Pods,
            sub if verbs::is_pod_subresource(sub) => target.resource == ResourceId::Pods,
            _ => false,
        };
        if !known {
            return Err(ApiError::not_found_path());
        }
        if verbs::is_pod_subresource(sub) {
            return verbs::pod_subresource(context, request, target, params).await;
        }
    }
    let presentation = Presentation::negotiate(request.headers(), params)?;
    match verb {
        Verb::Get => read::get(shared, target, &presentation),
        Verb::List => read::list(shared, target, params, &presentation),
        Verb::Watch => read::watch(context, target, params, presentation),
        Verb::PortForward => portforward::portforward(context, request, target, params).await,
        Verb::Create | Verb::Update | Verb::Patch | Verb::Delete | Verb::DeleteCollection => {
            let method = request.method().clone();
            let headers = request.headers().clone();
            let body = read_body(request.into_body(), MAX_BODY).await?;
            write::write(shared, verb, &method, &headers, target, params, &body)
        }
        Verb::Unsupported => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({})",
            request.method()
        ))),
    }
}

/// The whole request body, at most `limit` bytes (413 beyond, as the API server answers).
async fn read_body(body: axum::body::Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    use futures::StreamExt;
    let mut stream = body.into_data_stream();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request(format!("cannot read the request body: {e}")))?;
        if out.len() + chunk.len() > limit {
            return Err(ApiError::too_large(limit));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.into())
}

/// How an object is rendered for the client (content negotiation on `Accept`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presentation {
    Object,
    Table(IncludeObject),
    PartialMetadata,
}

impl Presentation {
    fn negotiate(headers: &HeaderMap, params: &Params) -> Result<Self, ApiError> {
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("");
            let mut as_kind = None;
            let mut group = None;
            for part in parts {
                if let Some((k, v)) = part.split_once('=') {
                    match k.trim() {
                        "as" => as_kind = Some(v.trim()),
                        "g" => group = Some(v.trim()),
                        _ => {}
                    }
                }
            }
            if media != "application/json" && media != "*/*" && media != "application/*" {
                continue;
            }
            match (as_kind, group) {
                (None, _) => return Ok(Presentation::Object),
                (Some("Table"), Some("meta.k8s.io")) => {
                    let include =
                        IncludeObject::parse(params.get("includeObject")).ok_or_else(|| {
                            ApiError::bad_request(
                                "includeObject must be one of None, Metadata, Object",
                            )
                        })?;
                    return Ok(Presentation::Table(include));
                }
                (
                    Some("PartialObjectMetadata" | "PartialObjectMetadataList"),
                    Some("meta.k8s.io"),
                ) => {
                    return Ok(Presentation::PartialMetadata);
                }
                _ => continue,
            }
        }
        Ok(Presentation::Object)
    }
}

/// The object as `served` shows it: stored objects of another version of the same resource
/// (autoscaling/v1 autoscalers, a CRD's other versions) are converted.
pub(crate) fn rendered(served: ResourceId, object: &crate::store::StoredObject) -> bytes::Bytes {
    if object.resource() == served {
        object.json().clone()
    } else {
        bytes::Bytes::from(rendered_value(served, object).to_string())
    }
}

/// [`rendered`] as a JSON tree.
pub(crate) fn rendered_value(
    served: ResourceId,
    object: &crate::store::StoredObject,
) -> serde_json::Value {
    let mut value = object.value();
    if object.resource() != served {
        crate::resources::convert(&mut value, served);
    }
    value
}

pub(crate) fn json_response(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// `dryRun=All` (or a DeleteOptions `dryRun: ["All"]`).
pub(crate) fn dry_run(params: &Params) -> Result<bool, ApiError> {
    let mut dry = false;
    for value in params.all("dryRun") {
        match value {
            "All" => dry = true,
            "" => {}
            other => {
                return Err(ApiError::bad_request(format!(
                    "Invalid dry run value: {other}; supported values: All"
                )));
            }
        }
    }
    Ok(dry)
}
