//! Each kind's objects sorted by (namespace, name), kept from one snapshot to the next.
//!
//! A snapshot lists every kind sorted (the engine's incremental update compares consecutive
//! snapshots with a merge walk). Sorting a whole store for every coalesced change costs what
//! the cluster holds (150,000 pods at the Kubernetes envelope), not what changed; so a kind is
//! sorted in full only after a list, when it comes back after being left out, or after more
//! changes than are worth patching. Otherwise the objects the watch events named since the
//! last snapshot are read from the store again and replaced, inserted or removed in place.
//! The pods, which snapshots share by one pointer, are patched into a list an earlier snapshot
//! held once nothing holds it any more ([`SharedSortedKind`]), instead of a copy.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Node, Service};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass, NetworkPolicy};
use kube::Resource;
use kube::runtime::reflector::{Lookup, ObjectRef, Store};

use super::pods::LivePod;
use crate::cluster::ResourceKind;
use crate::engine::objects::{PodInfo, SliceInfo};

/// An object's namespace (none for cluster-scoped kinds) and name.
pub(crate) type ObjectKey = (Option<String>, String);

/// The key of a watched object, if it has a name.
pub(crate) fn object_key<K: Lookup>(object: &K) -> Option<ObjectKey> {
    let name = object.name()?.into_owned();
    Some((object.namespace().map(Cow::into_owned), name))
}

/// More changed objects than this since the last snapshot: the kind is sorted again.
const MAX_PATCHED: usize = 1_024;

/// What changed in a kind since the last snapshot.
#[derive(Debug)]
enum Dirty {
    /// These objects (each may be added, modified or deleted).
    Keys(BTreeSet<ObjectKey>),
    /// Anything: the kind is sorted again.
    All,
}

/// One kind's objects as the last snapshot held them, and what changed since.
#[derive(Debug)]
pub(crate) struct SortedKind<T> {
    objects: Vec<Arc<T>>,
    dirty: Dirty,
}

impl<T> Default for SortedKind<T> {
    fn default() -> Self {
        Self {
            objects: Vec::new(),
            dirty: Dirty::All,
        }
    }
}

impl Dirty {
    /// One more changed object (`None`: one without a name, or unknown); past
    /// [`MAX_PATCHED`], the kind is sorted again.
    fn mark(&mut self, key: Option<ObjectKey>) {
        match (&mut *self, key) {
            (Dirty::Keys(keys), Some(key)) if keys.len() < MAX_PATCHED => {
                keys.insert(key);
            }
            _ => *self = Dirty::All,
        }
    }
}

/// Marking changes, whatever the object type.
trait Mark {
    /// An object changed (`None`: one without a name, or unknown).
    fn mark(&mut self, key: Option<ObjectKey>);
    /// The store was (re)listed.
    fn mark_all(&mut self);
}

impl<T> Mark for SortedKind<T> {
    fn mark(&mut self, key: Option<ObjectKey>) {
        self.dirty.mark(key);
    }

    fn mark_all(&mut self) {
        self.dirty = Dirty::All;
    }
}

/// How a kind's objects are read from its store.
struct Source<All, Get, Key> {
    /// Every object, sorted.
    all: All,
    /// The object with this key now, if any.
    get: Get,
    /// An object's (namespace, name), the order of the list.
    key: Key,
}

impl<T> SortedKind<T> {
    /// The kind's objects for the next snapshot (none when `keep` is false: left out).
    fn current<All, Get, Key>(&mut self, keep: bool, source: Source<All, Get, Key>) -> Vec<Arc<T>>
    where
        All: FnOnce() -> Vec<Arc<T>>,
        Get: Fn(&ObjectKey) -> Option<Arc<T>>,
        Key: Fn(&T) -> (Option<&str>, Option<&str>),
    {
        if !keep {
            *self = Self::default();
            return Vec::new();
        }
        match std::mem::replace(&mut self.dirty, Dirty::Keys(BTreeSet::new())) {
            Dirty::All => self.objects = (source.all)(),
            Dirty::Keys(keys) => patch(&mut self.objects, &keys, &source),
        }
        self.objects.clone()
    }
}

