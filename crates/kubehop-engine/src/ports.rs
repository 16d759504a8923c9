//! targetPort resolution (rules B2-B4) and the port map the TUI shows: Service port → targetPort
//! as written → the containerPort each selected pod resolves it to, or why not.

use std::collections::BTreeMap;

use crate::objects::{ContainerInfo, PodInfo, PortInfo};

use super::model::{Protocol, ServiceChain, TargetPort};
use super::pods::{self, Exclusion};

/// The outcome of resolving a Service port's targetPort on one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution<'a> {
    /// Rule B2: a numeric targetPort is used as-is. `declared_by` names the container that
    /// declares it with the port's protocol, if any (declaring is optional).
    Number {
        port: i32,
        declared_by: Option<&'a str>,
    },
    /// Rule B3: the first regular container port with that name and protocol, else the first
    /// restartable init container's (a sidecar).
    Named {
        port: i32,
        container: &'a str,
        sidecar: bool,
    },
    /// Rule B4: no container declares the name (with any protocol).
    NameNotDeclared,
    /// Rule B4: the name is declared, but only with another protocol.
    ProtocolMismatch {
        container: &'a str,
        declared: Protocol,
        port: i32,
    },
}

impl Resolution<'_> {
    /// The number the pod receives on, when the port resolves.
    pub fn port(&self) -> Option<i32> {
        match self {
            Self::Number { port, .. } | Self::Named { port, .. } => Some(*port),
            Self::NameNotDeclared | Self::ProtocolMismatch { .. } => None,
        }
    }
}

fn container_port_protocol(port: &PortInfo) -> Protocol {
    // Rule B1: a container port without protocol is TCP. An unknown value matches nothing.
    match port.protocol.as_deref() {
        None | Some("") => Protocol::Tcp,
        Some(other) => Protocol::parse(other).unwrap_or(Protocol::Tcp),
    }
}

/// Regular containers first, then restartable init containers (sidecars), in spec order.
fn port_sources(pod: &PodInfo) -> impl Iterator<Item = (&ContainerInfo, bool)> {
    pod.containers
        .iter()
        .filter(|container| !container.init || container.is_sidecar())
        .map(|container| (container, container.init))
}

/// Resolves `target` for `protocol` on `pod` (rules B2-B4).
pub fn resolve_target_port<'a>(
    pod: &'a PodInfo,
    target: &TargetPort,
    protocol: Protocol,
) -> Resolution<'a> {
    match target {
        TargetPort::Number(number) => {
            let declared_by = port_sources(pod).find_map(|(container, _)| {
                container
                    .ports
                    .iter()
                    .any(|port| {
                        port.container_port == *number && container_port_protocol(port) == protocol
                    })
                    .then_some(&*container.name)
            });
            Resolution::Number {
                port: *number,
                declared_by,
            }
        }
        TargetPort::Name(name) => {
            let mut mismatch = None;
            for (container, sidecar) in port_sources(pod) {
                for port in &container.ports {
                    if port.name.as_deref() != Some(name.as_str()) {
                        continue;
                    }
                    let declared = container_port_protocol(port);
                    if declared == protocol {
                        return Resolution::Named {
                            port: port.container_port,
                            container: &container.name,
                            sidecar,
                        };
                    }
                    mismatch.get_or_insert(Resolution::ProtocolMismatch {
                        container: &container.name,
                        declared,
                        port: port.container_port,
                    });
                }
            }
            mismatch.unwrap_or(Resolution::NameNotDeclared)
        }
    }
}

/// A container port a pod declares, for messages and the port map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredPort {
    pub container: String,
    pub name: Option<String>,
    pub port: i32,
    pub protocol: Protocol,
    pub sidecar: bool,
}

impl std::fmt::Display for DeclaredPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name}={}/{}", self.port, self.protocol),
            None => write!(f, "{}/{}", self.port, self.protocol),
        }
    }
}

