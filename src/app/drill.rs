//! The drill-down: full-screen pages over the panes, k9s style. `d` describes a pod (its
//! spec summary, conditions, containers, probes and Events) or a Service (its Events and the
//! workloads owning its pods), `l` shows a pod's log, `y` an object's full YAML, and the `:`
//! lists (`:pods`, `:ep`, `:ing`) are tables to pick from. Pages stack: `Esc` goes back to the
//! page (or the panes) it came from.
//!
//! The state is here; the reads happen in tasks the loop starts for [`Command::Inspect`],
//! whose answers come back as [`super::AppEvent::Inspected`] with the request's id. A source that
//! cannot be read on demand (a dump) shows what it has and says what it cannot do.

use std::collections::VecDeque;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::command::Command;
use super::state::AppState;
use crate::cluster::inspect::{EventRow, LogRequest, ObjectKind, ObjectRef, Workload};
use crate::engine::model::{ServiceChain, ServiceKey};
use crate::engine::objects::PodInfo;

/// Identifies one on-demand read; answers for a page that is gone are dropped.
pub type RequestId = u64;

/// The log lines kept per page (older ones are dropped).
pub const LOG_LINES_KEPT: usize = 5_000;

/// Lines of history asked for when a log opens.
pub const LOG_TAIL: i64 = 500;

/// Something read on demand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded<T> {
    Loading,
    Ready(T),
    Failed(String),
    /// The source cannot answer this (a dump): why, in a sentence.
    Unavailable(String),
}

impl<T> Loaded<T> {
    pub fn ready(&self) -> Option<&T> {
        match self {
            Loaded::Ready(value) => Some(value),
            _ => None,
        }
    }
}

/// `d` on a pod.
#[derive(Debug, Clone)]
pub struct PodPage {
    pub target: ObjectRef,
    /// The pod as read now; until then (or from a dump) the cached one.
    pub pod: Option<Arc<Pod>>,
    /// Whether `pod` is the cached copy (live caches drop probes and more).
    pub cached: bool,
    pub events: Loaded<Vec<EventRow>>,
    /// When the answer was read (seconds since the epoch): ages are counted from it.
    pub read_at: Option<i64>,
}

/// A pod of a Service that is not ready, and what its Events say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotReadyPod {
    pub name: String,
    /// The last `Unhealthy` Event's message, when read.
    pub last_unhealthy: Option<EventRow>,
}

/// `d` on a Service.
#[derive(Debug, Clone)]
pub struct ServicePage {
    pub key: ServiceKey,
    pub events: Loaded<Vec<EventRow>>,
    pub workloads: Loaded<Vec<Workload>>,
    pub not_ready: Vec<NotReadyPod>,
    pub read_at: Option<i64>,
}

/// `l` on a pod.
#[derive(Debug, Clone)]
pub struct LogsPage {
    pub target: ObjectRef,
    pub containers: Vec<String>,
    pub container: usize,
    pub previous: bool,
    /// Keep the newest line on screen as lines arrive.
    pub follow: bool,
    pub lines: VecDeque<String>,
    /// Why the stream ended (`None` while it runs).
    pub ended: Option<String>,
    /// `/`: only lines containing this (case-insensitive) are shown.
    pub search: String,
    /// Typing the search.
    pub typing: bool,
}

impl LogsPage {
    pub fn container_name(&self) -> Option<&str> {
        self.containers.get(self.container).map(String::as_str)
    }

    /// The lines shown: those matching the search.
    pub fn shown(&self) -> Vec<&str> {
        let needle = self.search.to_lowercase();
        self.lines
            .iter()
            .filter(|line| needle.is_empty() || line.to_lowercase().contains(&needle))
            .map(String::as_str)
            .collect()
    }
}

/// `y`: an object's full YAML.
#[derive(Debug, Clone)]
pub struct YamlPage {
    pub target: ObjectRef,
    pub text: Loaded<String>,
    /// Set when the text is the cached copy (a dump).
    pub note: Option<String>,
}

