//! The resources the sandbox serves: a registry that discovery, routing, the store, OpenAPI and
//! the Table printer all read.
//!
//! Built-in resources come from one table derived from k8s-openapi's types (`builtin`): their
//! group, version, kind, plural and scope are the types' own constants, and each carries the
//! typed operations (decode check, unknown-field detection, schema) of its type. Custom
//! resources are registered at run time from CustomResourceDefinitions (`custom`); their
//! descriptions are interned process-wide, so a [`ResourceId`] is a small copyable number whose
//! [`info`](ResourceId::info) is always available, and each store keeps which of them it serves.

use std::fmt;

use serde_json::Value;

mod builtin;
mod convert;
pub(crate) mod custom;

pub use convert::convert;
pub use custom::{CustomInfo, PrinterColumn, ScalePaths};

/// A resource the sandbox serves: an index into the registry (and the store's buckets).
///
/// Built-in resources have associated constants named after them (`ResourceId::Pods`,
/// `ResourceId::ConfigMaps`, ...), usable as `match` patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceId(pub(crate) u16);

/// The typed operations of a built-in resource's k8s-openapi type.
#[derive(Clone, Copy)]
pub struct Typed {
    /// Decodes the object into the type (the error text on failure).
    pub decode: fn(&Value) -> Result<(), String>,
    /// The object decoded and re-encoded (unknown fields dropped), or None if it does not decode.
    pub round_trip: fn(&Value) -> Option<Value>,
    /// Adds the type's schema (and every schema it refers to) to a generator.
    pub schema: fn(&mut k8s_openapi::schemars::SchemaGenerator) -> k8s_openapi::schemars::Schema,
    /// The schema's name (`io.k8s.api.core.v1.Service`).
    pub schema_name: fn() -> std::borrow::Cow<'static, str>,
}

impl fmt::Debug for Typed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Typed")
    }
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
    /// The resource whose bucket holds these objects: itself, or the storage version of the
    /// same objects (autoscaling/v1 HorizontalPodAutoscalers are stored as autoscaling/v2).
    pub storage: ResourceId,
    /// The k8s-openapi type's operations (built-in resources).
    pub typed: Option<Typed>,
    /// What a CustomResourceDefinition says beyond the fields above (custom resources).
    pub custom: Option<&'static CustomInfo>,
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
    pub fn info(self) -> &'static ResourceInfo {
        let builtin = builtin::table();
        match builtin.get(self.index()) {
            Some(info) => info,
            None => custom::info(self.index() - builtin.len()),
        }
    }

    pub(crate) fn index(self) -> usize {
        usize::from(self.0)
    }

    /// Whether this is a built-in resource (not registered from a CustomResourceDefinition).
    pub fn is_builtin(self) -> bool {
        self.index() < builtin::table().len()
    }

    /// The built-in resource serving `kind` in `apiVersion` (`"v1"`, `"apps/v1"`).
    pub fn from_api_version_kind(api_version: &str, kind: &str) -> Option<ResourceId> {
        let (group, version) = split_api_version(api_version);
        builtin::table()
            .iter()
            .find(|r| r.group == group && r.version == version && r.kind == kind)
            .map(|r| r.id)
    }

    /// The built-in resource at `/api{s}/{group}/{version}/.../{plural}`.
    pub fn from_path(group: &str, version: &str, plural: &str) -> Option<ResourceId> {
        builtin::table()
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
            .map(|r| r.id)
    }

    /// The resource a k8s-openapi type is served as.
    pub fn of<K: k8s_openapi::Resource>() -> Option<ResourceId> {
        Self::from_path(K::GROUP, K::VERSION, K::URL_PATH_SEGMENT)
    }

    /// Every built-in resource, in registry order.
    pub fn builtins() -> impl Iterator<Item = ResourceId> {
        builtin::table().iter().map(|r| r.id)
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
        join_api_version(self.group, self.version)
    }

    pub fn list_kind(&self) -> String {
        match self.custom {
            Some(custom) => custom.list_kind.to_string(),
            None => format!("{}List", self.kind),
        }
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

/// `v1` for the core group, `group/version` otherwise.
pub fn join_api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// One served API group: its name and versions, the preferred one first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiGroup {
    pub name: &'static str,
    pub versions: Vec<&'static str>,
}

