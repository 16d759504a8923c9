//! The property: after any sequence of object changes, the incrementally updated model equals
//! a full build of the same snapshot (chains, diagnostics, unattached findings, details).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::objects::SliceInfo;
use k8s_openapi::Metadata;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{IncrementalModel, Update};
use crate::objects::{Interner, PodInfo};
use crate::synthetic::{SyntheticSpec, generate};
use crate::{ClusterSnapshot, EngineConfig, ProxyModel, build};

/// splitmix64: a seeded generator, so a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

type Key = (Option<String>, Option<String>);

fn key_of<K: Metadata<Ty = ObjectMeta>>(object: &K) -> Key {
    let meta = object.metadata();
    (meta.namespace.clone(), meta.name.clone())
}

fn pod_key(pod: &PodInfo) -> Key {
    (
        pod.namespace.as_deref().map(str::to_owned),
        pod.name.as_deref().map(str::to_owned),
    )
}

/// A cluster as a live source keeps it: objects by (namespace, name), unchanged ones shared.
struct Cluster {
    services: BTreeMap<Key, Arc<Service>>,
    slices: BTreeMap<Key, Arc<SliceInfo>>,
    pods: BTreeMap<Key, Arc<PodInfo>>,
    interner: Interner,
    nodes: BTreeMap<Key, Arc<Node>>,
    rest: ClusterSnapshot,
    generation: u64,
}

fn by_key<K: Metadata<Ty = ObjectMeta>>(objects: &[Arc<K>]) -> BTreeMap<Key, Arc<K>> {
    objects
        .iter()
        .map(|o| (key_of(o.as_ref()), o.clone()))
        .collect()
}

impl Cluster {
    fn new(spec: &SyntheticSpec) -> Self {
        let snapshot = generate(spec);
        Self {
            services: by_key(&snapshot.services),
            slices: by_key(&snapshot.endpoint_slices),
            pods: snapshot
                .pods
                .iter()
                .map(|pod| (pod_key(pod), pod.clone()))
                .collect(),
            interner: Interner::new(),
            nodes: by_key(&snapshot.nodes),
            rest: snapshot,
            generation: 0,
        }
    }

    /// Rules K2 and K3 in play: a kube-proxy pod on each of the first three nodes, and pod
    /// ranges that the pods of the first four nodes follow and those of the others do not
    /// (close to the two-to-one threshold, so that pod events cross it).
    fn with_node_data_plane(mut self) -> Self {
        for (at, node) in self.nodes.values_mut().enumerate() {
            let mut changed = (**node).clone();
            let range = if at < 4 {
                "127.2.0.0/16"
            } else {
                "127.3.0.0/16"
            };
            changed.spec.get_or_insert_default().pod_cidr = Some(range.to_owned());
            *node = Arc::new(changed);
        }
        let Some(template) = self.pods.values().next().map(|pod| pod.to_pod()) else {
            return self;
        };
        for n in 0..3 {
            let mut pod = (*template).clone();
            pod.metadata.name = Some(format!("kube-proxy-{n}"));
            pod.metadata.namespace = Some("kube-system".to_owned());
            pod.metadata.labels = Some([("k8s-app".to_owned(), "kube-proxy".to_owned())].into());
            pod.metadata.owner_references = Some(vec![
                k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                    api_version: "apps/v1".to_owned(),
                    kind: "DaemonSet".to_owned(),
                    name: "kube-proxy".to_owned(),
                    uid: "kube-proxy-uid".to_owned(),
                    ..Default::default()
                },
            ]);
            let spec = pod.spec.get_or_insert_default();
            spec.node_name = Some(format!("node-{n:04}"));
            spec.host_network = Some(true);
            let info = PodInfo::keeping(Arc::new(pod), &mut self.interner);
            self.pods.insert(pod_key(&info), Arc::new(info));
        }
        self
    }

    /// A GatewayClass and a Gateway of it, without routes (what a cluster with a Gateway API
    /// controller installed, or the sandbox, carries): pod events are still followed.
    fn with_gateway_without_routes(mut self) -> Self {
        let class = serde_json::from_value(serde_json::json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
            "metadata": {"name": "sandbox"},
            "spec": {"controllerName": "example.com/gateway-controller"}
        }))
        .expect("a GatewayClass");
        let gateway = serde_json::from_value(serde_json::json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "edge", "namespace": "team-00"},
            "spec": {"gatewayClassName": "sandbox",
                     "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}
        }))
        .expect("a Gateway");
        self.rest.gateway_api.gateway_classes = vec![Arc::new(class)];
        self.rest.gateway_api.gateways = vec![Arc::new(gateway)];
        self
    }

    /// [`Cluster::with_gateway_without_routes`] and an HTTPRoute to the first Service.
    fn with_route(mut self) -> Self {
        self = self.with_gateway_without_routes();
        let Some(service) = self.services.values().next() else {
            return self;
        };
        let (namespace, name) = (
            service.metadata.namespace.clone().unwrap_or_default(),
            service.metadata.name.clone().unwrap_or_default(),
        );
        let route = serde_json::from_value(serde_json::json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {"parentRefs": [{"name": "edge", "namespace": "team-00"}],
                     "rules": [{"backendRefs": [{"name": name, "port": 80}]}]}
        }))
        .expect("an HTTPRoute");
        self.rest.gateway_api.http_routes = vec![Arc::new(route)];
        self
    }

    fn snapshot(&mut self) -> Arc<ClusterSnapshot> {
        self.generation += 1;
        Arc::new(ClusterSnapshot {
            generation: self.generation,
            services: self.services.values().cloned().collect(),
            endpoint_slices: self.slices.values().cloned().collect(),
            pods: Arc::new(self.pods.values().cloned().collect()),
            nodes: self.nodes.values().cloned().collect(),
            ..self.rest.clone()
        })
    }
}

