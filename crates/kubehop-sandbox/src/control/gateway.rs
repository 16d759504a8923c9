//! The Gateway controller ([`crate::gateway`]): once the Gateway API CRDs are served it
//! creates the sandbox's GatewayClass, gives every Gateway of a class it controls an address
//! from the LoadBalancer pool (the one it asks for in `spec.addresses` when free, else the
//! next one), and writes the status of its GatewayClasses, Gateways and routes. One pass
//! recomputes everything from the store: the rules are global (a ReferenceGrant, a Service or
//! a Namespace label changes other objects' status), and a pass writes only what changed.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde_json::Value;

use super::{Controller, Key, LbOwner};
use crate::gateway::objects::{self, World};
use crate::gateway::{self, status};
use crate::resources::ResourceId;
use crate::store::{Part, StoreError, WriteOptions};

/// Whether an event of `resource` can change what the controller writes.
pub(super) fn concerns(c: &Controller, resource: ResourceId) -> bool {
    let info = resource.info();
    if info.group == gateway::GROUP {
        return true;
    }
    match resource {
        ResourceId::CustomResourceDefinitions => true,
        ResourceId::Services | ResourceId::Namespaces => {
            !c.gateway_addresses.is_empty()
                || objects::resources(&c.store).contains_key("HTTPRoute")
        }
        _ => false,
    }
}

pub(super) fn reconcile(c: &mut Controller) -> Result<(), StoreError> {
    let ids = objects::resources(&c.store);
    if ids.is_empty() {
        c.gateway_addresses.clear();
        return Ok(());
    }
    if ids.contains_key("GatewayClass") {
        gateway::install_class(&c.store)?;
    }
    let world = World::read(&c.store);
    let now = c.now();
    if let Some(id) = ids.get("GatewayClass") {
        let (classes, _) = c.store.list_objects(*id, None);
        for class in classes {
            let value = class.value();
            if value
                .pointer("/spec/controllerName")
                .and_then(Value::as_str)
                != Some(gateway::CONTROLLER_NAME)
            {
                continue;
            }
            let generation = value
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let previous = value.get("status").cloned().unwrap_or(Value::Null);
            let wanted = status::gateway_class(generation, &previous, &now);
            let key = (String::new(), class.name().to_owned());
            write_if_changed(c, *id, &key, &previous, wanted)?;
        }
    }
    let addresses = assign_addresses(c, &world);
    let counts = status::attached_routes(&world);
    if let Some(id) = ids.get("Gateway") {
        for (index, gw) in world.gateways.iter().enumerate() {
            if !world.is_ours(&gw.class) {
                continue;
            }
            let key = (gw.namespace.clone(), gw.name.clone());
            let attached = counts.get(&index).cloned().unwrap_or_default();
            let wanted = status::gateway(gw, addresses.get(&key).copied(), &attached, &now);
            write_if_changed(c, *id, &key, &gw.status, wanted)?;
        }
    }
    for route in &world.routes {
        if let Some(wanted) = status::route(&world, route, &now) {
            let key = (route.namespace.clone(), route.name.clone());
            write_if_changed(c, route.resource, &key, &route.status, wanted)?;
        }
    }
    Ok(())
}

/// Gives each Gateway of the sandbox's classes an address and frees those of the others.
fn assign_addresses(c: &mut Controller, world: &World) -> BTreeMap<Key, Ipv4Addr> {
    let ours: BTreeMap<Key, &objects::Gateway> = world
        .gateways
        .iter()
        .filter(|g| world.is_ours(&g.class))
        .map(|g| ((g.namespace.clone(), g.name.clone()), g))
        .collect();
    let gone: Vec<Key> = c
        .gateway_addresses
        .keys()
        .filter(|k| !ours.contains_key(*k))
        .cloned()
        .collect();
    for key in gone {
        c.gateway_addresses.remove(&key);
        c.lb_ips.release_all(&LbOwner::Gateway(key));
    }
    for (key, gw) in &ours {
        let owner = LbOwner::Gateway(key.clone());
        let held = c.gateway_addresses.get(key).copied();
        // Asked for, or already in the status (replayed, or ours from before): kept when free.
        let wanted = gw.requested.first().or(gw.addresses.first()).copied();
        let usable = |ip: Ipv4Addr, c: &Controller| {
            c.lb_ips.contains(u32::from(ip))
                && c.lb_ips
                    .owner(u32::from(ip))
                    .is_none_or(|holder| *holder == owner)
        };
        let ip = match (held, wanted) {
            (Some(held), Some(wanted)) if held == wanted => Some(held),
            (_, Some(wanted)) if usable(wanted, c) => Some(wanted),
            (Some(held), _) => Some(held),
            (None, _) => c.lb_ips.allocate(owner.clone()).map(Ipv4Addr::from),
        };
        c.lb_ips.release_all(&owner);
        match ip {
            Some(ip) => {
                c.lb_ips.claim(u32::from(ip), owner);
                c.gateway_addresses.insert(key.clone(), ip);
            }
            None => {
                c.gateway_addresses.remove(key);
                c.notes.push(format!(
                    "Gateway {}/{} gets no address: the load balancer address pool is full",
                    key.0, key.1
                ));
            }
        }
    }
    c.gateway_addresses.clone()
}

/// Writes `wanted` as the status of `key` unless it already is.
fn write_if_changed(
    c: &Controller,
    resource: ResourceId,
    key: &Key,
    current: &Value,
    wanted: Value,
) -> Result<(), StoreError> {
    if *current == wanted {
        return Ok(());
    }
    let part = if resource.info().status_subresource {
        Part::Status
    } else {
        Part::Whole
    };
    c.store.modify_object(
        resource,
        &key.0,
        &key.1,
        part,
        WriteOptions::controller(),
        |value| {
            if let Some(map) = value.as_object_mut() {
                map.insert("status".to_owned(), wanted);
            }
            Ok(())
        },
    )?;
    Ok(())
}
