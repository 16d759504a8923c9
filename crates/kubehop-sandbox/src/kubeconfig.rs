//! The kubeconfig the sandbox writes for kubectl and kube-rs.

use std::io::Write;
use std::path::Path;

/// The cluster, user and context name in the sandbox's kubeconfig.
pub const CONTEXT: &str = "kubehop-sandbox";

/// The kubeconfig document for a server URL, the CA to trust (PEM, for https) and a token.
pub fn render(server_url: &str, ca_pem: Option<&str>, token: &str) -> String {
    use base64::Engine;
    let authority = ca_pem
        .map(|pem| {
            format!(
                "    certificate-authority-data: {}\n",
                base64::engine::general_purpose::STANDARD.encode(pem)
            )
        })
        .unwrap_or_default();
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {CONTEXT}
  cluster:
    server: \"{server_url}\"
{authority}users:
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
pub fn write(
    path: &Path,
    server_url: &str,
    ca_pem: Option<&str>,
    token: &str,
) -> std::io::Result<()> {
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
    file.write_all(render(server_url, ca_pem, token).as_bytes())?;
    file.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_rs_reads_the_kubeconfig() {
        let text = render("https://127.0.0.1:4567", Some("PEM"), "abc");
        let config: kube::config::Kubeconfig =
            serde_saphyr::from_str(&text).expect("valid kubeconfig YAML");
        assert_eq!(config.current_context.as_deref(), Some(CONTEXT));
        let cluster = config.clusters[0].cluster.as_ref().expect("cluster");
        assert_eq!(cluster.server.as_deref(), Some("https://127.0.0.1:4567"));
        assert_eq!(
            cluster.certificate_authority_data.as_deref(),
            Some("UEVN") // base64("PEM")
        );
    }
}
