//! The Chain pane: the selected Service's hops as a tree (tui-tree-widget), one line per hop,
//! with the inline probe mark when a probe ran.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, StatefulWidget, Widget, Wrap};
use tui_tree_widget::{Tree, TreeItem, TreeState};

use super::blocks::pane_block;
use super::layout::Areas;
use super::probe::probe_mark;
use super::text::{fit_line, mark_span, plural, width as cell_width};
use super::theme::{Theme, severity_mark};
use crate::app::chain::{NodeKind, NodePath, OutlineNode};
use crate::app::probe::ProbeRun;
use crate::app::state::{AppState, Focus};
use crate::engine::hops::{self, HopState, IngressRule, SocketText, address_text};
use crate::engine::model::{IpMode, ServiceChain, TrafficPolicy};

/// The Chain pane.
#[derive(Debug, Clone)]
pub struct ChainPaneView {
    pub title: Line<'static>,
    pub focused: bool,
    pub items: Vec<TreeItem<'static, String>>,
    pub opened: Vec<NodePath>,
    pub selected: NodePath,
    pub offset: usize,
    pub empty: Vec<Line<'static>>,
}

fn service_title(chain: &ServiceChain, theme: &Theme, pane: &str) -> Line<'static> {
    let kind = if chain.headless {
        "headless ClusterIP".to_owned()
    } else {
        chain.service_type.as_str().to_owned()
    };
    Line::from(vec![
        Span::styled(format!(" {pane} "), theme.title),
        Span::styled(
            format!("{}/{} ({kind}) ", chain.namespace, chain.name),
            theme.dim,
        ),
    ])
}

impl ChainPaneView {
    /// The selected Service's tree, with the tree state the app keeps for it.
    pub fn new(state: &AppState, theme: &Theme, areas: &Areas) -> ChainPaneView {
        let focused = state.focus == Focus::Chain;
        let Some((_, chain)) = state.selected_service() else {
            return ChainPaneView {
                title: Line::styled(" Chain ", theme.title),
                focused,
                items: Vec::new(),
                opened: Vec::new(),
                selected: Vec::new(),
                offset: 0,
                empty: vec![Line::styled(
                    "Select a Service to see its chain.",
                    theme.dim,
                )],
            };
        };
        let view = state.chain_view().cloned().unwrap_or_default();
        let width = usize::from(areas.chain_inner().width);
        let marks = state.probe.run_for(&chain.key()).map(|run| ProbeMarks {
            run,
            spinner: state.probe.spinner_frame(),
        });
        let items = state
            .chain
            .outline
            .roots
            .iter()
            .map(|node| tree_item(chain, node, 0, width, theme, marks.as_ref()))
            .collect();
        let opened = state
            .chain
            .outline
            .branch_paths()
            .into_iter()
            .filter(|path| !view.closed.contains(path))
            .collect();
        ChainPaneView {
            title: service_title(chain, theme, "Chain"),
            focused,
            items,
            opened,
            selected: view.selected.clone(),
            offset: view.offset,
            empty: Vec::new(),
        }
    }
}

/// The probe run shown inline in the chain tree.
struct ProbeMarks<'a> {
    run: &'a ProbeRun,
    spinner: &'static str,
}

