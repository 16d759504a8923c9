//! The command line (the contract is docs/output.md): one clap definition for every
//! subcommand, parsed into plain settings ([`SourceSettings`]) that the lower layers take.
//! Nothing below the binary sees a clap type for the source flags.
//!
//! Each subcommand declares only the flags it reads: the source flags (`--demo`,
//! `--from-file`, `--kubeconfig`, `--context`, `-n`, `-A`, `--request-timeout`,
//! `--cluster-domain`) belong to the terminal UI (no subcommand), `chain`, `route`, `probe` and
//! `forward`; `sandbox`, `completions` and `man` reject them. Contradicting sources are
//! clap conflicts.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::cluster::{Source, SourceSettings};

/// Where does my Service traffic go, and why doesn't it arrive?
///
/// Without a subcommand kubehop opens the terminal UI over the chosen source: the current
/// kubeconfig context (default), `--demo` (the embedded sandbox cluster on loopback), or
/// `--from-file` (a `kubectl get -o yaml|json` dump).
#[derive(Debug, Parser)]
#[command(
    name = "kubehop",
    version,
    about,
    long_about = None,
    propagate_version = true,
    // The source flags here are the terminal UI's; a subcommand takes its own after its name.
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,

    #[command(flatten)]
    pub source: SourceArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Where the log goes (every subcommand).
#[derive(Debug, Clone, Default, Args)]
pub struct LogArgs {
    /// Append a log (tracing events of kubehop, kube-rs and the embedded sandbox) to this
    /// file. The filter is read from KUBEHOP_LOG (e.g. "debug", "kube=debug,info"; default
    /// "info"). Without a log file nothing is logged, except that `kubehop sandbox --verbose`
    /// writes warnings to standard error; the terminal UI never logs to the terminal.
    #[arg(long, global = true, env = "KUBEHOP_LOG_FILE", value_name = "PATH")]
    pub log_file: Option<PathBuf>,
}

/// Where cluster objects come from: the flags of the commands that read a cluster.
#[derive(Debug, Clone, Default, Args)]
pub struct SourceArgs {
    /// Run against the embedded demo cluster (the sandbox, in-process, on 127.0.0.0/8).
    #[arg(long, conflicts_with_all = ["from_file", "kubeconfig", "context"])]
    pub demo: bool,

    /// Read objects from a dump (`kubectl get ... -o yaml|json`, multi-document YAML, or single
    /// objects). Repeatable; `-` reads standard input.
    #[arg(
        long = "from-file",
        short = 'f',
        value_name = "PATH",
        conflicts_with_all = ["kubeconfig", "context"]
    )]
    pub from_file: Vec<PathBuf>,

    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use (default: the current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,

    /// Namespace scope (default: the context's namespace, else "default").
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,

    /// Look at every namespace.
    #[arg(short = 'A', long = "all-namespaces")]
    pub all_namespaces: bool,

    /// Timeout for single API requests, kubectl style: a number of seconds or a duration
    /// ("30", "5s", "1m30s"); 0 = none.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub request_timeout: Option<Duration>,

    /// The cluster's DNS domain, used for the DNS records kubehop shows.
    #[arg(long, default_value = "cluster.local", value_name = "DOMAIN")]
    pub cluster_domain: String,
}

