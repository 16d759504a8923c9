//! The serde side of dump loading: one pass over a YAML or JSON document that dispatches each
//! object on `apiVersion` + `kind` straight into its k8s-openapi type.
//!
//! Objects are not first parsed into a generic tree: a visitor reads the keys of each mapping
//! until it knows the kind (kubectl prints `apiVersion` and `kind` first), then hands the rest
//! of the same mapping to the k8s-openapi `Deserialize` impl. Keys that come before `kind`
//! (hand-written manifests) are buffered as JSON values and replayed. Errors therefore keep
//! the parser's own line and column; the reader records which document, item and kind it was
//! in ([`Position`]) so the caller can name the object. Objects of kinds kubehop does not read
//! are skipped without keeping any of their contents (Secrets stay unseen).

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass, NetworkPolicy};
use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, StringDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::snapshot::ResourceKind;

/// One object read from a dump.
#[derive(Debug, Clone)]
pub(super) enum Object {
    Service(Arc<Service>),
    EndpointSlice(Arc<EndpointSlice>),
    Pod(Arc<Pod>),
    Node(Arc<Node>),
    Ingress(Arc<Ingress>),
    Namespace(Arc<Namespace>),
    IngressClass(Arc<IngressClass>),
    NetworkPolicy(Arc<NetworkPolicy>),
}

/// Why an object was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// A kind kubehop does not read (Deployment, Secret, ConfigMap, ...).
    NotRead,
    /// Legacy `v1 Endpoints`: the EndpointSlices of the same Service carry the same facts.
    LegacyEndpoints,
    /// A kind kubehop reads, in an API version it does not (e.g. `extensions/v1beta1 Ingress`).
    UnsupportedVersion(ResourceKind),
    /// A List inside a List (kubectl never writes one).
    NestedList,
}

/// What one entry of a document became.
#[derive(Debug, Clone)]
pub(super) enum Entry {
    Object(Object),
    Skipped {
        api_version: Option<String>,
        kind: String,
        reason: SkipReason,
    },
    /// A typed list (`EndpointSliceList`), even an empty one: the dump did list this kind.
    Listed(ResourceKind),
    /// A Gateway API object (`gateway.networking.k8s.io`, any version).
    GatewayApi(crate::gateway::GatewayApiObject),
}

/// One document of a stream. `None` for an explicit `null`.
pub(super) struct Document(pub Option<Vec<Entry>>);

/// Where the reader is; read back when an error surfaces, to say which object was wrong.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Position {
    /// Documents started so far; the current one is `documents - 1`.
    pub documents: usize,
    pub item: Option<Item>,
    /// The kind of the object being read, once known.
    pub kind: Option<String>,
}

/// The index of an object inside its document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Item {
    /// `items[i]` of a List.
    ListItem(usize),
    /// `[i]` of a top-level sequence.
    SequenceItem(usize),
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::ListItem(index) => write!(f, "items[{index}]"),
            Item::SequenceItem(index) => write!(f, "[{index}]"),
        }
    }
}

// A thread-local rather than a `DeserializeSeed`: the multi-document entry points of
// serde-saphyr and serde_json take `Deserialize` types only. One load runs on one thread and
// resets it first.
thread_local! {
    static POSITION: RefCell<Position> = RefCell::new(Position::default());
}

fn update(change: impl FnOnce(&mut Position)) {
    POSITION.with(|position| change(&mut position.borrow_mut()));
}

/// Starts a fresh read on this thread.
pub(super) fn reset_position() {
    update(|position| *position = Position::default());
}

/// The position at the time of the last error (or the end of the read).
pub(super) fn take_position() -> Position {
    POSITION.with(|position| std::mem::take(&mut *position.borrow_mut()))
}

impl<'de> Deserialize<'de> for Document {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        update(|position| {
            position.documents += 1;
            position.item = None;
            position.kind = None;
        });
        deserializer.deserialize_any(DocumentVisitor).map(Document)
    }
}

struct DocumentVisitor;

const EXPECTING_DOCUMENT: &str = "a Kubernetes object, a List, or a sequence of objects";

impl<'de> Visitor<'de> for DocumentVisitor {
    type Value = Option<Vec<Entry>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTING_DOCUMENT)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        read_mapping(map, Context::Document).map(Some)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        read_items(seq, None, Item::SequenceItem).map(Some)
    }
}

