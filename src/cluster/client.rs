//! Connecting like kubectl: kubeconfig files → context → namespace scope → `kube::Client`.
//!
//! The rules follow client-go's loading rules (what kubectl does):
//! - `--kubeconfig FILE` uses that one file (it must exist);
//! - otherwise `KUBECONFIG` is a list of files (`:`-separated on Unix, `;` on Windows); empty
//!   entries and files that do not exist are skipped, the rest are merged with kube-rs's
//!   [`Kubeconfig::merge`] (the first file to set a value wins, maps merge by name);
//! - otherwise `~/.kube/config`;
//! - when none of these exists and `KUBERNETES_SERVICE_HOST` is set (kubehop runs in a pod), the
//!   in-cluster service account is used.
//!
//! The context is `--context` or the kubeconfig's `current-context`; the namespace is `-n`, else
//! the context's namespace, else `default`; `-A` watches every namespace. Exec and OIDC auth
//! plugins run through kube-rs's auth layer.
//!
//! Every failure is a [`ClusterError`] whose message is one line saying what to do.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};

use crate::cluster::credentials::{
    BadCredential, check_credentials, redact_urls, settle_exec_credentials,
};
use crate::cluster::dump::DumpError;

/// How long connecting (TCP + TLS) may take when `--request-timeout` is not given (kube-rs's and
/// client-go's default).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest silence tolerated while reading a response. Watches end on the server's side
/// after [`crate::cluster::live::WATCH_TIMEOUT`] and carry bookmarks, so a longer silence is a
/// stalled connection.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Which namespaces to look at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// One namespace (`-n`, the context's namespace, or `default`).
    Namespace(String),
    /// Every namespace (`-A`).
    All,
}

impl Scope {
    /// The namespace, `None` for every namespace.
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Scope::Namespace(namespace) => Some(namespace),
            Scope::All => None,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Namespace(namespace) => write!(f, "namespace {namespace}"),
            Scope::All => f.write_str("all namespaces"),
        }
    }
}

/// The connection flags, parsed (`--kubeconfig`, `--context`, `-n`, `-A`, `--request-timeout`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientSettings {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub namespace: Option<String>,
    pub all_namespaces: bool,
    /// `None` = no limit beyond the default connect timeout.
    pub request_timeout: Option<Duration>,
}

/// The process environment the loading rules read; tests pass their own.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// `KUBECONFIG`.
    pub kubeconfig: Option<OsString>,
    /// The home directory (for `~/.kube/config`).
    pub home: Option<PathBuf>,
    /// `KUBERNETES_SERVICE_HOST` is set: running inside a pod.
    pub in_cluster: bool,
}

impl Environment {
    pub fn from_process() -> Self {
        let home = std::env::var_os("HOME")
            .or_else(|| std::env::var_os("USERPROFILE"))
            .filter(|home| !home.is_empty())
            .map(PathBuf::from);
        Environment {
            kubeconfig: std::env::var_os("KUBECONFIG"),
            home,
            in_cluster: std::env::var_os("KUBERNETES_SERVICE_HOST").is_some_and(|v| !v.is_empty()),
        }
    }
}

/// Where the configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigOrigin {
    /// Kubeconfig files, in merge order.
    Files(Vec<PathBuf>),
    /// The pod's service account.
    InCluster,
    /// A configuration built by the caller (the demo sandbox, tests).
    Given,
}

/// A resolved connection target: kube-rs configuration plus what kubehop shows about it.
#[derive(Debug, Clone)]
pub struct ClusterTarget {
    pub config: kube::Config,
    /// The context name (`in-cluster` for the service account).
    pub context: String,
    pub scope: Scope,
    pub origin: ConfigOrigin,
    /// The limit from `--request-timeout`, if any.
    pub request_timeout: Option<Duration>,
}

