//! [`SliceInfo`]: an EndpointSlice with its endpoints in compact owned form.
//!
//! A slice's metadata, address type and ports stay typed (there are a few per Service); its
//! endpoints are what scales with the cluster (one per pod, 150,000 at Kubernetes' published
//! envelope) and keep only what kube-proxy's reading (rule A12), the topology rules (group (d))
//! and the views use: a typed `Endpoint` is 352 bytes before its strings, an [`EndpointEntry`]
//! about a third of that, with node, zone and namespace names shared through the [`Interner`].
//! What is left out: `deprecatedTopology` (replaced by nodeName and zone) and, of the
//! targetRef, everything but its kind, name and namespace.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::discovery::v1::{
    Endpoint, EndpointConditions, EndpointHints, EndpointPort, EndpointSlice,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::intern::Interner;

/// An EndpointSlice as kubehop keeps it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SliceInfo {
    pub metadata: ObjectMeta,
    pub address_type: String,
    pub ports: Option<Vec<EndpointPort>>,
    /// `None` when the object has no `endpoints` field.
    pub endpoints: Option<Box<[EndpointEntry]>>,
    /// The whole object, when the source keeps it because it cannot read it again (a dump);
    /// `None` from a live cluster.
    pub object: Option<Arc<EndpointSlice>>,
}

/// One endpoint of a [`SliceInfo`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EndpointEntry {
    /// `addresses[0]`, the one kube-proxy uses (rule A12); `None` when there is none.
    pub address: Option<Box<str>>,
    /// `conditions`, as written (`None`: no conditions object).
    pub conditions: Option<Conditions>,
    pub node_name: Option<Arc<str>>,
    pub zone: Option<Arc<str>>,
    pub target: Option<Target>,
    /// What few endpoints have (`None` for most): one pointer instead of three fields.
    pub extra: Option<Box<EndpointExtra>>,
}

/// `conditions`: absent fields stay absent (rule A12 reads them with its defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Conditions {
    pub ready: Option<bool>,
    pub serving: Option<bool>,
    pub terminating: Option<bool>,
}

/// The targetRef's kind, name and namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Target {
    pub kind: Option<Arc<str>>,
    /// Shared with the model's endpoint read from it.
    pub name: Option<Arc<str>>,
    pub namespace: Option<Arc<str>>,
}

/// The endpoints of a slice's `endpoints` field, compact.
fn entries(
    endpoints: Option<&[Endpoint]>,
    interner: &mut Interner,
) -> Option<Box<[EndpointEntry]>> {
    endpoints.map(|endpoints| {
        endpoints
            .iter()
            .map(|endpoint| EndpointEntry::from_endpoint(endpoint, interner))
            .collect()
    })
}

/// The rarely set parts of an endpoint.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EndpointExtra {
    /// `addresses[1..]` (the API allows 100; kube-proxy reads only the first).
    pub more_addresses: Vec<String>,
    pub hostname: Option<String>,
    pub hints: Option<EndpointHints>,
}

impl EndpointEntry {
    pub fn from_endpoint(endpoint: &Endpoint, interner: &mut Interner) -> Self {
        let mut addresses = endpoint.addresses.iter();
        let address = addresses.next().map(|address| Box::from(address.as_str()));
        let more_addresses: Vec<String> = addresses.cloned().collect();
        let extra =
            (!more_addresses.is_empty() || endpoint.hostname.is_some() || endpoint.hints.is_some())
                .then(|| {
                    Box::new(EndpointExtra {
                        more_addresses,
                        hostname: endpoint.hostname.clone(),
                        hints: endpoint.hints.clone(),
                    })
                });
        let mut shared = |value: &Option<String>| value.as_deref().map(|value| interner.str(value));
        Self {
            address,
            conditions: endpoint.conditions.as_ref().map(|conditions| Conditions {
                ready: conditions.ready,
                serving: conditions.serving,
                terminating: conditions.terminating,
            }),
            node_name: shared(&endpoint.node_name),
            zone: shared(&endpoint.zone),
            target: endpoint.target_ref.as_ref().map(|target| Target {
                kind: shared(&target.kind),
                name: target.name.as_deref().map(Arc::from),
                namespace: shared(&target.namespace),
            }),
            extra,
        }
    }