/// What a row of a table leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowTarget {
    Pod(ObjectRef),
    Service(ServiceKey),
}

/// One row of a `:` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRow {
    pub cells: Vec<String>,
    pub target: RowTarget,
}

/// `:pods`, `:ep`, `:ing`: a list to pick from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablePage {
    pub title: String,
    pub columns: Vec<&'static str>,
    pub rows: Vec<TableRow>,
    pub cursor: usize,
}

/// One full-screen page.
#[derive(Debug, Clone)]
pub enum Page {
    Pod(PodPage),
    Service(ServicePage),
    Logs(LogsPage),
    Yaml(YamlPage),
    Table(TablePage),
    /// `:gw`: Gateways → listeners → route rules → Services.
    Gateways(super::gateways::GatewaysPage),
}

/// A page, the read it waits for, and how far it is scrolled.
#[derive(Debug, Clone)]
pub struct Drilled {
    pub page: Page,
    pub request: Option<RequestId>,
    pub scroll: usize,
}

/// The stack of pages; empty = the panes.
#[derive(Debug, Clone, Default)]
pub struct DrillState {
    pub stack: Vec<Drilled>,
    pub last_request: RequestId,
    /// Why nothing can be read on demand (`None` when the source can).
    pub unavailable: Option<String>,
    /// Not-ready pods selected in the chain: the last `Unhealthy` Event about each (`None`:
    /// there is none), for Explain. Read each time the selection arrives on the pod.
    pub unhealthy: std::collections::HashMap<ObjectRef, Loaded<Option<EventRow>>>,
    /// Reads of `unhealthy` in flight.
    pub unhealthy_requests: std::collections::HashMap<RequestId, ObjectRef>,
    /// The not-ready pod the selection rests on (read once on arrival, not on every update).
    pub unhealthy_for: Option<ObjectRef>,
}

/// What the loop reads for a request.
#[derive(Debug, Clone, PartialEq)]
pub enum InspectRequest {
    /// The pod and its Events.
    Pod(ObjectRef),
    /// The Service's Events, the workloads owning its pods, and the Events of its pods that
    /// are not ready.
    Service {
        target: ObjectRef,
        owners: Vec<OwnerReference>,
        not_ready: Vec<String>,
    },
    Yaml(ObjectRef),
    /// The Events of a pod (for Explain on a not-ready endpoint).
    PodEvents(ObjectRef),
    /// Stream a log; [`Command::StopInspect`] ends it.
    Logs(LogRequest),
}

/// An answer.
#[derive(Debug, Clone)]
pub enum Inspected {
    Pod {
        pod: Result<Arc<Pod>, String>,
        events: Result<Vec<EventRow>, String>,
        at: i64,
    },
    Service {
        events: Result<Vec<EventRow>, String>,
        workloads: Result<Vec<Workload>, String>,
        /// The Events of each not-ready pod.
        pods: Vec<(String, Result<Vec<EventRow>, String>)>,
        at: i64,
    },
    Yaml(Result<String, String>),
    PodEvents(Result<Vec<EventRow>, String>),
    LogLines(Vec<String>),
    LogEnded(Option<String>),
}

impl DrillState {
    pub fn is_open(&self) -> bool {
        !self.stack.is_empty()
    }

    pub fn top(&self) -> Option<&Drilled> {
        self.stack.last()
    }

    pub fn top_mut(&mut self) -> Option<&mut Drilled> {
        self.stack.last_mut()
    }

    fn next_request(&mut self) -> RequestId {
        self.last_request += 1;
        self.last_request
    }
}

/// Pushes a page; a read is asked for when the source can answer.
fn push(state: &mut AppState, page: Page, request: Option<InspectRequest>) -> Vec<Command> {
    let mut commands = Vec::new();
    let id = match request {
        Some(request) if state.drill.unavailable.is_none() => {
            let id = state.drill.next_request();
            commands.push(Command::Inspect { id, request });
            Some(id)
        }
        _ => None,
    };
    state.drill.stack.push(Drilled {
        page,
        request: id,
        scroll: 0,
    });
    state.dirty = true;
    commands
}

