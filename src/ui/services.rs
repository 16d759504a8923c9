//! The Services pane: one row per visible Service (health mark, name, type, ports, ready
//! endpoints). Only the rows on screen are prepared.

use std::time::{Instant, SystemTime};

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use super::blocks::pane_block;
use super::layout::Areas;
use super::text::{pad, pad_left, width as text_width};
use super::theme::{Theme, health_mark};
use crate::app::catalog::{Catalog, ServiceSummary};
use crate::app::state::{AppState, CHANGE_HIGHLIGHT, Focus};
use crate::engine::model::{ServiceChain, ServiceType};

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

/// The optional columns of the Services pane, in kubectl's order (`kubectl get svc`), with
/// READY (endpoints ready/total) always shown between PORT(S) and AGE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Type,
    ClusterIp,
    ExternalIp,
    Ports,
    Age,
}

/// Which optional columns are added first as the pane widens (the rest are dropped first as
/// it narrows): TYPE and PORT(S) say most about a chain, AGE least.
const PRIORITY: [Column; 5] = [
    Column::Type,
    Column::Ports,
    Column::ClusterIp,
    Column::ExternalIp,
    Column::Age,
];

impl Column {
    fn title(self) -> &'static str {
        match self {
            Column::Type => "TYPE",
            Column::ClusterIp => "CLUSTER-IP",
            Column::ExternalIp => "EXTERNAL-IP",
            Column::Ports => "PORT(S)",
            Column::Age => "AGE",
        }
    }

    fn order(self) -> usize {
        match self {
            Column::Type => 0,
            Column::ClusterIp => 1,
            Column::ExternalIp => 2,
            Column::Ports => 3,
            Column::Age => 4,
        }
    }
}

/// Column widths of the Services pane (each includes the space after it).
struct Columns {
    name: usize,
    /// The optional columns shown, in kubectl's order, with their widths.
    extra: Vec<(Column, usize)>,
    endpoints: usize,
}

/// The widest cell of each column among the rows on screen (plus its separating space).
#[derive(Default)]
struct Needs {
    name: usize,
    kind: usize,
    cluster_ip: usize,
    external_ip: usize,
    ports: usize,
}

/// Fits the columns into `inner` cells: NAME and READY always; the optional columns in
/// [`PRIORITY`] order while NAME keeps enough of its width; what is left widens NAME, then
/// PORT(S), then EXTERNAL-IP, up to their longest cells, so nothing is cut while space is free.
fn columns(inner: usize, needs: &Needs, age: bool) -> Columns {
    let mark = 2;
    let endpoints = 6;
    // TYPE and PORT(S) may cut a long name to 22 cells; the others only come with the whole
    // name (up to 28 cells).
    let name_short = needs.name.clamp(8, 22);
    let name_whole = needs.name.clamp(8, 28);
    let natural = |column: Column| match column {
        Column::Type => needs.kind.max(5),
        Column::ClusterIp => needs.cluster_ip.max(11),
        // Wider addresses (an external name) get what is left over, after AGE.
        Column::ExternalIp => needs.external_ip.clamp(10, 12),
        Column::Ports => needs.ports.clamp(8, 12),
        Column::Age => 6,
    };
    let mut columns_width = 0;
    let mut extra = Vec::new();
    for column in PRIORITY {
        if column == Column::Age && !age {
            continue;
        }
        let width = natural(column);
        let name_floor = match column {
            Column::Type | Column::Ports => name_short,
            _ => name_whole,
        };
        if mark + endpoints + name_floor + columns_width + width > inner {
            break;
        }
        columns_width += width;
        extra.push((column, width));
    }
    let name_min = name_short;
    let used = mark + endpoints + name_min + columns_width;
    let mut spare = inner.saturating_sub(used);
    let mut name = name_min;
    let more = needs.name.saturating_sub(name).min(spare);
    name += more;
    spare -= more;
    for (wanted, need) in [
        (Column::Ports, needs.ports),
        (Column::ExternalIp, needs.external_ip),
    ] {
        if let Some((_, width)) = extra.iter_mut().find(|(column, _)| *column == wanted) {
            let more = need.saturating_sub(*width).min(spare);
            *width += more;
            spare -= more;
        }
    }
    extra.sort_by_key(|(column, _)| column.order());
    // What is still left pads the name, so READY stays at the pane's right edge.
    let name = if extra.is_empty() {
        inner.saturating_sub(mark + endpoints)
    } else {
        name + spare
    };
    Columns {
        name,
        extra,
        endpoints,
    }
}

