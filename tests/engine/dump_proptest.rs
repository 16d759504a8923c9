//! Property tests for dump loading (the quick, always-on sibling of the cargo-fuzz target in
//! fuzz/): arbitrary bytes and mutated real dumps never panic and fail with one positioned
//! line; generated objects survive every input form (YAML List, JSON List, multi-document
//! YAML, JSON stream) unchanged. Whatever loads also goes through the engine (build, a route
//! per front door) and every printed form of `kubehop chain`, which must not panic either.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, Pod, PodSpec, PodStatus, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kubehop::cli::OutputFormat;
use kubehop::cluster::dump::{self, DumpError};
use kubehop::engine::model::Protocol;
use kubehop::engine::{EngineConfig, RouteQuery, TrafficSource, Verdict, build};
use kubehop::output::chain::{ChainSelection, Scope};
use kubehop::output::style::Style;
use proptest::prelude::*;

/// Builds the model, routes to every front door of the first Services, and prints every form.
fn exercise_engine(load: &dump::DumpLoad) {
    let config = EngineConfig::default();
    let model = build(&load.snapshot, &config);
    let node = model.node_names().next().unwrap_or("node-1").to_owned();
    for chain in model.services.iter().take(8) {
        for port in chain.ports.iter().take(4) {
            let Ok(number) = u16::try_from(port.port) else {
                continue;
            };
            let mut destinations: Vec<(std::net::IpAddr, u16)> =
                chain.cluster_ips.iter().map(|ip| (*ip, number)).collect();
            if let (Some(row), Some(node_port)) = (port.node_ports.rows().next(), port.node_port)
                && let Ok(node_port) = u16::try_from(node_port)
            {
                destinations.push((row.address, node_port));
            }
            for (ip, port_number) in destinations {
                for source in [
                    TrafficSource::Pod { node: node.clone() },
                    TrafficSource::External { node: node.clone() },
                ] {
                    let decision = model.route(&RouteQuery {
                        destination: ip,
                        port: port_number,
                        protocol: port.protocol,
                        source,
                        source_ip: None,
                    });
                    // Only a forward names endpoints, and they come from the port.
                    if decision.verdict != Verdict::Forward {
                        assert!(decision.endpoints.is_empty());
                    }
                    serde_json::to_string(&decision).expect("route JSON");
                }
            }
        }
    }
    let unknown = model.route(&RouteQuery {
        destination: "127.254.254.254".parse().expect("ip"),
        port: 1,
        protocol: Protocol::Udp,
        source: TrafficSource::Node { node },
        source_ip: None,
    });
    assert!(unknown.endpoints.is_empty());
    let selection = ChainSelection {
        scope: Scope::All,
        service: None,
    };
    for format in [OutputFormat::Text, OutputFormat::Json, OutputFormat::Yaml] {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let status = kubehop::output::run::print_chain(
            &load.snapshot,
            &config,
            &selection,
            format,
            Style::PLAIN,
            &mut out,
            &mut err,
        )
        .expect("printing to memory works");
        assert_eq!(status, u8::from(model.has_errors()));
    }
}

