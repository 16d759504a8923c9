//! The JSON contracts: `kubehop chain -o json` and `kubehop route -o json`.

use serde_json::Value;

use crate::support::engine::*;
use crate::support::fixtures::*;

fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().expect("object").keys().cloned().collect();
    keys.sort();
    keys
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    names.sort();
    names
}

fn world() -> World {
    World::new()
        .nodes(three_nodes())
        .service(
            load_balancer_web("http")
                .lb_ingress(Some("127.20.0.1"), None, None)
                .lb_ingress(None, Some("lb.example.test"), None),
        )
        .service(
            service("api")
                .namespace("alpha")
                .cluster_ip("127.10.0.2")
                .port(None, 80, "80"),
        )
        .pod(
            pod("web-1", "127.2.0.1", "node-a")
                .labels(&[("app", "web")])
                .container_port("app", Some("http"), 8080, "TCP"),
        )
        .ingress(shop_ingress())
}

#[test]
fn chain_json_shape() {
    let model = world().model();
    let json = serde_json::to_value(&model).expect("serialises");
    assert_eq!(keys(&json), vec!["services"]);
    let services = json["services"].as_array().expect("array");
    let order: Vec<(&str, &str)> = services
        .iter()
        .map(|s| {
            (
                s["namespace"].as_str().expect("ns"),
                s["name"].as_str().expect("name"),
            )
        })
        .collect();
    assert_eq!(
        order,
        vec![("alpha", "api"), ("shop", "web")],
        "sorted by namespace, then name"
    );
    let web = &services[1];
    assert_eq!(
        keys(web),
        sorted(&[
            "namespace",
            "name",
            "type",
            "headless",
            "clusterIPs",
            "externalName",
            "selector",
            "externalTrafficPolicy",
            "internalTrafficPolicy",
            "sessionAffinity",
            "endpointsDerived",
            "ingresses",
            "ports",
            "dns",
            "diagnostics",
        ])
    );
    assert_eq!(web["type"], "LoadBalancer");
    assert_eq!(web["clusterIPs"], serde_json::json!(["127.10.0.1"]));
    assert_eq!(web["externalTrafficPolicy"], "Cluster");
    assert_eq!(web["endpointsDerived"], true);
    assert_eq!(
        web["ingresses"],
        serde_json::json!([{"namespace": "shop", "name": "shop", "host": "shop.example.test", "path": "/", "servicePort": "http"}])
    );
    let port = &web["ports"][0];
    assert_eq!(
        keys(port),
        sorted(&[
            "name",
            "protocol",
            "port",
            "targetPort",
            "nodePort",
            "appProtocol",
            "loadBalancer",
            "nodePorts",
            "clusterIP",
            "endpoints",
        ])
    );
    assert_eq!(port["targetPort"], "http");
    assert_eq!(
        port["loadBalancer"],
        serde_json::json!([
            {"ip": "127.20.0.1", "ipMode": "VIP", "port": 80},
            {"hostname": "lb.example.test", "ipMode": null, "port": 80}
        ])
    );
    assert_eq!(
        port["nodePorts"][0],
        serde_json::json!({"node": "node-a", "address": "127.1.0.1", "port": 30080, "localEndpoints": 1, "accepts": true})
    );
    assert_eq!(port["nodePorts"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        port["clusterIP"],
        serde_json::json!({"ip": "127.10.0.1", "port": 80})
    );
    assert_eq!(
        port["endpoints"][0],
        serde_json::json!({"pod": "web-1", "namespace": "shop", "node": "node-a", "zone": "zone-a", "hostname": null, "ip": "127.2.0.1", "port": 8080, "ready": true, "serving": true, "terminating": false})
    );
    assert_eq!(keys(&web["dns"][0]), sorted(&["name", "type", "value"]));
    let diagnostic = &web["diagnostics"][0];
    assert_eq!(
        keys(diagnostic),
        sorted(&["severity", "code", "message", "subject"])
    );

    let api = &services[0];
    assert_eq!(api["ports"][0]["name"], Value::Null);
    assert_eq!(api["ports"][0]["nodePort"], Value::Null);
    assert_eq!(api["selector"], Value::Null);
    assert_eq!(api["externalTrafficPolicy"], Value::Null);
}

#[test]
fn route_json_shape() {
    let model = world().model();
    let decision = route_full(
        &model,
        "127.20.0.1",
        80,
        Default::default(),
        from_outside("node-b"),
        Some("127.250.0.1"),
    );
    let json = serde_json::to_value(&decision).expect("serialises");
    assert_eq!(
        json,
        serde_json::json!({
            "destination": {"ip": "127.20.0.1", "port": 80, "protocol": "TCP"},
            "source": {"kind": "external", "node": "node-b"},
            "matched": {"namespace": "shop", "service": "web", "port": "http", "via": "loadBalancer"},
            "verdict": "forward",
            "endpoints": [{"pod": "web-1", "namespace": "shop", "node": "node-a", "ip": "127.2.0.1", "port": 8080, "ready": true, "serving": true, "terminating": false}]
        })
    );
    let none = route(&model, "127.99.0.1", 80, from_pod("node-a"));
    let json = serde_json::to_value(&none).expect("serialises");
    assert_eq!(json["matched"], Value::Null);
    assert_eq!(json["verdict"], "no-service");
    let unnamed = route(&model, "127.10.0.2", 80, from_pod("node-a"));
    assert_eq!(
        serde_json::to_value(&unnamed).expect("serialises")["matched"]["port"],
        80
    );
}

/// Stable identities for selections that survive snapshot updates.
#[test]
fn hop_keys_are_stable() {
    use kubehop::engine::model::{Hop, Protocol};
    let model = world().model();
    let web = chain(&model, "web");
    assert_eq!(web.key().to_string(), "shop/web");
    let hop = Hop::NodePort {
        port: 80,
        protocol: Protocol::Tcp,
        node: "node-a".into(),
        address: "127.1.0.1".parse().expect("ip"),
    };
    assert_eq!(
        web.hop_key(&hop).to_string(),
        "shop/web#80/TCP/nodePort/node-a/127.1.0.1"
    );
    assert_eq!(
        web.hop_key(&Hop::ClusterIp {
            port: 80,
            protocol: Protocol::Tcp
        }),
        world().model().services[1].hop_key(&Hop::ClusterIp {
            port: 80,
            protocol: Protocol::Tcp
        })
    );
}