impl ClusterTarget {
    /// A target for a configuration built by the caller (for example a sandbox's), with
    /// kubehop's timeouts and User-Agent applied.
    pub fn new(mut config: kube::Config, context: impl Into<String>, scope: Scope) -> Self {
        tune_config(&mut config, None);
        if let Scope::Namespace(namespace) = &scope {
            config.default_namespace = namespace.clone();
        }
        ClusterTarget {
            config,
            context: context.into(),
            scope,
            origin: ConfigOrigin::Given,
            request_timeout: None,
        }
    }

    /// The API server URL, for messages (a password or token in it shown as `***`).
    pub fn url(&self) -> String {
        let url = self.config.cluster_url.to_string();
        redact_urls(url.trim_end_matches('/')).into_owned()
    }
}

/// Why kubehop cannot read the cluster. Each message is one line that says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Dump(#[from] DumpError),
    #[error(
        "no kubeconfig found (looked at {looked}); pass --kubeconfig FILE, set KUBECONFIG, or try the built-in demo cluster with --demo"
    )]
    NoKubeconfig { looked: String },
    #[error(
        "cannot read kubeconfig {path}: {detail}; fix the file or pass another with --kubeconfig"
    )]
    KubeconfigUnreadable {
        path: PathBuf,
        detail: String,
        #[source]
        source: Box<KubeconfigError>,
    },
    #[error(
        "the kubeconfig ({files}) sets no current-context; pick one with --context NAME (known: {known})"
    )]
    NoCurrentContext { files: String, known: String },
    #[error("context {name:?} is not in the kubeconfig ({files}); known contexts: {known}")]
    UnknownContext {
        name: String,
        files: String,
        known: String,
    },
    #[error(
        "context {context:?} in the kubeconfig cannot be used: {detail}; fix that entry or choose another with --context"
    )]
    InvalidContext {
        context: String,
        detail: String,
        #[source]
        source: Box<KubeconfigError>,
    },
    #[error(
        "the kubeconfig's {field} of user {user:?} (context {context:?}) {problem}; fix that entry or choose another context with --context"
    )]
    Credentials {
        field: &'static str,
        user: String,
        context: String,
        problem: String,
    },
    #[error("cannot use the in-cluster service account: {detail}; pass --kubeconfig FILE instead")]
    InCluster {
        detail: String,
        #[source]
        source: Box<kube::config::InClusterError>,
    },
    #[error(
        "cannot build a client for {url}: {detail}; check the kubeconfig entry of context {context:?}"
    )]
    Client {
        url: String,
        context: String,
        detail: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error(
        "cannot reach the API server at {url} ({detail}); is the cluster running and is the server address of context {context:?} right?"
    )]
    Unreachable {
        url: String,
        context: String,
        detail: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error(
        "the API server at {url} did not answer within {timeout:?}; check the network, or allow more time with --request-timeout"
    )]
    Timeout { url: String, timeout: Duration },
    #[error(
        "TLS with the API server at {url} failed ({detail}); the certificate-authority of context {context:?} does not match the server's certificate"
    )]
    Tls {
        url: String,
        context: String,
        detail: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error(
        "the API server at {url} rejected the credentials of context {context:?} (401 Unauthorized{detail}); log in again or refresh the token"
    )]
    Unauthorized {
        url: String,
        context: String,
        detail: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error(
        "authentication for context {context:?} failed: {detail}; check the exec/OIDC credential plugin of that user"
    )]
    Auth {
        context: String,
        detail: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error(
        "forbidden: cannot {verb} {resource} {scope} ({detail}); kubehop needs get, list and watch on it (check: kubectl auth can-i {verb} {resource}{can_i_scope})"
    )]
    Forbidden {
        verb: &'static str,
        resource: String,
        scope: String,
        can_i_scope: String,
        detail: String,
    },
    #[error("the API server at {url} answered {code}: {detail}")]
    Api {
        url: String,
        code: u16,
        detail: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("request to the API server at {url} failed: {detail}")]
    Request {
        url: String,
        detail: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("cannot start the demo cluster: {0}")]
    Demo(String),
    #[error("--demo is not available: this program was built without the embedded demo cluster")]
    NoDemo,
    #[error("the cluster source stopped before its first snapshot")]
    Stopped,
}

