//! `kubehop chain`: which Services to print, the JSON/YAML document, and the text tree.
//!
//! The JSON and YAML forms are the engine's [`ProxyModel`] serialisation (the shape in docs/output.md)
//! restricted to the selected Services, plus one addition: a top-level `diagnostics` array for
//! findings that belong to no Service (an Ingress backend naming a Service that does not exist),
//! each with the `namespace` of the object it is about.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

use super::style::Style;
use super::tree::{TreeNode, align};
use crate::engine::diagnostics::name_list;
use crate::engine::model::{
    EndpointInfo, IngressRef, IpMode, NodeAcceptance, PortChain, PortEndpoint, PortRef,
    ServiceType, TargetPort, TrafficPolicy,
};
use crate::engine::ports::{PodPortOutcome, PortMapping, describe_declared};
use crate::engine::{Diagnostic, DiagnosticCode, ProxyModel, ServiceChain, Severity};

/// Which namespaces a command looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// `-A`.
    All,
    /// `-n NS`, a `namespace/name` argument, or `default`.
    Namespace(String),
}

impl Scope {
    /// `-A` wins over `-n` (as in kubectl); without either, `default`.
    pub fn from_flags(namespace: Option<&str>, all_namespaces: bool) -> Self {
        match (all_namespaces, namespace) {
            (true, _) => Scope::All,
            (false, Some(namespace)) => Scope::Namespace(namespace.to_owned()),
            (false, None) => Scope::Namespace("default".to_owned()),
        }
    }

    pub fn contains(&self, namespace: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Namespace(scope) => scope == namespace,
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::All => f.write_str("all namespaces"),
            Scope::Namespace(namespace) => write!(f, "namespace {namespace}"),
        }
    }
}

/// What `kubehop chain [SERVICE] [-n NS | -A]` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSelection {
    pub scope: Scope,
    /// Only Services with this name (in the scope).
    pub service: Option<String>,
}

/// A selection that cannot be satisfied; the message is one line (exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    #[error("invalid SERVICE {0:?}: expected NAME or NAMESPACE/NAME")]
    InvalidName(String),
    #[error("SERVICE {service:?} names namespace {named:?} but -n says {flag:?}: drop one of them")]
    NamespaceConflict {
        service: String,
        named: String,
        flag: String,
    },
    #[error("Service {name:?} not found in {scope}{hint}")]
    ServiceNotFound {
        name: String,
        scope: Scope,
        /// `" (it exists in namespace shop: use -n shop)"` or the Services there.
        hint: String,
    },
}

impl ChainSelection {
    /// Reads `SERVICE` (`name` or `namespace/name`) together with `-n` and `-A`.
    pub fn new(
        service: Option<&str>,
        namespace: Option<&str>,
        all_namespaces: bool,
    ) -> Result<Self, SelectionError> {
        let Some(service) = service else {
            return Ok(Self {
                scope: Scope::from_flags(namespace, all_namespaces),
                service: None,
            });
        };
        let invalid = || SelectionError::InvalidName(service.to_owned());
        match service.split_once('/') {
            Some((named, name)) => {
                if named.is_empty() || name.is_empty() || name.contains('/') {
                    return Err(invalid());
                }
                if let Some(flag) = namespace.filter(|flag| *flag != named && !all_namespaces) {
                    return Err(SelectionError::NamespaceConflict {
                        service: service.to_owned(),
                        named: named.to_owned(),
                        flag: flag.to_owned(),
                    });
                }
                Ok(Self {
                    scope: Scope::Namespace(named.to_owned()),
                    service: Some(name.to_owned()),
                })
            }
            None if service.is_empty() => Err(invalid()),
            None => Ok(Self {
                scope: Scope::from_flags(namespace, all_namespaces),
                service: Some(service.to_owned()),
            }),
        }
    }
}

/// An unattached diagnostic with the namespace of the object it is about.
#[derive(Debug, Clone, Serialize)]
pub struct ScopedDiagnostic<'m> {
    #[serde(flatten)]
    pub diagnostic: &'m Diagnostic,
    pub namespace: &'m str,
}

/// The selected part of a model: what `chain` prints, and its JSON/YAML document
/// (`{"services": [...], "diagnostics": [...]}`).
#[derive(Debug, Clone, Serialize)]
pub struct Selected<'m> {
    pub services: Vec<&'m ServiceChain>,
    /// Unattached diagnostics in scope (only when no single Service was asked for).
    pub diagnostics: Vec<ScopedDiagnostic<'m>>,
}

