//! Server-side apply (`PATCH` with `application/apply-patch+yaml`): field ownership kept in
//! `metadata.managedFields` (FieldsV1), merges by the list keys of the Kubernetes schema, and
//! conflicts between managers.
//!
//! What a manager applies it owns: every leaf it sets, the items of keyed lists, the lists and
//! string maps themselves. Applying again sets the new config's fields; the fields the manager
//! owned before and left out are removed unless another manager owns them too; fields other
//! managers own stay. A field another manager owns with a different value is a conflict (409)
//! unless the apply is forced, which takes the field over.
//!
//! A plain write (update, patch) to an object whose ownership is tracked moves the fields it
//! changes to its manager (an `Update` entry), as the API server does, so a later apply
//! conflicts with it. Limits: objects no apply touched carry no managedFields (plain creates
//! record none, so fields written before the first apply are unowned and never conflict); the
//! schema facts (which lists merge by which keys, which maps are atomic) cover
//! the built-in kinds' common fields, and every other list is atomic.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::resources::ResourceId;

/// A field path as FieldsV1 keys: `f:spec`, `k:{"name":"web"}`, `v:"value"`.
type Path = Vec<String>;

/// A set of owned paths.
type PathSet = BTreeSet<Path>;

/// One conflict: which manager owns which field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The manager as the API server names it (`"mgr"`, `"kubectl" using apps/v1`).
    pub manager: String,
    /// The field path (`.spec.replicas`, `.spec.containers[name="web"].image`).
    pub field: String,
}

/// Why an apply failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyError {
    Conflicts(Vec<Conflict>),
}

/// One apply: who applies what, and when.
#[derive(Debug, Clone, Copy)]
pub struct Apply<'a> {
    pub resource: ResourceId,
    pub manager: &'a str,
    pub force: bool,
    /// RFC 3339 time of the write.
    pub now: &'a str,
}

/// How a list merges, from the schema's `x-kubernetes-list-type` and `-list-map-keys`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListKind {
    Atomic,
    Set,
    Map(&'static [&'static str]),
}

/// The shape of a field's value, for ownership and merging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Owned and replaced whole: scalars, atomic lists and maps.
    Leaf,
    /// Merged field by field; `member`: the map itself is owned too (string maps).
    Object {
        member: bool,
    },
    List(ListKind),
}

fn is_container_list(name: &str) -> bool {
    matches!(
        name,
        "containers" | "initContainers" | "ephemeralContainers"
    )
}

/// The list kind of the field at `fields` (field names from the root, no indices).
fn list_kind(resource: ResourceId, fields: &[String]) -> ListKind {
    let n = fields.len();
    let last = fields.last().map(String::as_str).unwrap_or("");
    let parent = if n >= 2 { fields[n - 2].as_str() } else { "" };
    match last {
        "containers" | "initContainers" | "ephemeralContainers" => ListKind::Map(&["name"]),
        "ports" if is_container_list(parent) => ListKind::Map(&["containerPort", "protocol"]),
        "ports" if resource == ResourceId::Services && n == 2 => {
            ListKind::Map(&["port", "protocol"])
        }
        "env" if is_container_list(parent) => ListKind::Map(&["name"]),
        "volumeMounts" if is_container_list(parent) => ListKind::Map(&["mountPath"]),
        "volumeDevices" if is_container_list(parent) => ListKind::Map(&["devicePath"]),
        "resizePolicy" if is_container_list(parent) => ListKind::Map(&["resourceName"]),
        "volumes" | "imagePullSecrets" | "resourceClaims" | "schedulingGates"
            if parent == "spec" =>
        {
            ListKind::Map(&["name"])
        }
        "hostAliases" if parent == "spec" => ListKind::Map(&["ip"]),
        "topologySpreadConstraints" if parent == "spec" => {
            ListKind::Map(&["topologyKey", "whenUnsatisfiable"])
        }
        "conditions" => ListKind::Map(&["type"]),
        "ownerReferences" if parent == "metadata" => ListKind::Map(&["uid"]),
        "finalizers" if parent == "metadata" => ListKind::Set,
        _ => ListKind::Atomic,
    }
}

/// Maps whose keys are data (owned key by key, and the map itself).
fn is_string_map(name: &str) -> bool {
    matches!(
        name,
        "labels" | "annotations" | "data" | "stringData" | "binaryData" | "limits" | "requests"
    )
}

