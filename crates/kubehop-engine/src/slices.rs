//! Reading EndpointSlices the way kube-proxy does (rules A12, B5).

use super::hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use crate::objects::{EndpointEntry, SliceInfo};

use super::model::{EndpointInfo, PortEndpoint, Protocol};
use super::nodes::NodeTable;
use super::service::IpFamily;

/// Endpoints of a Service's slices, ready to join with its ports.
#[derive(Debug, Default)]
pub(crate) struct SliceEndpoints<'a> {
    /// Every endpoint, deduplicated by address.
    pub endpoints: Vec<Arc<EndpointInfo>>,
    /// Per slice port (name, protocol) (rule B5), deduplicated by IP:port (rule A12); sorted
    /// by key, so joining a Service's many ports is a binary search each, not a scan.
    by_port: Vec<((&'a str, Protocol), Vec<PortEndpoint>)>,
}

impl SliceEndpoints<'_> {
    /// Takes the endpoints of the slice port a Service port joins on (rule B5).
    pub fn take_port(&mut self, name: &str, protocol: Protocol) -> Vec<PortEndpoint> {
        self.by_port
            .binary_search_by(|((port_name, port_protocol), _)| {
                (*port_name, *port_protocol).cmp(&(name, protocol))
            })
            .ok()
            .and_then(|position| self.by_port.get_mut(position))
            .map(|(_, endpoints)| std::mem::take(endpoints))
            .unwrap_or_default()
    }
}

/// A set that stays a vector while small: most Services have a handful of endpoints, and a
/// linear scan beats hashing there.
struct SmallSet<T> {
    items: Vec<T>,
    hashed: Option<HashSet<T>>,
}

impl<T: Copy + Eq + std::hash::Hash> SmallSet<T> {
    const LINEAR: usize = 16;

    fn new() -> Self {
        Self {
            items: Vec::new(),
            hashed: None,
        }
    }

    /// Inserts; returns whether the value was new.
    fn insert(&mut self, value: T) -> bool {
        if let Some(hashed) = &mut self.hashed {
            return hashed.insert(value);
        }
        if self.items.contains(&value) {
            return false;
        }
        self.items.push(value);
        if self.items.len() > Self::LINEAR {
            self.hashed = Some(self.items.drain(..).collect());
        }
        true
    }
}

/// Interns node and zone names so that endpoints share them.
pub(crate) struct Interner<'a> {
    nodes: &'a NodeTable,
    extra: HashMap<String, Arc<str>>,
}

impl<'a> Interner<'a> {
    pub fn new(nodes: &'a NodeTable) -> Self {
        Self {
            nodes,
            extra: HashMap::default(),
        }
    }

    pub fn node(&mut self, name: &str) -> Arc<str> {
        if let Some(shared) = self.nodes.shared_name(name) {
            return shared;
        }
        self.intern(name)
    }

    pub fn intern(&mut self, value: &str) -> Arc<str> {
        if let Some(shared) = self.extra.get(value) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(value);
        self.extra.insert(value.to_owned(), shared.clone());
        shared
    }
}

/// Reads `slices` (already filtered to one Service) per rule A12: absent `ready`/`serving` mean
/// true, absent `terminating` means false, only the first address counts, FQDN slices are
/// ignored, slice ports without a number are ignored (the API server defaults a missing name to
/// `""` and a missing protocol to TCP), and a repeated IP:port collapses into one.
pub(crate) fn read<'a>(
    slices: &'a [Arc<SliceInfo>],
    namespace: &Arc<str>,
    interner: &mut Interner<'_>,
) -> SliceEndpoints<'a> {
    let mut out = SliceEndpoints::default();
    let mut seen_ips: SmallSet<IpAddr> = SmallSet::new();
    let mut seen_port: SmallSet<(IpAddr, i32, usize)> = SmallSet::new();
    let mut port_keys = PortKeys::default();
    let mut by_position: Vec<Vec<PortEndpoint>> = Vec::new();
    for slice in slices {
        if IpFamily::from_address_type(&slice.address_type).is_none() {
            continue;
        }
        let slice_name: Arc<str> = Arc::from(slice.metadata.name.as_deref().unwrap_or(""));
        let ports = slice_ports(slice, &mut port_keys);
        for endpoint in slice.endpoints() {
            let Some(ip) = endpoint
                .address
                .as_deref()
                .and_then(|address| super::pods::trim_fast(address).parse::<IpAddr>().ok())
            else {
                continue;
            };
            let info = endpoint_info(endpoint, ip, &slice_name, namespace, interner);
            if seen_ips.insert(ip) {
                out.endpoints.push(info.clone());
            }
            for (position, number) in &ports {
                if !seen_port.insert((ip, *number, *position)) {
                    continue;
                }
                if by_position.len() <= *position {
                    by_position.resize_with(*position + 1, Vec::new);
                }
                if let Some(list) = by_position.get_mut(*position) {
                    list.push(PortEndpoint {
                        info: info.clone(),
                        port: *number,
                    });
                }
            }
        }
    }
    out.by_port = port_keys.keys.into_iter().zip(by_position).collect();
    out.by_port.sort_unstable_by_key(|(key, _)| *key);
    let order = |a: &EndpointInfo, b: &EndpointInfo| (&a.pod, a.ip).cmp(&(&b.pod, b.ip));
    // Controller-written slices are usually in order already.
    if !out.endpoints.is_sorted_by(|a, b| order(a, b).is_le()) {
        out.endpoints.sort_by(|a, b| order(a, b));
    }
    for (_, endpoints) in &mut out.by_port {
        let port_order =
            |a: &PortEndpoint, b: &PortEndpoint| order(&a.info, &b.info).then(a.port.cmp(&b.port));
        if !endpoints.is_sorted_by(|a, b| port_order(a, b).is_le()) {
            endpoints.sort_by(port_order);
        }
    }
    out
}

