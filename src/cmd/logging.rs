//! Logging: `tracing` set up once, in `main`, before anything runs.
//!
//! - `--log-file PATH` (or `KUBEHOP_LOG_FILE`): events are appended to that file, filtered by
//!   `KUBEHOP_LOG` (an `EnvFilter` directive such as `debug` or `kube=debug,info`; default
//!   `info`);
//! - without a log file, `kubehop sandbox --verbose` (in the foreground, no TUI) writes
//!   warnings and errors to standard error, filtered by `KUBEHOP_LOG` if set;
//! - otherwise nothing is logged: the terminal UI and the printed output are never mixed with
//!   log lines.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

/// The environment variable with the log filter.
pub const FILTER_ENV: &str = "KUBEHOP_LOG";

/// Why the log cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot open the log file {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid {FILTER_ENV}: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
}

/// Where log events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// Appended to a file.
    File(PathBuf),
    /// Standard error (a foreground command without a terminal UI).
    Stderr,
    /// Nowhere.
    Off,
}

impl LogTarget {
    /// `--log-file` if given; else standard error when `stderr_allowed`; else nowhere.
    pub fn choose(log_file: Option<&Path>, stderr_allowed: bool) -> Self {
        match log_file {
            Some(path) => LogTarget::File(path.to_path_buf()),
            None if stderr_allowed => LogTarget::Stderr,
            None => LogTarget::Off,
        }
    }
}

/// Installs the global subscriber for `target`. Call once.
pub fn init(target: &LogTarget) -> Result<(), LogError> {
    let filter = |default: &str| match std::env::var(FILTER_ENV) {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(directives),
        _ => EnvFilter::try_new(default),
    };
    match target {
        LogTarget::Off => Ok(()),
        LogTarget::Stderr => {
            tracing_subscriber::fmt()
                .with_env_filter(filter("warn")?)
                .with_writer(std::io::stderr)
                .with_target(false)
                .init();
            Ok(())
        }
        LogTarget::File(path) => {
            let file = File::options()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| LogError::Open {
                    path: path.clone(),
                    source,
                })?;
            tracing_subscriber::fmt()
                .with_env_filter(filter("info")?)
                .with_writer(Mutex::new(file))
                .with_ansi(false)
                .init();
            Ok(())
        }
    }
}
