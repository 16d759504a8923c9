//! The describe pages' lines: a pod as `kubectl describe pod` prints it (spec summary,
//! conditions, containers with their states, restarts and probes, Events), headed by why it
//! is not ready; a Service's Events, its not-ready pods and the workloads owning its pods.
//! Every string from the cluster is escaped ([`crate::printable`]).

use k8s_openapi::api::core::v1::{Container, ContainerState, ContainerStatus, Pod, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use ratatui::text::{Line, Span};

use super::text::{mark_span, pad, push_wrapped};
use super::theme::Theme;
use crate::app::drill::{Loaded, PodPage, ServicePage};
use crate::cluster::inspect::{EventRow, Workload};
use crate::printable::escape;

fn clean(text: &str) -> String {
    escape(text).into_owned()
}

/// `5s`, `3m`, `2h`, `4d`: how long ago, as kubectl prints ages.
pub fn age(seconds: i64) -> String {
    let seconds = seconds.max(0);
    match seconds {
        0..120 => format!("{seconds}s"),
        120..7_200 => format!("{}m", seconds / 60),
        7_200..172_800 => format!("{}h", seconds / 3_600),
        _ => format!("{}d", seconds / 86_400),
    }
}

fn field(label: &str, value: impl Into<String>, theme: &Theme) -> Line<'static> {
    Line::from(vec![
        Span::styled(pad(&format!("{label}:"), 16), theme.dim),
        Span::raw(value.into()),
    ])
}

fn heading(text: &str, theme: &Theme) -> Line<'static> {
    Line::styled(text.to_owned(), theme.title)
}

fn port_text(port: &IntOrString) -> String {
    match port {
        IntOrString::Int(number) => number.to_string(),
        IntOrString::String(name) => clean(name),
    }
}

/// A probe as `kubectl describe` prints it:
/// `http-get http://:8080/healthz delay=0s timeout=1s period=10s #success=1 #failure=3`.
pub fn probe_text(probe: &Probe) -> String {
    let action = if let Some(http) = &probe.http_get {
        format!(
            "http-get {}://{}:{}{}",
            http.scheme.as_deref().unwrap_or("HTTP").to_lowercase(),
            clean(http.host.as_deref().unwrap_or("")),
            port_text(&http.port),
            clean(http.path.as_deref().unwrap_or("/"))
        )
    } else if let Some(tcp) = &probe.tcp_socket {
        format!(
            "tcp-socket {}:{}",
            clean(tcp.host.as_deref().unwrap_or("")),
            port_text(&tcp.port)
        )
    } else if let Some(exec) = &probe.exec {
        format!(
            "exec [{}]",
            clean(&exec.command.clone().unwrap_or_default().join(" "))
        )
    } else if let Some(grpc) = &probe.grpc {
        format!("grpc <pod>:{}", grpc.port)
    } else {
        "unknown".to_owned()
    };
    format!(
        "{action} delay={}s timeout={}s period={}s #success={} #failure={}",
        probe.initial_delay_seconds.unwrap_or(0),
        probe.timeout_seconds.unwrap_or(1),
        probe.period_seconds.unwrap_or(10),
        probe.success_threshold.unwrap_or(1),
        probe.failure_threshold.unwrap_or(3)
    )
}

fn state_text(state: Option<&ContainerState>) -> String {
    let Some(state) = state else {
        return "unknown".to_owned();
    };
    if let Some(waiting) = &state.waiting {
        let reason = clean(waiting.reason.as_deref().unwrap_or(""));
        return match waiting.message.as_deref() {
            Some(message) => format!("Waiting ({reason}: {})", clean(message)),
            None => format!("Waiting ({reason})"),
        };
    }
    if let Some(terminated) = &state.terminated {
        return format!(
            "Terminated ({}, exit code {})",
            clean(terminated.reason.as_deref().unwrap_or("")),
            terminated.exit_code
        );
    }
    if state.running.is_some() {
        return "Running".to_owned();
    }
    "unknown".to_owned()
}

fn last_of(events: &Loaded<Vec<EventRow>>, reason: &str, needle: &str) -> Option<EventRow> {
    events
        .ready()?
        .iter()
        .rev()
        .find(|row| row.reason == reason && row.message.to_lowercase().contains(needle))
        .cloned()
}

fn event_summary(row: &EventRow, read_at: Option<i64>) -> String {
    let when = match (row.last_seen, read_at) {
        (Some(seen), Some(now)) => format!(", last {} ago", age(now - seen)),
        _ => String::new(),
    };
    format!("{} (×{}{when})", clean(&row.message), row.count)
}

