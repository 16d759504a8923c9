//! The app's state, grouped by concern. One owner (the loop in [`super::run`]); background
//! tasks only send values.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::action::DetailTab;
use super::catalog::{Catalog, Generation, Health};
use super::chain::{self, NodePath, Outline, OutlineNode};
use super::drill::DrillState;
use super::forwards::{ForwardsState, PortChoice};
use super::layout::Areas;
use super::probe::ProbeState;
use crate::cluster::ClusterSnapshot;
use crate::cluster::feed::{ConnectionStatus, SourceLabel};
use crate::engine::EngineConfig;
use crate::engine::model::{ServiceChain, ServiceKey};
use crate::engine::netpol::SourceChoice;

/// How long a changed Service row stays highlighted.
pub const CHANGE_HIGHLIGHT: Duration = Duration::from_millis(2_000);

/// Where the data comes from, which decides what `:ctx` can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Dump,
    Demo,
    Live,
}

/// The pane that receives movement keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Focus {
    /// The header: Space/Enter pauses.
    Header,
    #[default]
    Services,
    Chain,
    /// Explain: scrolled with the movement keys.
    Explain,
    Details,
}

impl Focus {
    /// Tab's order: the panes, never the header (a click focuses it).
    pub fn next(self) -> Focus {
        match self {
            Focus::Header | Focus::Details => Focus::Services,
            Focus::Services => Focus::Chain,
            Focus::Chain => Focus::Explain,
            Focus::Explain => Focus::Details,
        }
    }

    pub fn previous(self) -> Focus {
        match self {
            Focus::Header | Focus::Services => Focus::Details,
            Focus::Chain => Focus::Services,
            Focus::Explain => Focus::Chain,
            Focus::Details => Focus::Explain,
        }
    }

    /// `h`: the pane one step back towards the Services list.
    pub fn back(self) -> Focus {
        match self {
            Focus::Header | Focus::Services | Focus::Chain => Focus::Services,
            Focus::Explain | Focus::Details => Focus::Chain,
        }
    }
}

/// What the keyboard is typing into.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Normal,
    /// `/`: the filter is applied while typing; Esc restores `before`.
    Filter { before: String },
    /// `:`: a command line.
    Command { input: String },
    /// `?`: the key list, scrolled by `scroll` lines.
    Help { scroll: usize },
    /// `n`: index into [`AppState::namespace_choices`].
    NamespacePicker { cursor: usize },
    /// Shift-F: the local port for a forward of `port` (empty: any free port).
    ForwardPrompt { port: PortChoice, input: String },
    /// `f`: the list of forwards ([`AppState::forwards`] keeps the cursor).
    Forwards,
    /// `q` while forwards run: asks before stopping them.
    ConfirmQuit,
    /// Ctrl-A: the `:` commands and their aliases.
    Aliases,
}

/// Service order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// Errors first, then warnings, then the rest; by namespace/name inside each.
    #[default]
    Health,
    Name,
}

impl SortOrder {
    pub fn label(self) -> &'static str {
        match self {
            SortOrder::Health => "health",
            SortOrder::Name => "name",
        }
    }
}

/// A status-line message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub text: String,
    pub error: bool,
}

pub use super::filter::{Filter, FilterTerm};

/// The Services pane: which rows are visible (indices into the shown model), the cursor and
/// the selected Service by identity.
#[derive(Debug, Clone, Default)]
pub struct ServiceList {
    pub visible: Vec<usize>,
    pub cursor: usize,
    pub offset: usize,
    pub selected: Option<ServiceKey>,
    /// Services in scope (namespace, before the filter) with errors / warnings.
    pub scope_total: usize,
    pub scope_errors: usize,
    pub scope_warnings: usize,
    /// Findings in scope that belong to no Service (an Ingress backend naming a Service that
    /// does not exist).
    pub scope_cluster_findings: usize,
}

/// Tree state of one Service's chain, kept per Service so it survives updates and switching.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainView {
    /// Collapsed branches (everything else is open, so new nodes appear expanded).
    pub closed: HashSet<NodePath>,
    pub selected: NodePath,
    pub offset: usize,
}

/// The Chain pane.
#[derive(Debug, Clone, Default)]
pub struct ChainState {
    pub views: HashMap<ServiceKey, ChainView>,
    pub outline: Outline,
    /// Which Service and model the outline was built for.
    pub outline_for: Option<(ServiceKey, Generation)>,
}

/// Engine builds in flight: at most one runs; a newer snapshot waits for it.
#[derive(Debug, Clone, Default)]
pub struct BuildState {
    pub last_issued: Generation,
    pub in_flight: Option<Generation>,
    pub waiting: Option<Arc<ClusterSnapshot>>,
}

