//! ClusterIP, nodePort and healthCheckNodePort allocation: the API server's registry step that
//! runs inside the write (an [`AdmissionHook`]), so a created Service comes back with its
//! addresses and a conflict is a 422 like on a real cluster ("provided port is already
//! allocated", "provided IP is not in the valid range").
//!
//! - ClusterIPs come from the instance's `127.B+1.0.0/16` (see [`crate::addresses`]),
//!   in order; headless (`None`) and ExternalName Services get none.
//! - nodePorts come from 30000-32767 (rule C4) for NodePort Services and LoadBalancer Services
//!   that allocate node ports; one table for every protocol (the same number may serve TCP and
//!   UDP of one Service, rule G4).
//! - healthCheckNodePort is allocated for LoadBalancer Services with externalTrafficPolicy
//!   Local (rule G9).
//! - An update keeps what was allocated when the client leaves it out (`kubectl replace` of a
//!   manifest without clusterIP), and a ClusterIP may not change once set.
//! - Scenario and dump objects (origin Load) keep the addresses they carry, even outside the
//!   ranges; those inside are recorded as taken.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::{Mutex, PoisonError};

use serde_json::{Value, json};

use super::pool::Pool;
use crate::addresses::IpRange;
use crate::admission::{AdmissionHook, AdmissionRequest, FieldCause, Operation, Origin};
use crate::resources::ResourceId;
use kubehop_engine::config::DEFAULT_NODE_PORT_RANGE;

type ServiceKey = (String, String);

#[derive(Debug)]
struct Tables {
    cluster_ips: Pool<ServiceKey>,
    node_ports: Pool<ServiceKey>,
}

/// The Service allocator (register with [`Store::add_admission_hook`](crate::Store::add_admission_hook)).
#[derive(Debug)]
pub struct ServiceAllocator {
    range: IpRange,
    cidr: String,
    tables: Mutex<Tables>,
}

impl ServiceAllocator {
    /// ClusterIPs from `range` (spelled `cidr` in error messages).
    pub fn new(range: IpRange, cidr: String) -> Self {
        let node_ports =
            u32::from(*DEFAULT_NODE_PORT_RANGE.start())..=u32::from(*DEFAULT_NODE_PORT_RANGE.end());
        ServiceAllocator {
            range,
            cidr,
            tables: Mutex::new(Tables {
                cluster_ips: Pool::new(u32::from(range.first)..=u32::from(range.last)),
                node_ports: Pool::new(node_ports),
            }),
        }
    }

