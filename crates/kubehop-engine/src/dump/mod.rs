//! Loading a [`ClusterSnapshot`] from `kubectl get` output (`--from-file`).
//!
//! # Accepted input
//!
//! Whatever users have on disk or in a pipe:
//! - `kubectl get svc,endpointslices,pods,nodes,ingress -A -o yaml`: a `v1 List` of mixed kinds;
//! - the same with `-o json`;
//! - typed lists (`ServiceList`, `PodList`, ... as the API server returns them, where items may
//!   omit `apiVersion`/`kind`);
//! - multi-document YAML (`---`), e.g. manifests, and single objects;
//! - a stream of JSON objects (`kubectl get ... -o json` run several times into one file), or a
//!   JSON/YAML sequence of objects;
//! - UTF-8 with or without a byte-order mark, and UTF-16 with a byte-order mark (what a
//!   PowerShell redirect writes).
//!
//! Input whose first non-blank character is `{` or `[` is read as JSON, anything else as YAML.
//! Objects are dispatched on `apiVersion` + `kind` into k8s-openapi types: `v1` Service, Pod,
//! Node and Namespace, `discovery.k8s.io/v1` EndpointSlice and `networking.k8s.io/v1` Ingress
//! and IngressClass, `networking.k8s.io/v1` NetworkPolicy, and the Gateway API kinds
//! (`gateway.networking.k8s.io`, any version: GatewayClass, Gateway, HTTPRoute, GRPCRoute,
//! TLSRoute, TCPRoute, UDPRoute, ReferenceGrant; optional, never missing). Everything else is skipped and reported as a [`DumpNote`] (counted per file and kind, never
//! printed: Secrets and ConfigMaps stay unseen). Legacy `v1 Endpoints` are skipped too: the
//! engine reads the EndpointSlices, which carry the same endpoints with more detail (serving,
//! terminating, zone), and kube-proxy reads slices, not Endpoints.
//!
//! Namespaced objects without `metadata.namespace` (manifests) are put in `default`, as
//! `kubectl apply` would. An object that appears twice (same kind, namespace and name, e.g. in
//! two files) is kept once: the later copy wins. Both are reported as notes.
//!
//! # Which kinds the dump provided
//!
//! A dump is often partial (`kubectl get svc,pods`), and the engine must tell "this cluster
//! has no EndpointSlices for the Service" from "the dump did not include EndpointSlices". The
//! rule: a kind counts as provided when the input contains at least one object of that kind, or
//! a typed list of it (an empty `EndpointSliceList` says "there are none"). Every other kind is
//! recorded in [`ClusterSnapshot::missing`] with the reason [`NOT_IN_DUMP`]. So
//! `snapshot.has(ResourceKind::EndpointSlice)` is false when the dump has no EndpointSlices at
//! all, and the engine then derives every selector Service's endpoints from its pods. A dump
//! without Nodes is not an error either (NodePort rows then show no node addresses).
//! IngressClasses and NetworkPolicies are optional and never recorded as missing: without
//! them the Ingress class checks stay silent and no pod is isolated.
//!
//! # Errors and limits
//!
//! Malformed input is a [`DumpError`] whose one-line message names the file, the line and
//! column, the object (`items[12] (Pod default/web-1)`) and the field
//! (`spec.ports[0].port: invalid value: "http", expected i32`). The object's name and the field
//! path come from a second, lenient read of the failed document, on the error path only (so the
//! one pass over valid input stays fast); when the document is not even well-formed YAML/JSON
//! (truncated, bad indentation), the message has the position and the parser's words only.
//!
//! Nothing here panics on bad input, and memory stays proportional to the input:
//! - one input (file or standard input) may be at most [`MAX_INPUT_BYTES`] (512 MiB);
//! - YAML: block nesting at most [`MAX_DEPTH`] (64; Kubernetes objects need about 15, with
//!   managedFields about 20), flow nesting at most 255, aliases and anchors capped
//!   (serde-saphyr's defaults: 50,000 each, 1,000,000 replayed events), and parser events,
//!   nodes, documents and scalar bytes bounded by the input size, so aliases cannot amplify a
//!   small file into a large tree;
//! - JSON: serde_json's nesting limit (128) for values that are kept; skipped values are
//!   walked without recursion.
//!
//! Large values are fine within those limits: 1 MB label values, a Service with 100,000 ports.
//! Speed (release build, 2-core machine): YAML about 16 MB/s (the serde-saphyr parser is the
//! bound), JSON about 400 MB/s; for very large clusters `-o json` loads 20 times faster.

