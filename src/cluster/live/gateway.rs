//! The Gateway API kinds in the live source: GatewayClass, Gateway, HTTPRoute, GRPCRoute,
//! TLSRoute, TCPRoute, UDPRoute and ReferenceGrant (`gateway.networking.k8s.io`).
//!
//! They are custom resources, so whether and in which version a cluster serves them is only
//! known from API discovery. A supervisor task discovers the group, picks each kind's version
//! (the group's preferred version when it serves the kind, else the most stable version that
//! does: TLSRoute is `v1alpha2` or `v1alpha3`, ReferenceGrant `v1beta1` or `v1`, ...), and
//! starts one kube-runtime watcher per served kind on that version, whose objects are decoded
//! into kubehop's own types (the fields kubehop reads are the same in every version) and
//! trimmed before they reach the kind's reflector store, like every other kind.
//!
//! - The group not served at all (the CRDs are not installed): every kind is reported
//!   unavailable with [`NOT_INSTALLED`]; the snapshot then carries one `missing` entry (kind
//!   `gateways`), which the views show as one line and never as a note.
//! - A kind not served while others are (experimental-channel routes without their CRDs):
//!   left out silently.
//! - 403 on discovery or on a kind: left out silently, like IngressClasses; so is every kind
//!   while discovery fails for another reason (tried again with backoff, up to 30 s apart).
//! - CRDs installed while kubehop runs: the supervisor also watches the metadata of
//!   CustomResourceDefinitions (one metadata-only watch, no polling) and discovers the group
//!   again when a `*.gateway.networking.k8s.io` CRD is created or changes (its status says
//!   when it is established); kinds that became served get their watcher then. Without
//!   permission to watch CRDs, it discovers again whenever another kind is listed again
//!   (after 410 Gone, an API server restart, ...).
//!
//! Gateways and GatewayClasses are watched in every namespace even with `-n`: routes name
//! Gateways in other namespaces (an `infra` namespace is the common layout), and a route
//! whose Gateway is invisible would look broken.

use std::fmt::Debug;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::PartialObjectMeta;
use kube::discovery::{self, ApiCapabilities, ApiGroup};
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, Store, store::Writer};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use kubehop_gateway_api::{
    GRPCRoute, Gateway, GatewayClass, HTTPRoute, ReferenceGrant, TCPRoute, TLSRoute, UDPRoute,
};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::{NOT_SERVED, Signal, Trim, event_signal, watcher_config};
use crate::cluster::ResourceKind;
use crate::cluster::client::Scope;
use crate::engine::gateway::GatewayObjects;

/// The API group of every kind here.
pub const GROUP: &str = kubehop_gateway_api::GROUP;

/// Why the Gateway API kinds are left out when the API server does not serve the group.
pub const NOT_INSTALLED: &str =
    "not installed: the API server does not serve gateway.networking.k8s.io (no Gateway API CRDs)";

/// The longest wait between two discoveries after a failure (they start at 1 s, doubling).
const MAX_RETRY: Duration = Duration::from_secs(30);

/// A Gateway API kind the live source watches.
pub(crate) trait GatewayKind:
    Resource<DynamicType = ()>
    + Trim
    + Default
    + Clone
    + DeserializeOwned
    + Debug
    + Send
    + Sync
    + 'static
{
    const KIND: ResourceKind;
    /// Watched in every namespace whatever the scope (see the module docs).
    const EVERY_NAMESPACE: bool = false;
}

macro_rules! gateway_kind {
    ($type:ty, $kind:expr) => {
        impl GatewayKind for $type {
            const KIND: ResourceKind = $kind;
        }
    };
    ($type:ty, $kind:expr, every_namespace) => {
        impl GatewayKind for $type {
            const KIND: ResourceKind = $kind;
            const EVERY_NAMESPACE: bool = true;
        }
    };
}

gateway_kind!(GatewayClass, ResourceKind::GatewayClass, every_namespace);
gateway_kind!(Gateway, ResourceKind::Gateway, every_namespace);
gateway_kind!(HTTPRoute, ResourceKind::HttpRoute);
gateway_kind!(GRPCRoute, ResourceKind::GrpcRoute);
gateway_kind!(TLSRoute, ResourceKind::TlsRoute);
gateway_kind!(TCPRoute, ResourceKind::TcpRoute);
gateway_kind!(UDPRoute, ResourceKind::UdpRoute);
gateway_kind!(ReferenceGrant, ResourceKind::ReferenceGrant);

/// Whether a kind lives in namespaces.
pub(crate) fn namespaced(kind: ResourceKind) -> bool {
    kind != ResourceKind::GatewayClass
}