impl Selected<'_> {
    /// Whether `chain` exits 1: an error-level diagnostic on a selected Service or in scope.
    pub fn has_errors(&self) -> bool {
        self.services.iter().any(|chain| chain.has_errors())
            || self
                .diagnostics
                .iter()
                .any(|scoped| scoped.diagnostic.severity == Severity::Error)
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty() && self.diagnostics.is_empty()
    }
}

/// Picks the Services (and unattached diagnostics) a selection names.
pub fn select<'m>(
    model: &'m ProxyModel,
    selection: &ChainSelection,
) -> Result<Selected<'m>, SelectionError> {
    let in_scope = |namespace: &str| selection.scope.contains(namespace);
    let services: Vec<&ServiceChain> = model
        .services
        .iter()
        .filter(|chain| in_scope(&chain.namespace))
        .filter(|chain| {
            selection
                .service
                .as_deref()
                .is_none_or(|name| chain.name == name)
        })
        .collect();
    if let Some(name) = &selection.service {
        if services.is_empty() {
            return Err(SelectionError::ServiceNotFound {
                name: name.clone(),
                scope: selection.scope.clone(),
                hint: not_found_hint(model, name, &selection.scope),
            });
        }
        return Ok(Selected {
            services,
            diagnostics: Vec::new(),
        });
    }
    let diagnostics = model
        .unattached_by_namespace()
        .filter(|(namespace, _)| in_scope(namespace))
        .map(|(namespace, diagnostic)| ScopedDiagnostic {
            diagnostic,
            namespace,
        })
        .collect();
    Ok(Selected {
        services,
        diagnostics,
    })
}

fn not_found_hint(model: &ProxyModel, name: &str, scope: &Scope) -> String {
    let elsewhere: Vec<&str> = model
        .services
        .iter()
        .filter(|chain| chain.name == name)
        .map(|chain| chain.namespace.as_str())
        .collect();
    if let Some(first) = elsewhere.first() {
        return format!(
            " (it exists in namespace {}: use -n {first} or {first}/{name})",
            name_list(&elsewhere)
        );
    }
    let Scope::Namespace(namespace) = scope else {
        return String::new();
    };
    let here: Vec<&str> = model
        .services
        .iter()
        .filter(|chain| chain.namespace == *namespace)
        .map(|chain| chain.name.as_str())
        .collect();
    if here.is_empty() {
        " (the input has no Services there)".to_owned()
    } else {
        format!(" (Services there: {})", name_list(&here))
    }
}

/// Why nothing was printed, for standard error (kubectl's "No resources found").
pub fn nothing_found_message(model: &ProxyModel, scope: &Scope) -> String {
    let mut message = match scope {
        Scope::All => "No Services found in the input.".to_owned(),
        Scope::Namespace(namespace) => format!("No Services found in namespace {namespace}."),
    };
    let namespaces: BTreeSet<&str> = model
        .services
        .iter()
        .map(|chain| chain.namespace.as_str())
        .collect();
    if matches!(scope, Scope::Namespace(_)) && !namespaces.is_empty() {
        let namespaces: Vec<&str> = namespaces.into_iter().collect();
        let _ = write!(
            message,
            " The input has Services in namespace {}: use -n NAMESPACE or -A.",
            name_list(&namespaces)
        );
    }
    message
}

// ---------------------------------------------------------------------------------------------
// The text form.

/// Writes the text tree of every selected Service, then the unattached diagnostics.
pub fn write_text(out: &mut dyn Write, selected: &Selected<'_>, style: Style) -> io::Result<()> {
    for (position, chain) in selected.services.iter().enumerate() {
        if position > 0 {
            writeln!(out)?;
        }
        service_tree(chain, style).write(out)?;
    }
    if !selected.diagnostics.is_empty() {
        if !selected.services.is_empty() {
            writeln!(out)?;
        }
        let mut root = TreeNode::new(format!(
            "{}  {}",
            style.bold("Ingresses"),
            style.dim("backends that name no existing Service")
        ));
        let rows: Vec<Vec<String>> = selected
            .diagnostics
            .iter()
            .map(|scoped| diagnostic_row(scoped.diagnostic, style))
            .collect();
        for line in align(&rows) {
            root.child(line);
        }
        root.write(out)?;
    }
    Ok(())
}

