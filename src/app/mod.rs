//! The TUI event loop and its state. The only module that wires the others together.
//!
//! One owner: [`run`] owns the [`AppState`]. It waits (`tokio::select!`) on terminal input, the
//! source's snapshot and status channels, results of background work, and a tick that exists
//! only while something animates. Each event goes through [`update::update`], which is pure and
//! returns [`Command`]s; the loop performs them (the engine runs on a blocking thread) and draws
//! only when the state says something visible changed, after draining whatever input is
//! already queued. No fixed-rate redraw, no polling. After a frame, the scroll offsets as
//! drawn go back into the state ([`AppState::settle_scroll`]). The theme in [`RunOptions`],
//! the draw call and that write-back are the app's only contact with [`crate::ui`]; nothing
//! in `update` asks the UI anything.
//!
//! Where things are:
//!
//! | what                                        | module                     |
//! |---------------------------------------------|----------------------------|
//! | the state, grouped by concern               | [`state`]                  |
//! | events in, side effects out                 | [`event`], [`command`]     |
//! | snapshots and models, the entry of `update` | [`mod@update`]             |
//! | what each key's [`Action`] does             | [`keymap`], [`action`], `normal.rs` |
//! | keys in the input modes and boxes           | `input.rs`, `command_line.rs` (`:`) |
//! | moving, paging, the chain tree; the mouse   | `navigate.rs`, `mouse.rs`  |
//! | the screen's areas (paging, hit tests)      | [`layout`]                 |
//! | the chain outline, the model catalog        | [`chain`], [`catalog`]     |
//! | probe runs and port-forwards                | [`probe`], [`forwards`]    |
//! | the drill-down pages (`d`, `l`, `y`, lists) | [`drill`], `drill_keys.rs`, `lists.rs`, `inspect.rs` (its reads) |

pub mod action;
pub mod catalog;
pub mod chain;
pub mod command;
mod command_line;
pub mod dns;
pub mod drill;
mod drill_keys;
pub mod event;
mod filter;
pub mod forwards;
pub mod gateways;
mod input;
pub mod inspect;
pub mod keymap;
pub mod layout;
mod lists;
mod mouse;
mod navigate;
mod normal;
pub mod probe;
pub mod state;
pub mod update;

use std::future::pending;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use color_eyre::eyre::WrapErr;
use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use tokio::sync::{mpsc, watch};

pub use action::{Action, DetailTab};
pub use catalog::{Catalog, CatalogBuilder, Generation, build_catalog};
pub use command::Command;
pub use event::AppEvent;
use probe::RunId;
pub use state::{AppState, Focus, Mode, Size, SourceKind};
pub use update::update;

use crate::cluster::feed::SnapshotFeed;
use crate::engine::EngineConfig;
use crate::ui::theme::Theme;

/// How often fading highlights are redrawn while any is visible.
pub const ANIMATION_TICK: Duration = Duration::from_millis(250);

/// At most this many queued input events are applied before a frame is drawn.
const MAX_DRAIN: usize = 256;

/// Restarts the source on another kubeconfig context (`:ctx NAME`); the live source provides
/// it. The error text is shown on the status line.
pub type ContextSwitcher = Box<dyn FnMut(&str) -> Result<SnapshotFeed, String> + Send>;

/// How the app runs.
pub struct RunOptions {
    pub source: SourceKind,
    pub engine_config: EngineConfig,
    pub theme: Theme,
    pub switch_context: Option<ContextSwitcher>,
    /// The kubeconfig's context names, for `:ctx` (empty for a dump or the demo).
    pub contexts: Vec<String>,
    /// How `p`/`P` connect (port-forwards through the API, direct connections within a
    /// network scope); `None` when the source has no cluster to connect to.
    pub prober: Option<Arc<crate::probe::Transports>>,
    pub probe_options: crate::probe::ProbeOptions,
    /// How the drill-down reads objects, Events and logs on demand; `None` for a dump.
    pub inspector: Option<crate::cluster::inspect::Inspector>,
}