/// Where a mapping sits, which decides what it may be.
#[derive(Debug, Clone, Copy)]
enum Context<'a> {
    /// A document root: an object or a List.
    Document,
    /// An element of a List or top-level sequence: an object. `default_kind` is the element
    /// kind of a typed list (`PodList` -> `Pod`): API responses omit kind on items.
    Item { default_kind: Option<&'a str> },
}

fn read_items<'de, A: SeqAccess<'de>>(
    mut seq: A,
    default_kind: Option<&str>,
    item: fn(usize) -> Item,
) -> Result<Vec<Entry>, A::Error> {
    let mut entries = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
    let mut index = 0;
    loop {
        update(|position| {
            position.item = Some(item(index));
            position.kind = None;
        });
        match seq.next_element_seed(ItemSeed { default_kind })? {
            Some(entry) => entries.push(entry),
            None => break,
        }
        index += 1;
    }
    update(|position| {
        position.item = None;
        position.kind = None;
    });
    Ok(entries)
}

struct ItemSeed<'a> {
    default_kind: Option<&'a str>,
}

impl<'de> DeserializeSeed<'de> for ItemSeed<'_> {
    type Value = Entry;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Entry, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ItemSeed<'_> {
    type Value = Entry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kubernetes object (a mapping with apiVersion and kind)")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Entry, A::Error> {
        let mut entries = read_mapping(
            map,
            Context::Item {
                default_kind: self.default_kind,
            },
        )?;
        // An item mapping yields exactly one entry.
        Ok(entries.pop().unwrap_or(Entry::Skipped {
            api_version: None,
            kind: String::from("List"),
            reason: SkipReason::NestedList,
        }))
    }
}

struct ItemsSeed<'a> {
    default_kind: Option<&'a str>,
}

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_> {
    type Value = Vec<Entry>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<Entry>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_> {
    type Value = Vec<Entry>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence of Kubernetes objects")
    }

    // `items: null` (an empty List as some tools write it).
    fn visit_unit<E: de::Error>(self) -> Result<Vec<Entry>, E> {
        Ok(Vec::new())
    }

    fn visit_none<E: de::Error>(self) -> Result<Vec<Entry>, E> {
        Ok(Vec::new())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Vec<Entry>, A::Error> {
        read_items(seq, self.default_kind, Item::ListItem)
    }
}

/// What kubehop does with an `apiVersion` + `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Read(ResourceKind),
    GatewayApi,
    Skip(SkipReason),
    List,
}

/// The API versions kubehop reads, per kind.
pub(super) fn read_version(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Service
        | ResourceKind::Pod
        | ResourceKind::Node
        | ResourceKind::Namespace => "v1",
        ResourceKind::EndpointSlice => "discovery.k8s.io/v1",
        ResourceKind::Ingress | ResourceKind::IngressClass | ResourceKind::NetworkPolicy => {
            "networking.k8s.io/v1"
        }
        // Read in any version of the group (`GatewayApiObject`), never through this.
        _ => "gateway.networking.k8s.io/v1",
    }
}

fn kind_named(kind: &str) -> Option<ResourceKind> {
    Some(match kind {
        "Service" => ResourceKind::Service,
        "EndpointSlice" => ResourceKind::EndpointSlice,
        "Pod" => ResourceKind::Pod,
        "Node" => ResourceKind::Node,
        "Ingress" => ResourceKind::Ingress,
        "Namespace" => ResourceKind::Namespace,
        "IngressClass" => ResourceKind::IngressClass,
        "NetworkPolicy" => ResourceKind::NetworkPolicy,
        _ => return None,
    })
}