/// Brings the objects of `keys` in a sorted list to what the store holds now: replaced,
/// inserted or removed.
fn patch<T, All, Get, Key>(
    objects: &mut Vec<Arc<T>>,
    keys: &BTreeSet<ObjectKey>,
    source: &Source<All, Get, Key>,
) where
    Get: Fn(&ObjectKey) -> Option<Arc<T>>,
    Key: Fn(&T) -> (Option<&str>, Option<&str>),
{
    for changed in keys {
        let wanted = (changed.0.as_deref(), Some(changed.1.as_str()));
        let at = objects.binary_search_by(|object| (source.key)(object).cmp(&wanted));
        match (at, (source.get)(changed)) {
            (Ok(at), Some(object)) => objects[at] = object,
            (Ok(at), None) => {
                objects.remove(at);
            }
            (Err(at), Some(object)) => objects.insert(at, object),
            (Err(_), None) => {}
        }
    }
}

/// A whole list of one kind, shared by the snapshots that hold it.
pub(crate) type SharedList<T> = Arc<Vec<Arc<T>>>;

/// How many earlier lists a [`SharedSortedKind`] keeps to patch again.
const SPARE_LISTS: usize = 2;

/// A kind a snapshot holds by one pointer to its whole list (pods): the list the last
/// snapshot holds, what changed since, and earlier lists to patch again once no snapshot
/// holds them. A snapshot then costs what changed: the 150,000 pointers of the envelope's pod
/// list are neither copied (a reference count raised on each pod) nor dropped (each lowered)
/// for every update, as long as the views let go of the snapshot before last in time.
#[derive(Debug)]
pub(crate) struct SharedSortedKind<T> {
    current: SharedList<T>,
    dirty: Dirty,
    /// Earlier lists, oldest first, each with the objects changed between it and `current`.
    spare: Vec<(SharedList<T>, BTreeSet<ObjectKey>)>,
}

impl<T> Default for SharedSortedKind<T> {
    fn default() -> Self {
        Self {
            current: Arc::default(),
            dirty: Dirty::All,
            spare: Vec::new(),
        }
    }
}

impl<T> Mark for SharedSortedKind<T> {
    fn mark(&mut self, key: Option<ObjectKey>) {
        self.dirty.mark(key);
    }

    fn mark_all(&mut self) {
        self.dirty = Dirty::All;
    }
}

impl<T> SharedSortedKind<T> {
    /// The kind's objects for the next snapshot (none when `keep` is false: left out).
    fn current<All, Get, Key>(&mut self, keep: bool, source: Source<All, Get, Key>) -> SharedList<T>
    where
        All: FnOnce() -> Vec<Arc<T>>,
        Get: Fn(&ObjectKey) -> Option<Arc<T>>,
        Key: Fn(&T) -> (Option<&str>, Option<&str>),
    {
        if !keep {
            *self = Self::default();
            return Arc::default();
        }
        let changed = match std::mem::replace(&mut self.dirty, Dirty::Keys(BTreeSet::new())) {
            Dirty::All => {
                self.spare.clear();
                self.current = Arc::new((source.all)());
                return self.current.clone();
            }
            Dirty::Keys(keys) if keys.is_empty() => return self.current.clone(),
            Dirty::Keys(keys) => keys,
        };
        for (_, keys) in &mut self.spare {
            keys.extend(changed.iter().cloned());
        }
        // A spare list that no snapshot holds any more is patched in place; else the current
        // one is copied.
        let reusable = self
            .spare
            .iter_mut()
            .position(|(list, keys)| keys.len() <= MAX_PATCHED && Arc::get_mut(list).is_some());
        let (mut list, keys) = match reusable {
            Some(at) => self.spare.remove(at),
            None => (Arc::new(self.current.to_vec()), changed.clone()),
        };
        patch(Arc::make_mut(&mut list), &keys, &source);
        let previous = std::mem::replace(&mut self.current, list);
        self.spare.push((previous, changed));
        if self.spare.len() > SPARE_LISTS {
            self.spare.remove(0);
        }
        self.current.clone()
    }
}

fn object_ref<K: Lookup<DynamicType = ()>>(key: &ObjectKey) -> ObjectRef<K> {
    let reference = ObjectRef::new(&key.1);
    match &key.0 {
        Some(namespace) => reference.within(namespace),
        None => reference,
    }
}