    /// The endpoint as the API writes it (without what [`EndpointEntry`] leaves out).
    pub fn to_endpoint(&self) -> Endpoint {
        let extra = self.extra.as_deref();
        let text = |value: &Option<Arc<str>>| value.as_deref().map(str::to_owned);
        Endpoint {
            addresses: self
                .address
                .iter()
                .map(|address| address.to_string())
                .chain(
                    extra
                        .into_iter()
                        .flat_map(|extra| extra.more_addresses.clone()),
                )
                .collect(),
            conditions: self.conditions.map(|conditions| EndpointConditions {
                ready: conditions.ready,
                serving: conditions.serving,
                terminating: conditions.terminating,
            }),
            deprecated_topology: None,
            hints: extra.and_then(|extra| extra.hints.clone()),
            hostname: extra.and_then(|extra| extra.hostname.clone()),
            node_name: text(&self.node_name),
            target_ref: self.target.as_ref().map(|target| ObjectReference {
                kind: text(&target.kind),
                name: target.name.as_deref().map(str::to_owned),
                namespace: text(&target.namespace),
                ..ObjectReference::default()
            }),
            zone: text(&self.zone),
        }
    }

    /// The targetRef's name when it names a Pod (a reference without a kind is read as one).
    pub fn pod_name(&self) -> Option<&str> {
        self.pod().map(|name| &**name)
    }

    /// [`EndpointEntry::pod_name`], shared.
    pub fn pod(&self) -> Option<&Arc<str>> {
        let target = self.target.as_ref()?;
        if target.kind.as_deref().is_some_and(|kind| kind != "Pod") {
            return None;
        }
        target.name.as_ref()
    }

    pub fn hostname(&self) -> Option<&str> {
        self.extra.as_deref()?.hostname.as_deref()
    }

    pub fn hints(&self) -> Option<&EndpointHints> {
        self.extra.as_deref()?.hints.as_ref()
    }
}

impl From<EndpointSlice> for SliceInfo {
    /// The compact form keeping the object, sharing nothing with other slices (single objects,
    /// test fixtures).
    fn from(slice: EndpointSlice) -> Self {
        SliceInfo::keeping(Arc::new(slice), &mut Interner::new())
    }
}

impl SliceInfo {
    /// The compact form of `slice` (the whole object is not kept).
    pub fn from_slice(slice: &EndpointSlice, interner: &mut Interner) -> Self {
        Self {
            metadata: slice.metadata.clone(),
            address_type: slice.address_type.clone(),
            ports: slice.ports.clone(),
            endpoints: entries(slice.endpoints.as_deref(), interner),
            object: None,
        }
    }

    /// [`SliceInfo::from_slice`] of a slice the caller no longer needs: its metadata and ports
    /// are moved, not copied (a watch event, a list just read).
    pub fn from_owned(slice: EndpointSlice, interner: &mut Interner) -> Self {
        let EndpointSlice {
            metadata,
            address_type,
            ports,
            endpoints,
        } = slice;
        Self {
            metadata,
            address_type,
            ports,
            endpoints: entries(endpoints.as_deref(), interner),
            object: None,
        }
    }

    /// [`SliceInfo::from_slice`] keeping the whole object too (a dump, which cannot be read
    /// again: its views show the slice as written).
    pub fn keeping(slice: Arc<EndpointSlice>, interner: &mut Interner) -> Self {
        let mut info = Self::from_slice(&slice, interner);
        info.object = Some(slice);
        info
    }

    /// Each of `slices` in compact form, sharing names through one interner (a list read at
    /// once: the sandbox's store, a `list` call, the slices the engine derives).
    pub fn compact_all(slices: impl IntoIterator<Item = EndpointSlice>) -> Vec<Arc<Self>> {
        let mut interner = Interner::new();
        slices
            .into_iter()
            .map(|slice| Arc::new(Self::from_owned(slice, &mut interner)))
            .collect()
    }

    /// The endpoints (none when the field is absent).
    pub fn endpoints(&self) -> &[EndpointEntry] {
        self.endpoints.as_deref().unwrap_or_default()
    }

    /// The slice as a typed object: the one kept, or one rebuilt from what is kept.
    pub fn to_slice(&self) -> Arc<EndpointSlice> {
        if let Some(object) = &self.object {
            return Arc::clone(object);
        }
        Arc::new(EndpointSlice {
            metadata: self.metadata.clone(),
            address_type: self.address_type.clone(),
            ports: self.ports.clone(),
            endpoints: self
                .endpoints
                .as_ref()
                .map(|endpoints| endpoints.iter().map(EndpointEntry::to_endpoint).collect()),
        })
    }
}

