//! The cloud controller: LoadBalancer Services get an ingress IP from the instance's pool
//! (ipMode VIP), Ingresses get one too. `sandbox.kubehop.dev/lb: pending` keeps a Service's
//! load balancer pending (rule C5's `lb-pending` case).

use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::{Controller, Key, LB_ANNOTATION, LbOwner};
use crate::resources::ResourceId;
use crate::store::StoreError;

fn ingress_ips(object: &Value) -> Vec<Ipv4Addr> {
    object
        .pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.get("ip").and_then(Value::as_str))
        .filter_map(|ip| ip.parse().ok())
        .collect()
}

fn has_ingress(object: &Value) -> bool {
    object
        .pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .is_some_and(|entries| !entries.is_empty())
}

fn write_load_balancer(
    c: &Controller,
    resource: ResourceId,
    key: &Key,
    load_balancer: Value,
) -> Result<(), StoreError> {
    c.write_status(resource, key, |value| {
        if !value.get("status").is_some_and(Value::is_object) {
            value["status"] = json!({});
        }
        value["status"]["loadBalancer"] = load_balancer;
        Ok(())
    })?;
    Ok(())
}

/// Gives `owner` an address: the one it asked for when free in the pool, else the next one.
fn allocate(c: &mut Controller, owner: LbOwner, requested: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
    if let Some(ip) = requested
        && c.lb_ips.contains(u32::from(ip))
        && c.lb_ips.owner(u32::from(ip)).is_none()
    {
        c.lb_ips.claim(u32::from(ip), owner);
        return Some(ip);
    }
    c.lb_ips.allocate(owner).map(Ipv4Addr::from)
}

pub(super) fn reconcile_service(c: &mut Controller, key: &Key) -> Result<(), StoreError> {
    let owner = LbOwner::Service(key.clone());
    let Some(stored) = c.store.get_object(ResourceId::Services, &key.0, &key.1) else {
        c.lb_ips.release_all(&owner);
        return Ok(());
    };
    let service = stored.value();
    let is_load_balancer =
        service.pointer("/spec/type").and_then(Value::as_str) == Some("LoadBalancer");
    let pending = service
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LB_ANNOTATION))
        .and_then(Value::as_str)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("pending"));
    let ours = !c.lb_ips.held_by(&owner).is_empty();
    if !is_load_balancer || pending {
        // The load balancer goes away (type changed, or told to stay pending).
        if has_ingress(&service) && (ours || pending) {
            write_load_balancer(c, ResourceId::Services, key, json!({}))?;
        }
        c.lb_ips.release_all(&owner);
        return Ok(());
    }
    if has_ingress(&service) {
        // Replayed (or ours already): record addresses inside the pool as taken.
        for ip in ingress_ips(&service) {
            if c.lb_ips.contains(u32::from(ip)) && c.lb_ips.owner(u32::from(ip)).is_none() {
                c.lb_ips.claim(u32::from(ip), owner.clone());
            }
        }
        return Ok(());
    }
    let requested = service
        .pointer("/spec/loadBalancerIP")
        .and_then(Value::as_str)
        .and_then(|ip| ip.parse().ok());
    let Some(ip) = allocate(c, owner, requested) else {
        c.notes.push(format!(
            "LoadBalancer Service {}/{} stays pending: the load balancer address pool is full",
            key.0, key.1
        ));
        return Ok(());
    };
    write_load_balancer(
        c,
        ResourceId::Services,
        key,
        json!({"ingress": [{"ip": ip.to_string(), "ipMode": "VIP"}]}),
    )
}

pub(super) fn reconcile_ingress(c: &mut Controller, key: &Key) -> Result<(), StoreError> {
    let owner = LbOwner::Ingress(key.clone());
    let Some(stored) = c.store.get_object(ResourceId::Ingresses, &key.0, &key.1) else {
        c.lb_ips.release_all(&owner);
        return Ok(());
    };
    let ingress = stored.value();
    if has_ingress(&ingress) {
        for ip in ingress_ips(&ingress) {
            if c.lb_ips.contains(u32::from(ip)) && c.lb_ips.owner(u32::from(ip)).is_none() {
                c.lb_ips.claim(u32::from(ip), owner.clone());
            }
        }
        return Ok(());
    }
    let Some(ip) = allocate(c, owner, None) else {
        return Ok(());
    };
    write_load_balancer(
        c,
        ResourceId::Ingresses,
        key,
        json!({"ingress": [{"ip": ip.to_string()}]}),
    )
}