fn classify(api_version: Option<&str>, kind: &str) -> Class {
    let gateway_group = api_version.is_some_and(|v| {
        v.strip_prefix(kubehop_gateway_api::GROUP)
            .is_some_and(|rest| rest.starts_with('/'))
    });
    if gateway_group && crate::gateway::GATEWAY_API_KINDS.contains(&kind) {
        return Class::GatewayApi;
    }
    if let Some(resource) = kind_named(kind) {
        return match api_version {
            // Without apiVersion (hand-written, or items of a typed list) the kind decides.
            None => Class::Read(resource),
            Some(version) if version == read_version(resource) => Class::Read(resource),
            Some(_) => Class::Skip(SkipReason::UnsupportedVersion(resource)),
        };
    }
    if kind == "Endpoints" && matches!(api_version, None | Some("v1")) {
        return Class::Skip(SkipReason::LegacyEndpoints);
    }
    if kind.ends_with("List") {
        return Class::List;
    }
    Class::Skip(SkipReason::NotRead)
}

/// Reads one mapping: an object (one entry) or, at a document root, a List (its entries).
///
/// A little over 80 lines: one streaming loop over the mapping's keys whose state (apiVersion,
/// kind, buffered fields, items) every arm reads and updates; split further, each piece would
/// take all of it.
fn read_mapping<'de, A: MapAccess<'de>>(
    mut map: A,
    context: Context<'_>,
) -> Result<Vec<Entry>, A::Error> {
    let mut api_version: Option<String> = None;
    let mut kind: Option<String> = None;
    let mut buffered: Vec<(String, Value)> = Vec::new();
    let mut items: Option<Vec<Entry>> = None;
    let default_kind = match context {
        Context::Document => None,
        Context::Item { default_kind } => default_kind,
    };

    loop {
        let Some(key) = map.next_key::<String>()? else {
            break;
        };
        match key.as_str() {
            "apiVersion" => {
                api_version = Some(map.next_value()?);
                continue;
            }
            "kind" => {
                let value: String = map.next_value()?;
                update(|position| position.kind = Some(value.clone()));
                kind = Some(value);
                // kubectl prints apiVersion first; dispatch as soon as both are known.
                if api_version.is_some()
                    && items.is_none()
                    && let Some(entries) =
                        try_dispatch(&mut map, context, &api_version, &kind, &mut buffered, None)?
                {
                    return Ok(entries);
                }
                continue;
            }
            "items" if matches!(context, Context::Document) && items.is_none() => {
                let element_kind = kind
                    .as_deref()
                    .and_then(|list| list.strip_suffix("List"))
                    .filter(|element| !element.is_empty());
                items = Some(map.next_value_seed(ItemsSeed {
                    default_kind: element_kind,
                })?);
                continue;
            }
            _ => {}
        }
        let list_document = matches!(context, Context::Document)
            && kind
                .as_deref()
                .is_some_and(|kind| classify(api_version.as_deref(), kind) == Class::List);
        if items.is_some() || list_document {
            // The rest of a List (metadata): not needed.
            map.next_value::<IgnoredAny>()?;
            continue;
        }
        let effective_kind = kind.clone().or_else(|| default_kind.map(str::to_owned));
        if effective_kind.is_some() {
            if let Some(entries) = try_dispatch(
                &mut map,
                context,
                &api_version,
                &effective_kind,
                &mut buffered,
                Some(key),
            )? {
                return Ok(entries);
            }
            continue;
        }
        // Kind not known yet (hand-written manifest with `metadata` first): keep the value.
        buffered.push((key, map.next_value()?));
    }

    // The mapping ended.
    mapping_ended::<A::Error>(
        context,
        &api_version,
        &kind,
        default_kind,
        &mut buffered,
        items,
    )
}

/// The mapping ended before an object was dispatched: a List with its items, an object whose
/// fields were all buffered (or a List kind without items: an empty List), or an error when
/// there is no kind.
fn mapping_ended<E: de::Error>(
    context: Context<'_>,
    api_version: &Option<String>,
    kind: &Option<String>,
    default_kind: Option<&str>,
    buffered: &mut Vec<(String, Value)>,
    items: Option<Vec<Entry>>,
) -> Result<Vec<Entry>, E> {
    if let Some(entries) = items {
        return finish_list(api_version.as_deref(), kind.as_deref(), entries);
    }
    let effective_kind = kind.clone().or_else(|| default_kind.map(str::to_owned));
    if effective_kind.is_some() {
        let mut ended = Ended::<E>(std::marker::PhantomData);
        if let Some(entries) = try_dispatch(
            &mut ended,
            context,
            api_version,
            &effective_kind,
            buffered,
            None,
        )? {
            return Ok(entries);
        }
        // A List kind without items: an empty List.
        return finish_list(api_version.as_deref(), kind.as_deref(), Vec::new());
    }
    Err(de::Error::custom(
        "not a Kubernetes object: it has no `kind` field",
    ))
}