    /// Who holds a ClusterIP (for tests and diagnostics).
    pub fn cluster_ip_owner(&self, ip: Ipv4Addr) -> Option<(String, String)> {
        self.lock().cluster_ips.owner(u32::from(ip)).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn key_of(object: &Value) -> ServiceKey {
    (
        text(object, "/metadata/namespace").to_string(),
        text(object, "/metadata/name").to_string(),
    )
}

/// (port, protocol) -> nodePort of a Service's ports.
fn node_port_map(spec: &Value) -> Vec<((i64, String), i64)> {
    spec.get("ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let number = p.get("port").and_then(Value::as_i64)?;
            let protocol = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            let node_port = p.get("nodePort").and_then(Value::as_i64)?;
            (node_port != 0).then(|| ((number, protocol.to_string()), node_port))
        })
        .collect()
}

impl AdmissionHook for ServiceAllocator {
    fn admit(&self, request: AdmissionRequest<'_>) -> Result<(), Vec<FieldCause>> {
        if request.resource != ResourceId::Services {
            return Ok(());
        }
        let key = key_of(request.object);
        let load = request.origin == Origin::Load;
        let previous_spec = match (request.operation, request.previous) {
            (Operation::Update, Some(previous)) => previous.get("spec").cloned(),
            _ => None,
        };
        let Some(spec) = request.object.get_mut("spec").filter(|s| s.is_object()) else {
            return Ok(());
        };
        let service_type = spec
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_string();
        let mut causes = Vec::new();
        let mut tables = self.lock();
        let mut planned_ips: Vec<u32> = Vec::new();
        let mut planned_ports: BTreeSet<u32> = BTreeSet::new();

        // ClusterIP.
        if service_type != "ExternalName" {
            let given = text(spec, "/clusterIP").to_string();
            let old = previous_spec
                .as_ref()
                .map(|s| text(s, "/clusterIP").to_string())
                .unwrap_or_default();
            let wanted = if given.is_empty() { old.clone() } else { given };
            if !old.is_empty() && wanted != old {
                causes.push(FieldCause::invalid(
                    "spec.clusterIPs[0]",
                    &json!(wanted),
                    "may not change once set",
                ));
            } else if wanted.is_empty() {
                match tables.cluster_ips.peek() {
                    Some(value) => {
                        let ip = Ipv4Addr::from(value).to_string();
                        spec["clusterIP"] = json!(ip);
                        spec["clusterIPs"] = json!([ip]);
                        planned_ips.push(value);
                    }
                    None => causes.push(FieldCause::invalid(
                        "spec.clusterIPs",
                        &json!([""]),
                        &format!("failed to allocate IP: the range {} is full", self.cidr),
                    )),
                }
            } else if wanted != "None" {
                spec["clusterIP"] = json!(wanted);
                if spec
                    .get("clusterIPs")
                    .and_then(Value::as_array)
                    .is_none_or(|a| a.is_empty())
                {
                    spec["clusterIPs"] = json!([wanted]);
                }
                match wanted.parse::<Ipv4Addr>() {
                    Ok(ip) if self.range.contains(ip) => {
                        let value = u32::from(ip);
                        match tables.cluster_ips.owner(value) {
                            Some(owner) if *owner != key && !load => {
                                causes.push(FieldCause::invalid(
                                    "spec.clusterIPs",
                                    &json!([wanted]),
                                    &format!(
                                        "failed to allocate IP {wanted}: provided IP is already allocated"
                                    ),
                                ));
                            }
                            _ => planned_ips.push(value),
                        }
                    }
                    // Scenarios and dumps keep their addresses.
                    _ if load => {}
                    _ => causes.push(FieldCause::invalid(
                        "spec.clusterIPs",
                        &json!([wanted]),
                        &format!(
                            "failed to allocate IP {wanted}: provided IP is not in the valid range. The range of valid IPs is {}",
                            self.cidr
                        ),
                    )),
                }
            }
        }

        // nodePorts.
        let allocate_lb_ports = spec
            .get("allocateLoadBalancerNodePorts")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let needs_node_ports =
            service_type == "NodePort" || (service_type == "LoadBalancer" && allocate_lb_ports);
        let old_node_ports = previous_spec
            .as_ref()
            .map(node_port_map)
            .unwrap_or_default();
        let held: BTreeSet<u32> = tables.node_ports.held_by(&key).into_iter().collect();
        let free_for_us = |tables: &Tables, value: u32, planned: &BTreeSet<u32>| {
            !planned.contains(&value)
                && (held.contains(&value) || tables.node_ports.owner(value).is_none())
        };
        let next_free = |tables: &Tables, planned: &BTreeSet<u32>| -> Option<u32> {
            let mut probe = tables.node_ports.clone();
            for value in planned {
                probe.claim(*value, key.clone());
            }
            probe.allocate(key.clone())
        };
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            // Given numbers first, so allocation does not hand them out again.
            let mut same_number: Vec<(i64, u32)> = Vec::new();
            for (index, port) in ports.iter_mut().enumerate() {
                if !needs_node_ports {
                    break;
                }
                let number = port.get("port").and_then(Value::as_i64).unwrap_or(0);
                let protocol = port
                    .get("protocol")
                    .and_then(Value::as_str)
                    .unwrap_or("TCP")
                    .to_string();
                let given = port.get("nodePort").and_then(Value::as_i64).unwrap_or(0);
                let given = if given == 0 {
                    old_node_ports
                        .iter()
                        .find(|((p, proto), _)| *p == number && *proto == protocol)
                        .map_or(0, |(_, node_port)| *node_port)
                } else {
                    given
                };
                if given == 0 {
                    continue;
                }
                port["nodePort"] = json!(given);
                let Ok(value) = u32::try_from(given) else {
                    continue;
                };
                if !tables.node_ports.contains(value) {
                    // Out of range: validation reports it for API writes; loads keep it.
                    continue;
                }
                let shared_in_service =
                    same_number.iter().any(|(n, v)| *v == value && *n == number);
                if !load && !shared_in_service && !free_for_us(&tables, value, &planned_ports) {
                    causes.push(FieldCause::invalid(
                        format!("spec.ports[{index}].nodePort"),
                        &json!(given),
                        "provided port is already allocated",
                    ));
                    continue;
                }
                same_number.push((number, value));
                planned_ports.insert(value);
            }
            for (index, port) in ports.iter_mut().enumerate() {
                if !needs_node_ports {
                    break;
                }
                if port.get("nodePort").and_then(Value::as_i64).unwrap_or(0) != 0 {
                    continue;
                }
                match next_free(&tables, &planned_ports) {
                    Some(value) => {
                        port["nodePort"] = json!(value);
                        planned_ports.insert(value);
                    }
                    None => causes.push(FieldCause::invalid(
                        format!("spec.ports[{index}].nodePort"),
                        &json!(0),
                        "failed to allocate a nodePort: the range 30000-32767 is full",
                    )),
                }
            }
        }