/// The kubeconfig files that the loading rules pick, and the places they looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeconfigFiles {
    /// Existing files, in merge order (empty: none found).
    pub files: Vec<PathBuf>,
    /// Every place looked at, for the "not found" message.
    pub looked: Vec<String>,
}

/// Applies the loading rules (without reading the files).
pub fn kubeconfig_files(explicit: Option<&Path>, env: &Environment) -> KubeconfigFiles {
    if let Some(path) = explicit {
        // --kubeconfig is taken as given: a missing file is a read error, as in kubectl.
        return KubeconfigFiles {
            files: vec![path.to_path_buf()],
            looked: vec![format!("--kubeconfig {}", path.display())],
        };
    }
    if let Some(list) = env.kubeconfig.as_ref().filter(|list| !list.is_empty()) {
        let paths: Vec<PathBuf> = std::env::split_paths(list)
            .filter(|path| !path.as_os_str().is_empty())
            .collect();
        if !paths.is_empty() {
            let looked = vec![format!("KUBECONFIG={}", list.to_string_lossy())];
            let files = paths.into_iter().filter(|path| path.exists()).collect();
            return KubeconfigFiles { files, looked };
        }
    }
    match &env.home {
        Some(home) => {
            let path = home.join(".kube").join("config");
            let looked = vec![path.display().to_string()];
            let files = if path.exists() {
                vec![path]
            } else {
                Vec::new()
            };
            KubeconfigFiles { files, looked }
        }
        None => KubeconfigFiles {
            files: Vec::new(),
            looked: vec!["~/.kube/config (no home directory)".to_owned()],
        },
    }
}

/// Every file the loading rules would read, whether it exists now or not: what a long-running
/// source watches to notice a kubeconfig written, replaced or created.
pub fn kubeconfig_candidates(explicit: Option<&Path>, env: &Environment) -> Vec<PathBuf> {
    if let Some(path) = explicit {
        return vec![path.to_path_buf()];
    }
    if let Some(list) = env.kubeconfig.as_ref().filter(|list| !list.is_empty()) {
        let paths: Vec<PathBuf> = std::env::split_paths(list)
            .filter(|path| !path.as_os_str().is_empty())
            .collect();
        if !paths.is_empty() {
            return paths;
        }
    }
    env.home
        .iter()
        .map(|home| home.join(".kube").join("config"))
        .collect()
}

/// Reads and merges the files (kube-rs resolves relative certificate and exec paths against
/// each file's folder).
pub fn read_kubeconfigs(files: &[PathBuf]) -> Result<Kubeconfig, ClusterError> {
    let mut merged = Kubeconfig::default();
    for path in files {
        let unreadable = |source: KubeconfigError| ClusterError::KubeconfigUnreadable {
            path: path.clone(),
            detail: one_line(&kubeconfig_detail(&source)),
            source: Box::new(source),
        };
        let config = Kubeconfig::read_from(path).map_err(unreadable)?;
        merged = merged.merge(config).map_err(unreadable)?;
    }
    Ok(merged)
}

fn kubeconfig_detail(error: &KubeconfigError) -> String {
    let text = match error {
        KubeconfigError::ReadConfig(io, _) => io.to_string(),
        other => error_chain(other),
    };
    // YAML errors go on with a drawing of the offending lines; the first line says it all.
    text.lines().next().unwrap_or_default().trim().to_owned()
}

