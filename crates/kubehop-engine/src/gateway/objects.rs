//! The Gateway API objects a snapshot carries, and one uniform view of the five route kinds.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kubehop_gateway_api::{
    BackendRef, GRPCRoute, Gateway, GatewayClass, HTTPRoute, HttpRouteFilter, ParentReference,
    ReferenceGrant, RouteStatus, TCPRoute, TLSRoute, UDPRoute,
};

/// Every Gateway API object of a snapshot (empty when the cluster has none or the source cannot
/// read them).
#[derive(Debug, Clone, Default)]
pub struct GatewayObjects {
    pub gateway_classes: Vec<Arc<GatewayClass>>,
    pub gateways: Vec<Arc<Gateway>>,
    pub http_routes: Vec<Arc<HTTPRoute>>,
    pub grpc_routes: Vec<Arc<GRPCRoute>>,
    pub tls_routes: Vec<Arc<TLSRoute>>,
    pub tcp_routes: Vec<Arc<TCPRoute>>,
    pub udp_routes: Vec<Arc<UDPRoute>>,
    pub reference_grants: Vec<Arc<ReferenceGrant>>,
}

impl GatewayObjects {
    /// No object of any kind.
    pub fn is_empty(&self) -> bool {
        self.gateway_classes.is_empty()
            && self.gateways.is_empty()
            && self.reference_grants.is_empty()
            && self.routes().next().is_none()
    }

    /// Every route of every kind, as [`RouteView`]s.
    pub fn routes(&self) -> impl Iterator<Item = RouteView<'_>> {
        let http = self.http_routes.iter().map(|r| RouteView::http(r));
        let grpc = self.grpc_routes.iter().map(|r| RouteView::grpc(r));
        let tls = self.tls_routes.iter().map(|r| {
            let rules = r
                .spec
                .rules
                .iter()
                .map(|rule| (rule.name.as_deref(), &rule.backend_refs[..]));
            RouteView::new(
                RouteSource::Tls(r),
                &r.metadata,
                &r.spec.parent_refs,
                r.spec.hostnames.as_deref(),
                rules,
                r.status.as_ref(),
            )
        });
        let tcp = self.tcp_routes.iter().map(|r| {
            let rules = r
                .spec
                .rules
                .iter()
                .map(|rule| (rule.name.as_deref(), &rule.backend_refs[..]));
            RouteView::new(
                RouteSource::Tcp(r),
                &r.metadata,
                &r.spec.parent_refs,
                None,
                rules,
                r.status.as_ref(),
            )
        });
        let udp = self.udp_routes.iter().map(|r| {
            let rules = r
                .spec
                .rules
                .iter()
                .map(|rule| (rule.name.as_deref(), &rule.backend_refs[..]));
            RouteView::new(
                RouteSource::Udp(r),
                &r.metadata,
                &r.spec.parent_refs,
                None,
                rules,
                r.status.as_ref(),
            )
        });
        http.chain(grpc).chain(tls).chain(tcp).chain(udp)
    }

    /// The Gateway `namespace/name`.
    pub fn gateway(&self, namespace: &str, name: &str) -> Option<&Gateway> {
        self.gateways
            .iter()
            .find(|g| {
                g.metadata.namespace.as_deref() == Some(namespace)
                    && g.metadata.name.as_deref() == Some(name)
            })
            .map(|g| &**g)
    }
}

/// The route kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum RouteKind {
    #[serde(rename = "HTTPRoute")]
    Http,
    #[serde(rename = "GRPCRoute")]
    Grpc,
    #[serde(rename = "TLSRoute")]
    Tls,
    #[serde(rename = "TCPRoute")]
    Tcp,
    #[serde(rename = "UDPRoute")]
    Udp,
}

impl RouteKind {
    /// The kind as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            RouteKind::Http => "HTTPRoute",
            RouteKind::Grpc => "GRPCRoute",
            RouteKind::Tls => "TLSRoute",
            RouteKind::Tcp => "TCPRoute",
            RouteKind::Udp => "UDPRoute",
        }
    }

    /// The kind named `kind` (in the Gateway API group).
    pub fn from_kind(kind: &str) -> Option<Self> {
        Some(match kind {
            "HTTPRoute" => RouteKind::Http,
            "GRPCRoute" => RouteKind::Grpc,
            "TLSRoute" => RouteKind::Tls,
            "TCPRoute" => RouteKind::Tcp,
            "UDPRoute" => RouteKind::Udp,
            _ => return None,
        })
    }

    /// Whether hostnames apply (HTTP, gRPC, TLS by SNI).
    pub fn has_hostnames(self) -> bool {
        matches!(self, RouteKind::Http | RouteKind::Grpc | RouteKind::Tls)
    }
}

