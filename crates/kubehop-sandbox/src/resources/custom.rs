//! Custom resources: what a CustomResourceDefinition (apiextensions.k8s.io/v1) makes the
//! sandbox serve, one registered resource per served version.
//!
//! Ids are interned process-wide by (group, version, plural), so a CRD that is updated (a
//! printer column added) keeps its resources' ids and their stored objects; the description an
//! id resolves to is the latest registered one. Which custom resources a sandbox serves is the
//! store's business (each store keeps the ids of its CRDs).

use std::collections::HashMap;
use std::sync::{LazyLock, PoisonError, RwLock};

use serde_json::{Value, json};

use super::{ResourceId, ResourceInfo, builtin, version_priority};
use crate::admission::FieldCause;

/// What a CustomResourceDefinition says about one served version beyond discovery's facts.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomInfo {
    /// The CRD's name (`widgets.example.com`).
    pub crd: String,
    pub list_kind: String,
    /// `additionalPrinterColumns` (empty: the default NAME, AGE Table).
    pub printer_columns: Vec<PrinterColumn>,
    /// The `/scale` subresource's paths, when declared.
    pub scale: Option<ScalePaths>,
    /// This version's `schema.openAPIV3Schema`, if any.
    pub schema: Option<Value>,
}

/// One `additionalPrinterColumns` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct PrinterColumn {
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub kind: String,
    pub format: String,
    pub description: String,
    pub priority: u8,
    /// A JSONPath into the object (`.spec.replicas`).
    pub json_path: String,
}

/// Where a custom resource keeps what its `/scale` subresource shows.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalePaths {
    /// `.spec.replicas`
    pub spec_replicas: String,
    /// `.status.replicas`
    pub status_replicas: String,
    /// `.status.selector`, if declared.
    pub label_selector: Option<String>,
}

type Key = (String, String, String);

struct Registry {
    infos: Vec<&'static ResourceInfo>,
    ids: HashMap<Key, ResourceId>,
}

static REGISTRY: LazyLock<RwLock<Registry>> = LazyLock::new(|| {
    RwLock::new(Registry {
        infos: Vec::new(),
        ids: HashMap::new(),
    })
});

/// The description of the `index`-th custom resource.
pub(super) fn info(index: usize) -> &'static ResourceInfo {
    let registry = REGISTRY.read().unwrap_or_else(PoisonError::into_inner);
    match registry.infos.get(index) {
        Some(info) => info,
        // Ids are only made by `register`, which stores the info first.
        None => &UNREGISTERED,
    }
}

/// What an id that was never registered resolves to (no such id is ever made).
static UNREGISTERED: LazyLock<ResourceInfo> = LazyLock::new(|| ResourceInfo {
    id: ResourceId(u16::MAX),
    group: "",
    version: "",
    plural: "unregistered",
    singular: "unregistered",
    kind: "Unregistered",
    namespaced: false,
    short_names: &[],
    categories: &[],
    status_subresource: false,
    scale_subresource: false,
    read_only: true,
    tracks_generation: false,
    selectable_fields: &[],
    storage: ResourceId(u16::MAX),
    typed: None,
    custom: None,
});

fn leak(text: &str) -> &'static str {
    Box::leak(text.to_owned().into_boxed_str())
}

fn leak_all(items: &[String]) -> &'static [&'static str] {
    Box::leak(
        items
            .iter()
            .map(|s| leak(s))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    )
}

/// One served version, as parsed from a CRD.
#[derive(Debug, Clone, PartialEq)]
struct Version {
    group: String,
    version: String,
    plural: String,
    singular: String,
    kind: String,
    namespaced: bool,
    short_names: Vec<String>,
    categories: Vec<String>,
    status: bool,
    selectable: Vec<String>,
    custom: CustomInfo,
}

