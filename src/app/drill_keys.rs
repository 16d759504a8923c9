//! Keys of the drill-down: `d`, `l`, `y` and Enter from the panes (what the selection is), and
//! every key while a page is open.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::Action;
use super::chain::NodeKind;
use super::command::Command;
use super::drill::{self, Page, RowTarget};
use super::keymap;
use super::state::{AppState, Focus};
use crate::cluster::inspect::{ObjectKind, ObjectRef};
use crate::engine::model::ServiceChain;

/// What the panes' selection is, for the drill-down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selected {
    /// An endpoint's pod.
    Pod(ObjectRef),
    /// The Service (from the Services pane, or a hop of the Service itself).
    Service,
    /// Another object: an EndpointSlice, a Node.
    Object(ObjectRef),
}

/// The selection: the Service while the Services pane has focus, else the chain's node.
pub fn selected(state: &AppState) -> Option<Selected> {
    let (_, chain) = state.selected_service()?;
    if state.focus == Focus::Services || state.focus == Focus::Header {
        return Some(Selected::Service);
    }
    let Some(node) = state.selected_node() else {
        return Some(Selected::Service);
    };
    Some(match &node.kind {
        NodeKind::Endpoint { port, endpoint } => endpoint_target(chain, *port, *endpoint),
        NodeKind::Slice { name, .. } => Selected::Object(ObjectRef {
            kind: ObjectKind::EndpointSlice,
            namespace: Some(chain.namespace.clone()),
            name: name.clone(),
        }),
        NodeKind::NodePort { row, .. } => Selected::Object(ObjectRef {
            kind: ObjectKind::Node,
            namespace: None,
            name: row.node.clone(),
        }),
        _ => Selected::Service,
    })
}

fn endpoint_target(chain: &ServiceChain, port: Option<usize>, endpoint: usize) -> Selected {
    let info = match port.and_then(|index| chain.ports.get(index)) {
        Some(port) => port.endpoints.get(endpoint).map(|found| found.info.clone()),
        None => chain.details.endpoints.get(endpoint).cloned(),
    };
    match info {
        Some(info) => match &info.pod {
            Some(pod) => Selected::Pod(drill::pod_ref(chain, pod)),
            None => Selected::Object(ObjectRef {
                kind: ObjectKind::EndpointSlice,
                namespace: Some(chain.namespace.clone()),
                name: info.slice.to_string(),
            }),
        },
        None => Selected::Service,
    }
}

fn service_ref(chain: &ServiceChain) -> ObjectRef {
    ObjectRef {
        kind: ObjectKind::Service,
        namespace: Some(chain.namespace.clone()),
        name: chain.name.clone(),
    }
}

/// The pod whose log `l` shows for a Service: the first not-ready pod, else the first pod.
fn service_pod(chain: &ServiceChain) -> Option<ObjectRef> {
    let pods = &chain.details.selected_pods;
    let pod = pods
        .iter()
        .find(|pod| !pod.ready)
        .or_else(|| pods.first())?;
    Some(drill::pod_ref(chain, pod.name.as_deref()?))
}

/// `d`, `l`, `y` (and Enter on a pod) from the panes. `false` = `l` on something that has no
/// log: the caller treats it as `→`.
pub fn act(state: &mut AppState, action: Action) -> (bool, Vec<Command>) {
    let Some(selection) = selected(state) else {
        state.set_message("select a Service first", true);
        return (true, Vec::new());
    };
    let Some(chain) = state.selected_service().map(|(_, chain)| chain.clone()) else {
        return (true, Vec::new());
    };
    let commands = match (action, selection) {
        (Action::Describe | Action::Toggle, Selected::Pod(pod)) => drill::describe_pod(state, pod),
        (Action::Describe, Selected::Service) => drill::describe_service(state, &chain),
        (Action::Describe | Action::Yaml, Selected::Object(object)) => {
            drill::show_yaml(state, object)
        }
        (Action::Yaml, Selected::Pod(pod)) => drill::show_yaml(state, pod),
        (Action::Yaml, Selected::Service) => drill::show_yaml(state, service_ref(&chain)),
        (Action::Logs, Selected::Pod(pod)) => drill::show_logs(state, pod),
        (Action::Logs, Selected::Service) if state.focus != Focus::Chain => {
            match service_pod(&chain) {
                Some(pod) => drill::show_logs(state, pod),
                None => {
                    state.set_message(format!("{} has no pods to show logs of", chain.key()), true);
                    Vec::new()
                }
            }
        }
        _ => return (false, Vec::new()),
    };
    (true, commands)
}