fn pick<V: Clone>(rng: &mut Rng, map: &BTreeMap<Key, V>) -> Option<(Key, V)> {
    let at = rng.below(map.len());
    map.iter().nth(at).map(|(k, v)| (k.clone(), v.clone()))
}

const NAMESPACES: [&str; 3] = ["team-00", "team-01", "team-02"];

fn random_labels(rng: &mut Rng) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let app = match rng.below(12) {
        10 => "ap-00001".to_owned(),
        11 => "app-0000".to_owned(),
        n => format!("app-{n:05}"),
    };
    if rng.chance(90) {
        labels.insert(if rng.chance(5) { "ap" } else { "app" }.to_owned(), app);
    }
    if rng.chance(50) {
        let tier = if rng.chance(50) {
            "frontend"
        } else {
            "backend"
        };
        labels.insert("tier".to_owned(), tier.to_owned());
    }
    labels
}

fn mutate_pod(rng: &mut Rng, pod: &mut Pod) {
    match rng.below(6) {
        0 => pod.metadata.labels = Some(random_labels(rng)),
        1 => {
            if let Some(status) = pod.status.as_mut() {
                for condition in status.conditions.iter_mut().flatten() {
                    condition.status = if rng.chance(50) { "True" } else { "False" }.to_owned();
                }
            }
        }
        2 => {
            if let Some(status) = pod.status.as_mut() {
                status.pod_ip = None;
                status.pod_ips = None;
            }
        }
        3 => {
            let node = format!("node-{:04}", rng.below(7));
            if let Some(spec) = pod.spec.as_mut() {
                spec.node_name = Some(node);
            }
        }
        4 => {
            if let Some(status) = pod.status.as_mut() {
                let phase = ["Running", "Succeeded", "Failed", "Pending"][rng.below(4)];
                status.phase = Some(phase.to_owned());
            }
        }
        _ => pod.metadata.deletion_timestamp = None,
    }
}

fn pod_event(rng: &mut Rng, cluster: &mut Cluster) {
    let Some((key, pod)) = pick(rng, &cluster.pods) else {
        return;
    };
    match rng.below(3) {
        0 => {
            cluster.pods.remove(&key);
        }
        1 => {
            let mut pod = (*pod.to_pod()).clone();
            mutate_pod(rng, &mut pod);
            let info = PodInfo::keeping(Arc::new(pod), &mut cluster.interner);
            cluster.pods.insert(key, Arc::new(info));
        }
        _ => {
            let mut pod = (*pod.to_pod()).clone();
            pod.metadata.name = Some(format!("extra-{}", rng.below(1_000)));
            pod.metadata.namespace = Some(NAMESPACES[rng.below(3)].to_owned());
            pod.metadata.labels = Some(random_labels(rng));
            if let Some(status) = pod.status.as_mut() {
                status.pod_ip = Some(format!("127.9.{}.{}", rng.below(200), rng.below(200)));
                status.pod_ips = None;
            }
            cluster.pods.insert(
                key_of(&pod),
                Arc::new(PodInfo::keeping(Arc::new(pod), &mut cluster.interner)),
            );
        }
    }
}

