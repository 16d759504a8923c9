//! Dump loading (`cluster::dump`): every input form users have, notes for what is skipped,
//! errors that name file, line, column, object and field, and hostile sizes.

use std::io::Write;
use std::path::PathBuf;

use kubehop::cluster::ResourceKind;
use kubehop::cluster::dump::{
    self, DumpError, DumpLoad, DumpNote, MAX_DEPTH, NOT_IN_DUMP, ParseError, SkipReason,
};
use rstest::rstest;

const SERVICE_YAML: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  clusterIP: 127.10.0.10
  ports:
  - name: http
    port: 80
    protocol: TCP
    targetPort: http
  selector:
    app: web
  type: ClusterIP
";

/// `kubectl get svc,endpointslices,pods,nodes,ingress,deploy -A -o yaml`, trimmed.
const LIST_YAML: &str = "\
apiVersion: v1
items:
- apiVersion: v1
  kind: Service
  metadata:
    name: web
    namespace: shop
  spec:
    ports:
    - name: http
      port: 80
      targetPort: http
    selector:
      app: web
- addressType: IPv4
  apiVersion: discovery.k8s.io/v1
  endpoints:
  - addresses:
    - 127.1.1.10
    conditions:
      ready: true
  kind: EndpointSlice
  metadata:
    labels:
      kubernetes.io/service-name: web
    name: web-abcde
    namespace: shop
  ports:
  - name: http
    port: 8080
- apiVersion: v1
  kind: Pod
  metadata:
    labels:
      app: web
    name: web-1
    namespace: shop
  spec:
    containers:
    - name: web
      ports:
      - containerPort: 8080
        name: http
  status:
    podIP: 127.1.1.10
- apiVersion: v1
  kind: Node
  metadata:
    name: node-1
  status:
    addresses:
    - address: 127.0.1.1
      type: InternalIP
- apiVersion: networking.k8s.io/v1
  kind: Ingress
  metadata:
    name: shop
    namespace: shop
  spec:
    rules:
    - http:
        paths:
        - backend:
            service:
              name: web
              port:
                name: http
          path: /
          pathType: Prefix
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: web
    namespace: shop
  spec:
    replicas: 3
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: api
    namespace: shop
kind: List
metadata:
  resourceVersion: \"\"
";

fn load(text: &str) -> DumpLoad {
    dump::load_str("dump.yaml", text).unwrap_or_else(|error| panic!("{error}"))
}

fn error(text: &str) -> String {
    match dump::load_str("dump.yaml", text) {
        Ok(load) => panic!("loaded: {:?}", load.snapshot),
        Err(error) => error.to_string(),
    }
}

fn counts(load: &DumpLoad) -> [usize; 6] {
    let s = &load.snapshot;
    [
        s.services.len(),
        s.endpoint_slices.len(),
        s.pods.len(),
        s.nodes.len(),
        s.ingresses.len(),
        s.namespaces.len(),
    ]
}

