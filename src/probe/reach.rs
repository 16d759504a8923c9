//! Which hops this machine can reach, and how: the transport decision per hop and environment.
//!
//! - Endpoints with a pod are reached through a port-forward via the API server, which works
//!   from any machine with API access.
//! - Front doors (ClusterIP, node address:nodePort, LoadBalancer, Ingress) and endpoints
//!   without a pod are connected to directly, when this machine can route to them. A hop it
//!   cannot reach is reported as "not reachable from this machine" with the reason, never as a
//!   failure.
//!
//! The network rule: under [`NetworkScope::LoopbackOnly`] (tests, the sandbox) nothing outside
//! 127.0.0.0/8 is ever connected to. Under [`NetworkScope::Cluster`] only addresses taken from
//! the cluster's own objects are used (the plan has no others), and only those this machine
//! plausibly routes: loopback, anything when running inside the cluster, public addresses, and
//! private addresses covered by a route more specific than the default one.

use std::net::IpAddr;

use crate::engine::plan::{HopKind, ProbeHop, ProbeTarget};
use crate::net;

/// Where the prober runs, which decides what it may connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkScope {
    /// Only 127.0.0.0/8 (tests, benchmarks, the sandbox).
    LoopbackOnly,
    /// A real cluster.
    Cluster {
        /// Running in a pod of the cluster (`KUBERNETES_SERVICE_HOST` is set): ClusterIPs
        /// and pod IPs are routed.
        in_cluster: bool,
        /// This machine's IPv4 routes (more specific than the default route).
        routes: RouteTable,
    },
}

impl NetworkScope {
    /// The scope for a real cluster, from this process's environment (reads the routing table
    /// on Linux; elsewhere only public addresses count as routed).
    pub fn cluster_from_environment() -> Self {
        NetworkScope::Cluster {
            in_cluster: std::env::var_os("KUBERNETES_SERVICE_HOST").is_some(),
            routes: RouteTable::from_system(),
        }
    }

    /// Whether a direct connection to `ip` is allowed and plausible; `Err` says why not.
    pub fn allows(&self, ip: IpAddr, kind: HopKind) -> Result<(), String> {
        // `::ffff:10.0.0.1` is 10.0.0.1 to the socket, so it is judged (and routed) as that.
        let ip = net::canonical(ip);
        if net::classify(ip).is_loopback() {
            return Ok(());
        }
        match self {
            NetworkScope::LoopbackOnly => Err(format!(
                "{ip} is outside 127.0.0.0/8, and this run may only connect inside it"
            )),
            NetworkScope::Cluster { in_cluster, routes } => {
                if *in_cluster {
                    return Ok(());
                }
                match kind {
                    HopKind::ClusterIp => Err(format!(
                        "a ClusterIP ({ip}) is routed only inside the cluster, and kubehop runs outside it"
                    )),
                    HopKind::Endpoint => {
                        if routes.has_specific_route(ip) {
                            Ok(())
                        } else {
                            Err(format!(
                                "the pod IP {ip} is outside this machine's routes (pod networks are routed inside the cluster)"
                            ))
                        }
                    }
                    _ => {
                        if is_public(ip) || routes.has_specific_route(ip) {
                            Ok(())
                        } else {
                            Err(format!(
                                "{ip} is a private address this machine reaches only through its default gateway; node and load balancer addresses like it are usually inside the cluster's network"
                            ))
                        }
                    }
                }
            }
        }
    }

    /// Whether a hostname may be looked up and connected to.
    pub fn allows_hostname(&self, host: &str) -> Result<(), String> {
        match self {
            NetworkScope::LoopbackOnly => {
                let host = host.trim_end_matches('.').to_ascii_lowercase();
                if host == "localhost" || host.ends_with(".localhost") {
                    Ok(())
                } else {
                    Err(format!(
                        "{host} would need a DNS lookup, and this run may only connect inside 127.0.0.0/8"
                    ))
                }
            }
            NetworkScope::Cluster { .. } => Ok(()),
        }
    }
}

/// How one hop is probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    PortForward,
    Direct,
    /// Not reachable from this machine, with the reason.
    Unreachable(String),
}

/// The transport for a hop: port-forward for pods (when the API is at hand), direct for the
/// rest when the scope allows it.
pub fn route_for(hop: &ProbeHop, scope: &NetworkScope, port_forward: bool) -> Route {
    match &hop.target {
        ProbeTarget::Unaddressed { reason } => Route::Unreachable(reason.clone()),
        ProbeTarget::Pod { ip, .. } => {
            if port_forward {
                Route::PortForward
            } else {
                match scope.allows(*ip, hop.kind) {
                    Ok(()) => Route::Direct,
                    Err(reason) => Route::Unreachable(format!(
                        "{reason}; a port-forward needs API access, which this run does not have"
                    )),
                }
            }
        }
        ProbeTarget::Address { ip, .. } => match scope.allows(*ip, hop.kind) {
            Ok(()) => Route::Direct,
            Err(reason) => Route::Unreachable(reason),
        },
        ProbeTarget::Hostname { host, .. } => match scope.allows_hostname(host) {
            Ok(()) => Route::Direct,
            Err(reason) => Route::Unreachable(reason),
        },
    }
}