/// Opens a `:` list.
pub fn show_table(state: &mut AppState, table: TablePage) -> Vec<Command> {
    push(state, Page::Table(table), None)
}

/// Opens the Gateways view.
pub fn show_gateways(state: &mut AppState, page: super::gateways::GatewaysPage) -> Vec<Command> {
    push(state, Page::Gateways(page), None)
}

/// Closes the top page (stopping its log stream).
pub fn pop(state: &mut AppState) -> Vec<Command> {
    state.dirty = true;
    match state.drill.stack.pop() {
        Some(Drilled {
            page: Page::Logs(logs),
            request: Some(id),
            ..
        }) if logs.ended.is_none() => vec![Command::StopInspect { id }],
        _ => Vec::new(),
    }
}

/// The pod an endpoint of `chain` is (by name, in the Service's namespace).
pub fn pod_ref(chain: &ServiceChain, name: &str) -> ObjectRef {
    ObjectRef {
        kind: ObjectKind::Pod,
        namespace: Some(chain.namespace.clone()),
        name: name.to_owned(),
    }
}

/// The snapshot's pod a reference names.
fn snapshot_pod<'s>(state: &'s AppState, target: &ObjectRef) -> Option<&'s Arc<PodInfo>> {
    let catalog = state.shown()?;
    catalog.snapshot.pods.iter().find(|pod| {
        pod.name.as_deref() == Some(target.name.as_str())
            && pod.namespace.as_deref() == target.namespace.as_deref()
    })
}

/// The cached pod (from the snapshot) a reference names: a dump's copy, or what a live
/// cluster's compact cache holds (no probes, images or container states until it is read).
pub fn cached_pod(state: &AppState, target: &ObjectRef) -> Option<Arc<Pod>> {
    snapshot_pod(state, target).map(|pod| pod.to_pod())
}

fn unavailable(state: &AppState) -> Option<String> {
    state.drill.unavailable.clone()
}

/// `Loading` when the source can be read, else why it cannot.
fn loading<T>(state: &AppState) -> Loaded<T> {
    match unavailable(state) {
        Some(why) => Loaded::Unavailable(why),
        None => Loaded::Loading,
    }
}

/// `d` on a pod.
pub fn describe_pod(state: &mut AppState, target: ObjectRef) -> Vec<Command> {
    let cached = cached_pod(state, &target);
    let events = loading(state);
    let page = Page::Pod(PodPage {
        target: target.clone(),
        pod: cached,
        cached: true,
        events,
        read_at: None,
    });
    push(state, page, Some(InspectRequest::Pod(target)))
}

/// `d` on a Service.
pub fn describe_service(state: &mut AppState, chain: &ServiceChain) -> Vec<Command> {
    let key = chain.key();
    let mut owners: Vec<OwnerReference> = Vec::new();
    for pod in &chain.details.selected_pods {
        for owner in pod.owners.iter() {
            if !owners.iter().any(|known| *known.uid == *owner.uid) {
                owners.push(owner.to_reference());
            }
        }
    }
    let not_ready: Vec<String> = chain
        .details
        .selected_pods
        .iter()
        .filter(|pod| !pod.ready)
        .filter_map(|pod| pod.name.as_deref().map(str::to_owned))
        .take(5)
        .collect();
    let page = Page::Service(ServicePage {
        key: key.clone(),
        events: loading(state),
        workloads: loading(state),
        not_ready: not_ready
            .iter()
            .map(|name| NotReadyPod {
                name: name.clone(),
                last_unhealthy: None,
            })
            .collect(),
        read_at: None,
    });
    let target = ObjectRef {
        kind: ObjectKind::Service,
        namespace: Some(key.namespace.clone()),
        name: key.name.clone(),
    };
    let request = InspectRequest::Service {
        target,
        owners,
        not_ready,
    };
    push(state, page, Some(request))
}

