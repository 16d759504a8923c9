//! Computing a Service's diagnostics: one function per group of codes, called in a stable
//! order by [`service_diagnostics`].

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::objects::PodInfo;

use super::near_miss::{NearMiss, near_miss};
use super::{Diagnostic, DiagnosticCode, Severity, Subject, fix};
use crate::config::EngineConfig;
use crate::dns::service_fqdn;
use crate::index::{NamespacePods, SelectorPairs};
use crate::model::{EndpointInfo, IpMode, PortChain, ServiceType, TargetPort};
use crate::nodes::NodeTable;
use crate::pods::{self, Exclusion};
use crate::ports::{Resolution, declared_ports, describe_declared, resolve_target_port};
use crate::service::{PortSpec, ServiceView};
use crate::validate::{FieldErrorKind, ValidationConfig, service_warnings, validate_service};

/// How many pods or nodes a diagnostic names before it summarises ("and 7 more").
pub const MAX_NAMED: usize = 10;

/// Everything the Service-level rules look at.
pub(crate) struct DiagnosticInput<'a, 's> {
    pub view: &'a ServiceView<'a>,
    pub ports: &'a [PortChain],
    pub endpoints: &'a [Arc<EndpointInfo>],
    pub selected: &'a [&'s Arc<PodInfo>],
    pub excluded: &'a BTreeMap<String, Exclusion>,
    pub namespace_pods: Option<&'a NamespacePods<'s>>,
    pub selector_pairs: &'a SelectorPairs<'s>,
    pub other_namespaces: Vec<String>,
    pub has_slices: bool,
    /// The snapshot has pods (the source could read them); without, pod findings stay silent.
    pub pods_known: bool,
    /// The EndpointSlices were derived from the pods (the input had none for this Service).
    pub endpoints_derived: bool,
    pub nodes: &'a NodeTable,
    pub config: &'a EngineConfig,
}

/// "a, b, c and 4 more".
pub fn name_list<S: AsRef<str>>(names: &[S]) -> String {
    let shown: Vec<&str> = names.iter().take(MAX_NAMED).map(AsRef::as_ref).collect();
    let mut out = shown.join(", ");
    if names.len() > MAX_NAMED {
        out.push_str(&format!(" and {} more", names.len() - MAX_NAMED));
    }
    out
}

fn selector_text(selector: &BTreeMap<String, String>) -> String {
    selector
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn rule_hint(rule: &str) -> &'static str {
    match rule {
        "F2" => {
            "rename the Service to a DNS-1035 label (lowercase letters, digits and '-', starting with a letter)"
        }
        "G1" => "add at least one port; only headless and ExternalName Services may have none",
        "G2" => "give every port a unique lowercase DNS label name",
        "G3" => {
            "use a port between 1 and 65535, protocol TCP, UDP or SCTP, and a targetPort that is a number or an IANA port name"
        }
        "G4" => "remove the duplicate or change its number or protocol",
        "G5" => "remove the nodePort or change the type to NodePort or LoadBalancer",
        "G6" => {
            "fix clusterIP/externalName for the Service type (headless only works with type ClusterIP; ExternalName needs a DNS name and no cluster IPs)"
        }
        "G7" => "set type to ClusterIP, NodePort, LoadBalancer or ExternalName",
        "G8" => {
            "use sessionAffinity None or ClientIP with timeoutSeconds between 1 and 86400, and no sessionAffinityConfig with None"
        }
        "G9" => {
            "only set externalTrafficPolicy/healthCheckNodePort on NodePort or LoadBalancer Services (or with externalIPs)"
        }
        "G10" => "set internalTrafficPolicy to Cluster or Local",
        "G11" => "use loadBalancerSourceRanges only on LoadBalancer Services, as CIDRs",
        "G12" => "remove allocateLoadBalancerNodePorts or change the type to LoadBalancer",
        "G13" => "use ordinary unicast addresses in externalIPs",
        "G14" => "fix the selector's label syntax",
        "G15" => "use trafficDistribution PreferSameZone, PreferSameNode or PreferClose",
        "G16" => "fix status.loadBalancer.ingress (ipMode VIP or Proxy, only together with ip)",
        _ => "fix the field",
    }
}