/// The tree of one Service: header, summary, one subtree per port, diagnostics, DNS.
pub fn service_tree(chain: &ServiceChain, style: Style) -> TreeNode {
    let mut root = TreeNode::new(header(chain, style));
    for line in summary(chain, style) {
        root.child(line);
    }
    for ingress in &chain.ingresses {
        if port_for_ingress(chain, ingress).is_none() {
            let line = match &ingress.service_port {
                Some(port) => format!(
                    "{}  {} chain breaks here: the Service has no port {port}",
                    ingress_text(ingress),
                    style.broken()
                ),
                None => format!("{}  (no Service port given)", ingress_text(ingress)),
            };
            root.child(line);
        }
    }
    let port_map = if chain.selector.is_some() && !chain.details.selected_pods.is_empty() {
        chain.port_map()
    } else {
        Vec::new()
    };
    for (index, port) in chain.ports.iter().enumerate() {
        root.push(port_tree(chain, port, port_map.get(index), style));
    }
    if chain.ports.is_empty() && chain.service_type != ServiceType::ExternalName {
        let endpoints = &chain.details.endpoints;
        let ready = endpoints.iter().filter(|endpoint| endpoint.ready).count();
        let node = root.child(format!(
            "no ports  {}",
            style.dim(&format!(
                "{ready} ready of {} endpoints (reachable by DNS name only)",
                endpoints.len()
            ))
        ));
        let rows: Vec<Vec<String>> = endpoints
            .iter()
            .map(|info| endpoint_row(info, info.ip.to_string(), String::new(), style))
            .collect();
        for line in align(&rows) {
            node.child(line);
        }
    }
    root.push(diagnostics_tree(chain, style));
    root.push(dns_tree(chain, style));
    root
}

fn header(chain: &ServiceChain, style: Style) -> String {
    let errors = count(chain, Severity::Error);
    let warnings = count(chain, Severity::Warning);
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let health = if errors > 0 {
        let mut text = format!("broken: {}", plural(errors, "error"));
        if warnings > 0 {
            text.push_str(&format!(", {}", plural(warnings, "warning")));
        }
        format!("{} {}", style.broken(), style.red(&text))
    } else if warnings > 0 {
        format!(
            "{} {}",
            style.caveat(),
            style.yellow(&plural(warnings, "warning"))
        )
    } else {
        format!("{} {}", style.ok(), style.green("ok"))
    };
    let kind = if chain.headless {
        "ClusterIP (headless)"
    } else {
        chain.service_type.as_str()
    };
    format!(
        "{}  {kind}  {health}",
        style.bold(&format!("{}/{}", chain.namespace, chain.name))
    )
}

fn count(chain: &ServiceChain, severity: Severity) -> usize {
    chain
        .diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.severity == severity)
        .count()
}

fn has_code(chain: &ServiceChain, code: DiagnosticCode) -> bool {
    chain
        .diagnostics
        .iter()
        .any(|diagnostic| diagnostic.code == code)
}

/// Lines under the header that apply to every port.
fn summary(chain: &ServiceChain, style: Style) -> Vec<String> {
    let details = &chain.details;
    let mut lines = Vec::new();
    if chain.service_type == ServiceType::ExternalName {
        lines.push(format!(
            "CNAME → {}  {}",
            chain
                .external_name
                .as_deref()
                .unwrap_or("(empty externalName)"),
            style.dim("DNS only: no ClusterIP, no endpoints, no proxying, ports not translated")
        ));
        return lines;
    }
    match &chain.selector {
        Some(selector) => {
            let text: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let selected = details.selected_pods.len();
            let matched = if selected == 0 {
                format!("{} matches no pod", style.broken())
            } else {
                format!(
                    "{selected} pod{} match{}",
                    if selected == 1 { "" } else { "s" },
                    if selected == 1 { "es" } else { "" }
                )
            };
            lines.push(format!("selector {}: {matched}", text.join(",")));
        }
        None => {
            let line = if details.slices.is_empty() {
                format!(
                    "no selector and no EndpointSlice  {} kube-proxy has no endpoints",
                    style.broken()
                )
            } else {
                "no selector: endpoints come from EndpointSlices written by hand".to_owned()
            };
            lines.push(line);
        }
    }
    if chain.endpoints_derived {
        lines.push(format!(
            "EndpointSlices: {}",
            style.dim(
                "none in the input; derived from the pods by the EndpointSlice controller's rules"
            )
        ));
    } else if !details.slices.is_empty() {
        let names: Vec<&str> = details
            .slices
            .iter()
            .map(|slice| slice.metadata.name.as_deref().unwrap_or("(unnamed)"))
            .collect();
        lines.push(format!("EndpointSlices: {}", name_list(&names)));
    }
    if chain.headless {
        lines.push(format!(
            "clusterIP None  {}",
            style.dim(
                "headless: no virtual IP, no kube-proxy rules; DNS returns the ready pod addresses"
            )
        ));
    }
    let mut policies = Vec::new();
    if let Some(policy) = chain.external_traffic_policy {
        policies.push(format!("externalTrafficPolicy {}", policy_name(policy)));
    }
    if chain.internal_traffic_policy == Some(TrafficPolicy::Local) {
        policies.push("internalTrafficPolicy Local".to_owned());
    }
    if let crate::engine::model::AffinityConfig::ClientIp { timeout } = details.affinity {
        policies.push(format!(
            "sessionAffinity ClientIP ({} s)",
            timeout.as_secs()
        ));
    }
    if let Some(distribution) = &details.traffic_distribution {
        policies.push(format!("trafficDistribution {distribution}"));
    }
    if details.publish_not_ready_addresses {
        policies.push("publishNotReadyAddresses".to_owned());
    }
    if !details.load_balancer_source_ranges.is_empty() {
        policies.push(format!(
            "loadBalancerSourceRanges {}",
            details.load_balancer_source_ranges.join(",")
        ));
    }
    if let Some(crate::engine::model::NotProxied::OtherProxy) = details.not_proxied {
        policies
            .push("handed to another proxy (service.kubernetes.io/service-proxy-name)".to_owned());
    }
    if !policies.is_empty() {
        lines.push(policies.join(" · "));
    }
    lines
}

