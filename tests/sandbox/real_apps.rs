//! Whole applications, shaped like the ones people run, applied to the sandbox with kubectl:
//! once every endpoint is ready, `kubehop chain -A -o json` must report no warning and no
//! error on those Services (docs/diagnostics.md, "Precision first"). One Service is left
//! without pods on purpose, to prove the check can fail and that its siblings are not blamed.
//!
//! The manifests are written for this test: a guestbook (redis leader and followers whose
//! containers declare no ports), a bookinfo-like app (three versions behind one Service, an
//! Ingress without class under a default IngressClass), a small gRPC shop (shared `part-of` labels, a LoadBalancer with
//! `externalTrafficPolicy: Local` in front of a single replica), and a monitoring stack (a
//! StatefulSet with a headless Service, shared `app.kubernetes.io/*` labels).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::kubectl::Harness;
use crate::support::bin::KUBEHOP;
use crate::support::wait::within_for;

const GUESTBOOK: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: guestbook}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: redis-leader, namespace: guestbook}
spec:
  replicas: 1
  selector: {matchLabels: {app: redis, role: leader, tier: backend}}
  template:
    metadata: {labels: {app: redis, role: leader, tier: backend}}
    spec:
      containers:
      - name: leader
        image: example/redis:7
        ports: [{containerPort: 6379}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: redis-follower, namespace: guestbook}
spec:
  replicas: 2
  selector: {matchLabels: {app: redis, role: follower, tier: backend}}
  template:
    metadata: {labels: {app: redis, role: follower, tier: backend}}
    spec:
      containers:
      - name: follower
        image: example/redis-follower:2
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: frontend, namespace: guestbook}
spec:
  replicas: 3
  selector: {matchLabels: {app: guestbook, tier: frontend}}
  template:
    metadata: {labels: {app: guestbook, tier: frontend}}
    spec:
      containers:
      - name: php-redis
        image: example/guestbook:5
        ports: [{containerPort: 8080, name: http-server}]
---
apiVersion: v1
kind: Service
metadata: {name: redis-leader, namespace: guestbook, labels: {app: redis, role: leader}}
spec:
  selector: {app: redis, role: leader, tier: backend}
  ports: [{port: 6379, targetPort: 6379}]
---
apiVersion: v1
kind: Service
metadata: {name: redis-follower, namespace: guestbook, labels: {app: redis, role: follower}}
spec:
  selector: {app: redis, role: follower, tier: backend}
  ports: [{port: 6379}]
---
apiVersion: v1
kind: Service
metadata: {name: frontend, namespace: guestbook}
spec:
  type: NodePort
  selector: {app: guestbook, tier: frontend}
  ports: [{port: 80, targetPort: http-server}]
"#;

const BOOKINFO: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: bookinfo}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: nginx
  annotations: {ingressclass.kubernetes.io/is-default-class: "true"}
