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
        let mut tables = self.lock();
        let mut plan = Plan {
            held: tables.node_ports.held_by(&key).into_iter().collect(),
            key,
            load,
            previous_spec,
            planned_ips: Vec::new(),
            planned_ports: BTreeSet::new(),
            causes: Vec::new(),
        };
        if service_type != "ExternalName" {
            self.plan_cluster_ip(&mut plan, &tables, spec);
        }
        plan.node_ports(&tables, spec, &service_type);
        let local = spec.get("externalTrafficPolicy").and_then(Value::as_str) == Some("Local");
        if service_type == "LoadBalancer" && local {
            plan.health_check_node_port(&tables, spec);
        }
        if !plan.causes.is_empty() {
            return Err(plan.causes);
        }
        if request.dry_run {
            return Ok(());
        }
        let key = plan.key;
        tables.cluster_ips.release_all(&key);
        for ip in plan.planned_ips {
            tables.cluster_ips.claim(ip, key.clone());
        }
        tables.node_ports.release_all(&key);
        for port in plan.planned_ports {
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

/// One admission of one Service: what it asks for, what it plans to claim once every check
/// passed, and the causes of a rejection.
struct Plan {
    key: ServiceKey,
    /// Scenario and dump objects keep what they carry.
    load: bool,
    previous_spec: Option<Value>,
    /// The node ports this Service holds already.
    held: BTreeSet<u32>,
    planned_ips: Vec<u32>,
    planned_ports: BTreeSet<u32>,
    causes: Vec<FieldCause>,
}

impl ServiceAllocator {
    /// The ClusterIP: kept from the previous version when left out (and never changed), the
    /// next free one when none is wanted, else the given one, checked against the range and
    /// the other Services.
    fn plan_cluster_ip(&self, plan: &mut Plan, tables: &Tables, spec: &mut Value) {
        let given = text(spec, "/clusterIP").to_string();
        let old = plan
            .previous_spec
            .as_ref()
            .map(|s| text(s, "/clusterIP").to_string())
            .unwrap_or_default();
        let wanted = if given.is_empty() { old.clone() } else { given };
        if !old.is_empty() && wanted != old {
            plan.causes.push(FieldCause::invalid(
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
                    plan.planned_ips.push(value);
                }
                None => plan.causes.push(FieldCause::invalid(
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
            self.claim_given_ip(plan, tables, &wanted);
        }
    }

    /// A ClusterIP the client (or a scenario) gave: inside the range it must be free or ours;
    /// outside it only loads may keep it.
    fn claim_given_ip(&self, plan: &mut Plan, tables: &Tables, wanted: &str) {
        match wanted.parse::<Ipv4Addr>() {
            Ok(ip) if self.range.contains(ip) => {
                let value = u32::from(ip);
                match tables.cluster_ips.owner(value) {
                    Some(owner) if *owner != plan.key && !plan.load => {
                        plan.causes.push(FieldCause::invalid(
                            "spec.clusterIPs",
                            &json!([wanted]),
                            &format!(
                                "failed to allocate IP {wanted}: provided IP is already allocated"
                            ),
                        ));
                    }
                    _ => plan.planned_ips.push(value),
                }
            }
            // Scenarios and dumps keep their addresses.
            _ if plan.load => {}
            _ => plan.causes.push(FieldCause::invalid(
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

impl Plan {
    /// Whether this Service may take node port `value`: not planned yet, and ours or free.
    fn free_for_us(&self, tables: &Tables, value: u32) -> bool {
        !self.planned_ports.contains(&value)
            && (self.held.contains(&value) || tables.node_ports.owner(value).is_none())
    }

    /// The next node port free after what is planned.
    fn next_free(&self, tables: &Tables) -> Option<u32> {
        let mut probe = tables.node_ports.clone();
        for value in &self.planned_ports {
            probe.claim(*value, self.key.clone());
        }
        probe.allocate(self.key.clone())
    }

    /// The nodePorts of NodePort Services and of LoadBalancer Services that allocate them:
    /// given (or previously held) numbers first, so allocation does not hand them out again,
    /// then a free one for every port without.
    fn node_ports(&mut self, tables: &Tables, spec: &mut Value, service_type: &str) {
        let allocate_lb_ports = spec
            .get("allocateLoadBalancerNodePorts")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let needs_node_ports =
            service_type == "NodePort" || (service_type == "LoadBalancer" && allocate_lb_ports);
        if !needs_node_ports {
            return;
        }
        let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) else {
            return;
        };
        let old_node_ports = self
            .previous_spec
            .as_ref()
            .map(node_port_map)
            .unwrap_or_default();
        let mut same_number: Vec<(i64, u32)> = Vec::new();
        for (index, port) in ports.iter_mut().enumerate() {
            self.given_node_port(tables, index, port, &old_node_ports, &mut same_number);
        }
        for (index, port) in ports.iter_mut().enumerate() {
            if port.get("nodePort").and_then(Value::as_i64).unwrap_or(0) != 0 {
                continue;
            }
            match self.next_free(tables) {
                Some(value) => {
                    port["nodePort"] = json!(value);
                    self.planned_ports.insert(value);
                }
                None => self.causes.push(FieldCause::invalid(
                    format!("spec.ports[{index}].nodePort"),
                    &json!(0),
                    "failed to allocate a nodePort: the range 30000-32767 is full",
                )),
            }
        }
    }

    /// A port's given nodePort (or the one the same port and protocol held before): kept, and
    /// claimed when inside the range; two ports of the Service with the same number may share
    /// it (TCP and UDP, rule G4).
    fn given_node_port(
        &mut self,
        tables: &Tables,
        index: usize,
        port: &mut Value,
        old_node_ports: &[((i64, String), i64)],
        same_number: &mut Vec<(i64, u32)>,
    ) {
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
            return;
        }
        port["nodePort"] = json!(given);
        let Ok(value) = u32::try_from(given) else {
            return;
        };
        if !tables.node_ports.contains(value) {
            // Out of range: validation reports it for API writes; loads keep it.
            return;
        }
        let shared_in_service = same_number.iter().any(|(n, v)| *v == value && *n == number);
        if !self.load && !shared_in_service && !self.free_for_us(tables, value) {
            self.causes.push(FieldCause::invalid(
                format!("spec.ports[{index}].nodePort"),
                &json!(given),
                "provided port is already allocated",
            ));
            return;
        }
        same_number.push((number, value));
        self.planned_ports.insert(value);
    }

    /// healthCheckNodePort of a LoadBalancer Service with externalTrafficPolicy Local: the
    /// given (or previous) one, checked like a nodePort, else the next free one.
    fn health_check_node_port(&mut self, tables: &Tables, spec: &mut Value) {
        let given = spec
            .get("healthCheckNodePort")
            .and_then(Value::as_i64)
            .filter(|p| *p != 0)
            .or_else(|| {
                self.previous_spec
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
                    if !self.load && !self.free_for_us(tables, value) {
                        self.causes.push(FieldCause::invalid(
                            "spec.healthCheckNodePort",
                            &json!(given),
                            "provided port is already allocated",
                        ));
                    } else {
                        self.planned_ports.insert(value);
                    }
                }
            }
            None => match self.next_free(tables) {
                Some(value) => {
                    spec["healthCheckNodePort"] = json!(value);
                    self.planned_ports.insert(value);
                }
                None => self.causes.push(FieldCause::invalid(
                    "spec.healthCheckNodePort",
                    &json!(0),
                    "failed to allocate a port: the range 30000-32767 is full",
                )),
            },
        }
    }
}