fn to_json(yaml: &str) -> String {
    let documents: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(yaml).expect("test input is valid YAML");
    documents
        .iter()
        .map(|document| serde_json::to_string_pretty(document).expect("serializes"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn kubectl_list_yaml() {
    let load = load(LIST_YAML);
    assert_eq!(counts(&load), [1, 1, 1, 1, 1, 0]);
    let pod = load.snapshot.pods[0].to_pod();
    assert_eq!(pod.metadata.name.as_deref(), Some("web-1"));
    let ip = pod.status.as_ref().and_then(|s| s.pod_ip.as_deref());
    assert_eq!(ip, Some("127.1.1.10"));
    assert_eq!(
        load.notes,
        vec![DumpNote::Skipped {
            source: "dump.yaml".into(),
            api_version: Some("apps/v1".into()),
            kind: "Deployment".into(),
            count: 2,
            reason: SkipReason::NotRead,
        }]
    );
    assert_eq!(
        load.notes[0].to_string(),
        "skipped 2 Deployment (apps/v1) objects in dump.yaml: kubehop does not read this kind"
    );
}

#[test]
fn kubectl_list_json_matches_yaml() {
    let yaml = load(LIST_YAML);
    let json = dump::load_str("dump.json", &to_json(LIST_YAML)).expect("loads");
    assert_eq!(counts(&json), counts(&yaml));
    assert_eq!(json.snapshot.services, yaml.snapshot.services);
    assert_eq!(json.snapshot.pods, yaml.snapshot.pods);
    assert_eq!(json.snapshot.endpoint_slices, yaml.snapshot.endpoint_slices);
}

#[test]
fn windows_line_endings_and_byte_order_marks() {
    let crlf = LIST_YAML.replace('\n', "\r\n");
    assert_eq!(counts(&load(&crlf)), [1, 1, 1, 1, 1, 0]);

    let mut utf8_bom = vec![0xEF, 0xBB, 0xBF];
    utf8_bom.extend_from_slice(LIST_YAML.as_bytes());
    let load_bom = dump::load_bytes("bom.yaml", &utf8_bom).expect("loads");
    assert_eq!(counts(&load_bom), [1, 1, 1, 1, 1, 0]);

    // PowerShell 5: `kubectl get ... -o yaml > dump.yaml` writes UTF-16LE with a BOM.
    let mut utf16 = vec![0xFF, 0xFE];
    for unit in crlf.encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    let load_utf16 = dump::load_bytes("ps.yaml", &utf16).expect("loads");
    assert_eq!(counts(&load_utf16), [1, 1, 1, 1, 1, 0]);
}

/// API server responses: typed lists whose items carry no apiVersion/kind.
#[test]
fn typed_lists_from_the_api() {
    let text = r#"{"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":"9"},
        "items":[{"metadata":{"name":"a","namespace":"x"},"spec":{"ports":[{"port":80}]}},
                 {"metadata":{"name":"b","namespace":"x"}}]}
        {"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1","metadata":{},"items":[]}"#;
    let load = dump::load_str("api.json", text).expect("loads");
    assert_eq!(counts(&load), [2, 0, 0, 0, 0, 0]);
    // An empty EndpointSliceList says "there are none": the kind is provided.
    assert!(load.snapshot.has(ResourceKind::EndpointSlice));
    assert!(!load.snapshot.has(ResourceKind::Pod));
}

#[test]
fn typed_list_yaml_with_kinds_on_items() {
    let text = "apiVersion: v1\nkind: PodList\nitems:\n- metadata: {name: a, namespace: x}\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: b, namespace: x}\n";
    let load = load(text);
    assert_eq!(counts(&load), [0, 0, 2, 0, 0, 0]);
}

#[test]
fn multi_document_yaml_with_objects_and_lists() {
    let text = format!(
        "# manifests\n---\n{SERVICE_YAML}---\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n...\n---\n{LIST_YAML}"
    );
    let load = load(&text);
    // The Service appears twice (single object, then in the List): kept once.
    assert_eq!(counts(&load), [1, 1, 1, 1, 1, 1]);
    assert!(load.notes.contains(&DumpNote::Duplicates {
        source: "dump.yaml".into(),
        count: 1
    }));
}

#[rstest]
#[case::yaml_object(SERVICE_YAML)]
#[case::json_object(&to_json(SERVICE_YAML))]
#[case::json_compact(&serde_json::to_string(&serde_saphyr::from_str::<serde_json::Value>(SERVICE_YAML).expect("yaml")).expect("json"))]
fn single_object(#[case] text: &str) {
    let load = dump::load_str("svc", text).expect("loads");
    assert_eq!(counts(&load), [1, 0, 0, 0, 0, 0]);
    let spec = load.snapshot.services[0].spec.clone().expect("spec");
    assert_eq!(spec.cluster_ip.as_deref(), Some("127.10.0.10"));
}

/// Several `kubectl get -o json` outputs concatenated, or objects in a top-level sequence.
#[rstest]
#[case::json_stream(
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"}}\n{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"b\"}} {\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n\"}}"
)]
#[case::json_array(
    "[{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"}},{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"b\"}},{\"kind\":\"Node\",\"metadata\":{\"name\":\"n\"}}]"
)]
#[case::yaml_sequence(
    "- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n- {apiVersion: v1, kind: Pod, metadata: {name: b}}\n- kind: Node\n  metadata: {name: n}\n"
)]
fn streams_and_sequences(#[case] text: &str) {
    let load = dump::load_str("stream", text).expect("loads");
    assert_eq!(counts(&load), [0, 0, 2, 1, 0, 0]);
}

