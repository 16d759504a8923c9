//! Gateway API types for kubehop, written from the Gateway API specification: GatewayClass,
//! Gateway, HTTPRoute, GRPCRoute (`v1`), ReferenceGrant (`v1beta1`), TLSRoute, TCPRoute and
//! UDPRoute (`v1alpha2`), with the fields kubehop reads and the status a controller writes.
//!
//! Each struct keeps the fields it does not model in `extra` (serde `flatten`), so a real
//! manifest read and written back is not lossy; the generated schemas mark those structs
//! `x-kubernetes-preserve-unknown-fields` so an API server keeps them too.
//!
//! Types only: `kube-core` and `kube-derive`, no client, no tokio, no HTTP stack.
//! [`crds`] generates the CustomResourceDefinitions from the types.

mod common;
mod gateway;
mod reference_grant;
mod routes;

pub use common::{
    BackendObjectReference, BackendRef, Condition, Extra, GROUP, HttpRequestMirror,
    HttpRequestRedirect, HttpRouteFilter, HttpUrlRewrite, ParentReference, RouteGroupKind,
    RouteParentStatus, RouteStatus, SecretObjectReference, condition,
};
pub use gateway::{
    AllowedRoutes, Gateway, GatewayAddress, GatewayClass, GatewayClassSpec, GatewayClassStatus,
    GatewaySpec, GatewayStatus, Listener, ListenerStatus, ListenerTls, RouteNamespaces,
};
pub use reference_grant::{
    ReferenceGrant, ReferenceGrantFrom, ReferenceGrantSpec, ReferenceGrantTo,
};
pub use routes::{
    GRPCRoute, GrpcMethodMatch, GrpcRouteMatch, GrpcRouteRule, GrpcRouteSpec, HTTPRoute,
    HttpPathMatch, HttpRouteMatch, HttpRouteRule, HttpRouteSpec, HttpValueMatch, L4RouteRule,
    TCPRoute, TLSRoute, TcpRouteSpec, TlsRouteSpec, UDPRoute, UdpRouteSpec,
};

pub use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
pub use kube_core::CustomResourceExt;

/// The CustomResourceDefinitions of every kind in this crate, generated from the types (one
/// served and stored version each).
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        GatewayClass::crd(),
        Gateway::crd(),
        HTTPRoute::crd(),
        GRPCRoute::crd(),
        TLSRoute::crd(),
        TCPRoute::crd(),
        UDPRoute::crd(),
        ReferenceGrant::crd(),
    ]
}

#[cfg(test)]
mod tests;