impl std::fmt::Display for RouteKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rule of a route: its position, name, backends and (HTTP, gRPC) filters.
#[derive(Debug, Clone)]
pub struct RuleView<'a> {
    pub index: usize,
    pub name: Option<&'a str>,
    pub backends: &'a [BackendRef],
    pub filters: &'a [HttpRouteFilter],
}

/// Any route, seen the same way whatever its kind.
#[derive(Debug, Clone)]
pub struct RouteView<'a> {
    pub kind: RouteKind,
    pub metadata: &'a ObjectMeta,
    pub namespace: &'a str,
    pub name: &'a str,
    pub parent_refs: &'a [ParentReference],
    /// Empty: every hostname (or not applicable).
    pub hostnames: &'a [String],
    pub rules: Vec<RuleView<'a>>,
    pub status: Option<&'a RouteStatus>,
    /// The typed object, for what only one kind has (HTTP and gRPC matches).
    pub source: RouteSource<'a>,
}

/// The typed route behind a [`RouteView`].
#[derive(Debug, Clone, Copy)]
pub enum RouteSource<'a> {
    Http(&'a HTTPRoute),
    Grpc(&'a GRPCRoute),
    Tls(&'a TLSRoute),
    Tcp(&'a TCPRoute),
    Udp(&'a UDPRoute),
}

impl<'a> RouteView<'a> {
    fn new(
        source: RouteSource<'a>,
        metadata: &'a ObjectMeta,
        parent_refs: &'a Option<Vec<ParentReference>>,
        hostnames: Option<&'a [String]>,
        rules: impl Iterator<Item = (Option<&'a str>, &'a [BackendRef])>,
        status: Option<&'a RouteStatus>,
    ) -> Self {
        let kind = match source {
            RouteSource::Http(_) => RouteKind::Http,
            RouteSource::Grpc(_) => RouteKind::Grpc,
            RouteSource::Tls(_) => RouteKind::Tls,
            RouteSource::Tcp(_) => RouteKind::Tcp,
            RouteSource::Udp(_) => RouteKind::Udp,
        };
        RouteView {
            kind,
            source,
            metadata,
            namespace: metadata.namespace.as_deref().unwrap_or("default"),
            name: metadata.name.as_deref().unwrap_or(""),
            parent_refs: parent_refs.as_deref().unwrap_or(&[]),
            hostnames: hostnames.unwrap_or(&[]),
            rules: rules
                .enumerate()
                .map(|(index, (name, backends))| RuleView {
                    index,
                    name,
                    backends,
                    filters: &[],
                })
                .collect(),
            status,
        }
    }

    /// An HTTPRoute's view.
    pub fn http(route: &'a HTTPRoute) -> Self {
        let rules = route.spec.rules.as_deref().unwrap_or(&[]);
        let mut view = RouteView::new(
            RouteSource::Http(route),
            &route.metadata,
            &route.spec.parent_refs,
            route.spec.hostnames.as_deref(),
            rules
                .iter()
                .map(|r| (r.name.as_deref(), r.backend_refs.as_deref().unwrap_or(&[]))),
            route.status.as_ref(),
        );
        for (view, rule) in view.rules.iter_mut().zip(rules) {
            view.filters = rule.filters.as_deref().unwrap_or(&[]);
        }
        view
    }

    /// A GRPCRoute's view.
    pub fn grpc(route: &'a GRPCRoute) -> Self {
        let rules = route.spec.rules.as_deref().unwrap_or(&[]);
        let mut view = RouteView::new(
            RouteSource::Grpc(route),
            &route.metadata,
            &route.spec.parent_refs,
            route.spec.hostnames.as_deref(),
            rules
                .iter()
                .map(|r| (r.name.as_deref(), r.backend_refs.as_deref().unwrap_or(&[]))),
            route.status.as_ref(),
        );
        for (view, rule) in view.rules.iter_mut().zip(rules) {
            view.filters = rule.filters.as_deref().unwrap_or(&[]);
        }
        view
    }

    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}
