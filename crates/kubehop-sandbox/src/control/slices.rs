//! The EndpointSlice controller: the engine says which slices a Service should have
//! ([`desired_endpoint_slices`]); this writes the difference. Slices are matched by name and
//! updated in place; when the slices in the store already say the same thing (same address
//! type, ports, endpoints and labels, whatever their names), nothing is written.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::{Controller, Key};
use crate::resources::ResourceId;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{DeleteOptions, StoreError};
use kubehop_engine::endpointslice::{
    CONTROLLER_NAME, MANAGED_BY_LABEL, SERVICE_NAME_LABEL, desired_endpoint_slices,
};

/// What a slice says, independent of its name and bookkeeping metadata.
fn content(slice: &EndpointSlice) -> String {
    let mut ports: Vec<String> = slice
        .ports
        .iter()
        .flatten()
        .map(|p| serde_json::to_string(p).unwrap_or_default())
        .collect();
    ports.sort();
    let mut endpoints: Vec<String> = slice
        .endpoints
        .iter()
        .flatten()
        .map(|e| serde_json::to_string(e).unwrap_or_default())
        .collect();
    endpoints.sort();
    let labels = serde_json::to_string(&slice.metadata.labels).unwrap_or_default();
    format!(
        "{}|{}|{}|{}",
        slice.address_type,
        ports.join(","),
        endpoints.join(","),
        labels
    )
}

fn selector(pairs: &[(&str, &str)]) -> LabelSelector {
    let text: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    LabelSelector::parse(&text.join(",")).unwrap_or_default()
}

fn decode<K: serde::de::DeserializeOwned>(
    objects: &[std::sync::Arc<crate::store::StoredObject>],
) -> Vec<K> {
    objects.iter().filter_map(|o| o.decode().ok()).collect()
}

pub(super) fn reconcile(c: &mut Controller, key: &Key) -> Result<(), StoreError> {
    let Some(service) = c.store.get::<Service>(&key.0, &key.1)? else {
        c.slice_managed.remove(key);
        return Ok(());
    };
    c.slice_managed.insert(key.clone());
    let Some(pairs) = service
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .filter(|s| !s.is_empty())
    else {
        // Rule A1: selectorless Services keep whatever slices someone wrote.
        return Ok(());
    };
    if service.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("ExternalName") {
        return Ok(());
    }
    let pair_list: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (pod_objects, _) = c.store.select_objects(
        ResourceId::Pods,
        Some(&key.0),
        &selector(&pair_list),
        &FieldSelector::default(),
    );
    let pods: Vec<Pod> = decode(&pod_objects);
    let mut interner = kubehop_engine::objects::Interner::new();
    let infos: Vec<kubehop_engine::objects::PodInfo> = pods
        .iter()
        .map(|pod| kubehop_engine::objects::PodInfo::from_pod(pod, &mut interner))
        .collect();
    let pod_refs: Vec<&kubehop_engine::objects::PodInfo> = infos.iter().collect();
    let table = c.node_table();
    let desired = desired_endpoint_slices(&service, &pod_refs, table.as_ref());

    let existing = managed_slices(c, key);
    let mut have: Vec<String> = existing.iter().map(content).collect();
    let mut want: Vec<String> = desired.iter().map(content).collect();
    have.sort();
    want.sort();
    if have == want {
        return Ok(());
    }
    write_slices(c, key, &existing, &desired)
}

/// The EndpointSlices this controller manages for the Service.
fn managed_slices(c: &Controller, key: &Key) -> Vec<EndpointSlice> {
    let (slice_objects, _) = c.store.select_objects(
        ResourceId::EndpointSlices,
        Some(&key.0),
        &selector(&[
            (SERVICE_NAME_LABEL, key.1.as_str()),
            (MANAGED_BY_LABEL, CONTROLLER_NAME),
        ]),
        &FieldSelector::default(),
    );
    decode::<EndpointSlice>(&slice_objects)
        .into_iter()
        .filter(|slice| {
            let labels = slice.metadata.labels.as_ref();
            let get = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
            get(SERVICE_NAME_LABEL) == Some(key.1.as_str())
                && get(MANAGED_BY_LABEL) == Some(CONTROLLER_NAME)
        })
        .collect()
}

/// Writes the desired slices over the existing ones: create and update first, delete last,
/// so a Service never passes through "no slices".
fn write_slices(
    c: &mut Controller,
    key: &Key,
    existing: &[EndpointSlice],
    desired: &[EndpointSlice],
) -> Result<(), StoreError> {
    let existing_names: BTreeSet<String> = existing
        .iter()
        .filter_map(|s| s.metadata.name.clone())
        .collect();
    let desired_names: BTreeSet<String> = desired
        .iter()
        .filter_map(|s| s.metadata.name.clone())
        .collect();
    for slice in desired {
        let name = slice.metadata.name.clone().unwrap_or_default();
        if existing_names.contains(&name) {
            c.store.replace(slice)?;
        } else {
            match c.store.create(slice) {
                Ok(_) => {}
                // A slice of that name that another writer owns: take it over.
                Err(StoreError::AlreadyExists { .. }) => {
                    c.store.replace(slice)?;
                }
                Err(err) => return Err(err),
            }
        }
    }
    for name in existing_names.difference(&desired_names) {
        match c.store.delete_object(
            ResourceId::EndpointSlices,
            &key.0,
            name,
            &DeleteOptions::default(),
        ) {
            Ok(_) | Err(StoreError::NotFound { .. }) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}
