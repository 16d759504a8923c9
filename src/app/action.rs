//! What the user meant: every key (and mouse gesture) maps to one [`Action`].

use std::fmt;

/// A detail tab under the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DetailTab {
    #[default]
    Ports,
    Diagnostics,
    Dns,
    Probe,
    Yaml,
    /// NetworkPolicy: the policies of the selected hop and the verdict for the chosen source.
    Policy,
}

impl DetailTab {
    pub const ALL: [DetailTab; 6] = [
        DetailTab::Ports,
        DetailTab::Diagnostics,
        DetailTab::Dns,
        DetailTab::Probe,
        DetailTab::Yaml,
        DetailTab::Policy,
    ];

    pub fn title(self) -> &'static str {
        match self {
            DetailTab::Ports => "Ports",
            DetailTab::Diagnostics => "Diagnostics",
            DetailTab::Dns => "DNS",
            DetailTab::Probe => "Probe",
            DetailTab::Yaml => "YAML",
            DetailTab::Policy => "Policy",
        }
    }

    /// The digit that selects the tab (`1`-`6`).
    pub fn digit(self) -> char {
        match self {
            DetailTab::Ports => '1',
            DetailTab::Diagnostics => '2',
            DetailTab::Dns => '3',
            DetailTab::Probe => '4',
            DetailTab::Yaml => '5',
            DetailTab::Policy => '6',
        }
    }
}

/// What the user meant, independent of the key that said it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Quit,
    MoveUp,
    MoveDown,
    First,
    Last,
    PageUp,
    PageDown,
    /// Enter/Space: expand or collapse the selected tree node, or drill into a pod (pause on
    /// the header).
    Toggle,
    /// `←`: collapse, go to the parent, or move focus left.
    Collapse,
    /// `→`: expand, or move focus right.
    Expand,
    /// `h`: back one pane, towards the Services list.
    PaneBack,
    FocusNext,
    FocusPrevious,
    Tab(DetailTab),
    Filter,
    CommandLine,
    /// Esc: close what is open, clear the filter, go back.
    Back,
    NamespacePicker,
    Sort,
    Help,
    Pause,
    ProbeHop,
    ProbeService,
    /// Shift-F: port-forward the selected Service port (asks for the local port).
    ForwardPort,
    /// `f`: the list of forwards.
    Forwards,
    /// `d`: describe the selected pod or Service.
    Describe,
    /// `l`: the selected pod's log (elsewhere like `→`).
    Logs,
    /// `y`: the selected object's full YAML, read now.
    Yaml,
    /// Ctrl-A: the `:` commands and their aliases.
    Aliases,
    /// `c`: copy the selected Service's copy-ready fix to the clipboard (OSC 52).
    CopyFix,
    /// `b`: show only the broken Services, or all again.
    BrokenOnly,
    /// The first pod behind a Service that is failing (not ready, not terminating): `:pods`
    /// with that pod described.
    FailingPod,
}

impl Action {
    /// Every action, for round-trip tests and the help overlay.
    pub const ALL: [Action; 37] = [
        Action::Quit,
        Action::MoveUp,
        Action::MoveDown,
        Action::First,
        Action::Last,
        Action::PageUp,
        Action::PageDown,
        Action::Toggle,
        Action::Collapse,
        Action::Expand,
        Action::PaneBack,
        Action::FocusNext,
        Action::FocusPrevious,
        Action::Tab(DetailTab::Ports),
        Action::Tab(DetailTab::Diagnostics),
        Action::Tab(DetailTab::Dns),
        Action::Tab(DetailTab::Probe),
        Action::Tab(DetailTab::Yaml),
        Action::Tab(DetailTab::Policy),
        Action::Filter,
        Action::CommandLine,
        Action::Back,
        Action::NamespacePicker,
        Action::Sort,
        Action::Help,
        Action::Pause,
        Action::ProbeHop,
        Action::ProbeService,
        Action::ForwardPort,
        Action::Forwards,
        Action::Describe,
        Action::Logs,
        Action::Yaml,
        Action::Aliases,
        Action::CopyFix,
        Action::BrokenOnly,
        Action::FailingPod,
    ];