/// Registers (or refreshes) one version; `storage` is the id of the storage version (None:
/// this is the storage version).
fn register(version: Version, storage: Option<ResourceId>) -> Result<ResourceId, String> {
    let mut registry = REGISTRY.write().unwrap_or_else(PoisonError::into_inner);
    let key = (
        version.group.clone(),
        version.version.clone(),
        version.plural.clone(),
    );
    let builtins = builtin::table().len();
    let id = match registry.ids.get(&key) {
        Some(id) => *id,
        None => {
            let index = builtins + registry.infos.len();
            let raw = u16::try_from(index)
                .ok()
                .filter(|i| *i < u16::MAX)
                .ok_or("the sandbox cannot register more custom resources")?;
            ResourceId(raw)
        }
    };
    let current = registry.infos.get(id.index() - builtins).copied();
    if let Some(current) = current
        && same(current, &version, storage.unwrap_or(id))
    {
        return Ok(id);
    }
    let info: &'static ResourceInfo = Box::leak(Box::new(ResourceInfo {
        id,
        group: leak(&version.group),
        version: leak(&version.version),
        plural: leak(&version.plural),
        singular: leak(&version.singular),
        kind: leak(&version.kind),
        namespaced: version.namespaced,
        short_names: leak_all(&version.short_names),
        categories: leak_all(&version.categories),
        status_subresource: version.status,
        scale_subresource: version.custom.scale.is_some(),
        read_only: false,
        tracks_generation: true,
        selectable_fields: leak_all(&version.selectable),
        storage: storage.unwrap_or(id),
        typed: None,
        custom: Some(Box::leak(Box::new(version.custom))),
    }));
    match current {
        Some(_) => registry.infos[id.index() - builtins] = info,
        None => {
            registry.infos.push(info);
            registry.ids.insert(key, id);
        }
    }
    Ok(id)
}

/// Whether the registered description already says what `version` says.
fn same(info: &ResourceInfo, version: &Version, storage: ResourceId) -> bool {
    info.singular == version.singular
        && info.kind == version.kind
        && info.namespaced == version.namespaced
        && info.short_names == version.short_names
        && info.categories == version.categories
        && info.status_subresource == version.status
        && info.selectable_fields == version.selectable
        && info.storage == storage
        && info.custom == Some(&version.custom)
}