fn tree_item(
    chain: &ServiceChain,
    node: &OutlineNode,
    depth: usize,
    width: usize,
    theme: &Theme,
    marks: Option<&ProbeMarks<'_>>,
) -> TreeItem<'static, String> {
    // Two cells per level of indent, two for the open/closed mark.
    let room = width.saturating_sub(depth * 2 + 2);
    let mark = marks.and_then(|marks| {
        let key = chain.hop_key(node.hop.as_ref()?);
        probe_mark(marks.run, &key, marks.spinner, theme)
    });
    let line = marked_line(chain, node, theme);
    // NodePort rows keep their node's pod range when narrow (rule K3).
    let fit = |line, room| match &node.kind {
        NodeKind::NodePort { row, .. } => super::node_rows::fit_node_port_line(line, row, room),
        _ => fit_line(line, room),
    };
    let line = match mark {
        Some(mark) => {
            // The mark stays whole, right-aligned in one column; the hop's text gives way.
            let mark_width = cell_width(&mark.content) + 1;
            let text_room = room.saturating_sub(mark_width);
            let mut line = fit(line, text_room);
            let used: usize = line
                .spans
                .iter()
                .map(|span| cell_width(&span.content))
                .sum();
            line.spans
                .push(Span::raw(" ".repeat(text_room.saturating_sub(used) + 1)));
            line.spans.push(mark);
            line
        }
        None => fit(line, room),
    };
    let children: Vec<TreeItem<'static, String>> = node
        .children
        .iter()
        .map(|child| tree_item(chain, child, depth + 1, width, theme, marks))
        .collect();
    if children.is_empty() {
        TreeItem::new_leaf(node.id.clone(), line)
    } else {
        // Ids are unique among siblings by construction (hop keys); fall back to a leaf.
        match TreeItem::new(node.id.clone(), line.clone(), children) {
            Ok(item) => item,
            Err(_) => TreeItem::new_leaf(node.id.clone(), line),
        }
    }
}

/// The hop's line, with `⊘` after its mark when the hop's default source (a pod of the
/// namespace, an outside client, the Ingress controller) is denied by NetworkPolicy on every
/// endpoint (the chain's `networkPolicy` block, rules N8-N10; the Policy tab says why).
fn marked_line(chain: &ServiceChain, node: &OutlineNode, theme: &Theme) -> Line<'static> {
    let mut line = node_line(chain, node, theme);
    if policy_blocked(chain, node) {
        let at = usize::from(!line.spans.is_empty());
        line.spans
            .insert(at, Span::styled("⊘ ".to_owned(), theme.error));
    }
    line
}

/// Whether the chain's policy verdicts say the hop's default source cannot pass it.
fn policy_blocked(chain: &ServiceChain, node: &OutlineNode) -> bool {
    let Some(view) = &chain.network_policy else {
        return false;
    };
    let key = match (&node.kind, &node.hop) {
        (NodeKind::NodePorts { port }, _) => match chain.ports.get(*port) {
            Some(port) => format!("{}/{}/nodePort", port.port, port.protocol),
            None => return false,
        },
        (_, Some(hop)) => hop.to_string(),
        (_, None) => return false,
    };
    view.hops()
        .iter()
        .any(|hop| hop.hop == key && hop.all_denied())
}

/// One hop's line in the tree. One arm per kind of node; the longer ones build their line in
/// a function of their own, below, in the order a packet meets them.
fn node_line(chain: &ServiceChain, node: &OutlineNode, theme: &Theme) -> Line<'static> {
    match &node.kind {
        NodeKind::Port { port } => port_line(chain, *port, theme),
        NodeKind::Ingress { ingress, port } => ingress_line(chain, *ingress, port.is_some(), theme),
        NodeKind::GatewayRoute { route, .. } => gateway_route_line(chain, *route, theme),
        NodeKind::LoadBalancer { port, entry } => load_balancer_line(chain, *port, *entry, theme),
        NodeKind::LoadBalancerPending { .. } => Line::from(vec![
            mark_span("!", theme.warning),
            Span::styled(
                "LoadBalancer pending: no ingress in status yet".to_owned(),
                theme.warning,
            ),
        ]),
        NodeKind::NodePorts { port } => node_ports_line(chain, *port, theme),
        NodeKind::NodePort { port, row } => {
            super::node_rows::node_port_line(chain, *port, row, theme)
        }
        NodeKind::ClusterIp { port } => cluster_ip_line(chain, *port, theme),
        NodeKind::Headless { .. } => Line::from(vec![
            mark_span("i", theme.info),
            Span::raw("ClusterIP None (headless) ".to_owned()),
            Span::styled("DNS returns the pod IPs".to_owned(), theme.dim),
        ]),
        NodeKind::ExternalName => Line::from(vec![
            mark_span("i", theme.info),
            Span::raw(format!(
                "ExternalName → CNAME {} ",
                chain.external_name.as_deref().unwrap_or("?")
            )),
            Span::styled("DNS only, nothing is proxied".to_owned(), theme.dim),
        ]),
        NodeKind::Slice { port, name } => slice_line(chain, *port, name, theme),
        NodeKind::Endpoint { port, endpoint } => endpoint_line(chain, *port, *endpoint, theme),
        NodeKind::Broken { severity, text } => Line::from(vec![
            mark_span(severity_mark(*severity), theme.severity(*severity)),
            Span::styled(text.clone(), theme.severity(*severity)),
        ]),
    }
}