impl RunOptions {
    pub fn new(source: SourceKind, engine_config: EngineConfig) -> Self {
        Self {
            source,
            engine_config,
            theme: Theme::from_env(),
            switch_context: None,
            contexts: Vec::new(),
            prober: None,
            probe_options: crate::probe::ProbeOptions::default(),
            inspector: None,
        }
    }
}

/// How the drill-down reads `feed`'s cluster on demand (a client following the source's
/// kubeconfig switches). `None` for a dump. Call it inside a tokio runtime.
pub fn inspector_for(feed: &SnapshotFeed) -> Option<crate::cluster::inspect::Inspector> {
    let config = feed.api.clone()?;
    let clients =
        crate::cluster::connector::following_clients(config, feed.api_changes.clone()).ok()?;
    Some(crate::cluster::inspect::Inspector::new(clients))
}

/// How probes and forwards reach `feed`'s cluster: port-forwards through its API server and
/// direct connections within the source's network scope. `None` for a dump. Call it inside a
/// tokio runtime (the client's request buffer runs there).
pub fn transports_for(
    feed: &SnapshotFeed,
    source: SourceKind,
) -> Option<Arc<crate::probe::Transports>> {
    let config = feed.api.clone()?;
    // Probes bound each hop themselves; clients follow the source's kubeconfig switches.
    let clients =
        crate::cluster::connector::following_clients(config, feed.api_changes.clone()).ok()?;
    let scope = match source {
        SourceKind::Demo => crate::probe::NetworkScope::LoopbackOnly,
        _ => crate::probe::NetworkScope::cluster_from_environment(),
    };
    Some(Arc::new(crate::probe::Transports::following(
        clients, scope,
    )))
}

/// Runs the TUI over a snapshot feed until the user quits. The terminal is restored on every
/// way out (return, error, panic).
pub async fn run(feed: SnapshotFeed, options: RunOptions) -> color_eyre::Result<()> {
    let terminal = crate::terminal::Terminal::enter().wrap_err("terminal setup")?;
    run_in(terminal, feed, options, None).await
}

/// Paints `first` at once (its `starting` says what is being waited for), then waits for
/// `open` while q, Esc and Ctrl-C still quit; once the source is open, runs the TUI over it
/// with the options `options` gives for its feed. `Ok(Err(_))` is the source's error (the
/// terminal is restored first); `Ok(Ok(()))` the user quitting.
pub async fn run_opening<E>(
    mut first: AppState,
    open: impl std::future::Future<Output = Result<SnapshotFeed, E>>,
    options: impl FnOnce(&SnapshotFeed) -> RunOptions,
    theme: &Theme,
) -> color_eyre::Result<Result<(), E>> {
    let mut terminal = crate::terminal::Terminal::enter().wrap_err("terminal setup")?;
    first.size = terminal.size().wrap_err("terminal size")?;
    let mut input = EventStream::new();
    tokio::pin!(open);
    let feed = loop {
        terminal
            .draw(&first, theme, Instant::now())
            .wrap_err("drawing a frame")?;
        tokio::select! {
            result = &mut open => match result {
                Ok(feed) => break feed,
                Err(error) => {
                    terminal.restore().wrap_err("terminal restore")?;
                    return Ok(Err(error));
                }
            },
            event = input.next() => match event.and_then(Result::ok).and_then(translate) {
                Some(AppEvent::Resize { width, height }) => first.size = Size { width, height },
                Some(AppEvent::Key(key)) if opening_quits(&key) => {
                    terminal.restore().wrap_err("terminal restore")?;
                    return Ok(Ok(()));
                }
                _ => {}
            },
        }
    };
    drop(input);
    let options = options(&feed);
    // The box stays until the first model is drawn.
    run_in(terminal, feed, options, first.starting)
        .await
        .map(Ok)
}

