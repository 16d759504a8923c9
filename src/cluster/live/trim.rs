//! What the live source drops from objects before caching them (`watcher(..).modify(..)`).
//!
//! Every kind loses `metadata.managedFields`, `kubectl.kubernetes.io/last-applied-configuration`
//! and any other annotation longer than [`LARGE_ANNOTATION`] bytes, except the Service
//! annotations the engine reads (`service.kubernetes.io/…`, `service.beta.kubernetes.io/…`).
//! Nodes lose their image list and volume status. Pods and EndpointSlices are converted too:
//! the store holds pods compact and slices with compact endpoints ([`super::pods`], the
//! engine's `PodInfo` and `SliceInfo`, which keep of an endpoint's targetRef only its kind,
//! name and namespace), which is what lets a 150,000-pod cluster fit in a terminal tool's
//! memory.

use k8s_openapi::api::core::v1::{Namespace, Node, Service};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass, NetworkPolicy};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Annotations longer than this are dropped (unless the engine reads them).
pub const LARGE_ANNOTATION: usize = 1024;

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Annotation prefixes the engine reads (load-balancer source ranges, topology mode).
const KEPT_PREFIXES: [&str; 2] = ["service.kubernetes.io/", "service.beta.kubernetes.io/"];

/// Drops what kubehop never reads. Applied to every object before it is cached.
pub trait Trim {
    fn trim(&mut self);
}

/// The metadata part shared by every kind.
pub fn trim_metadata(metadata: &mut ObjectMeta) {
    metadata.managed_fields = None;
    if let Some(annotations) = metadata.annotations.as_mut() {
        annotations.retain(|key, value| {
            key != LAST_APPLIED
                && (value.len() <= LARGE_ANNOTATION
                    || KEPT_PREFIXES.iter().any(|prefix| key.starts_with(prefix)))
        });
        if annotations.is_empty() {
            metadata.annotations = None;
        }
    }
}

impl Trim for Service {
    fn trim(&mut self) {
        trim_metadata(&mut self.metadata);
    }
}

impl Trim for Ingress {
    fn trim(&mut self) {
        trim_metadata(&mut self.metadata);
    }
}

impl Trim for IngressClass {
    fn trim(&mut self) {
        trim_metadata(&mut self.metadata);
    }
}

impl Trim for NetworkPolicy {
    fn trim(&mut self) {
        trim_metadata(&mut self.metadata);
    }
}

/// The Gateway API kinds keep everything but the common metadata: their specs and statuses
/// are what the Gateway hops and findings read.
macro_rules! trim_metadata_only {
    ($($type:ty),* $(,)?) => {
        $(impl Trim for $type {
            fn trim(&mut self) {
                trim_metadata(&mut self.metadata);
            }
        })*
    };
}

trim_metadata_only!(
    kubehop_gateway_api::GatewayClass,
    kubehop_gateway_api::Gateway,
    kubehop_gateway_api::HTTPRoute,
    kubehop_gateway_api::GRPCRoute,
    kubehop_gateway_api::TLSRoute,
    kubehop_gateway_api::TCPRoute,
    kubehop_gateway_api::UDPRoute,
    kubehop_gateway_api::ReferenceGrant,
);

impl Trim for Namespace {
    fn trim(&mut self) {
        trim_metadata(&mut self.metadata);
    }
}