/// The API groups served under `/apis` for these resources (built-in groups first, in the
/// order a real API server lists them, then custom groups by name), each with its versions
/// ordered as Kubernetes prefers them (`v2` before `v1` before `v1beta1`).
pub fn api_groups(resources: impl IntoIterator<Item = ResourceId>) -> Vec<ApiGroup> {
    let mut groups: Vec<ApiGroup> = Vec::new();
    for id in resources {
        let info = id.info();
        if info.group.is_empty() {
            continue;
        }
        match groups.iter_mut().find(|g| g.name == info.group) {
            Some(group) if !group.versions.contains(&info.version) => {
                group.versions.push(info.version)
            }
            Some(_) => {}
            None => groups.push(ApiGroup {
                name: info.group,
                versions: vec![info.version],
            }),
        }
    }
    for group in &mut groups {
        group
            .versions
            .sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
    }
    let rank = |name: &str| {
        builtin::GROUP_ORDER
            .iter()
            .position(|g| *g == name)
            .unwrap_or(usize::MAX)
    };
    groups.sort_by(|a, b| rank(a.name).cmp(&rank(b.name)).then(a.name.cmp(b.name)));
    groups
}

/// Kubernetes' version ordering: GA above beta above alpha, higher numbers first; versions
/// that are not Kubernetes-like sort last (alphabetically, by the caller's stable sort).
pub fn version_priority(version: &str) -> (u8, u32, u32) {
    let Some(rest) = version.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let Ok(major) = digits.parse::<u32>() else {
        return (0, 0, 0);
    };
    let tail = &rest[digits.len()..];
    let (stage, number) = if tail.is_empty() {
        (3, "")
    } else if let Some(n) = tail.strip_prefix("beta") {
        (2, n)
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n)
    } else {
        return (0, 0, 0);
    };
    let minor = match stage {
        3 => 0,
        _ => match number.parse::<u32>() {
            Ok(n) => n,
            Err(_) => return (0, 0, 0),
        },
    };
    (stage, major, minor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{ConfigMap, Endpoints, Pod};
    use k8s_openapi::api::discovery::v1::EndpointSlice;

    #[test]
    fn table_is_indexed_by_id() {
        for id in ResourceId::ALL {
            assert_eq!(id.info().id, id);
            assert!(id.is_builtin());
        }
        assert_eq!(ResourceId::ALL.len(), ResourceId::builtins().count());
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
        assert_eq!(ResourceId::of::<ConfigMap>(), Some(ResourceId::ConfigMaps));
        assert_eq!(
            ResourceId::from_api_version_kind("apps/v1", "StatefulSet"),
            Some(ResourceId::StatefulSets)
        );
        assert_eq!(
            ResourceId::from_api_version_kind("example.com/v1", "Widget"),
            None
        );
    }

    #[test]
    fn built_in_facts_come_from_the_types() {
        let info = ResourceId::NetworkPolicies.info();
        assert_eq!(
            (
                info.group,
                info.version,
                info.kind,
                info.plural,
                info.singular
            ),
            (
                "networking.k8s.io",
                "v1",
                "NetworkPolicy",
                "networkpolicies",
                "networkpolicy"
            )
        );
        assert!(info.namespaced);
        assert!(!ResourceId::ClusterRoles.info().namespaced);
        assert_eq!(ResourceId::ReplicaSets.info().short_names, ["rs"]);
    }

    #[test]
    fn the_all_category_is_what_kubectl_get_all_shows() {
        let mut all: Vec<&str> = ResourceId::builtins()
            .map(ResourceId::info)
            .filter(|i| i.categories.contains(&"all"))
            .map(|i| i.plural)
            .collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(
            all,
            [
                "cronjobs",
                "daemonsets",
                "deployments",
                "horizontalpodautoscalers",
                "jobs",
                "pods",
                "replicasets",
                "replicationcontrollers",
                "services",
                "statefulsets"
            ]
        );
    }

    #[test]
    fn groups_prefer_the_newest_version() {
        let groups = api_groups(ResourceId::builtins());
        let autoscaling = groups
            .iter()
            .find(|g| g.name == "autoscaling")
            .expect("served");
        assert_eq!(autoscaling.versions, ["v2", "v1"]);
        assert_eq!(groups[0].name, "apiregistration.k8s.io");
        let mut versions = vec!["v1alpha1", "v1", "v2beta1", "v1beta2", "v2", "foo"];
        versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        assert_eq!(
            versions,
            ["v2", "v1", "v2beta1", "v1beta2", "v1alpha1", "foo"]
        );
    }

    #[test]
    fn v1_autoscalers_are_stored_as_v2() {
        let v1 =
            ResourceId::from_path("autoscaling", "v1", "horizontalpodautoscalers").expect("served");
        assert_eq!(v1.info().storage, ResourceId::HorizontalPodAutoscalers);
        assert_eq!(ResourceId::HorizontalPodAutoscalers.info().version, "v2");
    }
}
