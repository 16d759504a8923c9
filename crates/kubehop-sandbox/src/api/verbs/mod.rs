//! kubectl's everyday verbs beyond reading and writing objects: `pods/log` ([`logs`]),
//! `pods/exec` ([`exec`]), and `SelfSubjectAccessReview` / `SelfSubjectRulesReview`
//! ([`review`]) for `kubectl auth can-i`. What discovery says about them is in [`listing`].
//!
//! `metrics.k8s.io` is not served: sandbox pods run no processes, so there is no CPU or
//! memory use to report honestly. Without the group in discovery kubectl answers
//! `kubectl top` with `error: Metrics API not available`, as on a cluster without
//! metrics-server.

pub(crate) mod exec;
pub(crate) mod listing;
pub(crate) mod logs;
mod pod_files;
pub(crate) mod review;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::Method;
use axum::response::{IntoResponse, Response};

use super::ApiContext;
use super::path::{Params, ResourceTarget};
use super::status::ApiError;
use crate::request_log::Verb;

/// A path the verbs serve that is not a stored resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    SelfSubjectAccessReviews,
    SelfSubjectRulesReviews,
}

impl Route {
    /// The plural resource name (for the request log).
    pub(crate) fn plural(self) -> &'static str {
        match self {
            Route::SelfSubjectAccessReviews => "selfsubjectaccessreviews",
            Route::SelfSubjectRulesReviews => "selfsubjectrulesreviews",
        }
    }
}

/// The route at `/apis/{group}/{version}/{rest...}`, if the verbs serve it.
pub(crate) fn parse(group: &str, version: &str, rest: &[&str]) -> Option<Route> {
    match (group, version, rest) {
        ("authorization.k8s.io", "v1", ["selfsubjectaccessreviews"]) => {
            Some(Route::SelfSubjectAccessReviews)
        }
        ("authorization.k8s.io", "v1", ["selfsubjectrulesreviews"]) => {
            Some(Route::SelfSubjectRulesReviews)
        }
        _ => None,
    }
}

/// The verb of a request to a [`Route`]: the reviews are create-only.
pub(crate) fn verb(method: &Method) -> Verb {
    if *method == Method::POST {
        Verb::Create
    } else {
        Verb::Unsupported
    }
}

/// Serves a [`Route`].
pub(crate) async fn serve(context: &Arc<ApiContext>, request: Request, route: Route) -> Response {
    if request.method() != Method::POST {
        return ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({})",
            request.method()
        ))
        .into_response();
    }
    let body = match super::read_body(request.into_body(), super::MAX_BODY).await {
        Ok(body) => body,
        Err(err) => return err.into_response(),
    };
    let answered = match route {
        Route::SelfSubjectAccessReviews => review::access_review(&context.shared, &body),
        Route::SelfSubjectRulesReviews => review::rules_review(&context.shared, &body),
    };
    answered.unwrap_or_else(IntoResponse::into_response)
}

/// The pod subresources served here (`log`, `exec`).
pub(crate) fn is_pod_subresource(sub: &str) -> bool {
    matches!(sub, "log" | "exec")
}

/// Serves `pods/{name}/log` and `pods/{name}/exec`.
pub(crate) async fn pod_subresource(
    context: &Arc<ApiContext>,
    request: Request,
    target: &ResourceTarget,
    params: &Params,
) -> Result<Response, ApiError> {
    match target.subresource.as_deref() {
        Some("log") if request.method() == Method::GET || request.method() == Method::HEAD => {
            logs::log(context, target, params)
        }
        Some("exec") if request.method() == Method::GET || request.method() == Method::POST => {
            exec::exec(context, request, target, params)
        }
        _ => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({})",
            request.method()
        ))),
    }
}
