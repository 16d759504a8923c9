//! The DNS tab on a Gateway route hop: the names clients use to reach the route (the hostnames
//! where the route's and the listener's intersect) and the Gateway address each must resolve
//! to. Those are names in the clients' DNS (public or corporate), not the cluster DNS's.

use ratatui::text::{Line, Span};

use super::text::{pad, push_wrapped, truncate, width as cell_width};
use super::theme::Theme;
use crate::app::state::{AppState, Focus};
use crate::engine::gateway::GatewayRouteRef;
use crate::engine::hops::gateway_key;
use crate::engine::model::{Hop, ServiceChain};
use crate::printable::escape;

/// The route hop selected in the chain (not while the Services list has focus).
pub(super) fn selected_route<'c>(
    state: &AppState,
    chain: &'c ServiceChain,
) -> Option<&'c GatewayRouteRef> {
    if state.focus == Focus::Services {
        return None;
    }
    let hop @ Hop::GatewayRoute { .. } = state.selected_node()?.hop.as_ref()? else {
        return None;
    };
    chain
        .gateway_routes
        .iter()
        .find(|route| &gateway_key(route) == hop)
}

/// The names a route hop needs resolved, then a line before the Service's own records; empty
/// when no route hop is selected.
pub(super) fn route_dns_lines(
    state: &AppState,
    chain: &ServiceChain,
    theme: &Theme,
    width: usize,
) -> Vec<Line<'static>> {
    let Some(route) = selected_route(state, chain) else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    let gateway = &route.gateway;
    let name = format!("Gateway {}/{}", gateway.namespace, gateway.name);
    if let Some(problem) = &gateway.problem {
        let text = format!(
            "{} {}/{} does not attach to {name} ({problem}): no name leads clients here.",
            route.kind, route.namespace, route.name
        );
        push_wrapped(&mut lines, &text, 0, width, theme.warning);
    } else if gateway.addresses.is_empty() {
        let text = format!("{name} has no address yet: there is nothing to resolve its names to.");
        push_wrapped(&mut lines, &text, 0, width, theme.warning);
    } else {
        let listener = gateway.listener.as_deref().unwrap_or("?");
        let port = gateway.port.map_or("?".to_owned(), |p| p.to_string());
        let text = format!(
            "Clients reach {} {}/{} through listener {listener:?} of {name} (port {port}): in their DNS (not the cluster DNS) each name must resolve to the Gateway's address.",
            route.kind, route.namespace, route.name
        );
        push_wrapped(&mut lines, &text, 0, width, theme.dim);
        lines.extend(name_lines(route, theme, width));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "The Service's own records (cluster DNS):",
        theme.dim,
    ));
    lines
}

/// One line per (name, address): `A     www.shop.test → 127.20.0.5`.
fn name_lines(route: &GatewayRouteRef, theme: &Theme, width: usize) -> Vec<Line<'static>> {
    let gateway = &route.gateway;
    let names: Vec<String> = if gateway.hostnames.is_empty() {
        vec!["(any name)".to_owned()]
    } else {
        gateway
            .hostnames
            .iter()
            .map(|h| escape(h).into_owned())
            .collect()
    };
    let name_width = names
        .iter()
        .map(|n| cell_width(n))
        .max()
        .unwrap_or(0)
        .min(width.saturating_sub(24));
    let mut lines = Vec::new();
    for name in &names {
        for address in &gateway.addresses {
            let kind = match address.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V4(_)) => "A",
                Ok(std::net::IpAddr::V6(_)) => "AAAA",
                Err(_) => "CNAME",
            };
            let room = width.saturating_sub(6 + name_width + 3);
            lines.push(Line::from(vec![
                Span::styled(pad(kind, 6), theme.accent),
                Span::raw(pad(name, name_width)),
                Span::styled(" → ".to_owned(), theme.dim),
                Span::raw(truncate(&escape(address), room)),
            ]));
        }
    }
    if gateway.hostnames.iter().any(|h| h.starts_with("*.")) {
        push_wrapped(
            &mut lines,
            "A wildcard stands for every name under it: a wildcard record, or one record per name clients use.",
            0,
            width,
            theme.dim,
        );
    }
    lines
}
