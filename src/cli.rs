//! The command line: one clap definition shared by every subcommand (the contract is docs/output.md).

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Where does my Service traffic go, and why doesn't it arrive?
///
/// Without a subcommand kubehop opens the terminal UI over the chosen source: the current
/// kubeconfig context (default), `--demo` (the embedded sandbox cluster on loopback), or
/// `--from-file` (a `kubectl get -o yaml|json` dump).
#[derive(Debug, Parser)]
#[command(name = "kubehop", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub source: SourceArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Where cluster objects come from. The same flags work on every subcommand.
#[derive(Debug, Clone, Default, Args)]
pub struct SourceArgs {
    /// Run against the embedded demo cluster (the sandbox, in-process, on 127.0.0.0/8).
    #[arg(long, global = true)]
    pub demo: bool,

    /// Read objects from a dump (`kubectl get ... -o yaml|json`, multi-document YAML, or single
    /// objects). Repeatable; `-` reads standard input.
    #[arg(long = "from-file", short = 'f', global = true, value_name = "PATH")]
    pub from_file: Vec<PathBuf>,

    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use (default: the current context).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,

    /// Namespace scope (default: the context's namespace, else "default").
    #[arg(short = 'n', long, global = true, value_name = "NS")]
    pub namespace: Option<String>,

    /// Look at every namespace.
    #[arg(short = 'A', long = "all-namespaces", global = true)]
    pub all_namespaces: bool,

    /// Timeout for single API requests, kubectl style ("0" = none, "5s", "1m").
    #[arg(long, global = true, value_name = "DURATION")]
    pub request_timeout: Option<String>,

    /// The cluster's DNS domain, used for the DNS records kubehop shows.
    #[arg(
        long,
        global = true,
        default_value = "cluster.local",
        value_name = "DOMAIN"
    )]
    pub cluster_domain: String,
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

#[derive(Debug, Args)]
pub struct ChainArgs {
    /// Only this Service (name, or namespace/name).
    pub service: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: OutputFormat,
    /// Keep watching and reprint when the chain changes (like `kubectl get -w`).
    #[arg(short = 'w', long)]
    pub watch: bool,
}

#[derive(Debug, Args)]
pub struct RouteArgs {
    /// Destination, IP:PORT[/tcp|udp|sctp].
    pub destination: String,
    /// Where the connection comes from: pod@NODE, node@NODE or external@NODE.
    #[arg(long, value_name = "KIND@NODE")]
    pub from: Option<String>,
    /// The client's source address (matters for loadBalancerSourceRanges and ClientIP affinity).
    #[arg(long, value_name = "IP")]
    pub source_ip: Option<IpAddr>,
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
    pub timeout: std::time::Duration,
    /// Send one HTTP/1.1 GET with this path on every hop, whatever the ports look like
    /// (Ingress rules keep their own Host and path).
    #[arg(long, value_name = "PATH")]
    pub http: Option<String>,
    /// How many hops are probed at once.
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,
}

/// A probe timeout: a positive duration.
fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    let duration = crate::cmd::sandbox::parse_duration(text)?;
    if duration.is_zero() {
        return Err("the timeout must be more than 0".to_owned());
    }
    Ok(duration)
}

#[derive(Debug, Args)]
pub struct ForwardArgs {
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
    /// Address for the API server (default 127.0.0.1 on a free port).
    #[arg(long, value_name = "127.0.0.1:PORT")]
    pub listen: Option<std::net::SocketAddr>,
    /// Where to write the kubeconfig (default: a file in the system temp folder).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig_out: Option<PathBuf>,
    /// Serve the API and controllers only: no pod, ClusterIP, NodePort or LB listeners.
    #[arg(long)]
    pub api_only: bool,
    /// Seed for generated names and uids (the same seed and scenario give the same cluster).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub seed: u64,
    /// How long a started pod takes to become ready ("0", "500ms", "2s").
    #[arg(long, value_name = "DURATION")]
    pub ready_delay: Option<String>,
    /// The longest a deleted pod stays terminating ("0" deletes at once).
    #[arg(long, value_name = "DURATION")]
    pub grace_period: Option<String>,
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
    #[arg(long, value_name = "DURATION")]
    pub fault_latency: Option<String>,
    /// Fault: port-forwards fail with MESSAGE on their error channel.
    #[arg(long, value_name = "MESSAGE")]
    pub fault_portforward: Option<String>,
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
    // Propagates the global flags (--demo, --kubeconfig, ...) into every subcommand and names
    // them for display ("kubehop-chain").
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
            eprintln!("kubehop: cannot write the man page: {error}");
            std::process::ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

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
}
