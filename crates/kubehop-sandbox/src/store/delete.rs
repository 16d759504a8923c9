//! Deleting objects: graceful deletion, finalizers, owner cascades and namespaces.

use super::*;

impl Store {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn delete_locked(
        &self,
        state: &mut State,
        hooks: &[Arc<dyn AdmissionHook>],
        policy: &dyn DeletionPolicy,
        resource: ResourceId,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<DeleteOutcome, StoreError> {
        if resource.info().read_only {
            return Err(StoreError::ReadOnly(resource));
        }
        let Some(current) = state.get(resource, namespace, name).cloned() else {
            return Err(StoreError::NotFound {
                resource,
                name: name.to_string(),
            });
        };
        if let Some(uid) = &options.precondition_uid
            && *uid != current.uid
        {
            return Err(StoreError::Conflict {
                resource,
                name: name.to_string(),
                reason: format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    current.uid
                ),
            });
        }
        if let Some(rv) = &options.precondition_resource_version
            && *rv != current.resource_version.to_string()
        {
            return Err(StoreError::Conflict {
                resource,
                name: name.to_string(),
                reason: format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    current.resource_version
                ),
            });
        }
        if options.dry_run {
            return Ok(DeleteOutcome::Deleted(current));
        }
        let value = current.value();
        let immediate = options.grace_period_seconds == Some(0);
        let decision = if immediate {
            admission::Deletion::Immediate
        } else {
            policy.decide(resource, &value, options.grace_period_seconds)
        };
        let wait = match decision {
            _ if current.finalizers => Some(0),
            admission::Deletion::Graceful {
                grace_period_seconds,
            } if grace_period_seconds > 0 => Some(grace_period_seconds),
            _ => None,
        };
        if let Some(grace) = wait {
            if current.terminating {
                return Ok(DeleteOutcome::Pending(current));
            }
            let mut value = value;
            if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
                let now = self.now();
                let at = now
                    .checked_add(k8s_openapi::jiff::SignedDuration::from_secs(grace))
                    .unwrap_or(now);
                meta.insert("deletionTimestamp".into(), json!(format_time(at)));
                meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
            }
            let stored = self.commit(state, resource, value, Some(current))?;
            return Ok(DeleteOutcome::Pending(stored));
        }
        let gone = self.remove_locked(state, hooks, &current, options.propagation)?;
        Ok(DeleteOutcome::Deleted(gone))
    }

    /// Removes an object now, cascading to dependents and namespace contents.
    pub(super) fn remove_locked(
        &self,
        state: &mut State,
        hooks: &[Arc<dyn AdmissionHook>],
        current: &Arc<StoredObject>,
        propagation: Propagation,
    ) -> Result<Arc<StoredObject>, StoreError> {
        let resource = current.resource;
        let key = (current.namespace.clone(), current.name.clone());
        let revision = state.next_revision();
        let mut value = current.value();
        set_resource_version(&mut value, revision);
        let gone = Arc::new(StoredObject::from_value(resource, &value)?);
        state.bucket_mut(resource).remove(&key);
        state.push_event(StoreEvent {
            event_type: EventType::Deleted,
            object: gone.clone(),
            previous: Some(current.clone()),
        });
        for hook in hooks {
            hook.released(resource, &value);
        }
        self.after_change(state, &gone, Some(current))?;
        // Namespace contents.
        if resource == ResourceId::Namespaces {
            for id in state.resource_ids() {
                if !id.info().namespaced || id.info().read_only {
                    continue;
                }
                let inside: Vec<_> = state.scope(id, Some(&current.name)).cloned().collect();
                for object in inside {
                    // Garbage collection may have taken it already.
                    if state.get(id, &object.namespace, &object.name).is_some() {
                        self.remove_locked(state, hooks, &object, Propagation::Background)?;
                    }
                }
            }
        }
        // Dependents (garbage collection).
        if propagation != Propagation::Orphan && !current.uid.is_empty() {
            let mut dependents = Vec::new();
            for id in state.resource_ids() {
                dependents.extend(
                    state
                        .bucket(id)
                        .values()
                        .filter(|o| o.owners.iter().any(|u| *u == current.uid))
                        .cloned(),
                );
            }
            for dependent in dependents {
                if state
                    .get(dependent.resource, &dependent.namespace, &dependent.name)
                    .is_some()
                {
                    self.remove_locked(state, hooks, &dependent, propagation)?;
                }
            }
        }
        Ok(gone)
    }
}
