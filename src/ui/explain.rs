//! The Explain pane: what the selected hop does, in plain sentences from the engine.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::blocks::pane_block;
use super::layout::Areas;
use super::text::wrap;
use super::theme::Theme;
use crate::app::chain::{NodeKind, OutlineNode};
use crate::app::state::{AppState, Focus};
use crate::engine::explain::explain_hop;
use crate::engine::model::{Hop, ServiceChain};

/// The Explain pane: what is explained, and the sentences wrapped to the pane.
#[derive(Debug, Clone)]
pub struct ExplainView {
    pub title: Line<'static>,
    pub lines: Vec<Line<'static>>,
    pub focused: bool,
    /// Lines skipped at the top, clamped so the last page stays on screen.
    pub scroll: usize,
}

impl ExplainView {
    /// The selected hop (the Service itself while the Services pane has focus), explained.
    pub fn new(state: &AppState, theme: &Theme, areas: &Areas) -> ExplainView {
        let width = usize::from(areas.explain_inner().width);
        let Some((catalog, chain)) = state.selected_service() else {
            return ExplainView {
                title: Line::styled(" Explain ", theme.title),
                lines: vec![Line::styled(
                    "Select a Service: Explain says in plain words what each hop does.",
                    theme.dim,
                )],
                focused: state.focus == Focus::Explain,
                scroll: 0,
            };
        };
        let node = if state.focus == Focus::Services {
            None
        } else {
            state.selected_node()
        };
        let hop = node.and_then(|node| explain_hop_for(chain, node));
        let explanation = explain_hop(&catalog.model, chain, hop.as_ref());
        let subject = match &hop {
            Some(hop) => hop_label(hop),
            None => format!("{}/{}", chain.namespace, chain.name),
        };
        // Why a not-ready endpoint is not ready comes first: it is what the user came for.
        let mut lines = unhealthy_lines(state, theme, width);
        // Names from cluster objects: never a raw control character on the terminal.
        let text = crate::printable::escape(&explanation.text()).into_owned();
        lines.extend(wrap(&text, width).into_iter().map(Line::raw));
        let height = usize::from(areas.explain_inner().height);
        let scroll = state.explain_scroll.min(lines.len().saturating_sub(height));
        ExplainView {
            focused: state.focus == Focus::Explain,
            scroll,
            title: Line::from(vec![
                Span::styled(" Explain ", theme.title),
                Span::styled(
                    format!("{} ", crate::printable::escape(&subject)),
                    theme.dim,
                ),
            ]),
            lines,
        }
    }
}

/// The hop Explain talks about for a node: the node's own hop; for a port or the NodePort
/// group, the port's ClusterIP or first node row.
fn explain_hop_for(chain: &ServiceChain, node: &OutlineNode) -> Option<Hop> {
    if let Some(hop) = &node.hop {
        return Some(hop.clone());
    }
    match &node.kind {
        NodeKind::Port { port } => {
            let port = chain.ports.get(*port)?;
            port.cluster_ip.map(|_| Hop::ClusterIp {
                port: port.port,
                protocol: port.protocol,
            })
        }
        NodeKind::NodePorts { .. } => node.children.first().and_then(|child| child.hop.clone()),
        _ => None,
    }
}

/// For a not-ready endpoint whose pod's Events were read: the last readiness failure.
fn unhealthy_lines(state: &AppState, theme: &Theme, width: usize) -> Vec<Line<'static>> {
    let Some(pod) = crate::app::drill::not_ready_selected(state) else {
        return Vec::new();
    };
    let Some(crate::app::drill::Loaded::Ready(Some(row))) = state.drill.unhealthy.get(&pod) else {
        return Vec::new();
    };
    let text = format!(
        "Not ready: {} (×{}; d describes the pod, l shows its log)",
        crate::printable::escape(&row.message),
        row.count
    );
    wrap(&text, width)
        .into_iter()
        .map(|line| Line::styled(line, theme.error))
        .collect()
}

fn hop_label(hop: &Hop) -> String {
    match hop {
        Hop::Ingress {
            namespace, name, ..
        } => format!("Ingress {namespace}/{name}"),
        Hop::GatewayRoute { gateway, route, .. } => format!("Gateway {gateway} → {route}"),
        Hop::LoadBalancer { address, port, .. } => format!("LoadBalancer {address}:{port}"),
        Hop::NodePort { node, address, .. } => format!("NodePort on {node} ({address})"),
        Hop::ClusterIp { port, protocol } => format!("ClusterIP port {port}/{protocol}"),
        Hop::EndpointSlice { name } => format!("EndpointSlice {name}"),
        Hop::Endpoint {
            ip, target_port, ..
        } => format!("endpoint {ip}:{target_port}"),
    }
}

/// Explain: plain sentences about the selected hop.
pub struct ExplainPane<'a> {
    pub view: &'a ExplainView,
    pub theme: &'a Theme,
}

impl Widget for &ExplainPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let block = pane_block(self.view.title.clone(), self.view.focused, self.theme);
        let lines: Vec<Line<'_>> = self
            .view
            .lines
            .iter()
            .skip(self.view.scroll)
            .cloned()
            .collect();
        Paragraph::new(lines).block(block).render(area, buf);
    }
}