/// All diagnostics of one Service, in a stable order.
pub(crate) fn service_diagnostics(input: &DiagnosticInput<'_, '_>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    spec_findings(input, &mut out);
    type_findings(input, &mut out);
    if input.view.service_type != ServiceType::ExternalName {
        selector_findings(input, &mut out);
        endpoint_findings(input, &mut out);
        port_findings(input, &mut out);
        node_findings(input, &mut out);
        load_balancer_findings(input, &mut out);
        super::nodes::node_health_findings(input, &mut out);
    }
    out
}

/// `invalid-spec` (G1-G16) and `spec-warning` (G17).
fn spec_findings(input: &DiagnosticInput<'_, '_>, out: &mut Vec<Diagnostic>) {
    let config = ValidationConfig {
        node_port_range: input.config.node_port_range.clone(),
    };
    for error in validate_service(input.view.service, &config) {
        // These two have their own, more specific codes.
        let unnamed = error.rule == "G2" && error.kind == FieldErrorKind::Required;
        let out_of_range = error.rule == "G5" && error.kind == FieldErrorKind::Invalid;
        if unnamed || out_of_range {
            continue;
        }
        out.push(Diagnostic::new(
            DiagnosticCode::InvalidSpec,
            Subject::Field(error.field.clone()),
            format!(
                "The API server rejects this Service: {error}; {}.",
                rule_hint(error.rule)
            ),
        ));
    }
    for warning in service_warnings(input.view.service) {
        out.push(Diagnostic::new(
            DiagnosticCode::SpecWarning,
            Subject::Service(input.view.name.to_owned()),
            format!("The API server accepts this Service but warns: {warning}; remove the ignored field or use the suggested value."),
        ));
    }
}

/// `headless`, `external-name`, `publish-not-ready`.
fn type_findings(input: &DiagnosticInput<'_, '_>, out: &mut Vec<Diagnostic>) {
    let view = input.view;
    // Formatted only for the two findings that print it.
    let fqdn = || service_fqdn(view.namespace, view.name, input.config.domain());
    let subject = || Subject::Service(view.name.to_owned());
    if view.service_type == ServiceType::ExternalName {
        let fqdn = fqdn();
        let target = view
            .service
            .spec
            .as_ref()
            .and_then(|spec| spec.external_name.as_deref())
            .unwrap_or("");
        let looks_like_ip = target
            .trim_end_matches('.')
            .parse::<std::net::Ipv4Addr>()
            .is_ok();
        let mut message = format!(
            "{fqdn} is a DNS CNAME to {target:?}: no cluster IP, no endpoints, no proxying, and ports are not translated"
        );
        if looks_like_ip {
            message.push_str("; an IP address as externalName is a name that will not resolve, so use a selectorless Service with a hand-written EndpointSlice to pin an IP instead");
        } else {
            message.push_str("; clients must connect to the port the external name really serves");
        }
        message.push('.');
        out.push(Diagnostic::new(
            DiagnosticCode::ExternalName,
            subject(),
            message,
        ));
        return;
    }
    if view.headless {
        let fqdn = fqdn();
        out.push(Diagnostic::new(
            DiagnosticCode::Headless,
            subject(),
            format!("clusterIP None: no virtual IP and no kube-proxy rules; {fqdn} resolves to the ready pod addresses directly, so clients connect to pod IP and targetPort themselves."),
        ));
    }
    if view.publish_not_ready_addresses {
        let not_ready: Vec<&str> = input
            .selected
            .iter()
            .filter(|pod| !pods::is_ready(pod))
            .map(|pod| pods::name(pod))
            .collect();
        let message = if not_ready.is_empty() {
            "publishNotReadyAddresses is set: pods count as ready endpoints (and are in DNS) even before their readiness probe passes; unset it unless clients must find peers early (StatefulSet discovery).".to_owned()
        } else {
            format!(
                "publishNotReadyAddresses is set, so pods that are not Ready ({}) receive traffic and appear in DNS; unset it unless clients must find peers before they are ready.",
                name_list(&not_ready)
            )
        };
        out.push(Diagnostic::new(
            DiagnosticCode::PublishNotReady,
            subject(),
            message,
        ));
    }
}

