//! CustomResourceDefinitions in the store: storing a CRD registers its served versions (and
//! writes the status a real API server's CRD controllers write); deleting it deletes its
//! objects. Which custom resources a store serves is kept under its lock.

use super::*;
use crate::resources::{custom, split_api_version};

impl Store {
    /// The custom resources this store serves (every CRD's served versions).
    pub fn custom_resources(&self) -> Vec<ResourceId> {
        self.read().custom_resources().collect()
    }

    /// The resource at `/api{s}/{group}/{version}/.../{plural}`: built-in, or served by one of
    /// this store's CRDs.
    pub fn resource_at(&self, group: &str, version: &str, plural: &str) -> Option<ResourceId> {
        ResourceId::from_path(group, version, plural).or_else(|| {
            self.read().custom_resources().find(|id| {
                let info = id.info();
                info.group == group && info.version == version && info.plural == plural
            })
        })
    }

    /// The resource serving `kind` in `apiVersion`: built-in, or served by one of this store's
    /// CRDs.
    pub fn resource_for_kind(&self, api_version: &str, kind: &str) -> Option<ResourceId> {
        ResourceId::from_api_version_kind(api_version, kind).or_else(|| {
            let (group, version) = split_api_version(api_version);
            self.read().custom_resources().find(|id| {
                let info = id.info();
                info.group == group && info.version == version && info.kind == kind
            })
        })
    }

    /// Before a CRD is stored: registers its resources (a 422 if it serves none) and sets its
    /// status; objects move along if the storage version changed.
    pub(super) fn prepare_crd(
        &self,
        state: &mut State,
        object: &mut Value,
        previous: Option<&StoredObject>,
    ) -> Result<(), StoreError> {
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let ids = custom::register_crd(object).map_err(|cause| StoreError::Invalid {
            resource: ResourceId::CustomResourceDefinitions,
            name: name.clone(),
            causes: vec![cause],
        })?;
        let previous_status = previous
            .map(|p| p.value())
            .and_then(|v| v.get("status").cloned());
        let status = custom::crd_status(object, previous_status.as_ref(), &format_time(self.now()));
        if let Some(map) = object.as_object_mut() {
            map.insert("status".into(), status);
        }
        let old_storage = state.crds.get(&name).and_then(|ids| ids.first().copied());
        if let Some(old) = old_storage
            && old != ids[0]
        {
            move_objects(state, old, ids[0])?;
        }
        state.crds.insert(name, ids);
        Ok(())
    }

    /// After a CRD left the store: its objects go too, and its resources are no longer served.
    pub(super) fn crd_removed(
        &self,
        state: &mut State,
        crd: &StoredObject,
    ) -> Result<(), StoreError> {
        let Some(ids) = state.crds.remove(crd.name()) else {
            return Ok(());
        };
        let objects: Vec<Arc<StoredObject>> = state.bucket(ids[0]).values().cloned().collect();
        for object in objects {
            if state
                .get(object.resource, &object.namespace, &object.name)
                .is_some()
            {
                self.remove_locked(state, &[], &object, Propagation::Background)?;
            }
        }
        Ok(())
    }
}

/// Moves every object of `from` into `to` (a CRD changed its storage version): the objects
/// are rewritten with the new apiVersion, as a storage migration would.
fn move_objects(state: &mut State, from: ResourceId, to: ResourceId) -> Result<(), StoreError> {
    let objects = std::mem::take(state.bucket_mut(from));
    let api_version = to.info().api_version();
    for (key, object) in objects {
        let mut value = object.value();
        if let Some(map) = value.as_object_mut() {
            map.insert("apiVersion".into(), json!(api_version));
        }
        let moved = Arc::new(StoredObject::from_value(to, &value)?);
        state.bucket_mut(to).insert(key, moved);
    }
    Ok(())
}