fn policy_name(policy: TrafficPolicy) -> &'static str {
    match policy {
        TrafficPolicy::Cluster => "Cluster",
        TrafficPolicy::Local => "Local",
    }
}

/// `http 80/TCP` or `80/TCP`.
fn port_label(port: &PortChain) -> String {
    match port.name.as_deref().filter(|name| !name.is_empty()) {
        Some(name) => format!("{name} {}/{}", port.port, port.protocol),
        None => format!("{}/{}", port.port, port.protocol),
    }
}

fn port_for_ingress<'c>(chain: &'c ServiceChain, ingress: &IngressRef) -> Option<&'c PortChain> {
    match ingress.service_port.as_ref()? {
        PortRef::Number(number) => chain.ports.iter().find(|port| port.port == *number),
        PortRef::Name(name) => chain
            .ports
            .iter()
            .find(|port| port.name.as_deref() == Some(name.as_str())),
    }
}

fn ingress_text(ingress: &IngressRef) -> String {
    let route = if ingress.default_backend || ingress.path.is_none() {
        "(default backend)".to_owned()
    } else {
        format!(
            "{}{}",
            ingress.host.as_deref().unwrap_or("*"),
            ingress.path.as_deref().unwrap_or("")
        )
    };
    let port = ingress
        .service_port
        .as_ref()
        .map(|port| format!(" → port {port}"))
        .unwrap_or_default();
    format!(
        "Ingress {}/{}  {route}{port}",
        ingress.namespace, ingress.name
    )
}

fn socket(ip: IpAddr, port: i32) -> String {
    match u16::try_from(port) {
        Ok(port) => SocketAddr::new(ip, port).to_string(),
        Err(_) if ip.is_ipv6() => format!("[{ip}]:{port}"),
        Err(_) => format!("{ip}:{port}"),
    }
}

/// `targetPort http` / `targetPort 8080`.
fn target_text(port: &PortChain) -> String {
    format!("targetPort {}", port.target_port)
}