/// `selector-no-match`, `selector-partial-match`, `selectorless-no-endpoints`.
fn selector_findings(input: &DiagnosticInput<'_, '_>, out: &mut Vec<Diagnostic>) {
    let view = input.view;
    let Some(selector) = view.selector else {
        if !input.has_slices {
            out.push(Diagnostic::new(
                DiagnosticCode::SelectorlessNoEndpoints,
                Subject::Service(view.name.to_owned()),
                format!(
                    "The Service has no selector and no EndpointSlice labelled kubernetes.io/service-name={}, so kube-proxy has no endpoints and rejects every connection; create such an EndpointSlice or add a selector.",
                    view.name
                ),
            ));
        }
        return;
    };
    if !input.pods_known {
        return;
    }
    if input.selected.is_empty() {
        let fix = input
            .namespace_pods
            .and_then(|pods_here| fix::selector_fix(view, selector, &pods_here.pods));
        out.push(
            Diagnostic::new(
                DiagnosticCode::SelectorNoMatch,
                Subject::Service(view.name.to_owned()),
                no_match_message(input, selector),
            )
            .with_fix(fix),
        );
    }
    // M2: near misses only explain a Service that lacks the endpoints it should have; with a
    // ready endpoint, pods that share some labels are siblings, not mistakes.
    let lacks_ready = !input.endpoints.iter().any(|endpoint| endpoint.ready);
    if lacks_ready && let Some(pods_here) = input.namespace_pods {
        partial_match_findings(input, pods_here, selector, out);
    }
}

/// The `selector-no-match` message: which labels the namespace's pods carry instead, and
/// whether pods in other namespaces match.
fn no_match_message(
    input: &DiagnosticInput<'_, '_>,
    selector: &BTreeMap<String, String>,
) -> String {
    let view = input.view;
    let mut message = format!(
        "The selector {} matches no pod in namespace {}",
        selector_text(selector),
        view.namespace
    );
    if let Some(pods_here) = input.namespace_pods {
        let others = pods_here.other_values(selector);
        if !others.is_empty() {
            let found: Vec<String> = others
                .iter()
                .map(|(key, values)| {
                    let values: Vec<&str> = values.iter().map(String::as_str).collect();
                    format!("{key}={}", name_list(&values))
                })
                .collect();
            message.push_str(&format!(" (pods here carry {})", found.join("; ")));
        }
    }
    if !input.other_namespaces.is_empty() {
        message.push_str(&format!(
            " (pods in namespace {} match, but a Service only selects pods in its own namespace)",
            name_list(&input.other_namespaces)
        ));
    }
    message.push_str(
        "; fix the selector or the pod template's labels so that every selector label matches.",
    );
    message
}

