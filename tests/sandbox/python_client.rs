//! The official Python client (`kubernetes` on PyPI) against the sandbox: it lists pods,
//! watches a change the test makes, and port-forwards (WebSocket channel protocol) to a pod
//! that echoes and answers HTTP. The Python interpreter is `KUBEHOP_PYTHON` or `python3`;
//! without the `kubernetes` package the test prints a loud SKIP line. Loopback only.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

use crate::support::bin::MANIFEST_DIR;
use crate::support::fixtures::manifest::{deployment, service, three_nodes};
use crate::support::sandbox::{pods_of, start_cluster};
use crate::support::wait::within;

/// A Python that imports `kubernetes`, if there is one.
fn python_with_client(test: &str) -> Option<PathBuf> {
    let python = std::env::var_os("KUBEHOP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"));
    let imports = std::process::Command::new(&python)
        .args(["-c", "import kubernetes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !imports {
        eprintln!(
            "\n==== SKIP {test}: no Python with the kubernetes client (set KUBEHOP_PYTHON or `python3 -m pip install kubernetes`) ====\n"
        );
        return None;
    }
    Some(python)
}

fn script() -> PathBuf {
    Path::new(MANIFEST_DIR).join("tests/sandbox/python/kubernetes_client.py")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_lists_watches_and_port_forwards() {
    let Some(python) = python_with_client("python-client") else {
        return;
    };
    let mut objects = three_nodes();
    objects.push(deployment("default", "echo", 2, 9376));
    objects.push(service("default", "echo", 80));
    let (sandbox, client) = start_cluster(objects, Duration::from_millis(500)).await;
    let mut pods: Vec<String> = pods_of(sandbox.store(), "default", "echo")
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    pods.sort();
    assert_eq!(pods.len(), 2);

    let mut child = Command::new(python)
        .arg(script())
        .arg(sandbox.kubeconfig_path())
        .args(["default", "echo", "9376"])
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python runs");
    let mut stderr = child.stderr.take().expect("stderr");
    let errors = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut next = async || {
        within("the Python client's next step", lines.next_line())
            .await
            .expect("read")
    };

    assert_eq!(next().await, Some(format!("listed {}", pods.join(" "))));
    assert_eq!(next().await.as_deref(), Some("watching"));
    // The change the client's watch must see.
    let api: Api<Pod> = Api::namespaced(client, "default");
    api.patch(
        &pods[1],
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"changed": "yes"}}})),
    )
    .await
    .expect("label the pod");
    assert_eq!(next().await, Some(format!("watched {}", pods[1])));
    assert_eq!(next().await.as_deref(), Some("echoed 1048576"));
    assert_eq!(next().await, Some(format!("answered {}", pods[0])));
    assert_eq!(next().await, None);
    let status = within("python to exit", child.wait())
        .await
        .expect("status");
    let errors = errors.await.expect("stderr");
    assert!(status.success(), "{status}: {errors}");
    sandbox.shutdown().await;
}
