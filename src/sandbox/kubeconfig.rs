//! The kubeconfig the sandbox writes for kubectl and kube-rs.

use std::io::Write;
use std::path::Path;

/// The cluster, user and context name in the sandbox's kubeconfig.
pub const CONTEXT: &str = "kubehop-sandbox";

/// The kubeconfig document for a server URL and bearer token.
pub fn render(server_url: &str, token: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {CONTEXT}
  cluster:
    server: \"{server_url}\"
users:
- name: {CONTEXT}
  user:
    token: \"{token}\"
contexts:
- name: {CONTEXT}
  context:
    cluster: {CONTEXT}
    user: {CONTEXT}
    namespace: default
current-context: {CONTEXT}
preferences: {{}}
"
    )
}

/// Writes the kubeconfig, readable by the owner only (it holds the token).
pub fn write(path: &Path, server_url: &str, token: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(render(server_url, token).as_bytes())?;
    file.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_rs_reads_the_kubeconfig() {
        let text = render("http://127.0.0.1:4567", "abc");
        let config: kube::config::Kubeconfig =
            serde_saphyr::from_str(&text).expect("valid kubeconfig YAML");
        assert_eq!(config.current_context.as_deref(), Some(CONTEXT));
        let cluster = config.clusters[0].cluster.as_ref().expect("cluster");
        assert_eq!(cluster.server.as_deref(), Some("http://127.0.0.1:4567"));
    }
}