/// Hand-written manifests: `kind` after `metadata`, `apiVersion` last, no namespace.
#[test]
fn keys_in_any_order_and_default_namespace() {
    let text = "metadata:\n  name: web\nspec:\n  ports:\n  - port: 80\nkind: Service\napiVersion: v1\n---\nkind: Pod\nmetadata: {name: a, namespace: shop}\napiVersion: v1\n";
    let load = load(text);
    assert_eq!(counts(&load), [1, 0, 1, 0, 0, 0]);
    let service = &load.snapshot.services[0];
    assert_eq!(service.metadata.namespace.as_deref(), Some("default"));
    let ports = service
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .expect("ports");
    assert_eq!(ports[0].port, 80);
    assert_eq!(
        load.snapshot.pods[0].to_pod().metadata.namespace.as_deref(),
        Some("shop")
    );
    assert_eq!(
        load.notes,
        vec![DumpNote::DefaultNamespace {
            source: "dump.yaml".into(),
            count: 1
        }]
    );
}

/// Legacy Endpoints, Secrets and old API versions are skipped with a note, and nothing of a
/// Secret's contents reaches notes or the snapshot.
#[test]
fn skipped_kinds_are_noted_and_secrets_stay_unseen() {
    let text = "\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Endpoints
  metadata: {name: web, namespace: shop}
  subsets: [{addresses: [{ip: 127.1.1.10}]}]
- data:
    password: c3VwZXItc2VjcmV0LXZhbHVl
  kind: Secret
  apiVersion: v1
  metadata: {name: db, namespace: shop}
- apiVersion: extensions/v1beta1
  kind: Ingress
  metadata: {name: old, namespace: shop}
- apiVersion: discovery.k8s.io/v1beta1
  kind: EndpointSlice
  metadata: {name: old, namespace: shop}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: settings, namespace: shop}
  data: {token: plain-secret-token}
- apiVersion: v1
  kind: List
  items: []
";
    let load = load(text);
    assert_eq!(counts(&load), [0, 0, 0, 0, 0, 0]);
    let notes: Vec<String> = load.notes.iter().map(ToString::to_string).collect();
    assert_eq!(
        notes,
        [
            "skipped 1 ConfigMap (v1) object in dump.yaml: kubehop does not read this kind",
            "skipped 1 EndpointSlice (discovery.k8s.io/v1beta1) object in dump.yaml: kubehop reads discovery.k8s.io/v1 EndpointSlice",
            "skipped 1 Endpoints (v1) object in dump.yaml: kubehop reads EndpointSlices instead of legacy Endpoints (add endpointslices to `kubectl get`)",
            "skipped 1 Ingress (extensions/v1beta1) object in dump.yaml: kubehop reads networking.k8s.io/v1 Ingress",
            "skipped 1 List (v1) object in dump.yaml: a List inside a List is not read",
            "skipped 1 Secret (v1) object in dump.yaml: kubehop does not read this kind",
        ]
    );
    let odd = load_named(
        "odd.yaml",
        "apiVersion: \"v1\\nx\"\nkind: \"Secret\\nSecret\"\n",
    );
    assert_eq!(
        odd.notes[0].to_string(),
        "skipped 1 Secret Secret (v1 x) object in odd.yaml: kubehop does not read this kind"
    );
    let everything = format!("{load:?} {notes:?}");
    assert!(!everything.contains("c3VwZXItc2VjcmV0LXZhbHVl"));
    assert!(!everything.contains("plain-secret-token"));
}