/// `selector-partial-match`: the namespace's near misses of the selector (rules M1, M2), the
/// first few by name, the rest summarised. Scans the namespace: only asked when the Service
/// has no ready endpoint.
fn partial_match_findings(
    input: &DiagnosticInput<'_, '_>,
    pods_here: &NamespacePods<'_>,
    selector: &BTreeMap<String, String>,
    out: &mut Vec<Diagnostic>,
) {
    let view = input.view;
    // A near miss of a selector with two or more pairs carries at least one of them (the
    // posting lists find those); a one-pair selector's near miss is a typo, found by a scan.
    let candidates = if selector.len() >= 2 {
        pods_here.carrying_any(selector, input.selector_pairs)
    } else {
        pods_here.pods.clone()
    };
    let misses: Vec<(&PodInfo, NearMiss<'_>)> = candidates
        .iter()
        .filter_map(|pod| near_miss(pods::labels(pod), selector).map(|miss| (pod.as_ref(), miss)))
        .collect();
    for (pod, miss) in misses.iter().take(MAX_NAMED) {
        let name = pods::name(pod);
        let message = match miss {
            NearMiss::MissingKey { key, wanted } => format!(
                "Pod {name} carries every label of the selector {} except {key}, which it lacks, so it is not selected; if it should serve this Service, add {key}={wanted} to its pod template, or drop {key} from the selector.",
                selector_text(selector)
            ),
            NearMiss::Typo {
                key,
                actual,
                wanted,
            } => format!(
                "Pod {name} matches the selector {} except for {key}={actual}, one small edit from {key}={wanted}, so it is not selected; if that is a typo, make the pod template and the selector agree.",
                selector_text(selector)
            ),
        };
        out.push(Diagnostic::new(
            DiagnosticCode::SelectorPartialMatch,
            Subject::Pod(name.to_owned()),
            message,
        ));
    }
    if misses.len() > MAX_NAMED {
        let rest: Vec<&str> = misses
            .iter()
            .skip(MAX_NAMED)
            .map(|(pod, _)| pods::name(pod))
            .collect();
        out.push(Diagnostic::new(
            DiagnosticCode::SelectorPartialMatch,
            Subject::Service(view.name.to_owned()),
            format!(
                "{} more pods miss the selector {} by one label ({}); align their labels with the selector.",
                rest.len(),
                selector_text(selector),
                name_list(&rest)
            ),
        ));
    }
}

/// `pods-not-endpoints`: selected pods left out of the EndpointSlices (rules A3, A7), each
/// with its reason. Completed pods (Succeeded, Failed: Job pods and evicted pods that carry the
/// app's labels) are named only while the Service has no ready endpoint; then they may be why.
fn pods_not_endpoints(input: &DiagnosticInput<'_, '_>) -> Option<Diagnostic> {
    let has_ready = input.endpoints.iter().any(|endpoint| endpoint.ready);
    let reported: Vec<(&String, &Exclusion)> = input
        .excluded
        .iter()
        .filter(|(_, why)| !has_ready || !matches!(why, Exclusion::Succeeded | Exclusion::Failed))
        .collect();
    if reported.is_empty() {
        return None;
    }
    let described: Vec<String> = reported
        .iter()
        .map(|(pod, why)| format!("{pod} ({why})"))
        .collect();
    let mut hints: Vec<&str> = Vec::new();
    for (_, why) in &reported {
        let hint = match why {
            Exclusion::Succeeded | Exclusion::Failed => {
                "completed or failed pods never are endpoints"
            }
            Exclusion::NoIp => "a pod gets its IP once it is scheduled and its sandbox starts",
            Exclusion::NotScheduled(_) => {
                "the scheduler's message says what no node offers (resources, node selector, taints)"
            }
            Exclusion::UnknownNode(_) => {
                "a pod on a node the cluster does not list waits for the node"
            }
        };
        if !hints.contains(&hint) {
            hints.push(hint);
        }
    }
    Some(Diagnostic::new(
        DiagnosticCode::PodsNotEndpoints,
        Subject::Service(input.view.name.to_owned()),
        format!(
            "{} of {} selected pods are not endpoints: {}; {}.",
            reported.len(),
            input.selected.len(),
            name_list(&described),
            hints.join(", and ")
        ),
    ))
}

/// `pods-not-endpoints`, `no-ready-endpoints`, `terminating-only`.
fn endpoint_findings(input: &DiagnosticInput<'_, '_>, out: &mut Vec<Diagnostic>) {
    let view = input.view;
    let subject = || Subject::Service(view.name.to_owned());
    if let Some(diagnostic) = pods_not_endpoints(input) {
        out.push(diagnostic);
    }
    if !input.pods_known && input.endpoints_derived {
        // Neither pods nor EndpointSlices: nothing is known about the endpoints.
        return;
    }
    let selector_found_nothing =
        view.selector.is_some() && input.selected.is_empty() && input.pods_known;
    if selector_found_nothing || (view.selector.is_none() && !input.has_slices) {
        return;
    }
    let ready = input
        .endpoints
        .iter()
        .filter(|endpoint| endpoint.ready)
        .count();
    let serving_terminating = input
        .endpoints
        .iter()
        .filter(|endpoint| endpoint.serving_terminating())
        .count();
    if input.endpoints.is_empty() {
        let message = if view.selector.is_some() && input.pods_known {
            format!(
                "{} pods match the selector but none is an endpoint, so every connection is rejected; see why the pods are left out and fix them.",
                input.selected.len()
            )
        } else {
            "The Service's EndpointSlices list no endpoints, so every connection is rejected; add the backend addresses to the EndpointSlice.".to_owned()
        };
        out.push(Diagnostic::new(
            DiagnosticCode::NoReadyEndpoints,
            subject(),
            message,
        ));
        return;
    }
    if ready == 0 && serving_terminating == 0 {
        let not_ready: Vec<&str> = input
            .endpoints
            .iter()
            .map(|endpoint| endpoint.pod.as_deref().unwrap_or("(no pod)"))
            .collect();
        out.push(Diagnostic::new(
            DiagnosticCode::NoReadyEndpoints,
            subject(),
            format!(
                "None of the {} endpoints is ready ({}), so connections are rejected; check why the pods fail their readiness probes (kubectl describe pod).",
                input.endpoints.len(),
                name_list(&not_ready)
            ),
        ));
    } else if ready == 0 {
        out.push(Diagnostic::new(
            DiagnosticCode::TerminatingOnly,
            subject(),
            format!(
                "Only terminating endpoints remain ({serving_terminating} still serving), so traffic falls back to pods that are shutting down; make sure the replacement pods start and become ready."
            ),
        ));
    }
}

/// `multi-port-unnamed`, `named-port-not-found`, `target-port-not-declared`,
/// `nodeport-out-of-range`.
fn port_findings(input: &DiagnosticInput<'_, '_>, out: &mut Vec<Diagnostic>) {
    let view = input.view;
    let multi = view.ports.len() > 1;
    let live_pods: Vec<&PodInfo> = input
        .selected
        .iter()
        .filter(|pod| !input.excluded.contains_key(pods::name(pod)))
        .map(|pod| pod.as_ref())
        .collect();
    for (spec, port) in view.ports.iter().zip(input.ports) {
        // The label is formatted only when a finding names the port.
        let subject = || Subject::Port(spec.label());
        if multi && spec.name.is_none_or(str::is_empty) {
            let suggested = suggested_name(spec.port);
            out.push(Diagnostic::new(
                DiagnosticCode::MultiPortUnnamed,
                subject(),
                format!(
                    "Port {}/{} has no name, but every port of a Service with several ports needs one and the API server rejects it; add a unique name such as \"{}\".",
                    spec.port,
                    spec.protocol,
                    suggested.unwrap_or("port-name")
                ),
            ).with_fix(suggested.and_then(|name| fix::port_name_fix(view, spec, name))));
        }
        match &spec.target_port {
            TargetPort::Name(name) => named_target_findings(view, spec, name, &live_pods, out),
            TargetPort::Number(number) => {
                numbered_target_finding(spec, *number, &live_pods, out);
            }
        }
        // G5: a Service the API server has stored (it has a uid) was accepted, so the
        // cluster's range evidently allows its nodePort.
        let stored = view.service.metadata.uid.is_some();
        if let Some(node_port) = port.node_port.filter(|_| !stored) {
            let in_range = u16::try_from(node_port)
                .is_ok_and(|value| input.config.node_port_range.contains(&value));
            if !in_range {
                out.push(Diagnostic::new(
                    DiagnosticCode::NodePortOutOfRange,
                    subject(),
                    format!(
                        "nodePort {node_port} is outside the NodePort range {}-{}, so the API server refuses it (unless the cluster's range was changed); pick a port in the range or leave nodePort empty to get one allocated.",
                        input.config.node_port_range.start(),
                        input.config.node_port_range.end()
                    ),
                ));
            }
        }
    }
}

/// `named-port-not-found`: pods that do not declare the named targetPort, or declare it with
/// another protocol.
fn named_target_findings(
    view: &ServiceView<'_>,
    spec: &PortSpec<'_>,
    name: &str,
    live_pods: &[&PodInfo],
    out: &mut Vec<Diagnostic>,
) {
    let subject = || Subject::Port(spec.label());
    let mut missing = Vec::new();
    let mut mismatched = Vec::new();
    let mut resolved = 0usize;
    for pod in live_pods {
        match resolve_target_port(pod, &spec.target_port, spec.protocol) {
            Resolution::NameNotDeclared => missing.push(*pod),
            Resolution::ProtocolMismatch { declared, port, .. } => {
                mismatched.push((pods::name(pod), declared, port));
            }
            _ => resolved += 1,
        }
    }
    // B4: with no pod resolving the name the port has no endpoint at all (error); when some
    // do, traffic still arrives there and the rest is lost capacity or a sibling workload
    // under a broad selector (warning).
    let severity = if resolved == 0 {
        Severity::Error
    } else {
        Severity::Warning
    };
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|pod| pods::name(pod)).collect();
        let declared = describe_declared(&declared_ports(missing[0]));
        // A mechanical fix only while no pod serves the port and none declares it under
        // another protocol (then the protocols, not the name, are what to change).
        let fix = (resolved == 0 && mismatched.is_empty())
            .then(|| fix::named_port_fix(view, spec, name, &missing))
            .flatten();
        out.push(Diagnostic::new(
            DiagnosticCode::NamedPortNotFound,
            subject(),
            format!(
                "targetPort {name:?} is not declared by pod{} {} ({} declares {declared}), so {} no endpoint for this port; name a containerPort {name:?} ({}) in the pod template or use a port number.",
                if names.len() == 1 { "" } else { "s" },
                name_list(&names),
                names[0],
                if names.len() == 1 { "it gets" } else { "they get" },
                spec.protocol
            ),
        ).at(severity).with_fix(fix));
    }
    if !mismatched.is_empty() {
        let described: Vec<String> = mismatched
            .iter()
            .map(|(pod, declared, number)| format!("{pod} declares it as {number}/{declared}"))
            .collect();
        out.push(Diagnostic::new(
            DiagnosticCode::NamedPortNotFound,
            subject(),
            format!(
                "targetPort {name:?} exists only with another protocol than the port's {} ({}), so those pods get no endpoint for this port; make the protocols match.",
                spec.protocol,
                name_list(&described)
            ),
        ).at(severity));
    }
}