/// Whether the pod's Ready condition is True.
pub fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|status| status.conditions.as_ref())
        .and_then(|conditions| conditions.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|condition| condition.status == "True")
}

/// `y`: the object's YAML, read now (a dump shows its copy).
pub fn show_yaml(state: &mut AppState, target: ObjectRef) -> Vec<Command> {
    if let Some(why) = unavailable(state) {
        let (text, note) = match cached_yaml(state, &target) {
            Some(text) => (
                Loaded::Ready(text),
                Some(format!("the copy in the source: {why}")),
            ),
            None => (Loaded::Unavailable(why), None),
        };
        let page = Page::Yaml(YamlPage { target, text, note });
        return push(state, page, None);
    }
    let page = Page::Yaml(YamlPage {
        target: target.clone(),
        text: Loaded::Loading,
        note: None,
    });
    push(state, page, Some(InspectRequest::Yaml(target)))
}

fn cached_yaml(state: &AppState, target: &ObjectRef) -> Option<String> {
    let catalog = state.shown()?;
    let snapshot = &catalog.snapshot;
    let same = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        meta.name.as_deref() == Some(target.name.as_str())
            && (target.kind == ObjectKind::Node
                || meta.namespace.as_deref() == target.namespace.as_deref())
    };
    let text = match target.kind {
        ObjectKind::Pod => {
            snapshot_pod(state, target).map(|o| serde_saphyr::to_string(o.to_pod().as_ref()))
        }
        ObjectKind::Service => snapshot
            .services
            .iter()
            .find(|o| same(&o.metadata))
            .map(|o| serde_saphyr::to_string(o.as_ref())),
        ObjectKind::EndpointSlice => snapshot
            .endpoint_slices
            .iter()
            .find(|o| same(&o.metadata))
            .map(|o| serde_saphyr::to_string(o.to_slice().as_ref())),
        ObjectKind::Node => snapshot
            .nodes
            .iter()
            .find(|o| same(&o.metadata))
            .map(|o| serde_saphyr::to_string(o.as_ref())),
    }?;
    text.ok()
}

/// `l`: the pod's log (its first container; `c` cycles).
pub fn show_logs(state: &mut AppState, target: ObjectRef) -> Vec<Command> {
    let containers: Vec<String> = snapshot_pod(state, &target)
        .map(|pod| {
            pod.regular_containers()
                .map(|c| c.name.to_string())
                .collect()
        })
        .unwrap_or_default();
    let page = LogsPage {
        target,
        containers,
        container: 0,
        previous: false,
        follow: true,
        lines: VecDeque::new(),
        ended: None,
        search: String::new(),
        typing: false,
    };
    open_logs(state, page)
}

fn open_logs(state: &mut AppState, mut page: LogsPage) -> Vec<Command> {
    if let Some(why) = unavailable(state) {
        page.ended = Some(format!("no logs: {why}"));
        return push(state, Page::Logs(page), None);
    }
    let request = log_request(&page);
    push(state, Page::Logs(page), Some(InspectRequest::Logs(request)))
}

fn log_request(page: &LogsPage) -> LogRequest {
    LogRequest {
        namespace: page.target.namespace.clone().unwrap_or_default(),
        pod: page.target.name.clone(),
        container: page.container_name().map(str::to_owned),
        previous: page.previous,
        follow: !page.previous,
        tail: LOG_TAIL,
    }
}

/// Restarts the top log page's stream with changed settings (another container, the
/// previous instance).
pub fn restart_logs(state: &mut AppState, change: impl FnOnce(&mut LogsPage)) -> Vec<Command> {
    let Some(Drilled {
        page: Page::Logs(page),
        ..
    }) = state.drill.top()
    else {
        return Vec::new();
    };
    let mut page = page.clone();
    change(&mut page);
    page.lines.clear();
    page.ended = None;
    let mut commands = pop(state);
    commands.extend(open_logs(state, page));
    commands
}

