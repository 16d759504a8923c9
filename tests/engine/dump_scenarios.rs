//! The scenario dumps in assets/scenarios: each loads, has the objects it should, uses only
//! loopback addresses, and its controller-written EndpointSlices agree with its pods the way
//! the EndpointSlice controller writes them (spec rules A2-A6, B2-B5).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Pod, Service, ServicePort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kubehop::cluster::dump::{self, DumpLoad, DumpNote, SkipReason};
use kubehop::cluster::{ClusterSnapshot, ResourceKind};
use rstest::rstest;

fn scenario_path(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/scenarios")
        .join(file)
}

fn load(file: &str) -> DumpLoad {
    dump::load_paths(&[scenario_path(file)]).unwrap_or_else(|error| panic!("{file}: {error}"))
}

/// Objects per kind: services, endpoint slices, pods, nodes, ingresses, namespaces.
type Counts = [usize; 6];

fn counts(snapshot: &ClusterSnapshot) -> Counts {
    [
        snapshot.services.len(),
        snapshot.endpoint_slices.len(),
        snapshot.pods.len(),
        snapshot.nodes.len(),
        snapshot.ingresses.len(),
        snapshot.namespaces.len(),
    ]
}

#[rstest]
#[case::web_ingress("web-ingress.yaml", [1, 1, 3, 3, 1, 0])]
#[case::mongodb("mongodb.yaml", [2, 2, 1, 3, 0, 0])]
#[case::nodeport("nodeport.yaml", [1, 1, 3, 3, 0, 0])]
#[case::loadbalancer("loadbalancer.yaml", [1, 1, 2, 3, 0, 0])]
#[case::selector_mismatch("selector-mismatch.yaml", [1, 1, 2, 3, 0, 0])]
#[case::selector_partial("selector-partial.yaml", [1, 1, 2, 3, 0, 0])]
#[case::named_port_missing("named-port-missing.yaml", [1, 1, 2, 3, 0, 0])]
#[case::pods_not_ready("pods-not-ready.yaml", [1, 1, 2, 3, 0, 0])]
#[case::terminating_only("terminating-only.yaml", [1, 1, 2, 3, 0, 0])]
#[case::etp_local_drops("etp-local-drops.yaml", [1, 1, 2, 3, 0, 0])]
#[case::lb_pending("lb-pending.yaml", [1, 1, 1, 3, 0, 0])]
#[case::multiport_unnamed("multiport-unnamed.yaml", [1, 0, 2, 3, 0, 0])]
#[case::selectorless("selectorless.yaml", [2, 1, 0, 3, 0, 0])]
#[case::externalname("externalname.yaml", [1, 0, 0, 3, 0, 0])]
#[case::ingress_missing_service("ingress-missing-service.yaml", [1, 1, 2, 3, 1, 0])]
#[case::no_slices("no-slices.yaml", [1, 0, 2, 3, 0, 0])]
#[case::demo_all("demo-all.yaml", [18, 14, 28, 3, 2, 13])]
fn scenario_loads_with_its_objects(#[case] file: &str, #[case] expected: Counts) {
    let load = load(file);
    let snapshot = &load.snapshot;
    assert_eq!(counts(snapshot), expected, "{file}: objects per kind");
    // A kind is missing exactly when the dump has none of it.
    for (kind, count) in ResourceKind::ALL.into_iter().zip(expected) {
        assert_eq!(snapshot.has(kind), count > 0, "{file}: has({kind})");
    }
    let expected_notes = if file == "multiport-unnamed.yaml" {
        vec![DumpNote::Skipped {
            source: scenario_path(file).display().to_string(),
            api_version: Some("apps/v1".into()),
            kind: "Deployment".into(),
            count: 1,
            reason: SkipReason::NotRead,
        }]
    } else {
        Vec::new()
    };
    assert_eq!(load.notes, expected_notes, "{file}: notes");
}