mod decode;
mod input;
mod parse;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use k8s_openapi::Metadata;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

pub use decode::SkipReason;
use decode::{Entry, Item, Object, Position};
use input::Format;
use parse::*;

use crate::snapshot::{ClusterSnapshot, MissingKind, ResourceKind};

/// The largest input (one file, or standard input) that is read: 512 MiB.
pub const MAX_INPUT_BYTES: u64 = 512 * 1024 * 1024;

/// The deepest nesting of YAML mappings and sequences that is read.
pub const MAX_DEPTH: usize = 64;

/// How standard input is named in notes and errors.
pub const STDIN_NAME: &str = "<stdin>";

/// The reason recorded in [`ClusterSnapshot::missing`] for a kind the dump did not contain.
pub const NOT_IN_DUMP: &str = "not in the dump";

/// A loaded dump: the snapshot and what was skipped or adjusted on the way.
#[derive(Debug, Clone)]
pub struct DumpLoad {
    pub snapshot: ClusterSnapshot,
    /// Things the user should know (print them on stderr, one per line).
    pub notes: Vec<DumpNote>,
}

/// Something the loader skipped or adjusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DumpNote {
    /// Objects of a kind (or API version) kubehop does not read; their contents were not kept.
    Skipped {
        source: String,
        api_version: Option<String>,
        kind: String,
        count: usize,
        reason: SkipReason,
    },
    /// Namespaced objects without `metadata.namespace`, put in `default`.
    DefaultNamespace { source: String, count: usize },
    /// Objects seen before (same kind, namespace and name); the copy from `source` is kept.
    Duplicates { source: String, count: usize },
}

impl fmt::Display for DumpNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DumpNote::Skipped {
                source,
                api_version,
                kind,
                count,
                reason,
            } => {
                let version = api_version.as_deref().unwrap_or("no apiVersion");
                let objects = if *count == 1 { "object" } else { "objects" };
                write!(
                    f,
                    "skipped {count} {kind} ({version}) {objects} in {source}: "
                )?;
                match reason {
                    SkipReason::NotRead => f.write_str("kubehop does not read this kind"),
                    SkipReason::LegacyEndpoints => f.write_str(
                        "kubehop reads EndpointSlices instead of legacy Endpoints (add endpointslices to `kubectl get`)",
                    ),
                    SkipReason::UnsupportedVersion(resource) => write!(
                        f,
                        "kubehop reads {} {}",
                        decode::read_version(*resource),
                        decode::resource_kind_name(*resource)
                    ),
                    SkipReason::NestedList => f.write_str("a List inside a List is not read"),
                }
            }
            DumpNote::DefaultNamespace { source, count } => write!(
                f,
                "{count} object(s) in {source} have no metadata.namespace: put in namespace \"default\""
            ),
            DumpNote::Duplicates { source, count } => write!(
                f,
                "{count} object(s) in {source} appeared earlier in the input (same kind, namespace and name): the copy from {source} is used"
            ),
        }
    }
}

