//! kubehop against a live cluster (the sandbox, loopback only): connecting like kubectl, the
//! live source, and `chain`, `probe` and `forward` in-process and through the binary.

#[path = "../support/mod.rs"]
mod support;

mod cli;
mod client;
mod forward;
mod forward_cli;
mod gateway;
mod inspect;
mod logs;
mod open;
mod probe;
mod probe_cli;
mod restart;
mod scale;
mod watch;
