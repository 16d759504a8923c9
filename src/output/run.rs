//! The `chain` and `route` commands: source settings → [`SnapshotFeed`] → engine → printed
//! form.
//!
//! Both read their snapshot from a feed, so a live source can drive them: `chain --watch`
//! prints again for every new snapshot (a dump publishes one and closes, so it prints once)
//! and reports the connection on standard error: "reconnecting since …", "connected", a
//! reminder while it stays lost, and a note after a chain printed while not connected.

use std::collections::HashSet;
use std::io::{self, BufWriter, Write};
use std::time::Duration;

use tokio::time::Instant;

use super::chain::{self, ChainSelection, Selected, SelectionError};
use super::route::{self, RouteInputError};
use super::route_policy;
use super::style::Style;
use crate::cli::{ChainArgs, ChainFormat, OnlyHealth, OutputFormat, RouteArgs};
use crate::cluster::feed::{ConnectionStatus, SnapshotFeed, utc_clock};
use crate::cluster::{ClusterError, ClusterSnapshot, Source, SourceSettings, Sources};
use crate::engine::{EngineConfig, ServiceChains, build};
use crate::printable::PrintableWriter;

/// Where a command's standard output goes: for text, through the one terminal sanitizer
/// (control characters from object names and paths shown escaped); JSON and YAML exact.
pub fn output_writer<'a>(
    out: &'a mut dyn Write,
    format: OutputFormat,
    style: Style,
) -> Box<dyn Write + 'a> {
    match format {
        OutputFormat::Text => Box::new(PrintableWriter::new(out, style.color)),
        OutputFormat::Json | OutputFormat::Yaml => Box::new(out),
    }
}

/// Standard error for messages that may quote cluster objects: always sanitized, never
/// coloured.
pub fn message_writer(err: &mut dyn Write) -> PrintableWriter<&mut dyn Write> {
    PrintableWriter::new(err, false)
}

/// Exit status: success, nothing wrong found.
pub const EXIT_OK: u8 = 0;
/// Exit status of `chain`: a selected Service (or an Ingress in scope) has an error-level
/// diagnostic.
pub const EXIT_ERRORS_FOUND: u8 = 1;
/// Exit status: bad command line or input (a one-line message on standard error).
pub const EXIT_USAGE: u8 = 2;

