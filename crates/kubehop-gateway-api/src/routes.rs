//! HTTPRoute, GRPCRoute (`v1`), TLSRoute, TCPRoute, UDPRoute (`v1alpha2`).

use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{BackendRef, Extra, HttpRouteFilter, ParentReference, RouteStatus};

/// Attributes shared by every `CustomResource` derive of this module.
macro_rules! route_kind {
    ($(#[$meta:meta])* $spec:ident, $version:literal, $kind:literal, $plural:literal, { $($body:tt)* }) => {
        $(#[$meta])*
        #[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
        #[kube(
            group = "gateway.networking.k8s.io",
            version = $version,
            kind = $kind,
            plural = $plural,
            namespaced,
            status = "RouteStatus",
            derive = "Default",
            derive = "PartialEq",
            crates(
                kube_core = "::kube_core",
                k8s_openapi = "::k8s_openapi",
                schemars = "::schemars",
                serde = "::serde",
                serde_json = "::serde_json"
            )
        )]
        #[serde(rename_all = "camelCase")]
        #[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
        pub struct $spec {
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub parent_refs: Option<Vec<ParentReference>>,
            $($body)*
            #[serde(flatten)]
            #[schemars(skip)]
            pub extra: Extra,
        }
    };
}

route_kind!(
    /// HTTP routing: hostnames, then rules of matches → filters → weighted backends.
    HttpRouteSpec, "v1", "HTTPRoute", "httproutes", {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub hostnames: Option<Vec<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub rules: Option<Vec<HttpRouteRule>>,
    }
);

route_kind!(
    /// gRPC routing: hostnames, then rules of service/method and header matches.
    GrpcRouteSpec, "v1", "GRPCRoute", "grpcroutes", {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub hostnames: Option<Vec<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub rules: Option<Vec<GrpcRouteRule>>,
    }
);

route_kind!(
    /// TLS routing by SNI (passthrough listeners, or terminated by the Gateway).
    TlsRouteSpec, "v1alpha2", "TLSRoute", "tlsroutes", {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub hostnames: Option<Vec<String>>,
        #[serde(default)]
        pub rules: Vec<L4RouteRule>,
    }
);

route_kind!(
    /// TCP forwarding by listener port.
    TcpRouteSpec, "v1alpha2", "TCPRoute", "tcproutes", {
        #[serde(default)]
        pub rules: Vec<L4RouteRule>,
    }
);

route_kind!(
    /// UDP forwarding by listener port.
    UdpRouteSpec, "v1alpha2", "UDPRoute", "udproutes", {
        #[serde(default)]
        pub rules: Vec<L4RouteRule>,
    }
);

/// One HTTPRoute rule. No matches means one match of `PathPrefix /`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct HttpRouteRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<Vec<HttpRouteMatch>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Vec<HttpRouteFilter>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_refs: Option<Vec<BackendRef>>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

/// One HTTP match: every condition given must hold.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct HttpRouteMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<HttpPathMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Vec<HttpValueMatch>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_params: Option<Vec<HttpValueMatch>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

/// A path match: `Exact`, `PathPrefix` (default) or `RegularExpression`; value defaults to `/`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct HttpPathMatch {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

impl HttpPathMatch {
    /// The type, defaulted.
    pub fn type_(&self) -> &str {
        self.type_.as_deref().unwrap_or("PathPrefix")
    }

    /// The value, defaulted.
    pub fn value(&self) -> &str {
        self.value.as_deref().unwrap_or("/")
    }
}

/// A header or query parameter match: `Exact` (default) or `RegularExpression`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct HttpValueMatch {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    pub name: String,
    pub value: String,
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

impl HttpValueMatch {
    /// The type, defaulted.
    pub fn type_(&self) -> &str {
        self.type_.as_deref().unwrap_or("Exact")
    }
}

/// One GRPCRoute rule. No matches matches every request.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct GrpcRouteRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<Vec<GrpcRouteMatch>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Vec<HttpRouteFilter>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_refs: Option<Vec<BackendRef>>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

/// One gRPC match.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct GrpcRouteMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<GrpcMethodMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Vec<HttpValueMatch>>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

/// A gRPC service/method match (`Exact` by default).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct GrpcMethodMatch {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}

/// A TLS, TCP or UDP route rule: weighted backends only.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct L4RouteRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub backend_refs: Vec<BackendRef>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extra,
}
