//! The resources the sandbox serves: one static table that discovery, routing, the store and
//! the Table printer all read, so adding a kind is one entry here (plus its Table columns).

use std::fmt;

/// A resource the sandbox serves. The discriminant indexes the store's buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceId {
    Namespaces,
    Nodes,
    Pods,
    Services,
    Endpoints,
    EndpointSlices,
    Ingresses,
    Deployments,
    StatefulSets,
    Events,
    IngressClasses,
    ReplicaSets,
    DaemonSets,
    Jobs,
    ReplicationControllers,
}

/// Static facts about a served resource (what discovery documents say about it).
#[derive(Debug)]
pub struct ResourceInfo {
    pub id: ResourceId,
    /// API group; "" for the core group.
    pub group: &'static str,
    pub version: &'static str,
    /// The plural resource name used in paths (`pods`).
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    /// Has a `/status` subresource: writes to the main resource keep the stored status.
    pub status_subresource: bool,
    /// Has a `/scale` subresource (autoscaling/v1 Scale).
    pub scale_subresource: bool,
    /// Derived by the sandbox; API clients may read but not write it.
    pub read_only: bool,
    /// `metadata.generation` is kept and bumped when anything but metadata and status changes.
    pub tracks_generation: bool,
    /// Field selector labels beyond `metadata.name` / `metadata.namespace`.
    pub selectable_fields: &'static [&'static str],
}

const READ_WRITE_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const READ_ONLY_VERBS: &[&str] = &["get", "list", "watch"];

impl ResourceId {
    pub const ALL: [ResourceId; 15] = [
        ResourceId::Namespaces,
        ResourceId::Nodes,
        ResourceId::Pods,
        ResourceId::Services,
        ResourceId::Endpoints,
        ResourceId::EndpointSlices,
        ResourceId::Ingresses,
        ResourceId::Deployments,
        ResourceId::StatefulSets,
        ResourceId::Events,
        ResourceId::IngressClasses,
        ResourceId::ReplicaSets,
        ResourceId::DaemonSets,
        ResourceId::Jobs,
        ResourceId::ReplicationControllers,
    ];

    pub fn info(self) -> &'static ResourceInfo {
        &RESOURCES[self as usize]
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The resource serving `kind` in `apiVersion` (`"v1"`, `"apps/v1"`).
    pub fn from_api_version_kind(api_version: &str, kind: &str) -> Option<ResourceId> {
        let (group, version) = split_api_version(api_version);
        RESOURCES
            .iter()
            .find(|r| r.group == group && r.version == version && r.kind == kind)
            .map(|r| r.id)
    }

    /// The resource at `/api{s}/{group}/{version}/.../{plural}`.
    pub fn from_path(group: &str, version: &str, plural: &str) -> Option<ResourceId> {
        RESOURCES
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
            .map(|r| r.id)
    }

    /// The resource a k8s-openapi type is served as.
    pub fn of<K: k8s_openapi::Resource>() -> Option<ResourceId> {
        Self::from_path(K::GROUP, K::VERSION, K::URL_PATH_SEGMENT)
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.info().plural)
    }
}

impl ResourceInfo {
    /// `v1` for the core group, `group/version` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    pub fn verbs(&self) -> &'static [&'static str] {
        if self.read_only {
            READ_ONLY_VERBS
        } else {
            READ_WRITE_VERBS
        }
    }

    /// `group/resource` as error messages spell it (`services`, `deployments.apps`).
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Whether `label` may appear in a field selector for this resource.
    pub fn field_selectable(&self, label: &str) -> bool {
        label == "metadata.name"
            || label == "metadata.namespace"
            || self.selectable_fields.contains(&label)
    }

    /// The subresources discovery lists for this resource: (name, kind, group, version, verbs).
    pub fn subresources(&self) -> Vec<Subresource> {
        let mut out = Vec::new();
        if self.status_subresource {
            out.push(Subresource {
                name: "status",
                kind: self.kind,
                group: None,
                version: None,
                verbs: &["get", "patch", "update"],
            });
        }
        if self.scale_subresource {
            out.push(Subresource {
                name: "scale",
                kind: "Scale",
                group: Some("autoscaling"),
                version: Some("v1"),
                verbs: &["get", "patch", "update"],
            });
        }
        if self.id == ResourceId::Pods {
            out.push(Subresource {
                name: "portforward",
                kind: "PodPortForwardOptions",
                group: None,
                version: None,
                verbs: &["create", "get"],
            });
        }
        out
    }
}

