//! The `:` command line: `:ns NAME|all`, `:ctx NAME`, `:svc NAME`, `:pf`, `:help`, `:q`.

use super::command::Command;
use super::normal::set_namespace;
use super::state::{AppState, Filter, Focus, Mode, SourceKind};
use crate::engine::model::ServiceChain;

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
        ("svc" | "service" | "services", Some(name)) => jump_to_service(state, name),
        ("svc" | "service" | "services", None) => state.focus = Focus::Services,
        ("help" | "h", _) => state.mode = Mode::Help { scroll: 0 },
        ("pf" | "forwards" | "portforwards", _) => state.mode = Mode::Forwards,
        (other, _) => state.set_message(
            format!(
                "unknown command :{other} (try :ns NAME, :ns all, :ctx NAME, :svc NAME, :pf, :q)"
            ),
            true,
        ),
    }
    Vec::new()
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

/// `:ctx` names the context; `:ctx NAME` switches to another one (a live source only).
fn context_command(state: &mut AppState, argument: Option<&str>) -> Vec<Command> {
    let Some(name) = argument else {
        state.set_message(
            format!("context: {} (:ctx NAME switches)", state.label.context),
            false,
        );
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
    if state
        .namespace
        .as_deref()
        .is_some_and(|scope| scope != key.namespace)
    {
        state.namespace = Some(key.namespace.clone());
    }
    let health = catalog
        .model
        .services
        .iter()
        .position(|candidate| std::ptr::eq(candidate, *chain))
        .map_or(crate::app::catalog::Health::Ok, |index| {
            state.health_of(&catalog, index)
        });
    if !state.filter.matches(chain, health) {
        state.filter = Filter::default();
    }
    state.list.selected = Some(key.clone());
    state.refresh_list();
    state.focus = Focus::Chain;
    if candidates.len() > 1 && namespace.is_none() {
        state.set_message(
            format!(
                "{} Services are named {name}; showing {key} (use :svc NAMESPACE/NAME)",
                candidates.len()
            ),
            false,
        );
    }
    state.dirty = true;
}