fn check_outcome(text_lines: usize, result: Result<dump::DumpLoad, DumpError>) {
    match result {
        Ok(load) => {
            for note in &load.notes {
                assert!(!note.to_string().contains('\n'));
            }
            exercise_engine(&load);
        }
        Err(error) => {
            let message = error.to_string();
            assert!(!message.contains('\n'), "{message}");
            assert!(message.starts_with("input.yaml"), "{message}");
            if let DumpError::Parse(parse) = &error
                && let Some(line) = parse.line
            {
                // A position inside the input (or just past its last line).
                assert!(line as usize <= text_lines + 1, "{message}");
            }
        }
    }
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/assets/scenarios/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

/// Edits that keep most of a dump intact, so the parser gets deep before it fails.
#[derive(Debug, Clone)]
enum Edit {
    Truncate(usize),
    Delete(usize, usize),
    Insert(usize, String),
    DuplicateLine(usize),
    SwapLines(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let token = prop_oneof![
        Just("\n".to_owned()),
        Just("  ".to_owned()),
        Just("- ".to_owned()),
        Just(": ".to_owned()),
        Just("---\n".to_owned()),
        Just("kind: List\n".to_owned()),
        Just("items:\n".to_owned()),
        Just("&a ".to_owned()),
        Just("*a".to_owned()),
        Just("[".to_owned()),
        Just("{".to_owned()),
        Just("\"".to_owned()),
        Just("port: http".to_owned()),
        Just("null".to_owned()),
        "\\PC{0,8}",
    ];
    prop_oneof![
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), 0usize..200).prop_map(|(at, length)| Edit::Delete(at, length)),
        (any::<usize>(), token).prop_map(|(at, text)| Edit::Insert(at, text)),
        any::<usize>().prop_map(Edit::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
    ]
}

fn char_boundary(text: &str, at: usize) -> usize {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &str, edit: &Edit) -> String {
    match edit {
        Edit::Truncate(at) => text[..char_boundary(text, *at)].to_owned(),
        Edit::Delete(at, length) => {
            let start = char_boundary(text, *at);
            let end = char_boundary(text, start.saturating_add(*length).min(text.len()));
            let end = end.max(start);
            format!("{}{}", &text[..start], &text[end..])
        }
        Edit::Insert(at, insert) => {
            let at = char_boundary(text, *at);
            format!("{}{insert}{}", &text[..at], &text[at..])
        }
        Edit::DuplicateLine(at) => {
            let mut lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                let index = at % lines.len();
                lines.insert(index, lines[index]);
            }
            lines.join("\n")
        }
        Edit::SwapLines(a, b) => {
            let mut lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                let count = lines.len();
                lines.swap(a % count, b % count);
            }
            lines.join("\n")
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let lines = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
        check_outcome(lines, dump::load_bytes("input.yaml", &bytes));
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}|[-:{}\\[\\]\"' \n#&*!|>a-z0-9]{0,300}") {
        check_outcome(text.lines().count(), dump::load_str("input.yaml", &text));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn mutated_dumps_never_panic(
        json in any::<bool>(),
        edits in proptest::collection::vec(edit(), 1..4),
    ) {
        // A small scenario (two Services, two slices, a pod with a sidecar, three nodes).
        let yaml = fixture("mongodb.yaml");
        let base = if json {
            let value: serde_json::Value = serde_saphyr::from_str(&yaml).expect("fixture");
            serde_json::to_string_pretty(&value).expect("json")
        } else {
            yaml
        };
        let text = edits.iter().fold(base, |text, edit| apply(&text, edit));
        check_outcome(text.lines().count(), dump::load_str("input.yaml", &text));
    }
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z][a-z0-9-]{0,12}", "\\PC{1,12}"]
}

fn labels() -> impl Strategy<Value = BTreeMap<String, String>> {
    proptest::collection::btree_map("[a-z.]{1,10}(/[a-z]{1,6})?", "\\PC{0,20}", 0..4)
}

fn service() -> impl Strategy<Value = Service> {
    let port = (
        proptest::option::of("[a-z][a-z0-9-]{0,8}"),
        1i32..=65535,
        prop_oneof![Just("TCP"), Just("UDP"), Just("SCTP")],
        prop_oneof![
            (1i32..=65535).prop_map(IntOrString::Int),
            "[a-z]{1,10}".prop_map(IntOrString::String)
        ],
        proptest::option::of(30000i32..=32767),
    )
        .prop_map(|(name, port, protocol, target, node_port)| ServicePort {
            name,
            port,
            protocol: Some(protocol.to_owned()),
            target_port: Some(target),
            node_port,
            ..ServicePort::default()
        });
    (
        name(),
        name(),
        labels(),
        proptest::collection::vec(port, 0..6),
        proptest::option::of(labels()),
    )
        .prop_map(|(name, namespace, labels, ports, selector)| Service {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(namespace),
                labels: Some(labels),
                ..ObjectMeta::default()
            },
            spec: Some(ServiceSpec {
                ports: Some(ports),
                selector,
                type_: Some("ClusterIP".to_owned()),
                ..ServiceSpec::default()
            }),
            status: None,
        })
}