/// A typed list marks its element kind as listed, even when empty.
fn finish_list<E: de::Error>(
    api_version: Option<&str>,
    kind: Option<&str>,
    mut entries: Vec<Entry>,
) -> Result<Vec<Entry>, E> {
    // `items` without a kind: read it as a List whose items name their own kinds.
    let Some(kind) = kind else {
        return Ok(entries);
    };
    let Some(element) = kind.strip_suffix("List") else {
        return Err(de::Error::custom(format_args!(
            "`items` is only valid in a List, not in a {kind}"
        )));
    };
    if let Some(resource) = kind_named(element) {
        // A typed list has its elements' apiVersion (`v1 PodList`).
        if classify(api_version, element) == Class::Read(resource) {
            entries.push(Entry::Listed(resource));
        }
    }
    Ok(entries)
}

pub(super) fn resource_kind_name(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Service => "Service",
        ResourceKind::EndpointSlice => "EndpointSlice",
        ResourceKind::Pod => "Pod",
        ResourceKind::Node => "Node",
        ResourceKind::Ingress => "Ingress",
        ResourceKind::Namespace => "Namespace",
        ResourceKind::IngressClass => "IngressClass",
        ResourceKind::NetworkPolicy => "NetworkPolicy",
        ResourceKind::GatewayClass => "GatewayClass",
        ResourceKind::Gateway => "Gateway",
        ResourceKind::HttpRoute => "HTTPRoute",
        ResourceKind::GrpcRoute => "GRPCRoute",
        ResourceKind::TlsRoute => "TLSRoute",
        ResourceKind::TcpRoute => "TCPRoute",
        ResourceKind::UdpRoute => "UDPRoute",
        ResourceKind::ReferenceGrant => "ReferenceGrant",
    }
}

