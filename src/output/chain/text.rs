//! The text form of `kubehop chain`: per Service a header, a summary of what applies to every
//! port, one subtree per port (see `super::port`), the diagnostics and the DNS records.

use std::io::{self, Write};

use super::Selected;
use super::port::{endpoint_row, ingress_text, port_tree};
use crate::engine::diagnostics::name_list;
use crate::engine::dns::DnsRecord;
use crate::engine::dnscheck::{DnsCheck, LookupForm};
use crate::engine::hops::{self, HopKind, PortHops};
use crate::engine::model::{AffinityConfig, NotProxied, ServiceType, TrafficPolicy};
use crate::engine::verdict::{HopVerdict, ProbeFinding};
use crate::engine::{Diagnostic, ServiceChain, Severity, Subject};
use crate::output::style::Style;
use crate::output::tree::{TreeNode, align};

/// Writes the text tree of every selected Service (with `--probe`, its probe findings), then
/// the unattached diagnostics, then one line counting the Services by health. Each Service's
/// chain is built, written and dropped in turn.
pub fn write_text(
    out: &mut dyn Write,
    selected: &Selected<'_, '_>,
    style: Style,
) -> io::Result<()> {
    let mut first = true;
    selected.for_each_chain(|chain| {
        if !std::mem::take(&mut first) {
            writeln!(out)?;
        }
        let mut tree = service_tree_with(chain, selected.dns_check(chain), style);
        if let Some(findings) = selected.probe_findings(chain) {
            tree.push(probe_findings_tree(findings, style));
        }
        tree.write(out)
    })?;
    // NetworkPolicy findings (rules N1-N10) and Gateway API route findings (GW1-GW17) get
    // their own headings after the Ingress ones.
    let (policies, others): (Vec<_>, Vec<_>) = selected
        .diagnostics
        .iter()
        .partition(|scoped| matches!(scoped.diagnostic.subject, Subject::NetworkPolicy(_)));
    let (routes, ingresses): (Vec<_>, Vec<_>) = others
        .into_iter()
        .partition(|scoped| matches!(scoped.diagnostic.subject, Subject::GatewayApi(_)));
    let mut separate = selected.service_count() > 0;
    for (title, what, diagnostics) in [
        (
            "Ingresses",
            "backends that name no existing Service",
            ingresses,
        ),
        (
            "Gateway API routes",
            "routes that reach no existing Service",
            routes,
        ),
        ("NetworkPolicies", "policies that protect no pod", policies),
    ] {
        if diagnostics.is_empty() {
            continue;
        }
        if std::mem::replace(&mut separate, true) {
            writeln!(out)?;
        }
        let mut root = TreeNode::new(format!("{}  {}", style.bold(title), style.dim(what)));
        let rows: Vec<Vec<String>> = diagnostics
            .iter()
            .map(|scoped| diagnostic_row(&scoped.diagnostic, style))
            .collect();
        for (line, scoped) in align(&rows).into_iter().zip(&diagnostics) {
            let row = root.child(line);
            if let Some(fix) = &scoped.diagnostic.fix {
                row.child(format!("{} {fix}", style.bold("fix:")));
            }
        }
        root.write(out)?;
    }
    if selected.service_count() > 0 {
        writeln!(out)?;
        writeln!(out, "{}", summary_line(selected))?;
    }
    Ok(())
}

/// `19 Services · 7 broken · 2 warnings · 10 ok · 34 ports`: the printed Services by health
/// and their ports; with `--only broken`, how many were left out.
pub(super) fn summary_line(selected: &Selected<'_, '_>) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let counts = selected.health_counts();
    let mut line = format!(
        "{} · {} broken · {} · {} ok · {}",
        plural(counts.total(), "Service"),
        counts.broken,
        plural(counts.warning, "warning"),
        counts.ok,
        plural(selected.port_count(), "port")
    );
    let hidden = selected.hidden_count();
    if hidden > 0 {
        line.push_str(&format!(" ({hidden} not broken, not shown)"));
    }
    line
}

