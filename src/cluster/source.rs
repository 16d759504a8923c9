//! Which source a run reads its cluster from, and how: plain settings, filled in by the command
//! line or by any other caller (a library user, a test).

use std::path::PathBuf;
use std::time::Duration;

use crate::cluster::client::ClientSettings;
use crate::engine::EngineConfig;

/// Where cluster objects come from. Dumps load once ([`crate::cluster::dump::load_paths`]);
/// the live and demo sources publish snapshots over time ([`crate::cluster::Sources`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `--from-file PATH...` (`-` is standard input).
    Dump(Vec<PathBuf>),
    /// `--demo`: the embedded sandbox cluster on loopback, started by the binary
    /// ([`crate::cluster::DemoCluster`]).
    Demo,
    /// The kubeconfig (default): `--kubeconfig`, `--context`.
    Live {
        kubeconfig: Option<PathBuf>,
        context: Option<String>,
    },
}

/// The source flags, parsed: which source, which namespaces, the request timeout and the
/// cluster's DNS domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSettings {
    pub source: Source,
    /// `-n`: one namespace (default: the context's, else `default`).
    pub namespace: Option<String>,
    /// `-A`: every namespace (wins over `namespace`).
    pub all_namespaces: bool,
    /// `--request-timeout`; `None` = no limit beyond the default connect timeout.
    pub request_timeout: Option<Duration>,
    /// `--cluster-domain`.
    pub cluster_domain: String,
}

impl Default for SourceSettings {
    /// The current kubeconfig context, its namespace, `cluster.local`.
    fn default() -> Self {
        SourceSettings {
            source: Source::Live {
                kubeconfig: None,
                context: None,
            },
            namespace: None,
            all_namespaces: false,
            request_timeout: None,
            cluster_domain: "cluster.local".to_owned(),
        }
    }
}

impl SourceSettings {
    /// How to connect: the kubeconfig and context of a live source, the namespace scope and
    /// the request timeout.
    pub fn client(&self) -> ClientSettings {
        let (kubeconfig, context) = match &self.source {
            Source::Live {
                kubeconfig,
                context,
            } => (kubeconfig.clone(), context.clone()),
            Source::Dump(_) | Source::Demo => (None, None),
        };
        ClientSettings {
            kubeconfig,
            context,
            namespace: self.namespace.clone(),
            all_namespaces: self.all_namespaces,
            request_timeout: self.request_timeout,
        }
    }

    /// The engine configuration these settings ask for.
    pub fn engine_config(&self) -> EngineConfig {
        EngineConfig {
            cluster_domain: self.cluster_domain.clone(),
            ..EngineConfig::default()
        }
    }

    /// The one namespace looked at, `None` for every namespace (or the context's default,
    /// which only a live source knows).
    pub fn scope_namespace(&self) -> Option<&str> {
        if self.all_namespaces {
            None
        } else {
            self.namespace.as_deref()
        }
    }

    /// The same settings limited to one namespace.
    pub fn in_namespace(&self, namespace: &str) -> Self {
        SourceSettings {
            namespace: Some(namespace.to_owned()),
            all_namespaces: false,
            ..self.clone()
        }
    }
}
