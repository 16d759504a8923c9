//! What discovery says about the verbs' resources, in one small list: `pods/log`,
//! `pods/exec`, and the authorization.k8s.io/v1 reviews. Rendered for the plain
//! (`APIResourceList`) documents and for aggregated discovery (`APIGroupDiscovery`
//! resources and subresources), as a real API server lists them.

use serde_json::{Value, json};

/// A served resource or subresource that is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Listed {
    pub group: &'static str,
    pub version: &'static str,
    /// `pods/log` for a subresource, `selfsubjectaccessreviews` for a resource.
    pub name: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub verbs: &'static [&'static str],
}

/// Groups (and their one version) that exist only for these resources.
pub(crate) const GROUPS: &[(&str, &str)] = &[("authorization.k8s.io", "v1")];

pub(crate) const LISTED: &[Listed] = &[
    Listed {
        group: "",
        version: "v1",
        name: "pods/exec",
        singular: "",
        kind: "PodExecOptions",
        namespaced: true,
        verbs: &["create", "get"],
    },
    Listed {
        group: "",
        version: "v1",
        name: "pods/log",
        singular: "",
        kind: "Pod",
        namespaced: true,
        verbs: &["get"],
    },
    Listed {
        group: "authorization.k8s.io",
        version: "v1",
        name: "selfsubjectaccessreviews",
        singular: "selfsubjectaccessreview",
        kind: "SelfSubjectAccessReview",
        namespaced: false,
        verbs: &["create"],
    },
    Listed {
        group: "authorization.k8s.io",
        version: "v1",
        name: "selfsubjectrulesreviews",
        singular: "selfsubjectrulesreview",
        kind: "SelfSubjectRulesReview",
        namespaced: false,
        verbs: &["create"],
    },
];

fn of(group: &str, version: &str) -> impl Iterator<Item = &'static Listed> {
    LISTED
        .iter()
        .filter(move |l| l.group == group && l.version == version)
}

/// `APIResourceList` entries for `group/version` (resources and subresources).
pub(crate) fn plain(group: &str, version: &str) -> Vec<Value> {
    of(group, version)
        .map(|l| {
            json!({
                "name": l.name,
                "singularName": l.singular,
                "namespaced": l.namespaced,
                "kind": l.kind,
                "verbs": l.verbs,
            })
        })
        .collect()
}

/// Aggregated-discovery resources of `group/version` (not subresources).
// Not served yet: for the aggregated discovery documents when they are.
#[allow(dead_code)]
pub(crate) fn aggregated_resources(group: &str, version: &str) -> Vec<Value> {
    of(group, version)
        .filter(|l| !l.name.contains('/'))
        .map(|l| {
            json!({
                "resource": l.name,
                "responseKind": {"group": l.group, "version": l.version, "kind": l.kind},
                "scope": if l.namespaced { "Namespaced" } else { "Cluster" },
                "singularResource": l.singular,
                "verbs": l.verbs,
            })
        })
        .collect()
}

/// Aggregated-discovery subresources of `parent` (`pods`) in `group/version`.
// Not served yet: for the aggregated discovery documents when they are.
#[allow(dead_code)]
pub(crate) fn aggregated_subresources(group: &str, version: &str, parent: &str) -> Vec<Value> {
    of(group, version)
        .filter_map(|l| {
            let (owner, sub) = l.name.split_once('/')?;
            (owner == parent).then(|| {
                json!({
                    "subresource": sub,
                    "responseKind": {"group": "", "version": "v1", "kind": l.kind},
                    "verbs": l.verbs,
                })
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_list_log_and_exec_and_the_reviews_have_their_group() {
        let names: Vec<Value> = plain("", "v1")
            .into_iter()
            .map(|e| e["name"].clone())
            .collect();
        assert_eq!(names, [json!("pods/exec"), json!("pods/log")]);
        let reviews = aggregated_resources("authorization.k8s.io", "v1");
        assert_eq!(reviews.len(), 2);
        assert_eq!(reviews[0]["scope"], "Cluster");
        let subs = aggregated_subresources("", "v1", "pods");
        assert_eq!(subs[1]["subresource"], "log");
        assert!(aggregated_subresources("", "v1", "services").is_empty());
    }
}