/// Files an answer into the page waiting for it; answers for closed pages are dropped.
pub fn on_inspected(state: &mut AppState, id: RequestId, answer: Inspected) {
    if let Some(pod) = state.drill.unhealthy_requests.remove(&id) {
        let note = match answer {
            Inspected::PodEvents(Ok(rows)) => {
                Loaded::Ready(rows.into_iter().rfind(|row| row.reason == "Unhealthy"))
            }
            Inspected::PodEvents(Err(error)) => Loaded::Failed(error),
            _ => return,
        };
        state.drill.unhealthy.insert(pod, note);
        state.dirty = true;
        return;
    }
    let on_top = state.drill.top().and_then(|top| top.request) == Some(id);
    let Some(drilled) = state
        .drill
        .stack
        .iter_mut()
        .find(|drilled| drilled.request == Some(id))
    else {
        return;
    };
    file_answer(&mut drilled.page, answer);
    if on_top {
        state.dirty = true;
    }
}

fn loaded<T>(result: Result<T, String>) -> Loaded<T> {
    match result {
        Ok(value) => Loaded::Ready(value),
        Err(error) => Loaded::Failed(error),
    }
}

fn file_answer(page: &mut Page, answer: Inspected) {
    match (page, answer) {
        (Page::Pod(page), Inspected::Pod { pod, events, at }) => {
            if let Ok(pod) = pod {
                page.pod = Some(pod);
                page.cached = false;
            }
            page.events = loaded(events);
            page.read_at = Some(at);
        }
        (
            Page::Service(page),
            Inspected::Service {
                events,
                workloads,
                pods,
                at,
            },
        ) => {
            page.events = loaded(events);
            page.workloads = loaded(workloads);
            for (name, events) in pods {
                if let Some(entry) = page.not_ready.iter_mut().find(|pod| pod.name == name) {
                    entry.last_unhealthy = events
                        .ok()
                        .and_then(|rows| rows.into_iter().rfind(|row| row.reason == "Unhealthy"));
                }
            }
            page.read_at = Some(at);
        }
        (Page::Yaml(page), Inspected::Yaml(text)) => page.text = loaded(text),
        (Page::Logs(page), Inspected::LogLines(lines)) => {
            page.lines.extend(lines);
            while page.lines.len() > LOG_LINES_KEPT {
                page.lines.pop_front();
            }
        }
        (Page::Logs(page), Inspected::LogEnded(why)) => {
            page.ended = Some(why.unwrap_or_else(|| "the log ended".to_owned()));
        }
        _ => {}
    }
}

/// Asks for the Events of the not-ready pod selected in the chain when the selection arrives
/// on it, so Explain can say why it is not ready.
pub fn read_unhealthy(state: &mut AppState) -> Option<Command> {
    if state.drill.unavailable.is_some() || state.drill.is_open() {
        return None;
    }
    let pod = if state.focus == super::state::Focus::Services {
        None
    } else {
        not_ready_selected(state)
    };
    if pod == state.drill.unhealthy_for {
        return None;
    }
    state.drill.unhealthy_for.clone_from(&pod);
    let pod = pod?;
    let id = state.drill.next_request();
    // What was read before stays on screen until the new answer.
    state
        .drill
        .unhealthy
        .entry(pod.clone())
        .or_insert(Loaded::Loading);
    state.drill.unhealthy_requests.insert(id, pod.clone());
    Some(Command::Inspect {
        id,
        request: InspectRequest::PodEvents(pod),
    })
}

/// The pod of the selected endpoint when that endpoint is not ready.
pub fn not_ready_selected(state: &AppState) -> Option<ObjectRef> {
    let (_, chain) = state.selected_service()?;
    let node = state.selected_node()?;
    let super::chain::NodeKind::Endpoint { port, endpoint } = &node.kind else {
        return None;
    };
    let info = match port.and_then(|index| chain.ports.get(index)) {
        Some(port) => port
            .endpoints
            .get(*endpoint)
            .map(|found| found.info.clone()),
        None => chain.details.endpoints.get(*endpoint).cloned(),
    }?;
    if info.ready {
        return None;
    }
    Some(pod_ref(chain, info.pod.as_deref()?))
}
