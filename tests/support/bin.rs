//! The built binaries: `kubehop` (and the kubectl plugin `kubectl-hop`) run from the crate
//! root without colour, their output as text or JSON, scratch folders, and kubectl.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use super::wait::within;

pub const KUBEHOP: &str = env!("CARGO_BIN_EXE_kubehop");
pub const KUBECTL_HOP: &str = env!("CARGO_BIN_EXE_kubectl-hop");
pub const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// `kubehop ARGS` from the crate root (so file names in messages are relative), without colour.
pub fn kubehop_command(args: &[&str]) -> Command {
    let mut command = Command::new(KUBEHOP);
    command
        .args(args)
        .current_dir(MANIFEST_DIR)
        .env("NO_COLOR", "1");
    command
}

/// `kubehop ARGS` that finds no cluster by itself (no KUBECONFIG, not in a pod): the test
/// names one (`--kubeconfig`, `--demo`, `-f`).
pub fn kubehop_isolated(args: &[String]) -> Command {
    let mut command = Command::new(KUBEHOP);
    command
        .args(args)
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST");
    command
}

/// Runs [`kubehop_isolated`] to its end off the runtime's threads (it blocks until done),
/// within the deadline.
pub async fn kubehop_isolated_output(args: Vec<String>) -> Output {
    within(
        "kubehop to exit",
        tokio::task::spawn_blocking(move || {
            kubehop_isolated(&args)
                .output()
                .expect("the kubehop binary runs")
        }),
    )
    .await
    .expect("the command thread")
}

/// Runs [`kubehop_command`] to its end.
pub fn kubehop(args: &[&str]) -> Output {
    kubehop_command(args)
        .output()
        .expect("the kubehop binary runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("UTF-8 output")
}

/// Standard output as one JSON document.
pub fn json(output: &Output) -> Value {
    serde_json::from_str(&stdout(output)).expect("JSON on stdout")
}

/// The `name` of every Service in a `chain -o json` document.
pub fn service_names(document: &Value) -> Vec<&str> {
    document["services"]
        .as_array()
        .expect("services")
        .iter()
        .filter_map(|service| service["name"].as_str())
        .collect()
}

/// A fresh, empty folder under the target directory for this test's files.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the scratch folder");
    dir
}

fn kubectl_works(path: &Path) -> bool {
    Command::new(path)
        .args(["version", "--client"])
        .output()
        .is_ok_and(|out| {
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Client Version")
        })
}

/// kubectl from `KUBEHOP_KUBECTL` or the first PATH entry whose `kubectl version --client`
/// works; never the gcloud wrapper at /usr/bin/kubectl.
pub fn find_kubectl() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("KUBEHOP_KUBECTL") {
        let path = PathBuf::from(path);
        return kubectl_works(&path).then_some(path);
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join("kubectl"))
        .filter(|candidate| candidate.is_file())
        .filter(|candidate| {
            let real = std::fs::canonicalize(candidate).unwrap_or_else(|_| candidate.clone());
            !real.to_string_lossy().contains("google-cloud-sdk")
                && candidate != Path::new("/usr/bin/kubectl")
        })
        .find(|candidate| kubectl_works(candidate))
}