fn port_tree(
    chain: &ServiceChain,
    port: &PortChain,
    mapping: Option<&PortMapping>,
    style: Style,
) -> TreeNode {
    let mut title = format!("port {} → {}", port_label(port), target_text(port));
    if let Some(node_port) = port.node_port {
        title.push_str(&format!(", nodePort {node_port}"));
    }
    if let Some(app_protocol) = &port.app_protocol {
        title.push_str(&format!(", appProtocol {app_protocol}"));
    }
    let mut node = TreeNode::new(style.bold(&title));
    if chain.service_type == ServiceType::ExternalName {
        node.child(style.dim(&format!(
            "informational only: clients connect to {}:{} themselves",
            chain.external_name.as_deref().unwrap_or("the external name"),
            port.port
        )));
        return node;
    }

    // Outermost hops first: Ingress, LoadBalancer, externalIPs, NodePort, ClusterIP, endpoints.
    for ingress in &chain.ingresses {
        if port_for_ingress(chain, ingress).is_some_and(|found| std::ptr::eq(found, port)) {
            node.child(ingress_text(ingress));
        }
    }
    load_balancer_hops(chain, port, &mut node, style);
    for ip in &chain.details.external_ips {
        node.child(format!(
            "externalIP {} → {}  {}",
            socket(*ip, port.port),
            target_text(port),
            style.dim(node_rules_text(chain))
        ));
    }
    node_port_hops(chain, port, &mut node, style);
    if !chain.headless {
        match &port.cluster_ip {
            Some(hop) => {
                let mut addresses = vec![socket(hop.ip, hop.port)];
                addresses.extend(
                    chain
                        .cluster_ips
                        .iter()
                        .filter(|ip| **ip != hop.ip)
                        .map(|ip| socket(*ip, port.port)),
                );
                node.child(format!(
                    "ClusterIP {} → {}",
                    addresses.join(", "),
                    target_text(port)
                ));
            }
            None => {
                node.child(format!(
                    "ClusterIP {}",
                    style.dim("none in the input (the API server allocates one on create)")
                ));
            }
        }
    }
    node.push(endpoints_tree(chain, port, mapping, style));
    node
}

fn load_balancer_hops(chain: &ServiceChain, port: &PortChain, node: &mut TreeNode, style: Style) {
    if chain.service_type != ServiceType::LoadBalancer {
        return;
    }
    if port.load_balancer.is_empty() {
        node.child(format!(
            "LoadBalancer <pending>  {} {}",
            style.caveat(),
            style.yellow("no address yet: status.loadBalancer.ingress is empty")
        ));
        return;
    }
    for entry in &port.load_balancer {
        let forwards_to_node_port = match port.node_port {
            Some(node_port) => format!("the load balancer forwards to NodePort {node_port}"),
            None => "the load balancer forwards to the pods itself".to_owned(),
        };
        let line = match (&entry.ip, &entry.hostname, entry.ip_mode) {
            (Some(ip), _, Some(IpMode::VIP)) => format!(
                "LoadBalancer {} (ipMode VIP) → {}  {}",
                ip_port_text(ip, port.port),
                target_text(port),
                style.dim(node_rules_text(chain))
            ),
            (Some(ip), _, _) => format!(
                "LoadBalancer {} (ipMode Proxy)  {}",
                ip_port_text(ip, port.port),
                style.dim(&format!("no node rule; {forwards_to_node_port}"))
            ),
            (None, Some(hostname), _) => format!(
                "LoadBalancer {hostname}:{} (hostname)  {}",
                port.port,
                style.dim(&format!("no node rule; {forwards_to_node_port}"))
            ),
            (None, None, _) => "LoadBalancer (empty ingress entry)".to_owned(),
        };
        node.child(line);
    }
}

/// What the nodes do with traffic to an LB VIP or externalIP (rules C5, C6, D8, D9).
fn node_rules_text(chain: &ServiceChain) -> &'static str {
    if chain.external_traffic_policy == Some(TrafficPolicy::Local) {
        "only nodes with a local endpoint forward it"
    } else {
        "any node forwards it to the endpoints below"
    }
}

fn ip_port_text(ip: &str, port: i32) -> String {
    match ip.parse::<IpAddr>() {
        Ok(ip) => socket(ip, port),
        Err(_) => format!("{ip}:{port}"),
    }
}