/// Every container port of a pod (regular containers, then sidecars).
pub fn declared_ports(pod: &PodInfo) -> Vec<DeclaredPort> {
    port_sources(pod)
        .flat_map(|(container, sidecar)| {
            container.ports.iter().map(move |port| DeclaredPort {
                container: container.name.to_string(),
                name: port.name.as_deref().map(str::to_owned),
                port: port.container_port,
                protocol: container_port_protocol(port),
                sidecar,
            })
        })
        .collect()
}

/// "http=8080/TCP, metrics=9100/TCP" or "no container ports".
pub fn describe_declared(ports: &[DeclaredPort]) -> String {
    if ports.is_empty() {
        "no container ports".to_owned()
    } else {
        ports
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The port map of one Service port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    pub name: Option<String>,
    pub port: i32,
    pub protocol: Protocol,
    /// As written (after rule B1's defaulting).
    pub target_port: TargetPort,
    pub node_port: Option<i32>,
    pub app_protocol: Option<String>,
    /// One row per selected pod, sorted by pod name.
    pub pods: Vec<PodPortMapping>,
}

/// How one selected pod maps a Service port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodPortMapping {
    pub pod: String,
    pub outcome: PodPortOutcome,
}

/// Where a Service port lands on a pod, or why it does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodPortOutcome {
    /// The pod receives on `container_port` (rules B2/B3). `container` is the declaring container
    /// (none for a numeric targetPort nobody declares, which still works: rule B2).
    Resolved {
        container_port: i32,
        container: Option<String>,
        sidecar: bool,
    },
    /// Rule B4: the name is not declared; lists what the pod does declare.
    NameNotDeclared { declared: Vec<DeclaredPort> },
    /// Rule B4: declared with another protocol.
    ProtocolMismatch {
        container: String,
        declared: Protocol,
        port: i32,
    },
    /// Rule A3/A7: the pod is not an endpoint at all.
    Excluded(Exclusion),
}

/// Builds the port map of a chain (rules B3/B4, A3/A7 exclusions).
pub fn port_map(chain: &ServiceChain) -> Vec<PortMapping> {
    let pods_by_name: BTreeMap<&str, &PodInfo> = chain
        .details
        .selected_pods
        .iter()
        .map(|pod| (pods::name(pod), pod.as_ref()))
        .collect();
    chain
        .ports
        .iter()
        .map(|port| PortMapping {
            name: port.name.clone(),
            port: port.port,
            protocol: port.protocol,
            target_port: port.target_port.clone(),
            node_port: port.node_port,
            app_protocol: port.app_protocol.clone(),
            pods: pods_by_name
                .iter()
                .map(|(name, pod)| PodPortMapping {
                    pod: (*name).to_owned(),
                    outcome: pod_outcome(chain, pod, &port.target_port, port.protocol),
                })
                .collect(),
        })
        .collect()
}

fn pod_outcome(
    chain: &ServiceChain,
    pod: &PodInfo,
    target: &TargetPort,
    protocol: Protocol,
) -> PodPortOutcome {
    if let Some(exclusion) = chain.details.excluded_pods.get(pods::name(pod)) {
        return PodPortOutcome::Excluded(exclusion.clone());
    }
    match resolve_target_port(pod, target, protocol) {
        Resolution::Number { port, declared_by } => PodPortOutcome::Resolved {
            container_port: port,
            container: declared_by.map(str::to_owned),
            sidecar: false,
        },
        Resolution::Named {
            port,
            container,
            sidecar,
        } => PodPortOutcome::Resolved {
            container_port: port,
            container: Some(container.to_owned()),
            sidecar,
        },
        Resolution::NameNotDeclared => PodPortOutcome::NameNotDeclared {
            declared: declared_ports(pod),
        },
        Resolution::ProtocolMismatch {
            container,
            declared,
            port,
        } => PodPortOutcome::ProtocolMismatch {
            container: container.to_owned(),
            declared,
            port,
        },
    }
}
