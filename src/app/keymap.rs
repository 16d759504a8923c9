//! Keys → [`Action`]s: one data table, shown as-is by the help overlay.
//!
//! k9s conventions: vim motions and arrows, `/` filter, `:` commands, `?` help, `q` quit,
//! `d` describe, `l` logs, `y` YAML, `Enter` drill in, `Esc` back, Ctrl-A aliases. `l` is the
//! logs key as in k9s, so the tree opens with `→` (and `l` on a hop that is not a pod); `h`
//! goes back one pane, and `←` closes a branch.
//! Text input (filter, command line, namespace picker) is handled by the mode, not here.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::{Action, DetailTab};

/// One key binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    pub code: KeyCode,
    /// Only CONTROL and ALT are compared; SHIFT is part of the character (`G`, `P`).
    pub modifiers: KeyModifiers,
    pub action: Action,
}

const fn key(code: KeyCode, action: Action) -> Binding {
    Binding {
        code,
        modifiers: KeyModifiers::NONE,
        action,
    }
}

const fn ctrl(c: char, action: Action) -> Binding {
    Binding {
        code: KeyCode::Char(c),
        modifiers: KeyModifiers::CONTROL,
        action,
    }
}

/// Every binding, in help order.
pub const BINDINGS: &[Binding] = &[
    key(KeyCode::Char('j'), Action::MoveDown),
    key(KeyCode::Down, Action::MoveDown),
    key(KeyCode::Char('k'), Action::MoveUp),
    key(KeyCode::Up, Action::MoveUp),
    key(KeyCode::Char('g'), Action::First),
    key(KeyCode::Home, Action::First),
    key(KeyCode::Char('G'), Action::Last),
    key(KeyCode::End, Action::Last),
    key(KeyCode::PageUp, Action::PageUp),
    ctrl('b', Action::PageUp),
    key(KeyCode::PageDown, Action::PageDown),
    ctrl('f', Action::PageDown),
    key(KeyCode::Enter, Action::Toggle),
    key(KeyCode::Char(' '), Action::Toggle),
    key(KeyCode::Left, Action::Collapse),
    key(KeyCode::Right, Action::Expand),
    key(KeyCode::Char('h'), Action::PaneBack),
    key(KeyCode::Tab, Action::FocusNext),
    key(KeyCode::BackTab, Action::FocusPrevious),
    key(KeyCode::Char('1'), Action::Tab(DetailTab::Ports)),
    key(KeyCode::Char('2'), Action::Tab(DetailTab::Diagnostics)),
    key(KeyCode::Char('3'), Action::Tab(DetailTab::Dns)),
    key(KeyCode::Char('4'), Action::Tab(DetailTab::Probe)),
    key(KeyCode::Char('5'), Action::Tab(DetailTab::Yaml)),
    key(KeyCode::Char('6'), Action::Tab(DetailTab::Policy)),
    key(KeyCode::Char('/'), Action::Filter),
    key(KeyCode::Char(':'), Action::CommandLine),
    key(KeyCode::Esc, Action::Back),
    key(KeyCode::Char('n'), Action::NamespacePicker),
    key(KeyCode::Char('s'), Action::Sort),
    key(KeyCode::Char('?'), Action::Help),
    ctrl('p', Action::Pause),
    key(KeyCode::Char('p'), Action::ProbeHop),
    key(KeyCode::Char('P'), Action::ProbeService),
    key(KeyCode::Char('F'), Action::ForwardPort),
    key(KeyCode::Char('f'), Action::Forwards),
    key(KeyCode::Char('d'), Action::Describe),
    key(KeyCode::Char('l'), Action::Logs),
    key(KeyCode::Char('y'), Action::Yaml),
    ctrl('a', Action::Aliases),
    key(KeyCode::Char('c'), Action::CopyFix),
    key(KeyCode::Char('b'), Action::BrokenOnly),
    key(KeyCode::Char('!'), Action::FailingPod),
    key(KeyCode::Char('q'), Action::Quit),
    ctrl('c', Action::Quit),
];

fn relevant(modifiers: KeyModifiers) -> KeyModifiers {
    modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT)
}

/// The action a key press means in normal mode.
pub fn action_for(event: &KeyEvent) -> Option<Action> {
    let code = match event.code {
        // Some terminals send Shift+Tab as Tab with SHIFT.
        KeyCode::Tab if event.modifiers.contains(KeyModifiers::SHIFT) => KeyCode::BackTab,
        other => other,
    };
    let modifiers = relevant(event.modifiers);
    BINDINGS
        .iter()
        .find(|binding| binding.code == code && binding.modifiers == modifiers)
        .map(|binding| binding.action)
}

