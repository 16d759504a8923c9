//! Creating an object under the write lock: server-owned metadata, defaulting, validation,
//! the namespace check, admission hooks, then commit.

use super::*;

impl Store {
    pub(super) fn create_locked(
        &self,
        state: &mut State,
        hooks: &[Arc<dyn AdmissionHook>],
        resource: ResourceId,
        mut object: Value,
        options: WriteOptions,
    ) -> Result<Arc<StoredObject>, StoreError> {
        let info = resource.info();
        if info.read_only && options.origin == Origin::Api {
            return Err(StoreError::ReadOnly(resource));
        }
        prepare_type_meta(resource, &mut object)?;
        let (namespace, name) = self.set_create_metadata(resource, &mut object, options)?;
        admission::tidy_metadata(&mut object);
        // Like the API server's PrepareForCreate: clients cannot create status, except for
        // Nodes (the kubelet registers its node with status).
        if options.origin == Origin::Api && info.status_subresource && resource != ResourceId::Nodes
        {
            let status = admission::initial_status(resource, &object);
            if let Some(map) = object.as_object_mut() {
                match status {
                    Some(status) => map.insert("status".into(), status),
                    None => map.remove("status"),
                };
            }
        }
        admission::apply_defaults(resource, &mut object);
        strategy::normalize(resource, &mut object);
        check_decodes(resource, &object)?;
        if options.origin != Origin::Load {
            invalid_unless_empty(
                resource,
                &name,
                admission::validate_metadata(resource, &object),
            )?;
        }
        if state.get(resource, &namespace, &name).is_some() {
            return Err(StoreError::AlreadyExists { resource, name });
        }
        if info.namespaced && state.get(ResourceId::Namespaces, "", &namespace).is_none() {
            self.missing_namespace(state, hooks, namespace, options)?;
        }
        if options.origin != Origin::Load {
            invalid_unless_empty(resource, &name, admission::validate_kind(resource, &object))?;
        }
        run_hooks(
            state,
            hooks,
            resource,
            Operation::Create,
            &mut object,
            None,
            options,
        )?;
        if options.dry_run {
            return Ok(Arc::new(StoredObject::from_value(resource, &object)?));
        }
        let stored = self.commit(state, resource, object, None)?;
        Ok(stored)
    }

    /// Sets the metadata the server owns on a new object: its namespace (default "default"),
    /// a name from `generateName`, uid, creationTimestamp and generation. Objects loaded from a
    /// dump keep the uid, creationTimestamp, generation and deletion fields they carry.
    /// Returns (namespace, name).
    fn set_create_metadata(
        &self,
        resource: ResourceId,
        object: &mut Value,
        options: WriteOptions,
    ) -> Result<(String, String), StoreError> {
        let info = resource.info();
        let meta = metadata_mut(object)?;
        let namespace = if info.namespaced {
            let ns = meta
                .get("namespace")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or("default")
                .to_string();
            meta.insert("namespace".into(), json!(ns));
            ns
        } else {
            meta.remove("namespace");
            String::new()
        };
        let has_name = meta
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        if !has_name
            && let Some(prefix) = meta.get("generateName").and_then(Value::as_str)
            && !prefix.is_empty()
        {
            let name = format!("{prefix}{}", self.name_suffix());
            meta.insert("name".into(), json!(name));
        }
        let name = meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let keep_given = options.origin == Origin::Load;
        let now = format_time(self.now());
        if !keep_given || !meta.get("uid").is_some_and(Value::is_string) {
            meta.insert("uid".into(), json!(self.new_uid()));
        }
        if !keep_given || !meta.get("creationTimestamp").is_some_and(Value::is_string) {
            meta.insert("creationTimestamp".into(), json!(now));
        }
        if !keep_given {
            meta.remove("deletionTimestamp");
            meta.remove("deletionGracePeriodSeconds");
        }
        meta.remove("resourceVersion");
        // An API create keeps the field ownership a server-side apply wrote.
        if options.origin != Origin::Api {
            meta.remove("managedFields");
        }
        if info.tracks_generation {
            if !keep_given || !meta.get("generation").is_some_and(Value::is_number) {
                meta.insert("generation".into(), json!(1));
            }
        } else {
            meta.remove("generation");
        }
        Ok((namespace, name))
    }

    /// A namespaced object whose namespace does not exist: loading creates the namespace,
    /// API and controller writes get a 404 for it.
    fn missing_namespace(
        &self,
        state: &mut State,
        hooks: &[Arc<dyn AdmissionHook>],
        namespace: String,
        options: WriteOptions,
    ) -> Result<(), StoreError> {
        if options.origin != Origin::Load {
            return Err(StoreError::NotFound {
                resource: ResourceId::Namespaces,
                name: namespace,
            });
        }
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
        self.create_locked(state, hooks, ResourceId::Namespaces, ns, options)?;
        Ok(())
    }
}

/// A 422 for `name` when validation found `causes`.
pub(super) fn invalid_unless_empty(
    resource: ResourceId,
    name: &str,
    causes: Vec<FieldCause>,
) -> Result<(), StoreError> {
    if causes.is_empty() {
        return Ok(());
    }
    Err(StoreError::Invalid {
        resource,
        name: name.to_owned(),
        causes,
    })
}