/// Whether the live source reads a kind in every namespace whatever its scope.
pub(crate) fn every_namespace(kind: ResourceKind) -> bool {
    matches!(kind, ResourceKind::GatewayClass | ResourceKind::Gateway)
}

/// The reflector stores of the Gateway API kinds (empty until their watcher starts).
pub(crate) struct GatewayStores {
    pub gateway_classes: Store<GatewayClass>,
    pub gateways: Store<Gateway>,
    pub http_routes: Store<HTTPRoute>,
    pub grpc_routes: Store<GRPCRoute>,
    pub tls_routes: Store<TLSRoute>,
    pub tcp_routes: Store<TCPRoute>,
    pub udp_routes: Store<UDPRoute>,
    pub reference_grants: Store<ReferenceGrant>,
}

impl GatewayStores {
    /// Stores that stay empty (tests of the coordinator).
    #[cfg(test)]
    pub(crate) fn empty() -> Self {
        GatewayStores {
            gateway_classes: reflector::store().0,
            gateways: reflector::store().0,
            http_routes: reflector::store().0,
            grpc_routes: reflector::store().0,
            tls_routes: reflector::store().0,
            tcp_routes: reflector::store().0,
            udp_routes: reflector::store().0,
            reference_grants: reflector::store().0,
        }
    }

    /// The objects of the kinds `take` keeps, sorted like every other kind's.
    pub(crate) fn objects(&self, take: impl Fn(ResourceKind) -> bool) -> GatewayObjects {
        use super::kept;
        GatewayObjects {
            gateway_classes: kept(take(GatewayClass::KIND), &self.gateway_classes),
            gateways: kept(take(Gateway::KIND), &self.gateways),
            http_routes: kept(take(HTTPRoute::KIND), &self.http_routes),
            grpc_routes: kept(take(GRPCRoute::KIND), &self.grpc_routes),
            tls_routes: kept(take(TLSRoute::KIND), &self.tls_routes),
            tcp_routes: kept(take(TCPRoute::KIND), &self.tcp_routes),
            udp_routes: kept(take(UDPRoute::KIND), &self.udp_routes),
            reference_grants: kept(take(ReferenceGrant::KIND), &self.reference_grants),
        }
    }
}

/// What the supervisor needs to reach the cluster and to report.
#[derive(Clone)]
struct Context {
    client: kube::Client,
    scope: Scope,
    signals: mpsc::UnboundedSender<Signal>,
}

/// A kind whose watcher has not started yet: it holds the store's writer until then.
trait Pending: Send {
    fn kind(&self) -> ResourceKind;
    fn kind_name(&self) -> String;
    /// Starts the kind's watcher on `resource` (the served version discovery picked).
    fn start(
        self: Box<Self>,
        resource: &ApiResource,
        capabilities: &ApiCapabilities,
        context: &Context,
        watchers: &mut JoinSet<()>,
    );
}

struct PendingKind<K: GatewayKind> {
    writer: Writer<K>,
}

impl<K: GatewayKind> Pending for PendingKind<K> {
    fn kind(&self) -> ResourceKind {
        K::KIND
    }

    fn kind_name(&self) -> String {
        K::kind(&()).into_owned()
    }

    fn start(
        self: Box<Self>,
        resource: &ApiResource,
        capabilities: &ApiCapabilities,
        context: &Context,
        watchers: &mut JoinSet<()>,
    ) {
        let client = context.client.clone();
        let cluster_scoped = capabilities.scope == discovery::Scope::Cluster;
        let api = match &context.scope {
            Scope::Namespace(namespace) if !cluster_scoped && !K::EVERY_NAMESPACE => {
                Api::namespaced_with(client, namespace, resource)
            }
            _ => Api::all_with(client, resource),
        };
        watchers.spawn(watch_kind::<K>(api, self.writer, context.signals.clone()));
    }
}

/// Creates the stores and spawns the supervisor into `watchers`. Makes no request before it
/// runs.
pub(crate) fn spawn(
    watchers: &mut JoinSet<()>,
    client: &kube::Client,
    scope: &Scope,
    signals: &mpsc::UnboundedSender<Signal>,
    relists: mpsc::UnboundedReceiver<()>,
) -> GatewayStores {
    let mut pending: Vec<Box<dyn Pending>> = Vec::new();
    fn store<K: GatewayKind>(pending: &mut Vec<Box<dyn Pending>>) -> Store<K> {
        let (reader, writer) = reflector::store::<K>();
        pending.push(Box::new(PendingKind { writer }));
        reader
    }
    let stores = GatewayStores {
        gateway_classes: store(&mut pending),
        gateways: store(&mut pending),
        http_routes: store(&mut pending),
        grpc_routes: store(&mut pending),
        tls_routes: store(&mut pending),
        tcp_routes: store(&mut pending),
        udp_routes: store(&mut pending),
        reference_grants: store(&mut pending),
    };
    let context = Context {
        client: client.clone(),
        scope: scope.clone(),
        signals: signals.clone(),
    };
    watchers.spawn(supervise(context, pending, relists));
    stores
}