impl SourceArgs {
    /// The plain settings the sources take. Conflicting sources were rejected by clap.
    pub fn settings(&self) -> SourceSettings {
        let source = if self.demo {
            Source::Demo
        } else if !self.from_file.is_empty() {
            Source::Dump(self.from_file.clone())
        } else {
            Source::Live {
                kubeconfig: self.kubeconfig.clone(),
                context: self.context.clone(),
            }
        };
        SourceSettings {
            source,
            namespace: self.namespace.clone(),
            all_namespaces: self.all_namespaces,
            request_timeout: self.request_timeout.filter(|timeout| !timeout.is_zero()),
            cluster_domain: self.cluster_domain.clone(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print each Service's chain of hops and diagnostics; exit 1 if any has an error.
    Chain(ChainArgs),
    /// Ask the engine where a connection to IP:PORT goes, the way kube-proxy decides.
    Route(RouteArgs),
    /// Make real connections along a Service's hops and compare them with the prediction.
    Probe(ProbeArgs),
    /// Port-forward to a Service, load-balanced over its ready pods, surviving pod restarts.
    Forward(ForwardArgs),
    /// Run the embedded Kubernetes-API-compatible cluster on loopback in the foreground.
    Sandbox(SandboxArgs),
    /// Print shell completions (bash, zsh or fish) to standard output.
    Completions(CompletionsArgs),
    /// Print the man page (roff) to standard output, or write one page per command to a folder.
    #[command(hide = true)]
    Man(ManArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
    Yaml,
}

/// `chain -o`: the formats of the other commands plus `wide`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ChainFormat {
    /// A tree per Service, its diagnostics (with copy-ready fixes) and a summary line.
    #[default]
    Text,
    /// A table: one row per Service port (type, front doors, endpoints ready/total, worst
    /// finding).
    Wide,
    Json,
    Yaml,
}

impl ChainFormat {
    /// The output form it is written in: `wide` is text.
    pub fn base(self) -> OutputFormat {
        match self {
            Self::Text | Self::Wide => OutputFormat::Text,
            Self::Json => OutputFormat::Json,
            Self::Yaml => OutputFormat::Yaml,
        }
    }
}

/// `chain --only`: which Services to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnlyHealth {
    /// Services with an error-level finding (health "broken").
    Broken,
}

#[derive(Debug, Args)]
pub struct ChainArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Only this Service (name, or namespace/name).
    pub service: Option<String>,
    /// Output format (`wide`: a table, one row per Service port).
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: ChainFormat,
    /// Print only the Services of this health (`broken`: with an error-level finding), in
    /// every output format; the summary line says how many were left out.
    #[arg(long, value_enum, value_name = "HEALTH")]
    pub only: Option<OnlyHealth>,
    /// Keep watching and reprint when the chain changes (like `kubectl get -w`).
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// Also probe every selected Service with real connections (a live cluster or --demo):
    /// unexpected results become findings, counted in each Service's health and the exit status.
    #[arg(long, conflicts_with = "watch")]
    pub probe: bool,
}

#[derive(Debug, Args)]
pub struct RouteArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Destination: IP:PORT[/tcp|udp|sctp], or a Service's ClusterIP as SERVICE[:PORT],
    /// NAMESPACE/SERVICE[:PORT] or SERVICE.NAMESPACE.svc.cluster.local[:PORT].
    pub destination: String,
    /// Where the connection comes from: pod@NODE, pod/NAMESPACE/NAME (that pod, on its node:
    /// NetworkPolicies are judged for it), node@NODE or external@NODE.
    #[arg(long, value_name = "KIND@NODE|pod/NS/NAME")]
    pub from: Option<String>,
    /// The client's source address (matters for loadBalancerSourceRanges, ClientIP affinity and
    /// NetworkPolicy ipBlocks; a pod's address names that pod).
    #[arg(long, value_name = "IP")]
    pub source_ip: Option<IpAddr>,
    /// For a Gateway address: the request's Host (TLS: the SNI name).
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// For a Gateway address: the request's path, with an optional ?query.
    #[arg(long, value_name = "PATH", default_value = "/")]
    pub path: String,
    /// For a Gateway address: the request's method.
    #[arg(long, value_name = "METHOD", default_value = "GET")]
    pub method: String,
    /// For a Gateway address: a request header (repeatable).
    #[arg(long = "header", value_name = "NAME=VALUE")]
    pub headers: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Via {
    Endpoints,
    Clusterip,
    Nodeport,
    Lb,
    Ingress,
    #[default]
    All,
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// SERVICE[:PORT] (name or namespace/name; PORT is a port name or number).
    pub target: String,
    /// Which hops to probe.
    #[arg(long, value_enum, default_value_t)]
    pub via: Via,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: OutputFormat,
    /// Connect timeout per hop, also the wait for an HTTP answer ("2s", "500ms").
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_timeout)]
    pub timeout: Duration,
    /// Send one HTTP/1.1 GET with this path on every hop, whatever the ports look like
    /// (Ingress rules keep their own Host and path).
    #[arg(long, value_name = "PATH")]
    pub http: Option<String>,
    /// How many hops are probed at once.
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,
}