/// Objects replaced whole (`+structType=atomic`, `+mapType=atomic`).
fn is_atomic_object(name: &str) -> bool {
    matches!(name, "selector" | "nodeSelector")
}

fn shape(resource: ResourceId, fields: &[String], value: &Value) -> Shape {
    let name = fields.last().map(String::as_str).unwrap_or("");
    match value {
        Value::Array(_) => match list_kind(resource, fields) {
            ListKind::Atomic => Shape::Leaf,
            kind => Shape::List(kind),
        },
        Value::Object(map) if !is_atomic_object(name) && !map.is_empty() => Shape::Object {
            member: is_string_map(name),
        },
        _ => Shape::Leaf,
    }
}

/// Fields no manager owns: identity, server-set metadata, and the status (its own
/// subresource).
fn not_owned(resource: ResourceId, fields: &[String], name: &str) -> bool {
    match fields {
        [] => {
            matches!(name, "apiVersion" | "kind")
                || (name == "status" && resource.info().status_subresource)
        }
        [meta] if meta == "metadata" => matches!(
            name,
            "name"
                | "namespace"
                | "uid"
                | "resourceVersion"
                | "generation"
                | "creationTimestamp"
                | "deletionTimestamp"
                | "deletionGracePeriodSeconds"
                | "managedFields"
                | "selfLink"
        ),
        _ => false,
    }
}

/// A list item's key element: `k:{"containerPort":80,"protocol":"TCP"}` (a missing
/// `protocol` is its default, TCP).
fn item_key(item: &Value, keys: &[&str]) -> String {
    let mut key = Map::new();
    for field in keys {
        let value = match item.get(*field) {
            Some(v) if !v.is_null() => v.clone(),
            _ if *field == "protocol" => json!("TCP"),
            _ => continue,
        };
        key.insert((*field).to_string(), value);
    }
    let sorted: std::collections::BTreeMap<_, _> = key.into_iter().collect();
    format!("k:{}", serde_json::to_string(&sorted).unwrap_or_default())
}

fn value_key(item: &Value) -> String {
    format!("v:{}", serde_json::to_string(item).unwrap_or_default())
}

/// The paths a config sets.
fn owned_paths(resource: ResourceId, config: &Value) -> PathSet {
    let mut out = PathSet::new();
    collect(resource, config, &mut Vec::new(), &mut Vec::new(), &mut out);
    out
}

fn collect(
    resource: ResourceId,
    value: &Value,
    fields: &mut Vec<String>,
    path: &mut Path,
    out: &mut PathSet,
) {
    let Some(map) = value.as_object() else {
        return;
    };
    for (name, child) in map {
        if not_owned(resource, fields, name) {
            continue;
        }
        fields.push(name.clone());
        path.push(format!("f:{name}"));
        match shape(resource, fields, child) {
            Shape::Leaf => {
                out.insert(path.clone());
            }
            Shape::Object { member } => {
                if member {
                    out.insert(path.clone());
                }
                collect(resource, child, fields, path, out);
            }
            Shape::List(kind) => {
                out.insert(path.clone());
                for item in child.as_array().into_iter().flatten() {
                    path.push(match kind {
                        ListKind::Map(keys) => item_key(item, keys),
                        _ => value_key(item),
                    });
                    out.insert(path.clone());
                    if matches!(kind, ListKind::Map(_)) {
                        collect(resource, item, fields, path, out);
                    }
                    path.pop();
                }
            }
        }
        path.pop();
        fields.pop();
    }
}

/// The value at `path`, if present.
fn resolve<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut at = value;
    for element in path {
        at = step(at, element)?;
    }
    Some(at)
}

fn step<'a>(value: &'a Value, element: &str) -> Option<&'a Value> {
    if let Some(name) = element.strip_prefix("f:") {
        return value.get(name);
    }
    let items = value.as_array()?;
    items.iter().find(|item| matches_element(item, element))
}

fn matches_element(item: &Value, element: &str) -> bool {
    if let Some(key) = element.strip_prefix("k:") {
        let Ok(Value::Object(wanted)) = serde_json::from_str::<Value>(key) else {
            return false;
        };
        let keys: Vec<&str> = wanted.keys().map(String::as_str).collect();
        return item_key(item, &keys) == element;
    }
    element
        .strip_prefix("v:")
        .and_then(|v| serde_json::from_str::<Value>(v).ok())
        .is_some_and(|v| &v == item)
}