#[test]
fn kinds_not_in_the_dump_are_missing() {
    let load = load(SERVICE_YAML);
    let missing: Vec<ResourceKind> = load.snapshot.missing.iter().map(|m| m.kind).collect();
    assert_eq!(
        missing,
        [
            ResourceKind::EndpointSlice,
            ResourceKind::Pod,
            ResourceKind::Node,
            ResourceKind::Ingress,
            ResourceKind::Namespace
        ]
    );
    assert!(!load.snapshot.has(ResourceKind::EndpointSlice));
    assert!(load.snapshot.has(ResourceKind::Service));
    assert_eq!(
        load.snapshot.missing[0].reason,
        format!("{NOT_IN_DUMP} (dump.yaml)")
    );
    assert_eq!(load.snapshot.generation, 0);
}

/// An empty `v1 List` is a valid (empty) dump; an input without any document is not.
#[test]
fn empty_list_is_not_empty_input() {
    let load = load("apiVersion: v1\nitems: []\nkind: List\nmetadata:\n  resourceVersion: \"\"\n");
    assert_eq!(counts(&load), [0; 6]);
    assert_eq!(load.snapshot.missing.len(), 6);
}

fn write_file(directory: &tempdir::Dir, name: &str, text: &[u8]) -> PathBuf {
    let path = directory.path().join(name);
    let mut file = std::fs::File::create(&path).expect("create");
    file.write_all(text).expect("write");
    path
}

