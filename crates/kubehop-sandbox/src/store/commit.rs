//! Committing a change: the revision bump, the event, and the Endpoints derived from
//! EndpointSlices.

use super::*;

impl Store {
    /// Stores `object` with a new resourceVersion and records the event.
    pub(super) fn commit(
        &self,
        state: &mut State,
        resource: ResourceId,
        mut object: Value,
        previous: Option<Arc<StoredObject>>,
    ) -> Result<Arc<StoredObject>, StoreError> {
        if resource == ResourceId::CustomResourceDefinitions {
            self.prepare_crd(state, &mut object, previous.as_deref())?;
        }
        let revision = state.next_revision();
        set_resource_version(&mut object, revision);
        let stored = Arc::new(StoredObject::from_value(resource, &object)?);
        state.bucket_mut(resource).insert(
            (stored.namespace.clone(), stored.name.clone()),
            stored.clone(),
        );
        state.push_event(StoreEvent {
            event_type: if previous.is_some() {
                EventType::Modified
            } else {
                EventType::Added
            },
            object: stored.clone(),
            previous: previous.clone(),
        });
        self.after_change(state, &stored, previous.as_ref())?;
        Ok(stored)
    }

    /// Keeps derived state in step: the slice index and the Endpoints of affected Services.
    pub(super) fn after_change(
        &self,
        state: &mut State,
        object: &Arc<StoredObject>,
        previous: Option<&Arc<StoredObject>>,
    ) -> Result<(), StoreError> {
        let gone = state
            .get(object.resource, &object.namespace, &object.name)
            .is_none();
        let mut services = BTreeSet::new();
        match object.resource {
            ResourceId::EndpointSlices => {
                for (source, removed) in [(previous, true), (Some(object), gone)] {
                    let Some(slice) = source else { continue };
                    let Some(service) = slice.labels.get(SERVICE_NAME_LABEL) else {
                        continue;
                    };
                    let key = (slice.namespace.clone(), service.clone());
                    let names = state.slices_by_service.entry(key).or_default();
                    if removed {
                        names.remove(&slice.name);
                    } else {
                        names.insert(slice.name.clone());
                    }
                    services.insert(service.clone());
                }
            }
            ResourceId::Services => {
                services.insert(object.name.clone());
            }
            ResourceId::CustomResourceDefinitions if gone => {
                return self.crd_removed(state, object);
            }
            _ => return Ok(()),
        }
        for service in services {
            self.sync_endpoints(state, &object.namespace, &service)?;
        }
        Ok(())
    }

    /// Recomputes the derived Endpoints of one Service and stores the difference.
    pub(super) fn sync_endpoints(
        &self,
        state: &mut State,
        namespace: &str,
        service_name: &str,
    ) -> Result<(), StoreError> {
        let key = (namespace.to_string(), service_name.to_string());
        let slice_names: Vec<String> = state
            .slices_by_service
            .get(&key)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        if slice_names.is_empty() {
            state.slices_by_service.remove(&key);
        }
        let service = state
            .get(ResourceId::Services, namespace, service_name)
            .map(|s| s.value());
        let existing = state
            .get(ResourceId::Endpoints, namespace, service_name)
            .cloned();
        let has_selector = service
            .as_ref()
            .and_then(|s| s.pointer("/spec/selector"))
            .and_then(Value::as_object)
            .is_some_and(|s| !s.is_empty());
        let wanted = service.is_some() && (has_selector || !slice_names.is_empty());
        if !wanted {
            if let Some(existing) = existing {
                self.remove_locked(state, &[], &existing, Propagation::Orphan)?;
            }
            return Ok(());
        }
        let slices: Vec<Value> = slice_names
            .iter()
            .filter_map(|name| state.get(ResourceId::EndpointSlices, namespace, name))
            .map(|s| s.value())
            .collect();
        let subsets = endpoints::derive_subsets(&slices);
        let labels = service
            .as_ref()
            .and_then(|s| s.pointer("/metadata/labels"))
            .cloned()
            .unwrap_or_else(|| json!({}));
        let old = existing.as_ref().map(|e| e.value());
        let unchanged = old.as_ref().is_some_and(|old| {
            old.get("subsets").cloned().unwrap_or_else(|| json!([]))
                == Value::Array(subsets.clone())
                && old
                    .pointer("/metadata/labels")
                    .cloned()
                    .unwrap_or_else(|| json!({}))
                    == labels
        });
        if unchanged {
            return Ok(());
        }
        let object = self.endpoints_object(namespace, service_name, old.as_ref(), labels, subsets);
        self.commit(state, ResourceId::Endpoints, object, existing)?;
        Ok(())
    }

    /// The derived Endpoints object of a Service: the Service's labels, the subsets, and the
    /// uid and creationTimestamp of the `old` Endpoints when there is one (new ones otherwise).
    fn endpoints_object(
        &self,
        namespace: &str,
        service_name: &str,
        old: Option<&Value>,
        labels: Value,
        subsets: Vec<Value>,
    ) -> Value {
        let (uid, created) = match old {
            Some(old) => (
                old.pointer("/metadata/uid").cloned(),
                old.pointer("/metadata/creationTimestamp").cloned(),
            ),
            None => (None, None),
        };
        let mut meta = Map::new();
        meta.insert("name".into(), json!(service_name));
        meta.insert("namespace".into(), json!(namespace));
        meta.insert("uid".into(), uid.unwrap_or_else(|| json!(self.new_uid())));
        meta.insert(
            "creationTimestamp".into(),
            created.unwrap_or_else(|| json!(format_time(self.now()))),
        );
        if labels.as_object().is_some_and(|l| !l.is_empty()) {
            meta.insert("labels".into(), labels);
        }
        let mut object = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": meta});
        if !subsets.is_empty() {
            object["subsets"] = Value::Array(subsets);
        }
        object
    }
}
