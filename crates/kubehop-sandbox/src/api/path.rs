//! Request paths and query parameters: which document or resource a request addresses, and
//! with which Kubernetes verb.

use axum::http::Method;

use crate::request_log::Verb;
use crate::resources::{GROUPS, ResourceId};

/// What a path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Version,
    /// `/api`
    ApiVersions,
    /// `/apis`
    Groups,
    /// `/apis/{group}`
    Group(&'static str),
    /// `/api/v1` or `/apis/{group}/{version}`
    Resources {
        group: &'static str,
        version: &'static str,
    },
    Health,
    /// `/openapi/v3`
    OpenApiRoot,
    /// `/openapi/v3/{api/v1 | apis/group/version}`
    OpenApiDocument(String),
    Resource(ResourceTarget),
    NotFound,
}

/// A resource path: `/api{s}/.../[namespaces/{ns}/]{plural}[/{name}[/{subresource}]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResourceTarget {
    pub resource: ResourceId,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

pub(crate) fn parse(path: &str) -> Target {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match segments.as_slice() {
        ["version"] => Target::Version,
        ["healthz" | "livez" | "readyz", ..] => Target::Health,
        ["openapi", "v3"] => Target::OpenApiRoot,
        ["openapi", "v3", rest @ ..] => Target::OpenApiDocument(rest.join("/")),
        ["api"] => Target::ApiVersions,
        ["api", "v1"] => Target::Resources {
            group: "",
            version: "v1",
        },
        ["api", "v1", rest @ ..] => resource_path("", "v1", rest),
        ["apis"] => Target::Groups,
        ["apis", group] => match served_group(group) {
            Some((group, _)) => Target::Group(group),
            None => Target::NotFound,
        },
        ["apis", group, version, rest @ ..] => match served_group(group) {
            Some((group, served_version)) if *version == served_version => {
                if rest.is_empty() {
                    Target::Resources {
                        group,
                        version: served_version,
                    }
                } else {
                    resource_path(group, served_version, rest)
                }
            }
            _ => Target::NotFound,
        },
        _ => Target::NotFound,
    }
}

fn served_group(name: &str) -> Option<(&'static str, &'static str)> {
    GROUPS.iter().find(|(g, _)| *g == name).copied()
}

/// Subresources the sandbox knows (which kinds have them is checked per request).
const SUBRESOURCES: [&str; 3] = ["status", "scale", "portforward"];

fn resource_path(group: &str, version: &str, rest: &[&str]) -> Target {
    let lookup = |plural: &str| ResourceId::from_path(group, version, plural);
    let target =
        |resource: ResourceId, namespace: Option<&str>, name: Option<&str>, sub: Option<&str>| {
            if sub.is_some_and(|s| !SUBRESOURCES.contains(&s)) {
                return Target::NotFound;
            }
            Target::Resource(ResourceTarget {
                resource,
                namespace: namespace.map(str::to_string),
                name: name.map(str::to_string),
                subresource: sub.map(str::to_string),
            })
        };
    let namespaced = |plural: &str| lookup(plural).filter(|r| r.info().namespaced);
    let cluster = |plural: &str| lookup(plural).filter(|r| !r.info().namespaced);
    // Namespaced: namespaces/{ns}/{plural}[/{name}[/{subresource}]].
    if let ["namespaces", namespace, plural, tail @ ..] = rest
        && let Some(resource) = namespaced(plural)
    {
        return match tail {
            [] => target(resource, Some(namespace), None, None),
            [name] => target(resource, Some(namespace), Some(name), None),
            [name, sub] => target(resource, Some(namespace), Some(name), Some(sub)),
            _ => Target::NotFound,
        };
    }
    match rest {
        // Collections (all namespaces for namespaced resources).
        [plural] => match lookup(plural) {
            Some(resource) => target(resource, None, None, None),
            None => Target::NotFound,
        },
        // Cluster-scoped objects and their subresources (namespaces/{name}/status too).
        [plural, name] => match cluster(plural) {
            Some(resource) => target(resource, None, Some(name), None),
            None => Target::NotFound,
        },
        [plural, name, sub] => match cluster(plural) {
            Some(resource) => target(resource, None, Some(name), Some(sub)),
            None => Target::NotFound,
        },
        _ => Target::NotFound,
    }
}