fn file_list(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|path| path.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn known_contexts(kubeconfig: &Kubeconfig) -> String {
    let names: Vec<&str> = kubeconfig
        .contexts
        .iter()
        .map(|context| context.name.as_str())
        .collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// Resolves the settings to a kube-rs configuration, a context name and a namespace scope.
/// Reads files (and, in a pod, the service account); makes no request.
pub async fn resolve(
    settings: &ClientSettings,
    env: &Environment,
) -> Result<ClusterTarget, ClusterError> {
    let (mut target, user) = resolve_unsettled(settings, env).await?;
    settle_credentials(&mut target, &user).await?;
    Ok(target)
}

/// [`resolve`] up to, not including, running an exec credential plugin; also the name of the
/// context's user (empty in a pod). Credentials written in the kubeconfig are checked.
pub(crate) async fn resolve_unsettled(
    settings: &ClientSettings,
    env: &Environment,
) -> Result<(ClusterTarget, String), ClusterError> {
    let found = kubeconfig_files(settings.kubeconfig.as_deref(), env);
    if found.files.is_empty() {
        if env.in_cluster && settings.kubeconfig.is_none() {
            let config = kube::Config::incluster().map_err(|source| ClusterError::InCluster {
                detail: one_line(&error_chain(&source)),
                source: Box::new(source),
            })?;
            let target = finish(
                config,
                "in-cluster".to_owned(),
                settings,
                ConfigOrigin::InCluster,
            );
            return Ok((target, String::new()));
        }
        return Err(ClusterError::NoKubeconfig {
            looked: found.looked.join(", "),
        });
    }
    let kubeconfig = read_kubeconfigs(&found.files)?;
    let files = file_list(&found.files);
    let context = match settings
        .context
        .as_ref()
        .or(kubeconfig.current_context.as_ref())
    {
        Some(name) if !name.is_empty() => name.clone(),
        _ => {
            return Err(ClusterError::NoCurrentContext {
                files,
                known: known_contexts(&kubeconfig),
            });
        }
    };
    let defined = kubeconfig
        .contexts
        .iter()
        .any(|named| named.name == context && named.context.is_some());
    if !defined {
        return Err(ClusterError::UnknownContext {
            name: context,
            files,
            known: known_contexts(&kubeconfig),
        });
    }
    let user = kubeconfig
        .contexts
        .iter()
        .find(|named| named.name == context)
        .and_then(|named| named.context.as_ref()?.user.clone())
        .unwrap_or_default();
    let options = KubeConfigOptions {
        context: Some(context.clone()),
        ..KubeConfigOptions::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|source| ClusterError::InvalidContext {
            context: context.clone(),
            detail: one_line(&error_chain(&source)),
            source: Box::new(source),
        })?;
    // Before kube-rs turns them into headers (where a bad one panics).
    check_credentials(&config.auth_info).map_err(|bad| bad_credential(bad, &user, &context))?;
    let target = finish(config, context, settings, ConfigOrigin::Files(found.files));
    Ok((target, user))
}

fn bad_credential(bad: BadCredential, user: &str, context: &str) -> ClusterError {
    ClusterError::Credentials {
        field: bad.field,
        user: user.to_owned(),
        context: context.to_owned(),
        problem: bad.problem,
    }
}

/// Runs the exec credential plugin of `target`'s user, if any, and checks what it prints
/// before kube-rs makes a header of it ([`settle_exec_credentials`]).
pub(crate) async fn settle_credentials(
    target: &mut ClusterTarget,
    user: &str,
) -> Result<(), ClusterError> {
    settle_exec_credentials(&mut target.config.auth_info)
        .await
        .map_err(|bad| bad_credential(bad, user, &target.context))
}

fn finish(
    mut config: kube::Config,
    context: String,
    settings: &ClientSettings,
    origin: ConfigOrigin,
) -> ClusterTarget {
    let scope = if settings.all_namespaces {
        Scope::All
    } else {
        Scope::Namespace(
            settings
                .namespace
                .clone()
                .filter(|namespace| !namespace.is_empty())
                .unwrap_or_else(|| config.default_namespace.clone()),
        )
    };
    if let Scope::Namespace(namespace) = &scope {
        config.default_namespace = namespace.clone();
    }
    tune_config(&mut config, settings.request_timeout);
    ClusterTarget {
        config,
        context,
        scope,
        origin,
        request_timeout: settings.request_timeout,
    }
}

/// The User-Agent kubehop sends (audit logs and the sandbox's request log show it).
pub const USER_AGENT: &str = concat!("kubehop/", env!("CARGO_PKG_VERSION"));

/// Sets kubehop's timeouts and User-Agent on a kube-rs configuration.
///
/// `--request-timeout` bounds connecting and the first request; reads may pause up to
/// [`READ_TIMEOUT`] (or the request timeout if longer) so that watches stay open.
pub fn tune_config(config: &mut kube::Config, request_timeout: Option<Duration>) {
    config.connect_timeout = Some(request_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT));
    config.read_timeout = Some(request_timeout.map_or(READ_TIMEOUT, |t| t.max(READ_TIMEOUT)));
    config.reset_reader_on_write = true;
    config
        .headers
        .retain(|(name, _)| name != http::header::USER_AGENT);
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(USER_AGENT),
    ));
}