/// q, Esc and Ctrl-C leave while the source is still opening.
fn opening_quits(key: &crossterm::event::KeyEvent) -> bool {
    use crossterm::event::{KeyCode, KeyModifiers};
    key.kind != crossterm::event::KeyEventKind::Release
        && match key.code {
            KeyCode::Char('q') | KeyCode::Esc => true,
            KeyCode::Char('c') => key.modifiers.contains(KeyModifiers::CONTROL),
            _ => false,
        }
}

async fn run_in(
    mut terminal: crate::terminal::Terminal,
    feed: SnapshotFeed,
    options: RunOptions,
    starting: Option<String>,
) -> color_eyre::Result<()> {
    let size = terminal.size().wrap_err("terminal size")?;
    let mut state = AppState::new(
        feed.label.clone(),
        options.source,
        options.engine_config.clone(),
        size,
    );
    state.starting = starting;
    state.contexts = options.contexts.clone();
    state.probe.unavailable = match (&options.prober, options.source) {
        (Some(_), _) => None,
        (None, SourceKind::Dump) => Some(
            "probing needs a live cluster, and this source is a dump (use --demo or a kubeconfig context)"
                .to_owned(),
        ),
        (None, _) => Some("no way to connect to this cluster's hops".to_owned()),
    };
    state.forwards.unavailable = match options.prober.as_ref().map(|p| p.port_forward.is_some()) {
        Some(true) => None,
        _ if options.source == SourceKind::Dump => Some(
            "forwarding needs a live cluster, and this source is a dump (use --demo or a kubeconfig context)"
                .to_owned(),
        ),
        _ => Some("no port-forward transport for this cluster".to_owned()),
    };
    state.drill.unavailable = match (&options.inspector, options.source) {
        (Some(_), _) => None,
        (None, SourceKind::Dump) => Some(
            "a dump has no Events, logs or fresh reads (use --demo or a kubeconfig context)"
                .to_owned(),
        ),
        (None, _) => Some("no way to read this cluster on demand".to_owned()),
    };
    let result = event_loop(&mut terminal, state, feed, options).await;
    terminal.restore().wrap_err("terminal restore")?;
    result
}

async fn changed<T: Clone>(receiver: &mut Option<watch::Receiver<T>>) -> Option<T> {
    match receiver {
        Some(inner) => match inner.changed().await {
            Ok(()) => Some(inner.borrow_and_update().clone()),
            Err(_) => None,
        },
        None => pending().await,
    }
}

async fn tick(ticker: &mut Option<tokio::time::Interval>) -> Instant {
    match ticker {
        Some(ticker) => ticker.tick().await.into_std(),
        None => pending().await,
    }
}

fn translate(event: Event) -> Option<AppEvent> {
    match event {
        Event::Key(key) => Some(AppEvent::Key(key)),
        Event::Mouse(mouse) => Some(AppEvent::Mouse(mouse)),
        Event::Resize(width, height) => Some(AppEvent::Resize { width, height }),
        _ => None,
    }
}

struct Loop {
    results: mpsc::UnboundedSender<AppEvent>,
    /// The probe run in progress; dropping it aborts the run.
    probe: Option<crate::probe::ProbeHandle>,
    /// Running forwards; dropping one stops it, and all stop with the loop.
    forwards: std::collections::HashMap<forwards::ForwardId, crate::forward::ForwardHandle>,
    /// On-demand reads in progress (log streams run until their page closes).
    inspections: std::collections::HashMap<drill::RequestId, tokio::task::AbortHandle>,
    /// DNS checks in flight (each ends on its own, bounded by its timeouts).
    dns_checks: Vec<tokio::task::AbortHandle>,
    snapshots: Option<watch::Receiver<Arc<crate::cluster::ClusterSnapshot>>>,
    statuses: Option<watch::Receiver<crate::cluster::feed::ConnectionStatus>>,
    options: RunOptions,
    /// Texts to put on the clipboard, written to the terminal before the next frame.
    copies: Vec<String>,
    /// Keeps the engine's model across snapshots (one build at a time, so never contended).
    catalogs: Arc<std::sync::Mutex<CatalogBuilder>>,
}