    /// The kebab-case name (stable: key configuration may use it).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::MoveUp => "move-up",
            Action::MoveDown => "move-down",
            Action::First => "first",
            Action::Last => "last",
            Action::PageUp => "page-up",
            Action::PageDown => "page-down",
            Action::Toggle => "toggle",
            Action::Collapse => "collapse",
            Action::Expand => "expand",
            Action::PaneBack => "pane-back",
            Action::FocusNext => "focus-next",
            Action::FocusPrevious => "focus-previous",
            Action::Tab(DetailTab::Ports) => "tab-ports",
            Action::Tab(DetailTab::Diagnostics) => "tab-diagnostics",
            Action::Tab(DetailTab::Dns) => "tab-dns",
            Action::Tab(DetailTab::Probe) => "tab-probe",
            Action::Tab(DetailTab::Yaml) => "tab-yaml",
            Action::Tab(DetailTab::Policy) => "tab-policy",
            Action::Filter => "filter",
            Action::CommandLine => "command-line",
            Action::Back => "back",
            Action::NamespacePicker => "namespace-picker",
            Action::Sort => "sort",
            Action::Help => "help",
            Action::Pause => "pause",
            Action::ProbeHop => "probe-hop",
            Action::ProbeService => "probe-service",
            Action::ForwardPort => "forward-port",
            Action::Forwards => "forwards",
            Action::Describe => "describe",
            Action::Logs => "logs",
            Action::Yaml => "yaml",
            Action::Aliases => "aliases",
            Action::CopyFix => "copy-fix",
            Action::BrokenOnly => "broken-only",
            Action::FailingPod => "failing-pod",
        }
    }

    /// What the action does, for the help overlay.
    pub fn describe(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::MoveUp => "move up",
            Action::MoveDown => "move down",
            Action::First => "first row",
            Action::Last => "last row",
            Action::PageUp => "page up",
            Action::PageDown => "page down",
            Action::Toggle => "expand/collapse; on a pod: describe it (pause on the header)",
            Action::Collapse => "collapse, parent, or pane to the left",
            Action::Expand => "expand, or pane to the right",
            Action::PaneBack => "back one pane (Chain → Services)",
            Action::FocusNext => "next pane",
            Action::FocusPrevious => "previous pane",
            Action::Tab(DetailTab::Ports) => "Ports tab",
            Action::Tab(DetailTab::Diagnostics) => "Diagnostics tab",
            Action::Tab(DetailTab::Dns) => "DNS tab",
            Action::Tab(DetailTab::Probe) => "Probe tab",
            Action::Tab(DetailTab::Yaml) => "YAML tab",
            Action::Tab(DetailTab::Policy) => "Policy tab (:from picks the source)",
            Action::Filter => "filter Services (text or label=value)",
            Action::CommandLine => "command (:svc, :pods, :ep, :ing, :ns NAME|all, :ctx, :pf, :q)",
            Action::Back => "back: close, clear the filter",
            Action::NamespacePicker => "pick a namespace",
            Action::Sort => "sort by health / name",
            Action::Help => "this help",
            Action::Pause => "pause/resume live updates",
            Action::ProbeHop => "probe the selected hop",
            Action::ProbeService => "probe the whole Service",
            Action::ForwardPort => "port-forward the selected Service port, load-balanced",
            Action::Forwards => "list port-forwards (d stops one)",
            Action::Describe => "describe the pod (probes, Events) or the Service (workload)",
            Action::Logs => "logs of the selected pod (on other hops: like →)",
            Action::Yaml => "full YAML of the selected object, read now",
            Action::Aliases => "the : commands and their aliases",
            Action::CopyFix => "copy the Service's kubectl fix (OSC 52 clipboard)",
            Action::BrokenOnly => "show only broken Services / all",
            Action::FailingPod => "describe the first failing pod (why it is not ready)",
        }
    }

    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL
            .into_iter()
            .find(|action| action.as_str() == name)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Action {
    type Err = UnknownAction;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Action::parse(name).ok_or_else(|| UnknownAction(name.to_owned()))
    }
}

/// A name that is no [`Action`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown action {0:?}")]
pub struct UnknownAction(pub String);