/// How a binding's key is written in the help overlay and hint bar.
pub fn key_label(binding: &Binding) -> String {
    let base = match binding.code {
        KeyCode::Char(' ') => "Space".to_owned(),
        KeyCode::Char(c) => c.to_string(),
        KeyCode::Up => "↑".to_owned(),
        KeyCode::Down => "↓".to_owned(),
        KeyCode::Left => "←".to_owned(),
        KeyCode::Right => "→".to_owned(),
        KeyCode::Home => "Home".to_owned(),
        KeyCode::End => "End".to_owned(),
        KeyCode::PageUp => "PgUp".to_owned(),
        KeyCode::PageDown => "PgDn".to_owned(),
        KeyCode::Enter => "Enter".to_owned(),
        KeyCode::Tab => "Tab".to_owned(),
        KeyCode::BackTab => "Shift-Tab".to_owned(),
        KeyCode::Esc => "Esc".to_owned(),
        other => format!("{other:?}"),
    };
    if binding.modifiers.contains(KeyModifiers::CONTROL) {
        format!("Ctrl-{}", base.to_uppercase())
    } else {
        base
    }
}

/// The keys of an action, joined with `/` (`j/↓`).
pub fn keys_for(action: Action) -> String {
    BINDINGS
        .iter()
        .filter(|binding| binding.action == action)
        .map(key_label)
        .collect::<Vec<_>>()
        .join("/")
}

/// What the help overlay and the README's keys table say besides the bindings: the text-input
/// modes, the filter syntax, the mouse and the forwards list (their keys are read by the mode,
/// not looked up in [`BINDINGS`]).
pub const HELP_NOTES: &[(&str, &str)] = &[
    (
        "in / and :",
        "type; Enter accepts, Esc cancels, Backspace deletes",
    ),
    (
        "filter terms",
        "web (regex on ns/name), app=web (label or selector), -l app=web,tier!=db (selector), !ok (not ok), !TERM (not); all must match",
    ),
    (
        "mouse",
        "wheel scrolls the pane under it; click selects, click a tab title",
    ),
    (
        "namespace picker (n)",
        "type to filter (counts: Services · broken); ↑/↓ move, Enter picks, Esc closes",
    ),
    (
        "Gateways (:gw)",
        "Gateway → listener → route rule → Service; Enter on a Service opens its chain",
    ),
    (
        "forwards (f, :pf)",
        "j/k move, d stops the selected forward, Esc closes",
    ),
    (
        "describe, YAML (d, y)",
        "j/k scroll, l logs, y YAML, d describe, Esc/h back",
    ),
    (
        "logs (l)",
        "c next container, p previous instance, s follow, / search, Esc/h back",
    ),
];

/// The `:` commands, each with its aliases, for Ctrl-A and the docs.
pub const COMMANDS: &[(&str, &str)] = &[
    (
        ":svc [NAME] :service",
        "the Services list; NAME selects one",
    ),
    (
        ":pods :pod :po",
        "the pods behind the Services, with their hops",
    ),
    (":ep :endpoints", "every endpoint of every Service port"),
    (
        ":ing :ingress :ingresses",
        "every Ingress rule and its Service",
    ),
    (
        ":ns [NAME|all] :namespace",
        "the namespace picker, or one namespace",
    ),
    (
        ":ctx [NAME] :context",
        "list the kubeconfig's contexts, or switch to one",
    ),
    (
        ":gw :gateway :gateways",
        "the Gateways, their listeners, routes and Services",
    ),
    (":pf :forwards", "the port-forwards"),
    (
        ":from pod/NS/NAME|ns/NAME|external",
        "the source the Policy tab judges",
    ),
    (":help :h", "the keys"),
    (":q :quit :exit", "quit"),
];

/// Every bound action once, in the order its first binding appears in [`BINDINGS`]: the rows
/// of the help overlay and of the README's keys table.
pub fn actions_in_help_order() -> Vec<Action> {
    let mut actions: Vec<Action> = Vec::new();
    for binding in BINDINGS {
        if !actions.contains(&binding.action) {
            actions.push(binding.action);
        }
    }
    actions
}

/// The keys as a markdown table: one row per action in help order (its keys, then what it
/// does, the help overlay's words), then [`HELP_NOTES`]. README.md carries this table between
/// `<!-- keys:begin -->` and `<!-- keys:end -->`; a test keeps the two equal.
pub fn markdown_table() -> String {
    let mut table = String::from("| keys | action |\n|---|---|\n");
    for action in actions_in_help_order() {
        let keys = BINDINGS
            .iter()
            .filter(|binding| binding.action == action)
            .map(|binding| format!("`{}`", key_label(binding)))
            .collect::<Vec<_>>()
            .join(" ");
        table.push_str(&markdown_row(&keys, action.describe()));
    }
    for (keys, what) in HELP_NOTES {
        table.push_str(&markdown_row(keys, what));
    }
    table
}