/// A subresource as discovery documents describe it.
#[derive(Debug, Clone)]
pub struct Subresource {
    pub name: &'static str,
    pub kind: &'static str,
    pub group: Option<&'static str>,
    pub version: Option<&'static str>,
    pub verbs: &'static [&'static str],
}

/// `("", "v1")` for `v1`, `("apps", "v1")` for `apps/v1`.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

/// The API groups served under `/apis`, in discovery order, each with its one version.
pub const GROUPS: &[(&str, &str)] = &[
    ("apps", "v1"),
    ("batch", "v1"),
    ("discovery.k8s.io", "v1"),
    ("networking.k8s.io", "v1"),
];

/// Every served resource, indexed by [`ResourceId`].
pub static RESOURCES: [ResourceInfo; 15] = [
    ResourceInfo {
        id: ResourceId::Namespaces,
        group: "",
        version: "v1",
        plural: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        short_names: &["ns"],
        categories: &[],
        status_subresource: true,
        scale_subresource: false,
        read_only: false,
        tracks_generation: false,
        selectable_fields: &["status.phase"],
    },
    ResourceInfo {
        id: ResourceId::Nodes,
        group: "",
        version: "v1",
        plural: "nodes",
        singular: "node",
        kind: "Node",
        namespaced: false,
        short_names: &["no"],
        categories: &[],
        status_subresource: true,
        scale_subresource: false,
        read_only: false,
        tracks_generation: false,
        selectable_fields: &["spec.unschedulable"],
    },
    ResourceInfo {
        id: ResourceId::Pods,
        group: "",
        version: "v1",
        plural: "pods",
        singular: "pod",
        kind: "Pod",
        namespaced: true,
        short_names: &["po"],
        categories: &["all"],
        status_subresource: true,
        scale_subresource: false,
        read_only: false,
        tracks_generation: true,
        selectable_fields: &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
    },
    ResourceInfo {
        id: ResourceId::Services,
        group: "",
        version: "v1",
        plural: "services",
        singular: "service",
        kind: "Service",
        namespaced: true,
        short_names: &["svc"],
        categories: &["all"],
        status_subresource: true,
        scale_subresource: false,
        read_only: false,
        tracks_generation: true,
        selectable_fields: &["spec.clusterIP", "spec.type"],
    },
    ResourceInfo {
        id: ResourceId::Endpoints,
        group: "",
        version: "v1",
        plural: "endpoints",
        singular: "endpoints",
        kind: "Endpoints",
        namespaced: true,
        short_names: &["ep"],
        categories: &[],
        status_subresource: false,
        scale_subresource: false,
        read_only: true,
        tracks_generation: false,
        selectable_fields: &[],
    },
    ResourceInfo {
        id: ResourceId::EndpointSlices,
        group: "discovery.k8s.io",
        version: "v1",
        plural: "endpointslices",
        singular: "endpointslice",
        kind: "EndpointSlice",
        namespaced: true,
        short_names: &[],
        categories: &[],
        status_subresource: false,
        scale_subresource: false,
        read_only: false,
        tracks_generation: false,
        selectable_fields: &["addressType"],
    },
    ResourceInfo {
        id: ResourceId::Ingresses,
        group: "networking.k8s.io",
        version: "v1",
        plural: "ingresses",
        singular: "ingress",
        kind: "Ingress",
        namespaced: true,
        short_names: &["ing"],
        categories: &[],
        status_subresource: true,
        scale_subresource: false,
        read_only: false,
        tracks_generation: true,
        selectable_fields: &[],
    },
    ResourceInfo {
        id: ResourceId::Deployments,
        group: "apps",
        version: "v1",
        plural: "deployments",
        singular: "deployment",
        kind: "Deployment",
        namespaced: true,
        short_names: &["deploy"],
        categories: &["all"],
        status_subresource: true,
        scale_subresource: true,
        read_only: false,
        tracks_generation: true,
        selectable_fields: &[],
    },
    ResourceInfo {
        id: ResourceId::StatefulSets,
        group: "apps",
        version: "v1",
        plural: "statefulsets",
        singular: "statefulset",
        kind: "StatefulSet",
        namespaced: true,
        short_names: &["sts"],
        categories: &["all"],
        status_subresource: true,
        scale_subresource: true,
        read_only: false,
        tracks_generation: true,
        selectable_fields: &[],
    },
    ResourceInfo {
        id: ResourceId::Events,
        group: "",
        version: "v1",
        plural: "events",
        singular: "event",
        kind: "Event",
        namespaced: true,
        short_names: &["ev"],
        categories: &[],
        status_subresource: false,
        scale_subresource: false,
        read_only: false,
        tracks_generation: false,
        selectable_fields: &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
    },
    ResourceInfo {
        id: ResourceId::IngressClasses,
        group: "networking.k8s.io",
        version: "v1",
        plural: "ingressclasses",
        singular: "ingressclass",
        kind: "IngressClass",
        namespaced: false,
        short_names: &[],
        categories: &[],
        status_subresource: false,
        scale_subresource: false,
        read_only: false,
        tracks_generation: true,
        selectable_fields: &[],
    },
    ResourceInfo {
        id: ResourceId::ReplicaSets,
        group: "apps",
        version: "v1",
        plural: "replicasets",
        singular: "replicaset",
        kind: "ReplicaSet",
        namespaced: true,
        short_names: &["rs"],
        categories: &["all"],
        status_subresource: true,
        scale_subresource: true,
        read_only: false,
        tracks_generation: true,
        selectable_fields: &["status.replicas"],
    },
    ResourceInfo {
        id: ResourceId::DaemonSets,
        group: "apps",
        version: "v1",
        plural: "daemonsets",
        singular: "daemonset",
        kind: "DaemonSet",
        namespaced: true,
        short_names: &["ds"],
        categories: &["all"],
        status_subresource: true,
        scale_subresource: false,
        read_only: false,
        tracks_generation: true,
        selectable_fields: &[],
    },
    ResourceInfo {
        id: ResourceId::Jobs,
        group: "batch",
        version: "v1",
        plural: "jobs",
        singular: "job",
        kind: "Job",
        namespaced: true,
        short_names: &[],
        categories: &["all"],
        status_subresource: true,
        scale_subresource: false,
        read_only: false,
        tracks_generation: true,
        selectable_fields: &["status.successful"],
    },
    ResourceInfo {
        id: ResourceId::ReplicationControllers,
        group: "",
        version: "v1",
        plural: "replicationcontrollers",
        singular: "replicationcontroller",
        kind: "ReplicationController",
        namespaced: true,
        short_names: &["rc"],
        categories: &["all"],
        status_subresource: true,
        scale_subresource: true,
        read_only: false,
        tracks_generation: true,
        selectable_fields: &["status.replicas"],
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{Endpoints, Pod};
    use k8s_openapi::api::discovery::v1::EndpointSlice;

    #[test]
    fn table_is_indexed_by_id() {
        for id in ResourceId::ALL {
            assert_eq!(id.info().id, id);
        }
    }

    #[test]
    fn typed_resources_map_to_served_ones() {
        assert_eq!(ResourceId::of::<Pod>(), Some(ResourceId::Pods));
        assert_eq!(ResourceId::of::<Endpoints>(), Some(ResourceId::Endpoints));
        assert_eq!(
            ResourceId::of::<EndpointSlice>(),
            Some(ResourceId::EndpointSlices)
        );
        assert_eq!(
            ResourceId::of::<Deployment>(),
            Some(ResourceId::Deployments)
        );
        assert_eq!(
            ResourceId::from_api_version_kind("apps/v1", "StatefulSet"),
            Some(ResourceId::StatefulSets)
        );
        assert_eq!(ResourceId::from_api_version_kind("v1", "ConfigMap"), None);
    }
}