/// The kind's constants, so that what reads any object's metadata (sorting, the diff of two
/// snapshots, a reflector store's keys) reads a [`SliceInfo`]'s as an EndpointSlice's.
impl k8s_openapi::Resource for SliceInfo {
    const API_VERSION: &'static str = EndpointSlice::API_VERSION;
    const GROUP: &'static str = EndpointSlice::GROUP;
    const KIND: &'static str = EndpointSlice::KIND;
    const VERSION: &'static str = EndpointSlice::VERSION;
    const URL_PATH_SEGMENT: &'static str = EndpointSlice::URL_PATH_SEGMENT;
    type Scope = k8s_openapi::NamespaceResourceScope;
}

impl k8s_openapi::Metadata for SliceInfo {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::discovery::v1::ForZone;

    fn endpoint(address: &str) -> Endpoint {
        Endpoint {
            addresses: vec![address.to_owned()],
            conditions: Some(EndpointConditions {
                ready: Some(true),
                serving: None,
                terminating: Some(false),
            }),
            node_name: Some("node-a".to_owned()),
            zone: Some("zone-a".to_owned()),
            target_ref: Some(ObjectReference {
                kind: Some("Pod".to_owned()),
                name: Some("web-1".to_owned()),
                namespace: Some("shop".to_owned()),
                ..ObjectReference::default()
            }),
            ..Endpoint::default()
        }
    }

    fn slice(endpoints: Vec<Endpoint>) -> EndpointSlice {
        EndpointSlice {
            metadata: ObjectMeta {
                name: Some("web-abc".to_owned()),
                namespace: Some("shop".to_owned()),
                ..ObjectMeta::default()
            },
            address_type: "IPv4".to_owned(),
            ports: Some(vec![EndpointPort {
                name: Some("http".to_owned()),
                port: Some(8080),
                ..EndpointPort::default()
            }]),
            endpoints: Some(endpoints),
        }
    }

    #[test]
    fn what_is_kept_comes_back_unchanged() {
        let mut rare = endpoint("127.0.0.2");
        rare.addresses.push("127.0.0.3".to_owned());
        rare.hostname = Some("web-1".to_owned());
        rare.hints = Some(EndpointHints {
            for_zones: Some(vec![ForZone {
                name: "zone-a".to_owned(),
            }]),
            for_nodes: None,
        });
        let unnamed = Endpoint {
            addresses: Vec::new(),
            ..Endpoint::default()
        };
        for typed in [
            slice(vec![endpoint("127.0.0.1"), rare, unnamed]),
            EndpointSlice {
                endpoints: None,
                ..slice(Vec::new())
            },
        ] {
            let info = SliceInfo::from_slice(&typed, &mut Interner::new());
            assert_eq!(*info.to_slice(), typed);
        }
    }

    #[test]
    fn endpoints_share_names_and_box_only_rare_fields() {
        let mut interner = Interner::new();
        let info = SliceInfo::from_slice(
            &slice(vec![endpoint("127.0.0.1"), endpoint("127.0.0.2")]),
            &mut interner,
        );
        let [a, b] = info.endpoints() else {
            panic!("two endpoints: {info:?}");
        };
        let node = |entry: &EndpointEntry| entry.node_name.clone().expect("a node");
        assert!(Arc::ptr_eq(&node(a), &node(b)));
        assert!(a.extra.is_none());
        assert_eq!(a.pod_name(), Some("web-1"));
    }

    #[test]
    fn left_out_fields_are_dropped_and_a_kept_object_is_returned_whole() {
        let mut typed = slice(vec![endpoint("127.0.0.1")]);
        if let Some(target) = typed
            .endpoints
            .as_mut()
            .and_then(|endpoints| endpoints.first_mut())
            .and_then(|endpoint| endpoint.target_ref.as_mut())
        {
            target.uid = Some("1234".to_owned());
        }
        let rebuilt = SliceInfo::from_slice(&typed, &mut Interner::new()).to_slice();
        assert_ne!(*rebuilt, typed);
        let kept = SliceInfo::keeping(Arc::new(typed.clone()), &mut Interner::new());
        assert_eq!(*kept.to_slice(), typed);
    }

    #[test]
    fn a_reference_to_another_kind_names_no_pod() {
        let mut typed = endpoint("127.0.0.1");
        if let Some(target) = typed.target_ref.as_mut() {
            target.kind = Some("Node".to_owned());
        }
        let entry = EndpointEntry::from_endpoint(&typed, &mut Interner::new());
        assert_eq!(entry.pod_name(), None);
    }
}
