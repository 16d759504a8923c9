//! `View::from_state`: every string and style of a frame, computed from the state, the theme
//! and the time. Rendering then only places them. Only what is on screen is prepared (the
//! visible Service rows, the selected Service's chain), so a frame costs the same with 10 or
//! 10,000 Services.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use tui_tree_widget::TreeItem;

use super::layout::Areas;
use super::text::{pad, pad_left, truncate, width, wrap};
use super::theme::{Theme, health_mark, severity_mark};
use crate::app::action::{Action, DetailTab};
use crate::app::catalog::Catalog;
use crate::app::chain::{NodeKind, NodePath, OutlineNode};
use crate::app::forwards::{ForwardEntry, ForwardStatus};
use crate::app::keymap;
use crate::app::probe::{Agreement, ProbeRun, ProbeState, RunStatus, format_latency};
use crate::app::state::{AppState, CHANGE_HIGHLIGHT, Focus, Mode};
use crate::cluster::feed::ConnectionStatus;
use crate::engine::explain::explain_hop;
use crate::engine::model::{IpMode, ServiceChain, ServiceType, TrafficPolicy};
use crate::engine::ports::PodPortOutcome;
use crate::engine::{Severity, explain};

/// Everything one frame shows.
#[derive(Debug)]
pub struct View<'t> {
    pub theme: &'t Theme,
    pub areas: Areas,
    /// Set when the terminal is below the minimum size: nothing else is drawn.
    pub too_small: Option<Vec<Line<'static>>>,
    pub header: Line<'static>,
    pub services: ServicesView,
    pub chain: ChainPaneView,
    pub explain: TextPaneView,
    pub details: DetailsView,
    pub hints: Line<'static>,
    pub overlay: Option<Overlay>,
}

/// The Services pane.
#[derive(Debug, Clone)]
pub struct ServicesView {
    pub title: Line<'static>,
    pub focused: bool,
    pub columns: Line<'static>,
    pub rows: Vec<Line<'static>>,
    /// Shown instead of rows when there are none.
    pub empty: Vec<Line<'static>>,
}

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

/// A pane of wrapped text (Explain).
#[derive(Debug, Clone)]
pub struct TextPaneView {
    pub title: Line<'static>,
    pub lines: Vec<Line<'static>>,
}

/// The detail tabs.
#[derive(Debug, Clone)]
pub struct DetailsView {
    pub tab: DetailTab,
    pub focused: bool,
    /// Every line of the tab's content; `scroll` of them are skipped.
    pub lines: Vec<Line<'static>>,
    pub scroll: usize,
}

/// A box drawn over the panes.
#[derive(Debug, Clone)]
pub enum Overlay {
    Help {
        lines: Vec<Line<'static>>,
        scroll: usize,
    },
    Namespaces {
        lines: Vec<Line<'static>>,
        cursor: usize,
    },
    /// The forwards list; `selected` are the lines of the selected forward.
    Forwards {
        lines: Vec<Line<'static>>,
        selected: Option<std::ops::Range<usize>>,
    },
}

impl<'t> View<'t> {
    pub fn from_state(state: &AppState, theme: &'t Theme, now: Instant) -> View<'t> {
        let areas = Areas::compute(state.size.into());
        let too_small = areas.too_small.then(|| too_small_lines(state, theme));
        let catalog = state.shown().map(AsRef::as_ref);
        let details_width = areas.details_inner().width;
        View {
            theme,
            areas,
            too_small,
            header: header_line(state, catalog, theme),
            services: services_view(state, catalog, theme, &areas, now),
            chain: chain_view(state, theme, &areas),
            explain: explain_view(state, theme, &areas),
            details: DetailsView {
                tab: state.tab,
                focused: state.focus == Focus::Details,
                lines: details_lines(state, theme, details_width),
                scroll: state.details_scroll,
            },
            hints: hints_line(state, theme),
            overlay: overlay(state, theme),
        }
    }
}

fn too_small_lines(state: &AppState, theme: &Theme) -> Vec<Line<'static>> {
    vec![
        Line::styled("Terminal too small", theme.warning),
        Line::raw(format!(
            "{}×{}: kubehop needs at least {}×{}.",
            state.size.width,
            state.size.height,
            super::layout::MIN_WIDTH,
            super::layout::MIN_HEIGHT
        )),
        Line::styled("Enlarge the window, or press q to quit.", theme.dim),
    ]
}

