//! What the live source drops from objects before caching them (`watcher(..).modify(..)`).
//!
//! Every kind loses `metadata.managedFields`, `kubectl.kubernetes.io/last-applied-configuration`
//! and any other annotation longer than [`LARGE_ANNOTATION`] bytes, except the Service
//! annotations the engine reads (`service.kubernetes.io/…`, `service.beta.kubernetes.io/…`).
//! Nodes lose their image list and volume status. Pods keep only what the engine and the views
//! read: identity, labels, owners and deletion, the node, hostname/subdomain, container names,
//! images and ports (plus the restart policy that makes an init container a sidecar),
//! `hostNetwork`, and the status' phase, IPs, conditions and per-container readiness; env,
//! volumes, probes, resources, scheduling constraints and the like are dropped. A typical
//! Deployment pod shrinks about fivefold (see the test below), which is what lets a 50,000-pod
//! cluster fit in a terminal tool's memory.

use k8s_openapi::api::core::v1::{
    Container, ContainerStatus, Namespace, Node, Pod, PodSpec, PodStatus, Service,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
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

impl Trim for EndpointSlice {
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

fn container(full: Container) -> Container {
    Container {
        name: full.name,
        image: full.image,
        ports: full.ports,
        restart_policy: full.restart_policy,
        ..Container::default()
    }
}

fn container_status(full: ContainerStatus) -> ContainerStatus {
    ContainerStatus {
        name: full.name,
        ready: full.ready,
        restart_count: full.restart_count,
        started: full.started,
        state: full.state,
        ..ContainerStatus::default()
    }
}

fn statuses(full: Option<Vec<ContainerStatus>>) -> Option<Vec<ContainerStatus>> {
    full.map(|list| list.into_iter().map(container_status).collect())
}

impl Trim for Pod {
    fn trim(&mut self) {
        trim_metadata(&mut self.metadata);
        if let Some(spec) = self.spec.take() {
            self.spec = Some(PodSpec {
                containers: spec.containers.into_iter().map(container).collect(),
                init_containers: spec
                    .init_containers
                    .map(|list| list.into_iter().map(container).collect()),
                node_name: spec.node_name,
                hostname: spec.hostname,
                subdomain: spec.subdomain,
                host_network: spec.host_network,
                ..PodSpec::default()
            });
        }
        if let Some(status) = self.status.take() {
            self.status = Some(PodStatus {
                phase: status.phase,
                conditions: status.conditions,
                pod_ip: status.pod_ip,
                pod_ips: status.pod_ips,
                host_ip: status.host_ip,
                host_ips: status.host_ips,
                reason: status.reason,
                message: status.message,
                start_time: status.start_time,
                container_statuses: statuses(status.container_statuses),
                init_container_statuses: statuses(status.init_container_statuses),
                ..PodStatus::default()
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
    fn pods_keep_what_the_engine_reads() {
        let full = realistic_pod();
        let mut trimmed = full.clone();
        trimmed.trim();
        let spec = trimmed.spec.as_ref().expect("spec kept");
        assert_eq!(spec.node_name.as_deref(), Some("node-1"));
        assert_eq!(spec.containers.len(), 2);
        assert_eq!(
            spec.containers[0].ports,
            full.spec.as_ref().expect("spec").containers[0].ports
        );
        assert!(spec.containers[0].env.is_none());
        assert!(spec.volumes.is_none() && spec.tolerations.is_none());
        let status = trimmed.status.as_ref().expect("status kept");
        assert_eq!(status.pod_ip.as_deref(), Some("127.1.1.2"));
        assert_eq!(status.conditions.as_ref().map(Vec::len), Some(5));
        assert_eq!(
            status.container_statuses.as_ref().map(|s| s[0].ready),
            Some(true)
        );
        assert_eq!(trimmed.metadata.labels, full.metadata.labels);
        assert_eq!(
            trimmed.metadata.owner_references,
            full.metadata.owner_references
        );
        assert!(trimmed.metadata.managed_fields.is_none());
        assert_eq!(
            trimmed.metadata.annotations,
            Some(annotations(&[(
                "kubectl.kubernetes.io/restartedAt",
                "2025-01-01T00:00:00Z"
            )]))
        );
        // The measurement behind the pod trimming: a typical pod shrinks about fivefold.
        let (before, after) = (json_size(&full), json_size(&trimmed));
        assert!(after * 4 < before, "{before} -> {after} bytes");
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
