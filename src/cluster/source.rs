//! Which source a run reads its cluster from, decided once from the source flags.

use std::path::PathBuf;

use crate::cli::SourceArgs;

/// Where cluster objects come from. Dumps load once ([`crate::cluster::dump::load_paths`]);
/// the live and demo sources publish snapshots over time and are wired up by their own
/// modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `--from-file PATH...` (`-` is standard input).
    Dump(Vec<PathBuf>),
    /// `--demo`: the embedded sandbox cluster on loopback.
    Demo,
    /// The kubeconfig (default): `--kubeconfig`, `--context`.
    Live {
        kubeconfig: Option<PathBuf>,
        context: Option<String>,
    },
}

/// Source flags that contradict each other.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("{first} and {second} name two different sources: use one")]
    Conflict {
        first: &'static str,
        second: &'static str,
    },
}

impl Source {
    /// `--demo`, `--from-file` and `--kubeconfig`/`--context` exclude each other; without any
    /// of them the current kubeconfig context is used.
    pub fn from_args(args: &SourceArgs) -> Result<Self, SourceError> {
        let live_flag = if args.kubeconfig.is_some() {
            Some("--kubeconfig")
        } else if args.context.is_some() {
            Some("--context")
        } else {
            None
        };
        let dump = !args.from_file.is_empty();
        match (args.demo, dump, live_flag) {
            (true, true, _) => Err(SourceError::Conflict {
                first: "--demo",
                second: "--from-file",
            }),
            (true, false, Some(flag)) => Err(SourceError::Conflict {
                first: "--demo",
                second: flag,
            }),
            (false, true, Some(flag)) => Err(SourceError::Conflict {
                first: "--from-file",
                second: flag,
            }),
            (true, false, None) => Ok(Source::Demo),
            (false, true, None) => Ok(Source::Dump(args.from_file.clone())),
            (false, false, _) => Ok(Source::Live {
                kubeconfig: args.kubeconfig.clone(),
                context: args.context.clone(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use rstest::rstest;

    fn source(args: &[&str]) -> Result<Source, SourceError> {
        let cli =
            crate::cli::Cli::try_parse_from(std::iter::once("kubehop").chain(args.iter().copied()))
                .expect("valid command line");
        Source::from_args(&cli.source)
    }

    #[rstest]
    #[case::default(&[], Ok(Source::Live { kubeconfig: None, context: None }))]
    #[case::context(&["--context", "kind"], Ok(Source::Live { kubeconfig: None, context: Some("kind".into()) }))]
    #[case::demo(&["--demo"], Ok(Source::Demo))]
    #[case::dump(&["-f", "a.yaml", "--from-file", "-"], Ok(Source::Dump(vec!["a.yaml".into(), "-".into()])))]
    #[case::demo_and_dump(&["--demo", "-f", "a.yaml"], Err(SourceError::Conflict { first: "--demo", second: "--from-file" }))]
    #[case::dump_and_context(&["-f", "a.yaml", "--context", "x"], Err(SourceError::Conflict { first: "--from-file", second: "--context" }))]
    #[case::demo_and_kubeconfig(&["--demo", "--kubeconfig", "k"], Err(SourceError::Conflict { first: "--demo", second: "--kubeconfig" }))]
    fn chooses_one_source(#[case] args: &[&str], #[case] expected: Result<Source, SourceError>) {
        assert_eq!(source(args), expected);
    }
}