/// A temporary directory removed on drop (std only).
mod tempdir {
    use std::path::{Path, PathBuf};

    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new(test: &str) -> Self {
            let path =
                std::env::temp_dir().join(format!("kubehop-dump-{test}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).expect("temp dir");
            Dir(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[test]
fn files_stdin_and_directories() {
    let directory = tempdir::Dir::new("files");
    let services = write_file(&directory, "a-services.yaml", SERVICE_YAML.as_bytes());
    let pods = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"namespace\":\"shop\"}}";
    write_file(&directory, "b-pods.json", pods.as_bytes());
    write_file(&directory, "notes.txt", b"not a dump");

    // A file, standard input, and a directory (its .yaml/.yml/.json files, sorted).
    let stdin = LIST_YAML.as_bytes();
    let load = dump::load_paths_with_stdin(
        &[
            services.clone(),
            PathBuf::from("-"),
            directory.path().to_path_buf(),
        ],
        stdin,
    )
    .expect("loads");
    assert_eq!(counts(&load), [1, 1, 2, 1, 1, 0]);
    let duplicates: Vec<String> = load
        .notes
        .iter()
        .filter(|note| matches!(note, DumpNote::Duplicates { .. }))
        .map(ToString::to_string)
        .collect();
    let later = directory
        .path()
        .join("a-services.yaml")
        .display()
        .to_string();
    assert_eq!(
        duplicates,
        [
            "1 object(s) in <stdin> appeared earlier in the input (same kind, namespace and name): the copy from <stdin> is used".to_owned(),
            format!("1 object(s) in {later} appeared earlier in the input (same kind, namespace and name): the copy from {later} is used"),
        ]
    );

    let twice = dump::load_paths_with_stdin(&["-".into(), "-".into()], stdin);
    assert_eq!(
        twice.map(|_| ()).map_err(|e| e.to_string()),
        Err("standard input (-) is given more than once to --from-file".into())
    );

    let empty = tempdir::Dir::new("empty");
    let error = dump::load_paths(&[empty.path().to_path_buf()]).expect_err("no dump files");
    assert!(matches!(error, DumpError::Empty { .. }), "{error}");

    let missing = directory.path().join("nope.yaml");
    let error = dump::load_paths(std::slice::from_ref(&missing)).expect_err("no such file");
    assert!(matches!(error, DumpError::Read { .. }));
    assert!(
        error
            .to_string()
            .starts_with(&format!("{}: cannot read: ", missing.display())),
        "{error}"
    );
}

/// The later copy of an object wins, in its original position.
#[test]
fn later_copy_wins() {
    let first = SERVICE_YAML.replace("127.10.0.10", "127.10.0.1");
    let second = SERVICE_YAML.replace("127.10.0.10", "127.10.0.2");
    let text = format!("{first}---\n{LIST_YAML}---\n{second}");
    let load = load(&text);
    assert_eq!(load.snapshot.services.len(), 1);
    let ip = load.snapshot.services[0]
        .spec
        .as_ref()
        .and_then(|s| s.cluster_ip.clone());
    assert_eq!(ip.as_deref(), Some("127.10.0.2"));
}

#[test]
fn no_paths_needs_a_file() {
    let error = dump::load_paths(&[]).expect_err("no --from-file");
    assert_eq!(
        error.to_string(),
        "no dump to read: pass --from-file PATH (or - for standard input)"
    );
}

/// Malformed input: one line naming file, line and column, the object and the field.
#[rstest]
#[case::yaml_wrong_type(
    "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a, namespace: x}\n- apiVersion: v1\n  kind: Service\n  metadata:\n    name: web\n    namespace: shop\n  spec:\n    ports:\n    - port: http\n",
    "dump.yaml:14:13: items[1] (Service shop/web): spec.ports[0].port: invalid value: \"http\", expected i32"
)]
#[case::json_wrong_type(
    "{\"apiVersion\": \"v1\", \"items\": [\n {\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"web\", \"namespace\": \"shop\"},\n  \"spec\": {\"ports\": [{\"port\": \"http\"}]}}], \"kind\": \"List\"}",
    "dump.yaml:3:36: items[0] (Service shop/web): spec.ports[0].port: invalid type: string \"http\", expected i32"
)]
#[case::yaml_truncated_quote(
    "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: \"web-1\n",
    "dump.yaml:7:11: items[0] (Pod): unclosed quote"
)]
#[case::yaml_truncated_mid_object(
    "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: web-1, namespace: shop}\n  spec:\n    containers:\n    - name\n",
    "dump.yaml:9:7: items[0] (Pod shop/web-1): spec.containers[0]: invalid type: \"name\", expected a mapping"
)]
#[case::json_truncated(
    "{\"apiVersion\": \"v1\", \"items\": [{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"a\"",
    "dump.yaml:1:91: items[0] (Pod): EOF while parsing an object"
)]
#[case::json_trailing_garbage(
    "{\"apiVersion\": \"v1\", \"kind\": \"Namespace\", \"metadata\": {\"name\": \"a\"}}\n]",
    "dump.yaml:2:1: document 2: expected value"
)]
#[case::yaml_bad_indentation(
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n namespace: b\n",
    "dump.yaml:5:2: Pod: while parsing a block mapping, did not find expected key"
)]
#[case::item_not_an_object(
    "apiVersion: v1\nkind: List\nitems:\n- 42\n",
    "dump.yaml:4:3: items[0]: invalid type: \"42\", expected a mapping"
)]
#[case::items_not_a_sequence(
    "apiVersion: v1\nkind: List\nitems:\n  a: b\n",
    "dump.yaml:4:3: List: invalid type: map, expected a sequence of Kubernetes objects"
)]
#[case::no_kind(
    "apiVersion: v1\nmetadata:\n  name: web\n",
    "dump.yaml:1:1: web: not a Kubernetes object: it has no `kind` field"
)]
#[case::item_without_kind_in_plain_list(
    "apiVersion: v1\nkind: List\nitems:\n- metadata: {name: web}\n",
    "dump.yaml:4:3: items[0] (web): not a Kubernetes object: it has no `kind` field"
)]
#[case::scalar_document(
    "hello world\n",
    "dump.yaml:1:1: invalid type: string \"hello world\", expected a Kubernetes object, a List, or a sequence of objects"
)]
#[case::kind_not_a_string(
    "apiVersion: v1\nkind: [Pod]\n",
    "dump.yaml:2:7: invalid type: a sequence, expected a string"
)]
#[case::metadata_not_a_mapping(
    "apiVersion: v1\nkind: Pod\nmetadata: web-1\n",
    "dump.yaml:3:11: Pod: metadata: invalid type: \"web-1\", expected a mapping"
)]
#[case::label_value_not_a_string(
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labels:\n    app: [web]\n",
    "dump.yaml:6:10: Pod a: metadata.labels.app: invalid type: a sequence, expected a string"
)]
#[case::duplicate_key(
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  name: b\n",
    "dump.yaml:5:3: Pod: duplicate mapping key: name"
)]
#[case::wrong_kind_for_version(
    "apiVersion: v1\nkind: List\nitems:\n- kind: Service\n  metadata: {name: web, namespace: shop}\n  apiVersion: v2\n",
    "dump.yaml:6:3: items[0] (Service shop/web): invalid value: string \"v2\", expected v1"
)]
#[case::object_with_items(
    "items: []\nkind: Pod\n",
    "dump.yaml:1:1: Pod: `items` is only valid in a List, not in a Pod"
)]
#[case::newline_in_kind_and_name(
    "[{\"apiVersion\": \"v1\", \"kind\": \"Foo\\nBar\", \"metadata\": {\"name\": \"a\\nb\"}, \"spec\": [}]",
    "dump.yaml:1:82: [0] (Foo Bar): expected value"
)]
#[case::newline_in_name(
    "[{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"a\\nb\"}, \"spec\": 7}]",
    "dump.yaml:1:76: [0] (Pod a b): spec: invalid type: integer `7`, expected PodSpec"
)]
fn malformed_input_is_one_clear_line(#[case] text: &str, #[case] expected: &str) {
    let message = error(text);
    assert_eq!(message, expected);
    assert!(!message.contains('\n'));
}