fn every_scenario() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(scenario_path(""))
        .expect("assets/scenarios exists")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "yaml")
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_scenario_file_is_in_the_table() {
    let names: Vec<String> = every_scenario()
        .iter()
        .map(|path| {
            path.file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(names.len(), 17, "{names:?}");
    let readme = std::fs::read_to_string(scenario_path("README.md")).expect("README.md");
    for name in &names {
        assert!(
            readme.contains(&format!("| `{name}` |")),
            "{name} is not in README.md"
        );
    }
}

fn loopback(address: &str) -> bool {
    address
        .parse::<Ipv4Addr>()
        .is_ok_and(|address| address.is_loopback())
}

/// Every IP address in the scenarios is on 127.0.0.0/8 (the project's network rule).
#[test]
fn every_address_is_loopback() {
    for path in every_scenario() {
        let snapshot = dump::load_paths(std::slice::from_ref(&path))
            .expect("loads")
            .snapshot;
        let mut addresses: Vec<String> = Vec::new();
        for node in &snapshot.nodes {
            let status = node.status.as_ref().expect("node status");
            for address in status.addresses.iter().flatten() {
                if address.type_ != "Hostname" {
                    addresses.push(address.address.clone());
                }
            }
            let spec = node.spec.as_ref().expect("node spec");
            for cidr in spec.pod_cidrs.iter().flatten() {
                addresses.push(cidr.split('/').next().unwrap_or_default().to_owned());
            }
        }
        for pod in snapshot.pods.iter().map(|pod| pod.to_pod()) {
            let status = pod.status.as_ref().expect("pod status");
            addresses.extend(status.pod_ip.clone());
            addresses.extend(status.host_ip.clone());
            addresses.extend(status.pod_ips.iter().flatten().map(|ip| ip.ip.clone()));
        }
        for service in &snapshot.services {
            let spec = service.spec.as_ref().expect("service spec");
            for ip in spec.cluster_ips.iter().flatten() {
                if ip != "None" {
                    addresses.push(ip.clone());
                }
            }
            let ingress = service
                .status
                .as_ref()
                .and_then(|status| status.load_balancer.as_ref())
                .and_then(|lb| lb.ingress.as_ref());
            addresses.extend(ingress.into_iter().flatten().filter_map(|i| i.ip.clone()));
        }
        for slice in &snapshot.endpoint_slices {
            for endpoint in slice.to_slice().endpoints.iter().flatten() {
                addresses.extend(endpoint.addresses.iter().cloned());
            }
        }
        for ingress in &snapshot.ingresses {
            let lb = ingress
                .status
                .as_ref()
                .and_then(|status| status.load_balancer.as_ref())
                .and_then(|lb| lb.ingress.as_ref());
            addresses.extend(lb.into_iter().flatten().filter_map(|i| i.ip.clone()));
        }
        assert!(!addresses.is_empty(), "{}", path.display());
        for address in addresses {
            assert!(loopback(&address), "{}: {address}", path.display());
        }
    }
}

/// Every object of every scenario is in demo-all.yaml, identical.
#[test]
fn demo_all_holds_every_scenario() {
    let all = load("demo-all.yaml").snapshot;
    let index: BTreeMap<(String, String, String), serde_json::Value> = objects(&all).collect();
    for path in every_scenario() {
        let snapshot = dump::load_paths(std::slice::from_ref(&path))
            .expect("loads")
            .snapshot;
        for (key, value) in objects(&snapshot) {
            assert_eq!(index.get(&key), Some(&value), "{}: {key:?}", path.display());
        }
    }
}

fn objects(
    snapshot: &ClusterSnapshot,
) -> impl Iterator<Item = ((String, String, String), serde_json::Value)> + '_ {
    fn entry<T>(object: &T) -> ((String, String, String), serde_json::Value)
    where
        T: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta> + serde::Serialize,
    {
        let meta = object.metadata();
        (
            (
                T::KIND.to_owned(),
                meta.namespace.clone().unwrap_or_default(),
                meta.name.clone().unwrap_or_default(),
            ),
            serde_json::to_value(object).expect("serializes"),
        )
    }
    let services = snapshot.services.iter().map(|o| entry(&**o));
    let slices = snapshot
        .endpoint_slices
        .iter()
        .map(|o| entry(&*o.to_slice()));
    let pods = snapshot.pods.iter().map(|o| entry(&*o.to_pod()));
    let nodes = snapshot.nodes.iter().map(|o| entry(&**o));
    let ingresses = snapshot.ingresses.iter().map(|o| entry(&**o));
    services
        .chain(slices)
        .chain(pods)
        .chain(nodes)
        .chain(ingresses)
}

/// What the EndpointSlice controller publishes for one pod of a Service, per spec (a)/(b).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Published {
    pod: String,
    address: String,
    node: Option<String>,
    zone: Option<String>,
    hostname: Option<String>,
    /// ready, serving, terminating (A4).
    conditions: (bool, bool, bool),
    /// (Service port name, resolved number, protocol) (B2-B5).
    ports: Vec<(String, i32, String)>,
}