        // healthCheckNodePort.
        let local = spec.get("externalTrafficPolicy").and_then(Value::as_str) == Some("Local");
        if service_type == "LoadBalancer" && local {
            let given = spec
                .get("healthCheckNodePort")
                .and_then(Value::as_i64)
                .filter(|p| *p != 0)
                .or_else(|| {
                    previous_spec
                        .as_ref()
                        .and_then(|s| s.get("healthCheckNodePort"))
                        .and_then(Value::as_i64)
                        .filter(|p| *p != 0)
                });
            match given {
                Some(given) => {
                    spec["healthCheckNodePort"] = json!(given);
                    if let Ok(value) = u32::try_from(given)
                        && tables.node_ports.contains(value)
                    {
                        if !load && !free_for_us(&tables, value, &planned_ports) {
                            causes.push(FieldCause::invalid(
                                "spec.healthCheckNodePort",
                                &json!(given),
                                "provided port is already allocated",
                            ));
                        } else {
                            planned_ports.insert(value);
                        }
                    }
                }
                None => match next_free(&tables, &planned_ports) {
                    Some(value) => {
                        spec["healthCheckNodePort"] = json!(value);
                        planned_ports.insert(value);
                    }
                    None => causes.push(FieldCause::invalid(
                        "spec.healthCheckNodePort",
                        &json!(0),
                        "failed to allocate a port: the range 30000-32767 is full",
                    )),
                },
            }
        }

        if !causes.is_empty() {
            return Err(causes);
        }
        if request.dry_run {
            return Ok(());
        }
        tables.cluster_ips.release_all(&key);
        for ip in planned_ips {
            tables.cluster_ips.claim(ip, key.clone());
        }
        tables.node_ports.release_all(&key);
        for port in planned_ports {
            tables.node_ports.claim(port, key.clone());
        }
        Ok(())
    }

    fn released(&self, resource: ResourceId, object: &Value) {
        if resource != ResourceId::Services {
            return;
        }
        let key = key_of(object);
        let mut tables = self.lock();
        tables.cluster_ips.release_all(&key);
        tables.node_ports.release_all(&key);
    }
}