/// Why a dump could not be loaded. The message is one line, ready for `kubehop: {error}`.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error("no dump to read: pass --from-file PATH (or - for standard input)")]
    NoInput,
    #[error("standard input (-) is given more than once to --from-file")]
    StdinTwice,
    #[error("{name}: cannot read: {source}")]
    Read {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{name}: larger than {limit} bytes, the limit for one input")]
    TooLarge { name: String, limit: u64 },
    #[error("{name}:{line}:{column}: not a text file: {detail}")]
    NotText {
        name: String,
        line: u64,
        column: u64,
        detail: &'static str,
    },
    #[error(
        "{name}: empty: no Kubernetes objects in it (expected `kubectl get ... -o yaml` or `-o json` output)"
    )]
    Empty { name: String },
    #[error("{0}")]
    Parse(Box<ParseError>),
}

/// Malformed YAML or JSON, or an object of the wrong shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The file name, or [`STDIN_NAME`].
    pub name: String,
    /// 1-based line and column, when the parser knows them.
    pub line: Option<u64>,
    pub column: Option<u64>,
    /// Which object: `items[12] (Pod default/web-1)`, `document 3 (Service shop/web)`.
    pub object: Option<String>,
    /// The field inside the object: `spec.ports[0].port`.
    pub field: Option<String>,
    /// What is wrong, from the parser: `invalid type: string "http", expected i32`.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if let Some(object) = &self.object {
            write!(f, "{object}: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Loads files in order; `-` reads standard input (once). A directory reads its `*.yaml`,
/// `*.yml` and `*.json` files, sorted by name, like `kubectl apply -f DIR`.
pub fn load_paths(paths: &[PathBuf]) -> Result<DumpLoad, DumpError> {
    load_paths_with_stdin(paths, std::io::stdin().lock())
}

/// [`load_paths`] with `-` reading from `stdin` instead of the process's standard input.
pub fn load_paths_with_stdin(paths: &[PathBuf], stdin: impl Read) -> Result<DumpLoad, DumpError> {
    if paths.is_empty() {
        return Err(DumpError::NoInput);
    }
    let mut stdin = Some(stdin);
    let mut builder = Builder::default();
    for path in paths {
        if path.as_os_str() == "-" {
            let reader = stdin.take().ok_or(DumpError::StdinTwice)?;
            let bytes = read_limited(STDIN_NAME, reader, MAX_INPUT_BYTES)?;
            builder.add_bytes(STDIN_NAME, bytes)?;
        } else if path.is_dir() {
            let files = directory_files(path)?;
            if files.is_empty() {
                return Err(DumpError::Empty {
                    name: path.display().to_string(),
                });
            }
            for file in files {
                let name = file.display().to_string();
                let bytes = read_file(&name, &file)?;
                builder.add_bytes(&name, bytes)?;
            }
        } else {
            let name = path.display().to_string();
            let bytes = read_file(&name, path)?;
            builder.add_bytes(&name, bytes)?;
        }
    }
    Ok(builder.finish())
}

/// Loads one text (already in memory). `name` is used in notes and errors.
pub fn load_str(name: &str, text: &str) -> Result<DumpLoad, DumpError> {
    let mut builder = Builder::default();
    builder.add_text(name, text)?;
    Ok(builder.finish())
}

/// Loads raw bytes: UTF-8 (a byte-order mark is allowed) or UTF-16 with a byte-order mark.
pub fn load_bytes(name: &str, bytes: &[u8]) -> Result<DumpLoad, DumpError> {
    let mut builder = Builder::default();
    builder.add_bytes(name, bytes.to_vec())?;
    Ok(builder.finish())
}

/// Every object of the inputs as plain JSON values, in order, for readers that need kinds the
/// snapshot does not carry (the sandbox's scenario files: Deployments, StatefulSets, ...).
/// Same inputs (`-`, directories), text handling and limits as [`load_paths`]; `null`
/// documents are dropped, top-level sequences are flattened, Lists are kept as they are.
pub fn read_object_paths(paths: &[PathBuf]) -> Result<Vec<Value>, DumpError> {
    if paths.is_empty() {
        return Err(DumpError::NoInput);
    }
    let mut stdin = Some(std::io::stdin().lock());
    let mut objects = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let reader = stdin.take().ok_or(DumpError::StdinTwice)?;
            let bytes = read_limited(STDIN_NAME, reader, MAX_INPUT_BYTES)?;
            objects.extend(read_objects(STDIN_NAME, bytes)?);
        } else {
            let files = if path.is_dir() {
                directory_files(path)?
            } else {
                vec![path.clone()]
            };
            for file in files {
                let name = file.display().to_string();
                let bytes = read_file(&name, &file)?;
                objects.extend(read_objects(&name, bytes)?);
            }
        }
    }
    Ok(objects)
}