spec: {controller: k8s.io/ingress-nginx}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: details-v1, namespace: bookinfo}
spec:
  replicas: 1
  selector: {matchLabels: {app: details, version: v1}}
  template:
    metadata: {labels: {app: details, version: v1}}
    spec:
      containers: [{name: details, image: example/details:1, ports: [{containerPort: 9080}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ratings-v1, namespace: bookinfo}
spec:
  replicas: 1
  selector: {matchLabels: {app: ratings, version: v1}}
  template:
    metadata: {labels: {app: ratings, version: v1}}
    spec:
      containers: [{name: ratings, image: example/ratings:1, ports: [{containerPort: 9080}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v1, namespace: bookinfo}
spec:
  replicas: 1
  selector: {matchLabels: {app: reviews, version: v1}}
  template:
    metadata: {labels: {app: reviews, version: v1}}
    spec:
      containers: [{name: reviews, image: example/reviews:1, ports: [{containerPort: 9080}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v2, namespace: bookinfo}
spec:
  replicas: 1
  selector: {matchLabels: {app: reviews, version: v2}}
  template:
    metadata: {labels: {app: reviews, version: v2}}
    spec:
      containers: [{name: reviews, image: example/reviews:2, ports: [{containerPort: 9080}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v3, namespace: bookinfo}
spec:
  replicas: 1
  selector: {matchLabels: {app: reviews, version: v3}}
  template:
    metadata: {labels: {app: reviews, version: v3}}
    spec:
      containers: [{name: reviews, image: example/reviews:3}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: productpage-v1, namespace: bookinfo}
spec:
  replicas: 1
  selector: {matchLabels: {app: productpage, version: v1}}
  template:
    metadata: {labels: {app: productpage, version: v1}}
    spec:
      containers: [{name: productpage, image: example/productpage:1, ports: [{containerPort: 9080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: details, namespace: bookinfo, labels: {app: details, service: details}}
spec:
  selector: {app: details}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: bookinfo, labels: {app: ratings, service: ratings}}
spec:
  selector: {app: ratings}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: bookinfo, labels: {app: reviews, service: reviews}}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Service
metadata: {name: productpage, namespace: bookinfo, labels: {app: productpage, service: productpage}}
spec:
  selector: {app: productpage}
  ports: [{name: http, port: 9080}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: bookinfo, namespace: bookinfo}
spec:
  rules:
  - http:
      paths:
      - {path: /productpage, pathType: Exact, backend: {service: {name: productpage, port: {number: 9080}}}}
      - {path: /static, pathType: Prefix, backend: {service: {name: productpage, port: {name: http}}}}
"#;

const SHOP: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: frontend, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: frontend}}
  template:
    metadata: {labels: {app: frontend, app.kubernetes.io/part-of: shop}}
    spec:
      containers: [{name: server, image: example/shop-frontend:1, ports: [{containerPort: 8080}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cartservice, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: cartservice}}
  template:
    metadata: {labels: {app: cartservice, app.kubernetes.io/part-of: shop}}
    spec:
      containers: [{name: server, image: example/cart:1, ports: [{containerPort: 7070}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: productcatalogservice, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: productcatalogservice}}
  template:
    metadata: {labels: {app: productcatalogservice, app.kubernetes.io/part-of: shop}}
    spec:
      containers: [{name: server, image: example/catalog:1}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: currencyservice, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: currencyservice}}
  template:
    metadata: {labels: {app: currencyservice, app.kubernetes.io/part-of: shop}}
    spec:
      containers: [{name: server, image: example/currency:1, ports: [{name: grpc, containerPort: 7000}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: redis-cart, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: redis-cart}}
  template:
    metadata: {labels: {app: redis-cart, app.kubernetes.io/part-of: shop}}
    spec:
      containers: [{name: redis, image: example/redis:7}]
---
apiVersion: v1
kind: Service
metadata: {name: frontend, namespace: shop}
spec:
  selector: {app: frontend}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: frontend-external, namespace: shop}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: {app: frontend, app.kubernetes.io/part-of: shop}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: cartservice, namespace: shop}
spec:
  selector: {app: cartservice, app.kubernetes.io/part-of: shop}
  ports: [{name: grpc, port: 7070, targetPort: 7070}]
---
apiVersion: v1
kind: Service
metadata: {name: productcatalogservice, namespace: shop}
spec:
  selector: {app: productcatalogservice}
  ports: [{name: grpc, port: 3550, targetPort: 3550}]
---
apiVersion: v1
kind: Service
metadata: {name: currencyservice, namespace: shop}
spec:
  selector: {app: currencyservice}
  ports: [{name: grpc, port: 7000, targetPort: grpc}]
---
apiVersion: v1
kind: Service
metadata: {name: redis-cart, namespace: shop}
spec:
  selector: {app: redis-cart}
  ports: [{name: tcp-redis, port: 6379, targetPort: 6379}]
"#;

const MONITORING: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: monitoring}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: prometheus-k8s, namespace: monitoring}
spec:
  replicas: 1
  serviceName: prometheus-operated
  selector:
    matchLabels: {app.kubernetes.io/name: prometheus, app.kubernetes.io/instance: k8s}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: prometheus
        app.kubernetes.io/instance: k8s
        app.kubernetes.io/component: prometheus
        app.kubernetes.io/part-of: kube-prometheus
    spec:
      containers: [{name: prometheus, image: example/prometheus:2, ports: [{name: web, containerPort: 9090}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: grafana, namespace: monitoring}
spec:
  replicas: 1
  selector:
    matchLabels: {app.kubernetes.io/name: grafana, app.kubernetes.io/component: grafana, app.kubernetes.io/part-of: kube-prometheus}
  template:
    metadata:
      labels: {app.kubernetes.io/name: grafana, app.kubernetes.io/component: grafana, app.kubernetes.io/part-of: kube-prometheus}
    spec:
      containers: [{name: grafana, image: example/grafana:11, ports: [{name: http, containerPort: 3000}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: kube-state-metrics, namespace: monitoring}
spec:
  replicas: 1
  selector:
    matchLabels: {app.kubernetes.io/name: kube-state-metrics, app.kubernetes.io/component: exporter, app.kubernetes.io/part-of: kube-prometheus}
  template:
    metadata:
      labels: {app.kubernetes.io/name: kube-state-metrics, app.kubernetes.io/component: exporter, app.kubernetes.io/part-of: kube-prometheus}
    spec:
      containers: [{name: kube-state-metrics, image: example/ksm:2, ports: [{name: http-metrics, containerPort: 8080}, {name: telemetry, containerPort: 8081}]}]
---
apiVersion: v1
kind: Service
metadata: {name: prometheus-k8s, namespace: monitoring}
spec:
  selector: {app.kubernetes.io/name: prometheus, app.kubernetes.io/instance: k8s, app.kubernetes.io/part-of: kube-prometheus}
  ports: [{name: web, port: 9090, targetPort: web}]
---
apiVersion: v1
kind: Service
metadata: {name: prometheus-operated, namespace: monitoring}
spec:
  clusterIP: None
  selector: {app.kubernetes.io/name: prometheus}
  ports: [{name: web, port: 9090, targetPort: web}]
---
apiVersion: v1
kind: Service
metadata: {name: grafana, namespace: monitoring}
spec:
  selector: {app.kubernetes.io/name: grafana, app.kubernetes.io/component: grafana, app.kubernetes.io/part-of: kube-prometheus}
  ports: [{name: http, port: 3000, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: kube-state-metrics, namespace: monitoring}
spec:
  selector: {app.kubernetes.io/name: kube-state-metrics, app.kubernetes.io/component: exporter, app.kubernetes.io/part-of: kube-prometheus}
  ports:
  - {name: https-main, port: 8443, targetPort: http-metrics}
  - {name: https-self, port: 9443, targetPort: telemetry}
---
apiVersion: v1
kind: Service
metadata: {name: alertmanager-main, namespace: monitoring}
spec:
  selector: {app.kubernetes.io/name: alertmanager, app.kubernetes.io/component: alert-router, app.kubernetes.io/part-of: kube-prometheus}
  ports: [{name: web, port: 9093, targetPort: web}]
"#;

/// Services and how many ready pods each should end with.
const EXPECTED: [(&str, &str, usize); 18] = [
    ("guestbook", "redis-leader", 1),
    ("guestbook", "redis-follower", 2),
    ("guestbook", "frontend", 3),
    ("bookinfo", "details", 1),
    ("bookinfo", "ratings", 1),
    ("bookinfo", "reviews", 3),
    ("bookinfo", "productpage", 1),
    ("shop", "frontend", 1),
    ("shop", "frontend-external", 1),
    ("shop", "cartservice", 2),
    ("shop", "productcatalogservice", 1),
    ("shop", "currencyservice", 1),
    ("shop", "redis-cart", 1),
    ("monitoring", "prometheus-k8s", 1),
    ("monitoring", "prometheus-operated", 1),
    ("monitoring", "grafana", 1),
    ("monitoring", "kube-state-metrics", 1),
    // The one without pods: it must stay an error (selector-no-match).
    ("monitoring", "alertmanager-main", 0),
];

/// `kubehop chain -A -o json` against the sandbox.
pub(crate) async fn chain_json(h: &Harness) -> Value {
    let output = tokio::process::Command::new(KUBEHOP)
        .args(["chain", "-A", "-o", "json"])
        .env("KUBECONFIG", h.sandbox.kubeconfig_path())
        .env("NO_COLOR", "1")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .await
        .expect("kubehop runs");
    // Exit 1 when something is broken (alertmanager-main has an error).
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("chain JSON")
}

/// Ready endpoint addresses of a Service (across its ports), or why not all are ready.
fn ready_endpoints(service: &Value) -> Result<usize, String> {
    let mut addresses: BTreeMap<String, bool> = BTreeMap::new();
    for port in service["ports"].as_array().into_iter().flatten() {
        for endpoint in port["endpoints"].as_array().into_iter().flatten() {
            let ip = endpoint["ip"].as_str().unwrap_or_default().to_owned();
            let ready = endpoint["ready"].as_bool() == Some(true);
            *addresses.entry(ip).or_insert(true) &= ready;
        }
    }
    if addresses.values().all(|ready| *ready) {
        Ok(addresses.len())
    } else {
        Err(format!("not all ready: {addresses:?}"))
    }
}

fn find<'a>(document: &'a Value, namespace: &str, name: &str) -> Option<&'a Value> {
    document["services"]
        .as_array()?
        .iter()
        .find(|service| service["namespace"] == namespace && service["name"] == name)
}

/// Polls the chain until every expected Service has its ready endpoints (or reports what is
/// still missing when the deadline passes).
async fn wait_for_ready(h: &Harness) -> Value {
    within_for(
        Duration::from_secs(60),
        "every app's endpoints to be ready",
        async {
            loop {
                h.sandbox.settled().await;
                let document = chain_json(h).await;
                let pending: Vec<String> = EXPECTED
                    .iter()
                    .filter_map(|(namespace, name, want)| {
                        let service = find(&document, namespace, name)?;
                        match ready_endpoints(service) {
                            Ok(count) if count == *want => None,
                            Ok(count) => Some(format!("{namespace}/{name}: {count} of {want}")),
                            Err(why) => Some(format!("{namespace}/{name}: {why}")),
                        }
                    })
                    .collect();
                let all_there = EXPECTED
                    .iter()
                    .all(|(namespace, name, _)| find(&document, namespace, name).is_some());
                if pending.is_empty() && all_there {
                    return document;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        },
    )
    .await
}

#[tokio::test]
async fn real_apps_with_ready_endpoints_have_no_warnings() {
    let Some(h) = Harness::start_cluster("real-apps").await else {
        return;
    };
    for (file, text) in [
        ("guestbook.yaml", GUESTBOOK),
        ("bookinfo.yaml", BOOKINFO),
        ("shop.yaml", SHOP),
        ("monitoring.yaml", MONITORING),
    ] {
        let path = h.write(file, text);
        h.ok(&["apply", "-f", path.to_str().expect("utf-8")]).await;
    }
    let document = wait_for_ready(&h).await;

    let mut alarms = Vec::new();
    for (namespace, name, want) in EXPECTED {
        let service = find(&document, namespace, name).expect("listed");
        for diagnostic in service["diagnostics"].as_array().into_iter().flatten() {
            let severity = diagnostic["severity"].as_str().unwrap_or_default();
            if want > 0 && severity != "info" {
                alarms.push(format!(
                    "{namespace}/{name}: {severity} {} {} {}",
                    diagnostic["code"], diagnostic["subject"], diagnostic["message"]
                ));
            }
        }
    }
    assert!(alarms.is_empty(), "false alarms:\n{}", alarms.join("\n"));

    // The Service without pods is still found, and its siblings (sharing part-of) are not
    // blamed for it.
    let alertmanager = find(&document, "monitoring", "alertmanager-main").expect("listed");
    let codes: Vec<&str> = alertmanager["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|diagnostic| diagnostic["code"].as_str())
        .collect();
    assert_eq!(codes, ["selector-no-match"], "{alertmanager:#}");

    // The eTP Local LoadBalancer in front of one replica: the health check's design, info.
    let external = find(&document, "shop", "frontend-external").expect("listed");
    let severities: Vec<(&str, &str)> = external["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| Some((d["code"].as_str()?, d["severity"].as_str()?)))
        .collect();
    assert_eq!(severities, [("local-policy-node-drops", "info")]);

    // redis-cart's container declares no port (common, and fine for Kubernetes): its app
    // still listens where the Service sends traffic, so a probe finds nothing unexpected.
    let probe = tokio::process::Command::new(KUBEHOP)
        .args(["probe", "shop/redis-cart", "-o", "json"])
        .env("KUBECONFIG", h.sandbox.kubeconfig_path())
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .await
        .expect("kubehop runs");
    let report: Value = serde_json::from_slice(&probe.stdout).expect("probe JSON");
    assert_eq!(report["summary"]["unexpected"], 0, "{report:#}");
    let connected = report["hops"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|hop| hop["outcome"]["result"] == "connected")
        .count();
    assert!(connected >= 2, "ClusterIP and endpoint connect: {report:#}");

    // C11/M10: an Ingress naming a class nobody defined is found through the live source.
    let typo = h.write("typo.yaml", TYPO_INGRESS);
    h.ok(&["apply", "-f", typo.to_str().expect("utf-8")]).await;
    within_for(Duration::from_secs(30), "ingress-class-unknown", async {
        loop {
            h.sandbox.settled().await;
            let document = chain_json(&h).await;
            let productpage = find(&document, "bookinfo", "productpage").expect("listed");
            let found = productpage["diagnostics"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|d| d["code"] == "ingress-class-unknown" && d["subject"] == "ingress/typo");
            if found {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
}

const TYPO_INGRESS: &str = r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: typo, namespace: bookinfo}
spec:
  ingressClassName: ngnix
  rules:
  - host: books.example.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: productpage, port: {name: http}}}}
"#;