fn node_port_hops(chain: &ServiceChain, port: &PortChain, node: &mut TreeNode, style: Style) {
    let Some(node_port) = port.node_port else {
        return;
    };
    let rows: Vec<_> = port.node_ports.rows().collect();
    let local_only = port.node_ports.acceptance() == NodeAcceptance::LocalEndpointsOnly;
    if rows.is_empty() {
        node.child(format!(
            "NodePort {node_port} → {}  {}",
            target_text(port),
            style.dim("the input has no Nodes with addresses, so the node addresses are unknown")
        ));
        return;
    }
    let nodes: BTreeSet<&str> = rows.iter().map(|row| row.node.as_str()).collect();
    let policy = if local_only {
        "each node forwards to its own endpoints only, client IP kept"
    } else {
        "any node forwards to any endpoint, with source NAT"
    };
    let hop = node.child(format!(
        "NodePort {node_port} on {} node{} → {}  {}",
        nodes.len(),
        if nodes.len() == 1 { "" } else { "s" },
        target_text(port),
        style.dim(policy)
    ));
    let health_port = chain.details.health_check_node_port;
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let local = format!(
                "{} local endpoint{}",
                row.local_endpoints,
                if row.local_endpoints == 1 { "" } else { "s" }
            );
            let (mark, verdict) = if row.accepts {
                let what = if local_only || row.local_endpoints > 0 {
                    "accepts".to_owned()
                } else {
                    "accepts, forwards to other nodes".to_owned()
                };
                (style.ok(), what)
            } else if port.node_ports.any_usable() {
                (style.broken(), style.red("drops: no local endpoint"))
            } else {
                (
                    style.broken(),
                    style.red("rejects: no usable endpoint anywhere"),
                )
            };
            let mut verdict = verdict;
            if let Some(passes) = row.health_check_passes {
                let answer = if passes {
                    "200"
                } else {
                    "503, the load balancer skips this node"
                };
                let port = health_port
                    .map(|port| format!(" {port}"))
                    .unwrap_or_default();
                verdict.push_str(&format!("; health check{port} → {answer}"));
            }
            vec![
                mark,
                row.node.clone(),
                socket(row.address, row.port),
                local,
                verdict,
            ]
        })
        .collect();
    for line in align(&table) {
        hop.child(line);
    }
}

/// `ready`, `not ready`, `serving, terminating`, ...
fn conditions_text(info: &EndpointInfo) -> String {
    match (info.ready, info.serving, info.terminating) {
        (true, true, false) => "ready".to_owned(),
        (true, false, false) => "ready (not serving: publishNotReadyAddresses)".to_owned(),
        (true, _, true) => "ready, terminating (publishNotReadyAddresses)".to_owned(),
        (false, true, true) => "serving, terminating".to_owned(),
        (false, false, true) => "not serving, terminating".to_owned(),
        (false, _, false) => "not ready".to_owned(),
    }
}

/// `80 → targetPort http → 8080` (named) or `80 → targetPort 8080`.
fn mapping_text(port: &PortChain, endpoint: &PortEndpoint) -> String {
    match &port.target_port {
        TargetPort::Name(name) => format!("{} → targetPort {name} → {}", port.port, endpoint.port),
        TargetPort::Number(_) => format!("{} → targetPort {}", port.port, endpoint.port),
    }
}

/// `[mark, pod, address, conditions, node, zone, mapping]`.
fn endpoint_row(
    info: &EndpointInfo,
    address: String,
    mapping: String,
    style: Style,
) -> Vec<String> {
    let conditions = conditions_text(info);
    let (mark, conditions) = if info.ready {
        (style.ok(), conditions)
    } else if info.serving_terminating() {
        (style.caveat(), style.yellow(&conditions))
    } else {
        (style.broken(), style.red(&conditions))
    };
    vec![
        mark,
        info.pod.clone().unwrap_or_else(|| "(no pod)".to_owned()),
        address,
        conditions,
        info.node.as_deref().unwrap_or("(no node)").to_owned(),
        info.zone.as_deref().unwrap_or("-").to_owned(),
        style.dim(&mapping),
    ]
}