/// Decides what to do once the kind is known. Returns `None` for a List kind at a document
/// root (reading continues until `items`).
fn try_dispatch<'de, A: MapAccess<'de>>(
    map: &mut A,
    context: Context<'_>,
    api_version: &Option<String>,
    kind: &Option<String>,
    buffered: &mut Vec<(String, Value)>,
    live_key: Option<String>,
) -> Result<Option<Vec<Entry>>, A::Error> {
    let Some(kind) = kind.as_deref() else {
        return Ok(None);
    };
    update(|position| {
        if position.kind.is_none() {
            position.kind = Some(kind.to_owned());
        }
    });
    let class = classify(api_version.as_deref(), kind);
    let class = match (class, context) {
        (Class::List, Context::Document) => return Ok(None),
        (Class::List, Context::Item { .. }) => Class::Skip(SkipReason::NestedList),
        (class, _) => class,
    };
    match class {
        Class::Read(resource) => {
            let replay = Replay {
                buffered: std::mem::take(buffered).into_iter(),
                value: None,
                live_key,
                rest: map,
            };
            read_object(resource, replay).map(|object| Some(vec![Entry::Object(object)]))
        }
        Class::GatewayApi => {
            let replay = Replay {
                buffered: std::mem::take(buffered).into_iter(),
                value: None,
                live_key,
                rest: map,
            };
            let deserializer = MapAccessDeserializer::new(replay);
            match crate::gateway::GatewayApiObject::deserialize(kind, deserializer) {
                Some(object) => object.map(|o| Some(vec![Entry::GatewayApi(o)])),
                None => Err(de::Error::custom("not a Gateway API kind")),
            }
        }
        Class::Skip(reason) => {
            // Consume the rest without keeping anything (Secrets, ConfigMaps, ...), except an
            // apiVersion written after the kind, for the note.
            buffered.clear();
            let mut api_version = api_version.clone();
            if live_key.is_some() {
                map.next_value::<IgnoredAny>()?;
            }
            while let Some(key) = map.next_key::<String>()? {
                if key == "apiVersion" && api_version.is_none() {
                    api_version = map.next_value::<Value>()?.as_str().map(str::to_owned);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(Some(vec![Entry::Skipped {
                api_version,
                kind: kind.to_owned(),
                reason,
            }]))
        }
        Class::List => Ok(None),
    }
}

/// Deserializes the rest of a mapping into the k8s-openapi type. (The field path of an error
/// is found afterwards, on the error path only: tracking it here costs a fifth of the time.)
fn read_object<'de, A: MapAccess<'de>>(
    resource: ResourceKind,
    replay: Replay<'_, A>,
) -> Result<Object, A::Error> {
    let deserializer = MapAccessDeserializer::new(replay);
    Ok(match resource {
        ResourceKind::Service => Object::Service(Arc::new(Service::deserialize(deserializer)?)),
        ResourceKind::EndpointSlice => {
            Object::EndpointSlice(Arc::new(EndpointSlice::deserialize(deserializer)?))
        }
        ResourceKind::Pod => Object::Pod(Arc::new(Pod::deserialize(deserializer)?)),
        ResourceKind::Node => Object::Node(Arc::new(Node::deserialize(deserializer)?)),
        ResourceKind::Ingress => Object::Ingress(Arc::new(Ingress::deserialize(deserializer)?)),
        ResourceKind::Namespace => {
            Object::Namespace(Arc::new(Namespace::deserialize(deserializer)?))
        }
        ResourceKind::IngressClass => {
            Object::IngressClass(Arc::new(IngressClass::deserialize(deserializer)?))
        }
        ResourceKind::NetworkPolicy => {
            Object::NetworkPolicy(Arc::new(NetworkPolicy::deserialize(deserializer)?))
        }
        // `kind_named` never names them: they are read as `Object::GatewayApi`.
        gateway => {
            return Err(de::Error::custom(format!(
                "{gateway} is read as a Gateway API object"
            )));
        }
    })
}

/// Where in `object` (read as a plain value) deserializing it as `kind` fails:
/// `spec.ports[0].port`. Error path only.
pub(super) fn field_path(kind: &str, object: &Value) -> Option<String> {
    fn path<T: serde::de::DeserializeOwned>(object: &Value) -> Option<String> {
        let error = serde_path_to_error::deserialize::<_, T>(object).err()?;
        let text = error.path().to_string();
        let named: Vec<&str> = text
            .split('.')
            .filter(|segment| !segment.is_empty() && *segment != "?")
            .collect();
        (!named.is_empty()).then(|| named.join("."))
    }
    match kind_named(kind)? {
        ResourceKind::Service => path::<Service>(object),
        ResourceKind::EndpointSlice => path::<EndpointSlice>(object),
        ResourceKind::Pod => path::<Pod>(object),
        ResourceKind::Node => path::<Node>(object),
        ResourceKind::Ingress => path::<Ingress>(object),
        ResourceKind::Namespace => path::<Namespace>(object),
        ResourceKind::IngressClass => path::<IngressClass>(object),
        ResourceKind::NetworkPolicy => path::<NetworkPolicy>(object),
        // Never named by `kind_named`.
        _ => None,
    }
}

/// A mapping whose end has already been read.
struct Ended<E>(std::marker::PhantomData<E>);

impl<'de, E: de::Error> MapAccess<'de> for Ended<E> {
    type Error = E;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        _: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom(
            "value requested after the end of the mapping",
        ))
    }
}

/// The rest of a mapping, preceded by the entries already read while looking for `kind`.
struct Replay<'m, A> {
    buffered: std::vec::IntoIter<(String, Value)>,
    /// The value of the buffered key just handed out.
    value: Option<Value>,
    /// A key read from `rest` whose value is still in `rest`.
    live_key: Option<String>,
    rest: &'m mut A,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Replay<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        if let Some((key, value)) = self.buffered.next() {
            self.value = Some(value);
            return seed
                .deserialize(StringDeserializer::<A::Error>::new(key))
                .map(Some);
        }
        if let Some(key) = self.live_key.take() {
            return seed
                .deserialize(StringDeserializer::<A::Error>::new(key))
                .map(Some);
        }
        self.rest.next_key_seed(seed)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        match self.value.take() {
            Some(value) => seed.deserialize(value).map_err(de::Error::custom),
            None => self.rest.next_value_seed(seed),
        }
    }
}