/// `port 80/TCP "http" → targetPort 8080`, marked by whether any endpoint can take traffic.
fn port_line(chain: &ServiceChain, port: usize, theme: &Theme) -> Line<'static> {
    let Some(port) = chain.ports.get(port) else {
        return Line::raw("port");
    };
    let mut text = format!("port {}/{}", port.port, port.protocol);
    if let Some(name) = &port.name {
        text.push_str(&format!(" \"{name}\""));
    }
    text.push_str(&format!(" → targetPort {}", port.target_port));
    if let Some(app) = &port.app_protocol {
        text.push_str(&format!(" · appProtocol {app}"));
    }
    let (mark, style) = if hops::port_usable(port) {
        ("✓", theme.ok)
    } else {
        ("✗", theme.error)
    };
    Line::from(vec![
        mark_span(mark, style),
        Span::styled(text, theme.title),
    ])
}

/// A Gateway route rule and the listener it enters through; an error when it attaches nowhere
/// or its backend is invalid, a caveat when its weight sends nothing.
fn gateway_route_line(chain: &ServiceChain, route: usize, theme: &Theme) -> Line<'static> {
    let Some(reference) = chain.gateway_routes.get(route) else {
        return Line::raw("Gateway");
    };
    let text = kubehop_engine::hops::GatewayRouteText(reference).to_string();
    let text = crate::printable::escape(&text).into_owned();
    let (mark, style) = if reference.passes() {
        ("✓", theme.ok)
    } else if reference.gateway.problem.is_none() && reference.backend_problem.is_none() {
        ("!", theme.warning)
    } else {
        ("✗", theme.error)
    };
    Line::from(vec![mark_span(mark, style), Span::styled(text, style)])
}

/// An Ingress rule and the Service port it names; an error when the Service has no such port.
fn ingress_line(
    chain: &ServiceChain,
    ingress: usize,
    known_port: bool,
    theme: &Theme,
) -> Line<'static> {
    let Some(reference) = chain.ingresses.get(ingress) else {
        return Line::raw("Ingress");
    };
    let rule = IngressRule(reference);
    let target = reference
        .service_port
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_else(|| "?".to_owned());
    let name = Span::raw(format!(
        "Ingress {}/{} ",
        reference.namespace, reference.name
    ));
    if known_port {
        Line::from(vec![
            mark_span("✓", theme.ok),
            name,
            Span::styled(format!("{rule} → port {target}"), theme.dim),
        ])
    } else {
        Line::from(vec![
            mark_span("✗", theme.error),
            name,
            Span::styled(
                format!("{rule} → port {target}: the Service has no such port"),
                theme.error,
            ),
        ])
    }
}

/// A load balancer address and how it reaches the nodes (its ipMode).
fn load_balancer_line(
    chain: &ServiceChain,
    port: usize,
    entry: usize,
    theme: &Theme,
) -> Line<'static> {
    let Some(entry) = chain
        .ports
        .get(port)
        .and_then(|port| port.load_balancer.get(entry))
    else {
        return Line::raw("LoadBalancer");
    };
    let address = address_text(
        entry
            .ip
            .as_deref()
            .or(entry.hostname.as_deref())
            .unwrap_or(""),
        entry.port,
    );
    let mode = match entry.ip_mode {
        Some(IpMode::VIP) => "ipMode VIP".to_owned(),
        Some(IpMode::Proxy) => {
            "ipMode Proxy: no node rule, the LB forwards to nodePorts".to_owned()
        }
        None => "hostname: the LB forwards to nodePorts".to_owned(),
    };
    Line::from(vec![
        mark_span("✓", theme.ok),
        Span::raw(format!("LoadBalancer {address} ")),
        Span::styled(mode, theme.dim),
    ])
}