/// `target-port-not-declared` (info): pods that declare container ports, none of them the
/// numbered targetPort. Pods that declare no port at all are the common case (declaring is
/// optional, rule B2) and are not reported.
fn numbered_target_finding(
    spec: &PortSpec<'_>,
    number: i32,
    live_pods: &[&PodInfo],
    out: &mut Vec<Diagnostic>,
) {
    let subject = || Subject::Port(spec.label());
    let undeclared: Vec<&PodInfo> = live_pods
        .iter()
        .copied()
        .filter(|pod| {
            matches!(
                resolve_target_port(pod, &spec.target_port, spec.protocol),
                Resolution::Number {
                    declared_by: None,
                    ..
                }
            ) && !declared_ports(pod).is_empty()
        })
        .collect();
    if let Some(first) = undeclared.first() {
        let names: Vec<&str> = undeclared.iter().map(|pod| pods::name(pod)).collect();
        out.push(Diagnostic::new(
            DiagnosticCode::TargetPortNotDeclared,
            subject(),
            format!(
                "targetPort {number}/{} is not among the container ports declared by {} ({} declares {}); that is allowed and traffic is still sent to {number}, but if connections are refused, check which port the app listens on (see docs/diagnostics.md#target-port-not-declared).",
                spec.protocol,
                name_list(&names),
                pods::name(first),
                describe_declared(&declared_ports(first))
            ),
        ));
    }
}

