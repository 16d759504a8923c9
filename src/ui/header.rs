//! The header line: where the data comes from, how fresh it is, whether the view is paused,
//! how many Services are broken, then object counts. It is cut at the screen's edge, so the
//! most important comes first.

use ratatui::text::{Line, Span};

use super::text::plural;
use super::theme::Theme;
use crate::app::catalog::Catalog;
use crate::app::state::{AppState, Focus, SourceKind};
use crate::cluster::feed::{ConnectionStatus, utc_clock as clock};

/// The context as shown: file names for a dump (not their directories).
fn context_label(state: &AppState) -> String {
    if state.source != SourceKind::Dump {
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
pub(super) fn header_line(
    state: &AppState,
    catalog: Option<&Catalog>,
    theme: &Theme,
) -> Line<'static> {
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
        connection_span(&state.status, theme),
    ];
    let forwarding = state.forwards.running();
    if forwarding > 0 {
        spans.push(Span::styled(
            format!("⇄ {} ", plural(forwarding, "forward", "forwards")),
            theme.accent,
        ));
    }
    push_pause(state, theme, &mut spans);
    if let Some(catalog) = catalog {
        push_counts(state, catalog, theme, &mut spans);
    }
    Line::from(spans)
}

/// How fresh the data is: live, static, or stale since when and why.
fn connection_span(status: &ConnectionStatus, theme: &Theme) -> Span<'static> {
    let (status, style) = match status {
        ConnectionStatus::Connecting => ("◌ connecting".to_owned(), theme.warning),
        ConnectionStatus::Connected => ("● live".to_owned(), theme.ok),
        ConnectionStatus::Static => ("● static".to_owned(), theme.dim),
        ConnectionStatus::Reconnecting { since, error } => (
            format!("◌ reconnecting since {} ({error}) · stale", clock(*since)),
            theme.warning,
        ),
        ConnectionStatus::Failed { error } => (format!("✗ failed: {error} · stale"), theme.error),
    };
    Span::styled(format!("· {status} "), style)
}

/// "paused" while paused; with the header focused, the key that pauses.
fn push_pause(state: &AppState, theme: &Theme, spans: &mut Vec<Span<'static>>) {
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
}

/// Broken Services in scope, kinds the source could not read, then object counts.
fn push_counts(state: &AppState, catalog: &Catalog, theme: &Theme, spans: &mut Vec<Span<'static>>) {
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
    let cluster = state.list.scope_cluster_findings;
    if cluster > 0 {
        spans.push(Span::styled(
            format!(
                "· {} ",
                plural(cluster, "cluster finding", "cluster findings")
            ),
            theme.error,
        ));
    }
    let missing = &catalog.snapshot.missing;
    let kinds = missing
        .iter()
        .filter(|missing| !missing.kind.is_gateway_api())
        .count();
    if kinds > 0 {
        spans.push(Span::styled(
            format!("· {} missing ", plural(kinds, "kind", "kinds")),
            theme.warning,
        ));
    }
    // Optional: one quiet line, never a note (the source reports it only when not served).
    if missing.iter().any(|missing| missing.kind.is_gateway_api()) {
        spans.push(Span::styled("· Gateway API not installed ", theme.dim));
    }
    let counts = scoped_counts(state, catalog);
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

/// The object counts of the namespace shown (nodes are cluster-wide), or of the whole source.
fn scoped_counts(state: &AppState, catalog: &Catalog) -> crate::app::catalog::ObjectCounts {
    let Some(namespace) = state.namespace.as_deref() else {
        return catalog.counts;
    };
    let snapshot = &catalog.snapshot;
    let here = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        meta.namespace.as_deref() == Some(namespace)
    };
    crate::app::catalog::ObjectCounts {
        services: state.list.scope_total,
        pods: snapshot
            .pods
            .iter()
            .filter(|pod| pod.namespace.as_deref() == Some(namespace))
            .count(),
        nodes: catalog.counts.nodes,
        endpoint_slices: snapshot
            .endpoint_slices
            .iter()
            .filter(|slice| here(&slice.metadata))
            .count(),
        ingresses: snapshot
            .ingresses
            .iter()
            .filter(|ingress| here(&ingress.metadata))
            .count(),
    }
}
