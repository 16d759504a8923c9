//! `meta/v1 Status` answers for everything that goes wrong, with the API server's codes,
//! reasons and wording.

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::request_log::Verb;
use crate::resources::ResourceId;
use crate::store::StoreError;

/// The user the sandbox's bearer token authenticates.
pub(crate) const SANDBOX_USER: &str = "kubehop-sandbox";

/// A failed request, rendered as a `Status`.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub code: StatusCode,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

/// A message on one line: control characters quoted from a request (a newline in a selector or
/// a name) are shown escaped, as the API server's `%q` shows them.
fn one_line(message: String) -> String {
    if !message.chars().any(char::is_control) {
        return message;
    }
    message
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

impl ApiError {
    pub fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: one_line(message.into()),
            details: None,
        }
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn not_found_path() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(json!({"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]}))
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// 413, as the API server answers a body over its limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            format!(
                "the request is too large: the body may be at most {} MiB",
                limit / (1024 * 1024)
            ),
        )
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", message)
    }

    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            message,
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized")
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", message)
    }

    /// `pods is forbidden: User "kubehop-sandbox" cannot list resource "pods" in API group ""
    /// at the cluster scope`, as RBAC words it.
    pub fn forbidden(
        verb: Verb,
        resource: ResourceId,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> Self {
        let info = resource.info();
        let subject = match name {
            Some(name) => format!("{} \"{name}\"", info.group_resource()),
            None => info.group_resource(),
        };
        let scope = match namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".to_string(),
        };
        let mut details = Map::new();
        if let Some(name) = name {
            details.insert("name".into(), json!(name));
        }
        if !info.group.is_empty() {
            details.insert("group".into(), json!(info.group));
        }
        details.insert("kind".into(), json!(info.plural));
        Self::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "{subject} is forbidden: User \"{SANDBOX_USER}\" cannot {verb} resource \"{}\" in API group \"{}\" {scope}",
                info.plural, info.group
            ),
        )
        .with_details(Value::Object(details))
    }

    /// The `Status` object.
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code.as_u16(),
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.status().to_string();
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = self.code;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        if let Some(seconds) = self
            .details
            .as_ref()
            .and_then(|d| d.get("retryAfterSeconds"))
            .and_then(Value::as_u64)
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        }
        response
    }
}

fn object_details(resource: ResourceId, name: &str) -> Value {
    let info = resource.info();
    let mut details = Map::new();
    details.insert("name".into(), json!(name));
    if !info.group.is_empty() {
        details.insert("group".into(), json!(info.group));
    }
    details.insert("kind".into(), json!(info.plural));
    Value::Object(details)
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        let message = err.to_string();
        match err {
            StoreError::NotFound { resource, name } => {
                ApiError::new(StatusCode::NOT_FOUND, "NotFound", message)
                    .with_details(object_details(resource, &name))
            }
            StoreError::AlreadyExists { resource, name } => {
                ApiError::new(StatusCode::CONFLICT, "AlreadyExists", message)
                    .with_details(object_details(resource, &name))
            }
            StoreError::Conflict { resource, name, .. } => {
                ApiError::new(StatusCode::CONFLICT, "Conflict", message)
                    .with_details(object_details(resource, &name))
            }
            StoreError::Invalid {
                resource,
                name,
                causes,
            } => {
                let info = resource.info();
                let mut details = Map::new();
                details.insert("name".into(), json!(name));
                if !info.group.is_empty() {
                    details.insert("group".into(), json!(info.group));
                }
                details.insert("kind".into(), json!(info.kind));
                details.insert(
                    "causes".into(),
                    Value::Array(
                        causes
                            .iter()
                            .map(|c| {
                                json!({"reason": c.cause.reason(), "message": c.message, "field": c.field})
                            })
                            .collect(),
                    ),
                );
                ApiError::invalid(message).with_details(Value::Object(details))
            }
            StoreError::UnprocessablePatch(_) => ApiError::invalid(message),
            StoreError::BadRequest(_) => ApiError::bad_request(message),
            StoreError::ReadOnly(_) => ApiError::method_not_allowed(message),
            StoreError::Expired { .. } => ApiError::new(StatusCode::GONE, "Expired", message),
            StoreError::TooLargeResourceVersion { .. } => {
                ApiError::new(StatusCode::GATEWAY_TIMEOUT, "Timeout", message).with_details(json!({
                    "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                    "retryAfterSeconds": 1
                }))
            }
            StoreError::NotServed(_) => ApiError::not_found_path(),
            StoreError::Internal(_) => ApiError::internal(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the fuzz target: a label selector with a newline in a key made a two-line
    /// message.
    #[test]
    fn messages_stay_on_one_line() {
        let error = ApiError::bad_request("invalid label key \"app in\nme\"\u{1b}");
        assert_eq!(error.message, "invalid label key \"app in\\nme\"\\u{1b}");
        let plain = ApiError::bad_request("two words");
        assert_eq!(plain.message, "two words");
    }
}
