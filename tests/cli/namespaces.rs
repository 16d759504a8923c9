//! Namespaces on the command line against a live cluster (the in-process sandbox through its
//! kubeconfig, whose context names namespace `default`): the context's namespace is a
//! default that `NAMESPACE/SERVICE` overrides (only an explicit `-n` conflicts), `probe`
//! says where a Service it cannot find exists, and under `kubectl hop` the messages say so.

use std::process::{Command, Output};

use serde_json::json;

use crate::support::bin::{KUBECTL_HOP, kubehop_isolated_output, stderr, stdout};
use crate::support::fixtures::manifest::{Edit, node, service};
use crate::support::sandbox::sandbox_with;
use crate::support::wait::within;

/// A cluster whose Services `web` and `orders` are in namespace `shop` only.
async fn shop() -> kubehop::sandbox::SandboxHandle {
    sandbox_with(vec![
        node("node-a", "zone-1").registered("127.0.10.1"),
        service("shop", "web", 80).cluster_ip("127.10.9.1"),
        service("shop", "orders", 8080).cluster_ip("127.10.9.2"),
        service("default", "kubernetes", 443).cluster_ip("127.10.9.3"),
    ])
    .await
}

fn args(words: &[&str], kubeconfig: &str) -> Vec<String> {
    words
        .iter()
        .copied()
        .chain(["--kubeconfig", kubeconfig])
        .map(str::to_owned)
        .collect()
}

/// `kubectl-hop ARGS` (the plugin binary, as kubectl runs it), isolated like
/// [`kubehop_isolated_output`].
async fn kubectl_hop(args: Vec<String>) -> Output {
    within(
        "kubectl-hop to exit",
        tokio::task::spawn_blocking(move || {
            Command::new(KUBECTL_HOP)
                .args(&args)
                .env_remove("KUBECONFIG")
                .env_remove("KUBERNETES_SERVICE_HOST")
                .output()
                .expect("the kubectl-hop binary runs")
        }),
    )
    .await
    .expect("the command thread")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_slash_service_overrides_the_contexts_namespace() {
    let sandbox = shop().await;
    let kubeconfig = sandbox.kubeconfig_path().display().to_string();

    let output =
        kubehop_isolated_output(args(&["chain", "shop/web", "-o", "json"], &kubeconfig)).await;
    assert_ne!(output.status.code(), Some(2), "{}", stderr(&output));
    let document: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    let services = document["services"].as_array().expect("services");
    assert_eq!(services.len(), 1, "{document}");
    assert_eq!(
        (&services[0]["namespace"], &services[0]["name"]),
        (&json!("shop"), &json!("web"))
    );

    // An explicit -n that disagrees still does.
    let output =
        kubehop_isolated_output(args(&["chain", "shop/web", "-n", "blog"], &kubeconfig)).await;
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "kubehop: SERVICE \"shop/web\" names namespace \"shop\" but -n says \"blog\": drop one of them\n"
    );
    // Without a namespace, the context's is used; the API says where the Service is.
    let output = kubehop_isolated_output(args(&["chain", "web"], &kubeconfig)).await;
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "kubehop: Service \"web\" not found in namespace default (it exists in namespace shop: use -n shop or shop/web)\n"
    );
    let output = kubehop_isolated_output(args(&["chain", "nowhere"], &kubeconfig)).await;
    assert_eq!(
        stderr(&output),
        "kubehop: Service \"nowhere\" not found in namespace default (Services there: kubernetes)\n"
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_says_where_a_service_exists_and_kubectl_hop_names_itself() {
    let sandbox = shop().await;
    let kubeconfig = sandbox.kubeconfig_path().display().to_string();

    let output = kubehop_isolated_output(args(&["probe", "orders"], &kubeconfig)).await;
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "kubehop: no Service default/orders (it exists in namespace shop: use -n shop or shop/orders)\n"
    );
    let output = kubehop_isolated_output(args(&["probe", "missing"], &kubeconfig)).await;
    assert_eq!(stderr(&output), "kubehop: no Service default/missing\n");

    let output = kubectl_hop(args(&["probe", "orders"], &kubeconfig)).await;
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "kubectl hop: no Service default/orders (it exists in namespace shop: use -n shop or shop/orders)\n"
    );
    let output = kubectl_hop(args(&["chain", "shop/web", "-n", "blog"], &kubeconfig)).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).starts_with("kubectl hop: SERVICE \"shop/web\" names namespace"),
        "{}",
        stderr(&output)
    );
    let output = kubectl_hop(args(&["route", "web:80"], &kubeconfig)).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output)
            .starts_with("kubectl hop: no Service default/web (it exists in namespace shop"),
        "{}",
        stderr(&output)
    );
    sandbox.shutdown().await;
}