/// The Kubernetes verb of a request.
pub(crate) fn verb(method: &Method, target: &Target, params: &Params) -> Verb {
    let Target::Resource(resource) = target else {
        return if *method == Method::GET || *method == Method::HEAD {
            Verb::Get
        } else {
            Verb::Unsupported
        };
    };
    let has_name = resource.name.is_some();
    let sub = resource.subresource.as_deref();
    if sub == Some("portforward") {
        return if *method == Method::GET || *method == Method::POST {
            Verb::PortForward
        } else {
            Verb::Unsupported
        };
    }
    match *method {
        Method::GET | Method::HEAD if !has_name => {
            if params.flag("watch") {
                Verb::Watch
            } else {
                Verb::List
            }
        }
        Method::GET | Method::HEAD => Verb::Get,
        Method::POST if !has_name => Verb::Create,
        Method::PUT if has_name => Verb::Update,
        Method::PATCH if has_name => Verb::Patch,
        Method::DELETE if has_name && sub.is_none() => Verb::Delete,
        Method::DELETE if !has_name => Verb::DeleteCollection,
        _ => Verb::Unsupported,
    }
}

/// Query parameters, in order (kube-rs sends `?&watch=true...`; empty pairs are skipped).
#[derive(Debug, Clone, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(query: &str) -> Self {
        Params(
            form_urlencoded::parse(query.as_bytes())
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `true`/`1` (the API server's boolean query parameters).
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1" | "True"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn resource(
        resource: ResourceId,
        namespace: Option<&str>,
        name: Option<&str>,
        sub: Option<&str>,
    ) -> Target {
        Target::Resource(ResourceTarget {
            resource,
            namespace: namespace.map(str::to_string),
            name: name.map(str::to_string),
            subresource: sub.map(str::to_string),
        })
    }

    #[rstest]
    #[case("/api/v1/pods", resource(ResourceId::Pods, None, None, None))]
    #[case(
        "/api/v1/namespaces/default/pods",
        resource(ResourceId::Pods, Some("default"), None, None)
    )]
    #[case(
        "/api/v1/namespaces/default/pods/web/portforward",
        resource(ResourceId::Pods, Some("default"), Some("web"), Some("portforward"))
    )]
    #[case(
        "/api/v1/namespaces",
        resource(ResourceId::Namespaces, None, None, None)
    )]
    #[case(
        "/api/v1/namespaces/default",
        resource(ResourceId::Namespaces, None, Some("default"), None)
    )]
    #[case(
        "/api/v1/namespaces/default/status",
        resource(ResourceId::Namespaces, None, Some("default"), Some("status"))
    )]
    #[case(
        "/api/v1/nodes/node-a/status",
        resource(ResourceId::Nodes, None, Some("node-a"), Some("status"))
    )]
    #[case(
        "/apis/apps/v1/namespaces/default/deployments/web/scale",
        resource(ResourceId::Deployments, Some("default"), Some("web"), Some("scale"))
    )]
    #[case(
        "/apis/discovery.k8s.io/v1/endpointslices",
        resource(ResourceId::EndpointSlices, None, None, None)
    )]
    #[case("/apis/apps/v1", Target::Resources { group: "apps", version: "v1" })]
    #[case("/apis/apps", Target::Group("apps"))]
    #[case("/apis/apps/v2", Target::NotFound)]
    #[case("/apis/batch/v1/cronjobs", Target::NotFound)]
    #[case("/api/v1/configmaps", Target::NotFound)]
    #[case("/api/v1/namespaces/default/nodes", Target::NotFound)]
    #[case("/api/v1/pods/web", Target::NotFound)]
    #[case("/version", Target::Version)]
    fn paths(#[case] path: &str, #[case] expected: Target) {
        assert_eq!(parse(path), expected);
    }

    #[rstest]
    #[case(Method::GET, "/api/v1/pods", "", Verb::List)]
    #[case(
        Method::GET,
        "/api/v1/pods",
        "&watch=true&timeoutSeconds=290",
        Verb::Watch
    )]
    #[case(Method::GET, "/api/v1/namespaces/a/pods/b", "", Verb::Get)]
    #[case(Method::POST, "/api/v1/namespaces/a/pods", "", Verb::Create)]
    #[case(Method::PUT, "/api/v1/namespaces/a/pods/b/status", "", Verb::Update)]
    #[case(Method::PATCH, "/api/v1/namespaces/a/pods/b", "", Verb::Patch)]
    #[case(Method::DELETE, "/api/v1/namespaces/a/pods/b", "", Verb::Delete)]
    #[case(
        Method::DELETE,
        "/api/v1/namespaces/a/pods",
        "",
        Verb::DeleteCollection
    )]
    #[case(
        Method::GET,
        "/api/v1/namespaces/a/pods/b/portforward",
        "ports=80",
        Verb::PortForward
    )]
    #[case(Method::POST, "/api/v1/namespaces/a/pods/b", "", Verb::Unsupported)]
    #[case(Method::GET, "/api", "", Verb::Get)]
    fn verbs(
        #[case] method: Method,
        #[case] path: &str,
        #[case] query: &str,
        #[case] expected: Verb,
    ) {
        assert_eq!(verb(&method, &parse(path), &Params::parse(query)), expected);
    }
}