/// Builds the client (adds no request).
pub fn build_client(target: &ClusterTarget) -> Result<kube::Client, ClusterError> {
    kube::Client::try_from(target.config.clone()).map_err(|source| client_error(target, source))
}

pub(crate) fn client_error(target: &ClusterTarget, source: kube::Error) -> ClusterError {
    if let Some(detail) = auth_detail(&source) {
        return ClusterError::Auth {
            context: target.context.clone(),
            detail,
            source: Box::new(source),
        };
    }
    ClusterError::Client {
        url: target.url(),
        context: target.context.clone(),
        detail: one_line(&error_chain(&source)),
        source: Box::new(source),
    }
}

/// Asks the API server for its version (`GET /version`): proves that the server is reachable,
/// that TLS verifies and that the credentials are accepted, within the request timeout.
pub async fn check_server(
    client: &kube::Client,
    target: &ClusterTarget,
) -> Result<(), ClusterError> {
    let limit = target.request_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    match tokio::time::timeout(limit, client.apiserver_version()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(classify(error, target, None)),
        Err(_) => Err(ClusterError::Timeout {
            url: target.url(),
            timeout: limit,
        }),
    }
}

/// Resolves the settings, builds the client and checks the server: the whole "connect like
/// kubectl" step for commands that need a client (probe, forward).
pub async fn connect(
    settings: &ClientSettings,
    env: &Environment,
) -> Result<(kube::Client, ClusterTarget), ClusterError> {
    let target = resolve(settings, env).await?;
    let client = build_client(&target)?;
    check_server(&client, &target).await?;
    Ok((client, target))
}

/// What a request was about, for 403 messages.
#[derive(Debug, Clone, Copy)]
pub struct RequestSubject<'a> {
    pub verb: &'static str,
    pub resource: &'a str,
    pub namespace: Option<&'a str>,
}

/// Turns a kube-rs error into the user-facing error.
pub fn classify(
    error: kube::Error,
    target: &ClusterTarget,
    subject: Option<RequestSubject<'_>>,
) -> ClusterError {
    let url = target.url();
    let context = target.context.clone();
    if let kube::Error::Api(status) = &error {
        let detail = one_line(&status.message);
        return match status.code {
            401 => ClusterError::Unauthorized {
                url,
                context,
                detail: if detail.is_empty() || detail == "Unauthorized" {
                    String::new()
                } else {
                    format!(": {detail}")
                },
                source: Box::new(error),
            },
            403 => {
                let (verb, resource, namespace) = match subject {
                    Some(subject) => (subject.verb, subject.resource.to_owned(), subject.namespace),
                    None => ("get", "/version".to_owned(), None),
                };
                ClusterError::Forbidden {
                    verb,
                    resource,
                    scope: namespace.map_or_else(
                        || "at cluster scope".to_owned(),
                        |namespace| format!("in namespace {namespace}"),
                    ),
                    can_i_scope: namespace.map_or_else(
                        || " --all-namespaces".to_owned(),
                        |namespace| format!(" -n {namespace}"),
                    ),
                    detail,
                }
            }
            code => ClusterError::Api {
                url,
                code,
                detail,
                source: Box::new(error),
            },
        };
    }
    let detail = one_line(&error_chain(&error));
    match transport_failure(&error) {
        Transport::Tls => ClusterError::Tls {
            url,
            context,
            detail,
            source: Box::new(error),
        },
        Transport::TimedOut => ClusterError::Timeout {
            url,
            timeout: target.request_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        },
        Transport::Unreachable => ClusterError::Unreachable {
            url,
            context,
            detail,
            source: Box::new(error),
        },
        Transport::Auth => ClusterError::Auth {
            context,
            detail: auth_detail(&error).unwrap_or(detail),
            source: Box::new(error),
        },
        Transport::Other => ClusterError::Request {
            url,
            detail,
            source: Box::new(error),
        },
    }
}