impl Trim for Node {
    fn trim(&mut self) {
        trim_metadata(&mut self.metadata);
        if let Some(status) = self.status.as_mut() {
            status.images = None;
            status.volumes_attached = None;
            status.volumes_in_use = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    /// A Deployment pod as a real API server returns it (trimmed-down copy of a kind cluster's
    /// `kubectl get pod -o json`).
    fn realistic_pod() -> Pod {
        let env: Vec<_> = (0..12)
            .map(|i| json!({"name": format!("SETTING_{i}"), "value": format!("value-{i}-with-some-length")}))
            .collect();
        let managed: Vec<_> = (0..3)
            .map(|i| json!({"manager": format!("kube-controller-manager-{i}"), "operation": "Update", "apiVersion": "v1", "time": "2025-01-01T00:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:generateName": {}, "f:labels": {".": {}, "f:app": {}, "f:pod-template-hash": {}}, "f:ownerReferences": {".": {}, "k:{\"uid\":\"1\"}": {}}},
                             "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:env": {}, "f:image": {}, "f:ports": {}, "f:readinessProbe": {}, "f:resources": {}}}},
                             "f:status": {"f:conditions": {}, "f:containerStatuses": {}, "f:podIP": {}, "f:podIPs": {}}}}))
            .collect();
        let probe = json!({"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"}, "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3});
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "web-7d4b9c8f6d-x2x7q", "generateName": "web-7d4b9c8f6d-", "namespace": "shop",
                "uid": "5b0c1e6e-8f7e-4c2e-9a1b-2f3c4d5e6f70", "resourceVersion": "123456",
                "creationTimestamp": "2025-01-01T00:00:00Z",
                "labels": {"app": "web", "pod-template-hash": "7d4b9c8f6d"},
                "annotations": {LAST_APPLIED: "x".repeat(2048), "kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c8f6d", "uid": "1", "controller": true, "blockOwnerDeletion": true}],
                "managedFields": managed
            },
            "spec": {
                "containers": [
                    {"name": "web", "image": "registry.example/shop/web:1.2.3", "imagePullPolicy": "IfNotPresent",
                     "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                     "env": env, "readinessProbe": probe, "livenessProbe": probe,
                     "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                     "volumeMounts": [{"name": "kube-api-access-abcde", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}],
                     "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                     "securityContext": {"runAsNonRoot": true, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}},
                    {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.22.0", "args": ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local"],
                     "ports": [{"name": "http-envoy-prom", "containerPort": 15090, "protocol": "TCP"}],
                     "resources": {"requests": {"cpu": "10m", "memory": "40Mi"}}}
                ],
                "volumes": [{"name": "kube-api-access-abcde", "projected": {"defaultMode": 420, "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}],
                "nodeName": "node-1", "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
                "serviceAccountName": "default", "terminationGracePeriodSeconds": 30, "enableServiceLinks": true, "priority": 0,
                "tolerations": [
                    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]
            },
            "status": {
                "phase": "Running", "podIP": "127.1.1.2", "podIPs": [{"ip": "127.1.1.2"}], "hostIP": "127.0.1.1", "hostIPs": [{"ip": "127.0.1.1"}],
                "qosClass": "Burstable", "startTime": "2025-01-01T00:00:00Z",
                "conditions": [
                    {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": "2025-01-01T00:00:01Z"},
                    {"type": "Initialized", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"},
                    {"type": "Ready", "status": "True", "lastTransitionTime": "2025-01-01T00:00:05Z"},
                    {"type": "ContainersReady", "status": "True", "lastTransitionTime": "2025-01-01T00:00:05Z"},
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"}],
                "containerStatuses": [
                    {"name": "web", "ready": true, "restartCount": 0, "started": true, "image": "registry.example/shop/web:1.2.3",
                     "imageID": "registry.example/shop/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                     "containerID": "containerd://0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                     "state": {"running": {"startedAt": "2025-01-01T00:00:02Z"}}, "lastState": {},
                     "volumeMounts": [{"name": "kube-api-access-abcde", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true, "recursiveReadOnly": "Disabled"}]}]
            }
        }))
        .expect("a valid pod")
    }

    fn json_size<T: serde::Serialize>(value: &T) -> usize {
        serde_json::to_vec(value)
            .map(|bytes| bytes.len())
            .unwrap_or(0)
    }

    #[test]
    fn pods_are_cached_compact_with_what_the_engine_reads() {
        let full = realistic_pod();
        let cached = crate::cluster::live::pods::PodConverter::default().convert(full.clone());
        let pod = &cached.0;
        assert!(pod.object.is_none(), "no typed pod in the store");
        assert_eq!(pod.node_name.as_deref(), Some("node-1"));
        let ports: Vec<(&str, i32)> = pod
            .containers
            .iter()
            .flat_map(|c| c.ports.iter())
            .map(|p| (p.name.as_deref().unwrap_or(""), p.container_port))
            .collect();
        assert_eq!(ports, [("http", 8080), ("http-envoy-prom", 15090)]);
        assert_eq!(
            pod.labels.as_ref().map(|l| l.len()),
            full.metadata.labels.as_ref().map(|l| l.len())
        );
        assert_eq!(&*pod.owners[0].name, "web-7d4b9c8f6d");
        assert!(pod.ready && pod.ips.as_slice().len() == 1);
        // The typed copy the views show before a `get`: much less than the object.
        let (before, after) = (json_size(&full), json_size(&*pod.to_pod()));
        assert!(after * 5 < before, "{before} -> {after} bytes");
    }

    #[test]
    fn endpoint_slices_keep_what_the_engine_reads_of_their_endpoints() {
        let slice: k8s_openapi::api::discovery::v1::EndpointSlice = serde_json::from_value(json!({
            "metadata": {"name": "web-abc12", "namespace": "shop", "labels": {"kubernetes.io/service-name": "web"},
                         "managedFields": [{"manager": "kube-controller-manager", "operation": "Update"}]},
            "addressType": "IPv4",
            "endpoints": [{
                "addresses": ["127.1.1.2"],
                "conditions": {"ready": true, "serving": true, "terminating": false},
                "nodeName": "node-1", "zone": "zone-a", "hostname": "web-0",
                "deprecatedTopology": {"kubernetes.io/hostname": "node-1"},
                "targetRef": {"kind": "Pod", "name": "web-0", "namespace": "shop", "apiVersion": "v1",
                              "uid": "5b0c1e6e-8f7e-4c2e-9a1b-2f3c4d5e6f70", "resourceVersion": "123456"}
            }],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
        }))
        .expect("a valid slice");
        let cached = crate::cluster::live::pods::SliceConverter::default().convert(slice.clone());
        assert!(cached.object.is_none(), "no typed slice in the store");
        assert_eq!(cached.metadata.managed_fields, None);
        let rebuilt = cached.to_slice();
        let endpoint = rebuilt
            .endpoints
            .as_deref()
            .and_then(<[_]>::first)
            .expect("the endpoint");
        let target = endpoint.target_ref.as_ref().expect("a targetRef");
        assert_eq!(
            (
                target.kind.as_deref(),
                target.name.as_deref(),
                target.namespace.as_deref()
            ),
            (Some("Pod"), Some("web-0"), Some("shop"))
        );
        assert_eq!(
            (target.uid.as_ref(), target.resource_version.as_ref()),
            (None, None)
        );
        assert_eq!(endpoint.deprecated_topology, None);
        // Every other field of the endpoint, and the slice's ports, are as they were.
        let mut before = slice.endpoints.as_deref().unwrap_or_default()[0].clone();
        before.deprecated_topology = None;
        before.target_ref = endpoint.target_ref.clone();
        assert_eq!(&before, endpoint);
        assert_eq!(rebuilt.ports, slice.ports);
        assert!(json_size(&*rebuilt) < json_size(&slice));
    }

    #[test]
    fn service_annotations_the_engine_reads_survive() {
        let ranges = "127.0.0.0/8,".repeat(200);
        let mut service = Service {
            metadata: ObjectMeta {
                annotations: Some(annotations(&[
                    (LAST_APPLIED, "{}"),
                    (
                        "service.beta.kubernetes.io/load-balancer-source-ranges",
                        &ranges,
                    ),
                    ("example.com/huge", &"y".repeat(LARGE_ANNOTATION + 1)),
                    ("example.com/small", "z"),
                ])),
                ..ObjectMeta::default()
            },
            ..Service::default()
        };
        service.trim();
        let kept: Vec<&str> = service
            .metadata
            .annotations
            .as_ref()
            .map(|a| a.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(
            kept,
            [
                "example.com/small",
                "service.beta.kubernetes.io/load-balancer-source-ranges"
            ]
        );
    }
}