/// A probe timeout: a positive duration.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration.is_zero() {
        return Err("the timeout must be more than 0".to_owned());
    }
    Ok(duration)
}

/// Every duration flag, the way kubectl reads `--request-timeout`: a bare whole number is
/// seconds ("0", "30"), anything else a Go duration ("500ms", "2s", "1m30s", "1.5h"; units
/// ns, us, µs, ms, s, m, h). Negative durations are refused.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(
            "empty; use a number of seconds or a duration such as 500ms, 2s or 1m30s".to_owned(),
        );
    }
    if let Ok(seconds) = trimmed.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    parse_go_duration(trimmed).map_err(|reason| {
        format!("{reason}; use a number of seconds or a duration such as 500ms, 2s or 1m30s")
    })
}

/// Go's `time.ParseDuration`, without a sign other than `+`.
fn parse_go_duration(text: &str) -> Result<Duration, &'static str> {
    if text.starts_with('-') {
        return Err("must not be negative");
    }
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        if number.is_empty() || number == "." {
            return Err("expected a number");
        }
        let value: f64 = number.parse().map_err(|_| "invalid number")?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let seconds_per_unit = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err("missing unit"),
            _ => return Err("unknown unit"),
        };
        let part =
            Duration::try_from_secs_f64(value * seconds_per_unit).map_err(|_| "out of range")?;
        total = total.checked_add(part).ok_or("out of range")?;
        rest = after;
    }
    Ok(total)
}