impl Loop {
    /// Applies an event and performs the commands it returns. `false` = quit.
    fn handle(&mut self, state: &mut AppState, event: AppEvent) -> bool {
        let commands = update(state, event);
        for command in commands {
            match command {
                Command::Quit => return false,
                Command::BuildModel {
                    snapshot,
                    generation,
                } => self.build_model(snapshot, generation),
                Command::SwitchContext(name) => self.switch_context(state, &name),
                Command::RunProbe { run, plan, dns, .. } => {
                    self.run_probe(state, run, &plan);
                    if let Some(request) = dns {
                        self.check_dns(&request);
                    }
                }
                Command::CancelProbe { run } => {
                    if self
                        .probe
                        .as_ref()
                        .is_some_and(|handle| handle.run() == run)
                    {
                        self.probe = None;
                    }
                }
                Command::StartForward { id, request } => {
                    let update = match self.start_forward(id, &request) {
                        Ok(handle) => {
                            let listening = handle.listening().to_vec();
                            self.forwards.insert(id, handle);
                            forwards::ForwardUpdate::Started(listening)
                        }
                        Err(error) => forwards::ForwardUpdate::StartFailed(error),
                    };
                    let _ = self.results.send(AppEvent::Forward { id, update });
                }
                Command::StopForward { id } => {
                    self.forwards.remove(&id);
                }
                Command::Inspect { id, request } => self.inspect(id, request),
                Command::StopInspect { id } => {
                    if let Some(handle) = self.inspections.remove(&id) {
                        handle.abort();
                    }
                }
                Command::Copy(text) => self.copies.push(text),
            }
        }
        !state.quit
    }

    /// Builds the model on a blocking thread; the catalog comes back as `ModelBuilt`.
    fn build_model(&self, snapshot: Arc<crate::cluster::ClusterSnapshot>, generation: Generation) {
        let catalogs = self.catalogs.clone();
        let results = self.results.clone();
        tokio::spawn(async move {
            let built = tokio::task::spawn_blocking(move || {
                let mut catalogs = catalogs.lock().unwrap_or_else(|poisoned| {
                    // A build panicked half-way: start again from a full build.
                    let mut catalogs = poisoned.into_inner();
                    catalogs.reset();
                    catalogs
                });
                catalogs.build(snapshot, generation)
            })
            .await;
            let event = match built {
                Ok(catalog) => AppEvent::ModelBuilt {
                    catalog: Arc::new(catalog),
                    at: Instant::now(),
                },
                Err(error) => {
                    AppEvent::Notice(format!("the engine failed on this snapshot: {error}"))
                }
            };
            // The receiver is gone only when the app is quitting.
            let _ = results.send(event);
        });
    }

    /// `:ctx NAME`: restarts the source on another context. Probes and forwards stop, as they
    /// belong to the previous cluster.
    fn switch_context(&mut self, state: &mut AppState, name: &str) {
        let Some(switch) = self.options.switch_context.as_mut() else {
            state.set_message("this source cannot switch contexts", true);
            return;
        };
        let feed = match switch(name) {
            Ok(feed) => feed,
            Err(error) => {
                state.set_message(format!("context {name}: {error}"), true);
                return;
            }
        };
        self.probe = None;
        for (_, handle) in self.inspections.drain() {
            handle.abort();
        }
        if self.options.inspector.is_some() {
            self.options.inspector = inspector_for(&feed);
        }
        for id in std::mem::take(&mut self.forwards).into_keys() {
            let update =
                forwards::ForwardUpdate::Stopped(format!("stopped: the context changed to {name}"));
            let _ = self.results.send(AppEvent::Forward { id, update });
        }
        if self.options.prober.is_some() {
            self.options.prober = transports_for(&feed, self.options.source);
        }
        state.label = feed.label.clone();
        self.snapshots = Some(feed.snapshots.clone());
        self.statuses = Some(feed.status.clone());
        let snapshot = feed.snapshots.borrow().clone();
        let status = feed.status.borrow().clone();
        let _ = self.results.send(AppEvent::Status(status));
        let _ = self.results.send(AppEvent::Snapshot(snapshot));
        state.set_message(format!("context {name}"), false);
    }