/// Why the pod is not ready, one line per cause: the failing readiness probe with the last
/// `Unhealthy` message, a container waiting (CrashLoopBackOff…), a condition's message.
fn not_ready_lines(page: &PodPage, pod: &Pod, theme: &Theme, width: usize) -> Vec<Line<'static>> {
    if crate::app::drill::pod_ready(pod) {
        return Vec::new();
    }
    let mut lines = vec![heading("Why not ready", theme)];
    let spec = pod.spec.as_ref();
    let statuses = pod
        .status
        .as_ref()
        .and_then(|status| status.container_statuses.clone())
        .unwrap_or_default();
    let unhealthy = last_of(&page.events, "Unhealthy", "readiness");
    for status in statuses.iter().filter(|status| !status.ready) {
        let container =
            spec.and_then(|spec| spec.containers.iter().find(|c| c.name == status.name));
        let mut text = format!("container {}: ", clean(&status.name));
        if let Some(waiting) = status
            .state
            .as_ref()
            .and_then(|state| state.waiting.as_ref())
        {
            text.push_str(&format!(
                "waiting: {}",
                clean(waiting.reason.as_deref().unwrap_or("unknown reason"))
            ));
        } else if let Some(probe) = container.and_then(|c| c.readiness_probe.as_ref()) {
            text.push_str(&format!("readiness probe {} failing", probe_text(probe)));
            match &unhealthy {
                Some(row) => text.push_str(&format!(": {}", event_summary(row, page.read_at))),
                None => text.push_str(&no_message(page)),
            }
        } else if page.cached && page.events == Loaded::Loading {
            text.push_str("not ready (reading the pod…)");
        } else if container.is_some() {
            text.push_str("not ready (no readiness probe in its spec)");
        } else {
            text.push_str("not ready");
        }
        push_mark(&mut lines, &text, theme, width);
    }
    if statuses.is_empty() {
        let conditions = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        for condition in conditions.iter().filter(|c| c.status != "True") {
            let why = condition
                .message
                .as_deref()
                .or(condition.reason.as_deref())
                .unwrap_or("");
            // A pod rebuilt from the compact cache (before the `get` answers) carries the
            // condition without its reason.
            let text = match why {
                "" => format!(
                    "{} is {}",
                    clean(&condition.type_),
                    clean(&condition.status)
                ),
                why => format!(
                    "{} is {}: {}",
                    clean(&condition.type_),
                    clean(&condition.status),
                    clean(why)
                ),
            };
            push_mark(&mut lines, &text, theme, width);
        }
    }
    lines.push(Line::raw(""));
    lines
}

fn no_message(page: &PodPage) -> String {
    match &page.events {
        Loaded::Loading => " (reading its Events…)".to_owned(),
        Loaded::Unavailable(_) => {
            " (its message is in the Events, which this source does not have)".to_owned()
        }
        Loaded::Failed(_) => " (its Events could not be read)".to_owned(),
        Loaded::Ready(_) => " (no Unhealthy Event about it)".to_owned(),
    }
}

fn push_mark(lines: &mut Vec<Line<'static>>, text: &str, theme: &Theme, width: usize) {
    let mut wrapped = super::text::wrap(text, width.saturating_sub(4).max(10)).into_iter();
    if let Some(first) = wrapped.next() {
        lines.push(Line::from(vec![
            Span::raw("  "),
            mark_span("✗", theme.error),
            Span::styled(first, theme.error),
        ]));
    }
    for rest in wrapped {
        lines.push(Line::styled(format!("    {rest}"), theme.error));
    }
}

/// The whole pod page.
pub fn pod_lines(page: &PodPage, theme: &Theme, width: usize) -> Vec<Line<'static>> {
    let Some(pod) = page.pod.as_deref() else {
        let mut lines = vec![Line::styled(
            format!("{} is not in the source's data.", page.target),
            theme.dim,
        )];
        lines.extend(events_lines(&page.events, page.read_at, theme, width));
        return lines;
    };
    let mut lines = not_ready_lines(page, pod, theme, width);
    lines.extend(summary_lines(pod, theme));
    lines.extend(condition_lines(pod, theme));
    lines.push(heading("Containers:", theme));
    let statuses = pod
        .status
        .as_ref()
        .and_then(|status| status.container_statuses.clone())
        .unwrap_or_default();
    for container in pod.spec.iter().flat_map(|spec| spec.containers.iter()) {
        let status = statuses.iter().find(|status| status.name == container.name);
        lines.extend(container_lines(container, status, theme));
    }
    if page.cached && page.events.ready().is_none() {
        push_wrapped(
            &mut lines,
            "(the copy the source has; a live cluster's cache keeps no probes, so they show once the pod is read)",
            2,
            width,
            theme.dim,
        );
    }
    lines.push(Line::raw(""));
    lines.extend(events_lines(&page.events, page.read_at, theme, width));
    lines
}

