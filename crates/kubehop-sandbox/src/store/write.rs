//! The store's write API: create, update, modify, delete and load, each taking the write lock
//! and handing off to the locked steps in the sibling modules; and the helpers they share.

use super::*;

impl Store {
    /// Creates an object (its namespace comes from `metadata.namespace`, default "default").
    pub fn create_object(
        &self,
        resource: ResourceId,
        object: Value,
        options: WriteOptions,
    ) -> Result<Arc<StoredObject>, StoreError> {
        let hooks = self.hooks();
        let mut state = self.write();
        let before = state.revision;
        let result = self.create_locked(&mut state, &hooks, resource, object, options);
        self.finish(state, before);
        result
    }

    /// Replaces an object. A non-empty `metadata.resourceVersion` must match the stored one.
    pub fn update_object(
        &self,
        resource: ResourceId,
        object: Value,
        part: Part,
        options: WriteOptions,
    ) -> Result<Arc<StoredObject>, StoreError> {
        let hooks = self.hooks();
        let namespace = if resource.info().namespaced {
            object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_string()
        } else {
            String::new()
        };
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let mut state = self.write();
        let before = state.revision;
        let result = match state.get(resource, &namespace, &name).cloned() {
            None => Err(StoreError::NotFound { resource, name }),
            Some(previous) => self.update_locked(
                &mut state, &hooks, resource, object, &previous, part, options,
            ),
        };
        self.finish(state, before);
        result
    }

    /// Read-modify-write under the lock: `change` edits the stored object (a patch, a scale).
    /// If the edited object carries a resourceVersion other than the stored one: Conflict.
    pub fn modify_object(
        &self,
        resource: ResourceId,
        namespace: &str,
        name: &str,
        part: Part,
        options: WriteOptions,
        change: impl FnOnce(&mut Value) -> Result<(), StoreError>,
    ) -> Result<Arc<StoredObject>, StoreError> {
        let hooks = self.hooks();
        let mut state = self.write();
        let before = state.revision;
        let result = match state.get(resource, namespace, name).cloned() {
            None => Err(StoreError::NotFound {
                resource,
                name: name.to_string(),
            }),
            Some(previous) => {
                let mut value = previous.value();
                match change(&mut value) {
                    Err(err) => Err(err),
                    Ok(()) => self.update_locked(
                        &mut state, &hooks, resource, value, &previous, part, options,
                    ),
                }
            }
        };
        self.finish(state, before);
        result
    }

    /// Deletes an object (gracefully if the deletion policy says so, or while finalizers remain).
    pub fn delete_object(
        &self,
        resource: ResourceId,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<DeleteOutcome, StoreError> {
        let hooks = self.hooks();
        let policy = self
            .inner
            .deletion
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut state = self.write();
        let before = state.revision;
        let result = self.delete_locked(
            &mut state,
            &hooks,
            policy.as_ref(),
            resource,
            namespace,
            name,
            options,
        );
        self.finish(state, before);
        result
    }

    /// Loads scenario or dump objects as given (status kept, no validation). `List` objects are
    /// flattened; namespaces are created as needed; existing objects are replaced; Endpoints
    /// are skipped (the store derives them from EndpointSlices).
    pub fn load_objects(&self, objects: Vec<Value>) -> LoadReport {
        let mut report = LoadReport::default();
        let mut flat = Vec::new();
        for object in objects {
            flatten_lists(object, &mut flat);
        }
        for object in flat {
            let api_version = object
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let kind = object
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let label = format!("{api_version} {kind} {name}");
            let Some(resource) = self.resource_for_kind(&api_version, &kind) else {
                report.skipped.push(format!("{label}: not served"));
                continue;
            };
            if resource.info().read_only {
                report
                    .skipped
                    .push(format!("{label}: derived from EndpointSlices"));
                continue;
            }
            let namespace = object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_string();
            let exists = self
                .get_object(
                    resource,
                    if resource.info().namespaced {
                        &namespace
                    } else {
                        ""
                    },
                    &name,
                )
                .is_some();
            let result = if exists {
                let mut object = object;
                if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                    // A replayed dump replaces what is there, whatever its version and uid.
                    meta.remove("resourceVersion");
                    meta.remove("uid");
                }
                self.update_object(resource, object, Part::Whole, WriteOptions::load())
            } else {
                self.create_object(resource, object, WriteOptions::load())
            };
            match result {
                Ok(_) => report.loaded += 1,
                Err(err) => report.skipped.push(format!("{label}: {err}")),
            }
        }
        report
    }

    pub(super) fn hooks(&self) -> Vec<Arc<dyn AdmissionHook>> {
        self.inner
            .hooks
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(super) fn finish(&self, state: RwLockWriteGuard<'_, State>, before: u64) {
        let after = state.revision;
        drop(state);
        if after != before {
            self.notify(after);
        }
    }
}

pub(super) fn run_hooks(
    state: &State,
    hooks: &[Arc<dyn AdmissionHook>],
    resource: ResourceId,
    operation: Operation,
    object: &mut Value,
    previous: Option<&Value>,
    options: WriteOptions,
) -> Result<(), StoreError> {
    for hook in hooks {
        let request = AdmissionRequest {
            resource,
            operation,
            origin: options.origin,
            object: &mut *object,
            previous,
            dry_run: options.dry_run,
            view: StoreView { state },
        };
        if let Err(causes) = hook.admit(request) {
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            return Err(StoreError::Invalid {
                resource,
                name,
                causes,
            });
        }
    }
    Ok(())
}

pub(super) fn conflict(resource: ResourceId, name: &str) -> StoreError {
    StoreError::Conflict {
        resource,
        name: name.to_string(),
        reason: "the object has been modified; please apply your changes to the latest version and try again".into(),
    }
}

pub(super) fn set_resource_version(object: &mut Value, revision: u64) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), json!(revision.to_string()));
    }
}

/// Whether anything outside metadata and status differs.
pub(super) fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| -> Map<String, Value> {
        v.as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "metadata" | "status"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    strip(old) != strip(new)
}

/// Equal apart from resourceVersion (a no-op write is not stored).
pub(super) fn same_object(old: &Value, new: &Value) -> bool {
    let mut old = old.clone();
    if let Some(meta) = old.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
    }
    old == *new
}