/// The conventional name of a well-known port number, if it has one.
fn suggested_name(port: i32) -> Option<&'static str> {
    match port {
        80 | 8080 => Some("http"),
        443 | 8443 => Some("https"),
        53 => Some("dns"),
        9090 | 9100 => Some("metrics"),
        _ => None,
    }
}

/// `local-policy-node-drops`, `internal-policy-node-drops`.
fn node_findings(input: &DiagnosticInput<'_, '_>, out: &mut Vec<Diagnostic>) {
    let view = input.view;
    if view.headless || input.nodes.is_empty() || view.other_proxy {
        return;
    }
    if !view.external_local() && !view.internal_local() {
        return;
    }
    let usable_anywhere = input
        .endpoints
        .iter()
        .any(|endpoint| endpoint.ready || endpoint.serving_terminating());
    if !usable_anywhere {
        return;
    }
    let nodes_without_local = || nodes_without_local_endpoint(input);
    let total = input.nodes.len();
    let health_checked = view.external_local() && health_checked_load_balancer(input);
    if health_checked {
        let dropping = nodes_without_local();
        if !dropping.is_empty() {
            out.push(steered_by_health_check(input, &dropping));
        }
    } else if view.external_local() {
        let dropping = nodes_without_local();
        let exposure = exposure_note(input);
        emit_per_node(
            out,
            DiagnosticCode::LocalPolicyNodeDrops,
            &dropping,
            view.name,
            |node| {
                format!(
                    "externalTrafficPolicy Local: node {node} has no local usable endpoint, so NodePort and LoadBalancer traffic arriving there is dropped{}; run a backend pod on it (DaemonSet or topology spread) or use externalTrafficPolicy Cluster.",
                    exposure
                )
            },
            |count, names| {
                format!(
                    "externalTrafficPolicy Local: {count} more of {total} nodes drop NodePort and LoadBalancer traffic for lack of a local endpoint ({names}); spread backend pods or use externalTrafficPolicy Cluster."
                )
            },
        );
    }
    if view.internal_local() {
        // M8: the clients are pods; a cordoned or NoSchedule-tainted node (a control-plane
        // node) runs only pods that tolerate it, so it is not counted.
        let dropping: Vec<&str> = nodes_without_local()
            .into_iter()
            .filter(|node| input.nodes.by_name(node).is_none_or(|info| info.takes_pods))
            .collect();
        emit_per_node(
            out,
            DiagnosticCode::InternalPolicyNodeDrops,
            &dropping,
            view.name,
            |node| {
                format!(
                    "internalTrafficPolicy Local: node {node} has no local endpoint, so ClusterIP connections from pods on it are dropped; run a backend pod on every client node (DaemonSet) or use internalTrafficPolicy Cluster."
                )
            },
            |count, names| {
                format!(
                    "internalTrafficPolicy Local: {count} more of {total} nodes drop ClusterIP traffic for lack of a local endpoint ({names}); run a backend on every client node or use internalTrafficPolicy Cluster."
                )
            },
        );
    }
}