/// Scroll offsets as the UI drew them (see [`AppState::settle_scroll`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scrolled {
    pub details: usize,
    pub explain: usize,
    /// The top drill-down page's offset, while one is open.
    pub drill: Option<usize>,
    /// `Some` while the help is open.
    pub help: Option<usize>,
}

/// Terminal size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub width: u16,
    pub height: u16,
}

/// Everything the app knows. The UI renders from it; it never changes it.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The wall clock for ages (the Services list's AGE column), set by the loop before each
    /// frame; `None` hides AGE (frame tests set it to stay reproducible).
    pub wall_clock: Option<std::time::SystemTime>,
    /// What was typed into the namespace picker (`n`): it keeps the matching namespaces.
    pub picker_query: String,
    /// The kubeconfig's context names (`:ctx` lists them); empty for a dump or the demo.
    pub contexts: Vec<String>,
    pub label: SourceLabel,
    pub source: SourceKind,
    pub status: ConnectionStatus,
    pub notes: Vec<String>,
    pub engine_config: EngineConfig,
    /// The newest model.
    pub live: Option<Arc<Catalog>>,
    /// The model shown while paused (bottom's frozen state); `None` = live.
    pub frozen: Option<Arc<Catalog>>,
    pub build: BuildState,
    pub list: ServiceList,
    pub chain: ChainState,
    pub focus: Focus,
    pub tab: DetailTab,
    /// The source the Policy tab judges (`:from`); `None`: each hop's default source.
    pub policy_source: Option<SourceChoice>,
    pub details_scroll: usize,
    pub explain_scroll: usize,
    /// The drill-down pages over the panes (`d`, `l`, `y`, the `:` lists).
    pub drill: DrillState,
    /// While the source opens: what is being waited for ("starting the demo cluster…").
    pub starting: Option<String>,
    pub mode: Mode,
    pub filter: Filter,
    pub sort: SortOrder,
    /// The namespace shown (`None` = all).
    pub namespace: Option<String>,
    /// Services whose row changed, and when.
    pub changed: HashMap<ServiceKey, Instant>,
    pub message: Option<Message>,
    /// The probe run on screen (results, staleness, spinner).
    pub probe: ProbeState,
    /// DNS checks (`P` asks the cluster DNS too).
    pub dns: super::dns::DnsState,
    /// Port-forwards started from the TUI.
    pub forwards: ForwardsState,
    pub size: Size,
    /// Something visible changed since the last draw.
    pub dirty: bool,
    pub quit: bool,
}

impl AppState {
    pub fn new(
        label: SourceLabel,
        source: SourceKind,
        engine_config: EngineConfig,
        size: Size,
    ) -> Self {
        Self {
            wall_clock: None,
            picker_query: String::new(),
            contexts: Vec::new(),
            namespace: label.namespace.clone(),
            label,
            source,
            status: ConnectionStatus::Connecting,
            notes: Vec::new(),
            engine_config,
            live: None,
            frozen: None,
            build: BuildState::default(),
            list: ServiceList::default(),
            chain: ChainState::default(),
            focus: Focus::Services,
            tab: DetailTab::Diagnostics,
            policy_source: None,
            details_scroll: 0,
            explain_scroll: 0,
            drill: DrillState::default(),
            starting: None,
            mode: Mode::Normal,
            filter: Filter::default(),
            sort: SortOrder::Health,
            changed: HashMap::new(),
            message: None,
            probe: ProbeState::default(),
            dns: super::dns::DnsState::default(),
            forwards: ForwardsState::default(),
            size,
            dirty: true,
            quit: false,
        }
    }

    /// The model on screen: the frozen one while paused, else the newest.
    pub fn shown(&self) -> Option<&Arc<Catalog>> {
        self.frozen.as_ref().or(self.live.as_ref())
    }

    pub fn paused(&self) -> bool {
        self.frozen.is_some()
    }

    /// Newer data arrived while paused.
    pub fn updates_waiting(&self) -> bool {
        match (&self.frozen, &self.live) {
            (Some(frozen), Some(live)) => frozen.generation != live.generation,
            _ => false,
        }
    }

    /// The selected Service's chain in the shown model.
    pub fn selected_service(&self) -> Option<(&Arc<Catalog>, &ServiceChain)> {
        let catalog = self.shown()?;
        let key = self.list.selected.as_ref()?;
        let (_, chain) = catalog.service(key)?;
        Some((catalog, chain))
    }

    pub fn chain_view(&self) -> Option<&ChainView> {
        self.chain.views.get(self.list.selected.as_ref()?)
    }

    fn chain_view_mut(&mut self) -> Option<&mut ChainView> {
        let key = self.list.selected.clone()?;
        Some(self.chain.views.entry(key).or_default())
    }

