//! Updating an object (whole or status) under the write lock: preconditions, composing the
//! new object from the old one, defaulting, validation, admission hooks, then commit.

use super::create::invalid_unless_empty;
use super::*;

impl Store {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn update_locked(
        &self,
        state: &mut State,
        hooks: &[Arc<dyn AdmissionHook>],
        resource: ResourceId,
        mut object: Value,
        previous: &Arc<StoredObject>,
        part: Part,
        options: WriteOptions,
    ) -> Result<Arc<StoredObject>, StoreError> {
        let info = resource.info();
        if info.read_only && options.origin == Origin::Api {
            return Err(StoreError::ReadOnly(resource));
        }
        let name = previous.name.clone();
        prepare_type_meta(resource, &mut object)?;
        check_preconditions(resource, metadata_mut(&mut object)?, previous)?;
        let old = previous.value();
        let old_meta = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
        let mut object = compose_update(resource, object, &old, part, options);
        keep_server_metadata(metadata_mut(&mut object)?, &old_meta, options);
        admission::tidy_metadata(&mut object);
        admission::prepare_update(resource, &mut object, &old);
        admission::apply_defaults(resource, &mut object);
        super::strategy::normalize(resource, &mut object);
        check_decodes(resource, &object)?;
        if options.origin != Origin::Load {
            let mut causes = admission::validate_metadata(resource, &object);
            causes.extend(admission::validate_kind(resource, &object));
            invalid_unless_empty(resource, &name, causes)?;
        }
        run_hooks(
            state,
            hooks,
            resource,
            Operation::Update,
            &mut object,
            Some(&old),
            options,
        )?;
        if info.tracks_generation && spec_changed(&old, &object) {
            let generation = old_meta
                .get("generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert("generation".into(), json!(generation + 1));
            }
        }
        if same_object(&old, &object) {
            return Ok(previous.clone());
        }
        if options.dry_run {
            set_resource_version(&mut object, previous.resource_version);
            return Ok(Arc::new(StoredObject::from_value(resource, &object)?));
        }
        let finalized = object.pointer("/metadata/deletionTimestamp").is_some()
            && object
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_none_or(|f| f.is_empty());
        let stored = self.commit(state, resource, object, Some(previous.clone()))?;
        if finalized {
            self.remove_locked(state, hooks, &stored, Propagation::Background)?;
        }
        Ok(stored)
    }
}

/// The update's preconditions: a given resourceVersion or uid must match the stored object's
/// (409), and a given name or namespace must match the URL's (400).
fn check_preconditions(
    resource: ResourceId,
    meta: &Map<String, Value>,
    previous: &StoredObject,
) -> Result<(), StoreError> {
    let name = &previous.name;
    if let Some(rv) = meta.get("resourceVersion").and_then(Value::as_str)
        && !rv.is_empty()
        && rv != previous.resource_version.to_string()
    {
        return Err(conflict(resource, name));
    }
    if let Some(uid) = meta.get("uid").and_then(Value::as_str)
        && !uid.is_empty()
        && uid != previous.uid
    {
        return Err(StoreError::Conflict {
            resource,
            name: name.clone(),
            reason: format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                previous.uid
            ),
        });
    }
    if let Some(given) = meta.get("name").and_then(Value::as_str)
        && !given.is_empty()
        && given != name
    {
        return Err(StoreError::BadRequest(format!(
            "the name of the object ({given}) does not match the name on the URL ({name})"
        )));
    }
    if resource.info().namespaced
        && let Some(given) = meta.get("namespace").and_then(Value::as_str)
        && !given.is_empty()
        && given != previous.namespace
    {
        return Err(StoreError::BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request"
                .into(),
        ));
    }
    Ok(())
}

/// The object an update writes: a status update takes only the new status onto the old
/// object; an API write of the whole object keeps the old status when status is a subresource.
fn compose_update(
    resource: ResourceId,
    mut object: Value,
    old: &Value,
    part: Part,
    options: WriteOptions,
) -> Value {
    match part {
        Part::Status => {
            let mut merged = old.clone();
            if let Some(map) = merged.as_object_mut() {
                match object.get("status") {
                    Some(status) => map.insert("status".into(), status.clone()),
                    None => map.remove("status"),
                };
            }
            merged
        }
        Part::Whole => {
            if options.origin == Origin::Api
                && resource.info().status_subresource
                && let Some(map) = object.as_object_mut()
            {
                match old.get("status") {
                    Some(status) => map.insert("status".into(), status.clone()),
                    None => map.remove("status"),
                };
            }
            object
        }
    }
}

/// Copies the server-owned metadata from the old object (a load may set the deletion fields),
/// drops resourceVersion, and keeps managedFields unless the write sets them (a load drops them).
fn keep_server_metadata(meta: &mut Map<String, Value>, old_meta: &Value, options: WriteOptions) {
    for key in [
        "uid",
        "creationTimestamp",
        "namespace",
        "name",
        "generation",
    ] {
        match old_meta.get(key) {
            Some(value) => meta.insert(key.into(), value.clone()),
            None => meta.remove(key),
        };
    }
    for key in ["deletionTimestamp", "deletionGracePeriodSeconds"] {
        if options.origin != Origin::Load || meta.get(key).is_none() {
            match old_meta.get(key) {
                Some(value) => meta.insert(key.into(), value.clone()),
                None => meta.remove(key),
            };
        }
    }
    meta.remove("resourceVersion");
    // Field ownership (server-side apply): a write that leaves managedFields out keeps them.
    if options.origin == Origin::Load {
        meta.remove("managedFields");
    } else if !meta.contains_key("managedFields")
        && let Some(owned) = old_meta.get("managedFields")
    {
        meta.insert("managedFields".into(), owned.clone());
    }
}
