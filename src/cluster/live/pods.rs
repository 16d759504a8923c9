//! Pods in the live store: compact ([`PodInfo`]) from the moment the watcher decodes them;
//! EndpointSlices likewise keep their endpoints compact ([`SliceInfo`]).
//!
//! The watcher (relist, backoff, bookmarks) and the reflector store are kube-runtime's, as for
//! every kind; only the object type differs. Each watcher event's pods are converted before
//! they reach the store, so the store never holds a typed Pod: what the engine and the views
//! read stays (see [`PodInfo`]), the rest (probes, env, volumes, images, the full status) is
//! read with a `get` by the views that show it.

use std::borrow::Cow;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::Lookup;
use kube::runtime::watcher::Event;

use crate::engine::objects::{Interner, PodInfo, SliceInfo};

/// A pod as the reflector store keeps it. A wrapper because kube-runtime's `Lookup` and the
/// engine's `PodInfo` are both foreign to this crate; it holds the `Arc` the snapshots share,
/// so an unchanged pod is the same `Arc` in every snapshot.
#[derive(Debug, Clone)]
pub struct LivePod(pub Arc<PodInfo>);

impl Lookup for LivePod {
    type DynamicType = ();

    fn kind(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("Pod")
    }

    fn group(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("")
    }

    fn version(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("v1")
    }

    fn plural(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("pods")
    }

    fn name(&self) -> Option<Cow<'_, str>> {
        self.0.name.as_deref().map(Cow::Borrowed)
    }

    fn namespace(&self) -> Option<Cow<'_, str>> {
        self.0.namespace.as_deref().map(Cow::Borrowed)
    }

    /// Not copied into the store's keys (they compare by namespace and name only; the
    /// snapshot's `PodInfo` has it).
    fn resource_version(&self) -> Option<Cow<'_, str>> {
        None
    }

    /// Not copied into the store's keys, as the resourceVersion.
    fn uid(&self) -> Option<Cow<'_, str>> {
        None
    }
}

/// Converts the watcher's pods as they arrive, sharing strings and lists between them.
#[derive(Debug, Default)]
pub struct PodConverter {
    interner: Interner,
}

impl PodConverter {
    pub fn convert(&mut self, pod: Pod) -> LivePod {
        LivePod(Arc::new(PodInfo::from_pod(&pod, &mut self.interner)))
    }

    /// The event with its pods converted. The interner forgets what no pod uses any more
    /// whenever it has doubled (so churn does not grow it without bound).
    pub fn event(&mut self, event: Event<Pod>) -> Event<LivePod> {
        self.interner.prune();
        map_event(event, |pod| self.convert(pod))
    }
}

/// Converts the watcher's EndpointSlices as they arrive: metadata trimmed as every kind's
/// ([`super::trim`]), endpoints compact ([`SliceInfo`]), node and zone names shared.
#[derive(Debug, Default)]
pub struct SliceConverter {
    interner: Interner,
}

impl SliceConverter {
    pub fn convert(&mut self, mut slice: EndpointSlice) -> SliceInfo {
        super::trim::trim_metadata(&mut slice.metadata);
        SliceInfo::from_owned(slice, &mut self.interner)
    }

    /// The event with its slices converted; the interner is pruned as [`PodConverter`]'s.
    pub fn event(&mut self, event: Event<EndpointSlice>) -> Event<SliceInfo> {
        self.interner.prune();
        map_event(event, |slice| self.convert(slice))
    }
}

/// The same event with each object converted.
fn map_event<A, B>(event: Event<A>, mut convert: impl FnMut(A) -> B) -> Event<B> {
    match event {
        Event::Apply(object) => Event::Apply(convert(object)),
        Event::Delete(object) => Event::Delete(convert(object)),
        Event::Init => Event::Init,
        Event::InitApply(object) => Event::InitApply(convert(object)),
        Event::InitDone => Event::InitDone,
    }
}