fn meta_key<K: Resource>(object: &K) -> (Option<&str>, Option<&str>) {
    let meta = object.meta();
    (meta.namespace.as_deref(), meta.name.as_deref())
}

fn pod_key(pod: &PodInfo) -> (Option<&str>, Option<&str>) {
    (pod.namespace.as_deref(), pod.name.as_deref())
}

/// The store's objects, sorted by (namespace, name), for the next snapshot.
pub(crate) fn of_store<K: Resource<DynamicType = ()> + Clone + 'static>(
    view: &mut SortedKind<K>,
    keep: bool,
    store: &Store<K>,
) -> Vec<Arc<K>> {
    view.current(
        keep,
        Source {
            all: || super::sorted(store),
            get: |key: &ObjectKey| store.get(&object_ref::<K>(key)),
            key: meta_key::<K>,
        },
    )
}

/// The store's pods, sorted by (namespace, name), for the next snapshot.
pub(crate) fn of_pods(
    view: &mut SharedSortedKind<PodInfo>,
    keep: bool,
    store: &Store<LivePod>,
) -> SharedList<PodInfo> {
    view.current(
        keep,
        Source {
            all: || super::sorted_pods(store),
            get: |key: &ObjectKey| {
                store
                    .get(&object_ref::<LivePod>(key))
                    .map(|pod| Arc::clone(&pod.0))
            },
            key: pod_key,
        },
    )
}

/// The sorted objects of every kind a snapshot lists (the Gateway API kinds aside).
#[derive(Debug, Default)]
pub(crate) struct SortedKinds {
    pub services: SortedKind<Service>,
    pub endpoint_slices: SortedKind<SliceInfo>,
    pub pods: SharedSortedKind<PodInfo>,
    pub nodes: SortedKind<Node>,
    pub ingresses: SortedKind<Ingress>,
    pub namespaces: SortedKind<Namespace>,
    pub ingress_classes: SortedKind<IngressClass>,
    pub network_policies: SortedKind<NetworkPolicy>,
}

impl SortedKinds {
    fn of_kind(&mut self, kind: ResourceKind) -> Option<&mut dyn Mark> {
        Some(match kind {
            ResourceKind::Service => &mut self.services,
            ResourceKind::EndpointSlice => &mut self.endpoint_slices,
            ResourceKind::Pod => &mut self.pods,
            ResourceKind::Node => &mut self.nodes,
            ResourceKind::Ingress => &mut self.ingresses,
            ResourceKind::Namespace => &mut self.namespaces,
            ResourceKind::IngressClass => &mut self.ingress_classes,
            ResourceKind::NetworkPolicy => &mut self.network_policies,
            _ => return None,
        })
    }

    /// An object of the kind was added, modified or deleted.
    pub fn changed(&mut self, kind: ResourceKind, key: Option<ObjectKey>) {
        if let Some(sorted) = self.of_kind(kind) {
            sorted.mark(key);
        }
    }