#[derive(Debug, Args)]
pub struct ForwardArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The Service (name or namespace/name).
    pub service: String,
    /// [LOCAL_PORT:]PORT, one or more.
    #[arg(required = true)]
    pub ports: Vec<String>,
    /// Local addresses to listen on (default 127.0.0.1).
    #[arg(long, value_delimiter = ',')]
    pub address: Vec<IpAddr>,
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Scenario files (plain Kubernetes YAML); default: the built-in scenario.
    #[arg(long, value_name = "FILE")]
    pub scenario: Vec<PathBuf>,
    /// Replay a dump (`kubectl get ... -o yaml|json`): objects keep their status, pods their
    /// IPs, and the controllers adopt what the dump shows. Repeatable; `-` reads standard
    /// input.
    #[arg(
        long = "from-file",
        short = 'f',
        value_name = "PATH",
        conflicts_with = "scenario"
    )]
    pub from_file: Vec<PathBuf>,
    /// Serve a generated cluster (for benchmarks): `envelope` (10,000 Services, 150,000 pods,
    /// 5,000 nodes), `default` (10,000 / 50,000 / 500) or `SERVICES,PODS,NODES[,NAMESPACES]`.
    #[arg(long, value_name = "SIZE", conflicts_with_all = ["scenario", "from_file"], value_parser = parse_synthetic)]
    pub synthetic: Option<crate::engine::synthetic::SyntheticSpec>,
    /// Address for the API server (default 127.0.0.1 on a free port).
    #[arg(long, value_name = "127.0.0.1:PORT")]
    pub listen: Option<std::net::SocketAddr>,
    /// Where to write the kubeconfig (default: a file in the system temp folder).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig_out: Option<PathBuf>,
    /// Serve the API and controllers only: no pod, ClusterIP, NodePort or LB listeners.
    #[arg(long)]
    pub api_only: bool,
    /// Install the Gateway API CRDs (generated from kubehop's types) before the scenario
    /// loads; the built-in scenario always has them.
    #[arg(long)]
    pub gateway_api: bool,
    /// Print the Gateway API CRDs the sandbox installs (YAML, for `kubectl apply -f -`) and
    /// exit.
    #[arg(long)]
    pub print_gateway_api_crds: bool,
    /// Seed for generated names and uids (the same seed and scenario give the same cluster).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub seed: u64,
    /// How long a started pod takes to become ready ("0", "500ms", "2s").
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub ready_delay: Option<Duration>,
    /// The longest a deleted pod stays terminating ("0" deletes at once).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub grace_period: Option<Duration>,
    /// Second octet of the loopback block to use (127.B.*.* to 127.B+3.*.*; default: the first
    /// free one from 32).
    #[arg(long, value_name = "B")]
    pub address_block: Option<u8>,
    /// Fault: every watch stream ends after N events.
    #[arg(long, value_name = "N")]
    pub fault_cut_watches: Option<usize>,
    /// Fault: the next watch (of RESOURCE, e.g. pods, or of anything) gets 410 Gone.
    #[arg(long, value_name = "RESOURCE", num_args = 0..=1, default_missing_value = "*")]
    pub fault_expire_watch: Option<String>,
    /// Fault: 403 Forbidden for get/list/watch of RESOURCE (plural, e.g. endpointslices).
    /// Repeatable.
    #[arg(long, value_name = "RESOURCE")]
    pub fault_forbid: Vec<String>,
    /// Fault: delay every API response ("250ms").
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub fault_latency: Option<Duration>,
    /// Fault: port-forwards fail with MESSAGE on their error channel.
    #[arg(long, value_name = "MESSAGE")]
    pub fault_portforward: Option<String>,
    /// Fault: once the pods run, freeze a cluster DNS pod's records as they are (later
    /// changes do not reach it, so it answers stale records). POD is NAMESPACE/NAME or a
    /// kube-system pod's name; without a value, the first DNS pod. Repeatable.
    #[arg(long, value_name = "POD", num_args = 0..=1, default_missing_value = "*")]
    pub fault_freeze_dns: Vec<String>,
    /// Fault: NODE's kube-proxy unhealthy (NotReady, /healthz answers 503, the node's
    /// NodePorts stop answering). Repeatable.
    #[arg(long, value_name = "NODE")]
    pub fault_node_proxy_down: Vec<String>,
    /// Fault: forwarding cut between two nodes, "NODE,NODE" (a connection entering one for a
    /// pod on the other is reset). Repeatable.
    #[arg(long, value_name = "NODE,NODE")]
    pub fault_cut_nodes: Vec<String>,
    /// Listen as an unprivileged user would, even as root: no listener below port 1024 (what a
    /// normal user's sandbox shows).
    #[arg(long)]
    pub unprivileged: bool,
    /// Keep printing notes (and warnings) to the terminal after startup. By default only the
    /// startup output is printed; later notes go to the log file (--log-file), so that a
    /// terminal UI started in the same terminal is not painted over.
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// `kubehop completions SHELL`.
#[derive(Debug, Args)]
#[command(after_help = "Install:
  bash: kubehop completions bash > ~/.local/share/bash-completion/completions/kubehop
  zsh:  kubehop completions zsh > \"${fpath[1]}/_kubehop\"
  fish: kubehop completions fish > ~/.config/fish/completions/kubehop.fish")]
pub struct CompletionsArgs {
    /// The shell to complete for.
    pub shell: Shell,
}

/// `kubehop man [--out-dir DIR]`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write kubehop.1 and one page per subcommand (kubehop-chain.1, ...) into DIR instead of
    /// printing kubehop.1.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// The name kubectl shows for its plugin: `kubectl hop` runs the binary `kubectl-hop`.
pub const KUBECTL_PLUGIN_NAME: &str = "kubectl hop";

/// Parses the command line. When started as the kubectl plugin (the binary is named
/// `kubectl-hop`, so `kubectl hop ...` runs it), help and errors say `kubectl hop`.
pub fn parse() -> Cli {
    use clap::{CommandFactory, FromArgMatches};

    let mut command = Cli::command();
    if started_as_kubectl_plugin(std::env::args_os().next()) {
        command = command.bin_name(KUBECTL_PLUGIN_NAME);
    }
    let matches = command.get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit())
}

/// The name messages start with: `kubectl hop` when started as the kubectl plugin, else
/// `kubehop` (`kubectl hop: no Service ...`, as kubectl's own errors name the command).
pub fn program_name() -> &'static str {
    static NAME: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        if started_as_kubectl_plugin(std::env::args_os().next()) {
            KUBECTL_PLUGIN_NAME
        } else {
            "kubehop"
        }
    })
}