    /// The selected outline node.
    pub fn selected_node(&self) -> Option<&OutlineNode> {
        let view = self.chain_view()?;
        self.chain.outline.get(&view.selected)
    }

    /// `None` ("all namespaces") followed by every namespace.
    pub fn namespace_choices(&self) -> Vec<Option<String>> {
        let mut out = vec![None];
        if let Some(catalog) = self.shown() {
            out.extend(catalog.namespaces.iter().cloned().map(Some));
        }
        out
    }

    /// The picker's choices that contain what was typed into it (`all namespaces` too).
    pub fn namespace_choices_matching(&self) -> Vec<Option<String>> {
        let query = self.picker_query.to_lowercase();
        self.namespace_choices()
            .into_iter()
            .filter(|choice| {
                choice
                    .as_deref()
                    .unwrap_or("all namespaces")
                    .to_lowercase()
                    .contains(&query)
            })
            .collect()
    }

    /// Services and broken Services per namespace of the shown model, for the picker.
    pub fn namespace_counts(&self) -> HashMap<String, (usize, usize)> {
        let mut counts: HashMap<String, (usize, usize)> = HashMap::new();
        if let Some(catalog) = self.shown() {
            for (index, chain) in catalog.model.services.iter().enumerate() {
                let entry = counts.entry(chain.namespace.clone()).or_default();
                entry.0 += 1;
                if self.health_of(catalog, index) == Health::Broken {
                    entry.1 += 1;
                }
            }
        }
        counts
    }

    /// Whether something animates at `now` (the loop ticks only then): a fading highlight or
    /// the spinner of a running probe.
    pub fn animating(&self, now: Instant) -> bool {
        self.probe.is_running()
            || self
                .changed
                .values()
                .any(|at| now.saturating_duration_since(*at) < CHANGE_HIGHLIGHT)
    }