    /// The kind's store is being listed, or was.
    pub fn listed(&mut self, kind: ResourceKind) {
        if let Some(sorted) = self.of_kind(kind) {
            sorted.mark_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use kube::runtime::reflector;
    use kube::runtime::watcher::Event;

    fn service(namespace: &str, name: &str, port: i32) -> Service {
        Service {
            metadata: ObjectMeta {
                namespace: Some(namespace.to_owned()),
                name: Some(name.to_owned()),
                ..ObjectMeta::default()
            },
            spec: Some(k8s_openapi::api::core::v1::ServiceSpec {
                ports: Some(vec![k8s_openapi::api::core::v1::ServicePort {
                    port,
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Service::default()
        }
    }

    /// A seeded xorshift: `next(below)` is in `0..below`.
    fn generator(mut state: u64) -> impl FnMut(u64) -> u64 {
        move |below| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % below
        }
    }

    /// A random add, change or delete of one of `names` Services of three namespaces, applied
    /// to the store; the key its watch event names.
    fn random_change(
        writer: &mut reflector::store::Writer<Service>,
        next: &mut impl FnMut(u64) -> u64,
        names: u64,
    ) -> Option<ObjectKey> {
        let namespace = format!("ns-{}", next(3));
        let name = format!("svc-{}", next(names));
        let object = service(&namespace, &name, i32::try_from(next(1_000)).unwrap_or(1));
        let event = match next(4) {
            0 => Event::Delete(object),
            _ => Event::Apply(object),
        };
        writer.apply_watcher_event(&event);
        match &event {
            Event::Apply(object) | Event::Delete(object) => object_key(object),
            _ => None,
        }
    }

    /// `listed` is the store sorted (empty when the kind is left out), sharing its `Arc`s.
    fn assert_sorted_store(
        listed: &[Arc<Service>],
        store: &Store<Service>,
        keep: bool,
        step: usize,
    ) {
        let expected = if keep {
            super::super::sorted(store)
        } else {
            Vec::new()
        };
        assert_eq!(listed.len(), expected.len(), "step {step}");
        assert!(
            listed.iter().zip(&expected).all(|(a, b)| Arc::ptr_eq(a, b)),
            "step {step}"
        );
    }

    /// Random adds, changes and deletes, a relist now and then and a kind left out for a
    /// while: the patched list is always the store sorted, sharing its `Arc`s.
    #[test]
    fn patched_lists_equal_the_sorted_store() {
        let (store, mut writer) = reflector::store::<Service>();
        let mut kinds = SortedKinds::default();
        let mut next = generator(0x2545_f491_4f6c_dd1d);
        for step in 0..400 {
            let events = if step % 97 == 50 { 1_500 } else { 1 + next(4) };
            for _ in 0..events {
                let key = random_change(&mut writer, &mut next, 60);
                kinds.changed(ResourceKind::Service, key);
            }
            if step % 41 == 7 {
                kinds.listed(ResourceKind::Service);
            }
            let keep = step % 53 != 9;
            let listed = of_store(&mut kinds.services, keep, &store);
            assert_sorted_store(&listed, &store, keep, step);
        }
    }

    /// The pods' way, with Services for objects: random changes, relists and a kind left out,
    /// with the views holding some snapshots longer than others. Every list is the store
    /// sorted; lists no snapshot holds any more are patched again rather than copied.
    #[test]
    fn shared_lists_equal_the_sorted_store_and_are_reused() {
        let (store, mut writer) = reflector::store::<Service>();
        let mut kind = SharedSortedKind::<Service>::default();
        let mut next = generator(0x9e37_79b9_7f4a_7c15);
        // What the views hold: the last snapshots' lists, for a random while.
        let mut held: Vec<(SharedList<Service>, Vec<*const Service>)> = Vec::new();
        let mut seen: Vec<*const Vec<Arc<Service>>> = Vec::new();
        let (mut reused, mut fresh) = (0, 0);
        for step in 0..600 {
            for _ in 0..1 + next(5) {
                let key = random_change(&mut writer, &mut next, 80);
                kind.mark(key);
            }
            if step % 97 == 13 {
                kind.mark_all();
            }
            let keep = step % 131 != 70;
            let list = kind.current(
                keep,
                Source {
                    all: || super::super::sorted(&store),
                    get: |key: &ObjectKey| store.get(&object_ref::<Service>(key)),
                    key: meta_key::<Service>,
                },
            );
            assert_sorted_store(&list, &store, keep, step);
            // Every held list still reads as it did (patching never touches a held one).
            for (at, (earlier, as_handed)) in held.iter().enumerate() {
                assert!(
                    earlier
                        .iter()
                        .map(Arc::as_ptr)
                        .eq(as_handed.iter().copied()),
                    "step {step}: held list {at} changed"
                );
            }
            let pointer = Arc::as_ptr(&list);
            if seen.contains(&pointer) {
                reused += 1;
            } else {
                fresh += 1;
                seen.push(pointer);
            }
            let as_handed = list.iter().map(Arc::as_ptr).collect();
            held.push((list, as_handed));
            // The views let go of older snapshots, sometimes late.
            let keep_held = 1 + usize::try_from(next(3)).unwrap_or(0);
            while held.len() > keep_held {
                held.remove(0);
            }
        }
        assert!(reused > fresh, "reused {reused}, fresh {fresh}");
    }
}
