//! Printed forms of the engine's model: `kubehop chain` and `kubehop route` as text, JSON and
//! YAML, and the commands that print them.
//!
//! - [`chain`]: Service selection (`SERVICE`, `-n`, `-A`), the JSON/YAML document and the text
//!   tree of every hop.
//! - [`route`]: the destination and `--from` syntax, and the text form of a routing decision.
//! - [`route_policy`]: the NetworkPolicy verdict `route` prints beside kube-proxy's.
//! - [`run`]: the commands themselves (source flags → snapshot feed → engine → output) and
//!   their exit statuses.
//! - [`probe`] and [`probe_run`]: `kubehop probe` (the report as text, JSON or YAML, and the
//!   command itself).

pub mod chain;
pub mod probe;
pub mod probe_dns;
pub mod probe_run;
pub mod route;
pub mod route_gateway;
pub mod route_policy;
pub mod run;
pub mod style;
pub mod tree;

pub use run::{EXIT_ERRORS_FOUND, EXIT_OK, EXIT_USAGE};
