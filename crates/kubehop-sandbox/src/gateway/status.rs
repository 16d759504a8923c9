//! The status the sandbox's Gateway controller writes, computed from a [`World`] as a
//! conformant implementation writes it: GatewayClass `Accepted`; Gateway `addresses`,
//! `Accepted` and `Programmed`, and per listener `supportedKinds`, `attachedRoutes` and the
//! `Accepted`, `Programmed`, `ResolvedRefs` and `Conflicted` conditions; on routes, one
//! `status.parents` entry per parentRef naming a Gateway of the sandbox's class, with
//! `Accepted` and `ResolvedRefs` (entries of other controllers are kept as they are).
//!
//! Conditions keep their `lastTransitionTime` while their status does not change.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::attach::{self, Parent, Refusal};
use super::objects::{Gateway, Route, World};
use super::{CONTROLLER_NAME, GROUP};

/// One condition, its transition time carried over from `previous` (a conditions array) when
/// its status is unchanged.
fn condition(
    (kind, ok): (&str, bool),
    (reason, message): (&str, &str),
    generation: i64,
    previous: Option<&Value>,
    now: &str,
) -> Value {
    let status = if ok { "True" } else { "False" };
    let since = previous
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c["type"] == kind && c["status"] == status)
        .and_then(|c| c["lastTransitionTime"].as_str())
        .unwrap_or(now);
    json!({
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": since,
    })
}

/// A condition that is True with the reason named like the type, or False with a refusal.
fn verdict(
    kind: &str,
    result: Result<&str, &Refusal>,
    generation: i64,
    previous: Option<&Value>,
    now: &str,
) -> Value {
    match result {
        Ok(message) => condition((kind, true), (kind, message), generation, previous, now),
        Err((reason, message)) => {
            condition((kind, false), (reason, message), generation, previous, now)
        }
    }
}

/// The status of a GatewayClass the sandbox controls.
pub fn gateway_class(generation: i64, previous: &Value, now: &str) -> Value {
    json!({"conditions": [verdict(
        "Accepted",
        Ok("the kubehop sandbox's Gateway controller handles this class"),
        generation,
        previous.get("conditions"),
        now,
    )]})
}

/// A Gateway's status: `address` is the loopback address it was given (`None`: the pool is
/// full), `attached[i]` how many routes listener `i` counts.
pub fn gateway(
    gateway: &Gateway,
    address: Option<Ipv4Addr>,
    attached: &[usize],
    now: &str,
) -> Value {
    let generation = gateway.generation;
    let previous = &gateway.status;
    let programmed: Result<&str, Refusal> = match address {
        Some(_) => Ok("the sandbox's data plane listens on the Gateway's address"),
        None => Err((
            "AddressNotAssigned",
            "the sandbox's address pool is full".to_owned(),
        )),
    };
    let listeners: Vec<Value> = (0..gateway.listeners.len())
        .map(|i| {
            let previous = previous
                .get("listeners")
                .and_then(Value::as_array)
                .and_then(|ls| {
                    ls.iter()
                        .find(|l| l["name"] == gateway.listeners[i].name.as_str())
                })
                .and_then(|l| l.get("conditions"));
            listener(
                gateway,
                i,
                (address.is_some(), attached.get(i).copied().unwrap_or(0)),
                previous,
                now,
            )
        })
        .collect();
    let conditions = previous.get("conditions");
    json!({
        "addresses": address.map(|ip| vec![json!({"type": "IPAddress", "value": ip.to_string()})]).unwrap_or_default(),
        "conditions": [
            verdict("Accepted", Ok("accepted by the kubehop sandbox"), generation, conditions, now),
            verdict("Programmed", programmed.as_ref().map(|m| *m), generation, conditions, now),
        ],
        "listeners": listeners,
    })
}

