//! How a kube-rs project tests against the sandbox: a real API server, controllers and a data
//! plane on loopback, driven with the ordinary `kube::Api` — no mocks, no cluster.

use std::net::SocketAddr;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Service};
use kube::api::{Api, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kubehop_sandbox::{ControlPlaneConfig, Sandbox};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Every wait in this test ends by then, or the test fails.
const DEADLINE: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_deployment_and_its_service_answer_on_the_cluster_ip() {
    let sandbox = Sandbox::builder()
        .control_plane(ControlPlaneConfig::immediate(Duration::ZERO))
        .data_plane(true)
        .start()
        .await
        .expect("the sandbox starts");
    let client = sandbox.client().await.expect("a kube-rs client");

    // A node for the scheduler; the sandbox's kubelet registers it (address, Ready).
    let node = serde_json::from_value(json!({"metadata": {"name": "node-1"}})).expect("a Node");
    Api::<Node>::all(client.clone())
        .create(&PostParams::default(), &node)
        .await
        .expect("created");

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "example/web:1",
                          "ports": [{"name": "http", "containerPort": 8080}]}]}
            }
        }
    }))
    .expect("a Deployment");
    deployments
        .create(&PostParams::default(), &deployment)
        .await
        .expect("created");
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let service = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]}
    }))
    .expect("a Service");
    services
        .create(&PostParams::default(), &service)
        .await
        .expect("created");

    // Watch-based wait (kube-runtime), as a controller's test would do it.
    let rolled_out = await_condition(deployments, "web", conditions::is_deployment_completed());
    tokio::time::timeout(DEADLINE, rolled_out)
        .await
        .expect("the Deployment completes in time")
        .expect("watch");
    tokio::time::timeout(DEADLINE, sandbox.settled())
        .await
        .expect("the data plane catches up");

    let service = services.get("web").await.expect("the Service");
    let cluster_ip = service
        .spec
        .and_then(|spec| spec.cluster_ip)
        .expect("a ClusterIP was allocated");
    let address = SocketAddr::new(cluster_ip.parse().expect("an IP"), 80);
    assert!(address.ip().is_loopback(), "the sandbox stays on loopback");

    let answer = tokio::time::timeout(DEADLINE, async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n")
            .await?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await?;
        std::io::Result::Ok(answer)
    })
    .await
    .expect("the pod answers in time")
    .expect("a connection through the ClusterIP");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains("web-"),
        "the answer names the pod: {answer}"
    );
    sandbox.shutdown().await;
}