/// [`read_object_paths`] for one input already in memory.
pub fn read_objects(name: &str, bytes: Vec<u8>) -> Result<Vec<Value>, DumpError> {
    let text = input::decode_text(bytes).map_err(|error| DumpError::NotText {
        name: name.to_owned(),
        line: error.line,
        column: error.column,
        detail: error.detail,
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    if input::is_blank(text) {
        return Err(DumpError::Empty {
            name: name.to_owned(),
        });
    }
    let failure = |line: Option<u64>, column: Option<u64>, message: String| {
        DumpError::Parse(Box::new(ParseError {
            name: name.to_owned(),
            line,
            column,
            object: None,
            field: None,
            message,
        }))
    };
    let documents: Vec<Value> = match input::sniff(text) {
        Format::Json => serde_json::Deserializer::from_str(text)
            .into_iter::<Value>()
            .collect::<Result<_, _>>()
            .map_err(|error| {
                let line = (error.line() > 0).then_some(error.line() as u64);
                let column = (error.column() > 0).then_some(error.column() as u64);
                failure(line, column, json_message(&error))
            })?,
        Format::Yaml => serde_saphyr::from_multiple_with_options(text, yaml_options(text.len()))
            .map_err(|error| {
                let location = error.location();
                failure(
                    location.map(|l| l.line()).filter(|&line| line > 0),
                    location.map(|l| l.column()).filter(|&column| column > 0),
                    yaml_message(&error, text),
                )
            })?,
    };
    let mut objects = Vec::new();
    for document in documents {
        match document {
            Value::Null => {}
            Value::Array(items) => objects.extend(items.into_iter().filter(|v| !v.is_null())),
            object => objects.push(object),
        }
    }
    Ok(objects)
}

fn read_file(name: &str, path: &Path) -> Result<Vec<u8>, DumpError> {
    let file = std::fs::File::open(path).map_err(|source| DumpError::Read {
        name: name.to_owned(),
        source,
    })?;
    read_limited(name, file, MAX_INPUT_BYTES)
}

/// Reads at most `limit` bytes; more is [`DumpError::TooLarge`] (without reading it all).
/// Binary input is refused once its first [`input::HEAD_BYTES`] are read.
fn read_limited(name: &str, mut reader: impl Read, limit: u64) -> Result<Vec<u8>, DumpError> {
    let read_error = |source| DumpError::Read {
        name: name.to_owned(),
        source,
    };
    let mut bytes = Vec::new();
    let head = input::HEAD_BYTES.min(limit.saturating_add(1));
    (&mut reader)
        .take(head)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    input::check_head(&bytes).map_err(|error| DumpError::NotText {
        name: name.to_owned(),
        line: error.line,
        column: error.column,
        detail: error.detail,
    })?;
    reader
        .take(limit.saturating_add(1).saturating_sub(head))
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > limit {
        return Err(DumpError::TooLarge {
            name: name.to_owned(),
            limit,
        });
    }
    Ok(bytes)
}

fn directory_files(directory: &Path) -> Result<Vec<PathBuf>, DumpError> {
    let name = directory.display().to_string();
    let read_error = |source| DumpError::Read {
        name: name.clone(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(directory).map_err(read_error)? {
        let path = entry.map_err(read_error)?.path();
        let dump_like = path
            .extension()
            .and_then(|extension| extension.to_str())
            .is_some_and(|extension| matches!(extension, "yaml" | "yml" | "json"));
        if dump_like && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Collects objects from several inputs into one snapshot.
#[derive(Default)]
struct Builder {
    snapshot: ClusterSnapshot,
    /// Kinds listed by a typed list, even if empty.
    listed: Vec<ResourceKind>,
    /// Where each (kind, namespace, name) sits in its snapshot vector.
    seen: HashMap<(ResourceKind, String, String), usize>,
    sources: Vec<String>,
    notes: Vec<DumpNote>,
    /// Shares the pods' strings and lists.
    interner: crate::objects::Interner,
}

impl Builder {
    fn add_bytes(&mut self, name: &str, bytes: Vec<u8>) -> Result<(), DumpError> {
        let text = input::decode_text(bytes).map_err(|error| DumpError::NotText {
            name: name.to_owned(),
            line: error.line,
            column: error.column,
            detail: error.detail,
        })?;
        self.add_text(name, &text)
    }

    fn add_text(&mut self, name: &str, text: &str) -> Result<(), DumpError> {
        if text.len() as u64 > MAX_INPUT_BYTES {
            return Err(DumpError::TooLarge {
                name: name.to_owned(),
                limit: MAX_INPUT_BYTES,
            });
        }
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if input::is_blank(text) {
            return Err(DumpError::Empty {
                name: name.to_owned(),
            });
        }
        let format = input::sniff(text);
        let documents = parse(name, text, format)?;
        if documents.iter().all(Option::is_none) {
            return Err(DumpError::Empty {
                name: name.to_owned(),
            });
        }
        self.sources.push(name.to_owned());

        // Notes sorted by kind, then apiVersion.
        let mut skipped: BTreeMap<(String, Option<String>, SkipReason), usize> = BTreeMap::new();
        let mut defaulted = 0;
        let mut duplicates = 0;
        for entry in documents.into_iter().flatten().flatten() {
            match entry {
                Entry::Object(object) => {
                    let (object, was_defaulted) = default_namespace(object);
                    defaulted += usize::from(was_defaulted);
                    duplicates += usize::from(self.insert(object));
                }
                Entry::Skipped {
                    api_version,
                    kind,
                    reason,
                } => {
                    let kind = clean(&kind, 100);
                    let api_version = api_version.map(|version| clean(&version, 100));
                    *skipped.entry((kind, api_version, reason)).or_default() += 1;
                }
                Entry::Listed(kind) => self.listed.push(kind),
                Entry::GatewayApi(mut object) => {
                    defaulted += usize::from(object.default_namespace());
                    duplicates += usize::from(self.snapshot.gateway_api.insert(object));
                }
            }
        }
        for ((kind, api_version, reason), count) in skipped {
            self.notes.push(DumpNote::Skipped {
                source: name.to_owned(),
                api_version,
                kind,
                count,
                reason,
            });
        }
        if defaulted > 0 {
            self.notes.push(DumpNote::DefaultNamespace {
                source: name.to_owned(),
                count: defaulted,
            });
        }
        if duplicates > 0 {
            self.notes.push(DumpNote::Duplicates {
                source: name.to_owned(),
                count: duplicates,
            });
        }
        Ok(())
    }

    /// Adds an object; returns true when it replaced an earlier copy.
    fn insert(&mut self, object: Object) -> bool {
        let kind = object.kind();
        let meta = object.metadata();
        let key = meta.name.clone().map(|name| {
            let namespace = meta.namespace.clone().unwrap_or_default();
            (kind, namespace, name)
        });
        let snapshot = &mut self.snapshot;
        let length = match &object {
            Object::Service(_) => snapshot.services.len(),
            Object::EndpointSlice(_) => snapshot.endpoint_slices.len(),
            Object::Pod(_) => snapshot.pods.len(),
            Object::Node(_) => snapshot.nodes.len(),
            Object::Ingress(_) => snapshot.ingresses.len(),
            Object::Namespace(_) => snapshot.namespaces.len(),
            Object::IngressClass(_) => snapshot.ingress_classes.len(),
            Object::NetworkPolicy(_) => snapshot.network_policies.len(),
        };
        // Objects without a name are kept as they are (nothing to match them on).
        let earlier = match key {
            Some(key) => match self.seen.get(&key) {
                Some(&index) => Some(index),
                None => {
                    self.seen.insert(key, length);
                    None
                }
            },
            None => None,
        };
        // A dump cannot be read again: its pods keep their objects for the views.
        let interner = &mut self.interner;
        let mut info = |pod| Arc::new(crate::objects::PodInfo::keeping(pod, interner));
        match (object, earlier) {
            (Object::Service(o), Some(i)) => put(&mut snapshot.services, i, o),
            (Object::EndpointSlice(o), Some(i)) => put(
                &mut snapshot.endpoint_slices,
                i,
                Arc::new(crate::objects::SliceInfo::keeping(o, interner)),
            ),
            (Object::Pod(o), Some(i)) => {
                put(Arc::<Vec<_>>::make_mut(&mut snapshot.pods), i, info(o))
            }
            (Object::Node(o), Some(i)) => put(&mut snapshot.nodes, i, o),
            (Object::Ingress(o), Some(i)) => put(&mut snapshot.ingresses, i, o),
            (Object::Namespace(o), Some(i)) => put(&mut snapshot.namespaces, i, o),
            (Object::IngressClass(o), Some(i)) => put(&mut snapshot.ingress_classes, i, o),
            (Object::NetworkPolicy(o), Some(i)) => put(&mut snapshot.network_policies, i, o),
            (Object::Service(o), None) => snapshot.services.push(o),
            (Object::EndpointSlice(o), None) => snapshot
                .endpoint_slices
                .push(Arc::new(crate::objects::SliceInfo::keeping(o, interner))),
            (Object::Pod(o), None) => Arc::make_mut(&mut snapshot.pods).push(info(o)),
            (Object::Node(o), None) => snapshot.nodes.push(o),
            (Object::Ingress(o), None) => snapshot.ingresses.push(o),
            (Object::Namespace(o), None) => snapshot.namespaces.push(o),
            (Object::IngressClass(o), None) => snapshot.ingress_classes.push(o),
            (Object::NetworkPolicy(o), None) => snapshot.network_policies.push(o),
        }
        earlier.is_some()
    }

    fn finish(mut self) -> DumpLoad {
        let snapshot = &mut self.snapshot;
        for kind in ResourceKind::ALL {
            let present = match kind {
                ResourceKind::Service => !snapshot.services.is_empty(),
                ResourceKind::EndpointSlice => !snapshot.endpoint_slices.is_empty(),
                ResourceKind::Pod => !snapshot.pods.is_empty(),
                ResourceKind::Node => !snapshot.nodes.is_empty(),
                ResourceKind::Ingress => !snapshot.ingresses.is_empty(),
                ResourceKind::Namespace => !snapshot.namespaces.is_empty(),
                // Optional, never in ALL: a dump without classes is not missing anything.
                _ => true,
            };
            if !present && !self.listed.contains(&kind) {
                snapshot.missing.push(MissingKind {
                    kind,
                    reason: format!("{NOT_IN_DUMP} ({})", self.sources.join(", ")),
                });
            }
        }
        DumpLoad {
            snapshot: self.snapshot,
            notes: self.notes,
        }
    }
}

fn put<T>(objects: &mut [Arc<T>], index: usize, object: Arc<T>) {
    if let Some(slot) = objects.get_mut(index) {
        *slot = object;
    }
}

impl Object {
    fn kind(&self) -> ResourceKind {
        match self {
            Object::Service(_) => ResourceKind::Service,
            Object::EndpointSlice(_) => ResourceKind::EndpointSlice,
            Object::Pod(_) => ResourceKind::Pod,
            Object::Node(_) => ResourceKind::Node,
            Object::Ingress(_) => ResourceKind::Ingress,
            Object::Namespace(_) => ResourceKind::Namespace,
            Object::IngressClass(_) => ResourceKind::IngressClass,
            Object::NetworkPolicy(_) => ResourceKind::NetworkPolicy,
        }
    }

    fn metadata(&self) -> &ObjectMeta {
        match self {
            Object::Service(o) => o.metadata(),
            Object::EndpointSlice(o) => o.metadata(),
            Object::Pod(o) => o.metadata(),
            Object::Node(o) => o.metadata(),
            Object::Ingress(o) => o.metadata(),
            Object::Namespace(o) => o.metadata(),
            Object::IngressClass(o) => o.metadata(),
            Object::NetworkPolicy(o) => o.metadata(),
        }
    }
}

/// Puts a namespaced object without a namespace into `default`. The object was just created,
/// so `make_mut` does not copy.
fn default_namespace(object: Object) -> (Object, bool) {
    fn fix<T: Clone + Metadata<Ty = ObjectMeta>>(mut object: Arc<T>) -> (Arc<T>, bool) {
        let missing = object
            .metadata()
            .namespace
            .as_deref()
            .is_none_or(str::is_empty);
        if missing {
            Arc::make_mut(&mut object).metadata_mut().namespace = Some(String::from("default"));
        }
        (object, missing)
    }
    match object {
        Object::Service(o) => {
            let (o, changed) = fix(o);
            (Object::Service(o), changed)
        }
        Object::EndpointSlice(o) => {
            let (o, changed) = fix(o);
            (Object::EndpointSlice(o), changed)
        }
        Object::Pod(o) => {
            let (o, changed) = fix(o);
            (Object::Pod(o), changed)
        }
        Object::Ingress(o) => {
            let (o, changed) = fix(o);
            (Object::Ingress(o), changed)
        }
        Object::NetworkPolicy(o) => {
            let (o, changed) = fix(o);
            (Object::NetworkPolicy(o), changed)
        }
        cluster_scoped @ (Object::Node(_) | Object::Namespace(_) | Object::IngressClass(_)) => {
            (cluster_scoped, false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn input_size_is_limited() {
        let exact = read_limited("f", std::io::repeat(b'a').take(10), 10);
        assert_eq!(exact.map(|bytes| bytes.len()).ok(), Some(10));
        let error = read_limited("f", std::io::repeat(b'a'), 10).expect_err("too large");
        assert_eq!(
            error.to_string(),
            "f: larger than 10 bytes, the limit for one input"
        );
    }

    #[rstest]
    #[case("port: http\n", 1, 7, Some("\"http\""))]
    #[case("port: 'x' # comment\n", 1, 7, Some("\"x\""))]
    #[case("port: x # comment\n", 1, 7, Some("\"x\""))]
    #[case("port: [1]\n", 1, 7, Some("a sequence"))]
    #[case("port: {a: 1}\n", 1, 7, Some("a mapping"))]
    #[case("ports:\n- a\n", 2, 1, Some("a sequence"))]
    #[case("port:\n  a: b\n", 1, 6, Some("a mapping"))]
    #[case("port:\n  - b\n", 1, 6, Some("a sequence"))]
    #[case("x\n", 3, 1, None)]
    #[case("x\n", 0, 1, None)]
    fn describes_what_was_found(
        #[case] text: &str,
        #[case] line: u64,
        #[case] column: u64,
        #[case] expected: Option<&str>,
    ) {
        assert_eq!(found_at(text, line, column).as_deref(), expected);
    }

    #[test]
    fn messages_are_one_short_line() {
        assert_eq!(one_line("a\nb\tc"), "a b c");
        let long = one_line(&"x".repeat(1000));
        assert_eq!(long.chars().count(), 301);
        assert!(long.ends_with('…'));
    }
}
