//! core/v1 Endpoints derived from EndpointSlices (spec rule A11), kept read-only in the store.
//!
//! Per address: ready (or unset) → `addresses`; not ready and terminating → dropped; not ready
//! otherwise → `notReadyAddresses`. A publishNotReadyAddresses Service's slices already say
//! ready, so its pods land in `addresses`. Slices with the same port list form one subset.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// Addresses of one subset by IP: (EndpointAddress, ready).
type Addresses = BTreeMap<String, (Value, bool)>;

/// The `subsets` of the Endpoints for one Service, from the slices labelled with its name.
pub fn derive_subsets(slices: &[Value]) -> Vec<Value> {
    // port signature -> (ports, ip -> (address entry, ready))
    let mut groups: BTreeMap<String, (Vec<Value>, Addresses)> = BTreeMap::new();
    for slice in slices {
        let address_type = slice
            .get("addressType")
            .and_then(Value::as_str)
            .unwrap_or("");
        if address_type != "IPv4" && address_type != "IPv6" {
            continue;
        }
        let ports: Vec<Value> = slice
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|p| p.get("port").and_then(Value::as_i64).is_some())
            .map(endpoint_port)
            .collect();
        let signature = serde_json::to_string(&ports).unwrap_or_default();
        let entry = groups
            .entry(signature)
            .or_insert_with(|| (ports, BTreeMap::new()));
        for endpoint in slice
            .get("endpoints")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(ip) = endpoint
                .get("addresses")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(Value::as_str)
            else {
                continue;
            };
            let Some((address, ready)) = endpoint_address(endpoint, ip) else {
                continue;
            };
            entry.1.insert(ip.to_string(), (address, ready));
        }
    }
    let mut subsets = Vec::new();
    for (_, (ports, addresses)) in groups {
        let (ready, not_ready): (Vec<_>, Vec<_>) = addresses.into_values().partition(|(_, r)| *r);
        if ready.is_empty() && not_ready.is_empty() {
            continue;
        }
        let mut subset = Map::new();
        if !ready.is_empty() {
            subset.insert(
                "addresses".into(),
                Value::Array(ready.into_iter().map(|(a, _)| a).collect()),
            );
        }
        if !not_ready.is_empty() {
            subset.insert(
                "notReadyAddresses".into(),
                Value::Array(not_ready.into_iter().map(|(a, _)| a).collect()),
            );
        }
        if !ports.is_empty() {
            subset.insert("ports".into(), Value::Array(ports));
        }
        subsets.push(Value::Object(subset));
    }
    subsets
}

/// The EndpointAddress of one slice endpoint at `ip`, and whether it is ready; `None` for a
/// terminating endpoint that is not ready (Endpoints leave those out).
fn endpoint_address(endpoint: &Value, ip: &str) -> Option<(Value, bool)> {
    let condition = |name: &str| {
        endpoint
            .pointer(&format!("/conditions/{name}"))
            .and_then(Value::as_bool)
    };
    let ready = condition("ready").unwrap_or(true);
    let terminating = condition("terminating").unwrap_or(false);
    if !ready && terminating {
        return None;
    }
    let mut address = Map::new();
    address.insert("ip".into(), json!(ip));
    if let Some(hostname) = endpoint.get("hostname").filter(|h| h.is_string()) {
        address.insert("hostname".into(), hostname.clone());
    }
    if let Some(node) = endpoint.get("nodeName").filter(|n| n.is_string()) {
        address.insert("nodeName".into(), node.clone());
    }
    if let Some(target) = endpoint.get("targetRef").filter(|t| t.is_object()) {
        address.insert("targetRef".into(), target.clone());
    }
    Some((Value::Object(address), ready))
}

fn endpoint_port(port: &Value) -> Value {
    let mut out = Map::new();
    for key in ["name", "port", "protocol", "appProtocol"] {
        if let Some(value) = port.get(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), value.clone());
        }
    }
    out.entry("protocol").or_insert_with(|| json!("TCP"));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_unready_and_terminating_addresses_follow_a11() {
        let slice = json!({
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [
                {"addresses": ["127.1.0.2"], "conditions": {"ready": true}, "nodeName": "a"},
                {"addresses": ["127.1.0.3"], "conditions": {"ready": false}},
                {"addresses": ["127.1.0.4"], "conditions": {"ready": false, "serving": true, "terminating": true}},
                {"addresses": ["127.1.0.5"]}
            ]
        });
        let subsets = derive_subsets(&[slice]);
        assert_eq!(
            subsets,
            vec![json!({
                "addresses": [{"ip": "127.1.0.2", "nodeName": "a"}, {"ip": "127.1.0.5"}],
                "notReadyAddresses": [{"ip": "127.1.0.3"}],
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
            })]
        );
    }

    #[test]
    fn slices_without_endpoints_give_no_subsets() {
        let placeholder = json!({"addressType": "IPv4", "endpoints": []});
        assert!(derive_subsets(&[placeholder]).is_empty());
        let fqdn = json!({"addressType": "FQDN", "endpoints": [{"addresses": ["a.example"]}]});
        assert!(derive_subsets(&[fqdn]).is_empty());
    }
}