/// A key while a page is open. Movement scrolls (or moves a table's cursor), Esc and `h` go
/// back, `d`/`l`/`y` open another page about the same pod.
pub fn on_page_key(state: &mut AppState, key: KeyEvent) -> Vec<Command> {
    state.dirty = true;
    if let Some(commands) = on_log_search_key(state, key) {
        return commands;
    }
    if let Some(commands) = on_logs_key(state, &key) {
        return commands;
    }
    let action = keymap::action_for(&key);
    match action {
        Some(Action::Back | Action::PaneBack | Action::Collapse) => drill::pop(state),
        Some(
            Action::MoveUp
            | Action::MoveDown
            | Action::PageUp
            | Action::PageDown
            | Action::First
            | Action::Last,
        ) => {
            scroll(state, action.unwrap_or(Action::MoveDown));
            Vec::new()
        }
        Some(Action::Describe | Action::Logs | Action::Yaml | Action::Toggle | Action::Expand) => {
            open_from_page(state, action.unwrap_or(Action::Describe))
        }
        Some(Action::Quit) => super::normal::apply(state, Action::Quit),
        Some(Action::Help | Action::CommandLine | Action::Aliases | Action::FailingPod) => {
            super::normal::apply(state, action.unwrap_or(Action::Help))
        }
        _ => {
            super::update::unknown_key_hint(state, &key);
            Vec::new()
        }
    }
}

/// The pod (or object) the top page is about.
fn page_subject(state: &AppState) -> Option<ObjectRef> {
    match &state.drill.top()?.page {
        Page::Pod(page) => Some(page.target.clone()),
        Page::Logs(page) => Some(page.target.clone()),
        Page::Yaml(page) => Some(page.target.clone()),
        Page::Service(page) => Some(ObjectRef {
            kind: ObjectKind::Service,
            namespace: Some(page.key.namespace.clone()),
            name: page.key.name.clone(),
        }),
        Page::Gateways(page) => page.selected_service().map(|key| ObjectRef {
            kind: ObjectKind::Service,
            namespace: Some(key.namespace.clone()),
            name: key.name.clone(),
        }),
        Page::Table(table) => match &table.rows.get(table.cursor)?.target {
            RowTarget::Pod(pod) => Some(pod.clone()),
            RowTarget::Service(key) => Some(ObjectRef {
                kind: ObjectKind::Service,
                namespace: Some(key.namespace.clone()),
                name: key.name.clone(),
            }),
        },
    }
}

fn open_from_page(state: &mut AppState, action: Action) -> Vec<Command> {
    let Some(subject) = page_subject(state) else {
        return Vec::new();
    };
    let on_table = matches!(
        state.drill.top().map(|top| &top.page),
        Some(Page::Table(_) | Page::Gateways(_))
    );
    if subject.kind == ObjectKind::Service {
        return open_service_from_page(state, action, subject, on_table);
    }
    match (action, subject.kind) {
        (Action::Logs, ObjectKind::Pod) => drill::show_logs(state, subject),
        (Action::Yaml, _) => drill::show_yaml(state, subject),
        (Action::Describe | Action::Toggle | Action::Expand, ObjectKind::Pod) => {
            if matches!(state.drill.top().map(|top| &top.page), Some(Page::Pod(_))) {
                return Vec::new();
            }
            drill::describe_pod(state, subject)
        }
        _ => Vec::new(),
    }
}