    /// Starts a probe run; its events come back as `AppEvent::Probe`.
    fn run_probe(
        &mut self,
        state: &mut AppState,
        run: RunId,
        plan: &crate::engine::plan::ProbePlan,
    ) {
        match self.options.prober.clone() {
            Some(transports) => {
                let results = self.results.clone();
                let mut options = self.options.probe_options.clone();
                // Listeners the sandbox could not open are not reachable here.
                if let Some(catalog) = state.shown() {
                    options.unbound =
                        crate::engine::unbound::Unbound::from_snapshot(&catalog.snapshot);
                }
                self.probe = Some(crate::probe::spawn(
                    run,
                    plan.clone(),
                    transports,
                    options,
                    move |event| results.send(AppEvent::Probe(event)).is_ok(),
                ));
            }
            None => {
                state.probe.cancel();
                state.set_message("probing is not available for this source", true);
            }
        }
    }

    /// Starts a DNS check; it comes back as `AppEvent::Dns`. Without a port-forward transport
    /// there is nothing to ask with, and the DNS tab keeps showing the records alone.
    fn check_dns(&mut self, request: &dns::DnsRequest) {
        let Some(dialer) = self
            .options
            .prober
            .as_ref()
            .and_then(|transports| transports.port_forward.clone())
        else {
            return;
        };
        let results = self.results.clone();
        let request = request.clone();
        let task = tokio::spawn(async move {
            let transport = crate::probe::dns::PortForwardDns(dialer);
            let options = crate::probe::dns::DnsOptions::default();
            let check =
                crate::probe::dns::check(&request.server, &request.lookups, &transport, &options)
                    .await;
            let _ = results.send(AppEvent::Dns {
                service: request.service,
                check: Box::new(check),
            });
        });
        self.dns_checks.push(task.abort_handle());
        self.dns_checks.retain(|handle| !handle.is_finished());
    }

    /// Starts an on-demand read; its answer comes back as `AppEvent::Inspected`.
    fn inspect(&mut self, id: drill::RequestId, request: drill::InspectRequest) {
        let Some(inspector) = self.options.inspector.clone() else {
            return;
        };
        self.inspections.retain(|_, handle| !handle.is_finished());
        let results = self.results.clone();
        let task = tokio::spawn(inspect::run(inspector, request, move |answer| {
            results.send(AppEvent::Inspected { id, answer }).is_ok()
        }));
        self.inspections.insert(id, task.abort_handle());
    }

    /// Starts a forward over the source's snapshots; its events come back as
    /// `AppEvent::Forward`.
    fn start_forward(
        &self,
        id: forwards::ForwardId,
        request: &crate::forward::ForwardRequest,
    ) -> Result<crate::forward::ForwardHandle, String> {
        let dialer = self
            .options
            .prober
            .as_ref()
            .and_then(|transports| transports.port_forward.clone())
            .ok_or_else(|| "no port-forward transport for this cluster".to_owned())?;
        let snapshots = self
            .snapshots
            .clone()
            .ok_or_else(|| "the source has stopped".to_owned())?;
        let options = crate::forward::ForwardOptions {
            engine: self.options.engine_config.clone(),
            ..crate::forward::ForwardOptions::default()
        };
        let results = self.results.clone();
        crate::forward::start(request, snapshots, dialer, options, move |event| {
            // The receiver is gone only when the app is quitting.
            let _ = results.send(AppEvent::Forward {
                id,
                update: forwards::ForwardUpdate::Event(event),
            });
        })
        .map_err(|error| error.to_string())
    }
}