/// `probe findings: none`, or one row per finding (stale ones marked, not counted).
fn probe_findings_tree(findings: &[ProbeFinding], style: Style) -> TreeNode {
    if findings.is_empty() {
        return TreeNode::new(format!("probe findings: {}", style.green("none")));
    }
    let mut node = TreeNode::new(style.bold("probe findings"));
    let rows: Vec<Vec<String>> = findings
        .iter()
        .map(|finding| {
            let mark = if finding.stale {
                style.yellow(&HopVerdict::Stale.to_string())
            } else {
                style.severity(finding.severity)
            };
            let mut message = finding.message.clone();
            if let Some(fix) = &finding.fix {
                message.push_str(&format!("; fix: {fix}"));
            }
            vec![
                mark,
                finding.code.to_string(),
                finding.subject.clone(),
                message,
            ]
        })
        .collect();
    for line in align(&rows) {
        node.child(line);
    }
    node
}

/// The tree of one Service: header, summary, one subtree per port, diagnostics, DNS.
pub fn service_tree(chain: &ServiceChain, style: Style) -> TreeNode {
    service_tree_with(chain, None, style)
}

/// [`service_tree`], each DNS record marked with what the cluster DNS answered (`--probe`).
pub fn service_tree_with(chain: &ServiceChain, dns: Option<&DnsCheck>, style: Style) -> TreeNode {
    let mut root = TreeNode::new(header(chain, style));
    for line in summary(chain, style) {
        root.child(line);
    }
    for hop in hops::ingress_hops(chain, None) {
        if let HopKind::Ingress { rule: ingress, .. } = hop.kind {
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
    let port_map = chain.port_map();
    for tree in PortHops::all(chain, Some(&port_map)) {
        root.push(port_tree(chain, &tree, style));
    }
    for line in super::policy::policy_lines(chain, style) {
        root.child(line);
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
    root.push(dns_tree(chain, dns, style));
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
    let policies = policies(chain);
    if !policies.is_empty() {
        lines.push(policies.join(" · "));
    }
    lines
}

/// The policies that shape every port's routing, in a few words each.
fn policies(chain: &ServiceChain) -> Vec<String> {
    let details = &chain.details;
    let mut policies = Vec::new();
    if let Some(policy) = chain.external_traffic_policy {
        policies.push(format!("externalTrafficPolicy {}", policy_name(policy)));
    }
    if chain.internal_traffic_policy == Some(TrafficPolicy::Local) {
        policies.push("internalTrafficPolicy Local".to_owned());
    }
    if let AffinityConfig::ClientIp { timeout } = details.affinity {
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
    if let Some(NotProxied::OtherProxy) = details.not_proxied {
        policies
            .push("handed to another proxy (service.kubernetes.io/service-proxy-name)".to_owned());
    }
    policies
}

fn policy_name(policy: TrafficPolicy) -> &'static str {
    match policy {
        TrafficPolicy::Cluster => "Cluster",
        TrafficPolicy::Local => "Local",
    }
}

/// `http 80/TCP` or `80/TCP`.
/// `[severity, code, subject, message]`.
fn diagnostic_row(diagnostic: &Diagnostic, style: Style) -> Vec<String> {
    vec![
        style.severity(diagnostic.severity),
        diagnostic.code.to_string(),
        diagnostic.subject.to_string(),
        diagnostic.message.to_string(),
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
    for (line, diagnostic) in align(&rows).into_iter().zip(&chain.diagnostics) {
        let row = node.child(line);
        // The copy-ready command, on a line of its own so it can be copied whole.
        if let Some(fix) = &diagnostic.fix {
            row.child(format!("{} {fix}", style.bold("fix:")));
        }
    }
    node
}

fn dns_tree(chain: &ServiceChain, dns: Option<&DnsCheck>, style: Style) -> TreeNode {
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
            let mut row = vec![
                record.name.clone(),
                format!("{:?}", record.record_type),
                record.value.clone(),
            ];
            if let Some(check) = dns {
                row.push(record_mark(check, record, style));
            }
            row
        })
        .collect();
    for line in align(&rows) {
        node.child(line);
    }
    node
}

/// What the cluster DNS answered for one record: `✓ 2/2 pods`, or the first wrong answer.
fn record_mark(check: &DnsCheck, record: &DnsRecord, style: Style) -> String {
    let result = check.results.iter().find(|result| {
        result.lookup.form == LookupForm::Record
            && result.lookup.record_type == record.record_type
            && result.lookup.answers_as.eq_ignore_ascii_case(&record.name)
    });
    let Some(result) = result else {
        return style.dim("not asked");
    };
    match crate::output::probe_dns::lookup_mark(result) {
        (None, text) => style.green(&text),
        (Some(Severity::Error), text) => style.red(&text),
        (Some(_), text) => style.yellow(&text),
    }
}