/// Removes the value at `path` (a field, or a list item).
fn remove(value: &mut Value, path: &[String]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let mut at = value;
    for element in parent_path {
        let next = if let Some(name) = element.strip_prefix("f:") {
            at.get_mut(name)
        } else {
            at.as_array_mut()
                .and_then(|items| items.iter_mut().find(|i| matches_element(i, element)))
        };
        let Some(next) = next else {
            return;
        };
        at = next;
    }
    if let Some(name) = last.strip_prefix("f:") {
        if let Some(map) = at.as_object_mut() {
            map.remove(name);
        }
    } else if let Some(items) = at.as_array_mut() {
        items.retain(|item| !matches_element(item, last));
    }
}

/// Merges `config` into `live`: fields set, keyed lists merged item by item, sets united,
/// everything else replaced.
fn merge(resource: ResourceId, live: &mut Value, config: &Value, fields: &mut Vec<String>) {
    let Some(config) = config.as_object() else {
        return;
    };
    if !live.is_object() {
        *live = json!({});
    }
    let Some(live) = live.as_object_mut() else {
        return;
    };
    for (name, value) in config {
        let identity = matches!(name.as_str(), "apiVersion" | "kind" | "name" | "namespace");
        if not_owned(resource, fields, name) && !identity {
            continue;
        }
        fields.push(name.clone());
        match shape(resource, fields, value) {
            Shape::Leaf => {
                live.insert(name.clone(), value.clone());
            }
            Shape::Object { .. } => {
                let slot = live.entry(name.clone()).or_insert_with(|| json!({}));
                merge(resource, slot, value, fields);
            }
            Shape::List(kind) => {
                let slot = live.entry(name.clone()).or_insert_with(|| json!([]));
                merge_list(resource, slot, value, kind, fields);
            }
        }
        fields.pop();
    }
}

fn merge_list(
    resource: ResourceId,
    live: &mut Value,
    config: &Value,
    kind: ListKind,
    fields: &mut Vec<String>,
) {
    if !live.is_array() {
        *live = json!([]);
    }
    let (Some(items), Some(config)) = (live.as_array_mut(), config.as_array()) else {
        return;
    };
    for wanted in config {
        match kind {
            ListKind::Map(keys) => {
                let key = item_key(wanted, keys);
                match items.iter_mut().find(|i| item_key(i, keys) == key) {
                    Some(existing) => merge(resource, existing, wanted, fields),
                    None => items.push(wanted.clone()),
                }
            }
            _ => {
                if !items.contains(wanted) {
                    items.push(wanted.clone());
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// managedFields

/// One `managedFields` entry: its JSON (kept as is but for the set and time) and its set.
#[derive(Debug, Clone)]
struct Entry {
    json: Map<String, Value>,
    paths: PathSet,
}

impl Entry {
    fn text(&self, key: &str) -> &str {
        self.json.get(key).and_then(Value::as_str).unwrap_or("")
    }

    fn is_apply_of(&self, manager: &str) -> bool {
        self.text("manager") == manager
            && self.text("operation") == "Apply"
            && self.text("subresource").is_empty()
    }

    /// The manager as conflict messages name it.
    fn display(&self) -> String {
        let manager = format!("{:?}", self.text("manager"));
        if self.text("operation") == "Update" {
            format!("{manager} using {}", self.text("apiVersion"))
        } else {
            manager
        }
    }
}

fn entries(object: &Value) -> Vec<Entry> {
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let json = entry.as_object()?.clone();
            let mut paths = PathSet::new();
            if let Some(tree) = json.get("fieldsV1") {
                from_tree(tree, &mut Vec::new(), &mut paths);
            }
            Some(Entry { json, paths })
        })
        .collect()
}

/// The paths of a FieldsV1 tree: leaves, and nodes marked with `.`.
fn from_tree(tree: &Value, prefix: &mut Path, out: &mut PathSet) {
    for (key, child) in tree.as_object().into_iter().flatten() {
        if key == "." {
            out.insert(prefix.clone());
            continue;
        }
        prefix.push(key.clone());
        if child.as_object().is_none_or(Map::is_empty) {
            out.insert(prefix.clone());
        } else {
            from_tree(child, prefix, out);
        }
        prefix.pop();
    }
}

/// A set as a FieldsV1 tree.
fn to_tree(paths: &PathSet) -> Value {
    let mut root = Map::new();
    for path in paths {
        let mut node = &mut root;
        for element in path {
            node = node
                .entry(element.clone())
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("tree nodes are objects");
        }
    }
    for path in paths {
        let mut node = &mut root;
        for element in path {
            node = node
                .get_mut(element)
                .and_then(Value::as_object_mut)
                .expect("inserted above");
        }
        if !node.is_empty() && !node.contains_key(".") {
            node.insert(".".into(), json!({}));
        }
    }
    Value::Object(root)
}

/// A path as the API server prints it: `.spec.containers[name="web"].ports[containerPort=80,protocol="TCP"]`.
pub fn path_string(path: &[String]) -> String {
    let mut out = String::new();
    for element in path {
        if let Some(name) = element.strip_prefix("f:") {
            out.push('.');
            out.push_str(name);
        } else if let Some(key) = element.strip_prefix("k:") {
            let fields: Map<String, Value> = serde_json::from_str(key).unwrap_or_default();
            let parts: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(value) = element.strip_prefix("v:") {
            out.push_str(&format!("[={value}]"));
        }
    }
    out
}

/// The 409 message: `Apply failed with 1 conflict: conflict with "mgr": .spec.replicas`.
/// Several conflicts are grouped by manager as the API server groups them, on one line (the
/// sandbox's error messages are one line each): `Apply failed with 2 conflicts: conflicts with
/// "a": .spec.replicas, .spec.paused; conflicts with "b": .spec.replicas`.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [one] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            one.manager, one.field
        );
    }
    let mut managers: Vec<&str> = conflicts.iter().map(|c| c.manager.as_str()).collect();
    managers.sort_unstable();
    managers.dedup();
    let groups: Vec<String> = managers
        .into_iter()
        .map(|manager| {
            let fields: Vec<&str> = conflicts
                .iter()
                .filter(|c| c.manager == manager)
                .map(|c| c.field.as_str())
                .collect();
            format!("conflicts with {manager}: {}", fields.join(", "))
        })
        .collect();
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        groups.join("; ")
    )
}