/// The NodePort group: the port, on how many node addresses, how many of them drop or reject
/// (the engine's hop state of each row).
fn node_ports_line(chain: &ServiceChain, port: usize, theme: &Theme) -> Line<'static> {
    let Some(port) = chain.ports.get(port) else {
        return Line::raw("NodePort");
    };
    let rows: Vec<_> = port.node_ports.rows().collect();
    let count = |state: HopState| {
        rows.iter()
            .filter(|row| hops::node_port_state(port, row) == state)
            .count()
    };
    let (drops, rejects) = (count(HopState::Drop), count(HopState::Reject));
    let local = chain.external_traffic_policy == Some(TrafficPolicy::Local);
    let mut doubtful: Vec<&str> = rows
        .iter()
        .filter(|row| {
            row.node_issue
                .as_ref()
                .is_some_and(|i| i.breaks_node_ports())
        })
        .map(|row| row.node.as_str())
        .collect();
    doubtful.dedup();
    let in_doubt = doubtful.len();
    let (mark, style) = match (drops, rejects) {
        (0, 0) if in_doubt > 0 => ("!", theme.warning),
        (0, 0) => ("✓", theme.ok),
        (_, 0) => ("!", theme.warning),
        _ => ("✗", theme.error),
    };
    let mut spans = vec![
        mark_span(mark, style),
        Span::raw(format!(
            "NodePort {} on {}",
            port.node_port.unwrap_or_default(),
            plural(rows.len(), "node address", "node addresses")
        )),
    ];
    if local {
        spans.push(Span::styled(
            " · externalTrafficPolicy Local".to_owned(),
            theme.dim,
        ));
    }
    if drops > 0 {
        spans.push(Span::styled(format!(" · {drops} drop"), theme.warning));
    }
    if rejects > 0 {
        spans.push(Span::styled(format!(" · {rejects} reject"), theme.error));
    }
    if in_doubt > 0 {
        spans.push(Span::styled(
            format!(
                " · {}",
                plural(in_doubt, "unhealthy node", "unhealthy nodes")
            ),
            theme.warning,
        ));
    }
    if rows.is_empty() {
        spans.push(Span::styled(" · no node known".to_owned(), theme.dim));
    }
    Line::from(spans)
}

/// The ClusterIP and port; rejects when no endpoint can take traffic.
fn cluster_ip_line(chain: &ServiceChain, port: usize, theme: &Theme) -> Line<'static> {
    let Some(port) = chain.ports.get(port) else {
        return Line::raw("ClusterIP");
    };
    let Some(hop) = port.cluster_ip else {
        return Line::raw("ClusterIP");
    };
    let usable = hops::port_usable(port);
    let mut spans = vec![
        mark_span(
            if usable { "✓" } else { "✗" },
            if usable { theme.ok } else { theme.error },
        ),
        Span::raw(format!("ClusterIP {}", SocketText(hop.ip, hop.port))),
    ];
    if chain.internal_traffic_policy == Some(TrafficPolicy::Local) {
        spans.push(Span::styled(
            " · internalTrafficPolicy Local".to_owned(),
            theme.dim,
        ));
    }
    if !usable {
        spans.push(Span::styled(
            " · rejects: no ready endpoint".to_owned(),
            theme.error,
        ));
    }
    Line::from(spans)
}

