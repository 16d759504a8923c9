use super::*;

const ROUTE: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: store
  namespace: shop
spec:
  parentRefs:
  - name: edge
    namespace: infra
    sectionName: http
  hostnames: ["shop.test"]
  rules:
  - matches:
    - path: {type: PathPrefix, value: /cart}
      headers: [{name: x-canary, value: "yes"}]
      method: GET
    timeouts: {request: 10s}
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {add: [{name: x-a, value: b}]}
    backendRefs:
    - name: cart
      port: 80
      weight: 90
    - name: cart-canary
      port: 80
      weight: 10
      futureField: kept
status:
  parents:
  - parentRef: {name: edge, namespace: infra, sectionName: http}
    controllerName: example.com/gw
    conditions:
    - {type: Accepted, status: "True", reason: Accepted, message: "", lastTransitionTime: "2026-01-01T00:00:00Z", observedGeneration: 1}
"#;

#[test]
fn an_http_route_round_trips_with_its_unknown_fields() {
    let route: HTTPRoute = serde_saphyr::from_str(ROUTE).unwrap();
    let rules = route.spec.rules.as_ref().unwrap();
    let backends = rules[0].backend_refs.as_ref().unwrap();
    assert_eq!(backends[1].weight(), 10);
    assert_eq!(backends[1].extra["futureField"], "kept");
    assert!(rules[0].extra.contains_key("timeouts"));
    let parents = &route.status.as_ref().unwrap().parents;
    assert_eq!(parents[0].parent_ref.section_name.as_deref(), Some("http"));

    let original: serde_json::Value = serde_saphyr::from_str(ROUTE).unwrap();
    assert_eq!(serde_json::to_value(&route).unwrap(), original);
}

#[test]
fn a_gateway_reads_listeners_and_status() {
    let yaml = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: infra}
spec:
  gatewayClassName: sandbox
  infrastructure: {labels: {a: b}}
  listeners:
  - name: http
    port: 80
    protocol: HTTP
    hostname: "*.test"
    allowedRoutes:
      namespaces:
        from: Selector
        selector: {matchLabels: {shared: "true"}}
      kinds: [{kind: HTTPRoute}]
  - name: tls
    port: 443
    protocol: TLS
    tls: {mode: Passthrough}
status:
  addresses: [{type: IPAddress, value: 127.0.0.10}]
  listeners:
  - name: http
    supportedKinds: [{group: gateway.networking.k8s.io, kind: HTTPRoute}]
    attachedRoutes: 2
    conditions: [{type: Programmed, status: "True"}]
"#;
    let gateway: Gateway = serde_saphyr::from_str(yaml).unwrap();
    assert_eq!(gateway.spec.listeners.len(), 2);
    let allowed = gateway.spec.listeners[0].allowed_routes.as_ref().unwrap();
    assert_eq!(allowed.kinds.as_ref().unwrap()[0].group(), GROUP);
    let status = gateway.status.as_ref().unwrap();
    assert_eq!(status.addresses.as_ref().unwrap()[0].type_(), "IPAddress");
    let original: serde_json::Value = serde_saphyr::from_str(yaml).unwrap();
    assert_eq!(serde_json::to_value(&gateway).unwrap(), original);
}

#[test]
fn the_crds_are_one_per_kind_with_structural_schemas() {
    let crds = crds();
    let names: Vec<_> = crds
        .iter()
        .map(|c| c.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "gatewayclasses.gateway.networking.k8s.io",
            "gateways.gateway.networking.k8s.io",
            "httproutes.gateway.networking.k8s.io",
            "grpcroutes.gateway.networking.k8s.io",
            "tlsroutes.gateway.networking.k8s.io",
            "tcproutes.gateway.networking.k8s.io",
            "udproutes.gateway.networking.k8s.io",
            "referencegrants.gateway.networking.k8s.io",
        ]
    );
    for crd in &crds {
        let json = serde_json::to_string(crd).unwrap();
        // A structural schema never mixes `additionalProperties` into an object with
        // `properties`; the unknown fields are preserved instead.
        assert!(!json.contains("\"additionalProperties\":true"), "{json}");
        assert!(
            json.contains("x-kubernetes-preserve-unknown-fields"),
            "{json}"
        );
    }
    assert_eq!(crds[2].spec.versions[0].name, "v1");
    assert_eq!(crds[4].spec.versions[0].name, "v1alpha2");
    assert_eq!(crds[7].spec.versions[0].name, "v1beta1");
    assert!(crds[1].spec.versions[0].subresources.is_some());
}

/// Every Gateway API object of the real-app-shaped fixtures (tests/fixtures/gateway: v1,
/// v1beta1, v1alpha2 and v1alpha3 kinds, fields this crate does not model anywhere) reads and
/// writes back unchanged but for `apiVersion`, which the types spell in their own version.
#[test]
fn the_fixtures_round_trip_with_their_unknown_fields() {
    fn check<T: serde::de::DeserializeOwned + serde::Serialize>(doc: &serde_json::Value) {
        let typed: T = serde_json::from_value(doc.clone()).unwrap();
        let mut back = serde_json::to_value(&typed).unwrap();
        let mut doc = doc.clone();
        back.as_object_mut().unwrap().remove("apiVersion");
        doc.as_object_mut().unwrap().remove("apiVersion");
        // `metadata` is k8s-openapi's ObjectMeta, which keeps only the API's fields (as the API
        // server does): a field it does not know is read without failing and dropped.
        let kept = back["metadata"].as_object().unwrap().clone();
        let metadata = doc["metadata"].as_object_mut().unwrap();
        metadata.retain(|key, _| kept.contains_key(key) || key != "futureMetadataField");
        assert_eq!(back, doc);
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/gateway");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for part in text.split("\n---\n") {
            let doc: serde_json::Value = serde_saphyr::from_str(part).unwrap();
            let group = doc["apiVersion"].as_str().unwrap_or("");
            if !group.starts_with(GROUP) {
                continue;
            }
            seen += 1;
            match doc["kind"].as_str().unwrap() {
                "GatewayClass" => check::<GatewayClass>(&doc),
                "Gateway" => check::<Gateway>(&doc),
                "HTTPRoute" => check::<HTTPRoute>(&doc),
                "GRPCRoute" => check::<GRPCRoute>(&doc),
                "TLSRoute" => check::<TLSRoute>(&doc),
                "TCPRoute" => check::<TCPRoute>(&doc),
                "UDPRoute" => check::<UDPRoute>(&doc),
                "ReferenceGrant" => check::<ReferenceGrant>(&doc),
                other => panic!("unexpected kind {other}"),
            }
        }
    }
    assert!(seen > 20, "{seen} objects");
}