fn endpoints_tree(
    chain: &ServiceChain,
    port: &PortChain,
    mapping: Option<&PortMapping>,
    style: Style,
) -> TreeNode {
    let endpoints = &port.endpoints;
    let total = endpoints.len();
    let ready = endpoints.iter().filter(|e| e.info.ready).count();
    let fallback = endpoints
        .iter()
        .filter(|e| e.info.serving_terminating())
        .count();
    let counts = if fallback > 0 {
        format!("{ready} ready, {fallback} serving-terminating, of {total}")
    } else {
        format!("{ready} ready of {total}")
    };
    let heading = if chain.headless {
        format!(
            "endpoints: {counts}  {}",
            style.dim("headless: clients get these addresses from DNS")
        )
    } else if total == 0 {
        format!(
            "endpoints: none  {} {}",
            style.broken(),
            style.red(&format!(
                "chain breaks here: every front door of this port rejects connections{}",
                break_cause(chain, port)
            ))
        )
    } else if ready == 0 && fallback == 0 {
        format!(
            "endpoints: {counts}  {} {}",
            style.broken(),
            style.red("chain breaks here: no endpoint is ready, connections are rejected")
        )
    } else if ready == 0 {
        format!(
            "endpoints: {counts}  {} {}",
            style.caveat(),
            style.yellow("no endpoint is ready: traffic falls back to terminating pods")
        )
    } else {
        format!("endpoints: {counts}")
    };
    let mut node = TreeNode::new(heading);
    let mut rows: Vec<Vec<String>> = endpoints
        .iter()
        .map(|endpoint| {
            endpoint_row(
                &endpoint.info,
                socket(endpoint.info.ip, endpoint.port),
                mapping_text(port, endpoint),
                style,
            )
        })
        .collect();
    // Selected pods that do not receive this port, and why (rules B4, A3, A7).
    if let Some(mapping) = mapping {
        let serving: BTreeSet<&str> = endpoints
            .iter()
            .filter_map(|endpoint| endpoint.info.pod.as_deref())
            .collect();
        for pod in &mapping.pods {
            if serving.contains(pod.pod.as_str()) {
                continue;
            }
            let why = match &pod.outcome {
                PodPortOutcome::NameNotDeclared { declared } => format!(
                    "no endpoint for this port: targetPort {} is not declared ({})",
                    port.target_port,
                    describe_declared(declared)
                ),
                PodPortOutcome::ProtocolMismatch {
                    declared,
                    port: number,
                    ..
                } => format!(
                    "no endpoint for this port: {} is declared as {number}/{declared}, the port is {}",
                    port.target_port, port.protocol
                ),
                PodPortOutcome::Excluded(exclusion) => format!("not an endpoint: {exclusion}"),
                // Resolves but is not in the EndpointSlices (stale slices in the input).
                PodPortOutcome::Resolved { container_port, .. } => {
                    format!("not in the EndpointSlices (would receive on {container_port})")
                }
            };
            rows.push(vec![
                style.broken(),
                pod.pod.clone(),
                "-".to_owned(),
                style.red(&why),
            ]);
        }
    }
    for line in align(&rows) {
        node.child(line);
    }
    node
}

/// The likely cause when a port has no endpoint at all, from the Service's diagnostics.
fn break_cause(chain: &ServiceChain, port: &PortChain) -> String {
    let port_subject = port
        .name
        .clone()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| format!("{}/{}", port.port, port.protocol));
    let named_port_missing = chain.diagnostics.iter().any(|diagnostic| {
        diagnostic.code == DiagnosticCode::NamedPortNotFound
            && diagnostic.subject.to_string() == format!("port/{port_subject}")
    });
    if has_code(chain, DiagnosticCode::SelectorNoMatch) {
        " (the selector matches no pod)".to_owned()
    } else if has_code(chain, DiagnosticCode::SelectorlessNoEndpoints) {
        " (no selector and no EndpointSlice)".to_owned()
    } else if named_port_missing {
        format!(" (targetPort {} resolves on no pod)", port.target_port)
    } else if has_code(chain, DiagnosticCode::PodsNotEndpoints) {
        " (the selected pods are not endpoints)".to_owned()
    } else {
        String::new()
    }
}

/// `[severity, code, subject, message]`.
fn diagnostic_row(diagnostic: &Diagnostic, style: Style) -> Vec<String> {
    vec![
        style.severity(diagnostic.severity),
        diagnostic.code.to_string(),
        diagnostic.subject.to_string(),
        diagnostic.message.clone(),
    ]
}

fn diagnostics_tree(chain: &ServiceChain, style: Style) -> TreeNode {
    if chain.diagnostics.is_empty() {
        return TreeNode::new(format!("diagnostics: {}", style.green("none")));
    }
    let mut node = TreeNode::new(style.bold("diagnostics"));
    let rows: Vec<Vec<String>> = chain
        .diagnostics
        .iter()
        .map(|diagnostic| diagnostic_row(diagnostic, style))
        .collect();
    for line in align(&rows) {
        node.child(line);
    }
    node
}