/// Global unicast addresses (not private, loopback, link-local, CGNAT, documentation,
/// multicast or unspecified), IPv4-mapped IPv6 addresses judged as their IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    net::classify(ip).is_public()
}

/// IPv4 routes with a non-zero mask (the default route is left out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteTable {
    /// (network, mask) in host byte order.
    routes: Vec<(u32, u32)>,
}

impl RouteTable {
    /// Reads `/proc/net/route` (Linux). Elsewhere, or when it cannot be read, the table is
    /// empty and only public addresses count as routed.
    pub fn from_system() -> Self {
        std::fs::read_to_string("/proc/net/route")
            .map(|text| Self::parse_proc(&text))
            .unwrap_or_default()
    }

    /// Parses the text of `/proc/net/route`: destination and mask in hexadecimal.
    pub fn parse_proc(text: &str) -> Self {
        let mut routes = Vec::new();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(destination), Some(mask)) = (fields.get(1), fields.get(7)) else {
                continue;
            };
            let (Ok(destination), Ok(mask)) = (
                u32::from_str_radix(destination, 16),
                u32::from_str_radix(mask, 16),
            ) else {
                continue;
            };
            // The kernel prints the network-order word as a host-order number.
            let (destination, mask) = (
                u32::from_be_bytes(destination.to_ne_bytes()),
                u32::from_be_bytes(mask.to_ne_bytes()),
            );
            if mask != 0 {
                routes.push((destination & mask, mask));
            }
        }
        RouteTable { routes }
    }

    pub fn has_specific_route(&self, ip: IpAddr) -> bool {
        let IpAddr::V4(v4) = ip else {
            return false;
        };
        let address = u32::from(v4);
        self.routes
            .iter()
            .any(|(network, mask)| address & mask == *network)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const PROC_ROUTE: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n\
br-1\t000012AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";

    #[rstest]
    #[case("192.168.1.20", true)]
    #[case("172.18.0.3", true)]
    #[case("10.0.0.5", false)]
    #[case("192.168.2.1", false)]
    fn specific_routes_from_proc(#[case] ip: &str, #[case] routed: bool) {
        let table = RouteTable::parse_proc(PROC_ROUTE);
        assert_eq!(table.has_specific_route(ip.parse().expect("ip")), routed);
    }

    #[rstest]
    #[case("127.0.0.1", HopKind::ClusterIp, true)]
    #[case("10.96.0.10", HopKind::ClusterIp, false)]
    #[case("8.8.4.4", HopKind::LoadBalancer, true)]
    #[case("10.0.0.5", HopKind::NodePort, false)]
    #[case("172.18.0.3", HopKind::NodePort, true)]
    #[case("172.18.0.3", HopKind::ClusterIp, false)]
    // IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
    #[case("::ffff:127.0.0.1", HopKind::ClusterIp, true)]
    #[case("::ffff:10.0.0.1", HopKind::NodePort, false)]
    #[case("::ffff:10.0.0.1", HopKind::LoadBalancer, false)]
    #[case("::ffff:169.254.169.254", HopKind::LoadBalancer, false)]
    #[case("::ffff:169.254.169.254", HopKind::Ingress, false)]
    #[case("::ffff:172.18.0.3", HopKind::NodePort, true)]
    #[case("::ffff:8.8.4.4", HopKind::LoadBalancer, true)]
    fn cluster_scope_outside_the_cluster(
        #[case] ip: &str,
        #[case] kind: HopKind,
        #[case] allowed: bool,
    ) {
        let scope = NetworkScope::Cluster {
            in_cluster: false,
            routes: RouteTable::parse_proc(PROC_ROUTE),
        };
        assert_eq!(
            scope.allows(ip.parse().expect("ip"), kind).is_ok(),
            allowed,
            "{ip} {kind:?}"
        );
    }

    #[test]
    fn loopback_only_refuses_everything_else() {
        let scope = NetworkScope::LoopbackOnly;
        assert!(
            scope
                .allows("127.40.0.5".parse().expect("ip"), HopKind::Endpoint)
                .is_ok()
        );
        let refused = scope
            .allows("10.0.0.1".parse().expect("ip"), HopKind::NodePort)
            .expect_err("outside loopback");
        assert!(refused.contains("127.0.0.0/8"), "{refused}");
        assert!(
            scope
                .allows("::ffff:127.0.0.1".parse().expect("ip"), HopKind::Endpoint)
                .is_ok()
        );
        for mapped in ["::ffff:10.0.0.1", "::ffff:169.254.169.254"] {
            assert!(
                scope
                    .allows(mapped.parse().expect("ip"), HopKind::NodePort)
                    .is_err(),
                "{mapped}"
            );
        }
        assert!(scope.allows_hostname("localhost").is_ok());
        assert!(scope.allows_hostname("lb.example.com").is_err());
    }

    #[test]
    fn in_cluster_reaches_cluster_ips() {
        let scope = NetworkScope::Cluster {
            in_cluster: true,
            routes: RouteTable::default(),
        };
        assert!(
            scope
                .allows("10.96.0.10".parse().expect("ip"), HopKind::ClusterIp)
                .is_ok()
        );
    }
}
