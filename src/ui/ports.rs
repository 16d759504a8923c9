//! The Ports tab: each Service port, its targetPort, and what every selected pod resolves it to.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::text::{pad, truncate, width as cell_width, wrap};
use super::theme::Theme;
use crate::engine::model::{ServiceChain, ServiceType};
use crate::engine::ports::{PodPortOutcome, PortMapping, describe_declared};

/// Per Service port, its head line and one line per selected pod; notes on a missing selector.
pub(super) fn ports_lines(chain: &ServiceChain, theme: &Theme, width: usize) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if chain.service_type == ServiceType::ExternalName {
        lines.push(Line::styled(
            "ExternalName: ports are informational, no port translation happens.",
            theme.dim,
        ));
    }
    let map = chain.port_map();
    if map.is_empty() {
        lines.push(Line::styled("The Service declares no ports.", theme.dim));
    }
    let pod_width = map
        .iter()
        .flat_map(|mapping| mapping.pods.iter().map(|row| cell_width(&row.pod)))
        .max()
        .unwrap_or(0)
        .min(width / 3);
    for mapping in map {
        lines.push(Line::styled(
            truncate(&port_head(&mapping), width),
            theme.title,
        ));
        if mapping.pods.is_empty() && chain.selector.is_some() {
            lines.push(Line::styled("  no pod matches the selector", theme.error));
        }
        if chain.selector.is_none() && chain.service_type != ServiceType::ExternalName {
            lines.push(Line::styled(
                "  no selector: endpoints come from hand-written EndpointSlices",
                theme.dim,
            ));
        }
        for row in &mapping.pods {
            let (mark, style, text) = pod_outcome(&mapping, &row.outcome, theme);
            let prefix = format!("  {mark} {} → ", pad(&row.pod, pod_width));
            push_hanging(&mut lines, Span::styled(prefix, style), &text, width);
        }
    }
    lines
}

/// `port 80/TCP "http" → targetPort web · nodePort 30080 · appProtocol h2c`.
fn port_head(mapping: &PortMapping) -> String {
    let mut head = format!("port {}/{}", mapping.port, mapping.protocol);
    if let Some(name) = &mapping.name {
        head.push_str(&format!(" \"{name}\""));
    }
    head.push_str(&format!(" → targetPort {}", mapping.target_port));
    if let Some(node_port) = mapping.node_port {
        head.push_str(&format!(" · nodePort {node_port}"));
    }
    if let Some(app) = &mapping.app_protocol {
        head.push_str(&format!(" · appProtocol {app}"));
    }
    head
}

/// The mark, its style and the words for what one pod makes of the targetPort.
fn pod_outcome(
    mapping: &PortMapping,
    outcome: &PodPortOutcome,
    theme: &Theme,
) -> (&'static str, Style, String) {
    match outcome {
        PodPortOutcome::Resolved {
            container_port,
            container,
            sidecar,
        } => {
            let what = match container {
                Some(container) if *sidecar => {
                    format!("containerPort {container_port} (sidecar {container})")
                }
                Some(container) => {
                    format!("containerPort {container_port} (container {container})")
                }
                None => {
                    format!("port {container_port} (no container declares it; still used)")
                }
            };
            ("✓", theme.ok, what)
        }
        PodPortOutcome::NameNotDeclared { declared } => (
            "✗",
            theme.error,
            format!(
                "no port named {}; declares {}",
                mapping.target_port,
                describe_declared(declared)
            ),
        ),
        PodPortOutcome::ProtocolMismatch {
            container,
            declared,
            port,
        } => (
            "✗",
            theme.error,
            format!(
                "{} is {port}/{declared} in {container}, not {}",
                mapping.target_port, mapping.protocol
            ),
        ),
        PodPortOutcome::Excluded(why) => ("!", theme.warning, format!("not an endpoint: {why}")),
    }
}

/// `prefix` then `text` wrapped into the rest of the width; later lines are indented under
/// the text.
fn push_hanging(lines: &mut Vec<Line<'static>>, prefix: Span<'static>, text: &str, width: usize) {
    let indent = cell_width(&prefix.content);
    let room = width.saturating_sub(indent);
    let mut first = Some(prefix);
    for part in wrap(text, room.max(10)) {
        match first.take() {
            Some(prefix) => lines.push(Line::from(vec![prefix, Span::raw(part)])),
            None => lines.push(Line::raw(format!("{}{part}", " ".repeat(indent)))),
        }
    }
}