fn slice_event(rng: &mut Rng, cluster: &mut Cluster) {
    let Some((key, slice)) = pick(rng, &cluster.slices) else {
        return;
    };
    let mut slice = (*slice).clone();
    match rng.below(4) {
        0 => {
            cluster.slices.remove(&key);
            return;
        }
        1 => {
            for endpoint in slice.endpoints.iter_mut().flatten() {
                if let Some(conditions) = endpoint.conditions.as_mut() {
                    conditions.ready = Some(rng.chance(50));
                }
            }
        }
        2 => {
            if let Some(endpoints) = slice.endpoints.as_mut() {
                let keep = rng.below(endpoints.len() + 1);
                *endpoints = endpoints.iter().take(keep).cloned().collect();
            }
        }
        _ => {
            let service = format!("svc-{:05}", rng.below(40));
            slice.metadata.name = Some(format!("{service}-x{}", rng.below(5)));
            let labels = slice.metadata.labels.get_or_insert_default();
            labels.insert(crate::endpointslice::SERVICE_NAME_LABEL.to_owned(), service);
        }
    }
    cluster.slices.insert(key_of(&slice), Arc::new(slice));
}

fn service_event(rng: &mut Rng, cluster: &mut Cluster) {
    let Some((key, service)) = pick(rng, &cluster.services) else {
        return;
    };
    let mut service = (*service).clone();
    let spec = service.spec.get_or_insert_default();
    match rng.below(8) {
        0 => {
            cluster.services.remove(&key);
            return;
        }
        1 => {
            service.metadata.name = Some(format!("added-{}", rng.below(100)));
        }
        2 => spec.selector = Some(random_labels(rng)),
        3 => spec.publish_not_ready_addresses = Some(rng.chance(50)),
        4 => {
            for port in spec.ports.iter_mut().flatten() {
                port.port = 80 + i32::try_from(rng.below(3)).unwrap_or(0);
            }
        }
        _ => {
            spec.session_affinity =
                Some(if rng.chance(50) { "ClientIP" } else { "None" }.to_owned())
        }
    }
    cluster.services.insert(key_of(&service), Arc::new(service));
}

fn node_event(rng: &mut Rng, cluster: &mut Cluster) {
    let Some((key, node)) = pick(rng, &cluster.nodes) else {
        return;
    };
    if rng.chance(30) {
        cluster.nodes.remove(&key);
        return;
    }
    let mut node = (*node).clone();
    if rng.chance(50) {
        node.metadata.name = Some(format!("node-{:04}", rng.below(7)));
    }
    let labels = node.metadata.labels.get_or_insert_default();
    labels.insert(
        crate::nodes::ZONE_LABEL.to_owned(),
        format!("zone-{}", rng.below(3)),
    );
    cluster.nodes.insert(key_of(&node), Arc::new(node));
}

fn random_event(rng: &mut Rng, cluster: &mut Cluster) {
    match rng.below(20) {
        0..=11 => pod_event(rng, cluster),
        12..=15 => slice_event(rng, cluster),
        16..=18 => service_event(rng, cluster),
        _ => node_event(rng, cluster),
    }
}

/// Everything a build gives, the TUI's details included, as text.
fn fingerprint(model: &ProxyModel) -> String {
    let mut out = serde_json::to_string(model).expect("serialises");
    for (namespace, diagnostic) in model.unattached_by_namespace() {
        out.push_str(&format!("\n{namespace} {}", diagnostic.message));
    }
    for chain in &model.services {
        let details = &chain.details;
        let pods: Vec<&str> = details
            .selected_pods
            .iter()
            .map(|pod| crate::pods::name(pod))
            .collect();
        let slices: Vec<Option<&String>> = details
            .slices
            .iter()
            .map(|s| s.metadata.name.as_ref())
            .collect();
        out.push_str(&format!(
            "\n{}/{} {pods:?} {:?} {slices:?} {:?} {:?}",
            chain.namespace, chain.name, details.excluded_pods, details.endpoints, details.service
        ));
    }
    out
}