#[test]
fn parse_errors_are_structured() {
    let Err(DumpError::Parse(parse)) = dump::load_str(
        "bad.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec:\n  ports:\n  - port: http\n",
    ) else {
        panic!("expected a parse error");
    };
    assert_eq!(
        *parse,
        ParseError {
            name: "bad.yaml".into(),
            line: Some(6),
            column: Some(11),
            object: Some("Service shop/web".into()),
            field: Some("spec.ports[0].port".into()),
            message: "invalid value: \"http\", expected i32".into(),
        }
    );
}

/// The error names the file it is in, also when an earlier file was fine.
#[test]
fn error_names_the_failing_file() {
    let directory = tempdir::Dir::new("names");
    let good = write_file(&directory, "good.yaml", SERVICE_YAML.as_bytes());
    let bad = write_file(
        &directory,
        "bad.yaml",
        b"apiVersion: v1\nkind: Pod\nspec: 7\n",
    );
    let error = dump::load_paths(&[good, bad.clone()]).expect_err("bad file");
    assert_eq!(
        error.to_string(),
        format!(
            "{}:3:7: Pod: spec: invalid type: \"7\", expected a mapping",
            bad.display()
        )
    );
}

#[rstest]
#[case::nothing(b"".as_slice())]
#[case::whitespace(b"  \n\n\t\n".as_slice())]
#[case::comments_and_markers(b"# kubectl printed nothing\n---\n...\n".as_slice())]
#[case::null_document(b"null\n".as_slice())]
#[case::json_null(b"null".as_slice())]
fn empty_input_is_an_error(#[case] bytes: &[u8]) {
    let error = dump::load_bytes("empty.yaml", bytes).expect_err("empty");
    assert_eq!(
        error.to_string(),
        "empty.yaml: empty: no Kubernetes objects in it (expected `kubectl get ... -o yaml` or `-o json` output)"
    );
}

