//! What every test binary shares, included by each with
//! `#[path = "../support/mod.rs"] mod support;`:
//!
//! - `fixtures`: the one set of object builders (typed, and as manifests for the sandbox);
//! - `wait`: waits for conditions with deadlines (never a fixed sleep);
//! - `sandbox`: starting the in-process sandbox, waiting on its store, probing its data plane;
//! - `bin`: running the built binaries, kubectl;
//! - per area: `engine` (chains, routes), `live` (the live source), `forward`, `probe`,
//!   `tui` (the app rendered into a TestBackend), `e2e` (a cluster through its API only).
//!
//! A binary uses part of it; the rest is dead code there. `benches/forward.rs` includes it too
//! (the forward helpers).
#![allow(dead_code)]

pub mod bin;
pub mod e2e;
pub mod engine;
pub mod fixtures;
pub mod forward;
pub mod live;
pub mod probe;
pub mod sandbox;
pub mod tmux;
pub mod tui;
pub mod wait;
