//! The store's state under its lock: the per-resource buckets, the revision counter and the
//! bounded event histories that watches replay from.

use super::*;

impl StoreView<'_> {
    pub fn get(&self, resource: ResourceId, namespace: &str, name: &str) -> Option<&StoredObject> {
        self.state.get(resource, namespace, name).map(Arc::as_ref)
    }

    /// Objects of `resource`, in one namespace or all.
    pub fn list(
        &self,
        resource: ResourceId,
        namespace: Option<&str>,
    ) -> impl Iterator<Item = &StoredObject> {
        self.state.scope(resource, namespace).map(Arc::as_ref)
    }
}

impl State {
    pub(super) fn bucket(&self, resource: ResourceId) -> &BTreeMap<ObjectKey, Arc<StoredObject>> {
        static EMPTY: BTreeMap<ObjectKey, Arc<StoredObject>> = BTreeMap::new();
        self.buckets.get(resource.index()).unwrap_or(&EMPTY)
    }

    /// The bucket of `resource`, added (with its watch history) for a new custom resource.
    pub(super) fn bucket_mut(
        &mut self,
        resource: ResourceId,
    ) -> &mut BTreeMap<ObjectKey, Arc<StoredObject>> {
        self.grow(resource);
        &mut self.buckets[resource.index()]
    }

    fn grow(&mut self, resource: ResourceId) {
        let needed = resource.index() + 1;
        if self.buckets.len() < needed {
            self.buckets.resize_with(needed, BTreeMap::new);
        }
        while self.resource_history.len() < needed {
            self.resource_history
                .push(History::new(self.history_capacity));
        }
    }

    /// Every resource with a bucket: the built-in ones and the custom ones registered so far.
    pub(super) fn resource_ids(&self) -> Vec<ResourceId> {
        (0..self.buckets.len())
            .filter_map(|i| u16::try_from(i).ok().map(ResourceId))
            .collect()
    }

    /// The custom resources this store serves (its CRDs' served versions).
    pub(super) fn custom_resources(&self) -> impl Iterator<Item = ResourceId> + '_ {
        self.crds.values().flatten().copied()
    }

    pub(super) fn get(
        &self,
        resource: ResourceId,
        namespace: &str,
        name: &str,
    ) -> Option<&Arc<StoredObject>> {
        self.bucket(resource)
            .get(&(namespace.to_string(), name.to_string()))
    }

    pub(super) fn scope<'a>(
        &'a self,
        resource: ResourceId,
        namespace: Option<&str>,
    ) -> Box<dyn Iterator<Item = &'a Arc<StoredObject>> + 'a> {
        let bucket = self.bucket(resource);
        match namespace {
            Some(ns) if resource.info().namespaced => {
                let ns = ns.to_string();
                Box::new(
                    bucket
                        .range((ns.clone(), String::new())..)
                        .take_while(move |((n, _), _)| *n == ns)
                        .map(|(_, v)| v),
                )
            }
            _ => Box::new(bucket.values()),
        }
    }

    pub(super) fn push_event(&mut self, event: StoreEvent) {
        let event = Arc::new(event);
        self.grow(event.resource());
        self.resource_history[event.resource().index()].push(event.clone());
        self.history.push(event);
    }

    pub(super) fn next_revision(&mut self) -> u64 {
        self.revision += 1;
        self.revision
    }
}

impl History {
    pub(super) fn new(capacity: usize) -> Self {
        History {
            events: VecDeque::new(),
            capacity: capacity.max(1),
            compacted: 0,
        }
    }

    pub(super) fn push(&mut self, event: Arc<StoreEvent>) {
        self.events.push_back(event);
        while self.events.len() > self.capacity {
            if let Some(old) = self.events.pop_front() {
                self.compacted = old.resource_version();
            }
        }
    }

    pub(super) fn since(&self, resource_version: u64) -> Result<Vec<Arc<StoreEvent>>, StoreError> {
        if resource_version < self.compacted {
            return Err(StoreError::Expired {
                requested: resource_version,
                oldest: self.compacted,
            });
        }
        let start = self
            .events
            .partition_point(|e| e.resource_version() <= resource_version);
        Ok(self.events.range(start..).cloned().collect())
    }
}