#[rstest]
#[case::gzip(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03".as_slice(), "gz.yaml:1:2: not a text file: invalid UTF-8: this looks like a binary file, not `kubectl get -o yaml|json` output")]
#[case::invalid_utf8_later(b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: caf\xe9\n".as_slice(), "gz.yaml:4:12: not a text file: invalid UTF-8: this looks like a binary file, not `kubectl get -o yaml|json` output")]
#[case::nul_bytes(b"kind: Pod\n\0\0\0\0".as_slice(), "gz.yaml:2:1: not a text file: a NUL byte: this looks like a binary file, not `kubectl get -o yaml|json` output")]
#[case::control_characters(b"kind: Pod\x07\x08\n".as_slice(), "gz.yaml:1:7: unexpected character: `\\u{7}'")]
fn binary_input_is_an_error(#[case] bytes: &[u8], #[case] expected: &str) {
    let error = dump::load_bytes("gz.yaml", bytes).expect_err("binary");
    assert_eq!(error.to_string(), expected);
}

/// Deep nesting in free-form fields (`fieldsV1` is arbitrary JSON) stops at the depth limit
/// instead of overflowing the stack; in ignored fields it is skipped without recursion.
#[rstest]
#[case::yaml_block(format!("apiVersion: v1\nkind: Pod\nmetadata:\n  managedFields:\n  - fieldsV1:\n{}", (0..200).map(|depth| format!("{}f:\n", "  ".repeat(depth + 3))).collect::<String>()), Some("depth"))]
#[case::yaml_flow(format!("apiVersion: v1\nkind: Pod\nmetadata:\n  managedFields:\n  - fieldsV1: {}{}\n", "[".repeat(100_000), "]".repeat(100_000)), Some("recursion limit"))]
#[case::yaml_ignored(format!("apiVersion: v1\nkind: Pod\nunknown: {}{}\n", "[".repeat(100_000), "]".repeat(100_000)), Some("recursion limit"))]
#[case::json_free_form(format!("{{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{{\"managedFields\":[{{\"fieldsV1\":{}{}}}]}}}}", "[".repeat(100_000), "]".repeat(100_000)), Some("recursion limit"))]
#[case::json_ignored(format!("{{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"unknown\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000)), None)]
#[case::json_buffered(format!("{{\"unknown\":{}{}, \"kind\":\"Pod\"}}", "[".repeat(100_000), "]".repeat(100_000)), Some("recursion limit"))]
fn deep_nesting_is_bounded(#[case] text: String, #[case] error: Option<&str>) {
    match (dump::load_str("deep", &text), error) {
        (Ok(load), None) => assert_eq!(load.snapshot.pods.len(), 1),
        (Err(actual), Some(expected)) => {
            let message = actual.to_string();
            assert!(message.starts_with("deep:"), "{message}");
            assert!(message.contains(expected), "{message}");
        }
        (Ok(_), Some(expected)) => panic!("loaded, expected an error with {expected:?}"),
        (Err(actual), None) => panic!("{actual}"),
    }
    assert_eq!(MAX_DEPTH, 64);
}

/// A billion-laughs alias bomb is refused instead of expanded.
#[test]
fn alias_bombs_are_refused() {
    let mut text = String::from(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bomb\n  annotations:\n    a0: &a0 \"lol\"\n",
    );
    let mut lines =
        String::from("spec:\n  x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for level in 1..12 {
        let previous = format!("*x{}", level - 1);
        let row = vec![previous; 10].join(", ");
        lines.push_str(&format!("  x{level}: &x{level} [{row}]\n"));
    }
    text.push_str(&lines);
    let error = dump::load_str("bomb.yaml", &text).expect_err("refused");
    assert!(error.to_string().starts_with("bomb.yaml:"), "{error}");
}