/// The resources a CRD object serves, its storage version first; an error names what is
/// wrong with the definition.
pub fn register_crd(crd: &Value) -> Result<Vec<ResourceId>, FieldCause> {
    let versions = parse_crd(crd)?;
    let mut ids = Vec::with_capacity(versions.len());
    let mut storage = None;
    for (version, is_storage) in versions {
        let id = register(version, if is_storage { None } else { storage })
            .map_err(|e| FieldCause::forbidden("spec", &e))?;
        if is_storage {
            storage = Some(id);
        }
        ids.push(id);
    }
    Ok(ids)
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

/// The served versions of a CRD, storage version first (with `true`), the others after it in
/// Kubernetes' version order.
fn parse_crd(crd: &Value) -> Result<Vec<(Version, bool)>, FieldCause> {
    let text = |pointer: &str| crd.pointer(pointer).and_then(Value::as_str).unwrap_or("");
    let group = text("/spec/group");
    let plural = text("/spec/names/plural");
    let kind = text("/spec/names/kind");
    for (field, value) in [
        ("spec.group", group),
        ("spec.names.plural", plural),
        ("spec.names.kind", kind),
    ] {
        if value.is_empty() {
            return Err(FieldCause::required(field, ""));
        }
    }
    let name = text("/metadata/name");
    if name != format!("{plural}.{group}") {
        return Err(FieldCause::invalid(
            "metadata.name",
            &json!(name),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    let singular = match text("/spec/names/singular") {
        "" => kind.to_ascii_lowercase(),
        given => given.to_owned(),
    };
    let list_kind = match text("/spec/names/listKind") {
        "" => format!("{kind}List"),
        given => given.to_owned(),
    };
    let namespaced = text("/spec/scope") != "Cluster";
    let mut out = Vec::new();
    for entry in crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if entry.get("served").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let Some(name) = entry.get("name").and_then(Value::as_str) else {
            continue;
        };
        let version = Version {
            group: group.to_owned(),
            version: name.to_owned(),
            plural: plural.to_owned(),
            singular: singular.clone(),
            kind: kind.to_owned(),
            namespaced,
            short_names: strings(crd.pointer("/spec/names/shortNames")),
            categories: strings(crd.pointer("/spec/names/categories")),
            status: entry.pointer("/subresources/status").is_some(),
            selectable: entry
                .get("selectableFields")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|f| f.get("jsonPath").and_then(Value::as_str))
                .map(|p| p.trim_start_matches('.').to_owned())
                .collect(),
            custom: CustomInfo {
                crd: text("/metadata/name").to_owned(),
                list_kind: list_kind.clone(),
                printer_columns: printer_columns(entry),
                scale: scale_paths(entry),
                schema: entry.pointer("/schema/openAPIV3Schema").cloned(),
            },
        };
        let storage = entry.get("storage").and_then(Value::as_bool) == Some(true);
        out.push((version, storage));
    }
    if out.is_empty() {
        return Err(FieldCause::invalid(
            "spec.versions",
            &json!(""),
            "must have exactly one version marked as storage version and serve at least one",
        ));
    }
    out.sort_by(|(a, a_storage), (b, b_storage)| {
        b_storage.cmp(a_storage).then(
            version_priority(&b.version)
                .cmp(&version_priority(&a.version))
                .then(a.version.cmp(&b.version)),
        )
    });
    // A definition without a served storage version: its first served version stores.
    if !out.iter().any(|(_, storage)| *storage) {
        out[0].1 = true;
    }
    Ok(out)
}

fn printer_columns(version: &Value) -> Vec<PrinterColumn> {
    version
        .get("additionalPrinterColumns")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|column| {
            let text = |key: &str| {
                column
                    .get(key)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            };
            let name = text("name");
            let json_path = text("jsonPath");
            if name.is_empty() || json_path.is_empty() {
                return None;
            }
            Some(PrinterColumn {
                name,
                kind: match text("type").as_str() {
                    "" => "string".to_owned(),
                    other => other.to_owned(),
                },
                format: text("format"),
                description: text("description"),
                priority: column
                    .get("priority")
                    .and_then(Value::as_u64)
                    .map_or(0, |p| u8::try_from(p.min(1)).unwrap_or(1)),
                json_path,
            })
        })
        .collect()
}

fn scale_paths(version: &Value) -> Option<ScalePaths> {
    let scale = version.pointer("/subresources/scale")?;
    let text = |key: &str| scale.get(key).and_then(Value::as_str).map(str::to_owned);
    Some(ScalePaths {
        spec_replicas: text("specReplicasPath").unwrap_or_else(|| ".spec.replicas".into()),
        status_replicas: text("statusReplicasPath").unwrap_or_else(|| ".status.replicas".into()),
        label_selector: text("labelSelectorPath"),
    })
}

/// The status a real API server's CRD controllers write: the accepted names, the stored
/// versions, and the NamesAccepted and Established conditions (set at once: the sandbox
/// serves a CRD's resources as soon as it is stored).
pub fn crd_status(crd: &Value, previous: Option<&Value>, now: &str) -> Value {
    let names = crd
        .pointer("/spec/names")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut accepted = names.clone();
    if let Some(map) = accepted.as_object_mut() {
        let kind = names.get("kind").and_then(Value::as_str).unwrap_or("");
        map.entry("singular")
            .or_insert_with(|| json!(kind.to_ascii_lowercase()));
        map.entry("listKind")
            .or_insert_with(|| json!(format!("{kind}List")));
    }
    let mut stored = strings(previous.and_then(|s| s.get("storedVersions")));
    for version in crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if version.get("storage").and_then(Value::as_bool) == Some(true)
            && let Some(name) = version.get("name").and_then(Value::as_str)
            && !stored.iter().any(|s| s == name)
        {
            stored.push(name.to_owned());
        }
    }
    let since = |kind: &str| {
        previous
            .and_then(|s| s.get("conditions"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
            .and_then(|c| c.get("lastTransitionTime").cloned())
            .unwrap_or_else(|| json!(now))
    };
    json!({
        "acceptedNames": accepted,
        "conditions": [
            {
                "type": "NamesAccepted",
                "status": "True",
                "lastTransitionTime": since("NamesAccepted"),
                "reason": "NoConflicts",
                "message": "no conflicts found",
            },
            {
                "type": "Established",
                "status": "True",
                "lastTransitionTime": since("Established"),
                "reason": "InitialNamesAccepted",
                "message": "the initial names have been accepted",
            },
        ],
        "storedVersions": stored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd(versions: Value) -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "gadgets.unit.example.com"},
            "spec": {
                "group": "unit.example.com",
                "scope": "Namespaced",
                "names": {"plural": "gadgets", "kind": "Gadget", "shortNames": ["gd"]},
                "versions": versions,
            },
        })
    }

    #[test]
    fn served_versions_are_registered_storage_first() {
        let ids = register_crd(&crd(json!([
            {"name": "v1alpha1", "served": true, "storage": false},
            {"name": "v1", "served": true, "storage": true,
             "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.size",
                                                     "statusReplicasPath": ".status.size"}},
             "additionalPrinterColumns": [{"name": "Size", "type": "integer",
                                           "jsonPath": ".spec.size"}]},
            {"name": "v2", "served": false, "storage": false},
        ])))
        .expect("valid");
        assert_eq!(ids.len(), 2);
        let v1 = ids[0].info();
        assert_eq!(
            (v1.version, v1.singular, v1.kind),
            ("v1", "gadget", "Gadget")
        );
        assert!(v1.namespaced && v1.status_subresource && v1.scale_subresource);
        assert!(!ids[0].is_builtin());
        assert_eq!(ids[1].info().version, "v1alpha1");
        assert_eq!(ids[1].info().storage, ids[0]);
        let custom = v1.custom.expect("custom");
        assert_eq!(custom.printer_columns[0].json_path, ".spec.size");
        assert_eq!(custom.list_kind, "GadgetList");
        // Registering again (an update) keeps the ids.
        let again = register_crd(&crd(json!([
            {"name": "v1", "served": true, "storage": true},
        ])))
        .expect("valid");
        assert_eq!(again, vec![ids[0]]);
        assert!(!ids[0].info().status_subresource);
    }

    #[test]
    fn status_accepts_the_names_and_establishes() {
        let definition = crd(json!([{"name": "v1", "served": true, "storage": true}]));
        let status = crd_status(&definition, None, "2026-01-01T00:00:00Z");
        assert_eq!(status["acceptedNames"]["singular"], "gadget");
        assert_eq!(status["acceptedNames"]["listKind"], "GadgetList");
        assert_eq!(status["storedVersions"], json!(["v1"]));
        let types: Vec<_> = status["conditions"]
            .as_array()
            .expect("conditions")
            .iter()
            .map(|c| (c["type"].as_str(), c["status"].as_str()))
            .collect();
        assert_eq!(
            types,
            [
                (Some("NamesAccepted"), Some("True")),
                (Some("Established"), Some("True"))
            ]
        );
    }

    #[test]
    fn a_definition_without_names_is_refused() {
        assert!(register_crd(&json!({"spec": {"group": "x.example.com"}})).is_err());
        let mut misnamed = crd(json!([{"name": "v1", "served": true, "storage": true}]));
        misnamed["metadata"]["name"] = json!("gadgets");
        assert!(register_crd(&misnamed).is_err());
    }
}
