//! The portable end-to-end harness: a cluster reached only through the Kubernetes API
//! (`KUBEHOP_E2E_KUBECONFIG`, or an in-process sandbox with its control plane), fixtures, waits
//! with deadlines, and the `kubehop` binary.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{reflector, watcher};
use kubehop::sandbox::{ControlPlaneConfig, Sandbox, SandboxHandle};
use serde_json::{Value, json};

use super::fixtures::manifest::three_nodes;

/// `kubehop chain` found an error-level diagnostic.
pub const EXIT_ERRORS_FOUND: i32 = 1;

/// The environment variable that points the suite at a real cluster.
pub const KUBECONFIG_VARIABLE: &str = "KUBEHOP_E2E_KUBECONFIG";

/// How long pods may take to become ready: image pulls on a real cluster, at once in the
/// sandbox.
pub fn readiness_deadline(real: bool) -> Duration {
    if real {
        Duration::from_secs(300)
    } else {
        Duration::from_secs(30)
    }
}

#[derive(Clone)]
pub struct Cluster {
    pub client: kube::Client,
    pub kubeconfig: PathBuf,
    /// A real cluster (`KUBEHOP_E2E_KUBECONFIG`) rather than the sandbox.
    pub real: bool,
    sandbox: Option<Arc<SandboxHandle>>,
}

impl Cluster {
    /// The cluster `KUBEHOP_E2E_KUBECONFIG` names (its current context), else an in-process
    /// sandbox with the control plane (Deployments → pods, the EndpointSlice controller).
    pub async fn connect() -> Cluster {
        if let Some(path) = std::env::var_os(KUBECONFIG_VARIABLE).filter(|p| !p.is_empty()) {
            let path = PathBuf::from(path);
            let kubeconfig = Kubeconfig::read_from(&path).expect("a readable kubeconfig");
            let config =
                kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                    .await
                    .expect("a usable current context");
            let client = kube::Client::try_from(config).expect("a client");
            return Cluster {
                client,
                kubeconfig: path,
                real: true,
                sandbox: None,
            };
        }
        // Three nodes (registered by the control plane), controllers, no listeners.
        let sandbox = Sandbox::builder()
            .objects(three_nodes())
            .control_plane(ControlPlaneConfig::immediate(Duration::from_secs(1)))
            .start()
            .await
            .expect("the sandbox starts");
        let client = sandbox.client().await.expect("a client");
        Cluster {
            client,
            kubeconfig: sandbox.kubeconfig_path().to_path_buf(),
            real: false,
            sandbox: Some(Arc::new(sandbox)),
        }
    }

    /// Creates `kubehop-e2e-<what>-<unique>`.
    pub async fn create_namespace(&self, what: &str) -> String {
        let unique = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() % 1_000_000_000)
            .unwrap_or(0);
        let name = format!("kubehop-e2e-{what}-{}-{unique}", std::process::id());
        let namespace: Namespace = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/created-by": "kubehop-e2e"}}
        }))
        .expect("a namespace");
        Api::<Namespace>::all(self.client.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .expect("the namespace is created");
        name
    }

    /// Deletes the namespace (and with it everything the test created); does not wait.
    pub async fn delete_namespace(&self, name: &str) {
        let _ = Api::<Namespace>::all(self.client.clone())
            .delete(name, &DeleteParams::default())
            .await;
    }

    pub async fn node_count(&self) -> usize {
        Api::<Node>::all(self.client.clone())
            .list(&ListParams::default())
            .await
            .expect("nodes")
            .items
            .len()
    }

    /// A Deployment `web` (2 replicas, container port `http` 8080 with a readiness probe) and a
    /// Service of each type in front of it, plus `broken` (a selector that matches nothing).
    pub async fn apply_fixtures(&self, namespace: &str) {
        let deployment: Deployment = serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{
                        "name": "web",
                        "image": "registry.k8s.io/e2e-test-images/agnhost:2.53",
                        "args": ["netexec", "--http-port=8080"],
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 2}
                    }]}
                }
            }
        }))
        .expect("a deployment");
        Api::<Deployment>::namespaced(self.client.clone(), namespace)
            .create(&PostParams::default(), &deployment)
            .await
            .expect("the deployment is created");
        let port = json!([{"name": "http", "port": 80, "targetPort": "http"}]);
        let services = [
            json!({"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": port}}),
            json!({"metadata": {"name": "web-nodeport"}, "spec": {"type": "NodePort", "selector": {"app": "web"},
                   "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}),
            json!({"metadata": {"name": "web-lb"}, "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": port}}),
            json!({"metadata": {"name": "web-headless"}, "spec": {"clusterIP": "None", "selector": {"app": "web"}, "ports": port}}),
            json!({"metadata": {"name": "web-external"}, "spec": {"type": "ExternalName", "externalName": "web.example.test"}}),
            json!({"metadata": {"name": "broken"}, "spec": {"selector": {"app": "webb"}, "ports": port}}),
        ];
        let api: Api<Service> = Api::namespaced(self.client.clone(), namespace);
        for mut service in services {
            service["apiVersion"] = json!("v1");
            service["kind"] = json!("Service");
            service["metadata"]["namespace"] = json!(namespace);
            let service: Service = serde_json::from_value(service).expect("a service");
            api.create(&PostParams::default(), &service)
                .await
                .expect("the service is created");
        }
    }

    /// Waits (watching, with a deadline) until `service`'s EndpointSlices list `ready` ready
    /// endpoints.
    pub async fn wait_endpoints(&self, namespace: &str, service: &str, ready: usize) {
        let api: Api<EndpointSlice> = Api::namespaced(self.client.clone(), namespace);
        let config =
            watcher::Config::default().labels(&format!("kubernetes.io/service-name={service}"));
        let (reader, writer) = reflector::store::<EndpointSlice>();
        // Every event, InitDone included: the store takes a list's objects only then.
        let stream = reflector::reflector(writer, watcher::watcher(api, config));
        let count = || -> usize {
            reader
                .state()
                .iter()
                .flat_map(|slice| slice.endpoints.iter().flatten())
                .filter(|endpoint| {
                    endpoint
                        .conditions
                        .as_ref()
                        .and_then(|conditions| conditions.ready)
                        .unwrap_or(true)
                })
                .count()
        };
        let wait = async {
            futures::pin_mut!(stream);
            while count() != ready {
                let _ = stream.next().await;
            }
        };
        let limit = readiness_deadline(self.real);
        if tokio::time::timeout(limit, wait).await.is_err() {
            panic!(
                "{namespace}/{service}: {} ready endpoints after {limit:?}, expected {ready}",
                count()
            );
        }
    }

    /// Waits until every selecting Service of the fixtures (all in front of Deployment `web`)
    /// lists `replicas` ready endpoints.
    pub async fn wait_ready(&self, namespace: &str, replicas: usize) {
        for service in ["web", "web-nodeport", "web-lb", "web-headless"] {
            self.wait_endpoints(namespace, service, replicas).await;
        }
    }
}

/// Runs `kubehop chain -n NAMESPACE -o json` against the cluster; returns the exit status, the
/// JSON document and standard error.
pub async fn kubehop_chain(cluster: &Cluster, namespace: &str) -> (i32, Value, String) {
    let output = tokio::process::Command::new(super::bin::KUBEHOP)
        .args(["chain", "-n", namespace, "-o", "json", "--kubeconfig"])
        .arg(&cluster.kubeconfig)
        .env_remove("KUBECONFIG")
        .output()
        .await
        .expect("kubehop runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let document = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("chain prints JSON ({error}); stderr: {stderr}"));
    (output.status.code().unwrap_or(-1), document, stderr)
}