fn summary_lines(pod: &Pod, theme: &Theme) -> Vec<Line<'static>> {
    let meta = &pod.metadata;
    let status = pod.status.clone().unwrap_or_default();
    let mut lines = vec![
        field("Name", clean(meta.name.as_deref().unwrap_or("")), theme),
        field(
            "Namespace",
            clean(meta.namespace.as_deref().unwrap_or("")),
            theme,
        ),
        field(
            "Node",
            clean(
                pod.spec
                    .as_ref()
                    .and_then(|s| s.node_name.as_deref())
                    .unwrap_or("<none>"),
            ),
            theme,
        ),
        field(
            "Status",
            clean(status.phase.as_deref().unwrap_or("Unknown")),
            theme,
        ),
        field(
            "IP",
            clean(status.pod_ip.as_deref().unwrap_or("<none>")),
            theme,
        ),
    ];
    if let Some(labels) = &meta.labels {
        let text: Vec<String> = labels
            .iter()
            .map(|(k, v)| clean(&format!("{k}={v}")))
            .collect();
        lines.push(field("Labels", text.join(","), theme));
    }
    if let Some(owner) = meta
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
    {
        lines.push(field(
            "Controlled By",
            clean(&format!("{}/{}", owner.kind, owner.name)),
            theme,
        ));
    }
    lines
}

fn condition_lines(pod: &Pod, theme: &Theme) -> Vec<Line<'static>> {
    let conditions = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let mut lines = vec![heading("Conditions:", theme)];
    for condition in conditions {
        let style = if condition.status == "True" {
            theme.ok
        } else {
            theme.warning
        };
        let reason = condition.reason.as_deref().map(clean).unwrap_or_default();
        lines.push(Line::from(vec![
            Span::raw(format!("  {}", pad(&clean(&condition.type_), 28))),
            Span::styled(pad(&clean(&condition.status), 7), style),
            Span::styled(reason, theme.dim),
        ]));
    }
    lines
}

fn container_lines(
    container: &Container,
    status: Option<&ContainerStatus>,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let indented = |label: &str, value: String| {
        Line::from(vec![
            Span::styled(format!("    {}", pad(&format!("{label}:"), 16)), theme.dim),
            Span::raw(value),
        ])
    };
    let mut lines = vec![Line::raw(format!("  {}:", clean(&container.name)))];
    lines.push(indented(
        "Image",
        clean(container.image.as_deref().unwrap_or("")),
    ));
    let ports: Vec<String> = container
        .ports
        .iter()
        .flatten()
        .map(|port| {
            format!(
                "{}/{}",
                port.container_port,
                port.protocol.as_deref().unwrap_or("TCP")
            )
        })
        .collect();
    if !ports.is_empty() {
        lines.push(indented("Ports", clean(&ports.join(", "))));
    }
    if let Some(status) = status {
        lines.push(indented("State", state_text(status.state.as_ref())));
        if let Some(last) = &status.last_state
            && (last.terminated.is_some() || last.waiting.is_some())
        {
            lines.push(indented("Last State", state_text(Some(last))));
        }
        let ready_style = if status.ready { theme.ok } else { theme.error };
        lines.push(Line::from(vec![
            Span::styled(format!("    {}", pad("Ready:", 16)), theme.dim),
            Span::styled(
                if status.ready { "True" } else { "False" }.to_owned(),
                ready_style,
            ),
        ]));
        lines.push(indented("Restart Count", status.restart_count.to_string()));
    }
    if let Some(probe) = &container.liveness_probe {
        lines.push(indented("Liveness", probe_text(probe)));
    }
    if let Some(probe) = &container.readiness_probe {
        lines.push(indented("Readiness", probe_text(probe)));
    }
    if let Some(probe) = &container.startup_probe {
        lines.push(indented("Startup", probe_text(probe)));
    }
    lines
}

