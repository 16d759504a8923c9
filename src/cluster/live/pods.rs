//! Pods in the live store: compact ([`PodInfo`]) from the moment the watcher decodes them.
//!
//! The watcher (relist, backoff, bookmarks) and the reflector store are kube-runtime's, as for
//! every kind; only the object type differs. Each watcher event's pods are converted before
//! they reach the store, so the store never holds a typed Pod: what the engine and the views
//! read stays (see [`PodInfo`]), the rest (probes, env, volumes, images, the full status) is
//! read with a `get` by the views that show it.

use std::borrow::Cow;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::runtime::reflector::Lookup;
use kube::runtime::watcher::Event;

use crate::engine::objects::{Interner, PodInfo};

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
        match event {
            Event::Apply(pod) => Event::Apply(self.convert(pod)),
            Event::Delete(pod) => Event::Delete(self.convert(pod)),
            Event::Init => Event::Init,
            Event::InitApply(pod) => Event::InitApply(self.convert(pod)),
            Event::InitDone => Event::InitDone,
        }
    }
}