/// D12: a LoadBalancer whose cloud load balancer health-checks the nodes (a
/// healthCheckNodePort, an address, no ipMode Proxy entry and no externalIPs): it sends only
/// to nodes with a local ready endpoint, so eTP Local's node drops are the design.
fn health_checked_load_balancer(input: &DiagnosticInput<'_, '_>) -> bool {
    let view = input.view;
    let spec = view.service.spec.as_ref();
    let health_check = spec.and_then(|spec| spec.health_check_node_port).is_some();
    let entries = input
        .ports
        .first()
        .map(|port| port.load_balancer.as_slice())
        .unwrap_or_default();
    view.service_type == ServiceType::LoadBalancer
        && health_check
        && !entries.is_empty()
        && !entries
            .iter()
            .any(|entry| entry.ip_mode == Some(IpMode::Proxy))
        && view.external_ips.is_empty()
}

/// Why clients may reach a node without a local endpoint (the reason the node drops are a
/// warning), in words for the per-node message.
fn exposure_note(input: &DiagnosticInput<'_, '_>) -> &'static str {
    let view = input.view;
    let entries = input
        .ports
        .first()
        .map(|port| port.load_balancer.as_slice())
        .unwrap_or_default();
    let has_health_check = view
        .service
        .spec
        .as_ref()
        .and_then(|spec| spec.health_check_node_port)
        .is_some();
    if !view.external_ips.is_empty() {
        " (externalIPs traffic arrives at whichever node the network routes it to)"
    } else if view.service_type == ServiceType::NodePort {
        " (clients of a NodePort address nodes directly)"
    } else if view.service_type != ServiceType::LoadBalancer {
        ""
    } else if entries.is_empty() {
        " (the load balancer has no address yet, so clients use the NodePorts directly)"
    } else if entries
        .iter()
        .any(|entry| entry.ip_mode == Some(IpMode::Proxy))
    {
        " (a load balancer in ipMode Proxy forwards to the NodePorts itself)"
    } else if !has_health_check {
        " (without a healthCheckNodePort nothing steers the load balancer away from it)"
    } else {
        ""
    }
}

