//! The TUI without a terminal: the app driven through `update` and rendered into a
//! TestBackend (frame snapshots), with forwards and probes, and on a live sandbox.

#[path = "../support/mod.rs"]
mod support;

mod dns;
mod drill;
mod findings;
mod fixes;
mod forward;
mod gateway;
mod live;
mod nodes;
mod policy;
mod probe;
mod screens;
mod tmux;
mod unbound;
mod update;