fn dns_tree(chain: &ServiceChain, style: Style) -> TreeNode {
    if chain.dns.is_empty() {
        let why = if chain.headless {
            "no ready endpoint, so the name does not resolve"
        } else {
            "no ClusterIP in the input"
        };
        return TreeNode::new(format!("DNS: no records  {}", style.dim(why)));
    }
    let mut node = TreeNode::new(style.bold("DNS"));
    let rows: Vec<Vec<String>> = chain
        .dns
        .iter()
        .map(|record| {
            vec![
                record.name.clone(),
                format!("{:?}", record.record_type),
                record.value.clone(),
            ]
        })
        .collect();
    for line in align(&rows) {
        node.child(line);
    }
    node
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::nothing(None, None, false, Ok((Scope::Namespace("default".into()), None)))]
    #[case::namespace(None, Some("shop"), false, Ok((Scope::Namespace("shop".into()), None)))]
    #[case::all_wins_over_namespace(None, Some("shop"), true, Ok((Scope::All, None)))]
    #[case::name(Some("web"), None, false, Ok((Scope::Namespace("default".into()), Some("web"))))]
    #[case::name_all(Some("web"), None, true, Ok((Scope::All, Some("web"))))]
    #[case::qualified(Some("shop/web"), None, false, Ok((Scope::Namespace("shop".into()), Some("web"))))]
    #[case::qualified_same_flag(Some("shop/web"), Some("shop"), false, Ok((Scope::Namespace("shop".into()), Some("web"))))]
    #[case::qualified_with_all(Some("shop/web"), None, true, Ok((Scope::Namespace("shop".into()), Some("web"))))]
    fn reads_service_and_scope(
        #[case] service: Option<&str>,
        #[case] namespace: Option<&str>,
        #[case] all: bool,
        #[case] expected: Result<(Scope, Option<&str>), ()>,
    ) {
        let selection = ChainSelection::new(service, namespace, all).map_err(|_| ());
        let expected = expected.map(|(scope, service)| ChainSelection {
            scope,
            service: service.map(str::to_owned),
        });
        assert_eq!(selection, expected);
    }

    #[rstest]
    #[case("", "invalid SERVICE \"\": expected NAME or NAMESPACE/NAME")]
    #[case("a/b/c", "invalid SERVICE \"a/b/c\": expected NAME or NAMESPACE/NAME")]
    #[case("/web", "invalid SERVICE \"/web\": expected NAME or NAMESPACE/NAME")]
    fn rejects_bad_service_names(#[case] service: &str, #[case] message: &str) {
        let error = ChainSelection::new(Some(service), None, false).expect_err("invalid");
        assert_eq!(error.to_string(), message);
    }

    fn model(dump: &str) -> ProxyModel {
        let load = crate::cluster::dump::load_str("test.yaml", dump).expect("valid dump");
        crate::engine::build(&load.snapshot, &crate::engine::EngineConfig::default())
    }

    fn text(model: &ProxyModel, style: Style) -> String {
        let selection = ChainSelection::new(None, None, true).expect("valid");
        let selected = select(model, &selection).expect("selects");
        let mut out = Vec::new();
        write_text(&mut out, &selected, style).expect("in memory");
        String::from_utf8(out).expect("UTF-8")
    }

    const BROKEN: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {clusterIP: 127.10.0.1, selector: {app: web}, ports: [{port: 80}]}\n";

    #[test]
    fn colour_only_when_asked() {
        let model = model(BROKEN);
        let plain = text(&model, Style::PLAIN);
        assert!(!plain.contains('\u{1b}'));
        assert!(plain.contains("✗ chain breaks here"), "{plain}");
        let coloured = text(&model, Style { color: true });
        assert!(coloured.contains("\u{1b}[31m"), "{coloured}");
        // Colour does not move the columns.
        let strip = |text: &str| {
            let mut out = String::new();
            let mut chars = text.chars();
            while let Some(c) = chars.next() {
                if c == '\u{1b}' {
                    chars.by_ref().find(|c| *c == 'm');
                } else {
                    out.push(c);
                }
            }
            out
        };
        assert_eq!(strip(&coloured), plain);
    }

    #[test]
    fn a_headless_service_without_ports_lists_its_endpoints() {
        let dump = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: peers, namespace: db}\n  spec: {clusterIP: None, selector: {app: db}}\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: db-0, namespace: db, labels: {app: db}}\n  spec: {nodeName: node-1, containers: [{name: db}]}\n  status: {phase: Running, podIP: 127.1.1.5, conditions: [{type: Ready, status: 'True'}]}\n";
        let text = text(&model(dump), Style::PLAIN);
        assert!(
            text.contains("no ports  1 ready of 1 endpoints (reachable by DNS name only)"),
            "{text}"
        );
        assert!(text.contains("✓  db-0  127.1.1.5  ready  node-1"), "{text}");
        // Rule F4: no hostname on the endpoint, so CoreDNS names it by its dashed IP.
        assert!(
            text.contains("127-1-1-5.peers.db.svc.cluster.local  A  127.1.1.5"),
            "{text}"
        );
    }

    #[test]
    fn namespace_flag_must_agree_with_the_argument() {
        let error =
            ChainSelection::new(Some("shop/web"), Some("blog"), false).expect_err("conflict");
        assert_eq!(
            error.to_string(),
            "SERVICE \"shop/web\" names namespace \"shop\" but -n says \"blog\": drop one of them"
        );
    }
}