/// An EndpointSlice and how many of its endpoints (for this port) are ready.
fn slice_line(
    chain: &ServiceChain,
    port: Option<usize>,
    name: &str,
    theme: &Theme,
) -> Line<'static> {
    // (ready, serving while terminating) of each endpoint in the slice.
    let endpoints: Vec<(bool, bool)> = match port.and_then(|index| chain.ports.get(index)) {
        Some(port) => port
            .endpoints
            .iter()
            .filter(|endpoint| endpoint.info.slice.as_ref() == name)
            .map(|endpoint| (endpoint.info.ready, endpoint.info.serving_terminating()))
            .collect(),
        None => chain
            .details
            .endpoints
            .iter()
            .filter(|endpoint| endpoint.slice.as_ref() == name)
            .map(|endpoint| (endpoint.ready, endpoint.serving_terminating()))
            .collect(),
    };
    let ready = endpoints.iter().filter(|(ready, _)| *ready).count();
    let fallback = endpoints.iter().any(|(_, fallback)| *fallback);
    let (mark, style) = match (ready, fallback) {
        (0, true) => ("!", theme.warning),
        (0, false) => ("✗", theme.error),
        _ => ("✓", theme.ok),
    };
    let mut spans = vec![
        mark_span(mark, style),
        Span::raw(format!("EndpointSlice {name} ")),
        Span::styled(format!("· {ready}/{} ready", endpoints.len()), style),
    ];
    if chain.endpoints_derived {
        spans.push(Span::styled(" · derived from pods".to_owned(), theme.dim));
    }
    Line::from(spans)
}

/// An endpoint: its pod, address, readiness, node and zone.
fn endpoint_line(
    chain: &ServiceChain,
    port: Option<usize>,
    endpoint: usize,
    theme: &Theme,
) -> Line<'static> {
    let (info, number) = match port.and_then(|index| chain.ports.get(index)) {
        Some(port) => match port.endpoints.get(endpoint) {
            Some(found) => (found.info.clone(), Some(found.port)),
            None => return Line::raw("endpoint"),
        },
        None => match chain.details.endpoints.get(endpoint) {
            Some(found) => (found.clone(), None),
            None => return Line::raw("endpoint"),
        },
    };
    let (mark, style, state) = match (info.ready, info.serving, info.terminating) {
        (true, _, false) => ("✓", theme.ok, "ready"),
        (true, _, true) => ("✓", theme.ok, "ready, terminating"),
        (false, true, true) => ("!", theme.warning, "serving, terminating"),
        (false, false, true) => ("✗", theme.error, "terminating"),
        (false, _, false) => ("✗", theme.error, "not ready"),
    };
    let who = info.pod.as_deref().unwrap_or("(no pod)").to_owned();
    let address = match number {
        Some(number) => SocketText(info.ip, number).to_string(),
        None => info.ip.to_string(),
    };
    let mut place = String::new();
    if let Some(node) = &info.node {
        place.push_str(&format!(" · {node}"));
    }
    if let Some(zone) = &info.zone {
        place.push_str(&format!(" {zone}"));
    }
    Line::from(vec![
        mark_span(mark, style),
        Span::raw(format!("{who} {address} ")),
        Span::styled(state.to_owned(), style),
        Span::styled(place, theme.dim),
    ])
}

/// Draws the chain tree (tui-tree-widget) at the offset the app keeps.
pub struct ChainPane<'a> {
    pub view: &'a ChainPaneView,
    pub theme: &'a Theme,
}

impl Widget for &ChainPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let block = pane_block(self.view.title.clone(), self.view.focused, self.theme);
        let inner = block.inner(area);
        block.render(area, buf);
        if self.view.items.is_empty() {
            Paragraph::new(self.view.empty.clone())
                .wrap(Wrap { trim: false })
                .render(inner, buf);
            return;
        }
        let Ok(tree) = Tree::new(&self.view.items) else {
            return;
        };
        let highlight = if self.view.focused {
            self.theme.selected
        } else {
            self.theme.selected_unfocused
        };
        let tree = tree
            .highlight_style(highlight)
            .highlight_symbol("")
            .node_open_symbol("▾ ")
            .node_closed_symbol("▸ ")
            .node_no_children_symbol("  ");
        // The app keeps the scroll offset; the widget only exposes relative scrolling, so
        // measure once on a 1×1 scratch buffer, then scroll to the offset.
        let mut state = TreeState::default();
        for path in &self.view.opened {
            state.open(path.clone());
        }
        state.select(self.view.selected.clone());
        let scratch_area = Rect::new(0, 0, 1, 1);
        let mut scratch = Buffer::empty(scratch_area);
        StatefulWidget::render(tree.clone(), scratch_area, &mut scratch, &mut state);
        state.scroll_up(usize::MAX);
        state.scroll_down(self.view.offset);
        StatefulWidget::render(tree, inner, buf, &mut state);
    }
}