/// `local-policy-node-drops` at info: one finding for the Service naming the nodes the health
/// check keeps the load balancer away from.
fn steered_by_health_check(input: &DiagnosticInput<'_, '_>, dropping: &[&str]) -> Diagnostic {
    let view = input.view;
    let port = view
        .service
        .spec
        .as_ref()
        .and_then(|spec| spec.health_check_node_port)
        .unwrap_or_default();
    Diagnostic::new(
        DiagnosticCode::LocalPolicyNodeDrops,
        Subject::Service(view.name.to_owned()),
        format!(
            "externalTrafficPolicy Local keeps the client's source IP: the load balancer's health check (healthCheckNodePort {port}) sends only to nodes with a ready local endpoint, so {} of {} nodes ({}) get no load-balancer traffic and drop NodePort connections addressed to them directly; that is the intended setup (see docs/diagnostics.md#local-policy-node-drops).",
            dropping.len(),
            input.nodes.len(),
            name_list(dropping)
        ),
    )
    .at(Severity::Info)
}

/// The nodes (in table order) without a usable endpoint of their own.
fn nodes_without_local_endpoint<'a>(input: &DiagnosticInput<'a, '_>) -> Vec<&'a str> {
    // Nodes (by table index) with a local usable endpoint.
    let mut has_local = vec![false; input.nodes.len()];
    for endpoint in input
        .endpoints
        .iter()
        .filter(|endpoint| endpoint.ready || endpoint.serving_terminating())
    {
        if let Some(index) = endpoint
            .node
            .as_deref()
            .and_then(|node| input.nodes.index_of(node))
            && let Some(flag) = has_local.get_mut(index)
        {
            *flag = true;
        }
    }
    input
        .nodes
        .iter()
        .zip(&has_local)
        .filter(|(_, local)| !**local)
        .map(|(node, _)| node.name.as_ref())
        .collect()
}

fn emit_per_node(
    out: &mut Vec<Diagnostic>,
    code: DiagnosticCode,
    nodes: &[&str],
    service: &str,
    one: impl Fn(&str) -> String,
    rest: impl Fn(usize, String) -> String,
) {
    for node in nodes.iter().take(MAX_NAMED) {
        out.push(Diagnostic::new(
            code,
            Subject::Node((*node).to_owned()),
            one(node),
        ));
    }
    if nodes.len() > MAX_NAMED {
        let remaining = &nodes[MAX_NAMED..];
        out.push(Diagnostic::new(
            code,
            Subject::Service(service.to_owned()),
            rest(remaining.len(), name_list(remaining)),
        ));
    }
}

/// `lb-pending`, `lb-proxy-mode`.
fn load_balancer_findings(input: &DiagnosticInput<'_, '_>, out: &mut Vec<Diagnostic>) {
    let view = input.view;
    if view.service_type != ServiceType::LoadBalancer {
        return;
    }
    let entries = input
        .ports
        .first()
        .map(|port| port.load_balancer.as_slice())
        .unwrap_or_default();
    let status_entries = view
        .service
        .status
        .as_ref()
        .and_then(|status| status.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .map_or(0, Vec::len);
    if status_entries == 0 {
        out.push(Diagnostic::new(
            DiagnosticCode::LbPending,
            Subject::Service(view.name.to_owned()),
            "status.loadBalancer.ingress is empty: no load-balancer controller has given this Service an address yet (EXTERNAL-IP <pending>); install one (cloud provider, MetalLB, `minikube tunnel`) — meanwhile the NodePorts and the ClusterIP work.",
        ));
        return;
    }
    for entry in entries {
        let proxy = entry.ip_mode == Some(IpMode::Proxy);
        let hostname_only = entry.ip.is_none();
        if proxy || hostname_only {
            let what = entry
                .ip
                .clone()
                .or_else(|| entry.hostname.clone())
                .unwrap_or_default();
            out.push(Diagnostic::new(
                DiagnosticCode::LbProxyMode,
                Subject::Service(view.name.to_owned()),
                format!(
                    "Load balancer entry {what} is {}: nodes install no rule for it, so the load balancer itself forwards to the NodePorts (or pods); probe the NodePort hops to test the path behind it.",
                    if proxy { "in ipMode Proxy" } else { "a hostname" }
                ),
            ));
        }
    }
}
