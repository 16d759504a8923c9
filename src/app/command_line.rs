//! The `:` command line: `:svc [NAME]`, `:pods`, `:ep`, `:ing`, `:gw`, `:ns NAME|all`,
//! `:ctx NAME`, `:pf`, `:from SOURCE`, `:help`, `:q` (Ctrl-A lists them with their aliases).

use super::action::DetailTab;
use super::command::Command;
use super::normal::set_namespace;
use super::state::{AppState, Filter, Focus, Mode, SourceKind};
use crate::engine::model::ServiceChain;
use crate::engine::netpol::SourceChoice;

/// `:ns NAME|all`, `:ctx NAME`, `:svc NAME`, `:q`.
pub(super) fn run_command(state: &mut AppState, line: &str) -> Vec<Command> {
    let mut words = line.split_whitespace();
    let verb = words.next().unwrap_or_default();
    let argument = words.next();
    match (verb, argument) {
        ("", _) => {}
        ("q" | "q!" | "quit" | "exit", _) => {
            state.quit = true;
            return vec![Command::Quit];
        }
        ("ns" | "namespace", argument) => namespace_command(state, argument),
        ("ctx" | "context", argument) => return context_command(state, argument),
        ("svc" | "service" | "services", Some(name)) => {
            let commands = close_pages(state);
            jump_to_service(state, name);
            return commands;
        }
        ("svc" | "service" | "services", None) => {
            let commands = close_pages(state);
            state.focus = Focus::Services;
            return commands;
        }
        ("pods" | "pod" | "po", _) => return list(state, super::lists::pods(state)),
        ("ep" | "endpoints" | "endpointslices" | "eps", _) => {
            return list(state, super::lists::endpoints(state));
        }
        ("ing" | "ingress" | "ingresses", _) => {
            return list(state, super::lists::ingresses(state));
        }
        ("gw" | "gateway" | "gateways" | "gtw", _) => return gateways_command(state),
        ("deploy" | "deployment" | "deployments" | "sts" | "ds" | "rs", _) => state.set_message(
            "kubehop lists Services and what they reach: d on a Service shows the workloads owning its pods, :pods lists the pods",
            false,
        ),
        ("help" | "h", _) => state.mode = Mode::Help { scroll: 0 },
        ("pf" | "forwards" | "portforwards", _) => state.mode = Mode::Forwards,
        ("from", argument) => from_command(state, argument),
        (other, _) => state.set_message(
            format!(
                "unknown command :{other} (try :svc, :pods, :ep, :ing, :ns, :ctx, :pf, :q; Ctrl-A lists them)"
            ),
            true,
        ),
    }
    Vec::new()
}

/// `:from pod/NS/NAME`, `:from ns/NAME`, `:from external`: the source the Policy tab judges;
/// `:from` alone goes back to each hop's default source. The Policy tab is shown.
fn from_command(state: &mut AppState, argument: Option<&str>) {
    let Some(text) = argument else {
        state.policy_source = None;
        state.set_message("policy source: each hop's default", false);
        return;
    };
    let Some(choice) = SourceChoice::parse(text) else {
        state.set_message(
            format!("unknown source {text:?}: use :from pod/NAMESPACE/NAME, :from ns/NAME or :from external"),
            true,
        );
        return;
    };
    if let SourceChoice::Pod { namespace, name } = &choice
        && state
            .shown()
            .is_some_and(|catalog| catalog.model.policies().pod(namespace, name).is_none())
    {
        state.set_message(format!("no pod {namespace}/{name} in this source"), true);
        return;
    }
    state.set_message(format!("policy source: {choice}"), false);
    state.policy_source = Some(choice);
    if state.tab != DetailTab::Policy {
        state.tab = DetailTab::Policy;
        state.details_scroll = 0;
    }
    state.dirty = true;
}

/// Closes every drill-down page (a `:` command that goes back to the panes).
fn close_pages(state: &mut AppState) -> Vec<Command> {
    let mut commands = Vec::new();
    while state.drill.is_open() {
        commands.extend(super::drill::pop(state));
    }
    commands
}

/// `!`: `:pods` (failing pods first) with the first failing pod described: its failing probe
/// and Events, one key from any screen.
pub(super) fn failing_pod(state: &mut AppState) -> Vec<Command> {
    let table = super::lists::pods(state);
    let failing = table
        .rows
        .first()
        .filter(|row| super::lists::is_failing_pod(row))
        .and_then(|row| match &row.target {
            super::drill::RowTarget::Pod(pod) => Some(pod.clone()),
            super::drill::RowTarget::Service(_) => None,
        });
    let Some(pod) = failing else {
        state.set_message(
            "no pod behind a Service is failing (not ready and not going away)",
            false,
        );
        return Vec::new();
    };
    let mut commands = list(state, table);
    commands.extend(super::drill::describe_pod(state, pod));
    commands
}

/// `:gw`: the Gateways view, or one line saying why there is none.
fn gateways_command(state: &mut AppState) -> Vec<Command> {
    let not_installed = state.shown().is_some_and(|catalog| {
        catalog
            .snapshot
            .missing
            .iter()
            .any(|missing| missing.kind.is_gateway_api())
    });
    if not_installed {
        state.set_message(
            "Gateway API not installed: the cluster serves no gateway.networking.k8s.io",
            false,
        );
        return Vec::new();
    }
    let Some(page) = super::gateways::gateways(state) else {
        state.set_message("no Gateway in this source", false);
        return Vec::new();
    };
    let mut commands = close_pages(state);
    commands.extend(super::drill::show_gateways(state, page));
    commands
}

