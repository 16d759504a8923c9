//! Printed forms of the engine's model: `chain` and `route` as text, JSON and YAML.
//!
//! - [`probe`] and [`probe_run`]: `kubehop probe` (the report as text, JSON or YAML, and the
//!   command itself).

pub mod probe;
pub mod probe_run;