fn selects(service: &Service, pod: &Pod) -> bool {
    let Some(selector) = service
        .spec
        .as_ref()
        .and_then(|spec| spec.selector.as_ref())
    else {
        return false;
    };
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    pod.metadata.namespace == service.metadata.namespace
        && selector
            .iter()
            .all(|(key, value)| labels.get(key) == Some(value))
}

/// B2/B3/B4: numeric targetPort as-is; a name resolved per pod (name and protocol), else none.
fn resolve(pod: &Pod, port: &ServicePort) -> Option<i32> {
    let protocol = port.protocol.as_deref().unwrap_or("TCP");
    match &port.target_port {
        None => Some(port.port),
        Some(IntOrString::Int(number)) => Some(*number),
        Some(IntOrString::String(name)) => pod
            .spec
            .as_ref()?
            .containers
            .iter()
            .flat_map(|container| container.ports.iter().flatten())
            .find(|declared| {
                declared.name.as_deref() == Some(name.as_str())
                    && declared.protocol.as_deref().unwrap_or("TCP") == protocol
            })
            .map(|declared| declared.container_port),
    }
}

fn expected_endpoints(snapshot: &ClusterSnapshot, service: &Service) -> BTreeSet<Published> {
    let zones: BTreeMap<String, String> = snapshot
        .nodes
        .iter()
        .filter_map(|node| {
            let zone = node
                .metadata
                .labels
                .as_ref()?
                .get("topology.kubernetes.io/zone")?;
            Some((node.metadata.name.clone()?, zone.clone()))
        })
        .collect();
    let spec = service.spec.as_ref().expect("service spec");
    let publish_not_ready = spec.publish_not_ready_addresses.unwrap_or(false);
    snapshot
        .pods
        .iter()
        .map(|pod| pod.to_pod())
        .filter(|pod| selects(service, pod))
        .filter_map(|pod| {
            let status = pod.status.as_ref()?;
            let phase = status.phase.as_deref().unwrap_or_default();
            if phase == "Succeeded" || phase == "Failed" {
                return None; // A3
            }
            let address = status.pod_ip.clone()?;
            let serving = status
                .conditions
                .iter()
                .flatten()
                .any(|condition| condition.type_ == "Ready" && condition.status == "True");
            let terminating = pod.metadata.deletion_timestamp.is_some();
            let pod_spec = pod.spec.as_ref()?;
            let hostname = pod_spec
                .hostname
                .clone()
                .filter(|_| pod_spec.subdomain == service.metadata.name); // A6
            let ports = spec
                .ports
                .iter()
                .flatten()
                .filter_map(|port| {
                    let number = resolve(&pod, port)?;
                    let protocol = port.protocol.clone().unwrap_or_else(|| "TCP".into());
                    Some((port.name.clone().unwrap_or_default(), number, protocol))
                })
                .collect();
            let node = pod_spec.node_name.clone();
            Some(Published {
                pod: pod.metadata.name.clone()?,
                address,
                zone: node.as_ref().and_then(|node| zones.get(node).cloned()),
                node,
                hostname,
                conditions: (
                    publish_not_ready || (serving && !terminating),
                    serving,
                    terminating,
                ),
                ports,
            })
        })
        .collect()
}