fn clock(time: SystemTime) -> String {
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or_default()
        % 86_400;
    format!(
        "{:02}:{:02}:{:02} UTC",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

fn plural(count: usize, one: &str, many: &str) -> String {
    if count == 1 {
        format!("{count} {one}")
    } else {
        format!("{count} {many}")
    }
}

/// The context as shown: file names for a dump (not their directories).
fn context_label(state: &AppState) -> String {
    if state.source != crate::app::state::SourceKind::Dump {
        return state.label.context.clone();
    }
    state
        .label
        .context
        .split(',')
        .map(|path| {
            std::path::Path::new(path).file_name().map_or_else(
                || path.to_owned(),
                |name| name.to_string_lossy().into_owned(),
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The header, most important first (it is cut at the screen's edge): where, how fresh,
/// paused, how many Services are broken, then object counts.
fn header_line(state: &AppState, catalog: Option<&Catalog>, theme: &Theme) -> Line<'static> {
    let mut spans = vec![
        Span::styled(" kubehop ", theme.accent),
        Span::styled(format!("{} ", context_label(state)), theme.header),
        Span::styled(
            format!(
                "· {} ",
                state.namespace.as_deref().map_or_else(
                    || "all namespaces".to_owned(),
                    |ns| format!("namespace {ns}")
                )
            ),
            theme.header,
        ),
    ];
    let (status, style) = match &state.status {
        ConnectionStatus::Connecting => ("◌ connecting".to_owned(), theme.warning),
        ConnectionStatus::Connected => ("● live".to_owned(), theme.ok),
        ConnectionStatus::Static => ("● static".to_owned(), theme.dim),
        ConnectionStatus::Reconnecting { since, error } => (
            format!("◌ reconnecting since {} ({error}) · stale", clock(*since)),
            theme.warning,
        ),
        ConnectionStatus::Failed { error } => (format!("✗ failed: {error} · stale"), theme.error),
    };
    spans.push(Span::styled(format!("· {status} "), style));
    let forwarding = state.forwards.running();
    if forwarding > 0 {
        spans.push(Span::styled(
            format!("⇄ {} ", plural(forwarding, "forward", "forwards")),
            theme.accent,
        ));
    }
    if state.paused() {
        let waiting = if state.updates_waiting() {
            " (updates waiting)"
        } else {
            ""
        };
        spans.push(Span::styled(format!(" ⏸ paused{waiting} "), theme.paused));
        spans.push(Span::raw(" "));
    } else if state.focus == Focus::Header {
        spans.push(Span::styled(" Space: pause ", theme.selected));
        spans.push(Span::raw(" "));
    }
    if let Some(catalog) = catalog {
        spans.push(Span::styled(
            format!("✗ {} ", state.list.scope_errors),
            if state.list.scope_errors > 0 {
                theme.error
            } else {
                theme.dim
            },
        ));
        spans.push(Span::styled(
            format!("! {} ", state.list.scope_warnings),
            if state.list.scope_warnings > 0 {
                theme.warning
            } else {
                theme.dim
            },
        ));
        if !catalog.snapshot.missing.is_empty() {
            spans.push(Span::styled(
                format!(
                    "· {} missing ",
                    plural(catalog.snapshot.missing.len(), "kind", "kinds")
                ),
                theme.warning,
            ));
        }
        let counts = catalog.counts;
        spans.push(Span::styled(
            format!(
                "· {} · {} · {} · {} · {}",
                plural(counts.services, "Service", "Services"),
                plural(counts.pods, "pod", "pods"),
                plural(counts.nodes, "node", "nodes"),
                plural(counts.endpoint_slices, "EndpointSlice", "EndpointSlices"),
                plural(counts.ingresses, "Ingress", "Ingresses"),
            ),
            theme.dim,
        ));
    }
    Line::from(spans)
}

/// Column widths of the Services pane for an inner width.
struct Columns {
    name: usize,
    kind: usize,
    ports: usize,
    endpoints: usize,
}

fn columns(inner: usize) -> Columns {
    let mark = 2;
    let endpoints = 6;
    if inner < 44 {
        return Columns {
            name: inner.saturating_sub(mark + endpoints),
            kind: 0,
            ports: 0,
            endpoints,
        };
    }
    let kind = 13;
    if inner < 64 {
        return Columns {
            name: inner.saturating_sub(mark + kind + endpoints),
            kind,
            ports: 0,
            endpoints,
        };
    }
    let rest = inner.saturating_sub(mark + kind + endpoints);
    let name = rest * 11 / 20;
    Columns {
        name,
        kind,
        ports: rest - name,
        endpoints,
    }
}

fn services_view(
    state: &AppState,
    catalog: Option<&Catalog>,
    theme: &Theme,
    areas: &Areas,
    now: Instant,
) -> ServicesView {
    let inner = usize::from(areas.services_inner().width);
    let cols = columns(inner);
    let focused = state.focus == Focus::Services;
    let mut title = vec![Span::styled(" Services ", theme.title)];
    title.push(Span::styled(
        format!(
            "{}/{} · sort {} ",
            state.list.visible.len(),
            state.list.scope_total,
            state.sort.label()
        ),
        theme.dim,
    ));
    if state.filter.is_active() {
        title.push(Span::styled(
            format!("· /{} ", state.filter.text),
            theme.accent,
        ));
    }
    let mut header = pad("  NAME", cols.name + 2);
    if cols.kind > 0 {
        header.push_str(&pad("TYPE", cols.kind));
    }
    if cols.ports > 0 {
        header.push_str(&pad("PORTS", cols.ports));
    }
    header.push_str(&pad_left("READY", cols.endpoints));
    let all_namespaces = state.namespace.is_none();
    let mut rows = Vec::new();
    if let Some(catalog) = catalog {
        let height = areas.services_rows();
        for (position, index) in state
            .list
            .visible
            .iter()
            .enumerate()
            .skip(state.list.offset)
            .take(height)
        {
            let (Some(chain), Some(summary)) =
                (catalog.model.services.get(*index), catalog.summary(*index))
            else {
                continue;
            };
            let name = if all_namespaces {
                format!("{}/{}", chain.namespace, chain.name)
            } else {
                chain.name.clone()
            };
            let mut spans = vec![
                Span::styled(
                    format!("{} ", health_mark(summary.health)),
                    theme.health(summary.health),
                ),
                Span::raw(format!("{} ", pad(&name, cols.name.saturating_sub(1)))),
            ];
            if cols.kind > 0 {
                let kind = if chain.headless {
                    "Headless"
                } else {
                    chain.service_type.as_str()
                };
                spans.push(Span::styled(pad(kind, cols.kind), theme.dim));
            }
            if cols.ports > 0 {
                spans.push(Span::raw(pad(&summary.ports, cols.ports.saturating_sub(1))));
                spans.push(Span::raw(" "));
            }
            let ready_text = if chain.service_type == ServiceType::ExternalName {
                "—".to_owned()
            } else {
                format!("{}/{}", summary.ready, summary.total)
            };
            let ready_style = if chain.service_type == ServiceType::ExternalName {
                theme.dim
            } else if summary.ready == 0 {
                theme.error
            } else if summary.ready < summary.total {
                theme.warning
            } else {
                Style::new()
            };
            spans.push(Span::styled(
                pad_left(&ready_text, cols.endpoints),
                ready_style,
            ));
            let mut style = Style::new();
            if let Some(at) = state.changed.get(&chain.key()) {
                let age = now.saturating_duration_since(*at);
                if age < CHANGE_HIGHLIGHT / 2 {
                    style = theme.changed;
                } else if age < CHANGE_HIGHLIGHT {
                    style = theme.changed_fading;
                }
            }
            if position == state.list.cursor {
                style = if focused {
                    theme.selected
                } else {
                    theme.selected_unfocused
                };
            }
            rows.push(Line::from(spans).style(style));
        }
    }
    let empty = if rows.is_empty() {
        services_empty(state, catalog, theme)
    } else {
        Vec::new()
    };
    ServicesView {
        title: Line::from(title),
        focused,
        columns: Line::styled(header, theme.dim),
        rows,
        empty,
    }
}

fn services_empty(
    state: &AppState,
    catalog: Option<&Catalog>,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let Some(catalog) = catalog else {
        return vec![Line::styled("Reading the cluster…", theme.dim)];
    };
    let mut lines = Vec::new();
    if state.filter.is_active() && state.list.scope_total > 0 {
        lines.push(Line::styled(
            format!("No Service matches /{}", state.filter.text),
            theme.warning,
        ));
        lines.push(Line::styled("Esc clears the filter.", theme.dim));
    } else if let Some(namespace) = &state.namespace {
        lines.push(Line::styled(
            format!("No Services in namespace {namespace}."),
            theme.warning,
        ));
        lines.push(Line::styled(
            "n picks another namespace; :ns all shows every one.",
            theme.dim,
        ));
    } else {
        lines.push(Line::styled("No Services in this source.", theme.warning));
    }
    for missing in &catalog.snapshot.missing {
        lines.push(Line::styled(
            format!("Note: {}: {}", missing.kind, missing.reason),
            theme.dim,
        ));
    }
    lines
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

fn chain_view(state: &AppState, theme: &Theme, areas: &Areas) -> ChainPaneView {
    let focused = state.focus == Focus::Chain;
    let Some((catalog, chain)) = state.selected_service() else {
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
        .map(|node| tree_item(catalog, chain, node, 0, width, theme, marks.as_ref()))
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

/// The probe run shown inline in the chain tree.
struct ProbeMarks<'a> {
    run: &'a ProbeRun,
    spinner: &'static str,
}

/// The inline mark of a hop: `✓ 1.2 ms`, `✗ refused`, `⏱ timeout`, `⚠ refused` (unexpected),
/// `↻ stale`, the spinner while probing, `…` while queued.
fn probe_mark(
    run: &ProbeRun,
    key: &crate::engine::model::HopKey,
    spinner: &str,
    theme: &Theme,
) -> Option<Span<'static>> {
    if let Some(result) = run.results.get(key) {
        if run.is_stale(key) {
            return Some(Span::styled("↻ stale".to_owned(), theme.warning));
        }
        let outcome = &result.outcome;
        return Some(match result.agreement {
            Agreement::Unexpected => Span::styled(format!("⚠ {}", outcome.short()), theme.error),
            Agreement::Expected => {
                Span::styled(format!("{} {}", outcome.glyph(), outcome.short()), theme.ok)
            }
            Agreement::Unverified => Span::styled(format!("· {}", outcome.short()), theme.dim),
        });
    }
    run.plan.hop(key)?;
    Some(if run.running.contains(key) {
        Span::styled(format!("{spinner} probing"), theme.accent)
    } else {
        match run.status {
            RunStatus::Running => Span::styled("… queued".to_owned(), theme.dim),
            RunStatus::Cancelled => Span::styled("– cancelled".to_owned(), theme.dim),
            RunStatus::Done { .. } => Span::styled("– no result".to_owned(), theme.dim),
        }
    })
}

fn tree_item(
    catalog: &Catalog,
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
    let line = match mark {
        Some(mark) => {
            // The mark stays whole, right-aligned in one column; the hop's text gives way.
            let mark_width = width_of(&mark.content) + 1;
            let text_room = room.saturating_sub(mark_width);
            let mut line = fit_line(node_line(catalog, chain, node, theme), text_room);
            let used: usize = line.spans.iter().map(|span| width_of(&span.content)).sum();
            line.spans
                .push(Span::raw(" ".repeat(text_room.saturating_sub(used) + 1)));
            line.spans.push(mark);
            line
        }
        None => fit_line(node_line(catalog, chain, node, theme), room),
    };
    let children: Vec<TreeItem<'static, String>> = node
        .children
        .iter()
        .map(|child| tree_item(catalog, chain, child, depth + 1, width, theme, marks))
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

/// Cuts a line of spans to `max` cells, the last kept span ending in `…`.
fn fit_line(line: Line<'static>, max: usize) -> Line<'static> {
    let total: usize = line.spans.iter().map(|span| width(&span.content)).sum();
    if total <= max {
        return line;
    }
    let mut used = 0;
    let mut spans = Vec::new();
    for span in line.spans {
        let span_width = width(&span.content);
        if used + span_width < max {
            used += span_width;
            spans.push(span);
            continue;
        }
        let cut = truncate(&span.content, max - used);
        spans.push(Span::styled(cut, span.style));
        break;
    }
    Line::from(spans).style(line.style)
}

fn mark_span(mark: &str, style: Style) -> Span<'static> {
    Span::styled(format!("{mark} "), style)
}

fn node_line(
    catalog: &Catalog,
    chain: &ServiceChain,
    node: &OutlineNode,
    theme: &Theme,
) -> Line<'static> {
    let _ = catalog;
    match &node.kind {
        NodeKind::Port { port } => {
            let Some(port) = chain.ports.get(*port) else {
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
            let usable = port
                .endpoints
                .iter()
                .any(|endpoint| endpoint.info.ready || endpoint.info.serving_terminating());
            let (mark, style) = if usable {
                ("✓", theme.ok)
            } else {
                ("✗", theme.error)
            };
            Line::from(vec![
                mark_span(mark, style),
                Span::styled(text, theme.title),
            ])
        }
        NodeKind::Ingress { ingress, port } => {
            let Some(reference) = chain.ingresses.get(*ingress) else {
                return Line::raw("Ingress");
            };
            let rule = match (&reference.host, &reference.path) {
                (_, None) => "default backend".to_owned(),
                (Some(host), Some(path)) => format!("{host}{path}"),
                (None, Some(path)) => format!("*{path}"),
            };
            let target = reference
                .service_port
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_else(|| "?".to_owned());
            match port {
                Some(_) => Line::from(vec![
                    mark_span("✓", theme.ok),
                    Span::raw(format!(
                        "Ingress {}/{} ",
                        reference.namespace, reference.name
                    )),
                    Span::styled(format!("{rule} → port {target}"), theme.dim),
                ]),
                None => Line::from(vec![
                    mark_span("✗", theme.error),
                    Span::raw(format!(
                        "Ingress {}/{} ",
                        reference.namespace, reference.name
                    )),
                    Span::styled(
                        format!("{rule} → port {target}: the Service has no such port"),
                        theme.error,
                    ),
                ]),
            }
        }
        NodeKind::LoadBalancer { port, entry } => {
            let Some(entry) = chain
                .ports
                .get(*port)
                .and_then(|port| port.load_balancer.get(*entry))
            else {
                return Line::raw("LoadBalancer");
            };
            let address = entry
                .ip
                .clone()
                .or_else(|| entry.hostname.clone())
                .unwrap_or_default();
            let mode = match entry.ip_mode {
                Some(IpMode::VIP) => "ipMode VIP".to_owned(),
                Some(IpMode::Proxy) => {
                    "ipMode Proxy: no node rule, the LB forwards to nodePorts".to_owned()
                }
                None => "hostname: the LB forwards to nodePorts".to_owned(),
            };
            Line::from(vec![
                mark_span("✓", theme.ok),
                Span::raw(format!("LoadBalancer {address}:{} ", entry.port)),
                Span::styled(mode, theme.dim),
            ])
        }
        NodeKind::LoadBalancerPending { .. } => Line::from(vec![
            mark_span("!", theme.warning),
            Span::styled(
                "LoadBalancer pending: no ingress in status yet".to_owned(),
                theme.warning,
            ),
        ]),
        NodeKind::NodePorts { port } => {
            let Some(port) = chain.ports.get(*port) else {
                return Line::raw("NodePort");
            };
            let rows: Vec<_> = port.node_ports.rows().collect();
            let drops = rows.iter().filter(|row| !row.accepts).count();
            let local = chain.external_traffic_policy == Some(TrafficPolicy::Local);
            let mut spans = vec![
                mark_span(
                    if drops == 0 { "✓" } else { "!" },
                    if drops == 0 { theme.ok } else { theme.warning },
                ),
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
            if rows.is_empty() {
                spans.push(Span::styled(" · no node known".to_owned(), theme.dim));
            }
            Line::from(spans)
        }
        NodeKind::NodePort { row, .. } => {
            let local = chain.external_traffic_policy == Some(TrafficPolicy::Local);
            let address = format!("{} {}:{} ", row.node, row.address, row.port);
            let locals = plural(
                row.local_endpoints as usize,
                "local endpoint",
                "local endpoints",
            );
            if row.accepts {
                Line::from(vec![
                    mark_span("✓", theme.ok),
                    Span::raw(address),
                    Span::styled(format!("· {locals}"), theme.dim),
                ])
            } else if local {
                Line::from(vec![
                    mark_span("!", theme.warning),
                    Span::raw(address),
                    Span::styled(
                        "· drops: no local endpoint (eTP Local)".to_owned(),
                        theme.warning,
                    ),
                ])
            } else {
                Line::from(vec![
                    mark_span("✗", theme.error),
                    Span::raw(address),
                    Span::styled("· rejects: no ready endpoint".to_owned(), theme.error),
                ])
            }
        }
        NodeKind::ClusterIp { port } => {
            let Some(port) = chain.ports.get(*port) else {
                return Line::raw("ClusterIP");
            };
            let Some(hop) = port.cluster_ip else {
                return Line::raw("ClusterIP");
            };
            let usable = port
                .endpoints
                .iter()
                .any(|endpoint| endpoint.info.ready || endpoint.info.serving_terminating());
            let mut spans = vec![
                mark_span(
                    if usable { "✓" } else { "✗" },
                    if usable { theme.ok } else { theme.error },
                ),
                Span::raw(format!("ClusterIP {}:{}", format_ip_port(hop.ip), hop.port)),
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
        NodeKind::Slice { port, name } => {
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
        NodeKind::Endpoint { port, endpoint } => {
            let (info, number) = match port.and_then(|index| chain.ports.get(index)) {
                Some(port) => match port.endpoints.get(*endpoint) {
                    Some(found) => (found.info.clone(), Some(found.port)),
                    None => return Line::raw("endpoint"),
                },
                None => match chain.details.endpoints.get(*endpoint) {
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
            let who = info.pod.clone().unwrap_or_else(|| "(no pod)".to_owned());
            let address = match number {
                Some(number) => format!("{}:{number}", format_ip_port(info.ip)),
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
        NodeKind::Broken { severity, text } => Line::from(vec![
            mark_span(severity_mark(*severity), theme.severity(*severity)),
            Span::styled(text.clone(), theme.severity(*severity)),
        ]),
    }
}

fn format_ip_port(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        std::net::IpAddr::V4(v4) => v4.to_string(),
    }
}

fn explain_view(state: &AppState, theme: &Theme, areas: &Areas) -> TextPaneView {
    let width = usize::from(areas.explain_inner().width);
    let Some((catalog, chain)) = state.selected_service() else {
        return TextPaneView {
            title: Line::styled(" Explain ", theme.title),
            lines: vec![Line::styled(
                "Select a Service: Explain says in plain words what each hop does.",
                theme.dim,
            )],
        };
    };
    let node = if state.focus == Focus::Services {
        None
    } else {
        state.selected_node()
    };
    let hop = node.and_then(|node| explain_hop_for(chain, node));
    let explanation: explain::Explanation = explain_hop(&catalog.model, chain, hop.as_ref());
    let subject = match (&hop, node) {
        (Some(hop), _) => hop_label(hop),
        (None, _) => format!("{}/{}", chain.namespace, chain.name),
    };
    let lines = wrap(&explanation.text(), width)
        .into_iter()
        .map(Line::raw)
        .collect();
    TextPaneView {
        title: Line::from(vec![
            Span::styled(" Explain ", theme.title),
            Span::styled(format!("{subject} "), theme.dim),
        ]),
        lines,
    }
}

/// The hop Explain talks about for a node: the node's own hop; for a port or the NodePort
/// group, the port's ClusterIP or first node row.
fn explain_hop_for(chain: &ServiceChain, node: &OutlineNode) -> Option<crate::engine::model::Hop> {
    use crate::engine::model::Hop;
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

fn hop_label(hop: &crate::engine::model::Hop) -> String {
    use crate::engine::model::Hop;
    match hop {
        Hop::Ingress {
            namespace, name, ..
        } => format!("Ingress {namespace}/{name}"),
        Hop::LoadBalancer { address, port, .. } => format!("LoadBalancer {address}:{port}"),
        Hop::NodePort { node, address, .. } => format!("NodePort on {node} ({address})"),
        Hop::ClusterIp { port, protocol } => format!("ClusterIP port {port}/{protocol}"),
        Hop::EndpointSlice { name } => format!("EndpointSlice {name}"),
        Hop::Endpoint {
            ip, target_port, ..
        } => format!("endpoint {ip}:{target_port}"),
    }
}

/// The number of lines the current detail tab has at `width` (for scrolling).
pub fn details_line_count(state: &AppState, width: u16) -> usize {
    details_lines(state, &Theme::plain(), width).len()
}

/// The lines of the current detail tab, wrapped to `width`.
pub fn details_lines(state: &AppState, theme: &Theme, width: u16) -> Vec<Line<'static>> {
    let width = usize::from(width).max(10);
    let Some((catalog, chain)) = state.selected_service() else {
        return vec![Line::styled("No Service selected.", theme.dim)];
    };
    match state.tab {
        DetailTab::Ports => ports_lines(chain, theme, width),
        DetailTab::Diagnostics => diagnostics_lines(&state.notes, catalog, chain, theme, width),
        DetailTab::Dns => dns_lines(chain, theme, width),
        DetailTab::Probe => probe_lines(&state.probe, chain, theme, width),
        DetailTab::Yaml => yaml_lines(state, catalog, chain, theme, width),
    }
}

fn ports_lines(chain: &ServiceChain, theme: &Theme, width: usize) -> Vec<Line<'static>> {
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
        .flat_map(|mapping| mapping.pods.iter().map(|row| width_of(&row.pod)))
        .max()
        .unwrap_or(0)
        .min(width / 3);
    for mapping in map {
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
        lines.push(Line::styled(truncate(&head, width), theme.title));
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
            let (mark, style, text) = match &row.outcome {
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
                        crate::engine::ports::describe_declared(declared)
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
                PodPortOutcome::Excluded(why) => {
                    ("!", theme.warning, format!("not an endpoint: {why}"))
                }
            };
            let prefix = format!("  {mark} {} → ", pad(&row.pod, pod_width));
            let room = width.saturating_sub(width_of(&prefix));
            let mut first = true;
            for part in wrap(&text, room.max(10)) {
                if first {
                    lines.push(Line::from(vec![
                        Span::styled(prefix.clone(), style),
                        Span::raw(part),
                    ]));
                    first = false;
                } else {
                    lines.push(Line::raw(format!(
                        "{}{part}",
                        " ".repeat(width_of(&prefix))
                    )));
                }
            }
        }
    }
    lines
}

fn width_of(text: &str) -> usize {
    width(text)
}

fn push_wrapped(
    lines: &mut Vec<Line<'static>>,
    text: &str,
    indent: usize,
    width: usize,
    style: Style,
) {
    let pad_text = " ".repeat(indent);
    for part in wrap(text, width.saturating_sub(indent).max(10)) {
        lines.push(Line::styled(format!("{pad_text}{part}"), style));
    }
}

fn diagnostics_lines(
    notes: &[String],
    catalog: &Catalog,
    chain: &ServiceChain,
    theme: &Theme,
    width: usize,
) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if chain.diagnostics.is_empty() {
        lines.push(Line::from(vec![
            mark_span("✓", theme.ok),
            Span::raw("No findings: every hop of this Service is wired as it should be."),
        ]));
    }
    let mut diagnostics: Vec<_> = chain.diagnostics.iter().collect();
    diagnostics.sort_by_key(|diagnostic| diagnostic.severity);
    for diagnostic in diagnostics {
        let style = theme.severity(diagnostic.severity);
        let word = match diagnostic.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        lines.push(fit_line(
            Line::from(vec![
                mark_span(severity_mark(diagnostic.severity), style),
                Span::styled(format!("{word} {} ", diagnostic.code), style),
                Span::styled(diagnostic.subject.to_string(), theme.dim),
            ]),
            width,
        ));
        push_wrapped(&mut lines, &diagnostic.message, 2, width, Style::new());
    }
    for missing in &catalog.snapshot.missing {
        push_wrapped(
            &mut lines,
            &format!(
                "Note: {}: {}; findings that need them may be missing.",
                missing.kind, missing.reason
            ),
            0,
            width,
            theme.dim,
        );
    }
    for note in notes {
        push_wrapped(&mut lines, &format!("Note: {note}"), 0, width, theme.dim);
    }
    lines
}

fn dns_lines(chain: &ServiceChain, theme: &Theme, width: usize) -> Vec<Line<'static>> {
    if chain.dns.is_empty() {
        let why = if chain.headless {
            "No records: a headless Service's name resolves only to ready endpoints, and none is ready (NXDOMAIN)."
        } else {
            "No records."
        };
        let mut lines = Vec::new();
        push_wrapped(&mut lines, why, 0, width, theme.warning);
        return lines;
    }
    let name_width = chain
        .dns
        .iter()
        .map(|record| width_of(&record.name))
        .max()
        .unwrap_or(0)
        .min(width.saturating_sub(24));
    chain
        .dns
        .iter()
        .map(|record| {
            let kind = format!("{:?}", record.record_type);
            let room = width.saturating_sub(6 + name_width + 3);
            Line::from(vec![
                Span::styled(pad(&kind, 6), theme.accent),
                Span::raw(pad(&record.name, name_width)),
                Span::styled(" → ".to_owned(), theme.dim),
                Span::raw(truncate(&record.value, room)),
            ])
        })
        .collect()
}

/// The Probe tab: per hop, target, transport, outcome, latency, answering pod, expected vs
/// observed, and the fix suggestion.
fn probe_lines(
    probe: &ProbeState,
    chain: &ServiceChain,
    theme: &Theme,
    width: usize,
) -> Vec<Line<'static>> {
    use crate::engine::plan::Expectation;
    let mut lines = Vec::new();
    let Some(run) = probe.run_for(&chain.key()) else {
        match &probe.unavailable {
            Some(reason) => push_wrapped(
                &mut lines,
                &format!("Cannot probe: {reason}."),
                0,
                width,
                theme.dim,
            ),
            None => push_wrapped(
                &mut lines,
                "No probe yet: press p to probe this hop, P for the whole Service.",
                0,
                width,
                theme.dim,
            ),
        }
        return lines;
    };
    let total = run.plan.hops.len();
    let done = run.results.len();
    let count = |agreement: Agreement| {
        run.results
            .values()
            .filter(|result| !run.is_stale(&result.key) && result.agreement == agreement)
            .count()
    };
    let tally = format!(
        "{} as predicted · {} unexpected · {} not checked · {} stale",
        count(Agreement::Expected),
        count(Agreement::Unexpected),
        count(Agreement::Unverified),
        run.stale.len()
    );
    let (head, style) = match run.status {
        RunStatus::Running => (
            format!(
                "{} probing: {done}/{total} done · Esc cancels · {tally}",
                probe.spinner_frame()
            ),
            theme.accent,
        ),
        RunStatus::Done { elapsed } => (
            format!(
                "Probed {} in {}: {tally}",
                if total == 1 {
                    "1 hop".to_owned()
                } else {
                    format!("{total} hops")
                },
                format_latency(elapsed)
            ),
            if count(Agreement::Unexpected) > 0 {
                theme.error
            } else {
                theme.ok
            },
        ),
        RunStatus::Cancelled => (
            format!("Cancelled after {done}/{total}: {tally}"),
            theme.warning,
        ),
    };
    push_wrapped(&mut lines, &head, 0, width, style);
    if !run.stale.is_empty() {
        push_wrapped(
            &mut lines,
            "↻ The cluster changed since these hops were probed: stale results no longer match the prediction. P probes again.",
            0,
            width,
            theme.warning,
        );
    }
    for hop in &run.plan.hops {
        let mark = probe_mark(run, &hop.key, probe.spinner_frame(), theme)
            .unwrap_or_else(|| Span::raw("-"));
        let result = run.results.get(&hop.key);
        let transport = result.map(|result| result.transport.as_str()).unwrap_or("");
        lines.push(fit_line(
            Line::from(vec![
                mark,
                Span::raw(" "),
                Span::styled(hop.label(), theme.title),
                Span::styled(
                    if transport.is_empty() {
                        String::new()
                    } else {
                        format!(" [{transport}]")
                    },
                    theme.dim,
                ),
            ]),
            width,
        ));
        let verdict = match &hop.expected {
            Expectation::Connect { .. } => "connect",
            Expectation::Drop { .. } => "drop (the client times out)",
            Expectation::Reject { .. } => "reject (refused at once)",
            Expectation::NoBackend { .. } => "no backend (503 or refused)",
            Expectation::Unrouted { .. } => "no prediction",
        };
        push_wrapped(
            &mut lines,
            &format!("expected: {verdict} — {}", hop.expected.reason()),
            2,
            width,
            theme.dim,
        );
        let Some(result) = result else {
            continue;
        };
        let mut observed = format!("observed: {}", result.outcome);
        if let Some(pod) = &result.answered_by {
            observed.push_str(&format!(" · answered by {}", pod.pod));
        }
        push_wrapped(&mut lines, &observed, 2, width, Style::new());
        if run.is_stale(&hop.key) {
            push_wrapped(
                &mut lines,
                "↻ stale: this hop's prediction has changed since it was probed",
                2,
                width,
                theme.warning,
            );
        } else {
            match result.agreement {
                Agreement::Unexpected => {
                    push_wrapped(
                        &mut lines,
                        &format!("⚠ unexpected: {}", result.why),
                        2,
                        width,
                        theme.error,
                    );
                }
                Agreement::Unverified => {
                    push_wrapped(&mut lines, &result.why, 2, width, theme.dim);
                }
                Agreement::Expected => {}
            }
        }
        if let Some(fix) = &result.fix {
            push_wrapped(
                &mut lines,
                &format!("fix: {}", fix.text),
                2,
                width,
                theme.accent,
            );
        }
    }
    for note in &run.plan.notes {
        push_wrapped(&mut lines, &format!("Note: {note}"), 0, width, theme.dim);
    }
    lines
}

fn yaml_lines(
    state: &AppState,
    catalog: &Catalog,
    chain: &ServiceChain,
    theme: &Theme,
    width: usize,
) -> Vec<Line<'static>> {
    let node = if state.focus == Focus::Services {
        None
    } else {
        state.selected_node()
    };
    let (title, text) = match yaml_object(catalog, chain, node) {
        Ok(pair) => pair,
        Err(error) => {
            return vec![Line::styled(
                format!("cannot show YAML: {error}"),
                theme.error,
            )];
        }
    };
    let mut lines = vec![Line::styled(
        truncate(&format!("# {title}"), width),
        theme.dim,
    )];
    lines.extend(text.lines().map(|line| Line::raw(truncate(line, width))));
    lines
}

fn trimmed<
    T: k8s_openapi::Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta> + Clone,
>(
    object: &T,
) -> T {
    let mut object = object.clone();
    let metadata = object.metadata_mut();
    metadata.managed_fields = None;
    if let Some(annotations) = metadata.annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
        if annotations.is_empty() {
            metadata.annotations = None;
        }
    }
    object
}

/// The selected object as YAML: the Service, an EndpointSlice, a Pod or a Node. kubehop never
/// reads Secrets, so none can appear here.
fn yaml_object(
    catalog: &Catalog,
    chain: &ServiceChain,
    node: Option<&OutlineNode>,
) -> Result<(String, String), serde_saphyr::ser::Error> {
    let kind = node.map(|node| &node.kind);
    match kind {
        Some(NodeKind::Endpoint { port, endpoint }) => {
            let info = match port.and_then(|index| chain.ports.get(index)) {
                Some(port) => port
                    .endpoints
                    .get(*endpoint)
                    .map(|found| found.info.clone()),
                None => chain.details.endpoints.get(*endpoint).cloned(),
            };
            let pod = info.as_ref().and_then(|info| {
                let name = info.pod.as_deref()?;
                chain
                    .details
                    .selected_pods
                    .iter()
                    .find(|pod| pod.metadata.name.as_deref() == Some(name))
            });
            if let Some(pod) = pod {
                let name = pod.metadata.name.clone().unwrap_or_default();
                return Ok((
                    format!("Pod {}/{name}", chain.namespace),
                    serde_saphyr::to_string(&trimmed(pod.as_ref()))?,
                ));
            }
            if let Some(info) = info
                && let Some(slice) = chain
                    .details
                    .slices
                    .iter()
                    .find(|slice| slice.metadata.name.as_deref() == Some(info.slice.as_ref()))
            {
                return Ok((
                    format!("EndpointSlice {}/{}", chain.namespace, info.slice),
                    serde_saphyr::to_string(&trimmed(slice.as_ref()))?,
                ));
            }
        }
        Some(NodeKind::Slice { name, .. }) => {
            if let Some(slice) = chain
                .details
                .slices
                .iter()
                .find(|slice| slice.metadata.name.as_deref() == Some(name.as_str()))
            {
                let derived = if chain.endpoints_derived {
                    " (derived by kubehop)"
                } else {
                    ""
                };
                return Ok((
                    format!("EndpointSlice {}/{name}{derived}", chain.namespace),
                    serde_saphyr::to_string(&trimmed(slice.as_ref()))?,
                ));
            }
        }
        Some(NodeKind::NodePort { row, .. }) => {
            if let Some(found) = catalog
                .snapshot
                .nodes
                .iter()
                .find(|candidate| candidate.metadata.name.as_deref() == Some(row.node.as_str()))
            {
                return Ok((
                    format!("Node {}", row.node),
                    serde_saphyr::to_string(&trimmed(found.as_ref()))?,
                ));
            }
        }
        _ => {}
    }
    match &chain.details.service {
        Some(service) => Ok((
            format!("Service {}/{}", chain.namespace, chain.name),
            serde_saphyr::to_string(&trimmed(service.as_ref()))?,
        )),
        None => Ok((
            format!("Service {}/{}", chain.namespace, chain.name),
            String::new(),
        )),
    }
}

fn hint(keys: &str, what: &str, theme: &Theme) -> Vec<Span<'static>> {
    vec![
        Span::styled(keys.to_owned(), theme.accent),
        Span::styled(format!(" {what}  "), theme.dim),
    ]
}

fn hints_line(state: &AppState, theme: &Theme) -> Line<'static> {
    match &state.mode {
        Mode::Filter { .. } => Line::from(vec![
            Span::styled(format!("/{}", state.filter.text), theme.input),
            Span::styled("█".to_owned(), theme.accent),
            Span::styled(
                "  filter: text or label=value · Enter keep · Esc cancel".to_owned(),
                theme.dim,
            ),
        ]),
        Mode::Command { input } => Line::from(vec![
            Span::styled(format!(":{input}"), theme.input),
            Span::styled("█".to_owned(), theme.accent),
            Span::styled(
                "  :ns NAME · :ns all · :ctx NAME · :svc NAME · :q · Enter run · Esc cancel"
                    .to_owned(),
                theme.dim,
            ),
        ]),
        Mode::Help { .. } => {
            let mut spans = hint("j/k", "scroll", theme);
            spans.extend(hint("Esc/?", "close help", theme));
            Line::from(spans)
        }
        Mode::NamespacePicker { .. } => {
            let mut spans = hint("j/k", "move", theme);
            spans.extend(hint("Enter", "choose", theme));
            spans.extend(hint("Esc", "cancel", theme));
            Line::from(spans)
        }
        Mode::ForwardPrompt { port, input } => Line::from(vec![
            Span::styled(
                format!("Forward {} from local port: {input}", port.label()),
                theme.input,
            ),
            Span::styled("█".to_owned(), theme.accent),
            Span::styled(
                "  empty: any free port · Enter start · Esc cancel".to_owned(),
                theme.dim,
            ),
        ]),
        Mode::Forwards => {
            let mut spans = hint("j/k", "move", theme);
            spans.extend(hint("d", "stop the selected forward", theme));
            spans.extend(hint("Esc", "close", theme));
            Line::from(spans)
        }
        Mode::Normal => {
            if let Some(message) = &state.message {
                let style = if message.error {
                    theme.error
                } else {
                    theme.accent
                };
                return Line::styled(format!(" {}", message.text), style);
            }
            let toggle = match state.focus {
                Focus::Header => "pause",
                Focus::Services => "chain",
                Focus::Chain => "expand",
                Focus::Details => "",
            };
            // Most useful first; what does not fit is left out ("?" lists everything).
            let candidates = [
                ("j/k", "move"),
                ("Enter", toggle),
                ("Tab", "pane"),
                ("1-5", "tabs"),
                ("/", "filter"),
                (":", "cmd"),
                ("n", "namespace"),
                ("s", "sort"),
                ("Ctrl-P", "pause"),
            ];
            let tail = [("?", "help"), ("q", "quit")];
            let tail_width: usize = tail.iter().map(|(k, w)| width(k) + width(w) + 3).sum();
            let room = usize::from(state.size.width).saturating_sub(1 + tail_width);
            let mut used = 0;
            let mut spans = vec![Span::raw(" ")];
            for (keys, what) in candidates {
                if what.is_empty() {
                    continue;
                }
                let cost = width(keys) + width(what) + 3;
                if used + cost > room {
                    break;
                }
                used += cost;
                spans.extend(hint(keys, what, theme));
            }
            for (keys, what) in tail {
                spans.extend(hint(keys, what, theme));
            }
            Line::from(spans)
        }
    }
}

fn overlay(state: &AppState, theme: &Theme) -> Option<Overlay> {
    match &state.mode {
        Mode::Help { scroll } => Some(Overlay::Help {
            scroll: *scroll,
            lines: help_lines(theme),
        }),
        Mode::NamespacePicker { cursor } => {
            let lines = state
                .namespace_choices()
                .into_iter()
                .map(|choice| {
                    let current = choice == state.namespace;
                    let text = choice.unwrap_or_else(|| "all namespaces".to_owned());
                    let mark = if current { "● " } else { "  " };
                    Line::raw(format!("{mark}{text}"))
                })
                .collect();
            Some(Overlay::Namespaces {
                lines,
                cursor: *cursor,
            })
        }
        Mode::Forwards => {
            let width = usize::from(forwards_box_width(state.size.width).saturating_sub(2));
            let (lines, selected) = forwards_lines(state, theme, width);
            Some(Overlay::Forwards { lines, selected })
        }
        _ => None,
    }
}

/// The forwards box: as wide as useful, within the screen.
pub fn forwards_box_width(screen: u16) -> u16 {
    screen.saturating_sub(4).min(112)
}

/// The forwards list: per forward, where it listens, what it targets, its counters, the
/// connections per pod and the last error. Returns the lines and those of the selected entry.
pub fn forwards_lines(
    state: &AppState,
    theme: &Theme,
    width: usize,
) -> (Vec<Line<'static>>, Option<std::ops::Range<usize>>) {
    let mut lines = Vec::new();
    let forwards = &state.forwards;
    if forwards.entries.is_empty() {
        let text = match &forwards.unavailable {
            Some(reason) => format!("Cannot forward: {reason}."),
            None => "No forwards yet: select a Service port and press F (Shift-f).".to_owned(),
        };
        push_wrapped(&mut lines, &text, 0, width, theme.dim);
        return (lines, None);
    }
    let mut selected = None;
    for (index, entry) in forwards.entries.iter().enumerate() {
        let start = lines.len();
        forward_entry_lines(entry, theme, width, &mut lines);
        if index == forwards.cursor {
            selected = Some(start..lines.len());
        }
    }
    (lines, selected)
}

fn forward_entry_lines(
    entry: &ForwardEntry,
    theme: &Theme,
    width: usize,
    lines: &mut Vec<Line<'static>>,
) {
    use crate::forward::events::format_bytes;
    let target = match &entry.port_name {
        Some(name) => format!("{} ({name})", entry.target()),
        None => entry.target(),
    };
    match &entry.status {
        ForwardStatus::Starting => {
            lines.push(fit_line(
                Line::from(vec![
                    Span::styled("◌ ".to_owned(), theme.warning),
                    Span::styled(format!("starting → {target}"), theme.title),
                ]),
                width,
            ));
        }
        ForwardStatus::Failed(error) => {
            lines.push(fit_line(
                Line::from(vec![
                    Span::styled("✗ ".to_owned(), theme.error),
                    Span::styled(format!("→ {target}"), theme.title),
                ]),
                width,
            ));
            push_wrapped(lines, error, 2, width, theme.error);
        }
        ForwardStatus::Running => {
            let locals = entry
                .locals
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            let stats = entry.stats.as_ref();
            let usable = stats.map_or(0, |stats| stats.usable);
            let (mark, mark_style) = if usable > 0 {
                ("● ", theme.ok)
            } else {
                ("● ", theme.error)
            };
            lines.push(fit_line(
                Line::from(vec![
                    Span::styled(mark.to_owned(), mark_style),
                    Span::styled(format!("{locals} → {target}"), theme.title),
                    Span::styled(
                        format!("  {}", plural(usable, "usable pod", "usable pods")),
                        if usable > 0 { theme.dim } else { theme.error },
                    ),
                ]),
                width,
            ));
            if let Some(stats) = stats {
                let mut counters = format!(
                    "open {} · total {} · ↑ {} sent · ↓ {} received",
                    stats.open,
                    stats.total,
                    format_bytes(stats.bytes_sent),
                    format_bytes(stats.bytes_received)
                );
                for (count, what) in [
                    (stats.refused, "refused"),
                    (stats.failed, "failed"),
                    (stats.retries, "retried"),
                ] {
                    if count > 0 {
                        counters.push_str(&format!(" · {count} {what}"));
                    }
                }
                push_wrapped(lines, &counters, 2, width, Style::new());
                let per_pod = crate::forward::ForwardStats::per_pod(stats);
                if !per_pod.is_empty() {
                    push_wrapped(lines, &format!("per pod: {per_pod}"), 2, width, theme.dim);
                }
                if let Some(error) = &stats.last_error {
                    push_wrapped(
                        lines,
                        &format!("last error: {error}"),
                        2,
                        width,
                        theme.warning,
                    );
                }
            }
        }
    }
}

/// Every key, from the keymap table, plus the input modes and the mouse.
pub fn help_lines(theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let mut seen: Vec<Action> = Vec::new();
    for binding in keymap::BINDINGS {
        if seen.contains(&binding.action) {
            continue;
        }
        seen.push(binding.action);
        lines.push(Line::from(vec![
            Span::styled(pad(&keymap::keys_for(binding.action), 18), theme.accent),
            Span::raw(binding.action.describe()),
        ]));
    }
    lines.push(Line::raw(""));
    for (keys, what) in [
        (
            "in / and :",
            "type; Enter accepts, Esc cancels, Backspace deletes",
        ),
        (
            "filter terms",
            "web (name substring), app=web (label or selector); all must match",
        ),
        (
            "mouse",
            "wheel scrolls the pane under it; click selects, click a tab title",
        ),
        (
            "forwards (f, :pf)",
            "j/k move, d stops the selected forward, Esc closes",
        ),
    ] {
        lines.push(Line::from(vec![
            Span::styled(pad(keys, 18), theme.accent),
            Span::raw(what),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "marks: ✗ error  ! warning  ✓ ok  i info",
        theme.dim,
    ));
    lines
}