/// Whether `path` is a leaf of `paths` (no other path below it).
fn is_leaf(paths: &PathSet, path: &Path) -> bool {
    paths
        .range(path.clone()..)
        .find(|next| *next != path)
        .is_none_or(|next| !next.starts_with(path))
}

fn owned_below(paths: &PathSet, path: &Path) -> bool {
    paths
        .range(path.clone()..)
        .take_while(|p| p.starts_with(path))
        .next()
        .is_some()
}

/// The entry written for this apply.
fn entry_json(apply: &Apply, api_version: &str, paths: &PathSet) -> Value {
    json!({
        "manager": apply.manager,
        "operation": "Apply",
        "apiVersion": api_version,
        "time": apply.now,
        "fieldsType": "FieldsV1",
        "fieldsV1": to_tree(paths),
    })
}

fn api_version_of(object: &Value) -> String {
    object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn set_managed_fields(object: &mut Value, entries: Vec<Value>) {
    if let Some(meta) = object
        .as_object_mut()
        .map(|o| o.entry("metadata").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut)
    {
        meta.insert("managedFields".into(), Value::Array(entries));
    }
}

/// The object a first apply creates: the config, owned by the applier.
pub fn create(apply: &Apply, config: &Value) -> Value {
    let mut object = config.clone();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    let paths = owned_paths(apply.resource, config);
    let entry = entry_json(apply, &api_version_of(config), &paths);
    set_managed_fields(&mut object, vec![entry]);
    object
}

/// Applies `config` to the stored object `live`.
pub fn apply_to(apply: &Apply, live: &mut Value, config: &Value) -> Result<(), ApplyError> {
    let mine = owned_paths(apply.resource, config);
    let mut all = entries(live);
    let previous: PathSet = all
        .iter()
        .filter(|e| e.is_apply_of(apply.manager))
        .flat_map(|e| e.paths.iter().cloned())
        .collect();
    let mut conflicts = Vec::new();
    for entry in all.iter_mut().filter(|e| !e.is_apply_of(apply.manager)) {
        let clashing: Vec<Path> = mine
            .iter()
            .filter(|p| is_leaf(&mine, p) && entry.paths.contains(*p))
            .filter(|p| resolve(live, p) != resolve(config, p))
            .cloned()
            .collect();
        for path in clashing {
            if apply.force {
                entry.paths.remove(&path);
            } else {
                conflicts.push(Conflict {
                    manager: entry.display(),
                    field: path_string(&path),
                });
            }
        }
    }
    if !conflicts.is_empty() {
        return Err(ApplyError::Conflicts(conflicts));
    }
    let others: PathSet = all
        .iter()
        .filter(|e| !e.is_apply_of(apply.manager))
        .flat_map(|e| e.paths.iter().cloned())
        .collect();
    let before = live.clone();
    merge(apply.resource, live, config, &mut Vec::new());
    remove_released(live, &previous, &mine, &others);
    // A no-op apply keeps its entry (and its time), so it writes nothing.
    let unchanged = *live == before && previous == mine;
    let mut written: Vec<Value> = Vec::new();
    let mut replaced = false;
    for entry in all {
        if entry.is_apply_of(apply.manager) {
            if !replaced {
                written.push(if unchanged {
                    Value::Object(entry.json)
                } else {
                    entry_json(apply, &api_version_of(config), &mine)
                });
                replaced = true;
            }
        } else if !entry.paths.is_empty() {
            let mut json = entry.json;
            json.insert("fieldsV1".into(), to_tree(&entry.paths));
            written.push(Value::Object(json));
        }
    }
    if !replaced {
        written.push(entry_json(apply, &api_version_of(config), &mine));
    }
    set_managed_fields(live, written);
    Ok(())
}

/// A plain write (create, update, patch) by `manager`: the fields it changed become its own
/// (an `Update` entry) and no other manager's; the fields it removed are nobody's. Only
/// objects whose ownership is tracked (a server-side apply touched them) are followed.
pub fn record_update(resource: ResourceId, manager: &str, now: &str, old: &Value, new: &mut Value) {
    let all = entries(old);
    if all.is_empty() {
        return;
    }
    let old_paths = owned_paths(resource, old);
    let new_paths = owned_paths(resource, new);
    let changed: PathSet = new_paths
        .iter()
        .filter(|p| {
            !old_paths.contains(*p)
                || (is_leaf(&new_paths, p) && resolve(old, p) != resolve(new, p))
        })
        .cloned()
        .collect();
    let gone: PathSet = old_paths.difference(&new_paths).cloned().collect();
    if changed.is_empty() && gone.is_empty() {
        if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert(
                "managedFields".into(),
                old["metadata"]["managedFields"].clone(),
            );
        }
        return;
    }
    let taken = |p: &Path| gone.contains(p) || (changed.contains(p) && is_leaf(&new_paths, p));
    let is_mine = |e: &Entry| {
        e.text("manager") == manager
            && e.text("operation") == "Update"
            && e.text("subresource").is_empty()
    };
    let mut written = Vec::new();
    let mut mine: PathSet = changed.clone();
    for mut entry in all {
        if is_mine(&entry) {
            mine.extend(entry.paths.into_iter().filter(|p| !gone.contains(p)));
            continue;
        }
        entry.paths.retain(|p| !taken(p));
        if !entry.paths.is_empty() {
            entry.json.insert("fieldsV1".into(), to_tree(&entry.paths));
            written.push(Value::Object(entry.json));
        }
    }
    written.push(json!({
        "manager": manager,
        "operation": "Update",
        "apiVersion": api_version_of(new),
        "time": now,
        "fieldsType": "FieldsV1",
        "fieldsV1": to_tree(&mine),
    }));
    set_managed_fields(new, written);
}