    /// The findings of `catalog` that belong to no Service, in the namespace scope, with the
    /// namespace of the object each is about.
    pub fn cluster_findings<'c>(
        &self,
        catalog: &'c Catalog,
    ) -> impl Iterator<Item = (&'c str, &'c crate::engine::Diagnostic)> {
        let scope = self.namespace.clone();
        catalog
            .model
            .unattached_by_namespace()
            .filter(move |(namespace, _)| scope.as_deref().is_none_or(|scope| scope == *namespace))
    }

    /// The health shown for a Service of `catalog`: the engine's findings and the probe's.
    pub fn health_of(&self, catalog: &Catalog, index: usize) -> Health {
        let health = catalog
            .summary(index)
            .map_or(Health::Ok, |summary| summary.health);
        match catalog.model.services.get(index) {
            Some(chain) => self.probe.health(chain, health),
            None => health,
        }
    }

    /// Recomputes the visible Services (namespace scope, filter, sort) and keeps the
    /// selection on the same Service when it is still visible.
    pub fn refresh_list(&mut self) {
        let Some(catalog) = self.shown().cloned() else {
            self.list = ServiceList::default();
            self.chain.outline = Outline::default();
            self.chain.outline_for = None;
            return;
        };
        // Each visible Service with its health, read once (the sort below compares it).
        let mut visible: Vec<(usize, Health)> = Vec::new();
        let (mut total, mut errors, mut warnings) = (0, 0, 0);
        for (index, chain) in catalog.model.services.iter().enumerate() {
            if let Some(namespace) = &self.namespace
                && &chain.namespace != namespace
            {
                continue;
            }
            total += 1;
            let health = self.health_of(&catalog, index);
            match health {
                Health::Broken => errors += 1,
                Health::Warning => warnings += 1,
                Health::Ok => {}
            }
            if self.filter.matches(chain, health) {
                visible.push((index, health));
            }
        }
        if self.sort == SortOrder::Health {
            // The model is sorted by namespace/name, and the sort is stable.
            visible.sort_by_key(|(_, health)| *health);
        }
        self.list.visible = visible.into_iter().map(|(index, _)| index).collect();
        self.list.scope_total = total;
        self.list.scope_errors = errors;
        self.list.scope_warnings = warnings;
        self.list.scope_cluster_findings = self.cluster_findings(&catalog).count();
        let position =
            self.list.selected.as_ref().and_then(|key| {
                self.list.visible.iter().position(|index| {
                    catalog.model.services.get(*index).is_some_and(|chain| {
                        chain.namespace == key.namespace && chain.name == key.name
                    })
                })
            });
        match position {
            Some(position) => self.list.cursor = position,
            None => {
                self.list.cursor = self
                    .list
                    .cursor
                    .min(self.list.visible.len().saturating_sub(1));
            }
        }
        self.sync_selection();
    }

    /// Makes `list.selected` follow the cursor, then rebuilds the outline if needed.
    pub fn sync_selection(&mut self) {
        let key = self.shown().and_then(|catalog| {
            let index = *self.list.visible.get(self.list.cursor)?;
            catalog.model.services.get(index).map(|chain| chain.key())
        });
        if key != self.list.selected {
            self.details_scroll = 0;
            self.explain_scroll = 0;
        }
        self.list.selected = key;
        self.keep_list_cursor_visible();
        self.refresh_outline();
    }

    fn keep_list_cursor_visible(&mut self) {
        let height = Areas::compute(self.size.into()).services_rows();
        self.list.offset = keep_visible(self.list.offset, self.list.cursor, height);
    }

    /// Rebuilds the selected Service's outline when the Service or the model changed, and
    /// puts the selection on the nearest surviving node.
    pub fn refresh_outline(&mut self) {
        let generation = self.shown().map(|catalog| catalog.generation);
        let wanted = self.list.selected.clone().zip(generation);
        if wanted == self.chain.outline_for {
            return;
        }
        self.chain.outline = match self.selected_service() {
            Some((_, chain)) => chain::outline(chain),
            None => Outline::default(),
        };
        self.chain.outline_for = wanted;
        let outline = self.chain.outline.clone();
        if let Some(view) = self.chain_view_mut() {
            let nearest = outline.nearest(&view.selected);
            view.selected = if nearest.is_empty() {
                outline
                    .roots
                    .first()
                    .map(|node| vec![node.id.clone()])
                    .unwrap_or_default()
            } else {
                nearest
            };
        }
        self.keep_chain_selection_visible();
    }

    /// The visible chain rows and the index of the selected one.
    pub fn chain_rows(&self) -> (Vec<chain::FlatRow<'_>>, Option<usize>) {
        let empty = ChainView::default();
        let view = self.chain_view().unwrap_or(&empty);
        let rows = self.chain.outline.flatten(&view.closed);
        let index = rows.iter().position(|row| row.path == view.selected);
        (rows, index)
    }

    pub fn keep_chain_selection_visible(&mut self) {
        let height = Areas::compute(self.size.into()).chain_rows();
        let (_, index) = self.chain_rows();
        let index = index.unwrap_or(0);
        if let Some(view) = self.chain_view_mut() {
            view.offset = keep_visible(view.offset, index, height);
        }
    }

    /// Selects the chain row at a visible index.
    pub fn select_chain_index(&mut self, index: usize) {
        let path = {
            let (rows, _) = self.chain_rows();
            let last = rows.len().saturating_sub(1);
            rows.get(index.min(last)).map(|row| row.path.clone())
        };
        if let Some(path) = path
            && let Some(view) = self.chain_view_mut()
            && view.selected != path
        {
            view.selected = path;
            // Another object: its YAML and explanation start at the top.
            self.details_scroll = 0;
            self.explain_scroll = 0;
        }
        self.keep_chain_selection_visible();
    }

    /// Opens or closes a branch of the selected Service's chain.
    pub fn set_closed(&mut self, path: &NodePath, closed: bool) -> bool {
        let Some(view) = self.chain_view_mut() else {
            return false;
        };
        if closed {
            view.closed.insert(path.clone())
        } else {
            view.closed.remove(path)
        }
    }

    /// Takes the scroll offsets as they were drawn. Keys move the details and help offsets
    /// without knowing how many lines there are; the UI clamps them when it draws, and this
    /// keeps the clamped value, so the next key moves from what is on screen. Nothing visible
    /// changes, so the state stays clean.
    pub fn settle_scroll(&mut self, drawn: Scrolled) {
        self.details_scroll = drawn.details;
        self.explain_scroll = drawn.explain;
        if let (Some(top), Some(drawn)) = (self.drill.top_mut(), drawn.drill) {
            top.scroll = drawn;
        }
        if let (Mode::Help { scroll }, Some(drawn)) = (&mut self.mode, drawn.help) {
            *scroll = drawn;
        }
    }

    pub fn set_message(&mut self, text: impl Into<String>, error: bool) {
        self.message = Some(Message {
            text: text.into(),
            error,
        });
        self.dirty = true;
    }
}

/// The smallest scroll offset change that keeps `cursor` inside a window of `height` rows.
pub fn keep_visible(offset: usize, cursor: usize, height: usize) -> usize {
    let height = height.max(1);
    if cursor < offset {
        cursor
    } else if cursor >= offset + height {
        cursor + 1 - height
    } else {
        offset
    }
}

impl From<Size> for ratatui::layout::Rect {
    fn from(size: Size) -> Self {
        ratatui::layout::Rect::new(0, 0, size.width, size.height)
    }
}