/// From a Service page or a table row naming a Service: Enter selects it in the panes.
fn open_service_from_page(
    state: &mut AppState,
    action: Action,
    subject: ObjectRef,
    on_table: bool,
) -> Vec<Command> {
    let key = crate::engine::model::ServiceKey {
        namespace: subject.namespace.clone().unwrap_or_default(),
        name: subject.name.clone(),
    };
    let chain = state
        .shown()
        .and_then(|catalog| catalog.service(&key).map(|(_, chain)| chain.clone()));
    let Some(chain) = chain else {
        return Vec::new();
    };
    match action {
        Action::Yaml => drill::show_yaml(state, subject),
        Action::Describe => drill::describe_service(state, &chain),
        Action::Logs => match service_pod(&chain) {
            Some(pod) => drill::show_logs(state, pod),
            None => Vec::new(),
        },
        _ if on_table => {
            let mut commands = Vec::new();
            while state.drill.is_open() {
                commands.extend(drill::pop(state));
            }
            super::command_line::select_service(state, &chain);
            commands
        }
        _ => Vec::new(),
    }
}

fn scroll(state: &mut AppState, action: Action) {
    let page = usize::from(state.size.height.saturating_sub(4)).max(1);
    let delta: isize = match action {
        Action::MoveUp => -1,
        Action::MoveDown => 1,
        Action::PageUp => -(isize::try_from(page).unwrap_or(10)),
        Action::PageDown => isize::try_from(page).unwrap_or(10),
        Action::First => isize::MIN / 2,
        _ => isize::MAX / 2,
    };
    let Some(top) = state.drill.top_mut() else {
        return;
    };
    match &mut top.page {
        Page::Table(table) => {
            let last = table.rows.len().saturating_sub(1);
            table.cursor = table.cursor.saturating_add_signed(delta).min(last);
            top.scroll = super::state::keep_visible(top.scroll, table.cursor, page);
        }
        Page::Gateways(gateways) => {
            let last = gateways.rows.len().saturating_sub(1);
            gateways.cursor = gateways.cursor.saturating_add_signed(delta).min(last);
            top.scroll = super::state::keep_visible(top.scroll, gateways.cursor, page);
        }
        Page::Logs(logs) => {
            // Moving up stops following; the end (G) follows again.
            logs.follow = action == Action::Last;
            top.scroll = top.scroll.saturating_add_signed(delta);
        }
        _ => top.scroll = top.scroll.saturating_add_signed(delta),
    }
}

/// The log page's own keys: `c` next container, `p` previous instance, `s` follow, `/`
/// search. `None` when the key is not one of them (or no log page is on top).
fn on_logs_key(state: &mut AppState, key: &KeyEvent) -> Option<Vec<Command>> {
    let Some(Page::Logs(logs)) = state.drill.top().map(|top| &top.page) else {
        return None;
    };
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return None;
    }
    let containers = logs.containers.len();
    match key.code {
        KeyCode::Char('c') if containers > 1 => Some(drill::restart_logs(state, |page| {
            page.container = (page.container + 1) % containers;
        })),
        KeyCode::Char('c') => {
            state.set_message("this pod has one container", false);
            Some(Vec::new())
        }
        KeyCode::Char('p') => Some(drill::restart_logs(state, |page| {
            page.previous = !page.previous;
            page.follow = !page.previous;
        })),
        KeyCode::Char('s') => {
            if let Some(drill::Drilled {
                page: Page::Logs(page),
                ..
            }) = state.drill.top_mut()
            {
                page.follow = !page.follow;
            }
            Some(Vec::new())
        }
        KeyCode::Char('/') => {
            if let Some(drill::Drilled {
                page: Page::Logs(page),
                ..
            }) = state.drill.top_mut()
            {
                page.typing = true;
            }
            Some(Vec::new())
        }
        _ => None,
    }
}

/// Typing a log search: text, Backspace, Enter keeps, Esc clears.
fn on_log_search_key(state: &mut AppState, key: KeyEvent) -> Option<Vec<Command>> {
    let Some(drill::Drilled {
        page: Page::Logs(page),
        scroll,
        ..
    }) = state.drill.top_mut()
    else {
        return None;
    };
    if !page.typing {
        return None;
    }
    match key.code {
        KeyCode::Enter => page.typing = false,
        KeyCode::Esc => {
            page.typing = false;
            page.search.clear();
        }
        KeyCode::Backspace => {
            page.search.pop();
        }
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => page.search.push(c),
        _ => {}
    }
    *scroll = 0;
    Some(Vec::new())
}
