//! The built binaries (`kubehop`, `kubectl-hop`) as a user runs them: `chain`, `route`, the
//! scenario files, the toolbox (version, completions, man pages, kubectl plugin), the recorded
//! demo, the TUI in a real terminal, logging and each subcommand's flags, and the portable
//! end-to-end suite.

#[path = "../support/mod.rs"]
mod support;

mod chain;
mod demo;
mod e2e_chain;
mod gateway;
mod gateway_real;
mod hostile;
mod hostile_gateway;
mod kubectl_plugin;
mod logging;
mod namespaces;
mod netpol;
mod perf;
mod route;
mod scenarios;
mod toolbox;
mod tui_pty;