/// One listener's status entry.
fn listener(
    gateway: &Gateway,
    index: usize,
    (addressed, attached): (bool, usize),
    previous: Option<&Value>,
    now: &str,
) -> Value {
    let listener = &gateway.listeners[index];
    let generation = gateway.generation;
    let (kinds, invalid_kinds) = attach::supported_kinds(listener);
    let accepted: Result<&str, Refusal> = if attach::served(listener) {
        Ok("the sandbox serves this listener")
    } else {
        Err((
            "UnsupportedProtocol",
            format!(
                "the sandbox does not serve protocol {} (tls mode {})",
                listener.protocol, listener.tls_mode
            ),
        ))
    };
    let resolved: Result<&str, Refusal> = if invalid_kinds {
        Err((
            "InvalidRouteKinds",
            "allowedRoutes.kinds names a kind this listener cannot carry".to_owned(),
        ))
    } else {
        Ok("every reference resolved")
    };
    let conflict = attach::conflict(gateway, index);
    let programmed: Result<&str, Refusal> = match (&accepted, conflict, addressed) {
        (Ok(_), None, true) => Ok("the sandbox listens for this listener"),
        (Ok(_), None, false) => Err(("Pending", "the Gateway has no address yet".to_owned())),
        _ => Err(("Invalid", "the listener is not served".to_owned())),
    };
    let conflicted = match conflict {
        Some(reason) => condition(
            ("Conflicted", true),
            (reason, "another listener on this port cannot be told apart"),
            generation,
            previous,
            now,
        ),
        None => condition(
            ("Conflicted", false),
            ("NoConflicts", "no conflict"),
            generation,
            previous,
            now,
        ),
    };
    json!({
        "name": listener.name,
        "supportedKinds": kinds.iter().map(|k| json!({"group": GROUP, "kind": k.kind()})).collect::<Vec<_>>(),
        "attachedRoutes": attached,
        "conditions": [
            verdict("Accepted", accepted.as_ref().map(|m| *m), generation, previous, now),
            verdict("Programmed", programmed.as_ref().map(|m| *m), generation, previous, now),
            verdict("ResolvedRefs", resolved.as_ref().map(|m| *m), generation, previous, now),
            conflicted,
        ],
    })
}

/// A route's status: the other controllers' entries, then the sandbox's, one per parentRef
/// naming a Gateway of its class. `None` when the sandbox has nothing to say and the route
/// carries nothing of the sandbox's.
pub fn route(world: &World, route: &Route, now: &str) -> Option<Value> {
    let previous_parents: Vec<Value> = route
        .status
        .get("parents")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut parents: Vec<Value> = previous_parents
        .iter()
        .filter(|p| p["controllerName"] != CONTROLLER_NAME)
        .cloned()
        .collect();
    let ours_before = parents.len() != previous_parents.len();
    let resolved = attach::resolved_refs(world, route);
    let mut ours = false;
    for parent in &route.parents {
        let Parent::Ours { accepted, .. } = attach::parent(world, route, parent) else {
            continue;
        };
        ours = true;
        let previous = previous_parents
            .iter()
            .find(|p| p["controllerName"] == CONTROLLER_NAME && p["parentRef"] == parent.raw)
            .and_then(|p| p.get("conditions"));
        let accepted = accepted.as_ref().map(|_| "accepted by the Gateway");
        let resolved = resolved.as_ref().map(|()| "every backendRef resolved");
        parents.push(json!({
            "parentRef": parent.raw,
            "controllerName": CONTROLLER_NAME,
            "conditions": [
                verdict("Accepted", accepted, route.generation, previous, now),
                verdict("ResolvedRefs", resolved, route.generation, previous, now),
            ],
        }));
    }
    (ours || ours_before).then(|| json!({"parents": parents}))
}

/// How many routes each listener of each Gateway counts, by Gateway index.
pub fn attached_routes(world: &World) -> BTreeMap<usize, Vec<usize>> {
    let mut counts: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for route in &world.routes {
        // A route is counted once per listener even when two parentRefs reach it.
        let mut seen = std::collections::BTreeSet::new();
        for parent in &route.parents {
            if let Parent::Ours {
                gateway, counted, ..
            } = attach::parent(world, route, parent)
            {
                for listener in counted {
                    if seen.insert((gateway, listener)) {
                        let slots = counts
                            .entry(gateway)
                            .or_insert_with(|| vec![0; world.gateways[gateway].listeners.len()]);
                        slots[listener] += 1;
                    }
                }
            }
        }
    }
    counts
}
