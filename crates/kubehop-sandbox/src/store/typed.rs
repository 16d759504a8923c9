//! Typed helpers: the store API in k8s-openapi types.

use super::*;

impl Store {
    // -----------------------------------------------------------------------------------------
    // Typed helpers (k8s-openapi types)

    /// One object decoded as `K`; `namespace` is ignored for cluster-scoped kinds.
    pub fn get<K>(&self, namespace: &str, name: &str) -> Result<Option<K>, StoreError>
    where
        K: k8s_openapi::Resource + DeserializeOwned,
    {
        let resource = served::<K>()?;
        let namespace = scope_namespace(resource, namespace);
        self.get_object(resource, namespace, name)
            .map(|o| decode(&o))
            .transpose()
    }

    /// Every object of kind `K` (in one namespace or all), decoded.
    pub fn list<K>(&self, namespace: Option<&str>) -> Result<Vec<K>, StoreError>
    where
        K: k8s_openapi::Resource + DeserializeOwned,
    {
        let resource = served::<K>()?;
        self.list_objects(resource, namespace)
            .0
            .iter()
            .map(|o| decode(o))
            .collect()
    }

    /// Creates `object` as a controller (status kept, full admission).
    pub fn create<K>(&self, object: &K) -> Result<K, StoreError>
    where
        K: k8s_openapi::Resource + Serialize + DeserializeOwned,
    {
        let resource = served::<K>()?;
        let value = to_value(object)?;
        let stored = self.create_object(resource, value, WriteOptions::controller())?;
        decode(&stored)
    }

    /// Replaces `object` as a controller (its resourceVersion, if set, must match).
    pub fn replace<K>(&self, object: &K) -> Result<K, StoreError>
    where
        K: k8s_openapi::Resource + Serialize + DeserializeOwned,
    {
        let resource = served::<K>()?;
        let value = to_value(object)?;
        let stored =
            self.update_object(resource, value, Part::Whole, WriteOptions::controller())?;
        decode(&stored)
    }

    /// Read-modify-write of one typed object as a controller.
    pub fn modify<K>(
        &self,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&mut K),
    ) -> Result<K, StoreError>
    where
        K: k8s_openapi::Resource + Serialize + DeserializeOwned,
    {
        let resource = served::<K>()?;
        let namespace = scope_namespace(resource, namespace);
        let stored = self.modify_object(
            resource,
            namespace,
            name,
            Part::Whole,
            WriteOptions::controller(),
            |value| {
                let mut typed: K = K::deserialize(&*value).map_err(|e| {
                    StoreError::Internal(format!("stored object does not decode: {e}"))
                })?;
                change(&mut typed);
                *value = to_value(&typed)?;
                if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.remove("resourceVersion");
                }
                Ok(())
            },
        )?;
        decode(&stored)
    }

    /// Merges `status` (a JSON merge patch of `.status`) into one object's status.
    pub fn apply_status<K>(
        &self,
        namespace: &str,
        name: &str,
        status: &Value,
    ) -> Result<K, StoreError>
    where
        K: k8s_openapi::Resource + DeserializeOwned,
    {
        let resource = served::<K>()?;
        let namespace = scope_namespace(resource, namespace);
        let stored = self.modify_object(
            resource,
            namespace,
            name,
            Part::Status,
            WriteOptions::controller(),
            |value| {
                if let Some(map) = value.as_object_mut() {
                    let current = map.entry("status").or_insert_with(|| json!({}));
                    json_patch::merge(current, status);
                }
                Ok(())
            },
        )?;
        decode(&stored)
    }

    /// Every object the engine reads, decoded, as one consistent [`ClusterSnapshot`].
    pub fn cluster_snapshot(&self, generation: u64) -> Result<ClusterSnapshot, StoreError> {
        let [
            services,
            slices,
            pods,
            nodes,
            ingresses,
            namespaces,
            classes,
            policies,
        ] = {
            let state = self.read();
            [
                ResourceId::Services,
                ResourceId::EndpointSlices,
                ResourceId::Pods,
                ResourceId::Nodes,
                ResourceId::Ingresses,
                ResourceId::Namespaces,
                ResourceId::IngressClasses,
                ResourceId::NetworkPolicies,
            ]
            .map(|r| state.scope(r, None).cloned().collect::<Vec<_>>())
        };
        fn decode_all<K: DeserializeOwned>(
            objects: &[Arc<StoredObject>],
        ) -> Result<Vec<Arc<K>>, StoreError> {
            objects.iter().map(|o| decode(o).map(Arc::new)).collect()
        }
        let mut interner = kubehop_engine::objects::Interner::new();
        Ok(ClusterSnapshot {
            generation,
            services: decode_all(&services)?,
            endpoint_slices: kubehop_engine::objects::SliceInfo::compact_all(
                slices
                    .iter()
                    .map(|slice| decode::<k8s_openapi::api::discovery::v1::EndpointSlice>(slice))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            pods: {
                // The data plane reads the pods' probes and annotations: keep the objects.
                Arc::new(
                    decode_all::<k8s_openapi::api::core::v1::Pod>(&pods)?
                        .into_iter()
                        .map(|pod| {
                            Arc::new(kubehop_engine::objects::PodInfo::keeping(
                                pod,
                                &mut interner,
                            ))
                        })
                        .collect::<Vec<_>>(),
                )
            },
            nodes: decode_all(&nodes)?,
            ingresses: decode_all(&ingresses)?,
            namespaces: decode_all(&namespaces)?,
            ingress_classes: decode_all(&classes)?,
            network_policies: decode_all(&policies)?,
            gateway_api: crate::gateway::objects::typed(self),
            missing: Vec::new(),
        })
    }

    /// Deletes one object of kind `K`.
    pub fn delete<K>(
        &self,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<DeleteOutcome, StoreError>
    where
        K: k8s_openapi::Resource,
    {
        let resource = served::<K>()?;
        let namespace = scope_namespace(resource, namespace);
        self.delete_object(resource, namespace, name, options)
    }
}