/// What one discovery of the group found.
enum Discovered {
    Group(Box<ApiGroup>),
    /// Not served (404, or absent from `/apis`).
    NotInstalled,
    /// Discovery is forbidden: the kinds are left out silently.
    Forbidden(String),
    /// Anything else: tried again later.
    Failed(String),
}

async fn discover(client: &kube::Client) -> Discovered {
    match discovery::group(client, GROUP).await {
        Ok(group) => Discovered::Group(Box::new(group)),
        Err(kube::Error::Discovery(kube::error::DiscoveryError::MissingApiGroup(_))) => {
            Discovered::NotInstalled
        }
        Err(kube::Error::Api(status)) if status.code == 404 => Discovered::NotInstalled,
        Err(kube::Error::Api(status)) if status.code == 403 => Discovered::Forbidden(format!(
            "forbidden: cannot discover {GROUP} ({})",
            crate::printable::escape(&status.message)
        )),
        Err(error) => Discovered::Failed(format!("discovering {GROUP}: {error}")),
    }
}

/// The version of `kind` to watch: the group's preferred version when it serves the kind, else
/// the most stable one that does.
fn served(group: &ApiGroup, kind: &str) -> Option<(ApiResource, ApiCapabilities)> {
    group.recommended_kind(kind).or_else(|| {
        group
            .resources_by_stability()
            .into_iter()
            .find(|(resource, _)| resource.kind == kind)
    })
}

/// Discovers the group and starts the watchers of the kinds it serves; reports the others.
/// Returns whether discovery should be tried again after a failure.
fn start_served(
    discovered: Discovered,
    pending: &mut Vec<Box<dyn Pending>>,
    context: &Context,
    watchers: &mut JoinSet<()>,
) -> bool {
    let (group, reason, retry) = match discovered {
        Discovered::Group(group) => (Some(group), String::new(), false),
        Discovered::NotInstalled => (None, NOT_INSTALLED.to_owned(), false),
        Discovered::Forbidden(reason) => (None, reason, false),
        Discovered::Failed(reason) => (None, reason, true),
    };
    let mut waiting = Vec::new();
    for kind in pending.drain(..) {
        let found = group
            .as_deref()
            .and_then(|group| served(group, &kind.kind_name()));
        match found {
            Some((resource, capabilities)) => {
                tracing::debug!(kind = %kind.kind(), version = %resource.version, "watching");
                kind.start(&resource, &capabilities, context, watchers);
            }
            None => {
                let reason = if group.is_some() {
                    format!("{NOT_SERVED} ({GROUP})")
                } else {
                    reason.clone()
                };
                // The coordinator may be gone; nothing to tell then.
                let _ = context
                    .signals
                    .send(Signal::Unavailable(kind.kind(), reason));
                waiting.push(kind);
            }
        }
    }
    *pending = waiting;
    retry
}

/// Discovers the group, starts what is served, and discovers again when CRDs of the group
/// change, another kind is listed again, or after a failed discovery (with backoff), until
/// every kind is watched.
async fn supervise(
    context: Context,
    mut pending: Vec<Box<dyn Pending>>,
    mut relists: mpsc::UnboundedReceiver<()>,
) {
    let mut watchers = JoinSet::new();
    let mut crds = Box::pin(crd_changes(context.client.clone()));
    let mut retry_in = Duration::from_secs(1);
    let mut retry = start_served(
        discover(&context.client).await,
        &mut pending,
        &context,
        &mut watchers,
    );
    while !pending.is_empty() {
        tokio::select! {
            Some(()) = crds.next() => {}
            Some(()) = relists.recv() => {}
            () = tokio::time::sleep(retry_in), if retry => {
                retry_in = (retry_in * 2).min(MAX_RETRY);
            }
            // A watcher ended: the source is going away.
            Some(_) = watchers.join_next() => continue,
            // Nothing left that could say the group changed (the source is gone).
            else => return,
        }
        retry = start_served(
            discover(&context.client).await,
            &mut pending,
            &context,
            &mut watchers,
        );
        if !retry {
            retry_in = Duration::from_secs(1);
        }
    }
    // Every kind is watched: nothing to discover any more (the CRD watch ends here), and the
    // watchers run until the source stops.
    drop(crds);
    drop(relists);
    while watchers.join_next().await.is_some() {}
}

