//! The Gateway API: which route rule a request takes through a Gateway's listener, which
//! listeners a route attaches to, and where its backends lead (rules GW1-GW17 in
//! `docs/rules.md`). Pure: the objects come from the snapshot.
//!
//! [`Gateways`] is the entry point; the sandbox's data plane calls [`Gateways::match_http`] and
//! [`Gateways::match_l4`] per request or connection, and picks a backend with
//! [`RouteMatch::pick`].

mod attach;
mod backends;
mod findings;
pub mod hostname;
mod links;
mod matcher;
mod objects;
mod request;
mod select;

pub use attach::{
    AttachFailure, Attachment, allows_kind, allows_namespace, attach, protocol_kinds,
    selects_listener,
};
pub use backends::{BackendProblem, WeightedBackend};
pub(crate) use findings::{RouteFinding, route_findings};
pub use links::{GatewayEntry, GatewayRouteRef, is_http, match_texts};
pub(crate) use links::{RouteLinks, route_links};
pub use matcher::{
    MatchStrength, best_host, grpc_match, host_strength, http_match, prefix_matches,
};
pub use objects::{
    GATEWAY_API_KINDS, GatewayApiObject, GatewayObjects, RouteKind, RouteSource, RouteView,
    RuleView,
};
pub use request::HttpRequest;
pub use select::{Gateways, ParentAttachment, RouteMatch, current, status_entry};

#[cfg(test)]
mod tests;
