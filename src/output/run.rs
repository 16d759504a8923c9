//! The `chain` and `route` commands: source settings → [`SnapshotFeed`] → engine → printed
//! form.
//!
//! Both read their snapshot from a feed, so a live source can drive them: `chain --watch`
//! prints again for every new snapshot (a dump publishes one and closes, so it prints once).

use std::io::{self, BufWriter, Write};

use super::chain::{self, ChainSelection, SelectionError};
use super::route::{self, RouteInputError};
use super::style::Style;
use crate::cli::{ChainArgs, OutputFormat, RouteArgs};
use crate::cluster::feed::SnapshotFeed;
use crate::cluster::{ClusterError, ClusterSnapshot, SourceSettings, Sources};
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

/// Why a command could not run; printed as `kubehop: {error}`, exit 2 ([`CommandError::exit_code`]).
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
        let _ = writeln!(err, "kubehop: note: {note}");
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
    let mut text_out = output_writer(out, args.output, style);
    let out: &mut dyn Write = &mut *text_out;
    let mut messages = message_writer(err);
    let err: &mut dyn Write = &mut messages;
    // Checked before connecting, so a bad SERVICE argument fails fast.
    ChainSelection::new(
        args.service.as_deref(),
        settings.namespace.as_deref(),
        settings.all_namespaces,
    )?;
    let mut feed = sources.open(settings).await?;
    print_notes(&feed, err);
    // A live source's default namespace is its context's, as in kubectl.
    let namespace = settings
        .namespace
        .as_deref()
        .or(feed.label.namespace.as_deref());
    let selection =
        ChainSelection::new(args.service.as_deref(), namespace, settings.all_namespaces)?;
    let config = settings.engine_config();
    let snapshot = feed.snapshots.borrow_and_update().clone();
    if !args.watch {
        return print_chain(&snapshot, &config, &selection, args.output, style, out, err);
    }
    let mut first = Vec::new();
    let status = print_chain(
        &snapshot,
        &config,
        &selection,
        args.output,
        style,
        &mut first,
        err,
    )?;
    out.write_all(&first)?;
    out.flush()?;
    let view = ChainView {
        config: &config,
        selection: &selection,
        format: args.output,
        style,
    };
    Ok(watch_chain(&mut feed, &view, first, out, err)
        .await?
        .unwrap_or(status))
}

/// Prints the selected chains of one snapshot; returns the exit status.
pub fn print_chain(
    snapshot: &ClusterSnapshot,
    config: &EngineConfig,
    selection: &ChainSelection,
    format: OutputFormat,
    style: Style,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, CommandError> {
    // Each selected Service's chain is built, written and dropped in turn (streamed output).
    let chains = ServiceChains::new(snapshot, config);
    let selected = chain::select(&chains, selection)?;
    match format {
        OutputFormat::Text => chain::write_text(out, &selected, style)?,
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &selected)?;
            writeln!(out)?;
        }
        OutputFormat::Yaml => serde_saphyr::to_io_writer(&mut &mut *out, &selected)?,
    }
    out.flush()?;
    if selected.is_empty() {
        let _ = writeln!(
            err,
            "{}",
            chain::nothing_found_message(&chains, &selection.scope)
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
    format: OutputFormat,
    style: Style,
}

/// Reprints whenever a new snapshot changes the printed form, until the source closes; returns
/// the last exit status, if anything was printed again.
async fn watch_chain(
    feed: &mut SnapshotFeed,
    view: &ChainView<'_>,
    mut last: Vec<u8>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Option<u8>, CommandError> {
    let mut status = None;
    while feed.snapshots.changed().await.is_ok() {
        let snapshot = feed.snapshots.borrow_and_update().clone();
        // Like `kubectl get -w`, print only when something shown changed.
        let mut rendered = Vec::new();
        let mut notes = Vec::new();
        let code = print_chain(
            &snapshot,
            view.config,
            view.selection,
            view.format,
            view.style,
            &mut rendered,
            &mut notes,
        )?;
        if rendered == last {
            continue;
        }
        if view.format == OutputFormat::Text {
            writeln!(out)?;
        }
        out.write_all(&rendered)?;
        out.flush()?;
        err.write_all(&notes)?;
        last = rendered;
        status = Some(code);
    }
    Ok(status)
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
    let destination = route::parse_destination(&args.destination)?;
    // An IP:PORT is cluster-wide: every namespace is read, whatever -n or the context says.
    let settings = &SourceSettings {
        all_namespaces: true,
        ..settings.clone()
    };
    let mut feed = sources.open(settings).await?;
    print_notes(&feed, err);
    let snapshot = feed.snapshots.borrow_and_update().clone();
    let model = build(&snapshot, &settings.engine_config());
    let query = route::query(&model, destination, args.from.as_deref(), args.source_ip)?;
    let decision = model.route(&query);
    match args.output {
        OutputFormat::Text => route::write_text(out, &query, &decision, style)?,
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &decision)?;
            writeln!(out)?;
        }
        OutputFormat::Yaml => {
            let text = serde_saphyr::to_string(&decision)?;
            out.write_all(text.as_bytes())?;
        }
    }
    out.flush()?;
    Ok(EXIT_OK)
}