/// One item per change of a Gateway API CRD (and after each complete list of CRDs), from a
/// metadata-only watch of CustomResourceDefinitions. Ends when the watch is forbidden or not
/// served (then relists trigger discovery instead).
fn crd_changes(client: kube::Client) -> impl futures::Stream<Item = ()> {
    let api: Api<PartialObjectMeta<CustomResourceDefinition>> = Api::all(client);
    let suffix = format!(".{GROUP}");
    watcher::watcher(api, watcher_config())
        .default_backoff()
        .take_while(|item| {
            let lasting = match item {
                Err(watcher::Error::InitialListFailed(kube::Error::Api(status)))
                | Err(watcher::Error::WatchStartFailed(kube::Error::Api(status))) => {
                    !matches!(status.code, 403 | 404)
                }
                _ => true,
            };
            std::future::ready(lasting)
        })
        .filter_map(move |item| {
            let change = match item {
                Ok(watcher::Event::InitDone) => true,
                Ok(watcher::Event::Apply(crd) | watcher::Event::Delete(crd)) => {
                    crd.name_any().ends_with(&suffix)
                }
                _ => false,
            };
            std::future::ready(change.then_some(()))
        })
}

/// Watches one kind through the dynamic API of its served version and keeps its store.
async fn watch_kind<K: GatewayKind>(
    api: Api<DynamicObject>,
    mut writer: Writer<K>,
    signals: mpsc::UnboundedSender<Signal>,
) {
    let stream = watcher::watcher(api, watcher_config()).default_backoff();
    futures::pin_mut!(stream);
    while let Some(item) = stream.next().await {
        let signal = match item {
            Ok(event) => {
                let event = typed::<K>(event);
                writer.apply_watcher_event(&event);
                event_signal(&event, K::KIND)
            }
            Err(error) => Some(Signal::Failed(K::KIND, error)),
        };
        if let Some(signal) = signal
            && signals.send(signal).is_err()
        {
            return;
        }
    }
}

fn typed<K: GatewayKind>(event: watcher::Event<DynamicObject>) -> watcher::Event<K> {
    match event {
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitDone => watcher::Event::InitDone,
        watcher::Event::InitApply(object) => watcher::Event::InitApply(decode(object)),
        watcher::Event::Apply(object) => watcher::Event::Apply(decode(object)),
        watcher::Event::Delete(object) => watcher::Event::Delete(decode(object)),
    }
}

/// The object in kubehop's type, trimmed. One that does not decode (a field of an
/// unexpected shape) keeps its identity with an empty spec, so that its later changes and
/// deletion still reach the store, and says so in the log.
pub(crate) fn decode<K: GatewayKind>(object: DynamicObject) -> K {
    let metadata = object.metadata.clone();
    let mut typed = match object.try_parse::<K>() {
        Ok(typed) => typed,
        Err(error) => {
            tracing::warn!(
                kind = %K::KIND,
                name = %crate::printable::escape(&metadata.name.clone().unwrap_or_default()),
                "cannot read the object, kept with an empty spec: {error}"
            );
            let mut empty = K::default();
            *empty.meta_mut() = metadata;
            empty
        }
    };
    typed.trim();
    typed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_of_any_version_decode_into_our_types() {
        let object: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "gateway.networking.k8s.io/v1alpha3",
            "kind": "TLSRoute",
            "metadata": {"name": "db", "namespace": "shop",
                "managedFields": [{"manager": "kubectl"}]},
            "spec": {"parentRefs": [{"name": "edge"}], "hostnames": ["db.shop.test"],
                "rules": [{"backendRefs": [{"name": "db", "port": 5432}]}]},
        }))
        .expect("a dynamic object");
        let route: TLSRoute = decode(object);
        assert_eq!(route.metadata.name.as_deref(), Some("db"));
        assert_eq!(route.metadata.managed_fields, None);
        assert_eq!(
            route.spec.parent_refs.as_deref().expect("parentRefs")[0].name,
            "edge"
        );
        assert_eq!(route.spec.rules[0].backend_refs[0].name, "db");
    }

    #[test]
    fn an_object_that_does_not_decode_keeps_its_identity() {
        let object: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "edge", "namespace": "infra"},
            "spec": {"gatewayClassName": 7, "listeners": "no"},
        }))
        .expect("a dynamic object");
        let gateway: Gateway = decode(object);
        assert_eq!(gateway.metadata.name.as_deref(), Some("edge"));
        assert!(gateway.spec.listeners.is_empty());
    }
}