/// `EXTERNAL-IP` as kubectl prints it: the load balancer's addresses (or `<pending>`), the
/// externalIPs, the external name, else `<none>`.
fn external_ip(chain: &ServiceChain) -> String {
    let mut addresses: Vec<String> = Vec::new();
    if chain.service_type == ServiceType::LoadBalancer {
        if let Some(port) = chain.ports.first() {
            for entry in &port.load_balancer {
                if let Some(address) = entry.ip.as_ref().or(entry.hostname.as_ref()) {
                    addresses.push(address.clone());
                }
            }
        }
        if addresses.is_empty() && chain.details.external_ips.is_empty() {
            return "<pending>".to_owned();
        }
    }
    addresses.extend(chain.details.external_ips.iter().map(ToString::to_string));
    if let (ServiceType::ExternalName, Some(name)) = (chain.service_type, &chain.external_name) {
        addresses.push(name.clone());
    }
    if addresses.is_empty() {
        "<none>".to_owned()
    } else {
        addresses.join(",")
    }
}

/// `CLUSTER-IP` as kubectl prints it.
fn cluster_ip(chain: &ServiceChain) -> String {
    match chain.cluster_ips.first() {
        Some(ip) => ip.to_string(),
        None if chain.headless => "None".to_owned(),
        None => "<none>".to_owned(),
    }
}

fn kind(chain: &ServiceChain) -> &'static str {
    if chain.headless {
        "Headless"
    } else {
        chain.service_type.as_str()
    }
}

/// kubectl's age: `45s`, `12m`, `5h`, `3d`, `2y`; `—` when the Service has no creation time
/// (kubectl's `<unknown>` would not fit the column: it would run into READY).
fn age(chain: &ServiceChain, now: SystemTime) -> String {
    let created = chain
        .details
        .service
        .as_ref()
        .and_then(|service| service.metadata.creation_timestamp.as_ref())
        .map(|time| SystemTime::from(time.0));
    let Some(seconds) = created
        .and_then(|created| now.duration_since(created).ok())
        .map(|age| age.as_secs())
    else {
        return "—".to_owned();
    };
    match seconds {
        0..120 => format!("{seconds}s"),
        120..7200 => format!("{}m", seconds / 60),
        7200..172_800 => format!("{}h", seconds / 3600),
        172_800..63_072_000 => format!("{}d", seconds / 86_400),
        _ => format!("{}y", seconds / 31_536_000),
    }
}