/// The (name, protocol) keys of a Service's slice ports in order of appearance, with their
/// positions by key.
#[derive(Default)]
struct PortKeys<'a> {
    keys: Vec<(&'a str, Protocol)>,
    positions: HashMap<(&'a str, Protocol), usize>,
}

impl<'a> PortKeys<'a> {
    /// The position of `key`, appended when new.
    fn position(&mut self, key: (&'a str, Protocol)) -> usize {
        *self.positions.entry(key).or_insert_with(|| {
            self.keys.push(key);
            self.keys.len() - 1
        })
    }
}

/// The slice's ports with a number and a known protocol, as (position of its (name, protocol)
/// key in `port_keys`, number); new keys are appended.
fn slice_ports<'a>(slice: &'a SliceInfo, port_keys: &mut PortKeys<'a>) -> Vec<(usize, i32)> {
    slice
        .ports
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter_map(|port| {
            let number = port.port.filter(|number| *number > 0)?;
            let protocol = match port.protocol.as_deref() {
                None => Protocol::Tcp,
                Some(value) => Protocol::parse(value)?,
            };
            let key = (port.name.as_deref().unwrap_or(""), protocol);
            Some((port_keys.position(key), number))
        })
        .collect()
}

/// One endpoint's facts (rule A12's defaults for absent conditions); its namespace is the
/// Service's unless a Pod targetRef says otherwise.
fn endpoint_info(
    endpoint: &EndpointEntry,
    ip: IpAddr,
    slice_name: &Arc<str>,
    namespace: &Arc<str>,
    interner: &mut Interner<'_>,
) -> Arc<EndpointInfo> {
    let conditions = endpoint.conditions.as_ref();
    let target = endpoint
        .target
        .as_ref()
        .filter(|target| target.kind.as_deref().is_none_or(|kind| kind == "Pod"));
    let endpoint_namespace = match target.and_then(|target| target.namespace.as_ref()) {
        Some(other) if other != namespace => interner.intern(other),
        _ => namespace.clone(),
    };
    let hints = endpoint.hints();
    Arc::new(EndpointInfo {
        pod: target.and_then(|target| target.name.clone()),
        namespace: Some(endpoint_namespace),
        node: endpoint
            .node_name
            .as_deref()
            .filter(|node| !node.is_empty())
            .map(|node| interner.node(node)),
        zone: endpoint
            .zone
            .as_deref()
            .filter(|zone| !zone.is_empty())
            .map(|zone| interner.intern(zone)),
        hostname: endpoint
            .hostname()
            .filter(|name| !name.is_empty())
            .map(str::to_owned),
        ip,
        ready: conditions.and_then(|c| c.ready).unwrap_or(true),
        serving: conditions.and_then(|c| c.serving).unwrap_or(true),
        terminating: conditions.and_then(|c| c.terminating).unwrap_or(false),
        zone_hints: hints
            .and_then(|hints| hints.for_zones.as_ref())
            .map(|zones| zones.iter().map(|zone| zone.name.clone()).collect()),
        node_hints: hints
            .and_then(|hints| hints.for_nodes.as_ref())
            .map(|nodes| nodes.iter().map(|node| node.name.clone()).collect()),
        slice: slice_name.clone(),
    })
}