/// What a run saw: partial and full updates, snapshots whose pods follow the node ranges and
/// snapshots whose pods do not, snapshots with a kube-proxy pod.
#[derive(Debug, Default)]
struct Seen {
    partial: usize,
    full: usize,
    ranges_followed: usize,
    ranges_not_followed: usize,
    proxies: usize,
}

/// The node table and the pods a source can be named by, besides the fingerprint (a pod
/// replaced by an equal one may stay the earlier `Arc`).
fn same_tables(incremental: &ProxyModel, full: &ProxyModel, snapshot: &ClusterSnapshot) -> bool {
    *incremental.nodes == *full.nodes && incremental.policies().pods() == snapshot.pods.as_slice()
}

/// The model's answer to a route question about every front door and endpoint of every
/// Service (which also builds its route indexes, so that the next update decides whether to
/// keep them).
fn route_answers(model: &ProxyModel) -> Vec<crate::RouteDecision> {
    use crate::route::{RouteQuery, TrafficSource};
    let node = model
        .nodes
        .iter()
        .next()
        .map(|node| node.name.to_string())
        .unwrap_or_default();
    let node_address = model
        .nodes
        .iter()
        .flat_map(|node| node.primary.iter())
        .next()
        .copied();
    let mut questions = Vec::new();
    for chain in &model.services {
        for port in &chain.ports {
            let Ok(number) = u16::try_from(port.port) else {
                continue;
            };
            questions.extend(
                chain
                    .cluster_ips
                    .iter()
                    .map(|ip| (*ip, number, port.protocol)),
            );
            if let (Some(address), Some(node_port)) = (
                node_address,
                port.node_ports.port.and_then(|p| u16::try_from(p).ok()),
            ) {
                questions.push((address, node_port, port.protocol));
            }
        }
        // An endpoint's address on a port no Service has: "this is a pod".
        questions.extend(
            chain
                .details
                .endpoints
                .iter()
                .map(|endpoint| (endpoint.ip, 1, crate::model::Protocol::Tcp)),
        );
    }
    questions
        .into_iter()
        .map(|(destination, port, protocol)| {
            model.route(&RouteQuery {
                destination,
                port,
                protocol,
                source: TrafficSource::Pod { node: node.clone() },
                source_ip: None,
            })
        })
        .collect()
}

fn run(seed: u64, steps: usize) -> Seen {
    let mut rng = Rng(seed);
    let spec = SyntheticSpec {
        services: 40,
        pods: 52,
        nodes: 6,
        namespaces: 3,
    };
    let mut cluster = Cluster::new(&spec);
    if seed.is_multiple_of(2) {
        cluster = cluster.with_node_data_plane();
    }
    if seed % 4 == 1 {
        cluster = cluster.with_gateway_without_routes();
    }
    let config = EngineConfig::default();
    let mut incremental = IncrementalModel::on_threads(cluster.snapshot(), &config, 1);
    let mut seen = Seen::default();
    for step in 0..steps {
        for _ in 0..1 + rng.below(3) {
            random_event(&mut rng, &mut cluster);
        }
        let snapshot = cluster.snapshot();
        match incremental.update(snapshot.clone()) {
            Update::Services(_) => seen.partial += 1,
            Update::Full => seen.full += 1,
            Update::Unchanged => {}
        }
        let full = build(&snapshot, &config);
        match full.nodes.ranges_followed() {
            true => seen.ranges_followed += 1,
            false => seen.ranges_not_followed += 1,
        }
        if full
            .nodes
            .iter()
            .any(|node| matches!(node.proxy, crate::node_proxy::ProxyState::Pod(_)))
        {
            seen.proxies += 1;
        }
        let expected = fingerprint(&full);
        let actual = fingerprint(incremental.model());
        assert!(
            expected == actual,
            "seed {seed}, step {step}: the incremental model differs"
        );
        assert!(
            same_tables(incremental.model(), &full, &snapshot),
            "seed {seed}, step {step}: the node table or the pods differ"
        );
        // Asked on most steps (the route indexes then exist, and an update keeps or resets
        // them), not on all (an update after none was asked builds them afresh).
        if !rng.chance(20) {
            assert!(
                route_answers(incremental.model()) == route_answers(&full),
                "seed {seed}, step {step}: a route answer differs"
            );
        }
    }
    seen
}