/// Whether `argv0` names the kubectl plugin binary (`kubectl-hop`, `kubectl-hop.exe`).
fn started_as_kubectl_plugin(argv0: Option<std::ffi::OsString>) -> bool {
    argv0
        .as_deref()
        .map(std::path::Path::new)
        .and_then(std::path::Path::file_stem)
        .is_some_and(|stem| stem == "kubectl-hop")
}

/// Writes the completion script for `shell` (for the command `kubehop`).
pub fn write_completions(shell: Shell, out: &mut dyn std::io::Write) {
    use clap::CommandFactory;

    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(shell, &mut Cli::command(), "kubehop", out);
}

/// Writes the man page `kubehop(1)` (roff), generated from the clap definitions.
pub fn write_man_page(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use clap::CommandFactory;

    clap_mangen::Man::new(Cli::command()).render(out)
}

/// Writes `kubehop.1` and one page per subcommand (`kubehop-chain.1`, ...) into `dir`;
/// returns the files written.
pub fn write_man_pages(dir: &std::path::Path) -> std::io::Result<Vec<PathBuf>> {
    use clap::CommandFactory;

    std::fs::create_dir_all(dir)?;
    let mut command = Cli::command().disable_help_subcommand(true);
    // Propagates the global flag (--log-file) into every subcommand and names them for
    // display ("kubehop-chain").
    command.build();
    let mut written = vec![clap_mangen::Man::new(command.clone()).generate_to(dir)?];
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        written.push(clap_mangen::Man::new(sub.clone()).generate_to(dir)?);
    }
    Ok(written)
}

/// `kubehop completions SHELL`: the script on standard output.
pub fn completions(args: &CompletionsArgs) -> std::process::ExitCode {
    let mut out = std::io::stdout().lock();
    write_completions(args.shell, &mut out);
    std::process::ExitCode::SUCCESS
}

/// `kubehop man [--out-dir DIR]`.
pub fn man(args: &ManArgs) -> std::process::ExitCode {
    let result = match &args.out_dir {
        None => write_man_page(&mut std::io::stdout().lock()),
        Some(dir) => write_man_pages(dir).map(|files| {
            for file in files {
                println!("{}", file.display());
            }
        }),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{}: cannot write the man page: {error}", program_name());
            std::process::ExitCode::from(2)
        }
    }
}