/// Opens a `:` list in place of the pages open now.
fn list(state: &mut AppState, table: super::drill::TablePage) -> Vec<Command> {
    let mut commands = close_pages(state);
    commands.extend(super::drill::show_table(state, table));
    commands
}

/// `:ns` opens the picker, `:ns all` shows every namespace, `:ns NAME` one (said so when the
/// source has no such namespace).
fn namespace_command(state: &mut AppState, argument: Option<&str>) {
    match argument {
        None => {
            state.picker_query.clear();
            state.mode = Mode::NamespacePicker { cursor: 0 };
        }
        Some("all" | "-A" | "*") => {
            set_namespace(state, None);
            state.set_message("all namespaces", false);
        }
        Some(name) => {
            let known = state
                .shown()
                .is_some_and(|catalog| catalog.namespaces.iter().any(|known| known == name));
            // A source that lists Namespace objects knows them all: an unknown name is a typo,
            // and the view stays where it was.
            let listed = state
                .shown()
                .is_some_and(|catalog| !catalog.snapshot.namespaces.is_empty());
            if !known && listed {
                let here = state.namespace.as_deref().unwrap_or("all namespaces");
                state.set_message(
                    format!("namespace {name} does not exist; still showing {here}"),
                    true,
                );
                return;
            }
            set_namespace(state, Some(name.to_owned()));
            if known {
                state.set_message(format!("namespace {name}"), false);
            } else {
                state.set_message(
                    format!("namespace {name}: no such namespace in this source"),
                    true,
                );
            }
        }
    }
}

/// `:ctx` lists the kubeconfig's contexts (the current one starred, as `kubectl config
/// get-contexts` does); `:ctx NAME` switches to another one (a live source only).
fn context_command(state: &mut AppState, argument: Option<&str>) -> Vec<Command> {
    let Some(name) = argument else {
        let message = match state.source {
            SourceKind::Live if !state.contexts.is_empty() => {
                let listed: Vec<String> = state
                    .contexts
                    .iter()
                    .map(|context| {
                        if *context == state.label.context {
                            format!("*{context}")
                        } else {
                            context.clone()
                        }
                    })
                    .collect();
                format!("contexts: {} (:ctx NAME switches)", listed.join(", "))
            }
            SourceKind::Live => {
                format!("context: {} (:ctx NAME switches)", state.label.context)
            }
            SourceKind::Demo => format!(
                "context: {} (the demo has one; start kubehop with --context NAME for another)",
                state.label.context
            ),
            SourceKind::Dump => {
                "a dump has no contexts: start kubehop with --context NAME".to_owned()
            }
        };
        state.set_message(message, false);
        return Vec::new();
    };
    match state.source {
        SourceKind::Live => return vec![Command::SwitchContext(name.to_owned())],
        SourceKind::Dump => state.set_message(
            "no contexts in a dump: restart kubehop with --context instead",
            true,
        ),
        SourceKind::Demo => state.set_message("the demo cluster has a single context", true),
    }
    Vec::new()
}

/// `:svc NAME` or `:svc NAMESPACE/NAME`: select it, widening the scope and clearing the filter
/// when they hide it.
fn jump_to_service(state: &mut AppState, wanted: &str) {
    let Some(catalog) = state.shown().cloned() else {
        state.set_message("no Services loaded yet", true);
        return;
    };
    let (namespace, name) = match wanted.split_once('/') {
        Some((namespace, name)) => (Some(namespace), name),
        None => (None, wanted),
    };
    let candidates: Vec<&ServiceChain> = catalog
        .model
        .services
        .iter()
        .map(|chain| chain.as_ref())
        .filter(|chain| chain.name == name && namespace.is_none_or(|ns| chain.namespace == ns))
        .collect();
    let preferred = candidates
        .iter()
        .find(|chain| state.namespace.as_deref() == Some(chain.namespace.as_str()))
        .or_else(|| candidates.first());
    let Some(chain) = preferred else {
        state.set_message(format!("no Service {wanted}"), true);
        return;
    };
    let key = chain.key();
    let count = candidates.len();
    let chain = (*chain).clone();
    select_service(state, &chain);
    if count > 1 && namespace.is_none() {
        state.set_message(
            format!("{count} Services are named {name}; showing {key} (use :svc NAMESPACE/NAME)"),
            false,
        );
    }
    state.dirty = true;
}

/// Selects a Service in the list, widening the scope and clearing the filter when they hide
/// it. The focus goes to the Services list, so `j`/`k` move from there (Enter opens its
/// chain).
pub(super) fn select_service(state: &mut AppState, chain: &ServiceChain) {
    let key = chain.key();
    if state
        .namespace
        .as_deref()
        .is_some_and(|scope| scope != key.namespace)
    {
        state.namespace = Some(key.namespace.clone());
    }
    let health = state
        .shown()
        .and_then(|catalog| {
            let index = catalog
                .model
                .services
                .iter()
                .position(|candidate| candidate.key() == key)?;
            Some(state.health_of(catalog, index))
        })
        .unwrap_or(crate::app::catalog::Health::Ok);
    if !state.filter.matches(chain, health) {
        state.filter = Filter::default();
    }
    state.list.selected = Some(key);
    state.refresh_list();
    state.focus = Focus::Services;
    state.dirty = true;
}
