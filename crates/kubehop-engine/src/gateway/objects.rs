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

/// One Gateway API object of any kind (as a dump or a watcher delivers it).
#[derive(Debug, Clone)]
pub enum GatewayApiObject {
    GatewayClass(Arc<GatewayClass>),
    Gateway(Arc<Gateway>),
    HttpRoute(Arc<HTTPRoute>),
    GrpcRoute(Arc<GRPCRoute>),
    TlsRoute(Arc<TLSRoute>),
    TcpRoute(Arc<TCPRoute>),
    UdpRoute(Arc<UDPRoute>),
    ReferenceGrant(Arc<ReferenceGrant>),
}

/// The kinds [`GatewayApiObject`] reads, in the `gateway.networking.k8s.io` group (any version:
/// the fields kubehop reads are the same in each).
pub const GATEWAY_API_KINDS: [&str; 8] = [
    "GatewayClass",
    "Gateway",
    "HTTPRoute",
    "GRPCRoute",
    "TLSRoute",
    "TCPRoute",
    "UDPRoute",
    "ReferenceGrant",
];

impl GatewayApiObject {
    /// Reads an object of `kind` (one of [`GATEWAY_API_KINDS`]); `None` for another kind.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        kind: &str,
        deserializer: D,
    ) -> Option<Result<Self, D::Error>> {
        use serde::Deserialize;
        fn arc<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
            d: D,
        ) -> Result<Arc<T>, D::Error> {
            T::deserialize(d).map(Arc::new)
        }
        Some(match kind {
            "GatewayClass" => arc(deserializer).map(Self::GatewayClass),
            "Gateway" => arc(deserializer).map(Self::Gateway),
            "HTTPRoute" => arc(deserializer).map(Self::HttpRoute),
            "GRPCRoute" => arc(deserializer).map(Self::GrpcRoute),
            "TLSRoute" => arc(deserializer).map(Self::TlsRoute),
            "TCPRoute" => arc(deserializer).map(Self::TcpRoute),
            "UDPRoute" => arc(deserializer).map(Self::UdpRoute),
            "ReferenceGrant" => arc(deserializer).map(Self::ReferenceGrant),
            _ => return None,
        })
    }

    /// The object's metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Self::GatewayClass(o) => &o.metadata,
            Self::Gateway(o) => &o.metadata,
            Self::HttpRoute(o) => &o.metadata,
            Self::GrpcRoute(o) => &o.metadata,
            Self::TlsRoute(o) => &o.metadata,
            Self::TcpRoute(o) => &o.metadata,
            Self::UdpRoute(o) => &o.metadata,
            Self::ReferenceGrant(o) => &o.metadata,
        }
    }

    /// Puts a namespaced object without a namespace into `default`; true when it did.
    pub fn default_namespace(&mut self) -> bool {
        fn fix<T: Clone>(object: &mut Arc<T>, meta: fn(&mut T) -> &mut ObjectMeta) -> bool {
            let missing = meta(Arc::make_mut(object))
                .namespace
                .as_deref()
                .is_none_or(str::is_empty);
            if missing {
                meta(Arc::make_mut(object)).namespace = Some("default".to_owned());
            }
            missing
        }
        match self {
            Self::GatewayClass(_) => false,
            Self::Gateway(o) => fix(o, |o| &mut o.metadata),
            Self::HttpRoute(o) => fix(o, |o| &mut o.metadata),
            Self::GrpcRoute(o) => fix(o, |o| &mut o.metadata),
            Self::TlsRoute(o) => fix(o, |o| &mut o.metadata),
            Self::TcpRoute(o) => fix(o, |o| &mut o.metadata),
            Self::UdpRoute(o) => fix(o, |o| &mut o.metadata),
            Self::ReferenceGrant(o) => fix(o, |o| &mut o.metadata),
        }
    }
}

impl GatewayObjects {
    /// Adds an object, replacing an earlier one of the same kind, namespace and name; true when
    /// it replaced one.
    pub fn insert(&mut self, object: GatewayApiObject) -> bool {
        fn put<T>(list: &mut Vec<Arc<T>>, object: Arc<T>, meta: fn(&T) -> &ObjectMeta) -> bool {
            let key = |m: &ObjectMeta| (m.namespace.clone(), m.name.clone());
            let new = key(meta(&object));
            let earlier = new
                .1
                .is_some()
                .then(|| list.iter().position(|o| key(meta(o)) == new))
                .flatten();
            match earlier {
                Some(i) => {
                    list[i] = object;
                    true
                }
                None => {
                    list.push(object);
                    false
                }
            }
        }
        match object {
            GatewayApiObject::GatewayClass(o) => put(&mut self.gateway_classes, o, |o| &o.metadata),
            GatewayApiObject::Gateway(o) => put(&mut self.gateways, o, |o| &o.metadata),
            GatewayApiObject::HttpRoute(o) => put(&mut self.http_routes, o, |o| &o.metadata),
            GatewayApiObject::GrpcRoute(o) => put(&mut self.grpc_routes, o, |o| &o.metadata),
            GatewayApiObject::TlsRoute(o) => put(&mut self.tls_routes, o, |o| &o.metadata),
            GatewayApiObject::TcpRoute(o) => put(&mut self.tcp_routes, o, |o| &o.metadata),
            GatewayApiObject::UdpRoute(o) => put(&mut self.udp_routes, o, |o| &o.metadata),
            GatewayApiObject::ReferenceGrant(o) => {
                put(&mut self.reference_grants, o, |o| &o.metadata)
            }
        }
    }
}