/// Why a command could not run; printed as `kubehop: {error}` (`kubectl hop: ...` under kubectl), exit 2 ([`CommandError::exit_code`]).
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Selection(#[from] SelectionError),
    #[error(transparent)]
    Route(#[from] RouteInputError),
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot write YAML: {0}")]
    Yaml(#[from] serde_saphyr::SerializeError),
    #[error("cannot write the output: {0}")]
    Write(#[from] io::Error),
    #[error(transparent)]
    Probe(#[from] Box<super::probe_run::ProbeCommandError>),
}

impl CommandError {
    /// The exit status for this error: 2, or 0 for a closed pipe (`kubehop chain ... | head`),
    /// which is not worth a message either.
    pub fn exit_code(&self) -> u8 {
        match self {
            CommandError::Write(error) if error.kind() == io::ErrorKind::BrokenPipe => EXIT_OK,
            _ => EXIT_USAGE,
        }
    }
}

/// Standard output (buffered) and standard error, for the commands' writers.
fn stdio() -> (BufWriter<io::StdoutLock<'static>>, io::Stderr) {
    (BufWriter::new(io::stdout().lock()), io::stderr())
}

/// `kubehop chain`, printing to standard output and standard error; the exit status.
pub async fn chain(sources: &Sources, args: &ChainArgs) -> Result<u8, CommandError> {
    let (mut out, mut err) = stdio();
    let (settings, style) = (args.source.settings(), Style::for_stdout());
    run_chain(sources, &settings, args, &mut out, &mut err, style).await
}

/// `kubehop route`, printing to standard output and standard error; the exit status.
pub async fn route(sources: &Sources, args: &RouteArgs) -> Result<u8, CommandError> {
    let (mut out, mut err) = stdio();
    let (settings, style) = (args.source.settings(), Style::for_stdout());
    run_route(sources, &settings, args, &mut out, &mut err, style).await
}

fn print_notes(feed: &SnapshotFeed, err: &mut dyn Write) {
    for note in &feed.notes {
        let _ = writeln!(err, "{}: note: {note}", crate::cli::program_name());
    }
}

/// `kubehop chain` with explicit writers; returns the exit status.
pub async fn run_chain(
    sources: &Sources,
    settings: &SourceSettings,
    args: &ChainArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
    style: Style,
) -> Result<u8, CommandError> {
    let mut text_out = output_writer(out, args.output.base(), style);
    let out: &mut dyn Write = &mut *text_out;
    let mut messages = message_writer(err);
    let err: &mut dyn Write = &mut messages;
    let print = ChainPrint::of(args);
    // Checked before connecting, so a bad SERVICE argument fails fast.
    let checked = ChainSelection::new(
        args.service.as_deref(),
        settings.namespace.as_deref(),
        settings.all_namespaces,
    )?;
    // A SERVICE that names its namespace is read there, not in the context's (a dump and the
    // demo hold every namespace anyway).
    let named = match (&checked.scope, &checked.service, &settings.namespace) {
        (chain::Scope::Namespace(named), Some(_), None)
            if !settings.all_namespaces && matches!(settings.source, Source::Live { .. }) =>
        {
            Some(settings.in_namespace(named))
        }
        _ => None,
    };
    let mut feed = sources.open(named.as_ref().unwrap_or(settings)).await?;
    print_notes(&feed, err);
    // A live source's default namespace is its context's, as in kubectl; only an explicit -n
    // conflicts with a SERVICE that names its namespace.
    let namespace = match settings.namespace.as_deref() {
        Some(flag) => Some(flag),
        None if named.is_some() => None,
        None => feed.label.namespace.as_deref(),
    };
    let selection =
        ChainSelection::new(args.service.as_deref(), namespace, settings.all_namespaces)?;
    let config = settings.engine_config();
    let snapshot = feed.snapshots.borrow_and_update().clone();
    if let Some(error) = missing_elsewhere(&feed, &snapshot, &selection).await {
        return Err(error.into());
    }
    if args.probe {
        return probe_and_print_chain(
            &mut feed,
            settings,
            &snapshot,
            &selection,
            args,
            style,
            (out, err),
        )
        .await;
    }
    if !args.watch {
        return print_chain(&snapshot, &config, &selection, print, style, out, err);
    }
    let mut first = Vec::new();
    let status = print_chain(
        &snapshot, &config, &selection, print, style, &mut first, err,
    )?;
    out.write_all(&first)?;
    out.flush()?;
    let view = ChainView {
        config: &config,
        selection: &selection,
        format: print,
        style,
    };
    Ok(watch_chain(&mut feed, &view, first, out, err)
        .await?
        .unwrap_or(status))
}

/// `chain --probe`: probes the selected Services, then prints them with their probe findings.
async fn probe_and_print_chain(
    feed: &mut SnapshotFeed,
    settings: &SourceSettings,
    snapshot: &ClusterSnapshot,
    selection: &ChainSelection,
    args: &ChainArgs,
    style: Style,
    (out, err): (&mut dyn Write, &mut dyn Write),
) -> Result<u8, CommandError> {
    let chains = ServiceChains::new(snapshot, &settings.engine_config());
    let mut selected = chain::select(&chains, selection)?;
    selected.only_broken = args.only == Some(OnlyHealth::Broken);
    let services = selected.service_keys();
    let (findings, dns) =
        super::probe_run::chain_probe_findings(feed, settings, snapshot, &services)
            .await
            .map_err(Box::new)?;
    selected.probe = Some(findings);
    selected.dns = dns;
    print_selected(
        &chains,
        &selected,
        selection,
        ChainPrint::of(args),
        style,
        out,
        err,
    )
}

/// A live source reads one namespace: a Service not there may exist in another, which only
/// the API can say (one list of Services by name). `Some` when it does.
async fn missing_elsewhere(
    feed: &SnapshotFeed,
    snapshot: &ClusterSnapshot,
    selection: &ChainSelection,
) -> Option<SelectionError> {
    let (Some(name), chain::Scope::Namespace(namespace), Some(api)) =
        (&selection.service, &selection.scope, &feed.api)
    else {
        return None;
    };
    let present = snapshot.services.iter().any(|service| {
        service.metadata.name.as_deref() == Some(name.as_str())
            && service.metadata.namespace.as_deref() == Some(namespace.as_str())
    });
    if present || feed.label.namespace.is_none() {
        return None;
    }
    let key = crate::engine::model::ServiceKey {
        namespace: namespace.clone(),
        name: name.clone(),
    };
    let hint = super::probe_run::elsewhere_hint(api, &key).await;
    (!hint.is_empty()).then(|| SelectionError::ServiceNotFound {
        name: name.clone(),
        scope: selection.scope.clone(),
        hint,
    })
}

/// How `chain` prints: the format (`-o`) and which Services (`--only`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChainPrint {
    pub format: ChainFormat,
    pub only: Option<OnlyHealth>,
}

impl ChainPrint {
    fn of(args: &ChainArgs) -> Self {
        Self {
            format: args.output,
            only: args.only,
        }
    }
}

impl From<OutputFormat> for ChainPrint {
    fn from(format: OutputFormat) -> Self {
        let format = match format {
            OutputFormat::Text => ChainFormat::Text,
            OutputFormat::Json => ChainFormat::Json,
            OutputFormat::Yaml => ChainFormat::Yaml,
        };
        Self { format, only: None }
    }
}

/// Prints the selected chains of one snapshot; returns the exit status.
pub fn print_chain(
    snapshot: &ClusterSnapshot,
    config: &EngineConfig,
    selection: &ChainSelection,
    print: impl Into<ChainPrint>,
    style: Style,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, CommandError> {
    // Each selected Service's chain is built, written and dropped in turn (streamed output).
    let chains = ServiceChains::new(snapshot, config);
    let mut selected = chain::select(&chains, selection)?;
    let print = print.into();
    selected.only_broken = print.only == Some(OnlyHealth::Broken);
    print_selected(&chains, &selected, selection, print, style, out, err)
}

/// Prints what was selected from `chains`; returns the exit status.
fn print_selected(
    chains: &ServiceChains<'_>,
    selected: &Selected<'_, '_>,
    selection: &ChainSelection,
    print: ChainPrint,
    style: Style,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, CommandError> {
    match print.format {
        ChainFormat::Text => chain::write_text(out, selected, style)?,
        ChainFormat::Wide => chain::write_wide(out, selected, style)?,
        ChainFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, selected)?;
            writeln!(out)?;
        }
        ChainFormat::Yaml => serde_saphyr::to_io_writer(&mut &mut *out, selected)?,
    }
    out.flush()?;
    if selected.is_empty() {
        let _ = writeln!(
            err,
            "{}",
            chain::nothing_found_message(chains, &selection.scope)
        );
    }
    Ok(if selected.has_errors() {
        EXIT_ERRORS_FOUND
    } else {
        EXIT_OK
    })
}

/// What `chain --watch` prints.
struct ChainView<'a> {
    config: &'a EngineConfig,
    selection: &'a ChainSelection,
    format: ChainPrint,
    style: Style,
}

/// How long `chain --watch` stays quiet while reconnecting before it says so again.
pub const STILL_RECONNECTING: Duration = Duration::from_secs(30);

/// What `chain --watch` says on standard error about the connection: one line when it is lost
/// (and for each new reason), one when it is back, a reminder every [`STILL_RECONNECTING`]
/// while it stays lost.
struct ConnectionReport {
    status: ConnectionStatus,
    /// The reasons already printed in this episode of reconnecting.
    reasons: HashSet<String>,
    /// When to remind, while reconnecting.
    remind_at: Option<Instant>,
}

impl ConnectionReport {
    fn new(status: ConnectionStatus) -> Self {
        ConnectionReport {
            status,
            reasons: HashSet::new(),
            remind_at: None,
        }
    }

    fn update(&mut self, status: ConnectionStatus, err: &mut dyn Write) -> io::Result<()> {
        let was_stale = self.status.is_stale();
        match &status {
            ConnectionStatus::Reconnecting { since, error } => {
                if !was_stale {
                    self.reasons.clear();
                    self.remind_at = Some(Instant::now() + STILL_RECONNECTING);
                }
                if self.reasons.insert(reason_key(error).to_owned()) {
                    let again = if self.reasons.len() > 1 { "still " } else { "" };
                    writeln!(
                        err,
                        "kubehop: {again}reconnecting since {} ({error})…",
                        utc_clock(*since)
                    )?;
                }
            }
            ConnectionStatus::Failed { error } => writeln!(err, "kubehop: disconnected: {error}")?,
            ConnectionStatus::Connected if was_stale => {
                self.remind_at = None;
                writeln!(err, "kubehop: connected")?;
            }
            _ => self.remind_at = None,
        }
        self.status = status;
        err.flush()
    }

    /// The reminder while reconnecting: since when, for how long, and why.
    fn remind(&mut self, err: &mut dyn Write) -> io::Result<()> {
        self.remind_at = Some(Instant::now() + STILL_RECONNECTING);
        if let ConnectionStatus::Reconnecting { since, error } = &self.status {
            let lasted = since.elapsed().unwrap_or_default().as_secs();
            writeln!(
                err,
                "kubehop: still reconnecting since {} ({lasted}s; {error})…",
                utc_clock(*since)
            )?;
        }
        err.flush()
    }

    /// Said after a chain printed while not connected: it may not be the cluster's state.
    fn stale_note(&self) -> Option<String> {
        match &self.status {
            ConnectionStatus::Reconnecting { since, .. } => Some(format!(
                "kubehop: the chain above was printed while reconnecting (since {}): it may be stale",
                utc_clock(*since)
            )),
            ConnectionStatus::Failed { .. } => Some(
                "kubehop: the chain above was printed while disconnected: it may be stale"
                    .to_owned(),
            ),
            _ => None,
        }
    }
}

/// A reason without the kind it was seen on ("watching pods: "): the same failure of several
/// kinds is reported once.
fn reason_key(error: &str) -> &str {
    error
        .split_once(": ")
        .filter(|(head, _)| head.starts_with("watching "))
        .map_or(error, |(_, rest)| rest)
}

/// Resolves at `at`; never without a moment.
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Reprints whenever a new snapshot changes the printed form, until the source closes, and
/// reports the connection on standard error ([`ConnectionReport`]); returns the last exit
/// status, if anything was printed again.
async fn watch_chain(
    feed: &mut SnapshotFeed,
    view: &ChainView<'_>,
    mut last: Vec<u8>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Option<u8>, CommandError> {
    let mut status = None;
    // The connection may have been lost since the first chain was printed: said at once then.
    let mut report = ConnectionReport::new(ConnectionStatus::Connected);
    report.update(feed.status.borrow_and_update().clone(), err)?;
    // A dump's status never changes: its channel is closed at once.
    let mut status_open = true;
    loop {
        tokio::select! {
            biased;
            changed = feed.status.changed(), if status_open => {
                if changed.is_err() {
                    status_open = false;
                    continue;
                }
                let now = feed.status.borrow_and_update().clone();
                report.update(now, err)?;
            }
            changed = feed.snapshots.changed() => {
                if changed.is_err() {
                    break;
                }
                let snapshot = feed.snapshots.borrow_and_update().clone();
                if let Some(code) = reprint(&snapshot, view, &mut last, out, err)? {
                    status = Some(code);
                    if let Some(note) = report.stale_note() {
                        writeln!(err, "{note}")?;
                    }
                }
            }
            () = until(report.remind_at) => report.remind(err)?,
        }
    }
    Ok(status)
}

/// Prints `snapshot`'s chains when they differ from `last`; their exit status if printed.
fn reprint(
    snapshot: &ClusterSnapshot,
    view: &ChainView<'_>,
    last: &mut Vec<u8>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Option<u8>, CommandError> {
    // Like `kubectl get -w`, print only when something shown changed.
    let mut rendered = Vec::new();
    let mut notes = Vec::new();
    let code = print_chain(
        snapshot,
        view.config,
        view.selection,
        view.format,
        view.style,
        &mut rendered,
        &mut notes,
    )?;
    if rendered == *last {
        return Ok(None);
    }
    if view.format.format.base() == OutputFormat::Text {
        writeln!(out)?;
    }
    out.write_all(&rendered)?;
    out.flush()?;
    err.write_all(&notes)?;
    *last = rendered;
    Ok(Some(code))
}

/// `kubehop route` with explicit writers; returns the exit status (0 for any decision).
pub async fn run_route(
    sources: &Sources,
    settings: &SourceSettings,
    args: &RouteArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
    style: Style,
) -> Result<u8, CommandError> {
    let mut text_out = output_writer(out, args.output, style);
    let out: &mut dyn Write = &mut *text_out;
    let mut messages = message_writer(err);
    let err: &mut dyn Write = &mut messages;
    let target = route::parse_target(&args.destination, &settings.cluster_domain)?;
    let flag_namespace = settings.namespace.clone();
    // An IP:PORT is cluster-wide: every namespace is read, whatever -n or the context says.
    let settings = &SourceSettings {
        all_namespaces: true,
        ..settings.clone()
    };
    let mut feed = sources.open(settings).await?;
    print_notes(&feed, err);
    let snapshot = feed.snapshots.borrow_and_update().clone();
    let model = build(&snapshot, &settings.engine_config());
    let destination = match &target {
        route::RouteTarget::Address(destination) => *destination,
        // A Service without a namespace is in -n's, else the context's, as in kubectl.
        route::RouteTarget::Service(service) => {
            let namespace = flag_namespace
                .or_else(|| feed.label.namespace.clone())
                .unwrap_or_else(|| "default".to_owned());
            route::resolve_service(&model, service, &namespace)?
        }
    };
    if let Some(answer) = gateway_answer(&snapshot, &model, &destination, args) {
        match args.output {
            OutputFormat::Text => super::route_gateway::write_text(out, &answer)?,
            OutputFormat::Json => {
                serde_json::to_writer_pretty(&mut *out, &answer)?;
                writeln!(out)?;
            }
            OutputFormat::Yaml => out.write_all(serde_saphyr::to_string(&answer)?.as_bytes())?,
        }
        out.flush()?;
        let routed = super::route_gateway::routed(&answer);
        return Ok(if routed { EXIT_OK } else { EXIT_ERRORS_FOUND });
    }
    let query = route::query(&model, destination, args.from.as_deref(), args.source_ip)?;
    let decision = model.route(&query);
    let policy = route_policy::evaluate(&model, &query, &decision, args.from.as_deref())?;
    match args.output {
        OutputFormat::Text => route::write_text(out, &query, &decision, policy.as_ref(), style)?,
        // Without NetworkPolicies the answer is the decision alone, as before.
        OutputFormat::Json => {
            match &policy {
                Some(policy) => serde_json::to_writer_pretty(
                    &mut *out,
                    &route_policy::RouteWithPolicy {
                        decision: &decision,
                        policy,
                    },
                )?,
                None => serde_json::to_writer_pretty(&mut *out, &decision)?,
            }
            writeln!(out)?;
        }
        OutputFormat::Yaml => {
            let text = match &policy {
                Some(policy) => serde_saphyr::to_string(&route_policy::RouteWithPolicy {
                    decision: &decision,
                    policy,
                })?,
                None => serde_saphyr::to_string(&decision)?,
            };
            out.write_all(text.as_bytes())?;
        }
    }
    out.flush()?;
    Ok(EXIT_OK)
}

/// The Gateway answer when the destination is a Gateway's address (GW5, GW6).
fn gateway_answer(
    snapshot: &ClusterSnapshot,
    model: &crate::engine::ProxyModel,
    destination: &route::Destination,
    args: &RouteArgs,
) -> Option<super::route_gateway::GatewayAnswer> {
    if snapshot.gateway_api.gateways.is_empty() {
        return None;
    }
    let host = args.host.as_deref().unwrap_or("");
    let mut request = crate::engine::gateway::HttpRequest::new(&args.method, host, &args.path);
    for header in &args.headers {
        let (name, value) = header.split_once('=').unwrap_or((header, ""));
        request = request.with_header(name, value);
    }
    super::route_gateway::answer(snapshot, model, destination, &request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn reconnecting(error: &str) -> ConnectionStatus {
        ConnectionStatus::Reconnecting {
            // 12:03:04 UTC
            since: UNIX_EPOCH + Duration::from_secs(12 * 3600 + 3 * 60 + 4),
            error: error.to_owned(),
        }
    }

    #[test]
    fn chain_watch_says_when_the_connection_is_lost_and_back() {
        let mut report = ConnectionReport::new(ConnectionStatus::Connected);
        let mut err = Vec::new();
        for status in [
            reconnecting("watching pods: refused"),
            // The same failure on another kind, then again: nothing new to say.
            reconnecting("watching nodes: refused"),
            reconnecting("watching pods: refused"),
            reconnecting("the kubeconfig changed; connecting again"),
            ConnectionStatus::Connected,
            ConnectionStatus::Connected,
        ] {
            report.update(status, &mut err).expect("write");
        }
        assert_eq!(
            String::from_utf8(err).expect("UTF-8"),
            "kubehop: reconnecting since 12:03:04 UTC (watching pods: refused)…\n\
             kubehop: still reconnecting since 12:03:04 UTC (the kubeconfig changed; connecting again)…\n\
             kubehop: connected\n"
        );
    }

    #[test]
    fn a_chain_printed_while_reconnecting_is_marked_and_reminded_of() {
        let mut report = ConnectionReport::new(ConnectionStatus::Connected);
        assert_eq!(report.stale_note(), None);
        assert_eq!(report.remind_at, None);
        let mut err = Vec::new();
        report
            .update(reconnecting("watching pods: refused"), &mut err)
            .expect("write");
        assert!(report.remind_at.is_some(), "reminds while reconnecting");
        let note = report.stale_note().expect("stale");
        assert!(note.contains("may be stale"), "{note}");
        err.clear();
        report.remind(&mut err).expect("write");
        let reminder = String::from_utf8(err).expect("UTF-8");
        assert!(
            reminder.starts_with("kubehop: still reconnecting since 12:03:04 UTC ("),
            "{reminder}"
        );
        let mut err = Vec::new();
        report
            .update(ConnectionStatus::Connected, &mut err)
            .expect("write");
        assert_eq!(report.remind_at, None);
    }
}
