//! In-process tests of the library with no cluster, binary or terminal: the engine's rules and
//! robustness, dump loading, and the probe's runner over fake transports.

#[path = "../support/mod.rs"]
mod support;

mod dump_load;
mod dump_proptest;
mod dump_scenarios;
mod netpol;
mod netpol_findings;
mod nodes;
mod precision;
mod probe_local;
mod robustness;
mod rules;