impl ServicesView {
    /// The rows on screen, each cut to the pane's columns.
    pub fn new(
        state: &AppState,
        catalog: Option<&Catalog>,
        theme: &Theme,
        areas: &Areas,
        now: Instant,
    ) -> ServicesView {
        let focused = state.focus == Focus::Services;
        let on_screen: Vec<(usize, &ServiceChain, &ServiceSummary)> = catalog
            .map(|catalog| {
                state
                    .list
                    .visible
                    .iter()
                    .enumerate()
                    .skip(state.list.offset)
                    .take(areas.services_rows())
                    .filter_map(|(position, index)| {
                        Some((
                            position,
                            catalog.model.services.get(*index)?.as_ref(),
                            catalog.summary(*index)?,
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let needs = needs(state, &on_screen);
        let cols = columns(
            usize::from(areas.services_inner().width),
            &needs,
            state.wall_clock.is_some(),
        );
        let rows: Vec<Line<'static>> = on_screen
            .iter()
            .map(|(position, chain, summary)| {
                let style = row_style(state, chain, *position == state.list.cursor, now, theme);
                service_row(state, chain, summary, &cols, theme).style(style)
            })
            .collect();
        let empty = if rows.is_empty() {
            services_empty(state, catalog, theme)
        } else {
            Vec::new()
        };
        ServicesView {
            title: services_title(state, theme),
            focused,
            columns: Line::styled(column_titles(&cols), theme.dim),
            rows,
            empty,
        }
    }
}

/// "Services", how many are shown of how many in scope, the sort and the filter.
fn services_title(state: &AppState, theme: &Theme) -> Line<'static> {
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
    if state.filter.broken_only {
        title.push(Span::styled("· broken only (b) ", theme.accent));
    }
    if !state.filter.terms.is_empty() {
        title.push(Span::styled(
            format!("· /{} ", state.filter.text),
            theme.accent,
        ));
    }
    Line::from(title)
}

/// The shown name of a Service: with its namespace when every namespace is shown.
fn display_name(state: &AppState, chain: &ServiceChain) -> String {
    if state.namespace.is_none() {
        format!("{}/{}", chain.namespace, chain.name)
    } else {
        chain.name.clone()
    }
}

/// The widest cell of each column among the rows on screen.
fn needs(state: &AppState, rows: &[(usize, &ServiceChain, &ServiceSummary)]) -> Needs {
    let mut needs = Needs::default();
    for (_, chain, summary) in rows {
        needs.name = needs.name.max(text_width(&display_name(state, chain)) + 1);
        needs.kind = needs.kind.max(kind(chain).len() + 1);
        needs.cluster_ip = needs.cluster_ip.max(cluster_ip(chain).len() + 1);
        needs.external_ip = needs.external_ip.max(text_width(&external_ip(chain)) + 1);
        needs.ports = needs.ports.max(text_width(&summary.ports) + 1);
    }
    needs
}

/// The column titles, in the widths the rows use.
fn column_titles(cols: &Columns) -> String {
    let mut header = pad("  NAME", cols.name + 2);
    for (column, width) in &cols.extra {
        if *column == Column::Age {
            continue;
        }
        header.push_str(&pad(column.title(), *width));
    }
    header.push_str(&pad_left("READY", cols.endpoints));
    if cols.extra.iter().any(|(column, _)| *column == Column::Age) {
        header.push_str(&pad_left("AGE", 6));
    }
    header
}

/// One Service's row: health mark, name (with its namespace when all are shown), type,
/// ports, ready/total endpoints.
fn service_row(
    state: &AppState,
    chain: &ServiceChain,
    summary: &ServiceSummary,
    cols: &Columns,
    theme: &Theme,
) -> Line<'static> {
    let name = display_name(state, chain);
    let health = state.probe.health(chain, summary.health);
    let mut spans = vec![
        Span::styled(format!("{} ", health_mark(health)), theme.health(health)),
        Span::raw(format!("{} ", pad(&name, cols.name.saturating_sub(1)))),
    ];
    let cell = |text: &str, width: usize| format!("{} ", pad(text, width.saturating_sub(1)));
    for (column, width) in &cols.extra {
        match column {
            Column::Type => spans.push(Span::styled(cell(kind(chain), *width), theme.dim)),
            Column::ClusterIp => spans.push(Span::raw(cell(&cluster_ip(chain), *width))),
            Column::ExternalIp => {
                let text = external_ip(chain);
                let style = if text == "<pending>" {
                    theme.warning
                } else {
                    theme.dim
                };
                spans.push(Span::styled(cell(&text, *width), style));
            }
            Column::Ports => spans.push(Span::raw(cell(&summary.ports, *width))),
            Column::Age => {}
        }
    }
    let external = chain.service_type == ServiceType::ExternalName;
    let ready_text = if external {
        "—".to_owned()
    } else {
        format!("{}/{}", summary.ready, summary.total)
    };
    let ready_style = if external {
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
    if let Some(now) = state.wall_clock
        && cols.extra.iter().any(|(column, _)| *column == Column::Age)
    {
        spans.push(Span::styled(pad_left(&age(chain, now), 6), theme.dim));
    }
    Line::from(spans)
}

/// The selected row is highlighted; a row that just changed fades out.
fn row_style(
    state: &AppState,
    chain: &ServiceChain,
    selected: bool,
    now: Instant,
    theme: &Theme,
) -> Style {
    if selected {
        return if state.focus == Focus::Services {
            theme.selected
        } else {
            theme.selected_unfocused
        };
    }
    match state.changed.get(&chain.key()) {
        Some(at) => {
            let age = now.saturating_duration_since(*at);
            if age < CHANGE_HIGHLIGHT / 2 {
                theme.changed
            } else if age < CHANGE_HIGHLIGHT {
                theme.changed_fading
            } else {
                Style::new()
            }
        }
        None => Style::new(),
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
    if state.filter.broken_only && state.filter.terms.is_empty() && state.list.scope_total > 0 {
        lines.push(Line::styled("No broken Service here.", theme.ok));
        lines.push(Line::styled("b shows them all.", theme.dim));
    } else if state.filter.is_active() && state.list.scope_total > 0 {
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
    // The Gateway API's absence is the header's one line, not a note.
    for missing in catalog
        .snapshot
        .missing
        .iter()
        .filter(|missing| !missing.kind.is_gateway_api())
    {
        lines.push(Line::styled(
            format!("Note: {}: {}", missing.kind, missing.reason),
            theme.dim,
        ));
    }
    lines
}

/// Draws the column titles and the rows (or the reason there are none).
pub struct ServicesPane<'a> {
    pub view: &'a ServicesView,
    pub theme: &'a Theme,
}

impl Widget for &ServicesPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let block = pane_block(self.view.title.clone(), self.view.focused, self.theme);
        let inner = block.inner(area);
        block.render(area, buf);
        if inner.height == 0 {
            return;
        }
        let mut lines = vec![self.view.columns.clone()];
        if self.view.rows.is_empty() {
            lines.extend(self.view.empty.iter().cloned());
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .render(inner, buf);
            return;
        }
        lines.extend(self.view.rows.iter().cloned());
        for (row, line) in lines.iter().enumerate() {
            let Ok(offset) = u16::try_from(row) else {
                break;
            };
            if offset >= inner.height {
                break;
            }
            let line_area = Rect {
                y: inner.y + offset,
                height: 1,
                ..inner
            };
            buf.set_style(line_area, line.style);
            line.render(line_area, buf);
        }
    }
}