async fn event_loop(
    terminal: &mut crate::terminal::Terminal,
    mut state: AppState,
    feed: SnapshotFeed,
    options: RunOptions,
) -> color_eyre::Result<()> {
    let theme = options.theme.clone();
    let (results, mut results_rx) = mpsc::unbounded_channel();
    let mut input = EventStream::new();
    state.notes = feed.notes.clone();
    let mut control = Loop {
        results,
        probe: None,
        forwards: std::collections::HashMap::new(),
        inspections: std::collections::HashMap::new(),
        dns_checks: Vec::new(),
        snapshots: Some(feed.snapshots.clone()),
        statuses: Some(feed.status.clone()),
        catalogs: Arc::new(std::sync::Mutex::new(CatalogBuilder::new(
            &options.engine_config,
        ))),
        options,
        copies: Vec::new(),
    };
    let initial_status = feed.status.borrow().clone();
    let initial_snapshot = feed.snapshots.borrow().clone();
    drop(feed);
    control.handle(&mut state, AppEvent::Status(initial_status));
    control.handle(&mut state, AppEvent::Snapshot(initial_snapshot));
    let mut ticker: Option<tokio::time::Interval> = None;
    loop {
        for text in control.copies.drain(..) {
            terminal.copy(&text).wrap_err("writing to the clipboard")?;
        }
        if state.dirty {
            state.dirty = false;
            state.wall_clock = Some(std::time::SystemTime::now());
            let drawn = terminal
                .draw(&state, &theme, Instant::now())
                .wrap_err("drawing a frame")?;
            state.settle_scroll(drawn);
        }
        keep_ticker(&mut ticker, state.animating(Instant::now()));
        let event = tokio::select! {
            next = input.next() => match next {
                Some(Ok(event)) => translate(event),
                Some(Err(error)) => return Err(error).wrap_err("reading terminal input"),
                None => return Ok(()),
            },
            snapshot = changed(&mut control.snapshots) => match snapshot {
                Some(snapshot) => Some(AppEvent::Snapshot(snapshot)),
                None => { control.snapshots = None; None }
            },
            status = changed(&mut control.statuses) => match status {
                Some(status) => Some(AppEvent::Status(status)),
                None => { control.statuses = None; None }
            },
            Some(result) = results_rx.recv() => Some(result),
            now = tick(&mut ticker) => Some(AppEvent::Tick(now)),
        };
        if let Some(event) = event
            && !control.handle(&mut state, event)
        {
            return Ok(());
        }
        if !drain_queued(&mut control, &mut state, &mut input, &mut results_rx).await? {
            return Ok(());
        }
    }
}

/// The tick exists only while something animates.
fn keep_ticker(ticker: &mut Option<tokio::time::Interval>, animating: bool) {
    match (animating, ticker.is_some()) {
        (true, false) => {
            let mut interval = tokio::time::interval(ANIMATION_TICK);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            *ticker = Some(interval);
        }
        (false, true) => *ticker = None,
        _ => {}
    }
}

/// Applies what is already queued (input, then results), at most [`MAX_DRAIN`] events, so a
/// burst is drawn once. `false` = quit.
async fn drain_queued(
    control: &mut Loop,
    state: &mut AppState,
    input: &mut EventStream,
    results_rx: &mut mpsc::UnboundedReceiver<AppEvent>,
) -> color_eyre::Result<bool> {
    for _ in 0..MAX_DRAIN {
        // `poll!` polls with this task's own waker: crossterm's EventStream keeps the first
        // waker it is given while it waits, so a no-op waker (`now_or_never`) would leave
        // the loop deaf to input.
        let queued = match futures::poll!(input.next()) {
            Poll::Ready(Some(Ok(event))) => translate(event),
            Poll::Ready(Some(Err(error))) => {
                return Err(error).wrap_err("reading terminal input");
            }
            Poll::Ready(None) => return Ok(false),
            Poll::Pending => match results_rx.try_recv() {
                Ok(result) => Some(result),
                Err(_) => break,
            },
        };
        if let Some(event) = queued
            && !control.handle(state, event)
        {
            return Ok(false);
        }
    }
    Ok(true)
}