/// Removes what the applier owned before, left out now, and nobody else owns: list items go
/// whole (before their fields, which would no longer match their key); then leaves, deepest
/// first; a map or list the applier owned goes once it is empty.
fn remove_released(live: &mut Value, previous: &PathSet, mine: &PathSet, others: &PathSet) {
    let released: Vec<&Path> = previous
        .iter()
        .filter(|p| !mine.contains(*p) && !owned_below(others, p))
        .collect();
    let is_item = |path: &Path| {
        path.last()
            .is_some_and(|last| last.starts_with("k:") || last.starts_with("v:"))
    };
    let mut gone: Vec<&Path> = Vec::new();
    let mut items: Vec<&Path> = released.iter().copied().filter(|p| is_item(p)).collect();
    items.sort_by_key(|p| p.len());
    for path in items {
        if !gone.iter().any(|g| path.starts_with(g)) {
            remove(live, path);
            gone.push(path);
        }
    }
    let mut rest: Vec<&Path> = released
        .into_iter()
        .filter(|p| !is_item(p) && !gone.iter().any(|g| p.starts_with(g)))
        .collect();
    rest.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for path in rest {
        let empty = match resolve(live, path) {
            Some(Value::Object(map)) => map.is_empty(),
            Some(Value::Array(items)) => items.is_empty(),
            _ => true,
        };
        if is_leaf(previous, path) || empty {
            remove(live, path);
        }
    }
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