/// One table row; a `|` inside a cell would end it, so it is escaped.
fn markdown_row(keys: &str, what: &str) -> String {
    format!(
        "| {} | {} |\n",
        keys.replace('|', "\\|"),
        what.replace('|', "\\|")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyEventKind;
    use rstest::rstest;

    fn press(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new_with_kind(code, modifiers, KeyEventKind::Press)
    }

    #[rstest]
    #[case(KeyCode::Char('j'), KeyModifiers::NONE, Action::MoveDown)]
    #[case(KeyCode::Down, KeyModifiers::NONE, Action::MoveDown)]
    #[case(KeyCode::Char('G'), KeyModifiers::SHIFT, Action::Last)]
    #[case(KeyCode::Char('P'), KeyModifiers::SHIFT, Action::ProbeService)]
    #[case(KeyCode::Char('F'), KeyModifiers::SHIFT, Action::ForwardPort)]
    #[case(KeyCode::Char('f'), KeyModifiers::NONE, Action::Forwards)]
    #[case(KeyCode::Char('c'), KeyModifiers::CONTROL, Action::Quit)]
    #[case(KeyCode::Char('p'), KeyModifiers::CONTROL, Action::Pause)]
    #[case(KeyCode::Char('p'), KeyModifiers::NONE, Action::ProbeHop)]
    #[case(KeyCode::BackTab, KeyModifiers::SHIFT, Action::FocusPrevious)]
    #[case(KeyCode::Tab, KeyModifiers::SHIFT, Action::FocusPrevious)]
    #[case(KeyCode::Char('3'), KeyModifiers::NONE, Action::Tab(DetailTab::Dns))]
    #[case(KeyCode::Esc, KeyModifiers::NONE, Action::Back)]
    fn keys_mean_actions(
        #[case] code: KeyCode,
        #[case] modifiers: KeyModifiers,
        #[case] expected: Action,
    ) {
        assert_eq!(action_for(&press(code, modifiers)), Some(expected));
    }

    #[rstest]
    #[case(KeyCode::Char('x'), KeyModifiers::NONE)]
    #[case(KeyCode::Char('j'), KeyModifiers::CONTROL)]
    #[case(KeyCode::F(5), KeyModifiers::NONE)]
    fn unbound_keys_mean_nothing(#[case] code: KeyCode, #[case] modifiers: KeyModifiers) {
        assert_eq!(action_for(&press(code, modifiers)), None);
    }

    #[test]
    fn every_binding_round_trips_through_its_key() {
        for binding in BINDINGS {
            let event = press(binding.code, binding.modifiers);
            assert_eq!(action_for(&event), Some(binding.action), "{binding:?}");
        }
    }

    #[test]
    fn no_key_is_bound_twice() {
        for (index, binding) in BINDINGS.iter().enumerate() {
            let twice = BINDINGS
                .iter()
                .skip(index + 1)
                .any(|other| other.code == binding.code && other.modifiers == binding.modifiers);
            assert!(!twice, "{binding:?} is bound twice");
        }
    }

    #[test]
    fn every_action_has_a_key() {
        for action in Action::ALL {
            assert!(!keys_for(action).is_empty(), "{action} has no key");
        }
    }

    #[rstest]
    fn action_names_round_trip(
        #[values(
            Action::Quit,
            Action::MoveUp,
            Action::Tab(DetailTab::Yaml),
            Action::NamespacePicker,
            Action::ProbeService
        )]
        action: Action,
    ) {
        assert_eq!(action.as_str().parse::<Action>(), Ok(action));
    }

    #[test]
    fn all_action_names_round_trip_and_are_kebab_case() {
        for action in Action::ALL {
            let name = action.to_string();
            assert_eq!(Action::parse(&name), Some(action));
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{name}"
            );
        }
        assert!("no-such-action".parse::<Action>().is_err());
    }

    #[test]
    fn markdown_table_has_a_row_per_action_and_note() {
        let table = markdown_table();
        let rows = table.lines().count();
        assert_eq!(rows, 2 + Action::ALL.len() + HELP_NOTES.len(), "{table}");
        assert!(table.contains("| `j` `↓` | move down |"), "{table}");
        assert!(table.contains("| `q` `Ctrl-C` | quit |"), "{table}");
        assert!(
            table.contains(r":ns NAME\|all"),
            "a | in a cell is escaped: {table}"
        );
    }
}