/// What went wrong with a credential plugin, in one line, if that is the error.
fn auth_detail(error: &kube::Error) -> Option<String> {
    use kube::client::AuthError;
    let auth = causes(error)
        .into_iter()
        .find_map(|cause| cause.downcast_ref::<AuthError>())?;
    Some(match auth {
        AuthError::AuthExecRun { out, .. } => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr
                .lines()
                .map(str::trim)
                .rfind(|line| !line.is_empty())
                .unwrap_or("no message");
            one_line(&format!("the exec plugin failed ({}): {last}", out.status))
        }
        AuthError::AuthExecStart(io) => format!("cannot start the exec plugin: {io}"),
        other => one_line(&error_chain(other)),
    })
}

/// The kind of transport failure behind a kube-rs error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Tls,
    TimedOut,
    Unreachable,
    Auth,
    Other,
}

pub(crate) fn transport_failure(error: &kube::Error) -> Transport {
    if matches!(error, kube::Error::Auth(_)) {
        return Transport::Auth;
    }
    let mut unreachable = false;
    let mut timed_out = false;
    let mut auth = false;
    for cause in causes(error) {
        if cause.is::<tokio_rustls::rustls::Error>() {
            return Transport::Tls;
        }
        if cause.is::<kube::client::AuthError>() {
            auth = true;
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind;
            match io.kind() {
                ErrorKind::TimedOut => timed_out = true,
                ErrorKind::ConnectionRefused
                | ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::NotConnected
                | ErrorKind::AddrNotAvailable
                | ErrorKind::BrokenPipe
                | ErrorKind::UnexpectedEof
                | ErrorKind::HostUnreachable
                | ErrorKind::NetworkUnreachable
                | ErrorKind::NetworkDown => unreachable = true,
                _ => {}
            }
        }
        if let Some(hyper) = cause.downcast_ref::<hyper::Error>()
            && (hyper.is_closed() || hyper.is_incomplete_message() || hyper.is_canceled())
        {
            unreachable = true;
        }
        let text = cause.to_string();
        if text.contains("dns error")
            || text.contains("failed to lookup address")
            || text.contains("tcp connect error")
        {
            unreachable = true;
        }
    }
    if auth {
        Transport::Auth
    } else if timed_out {
        Transport::TimedOut
    } else if unreachable {
        Transport::Unreachable
    } else {
        Transport::Other
    }
}

/// Every error in the chain, looking inside `io::Error`s (whose `source()` skips the wrapped
/// error itself).
fn causes<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(error);
    while let Some(current) = next {
        if out.len() > 32 {
            break;
        }
        out.push(current);
        next = match current.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => current.source(),
        };
    }
    out
}

/// The two innermost messages of an error chain ("tcp connect error: Connection refused (os
/// error 111)"): the root cause and the step that hit it.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let texts: Vec<String> = causes(error)
        .iter()
        .map(|cause| cause.to_string())
        .filter(|text| !text.is_empty())
        .collect();
    match texts.as_slice() {
        [] => String::new(),
        [only] => only.clone(),
        [.., outer, inner] => {
            if outer.contains(inner.as_str()) {
                outer.clone()
            } else {
                format!("{outer}: {inner}")
            }
        }
    }
}

/// Collapses whitespace runs (newlines included) so a message stays on one line; credentials
/// in URLs are shown as `***`.
pub(crate) fn one_line(text: &str) -> String {
    redact_urls(&text.split_whitespace().collect::<Vec<_>>().join(" ")).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_collapses_newlines() {
        assert_eq!(one_line("a\n  b\tc "), "a b c");
    }
}