fn pod() -> impl Strategy<Value = Pod> {
    (
        name(),
        name(),
        labels(),
        proptest::collection::vec(("[a-z]{1,10}", 1i32..=65535), 0..4),
        proptest::option::of((0u8..=255, 0u8..=255, 0u8..=255)),
    )
        .prop_map(|(name, namespace, labels, ports, ip)| Pod {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(namespace),
                labels: Some(labels),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "app".to_owned(),
                    ports: Some(
                        ports
                            .into_iter()
                            .map(|(name, number)| ContainerPort {
                                name: Some(name),
                                container_port: number,
                                ..ContainerPort::default()
                            })
                            .collect(),
                    ),
                    ..Container::default()
                }],
                ..PodSpec::default()
            }),
            status: ip.map(|(a, b, c)| PodStatus {
                pod_ip: Some(format!("127.{a}.{b}.{c}")),
                ..PodStatus::default()
            }),
        })
}

#[derive(Debug, Clone, Copy)]
enum Form {
    YamlList,
    JsonList,
    YamlDocuments,
    JsonStream,
}

fn render(form: Form, services: &[Service], pods: &[Pod]) -> String {
    let objects: Vec<serde_json::Value> = services
        .iter()
        .map(|s| serde_json::to_value(s).expect("service"))
        .chain(pods.iter().map(|p| serde_json::to_value(p).expect("pod")))
        .collect();
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects,
        "metadata": {"resourceVersion": ""}});
    match form {
        Form::YamlList => serde_saphyr::to_string(&list).expect("yaml"),
        Form::JsonList => serde_json::to_string_pretty(&list).expect("json"),
        Form::YamlDocuments => objects
            .iter()
            .map(|o| format!("---\n{}", serde_saphyr::to_string(o).expect("yaml")))
            .collect(),
        Form::JsonStream => objects
            .iter()
            .map(|o| serde_json::to_string(o).expect("json"))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// What the loader keeps: one object per (namespace, name), the last copy.
fn unique<T: Clone>(objects: &[T], key: impl Fn(&T) -> (String, String)) -> Vec<T> {
    let mut order: Vec<(String, String)> = Vec::new();
    let mut by_key: BTreeMap<(String, String), T> = BTreeMap::new();
    for object in objects {
        let k = key(object);
        if !by_key.contains_key(&k) {
            order.push(k.clone());
        }
        by_key.insert(k, object.clone());
    }
    order
        .into_iter()
        .filter_map(|k| by_key.remove(&k))
        .collect()
}

fn meta_key(meta: &ObjectMeta) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn generated_objects_survive_every_form(
        services in proptest::collection::vec(service(), 0..5),
        pods in proptest::collection::vec(pod(), 0..5),
        form in prop_oneof![
            Just(Form::YamlList),
            Just(Form::JsonList),
            Just(Form::YamlDocuments),
            Just(Form::JsonStream)
        ],
    ) {
        let text = render(form, &services, &pods);
        let result = dump::load_str("input.yaml", &text);
        if services.is_empty() && pods.is_empty() && !matches!(form, Form::YamlList | Form::JsonList) {
            let empty = matches!(result, Err(DumpError::Empty { .. }));
            prop_assert!(empty, "expected an empty-input error");
            return Ok(());
        }
        let load = result.map_err(|error| TestCaseError::fail(format!("{error}\n{text}")))?;
        let expected_services: Vec<Arc<Service>> =
            unique(&services, |s| meta_key(&s.metadata)).into_iter().map(Arc::new).collect();
        let expected_pods: Vec<Arc<Pod>> =
            unique(&pods, |p| meta_key(&p.metadata)).into_iter().map(Arc::new).collect();
        let loaded_pods: Vec<Arc<Pod>> = load.snapshot.pods.iter().map(|pod| pod.to_pod()).collect();
        prop_assert_eq!(&load.snapshot.services, &expected_services);
        prop_assert_eq!(&loaded_pods, &expected_pods);
        exercise_engine(&load);
    }
}