fn published_endpoints(snapshot: &ClusterSnapshot, service: &Service) -> BTreeSet<Published> {
    let mut published = BTreeSet::new();
    for slice in &snapshot.endpoint_slices {
        let slice = slice.to_slice();
        let labels = slice.metadata.labels.clone().unwrap_or_default();
        if slice.metadata.namespace != service.metadata.namespace
            || labels.get("kubernetes.io/service-name") != service.metadata.name.as_ref()
        {
            continue;
        }
        let ports: Vec<(String, i32, String)> = slice
            .ports
            .iter()
            .flatten()
            .map(|port| {
                (
                    port.name.clone().unwrap_or_default(),
                    port.port.expect("slice port number"),
                    port.protocol.clone().expect("slice port protocol"),
                )
            })
            .collect();
        for endpoint in slice.endpoints.iter().flatten() {
            let conditions = endpoint.conditions.as_ref().expect("conditions written");
            let target = endpoint.target_ref.as_ref().expect("targetRef written");
            assert_eq!(target.kind.as_deref(), Some("Pod"));
            assert_eq!(target.namespace, service.metadata.namespace);
            published.insert(Published {
                pod: target.name.clone().expect("targetRef name"),
                address: endpoint.addresses.first().cloned().expect("one address"),
                node: endpoint.node_name.clone(),
                zone: endpoint.zone.clone(),
                hostname: endpoint.hostname.clone(),
                conditions: (
                    conditions.ready.expect("ready written"),
                    conditions.serving.expect("serving written"),
                    conditions.terminating.expect("terminating written"),
                ),
                ports: ports.clone(),
            });
        }
    }
    published
}

/// Controller-managed slices list exactly the selected pods, with the conditions, node, zone,
/// hostname and resolved ports the controller would write; the labels and owner are set.
#[test]
fn controller_slices_match_their_pods() {
    let mut services_checked = 0;
    for path in every_scenario() {
        let snapshot = dump::load_paths(std::slice::from_ref(&path))
            .expect("loads")
            .snapshot;
        for slice in &snapshot.endpoint_slices {
            let labels = slice.metadata.labels.clone().unwrap_or_default();
            let managed_by = labels.get("endpointslice.kubernetes.io/managed-by");
            if managed_by.map(String::as_str) != Some("endpointslice-controller.k8s.io") {
                continue;
            }
            let service_name = labels
                .get("kubernetes.io/service-name")
                .expect("service-name label");
            let service = snapshot
                .services
                .iter()
                .find(|service| {
                    service.metadata.name.as_ref() == Some(service_name)
                        && service.metadata.namespace == slice.metadata.namespace
                })
                .unwrap_or_else(|| panic!("{}: no Service {service_name}", path.display()));
            let owner = slice
                .metadata
                .owner_references
                .as_ref()
                .and_then(|owners| owners.first())
                .expect("owner reference");
            assert_eq!(Some(&owner.uid), service.metadata.uid.as_ref());
            let headless = service
                .spec
                .as_ref()
                .and_then(|spec| spec.cluster_ip.as_deref())
                == Some("None");
            assert_eq!(
                labels.contains_key("service.kubernetes.io/headless"),
                headless,
                "{}: headless label on {service_name}",
                path.display()
            );
            // A9: a Service that selects nothing keeps one placeholder slice.
            if slice.endpoints.is_none() {
                assert!(slice.ports.is_none(), "placeholder slice has no ports");
            }
        }
        for service in &snapshot.services {
            let has_slices = snapshot.endpoint_slices.iter().any(|slice| {
                slice.metadata.namespace == service.metadata.namespace
                    && slice
                        .metadata
                        .labels
                        .as_ref()
                        .and_then(|labels| labels.get("kubernetes.io/service-name"))
                        == service.metadata.name.as_ref()
            });
            let selector = service
                .spec
                .as_ref()
                .and_then(|spec| spec.selector.as_ref());
            if selector.is_none() || !has_slices {
                continue;
            }
            assert_eq!(
                published_endpoints(&snapshot, service),
                expected_endpoints(&snapshot, service),
                "{}: {:?}",
                path.display(),
                service.metadata.name
            );
            services_checked += 1;
        }
    }
    // Every selector Service with slices, in every file (demo-all repeats them).
    assert_eq!(services_checked, 26);
}
