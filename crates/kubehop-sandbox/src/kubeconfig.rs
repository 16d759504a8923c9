//! The kubeconfig the sandbox writes for kubectl and kube-rs.

use std::io::Write;
use std::path::{Path, PathBuf};

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

/// Writes the kubeconfig, readable by the owner only (it holds the token), atomically: the
/// text goes to a new file next to `path` (created exclusively with mode 0600, so nothing
/// planted there is opened) which then replaces `path`. An existing file at `path` is replaced,
/// never reused with its old mode; a symbolic link at `path` is replaced itself, its target is
/// left untouched.
pub fn write(
    path: &Path,
    server_url: &str,
    ca_pem: Option<&str>,
    token: &str,
) -> std::io::Result<()> {
    let parent = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the kubeconfig path names no file"))?;
    let temporary = parent.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        uuid::Uuid::new_v4().simple()
    ));
    let written = write_new(&temporary, render(server_url, ca_pem, token).as_bytes())
        .and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        // Best effort: the temporary file may not exist.
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// Creates `path` (it must not exist: not even as a link) with mode 0600 and writes `bytes`.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Creates a fresh private folder (mode 0700) with an unguessable name under `base` for the
/// sandbox's kubeconfig: creating it fails rather than reuse anything already there.
pub fn private_dir(base: &Path) -> std::io::Result<PathBuf> {
    let mut attempts = 0;
    loop {
        let dir = base.join(format!("kubehop-sandbox-{}", uuid::Uuid::new_v4().simple()));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        match builder.create(&dir) {
            Ok(()) => return Ok(dir),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists && attempts < 8 => {
                attempts += 1;
            }
            Err(error) => return Err(error),
        }
    }
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

    /// A fresh folder under the target directory for one test.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kubeconfig-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch folder");
        dir
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::symlink_metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    }

    #[cfg(unix)]
    #[test]
    fn an_existing_readable_file_is_replaced_with_a_private_one() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("replace");
        let path = dir.join("config");
        std::fs::write(&path, "old").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        write(&path, "https://127.0.0.1:1", None, "tok").expect("written");
        assert_eq!(mode(&path), 0o600);
        assert!(
            std::fs::read_to_string(&path)
                .expect("read")
                .contains("token: \"tok\"")
        );
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(&dir).expect("list").collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_symlink_is_not_followed() {
        let dir = scratch("symlink");
        let target = dir.join("victim");
        std::fs::write(&target, "precious").expect("write");
        let path = dir.join("kubeconfig");
        std::os::unix::fs::symlink(&target, &path).expect("symlink");
        write(&path, "https://127.0.0.1:1", None, "tok").expect("written");
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "precious");
        let metadata = std::fs::symlink_metadata(&path).expect("metadata");
        assert!(
            metadata.file_type().is_file(),
            "the link itself was replaced"
        );
        assert_eq!(mode(&path), 0o600);
    }

    #[cfg(unix)]
    #[test]
    fn the_private_dir_is_new_and_owner_only() {
        let base = scratch("private");
        let first = private_dir(&base).expect("created");
        let second = private_dir(&base).expect("created");
        assert_ne!(first, second, "names are not predictable");
        assert_eq!(mode(&first), 0o700);
    }
}