/// `--synthetic SIZE`: a named size or `SERVICES,PODS,NODES[,NAMESPACES]`.
fn parse_synthetic(value: &str) -> Result<crate::engine::synthetic::SyntheticSpec, String> {
    use crate::engine::synthetic::SyntheticSpec;
    match value {
        "envelope" => return Ok(SyntheticSpec::ENVELOPE),
        "default" => return Ok(SyntheticSpec::default()),
        _ => {}
    }
    let numbers: Vec<usize> = value
        .split(',')
        .map(|part| part.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            format!("expected envelope, default or SERVICES,PODS,NODES[,NAMESPACES], got {value:?}")
        })?;
    match numbers.as_slice() {
        [services, pods, nodes] => Ok(SyntheticSpec {
            services: *services,
            pods: *pods,
            nodes: *nodes,
            ..SyntheticSpec::default()
        }),
        [services, pods, nodes, namespaces] => Ok(SyntheticSpec {
            services: *services,
            pods: *pods,
            nodes: *nodes,
            namespaces: *namespaces,
        }),
        _ => Err(format!(
            "expected SERVICES,PODS,NODES[,NAMESPACES], got {value:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use rstest::rstest;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_plugin_binary_is_recognised_by_its_name() {
        let plugin = |argv0: &str| started_as_kubectl_plugin(Some(argv0.into()));
        assert!(plugin("/usr/local/bin/kubectl-hop"));
        assert!(plugin("kubectl-hop.exe"));
        assert!(!plugin("/usr/local/bin/kubehop"));
        assert!(!started_as_kubectl_plugin(None));
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("kubehop").chain(args.iter().copied()))
    }

    /// The source settings of a command line (the TUI's, or a source subcommand's).
    fn settings(args: &[&str]) -> SourceSettings {
        let cli = parse(args).expect("a valid command line");
        match &cli.command {
            None => cli.source.settings(),
            Some(Command::Chain(args)) => args.source.settings(),
            Some(Command::Route(args)) => args.source.settings(),
            Some(Command::Probe(args)) => args.source.settings(),
            Some(Command::Forward(args)) => args.source.settings(),
            Some(other) => panic!("{other:?} reads no source"),
        }
    }

    fn live(kubeconfig: Option<&str>, context: Option<&str>) -> Source {
        Source::Live {
            kubeconfig: kubeconfig.map(PathBuf::from),
            context: context.map(str::to_owned),
        }
    }

    #[rstest]
    #[case::default(&[], live(None, None))]
    #[case::context(&["--context", "kind"], live(None, Some("kind")))]
    #[case::kubeconfig_and_context(&["chain", "--kubeconfig", "k", "--context", "c"], live(Some("k"), Some("c")))]
    #[case::demo(&["--demo"], Source::Demo)]
    #[case::chain_demo(&["chain", "--demo"], Source::Demo)]
    #[case::dump(&["-f", "a.yaml", "--from-file", "-"], Source::Dump(vec!["a.yaml".into(), "-".into()]))]
    #[case::probe_dump(&["probe", "web", "-f", "a.yaml"], Source::Dump(vec!["a.yaml".into()]))]
    #[case::forward_demo(&["forward", "web", "80", "--demo"], Source::Demo)]
    #[case::route_dump(&["route", "10.0.0.1:80", "-f", "d.yaml"], Source::Dump(vec!["d.yaml".into()]))]
    fn chooses_one_source(#[case] args: &[&str], #[case] expected: Source) {
        assert_eq!(settings(args).source, expected);
    }

    #[test]
    fn settings_carry_scope_timeout_and_domain() {
        let got = settings(&[
            "chain",
            "-n",
            "shop",
            "-A",
            "--request-timeout",
            "1m30s",
            "--cluster-domain",
            "corp.example",
        ]);
        assert_eq!(
            got,
            SourceSettings {
                source: live(None, None),
                namespace: Some("shop".into()),
                all_namespaces: true,
                request_timeout: Some(Duration::from_secs(90)),
                cluster_domain: "corp.example".into(),
            }
        );
        assert_eq!(got.scope_namespace(), None, "-A wins over -n");
        assert_eq!(settings(&["chain"]), SourceSettings::default());
        // 0 = no limit, as in kubectl.
        assert_eq!(settings(&["--request-timeout", "0"]).request_timeout, None);
        assert_eq!(
            settings(&["--request-timeout", "5"]).request_timeout,
            Some(Duration::from_secs(5))
        );
    }

    #[rstest]
    #[case::demo_and_dump(&["chain", "--demo", "-f", "x.yaml"], "'--demo' cannot be used with '--from-file <PATH>'")]
    #[case::demo_and_kubeconfig(&["chain", "--demo", "--kubeconfig", "x"], "'--demo' cannot be used with '--kubeconfig <FILE>'")]
    #[case::demo_and_context(&["--demo", "--context", "x"], "'--demo' cannot be used with '--context <NAME>'")]
    #[case::dump_and_context(&["route", "1.2.3.4:80", "-f", "a.yaml", "--context", "x"], "'--from-file <PATH>' cannot be used with '--context <NAME>'")]
    #[case::sandbox_dump_and_scenario(&["sandbox", "-f", "x", "--scenario", "y"], "'--from-file <PATH>' cannot be used with '--scenario <FILE>'")]
    #[case::sandbox_demo(&["sandbox", "--demo"], "unexpected argument '--demo'")]
    #[case::sandbox_namespace(&["sandbox", "-n", "shop"], "unexpected argument '-n'")]
    #[case::sandbox_all(&["sandbox", "-A"], "unexpected argument '-A'")]
    #[case::sandbox_context(&["sandbox", "--context", "x"], "unexpected argument '--context'")]
    #[case::sandbox_kubeconfig(&["sandbox", "--kubeconfig", "x"], "unexpected argument '--kubeconfig'")]
    #[case::completions_demo(&["completions", "bash", "--demo"], "unexpected argument '--demo'")]
    #[case::tui_flags_before_a_subcommand(&["--demo", "chain"], "the subcommand 'chain' cannot be used with '--demo'")]
    #[case::bad_timeout(&["chain", "--request-timeout", "5 parsecs"], "invalid value '5 parsecs' for '--request-timeout <DURATION>'")]
    #[case::bad_sandbox_duration(&["sandbox", "--ready-delay", "soon"], "invalid value 'soon' for '--ready-delay <DURATION>'")]
    #[case::zero_probe_timeout(&["probe", "web", "--timeout", "0"], "the timeout must be more than 0")]
    fn contradictions_and_foreign_flags_are_errors(#[case] args: &[&str], #[case] message: &str) {
        let error = parse(args).expect_err("rejected");
        let text = error.to_string();
        assert!(text.contains(message), "{args:?}: {text}");
        assert_eq!(error.exit_code(), 2, "{args:?}");
    }

    #[rstest]
    #[case("0", Duration::ZERO)]
    #[case("0s", Duration::ZERO)]
    #[case("30", Duration::from_secs(30))]
    #[case("500ms", Duration::from_millis(500))]
    #[case("2s", Duration::from_secs(2))]
    #[case("1m", Duration::from_secs(60))]
    #[case("1m30s", Duration::from_secs(90))]
    #[case("1h2m3s", Duration::from_secs(3723))]
    #[case("1.5h", Duration::from_secs(5400))]
    #[case("10us", Duration::from_micros(10))]
    #[case("10µs", Duration::from_micros(10))]
    #[case("7ns", Duration::from_nanos(7))]
    #[case("+3s", Duration::from_secs(3))]
    #[case(" 250ms ", Duration::from_millis(250))]
    fn durations_parse_like_kubectl(#[case] text: &str, #[case] expected: Duration) {
        assert_eq!(parse_duration(text), Ok(expected));
    }

    #[rstest]
    #[case("", "empty")]
    #[case("soon", "expected a number")]
    #[case("5x", "unknown unit")]
    #[case("3d", "unknown unit")]
    #[case("1.5", "missing unit")]
    #[case("1h30", "missing unit")]
    #[case("-1s", "must not be negative")]
    #[case("s", "expected a number")]
    #[case("1..2s", "invalid number")]
    fn bad_durations_say_why(#[case] text: &str, #[case] reason: &str) {
        let error = parse_duration(text).expect_err("invalid");
        assert!(error.starts_with(reason), "{text:?}: {error}");
        assert!(error.contains("1m30s"), "{text:?}: {error}");
    }

    /// The long flags a subcommand's `--help` lists.
    fn long_flags(name: &str) -> Vec<String> {
        let mut command = Cli::command();
        command.build();
        let sub = command
            .find_subcommand(name)
            .unwrap_or_else(|| panic!("no subcommand {name}"));
        sub.get_arguments()
            .filter(|arg| !arg.is_hide_set())
            .filter_map(|arg| arg.get_long().map(str::to_owned))
            .collect()
    }

    #[test]
    fn sandbox_help_lists_only_sandbox_flags() {
        let flags = long_flags("sandbox");
        for foreign in [
            "demo",
            "kubeconfig",
            "context",
            "namespace",
            "all-namespaces",
            "request-timeout",
            "cluster-domain",
        ] {
            assert!(!flags.iter().any(|flag| flag == foreign), "{flags:?}");
        }
        for own in [
            "scenario",
            "from-file",
            "listen",
            "ready-delay",
            "fault-latency",
            "log-file",
        ] {
            assert!(flags.iter().any(|flag| flag == own), "{flags:?}");
        }
        for source_command in ["chain", "route", "probe", "forward"] {
            let flags = long_flags(source_command);
            for flag in [
                "demo",
                "from-file",
                "kubeconfig",
                "context",
                "all-namespaces",
            ] {
                assert!(
                    flags.iter().any(|f| f == flag),
                    "{source_command}: {flags:?}"
                );
            }
        }
    }
}