#[test]
fn random_event_sequences_give_the_full_build() {
    let mut totals = Seen::default();
    for seed in 1..=8 {
        let seen = run(seed, 100);
        totals.partial += seen.partial;
        totals.full += seen.full;
        totals.ranges_followed += seen.ranges_followed;
        totals.ranges_not_followed += seen.ranges_not_followed;
        totals.proxies += seen.proxies;
    }
    eprintln!("{totals:?}");
    // Most updates are partial; the full ones (nodes, Services added or re-selected) happen too.
    assert!(totals.partial > totals.full * 2, "{totals:?}");
    assert!(totals.full > 0, "{totals:?}");
    // Rules K2 and K3 were in play, both ways.
    assert!(totals.proxies > 0, "{totals:?}");
    assert!(totals.ranges_followed > 0, "{totals:?}");
    assert!(totals.ranges_not_followed > 0, "{totals:?}");
}

/// The first pod's readiness flipped (its EndpointSlice left as it was), as one update.
fn flip_first_pod(cluster: &mut Cluster) {
    let Some((key, pod)) = cluster
        .pods
        .iter()
        .next()
        .map(|(k, p)| (k.clone(), p.clone()))
    else {
        return;
    };
    let mut changed = (*pod).clone();
    changed.ready = !changed.ready;
    cluster.pods.insert(key, Arc::new(changed));
}

#[test]
fn a_gateway_without_routes_is_followed_and_a_route_is_built_whole() {
    let spec = SyntheticSpec {
        services: 30,
        pods: 90,
        nodes: 4,
        namespaces: 2,
    };
    let config = EngineConfig::default();
    for (cluster, followed) in [
        (Cluster::new(&spec).with_gateway_without_routes(), true),
        (Cluster::new(&spec).with_route(), false),
    ] {
        let mut cluster = cluster;
        let mut incremental = IncrementalModel::on_threads(cluster.snapshot(), &config, 1);
        flip_first_pod(&mut cluster);
        let snapshot = cluster.snapshot();
        let update = incremental.update(snapshot.clone());
        assert_eq!(
            matches!(update, Update::Services(_)),
            followed,
            "{update:?}"
        );
        assert_eq!(update == Update::Full, !followed, "{update:?}");
        assert_eq!(
            fingerprint(incremental.model()),
            fingerprint(&build(&snapshot, &config))
        );
    }
    // The route reaches its Service's chain: the full build is not a no-op.
    let mut routed = Cluster::new(&spec).with_route();
    let model = build(&routed.snapshot(), &config);
    assert!(
        model
            .services
            .iter()
            .any(|chain| !chain.gateway_routes.is_empty())
    );
}

#[test]
fn a_relist_with_equal_objects_changes_nothing() {
    let mut cluster = Cluster::new(&SyntheticSpec {
        services: 30,
        pods: 90,
        nodes: 4,
        namespaces: 2,
    });
    let config = EngineConfig::default();
    let mut incremental = IncrementalModel::on_threads(cluster.snapshot(), &config, 1);
    for pod in cluster.pods.values_mut() {
        *pod = Arc::new((**pod).clone());
    }
    assert_eq!(incremental.update(cluster.snapshot()), Update::Unchanged);
}

#[test]
fn an_unsorted_snapshot_is_built_in_full() {
    let snapshot = Arc::new(generate(&SyntheticSpec {
        services: 30,
        pods: 90,
        nodes: 4,
        namespaces: 2,
    }));
    let config = EngineConfig::default();
    let mut incremental = IncrementalModel::on_threads(snapshot.clone(), &config, 1);
    let mut next = (*snapshot).clone();
    Arc::make_mut(&mut next.pods).pop();
    assert_eq!(incremental.update(Arc::new(next.clone())), Update::Full);
    assert_eq!(
        fingerprint(incremental.model()),
        fingerprint(&build(&next, &config))
    );
}
