//! Discovery documents (`/version`, `/api`, `/apis`, resource lists). Plain (non-aggregated)
//! documents: kubectl and kube-rs fall back to them when asked-for aggregated discovery is
//! answered with `application/json`.

use serde_json::{Value, json};

use crate::resources::{ApiGroup, ResourceId, ResourceInfo, api_groups, join_api_version};

/// The Kubernetes version the sandbox reports (the k8s-openapi feature it is built against).
pub(crate) const MAJOR: &str = "1";
pub(crate) const MINOR: &str = "37";

pub(crate) fn version() -> Value {
    json!({
        "major": MAJOR,
        "minor": MINOR,
        "emulationMajor": MAJOR,
        "emulationMinor": MINOR,
        "minCompatibilityMajor": MAJOR,
        "minCompatibilityMinor": "36",
        "gitVersion": format!("v{MAJOR}.{MINOR}.0+kubehop-sandbox"),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.25",
        "compiler": "gc",
        "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
    })
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

pub(crate) fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_document(group: &ApiGroup) -> Value {
    let versions: Vec<Value> = group
        .versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{}/{v}", group.name), "version": v}))
        .collect();
    json!({
        "name": group.name,
        "preferredVersion": versions.first().cloned().unwrap_or(Value::Null),
        "versions": versions,
    })
}

/// Every served resource: the built-in ones and `custom` (the store's custom resources).
fn served(custom: &[ResourceId]) -> impl Iterator<Item = ResourceId> + '_ {
    ResourceId::builtins().chain(custom.iter().copied())
}

pub(crate) fn groups(custom: &[ResourceId]) -> Value {
    json!({
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": api_groups(served(custom))
            .into_iter()
            .chain(verb_groups())
            .map(|group| group_document(&group))
            .collect::<Vec<_>>(),
    })
}

/// Groups that only serve create-only reviews (not stored, so not in the registry).
fn verb_groups() -> impl Iterator<Item = ApiGroup> {
    super::verbs::listing::GROUPS
        .iter()
        .map(|(name, version)| ApiGroup {
            name,
            versions: vec![version],
        })
}

pub(crate) fn group(name: &str, custom: &[ResourceId]) -> Value {
    let group = api_groups(served(custom).filter(|r| r.info().group == name))
        .into_iter()
        .chain(verb_groups().filter(|g| g.name == name))
        .next()
        .unwrap_or(ApiGroup {
            name: "",
            versions: Vec::new(),
        });
    let mut document = group_document(&group);
    document["kind"] = json!("APIGroup");
    document["apiVersion"] = json!("v1");
    document
}

fn resource_entry(info: &ResourceInfo) -> Value {
    let mut entry = json!({
        "name": info.plural,
        "singularName": info.singular,
        "namespaced": info.namespaced,
        "kind": info.kind,
        "verbs": info.verbs(),
    });
    if !info.short_names.is_empty() {
        entry["shortNames"] = json!(info.short_names);
    }
    if !info.categories.is_empty() {
        entry["categories"] = json!(info.categories);
    }
    entry
}

pub(crate) fn resources(group: &str, version: &str, custom: &[ResourceId]) -> Value {
    let mut entries = Vec::new();
    for info in served(custom)
        .map(ResourceId::info)
        .filter(|r| r.group == group && r.version == version)
    {
        entries.push(resource_entry(info));
        for sub in info.subresources() {
            let mut entry = json!({
                "name": format!("{}/{}", info.plural, sub.name),
                "singularName": "",
                "namespaced": info.namespaced,
                "kind": sub.kind,
                "verbs": sub.verbs,
            });
            if let (Some(g), Some(v)) = (sub.group, sub.version) {
                entry["group"] = json!(g);
                entry["version"] = json!(v);
            }
            entries.push(entry);
        }
    }
    entries.extend(super::verbs::listing::plain(group, version));
    let group_version = join_api_version(group, version);
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_resource_list_names_subresources() {
        let list = resources("", "v1", &[]);
        let names: Vec<&str> = list["resources"]
            .as_array()
            .expect("array")
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        for expected in [
            "pods",
            "pods/status",
            "pods/portforward",
            "services",
            "endpoints",
            "nodes",
            "namespaces",
            "events",
        ] {
            assert!(names.contains(&expected), "{expected} in {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("endpointslices")));
    }

    #[test]
    fn scale_subresource_points_at_autoscaling() {
        let list = resources("apps", "v1", &[]);
        let scale = list["resources"]
            .as_array()
            .expect("array")
            .iter()
            .find(|r| r["name"] == "deployments/scale")
            .expect("listed");
        assert_eq!(scale["group"], "autoscaling");
        assert_eq!(scale["kind"], "Scale");
    }
}