/// The Events table, or what stands in for it.
pub fn events_lines(
    events: &Loaded<Vec<EventRow>>,
    read_at: Option<i64>,
    theme: &Theme,
    width: usize,
) -> Vec<Line<'static>> {
    let mut lines = vec![heading("Events:", theme)];
    let rows = match events {
        Loaded::Loading => {
            lines.push(Line::styled("  reading…", theme.dim));
            return lines;
        }
        Loaded::Failed(error) => {
            push_wrapped(
                &mut lines,
                &format!("cannot read the Events: {}", clean(error)),
                2,
                width,
                theme.error,
            );
            return lines;
        }
        Loaded::Unavailable(why) => {
            push_wrapped(
                &mut lines,
                &format!("not available: {}", clean(why)),
                2,
                width,
                theme.dim,
            );
            return lines;
        }
        Loaded::Ready(rows) if rows.is_empty() => {
            lines.push(Line::styled("  <none>", theme.dim));
            return lines;
        }
        Loaded::Ready(rows) => rows,
    };
    lines.push(Line::styled(
        format!(
            "  {}{}{}{}{}",
            pad("Type", 9),
            pad("Reason", 18),
            pad("Age", 12),
            pad("From", 18),
            "Message"
        ),
        theme.dim,
    ));
    for row in rows {
        let ago = match (row.last_seen, read_at) {
            (Some(seen), Some(now)) => age(now - seen),
            _ => "-".to_owned(),
        };
        let ago = if row.count > 1 {
            format!("{ago} (x{})", row.count)
        } else {
            ago
        };
        let style = if row.kind == "Warning" {
            theme.warning
        } else {
            theme.dim
        };
        // The message wraps under its own column (59 cells in).
        let mut message =
            super::text::wrap(&clean(&row.message), width.saturating_sub(59).max(20)).into_iter();
        lines.push(Line::from(vec![
            Span::styled(format!("  {}", pad(&clean(&row.kind), 9)), style),
            Span::raw(pad(&clean(&row.reason), 18)),
            Span::raw(pad(&ago, 12)),
            Span::raw(pad(&clean(&row.from), 18)),
            Span::raw(message.next().unwrap_or_default()),
        ]));
        for rest in message {
            lines.push(Line::raw(format!("{}{rest}", " ".repeat(59))));
        }
    }
    lines
}

/// The Service page: not-ready pods and why, the owning workloads, the Events.
pub fn service_lines(page: &ServicePage, theme: &Theme, width: usize) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if !page.not_ready.is_empty() {
        lines.push(heading("Pods not ready", theme));
        for pod in &page.not_ready {
            let why = match &pod.last_unhealthy {
                Some(row) => event_summary(row, page.read_at),
                None => match &page.events {
                    Loaded::Loading => "reading its Events…".to_owned(),
                    Loaded::Unavailable(_) => "d on its endpoint describes it".to_owned(),
                    _ => "no Unhealthy Event (d on its endpoint describes it)".to_owned(),
                },
            };
            push_mark(
                &mut lines,
                &format!("{}: {why}", clean(&pod.name)),
                theme,
                width,
            );
        }
        lines.push(Line::raw(""));
    }
    lines.push(heading("Workloads owning its pods:", theme));
    match &page.workloads {
        Loaded::Ready(workloads) if workloads.is_empty() => {
            lines.push(Line::styled("  <none: the pods have no owner>", theme.dim));
        }
        Loaded::Ready(workloads) => lines.extend(workloads.iter().map(|w| workload_line(w, theme))),
        Loaded::Loading => lines.push(Line::styled("  reading…", theme.dim)),
        Loaded::Failed(error) => {
            push_wrapped(
                &mut lines,
                &format!("cannot read them: {}", clean(error)),
                2,
                width,
                theme.error,
            );
        }
        Loaded::Unavailable(why) => {
            push_wrapped(
                &mut lines,
                &format!("not available: {}", clean(why)),
                2,
                width,
                theme.dim,
            );
        }
    }
    lines.push(Line::raw(""));
    lines.extend(events_lines(&page.events, page.read_at, theme, width));
    lines
}

fn workload_line(workload: &Workload, theme: &Theme) -> Line<'static> {
    let style = if workload.rollout == "complete" {
        theme.ok
    } else {
        theme.warning
    };
    Line::from(vec![
        Span::raw(format!(
            "  {}/{}  ready {}/{} · updated {} · available {}  ",
            clean(&workload.kind),
            clean(&workload.name),
            workload.ready,
            workload.desired,
            workload.updated,
            workload.available
        )),
        Span::styled(format!("rollout {}", clean(&workload.rollout)), style),
    ])
}