/// Big but honest input is accepted: 1 MB label values, 100,000 ports, unicode names, pods
/// without status, many documents.
#[test]
fn hostile_sizes_are_accepted() {
    let big = "v".repeat(1 << 20);
    let text = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: wéb-1-🚀\n  namespace: 商店\n  labels:\n    app: {big}\n"
    );
    let load = load(&text);
    let pod = load.snapshot.pods[0].to_pod();
    assert_eq!(pod.metadata.name.as_deref(), Some("wéb-1-🚀"));
    assert_eq!(pod.metadata.namespace.as_deref(), Some("商店"));
    assert_eq!(
        pod.metadata.labels.as_ref().expect("labels")["app"].len(),
        1 << 20
    );
    assert!(pod.status.is_none());

    // 100,000 ports as JSON, 5,000 as YAML (the YAML reader is slow in debug builds).
    let ports: Vec<String> = (0..100_000)
        .map(|i| {
            format!(
                "{{\"name\":\"p{i}\",\"port\":{},\"targetPort\":{}}}",
                i % 65535 + 1,
                i % 65535 + 1
            )
        })
        .collect();
    let json = format!(
        "{{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{{\"name\":\"many\",\"namespace\":\"x\"}},\"spec\":{{\"ports\":[{}]}}}}",
        ports.join(",")
    );
    let load = load_named("ports.json", &json);
    let spec = load.snapshot.services[0].spec.as_ref().expect("spec");
    assert_eq!(spec.ports.as_ref().expect("ports").len(), 100_000);
    let mut yaml = String::from(
        "apiVersion: v1\nkind: Service\nmetadata: {name: many, namespace: x}\nspec:\n  ports:\n",
    );
    for i in 0..5_000 {
        yaml.push_str(&format!(
            "  - name: p{i}\n    port: {}\n    targetPort: {}\n",
            i + 1,
            i + 1
        ));
    }
    let load = load_named("ports.yaml", &yaml);
    let spec = load.snapshot.services[0].spec.as_ref().expect("spec");
    assert_eq!(spec.ports.as_ref().expect("ports").len(), 5_000);

    let documents = format!("{}{SERVICE_YAML}", "---\n".repeat(20_000));
    assert_eq!(
        counts(&load_named("docs.yaml", &documents)),
        [1, 0, 0, 0, 0, 0]
    );
}

fn load_named(name: &str, text: &str) -> DumpLoad {
    dump::load_str(name, text).unwrap_or_else(|error| panic!("{error}"))
}

/// Every prefix of a real dump either loads or fails with a positioned error; none panics.
#[test]
fn truncated_dumps_never_panic() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/scenarios/mongodb.yaml"
    ))
    .expect("fixture");
    let mut errors = 0;
    for end in (0..text.len()).step_by(157) {
        if !text.is_char_boundary(end) {
            continue;
        }
        match dump::load_str("cut.yaml", &text[..end]) {
            Ok(_) => {}
            Err(DumpError::Empty { .. }) => {}
            Err(DumpError::Parse(parse)) => {
                errors += 1;
                assert!(parse.line.is_some(), "cut at {end}: {parse}");
            }
            Err(other) => panic!("cut at {end}: {other}"),
        }
    }
    assert!(errors > 5, "{errors}");
}

/// C11: IngressClasses are read (cluster-scoped, kept without a namespace) and are optional:
/// a dump without them reports nothing missing for them, and the class check then stays
/// silent; with them, an Ingress naming an unknown class is found.
#[test]
fn ingress_classes_are_read_and_optional() {
    let ingress = "\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, namespace: shop}
spec:
  ingressClassName: ngnix
  rules:
  - http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
";
    let class = "\
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: nginx
  annotations: {ingressclass.kubernetes.io/is-default-class: 'true'}
spec: {controller: k8s.io/ingress-nginx}
";
    let code = |load: &DumpLoad| {
        let model = kubehop::engine::build(&load.snapshot, &Default::default());
        model
            .service("shop", "web")
            .expect("web")
            .diagnostics
            .iter()
            .any(|d| d.code == kubehop::engine::DiagnosticCode::IngressClassUnknown)
    };
    let without = load(&format!("{SERVICE_YAML}---\n{ingress}"));
    assert!(without.snapshot.ingress_classes.is_empty());
    assert!(without.snapshot.has(ResourceKind::IngressClass));
    assert!(!code(&without));
    let with = load(&format!("{SERVICE_YAML}---\n{ingress}---\n{class}"));
    assert_eq!(with.snapshot.ingress_classes.len(), 1);
    assert_eq!(with.snapshot.ingress_classes[0].metadata.namespace, None);
    assert!(with.notes.is_empty(), "{:?}", with.notes);
    assert!(code(&with));
}
