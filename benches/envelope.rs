//! The scalability envelope, measured in one run against one server (a benchmark binary, not a
//! criterion suite): `kubehop sandbox --api-only --synthetic SIZE` (the release binary) serves
//! the synthetic cluster, then
//!
//! - `kubehop chain -A -o json` and `kubectl get svc,endpointslices,pods,nodes -A -o json`:
//!   wall time and peak RSS (GNU time), one after the other;
//! - the TUI in a child process of this binary: the live source, the app's update loop with
//!   its incremental catalog builder, each frame rendered into a 200×60 buffer (no terminal):
//!   time to the first complete frame and its RSS;
//! - then, in the same child, churn: 100 pod label updates a second (a pod leaves its
//!   Service's selector, later comes back) written through the API for `--churn-seconds`;
//!   per update, the time from sending it to the first rendered frame whose catalog shows it
//!   (p50/p99), split at the moment a watch of the writer's own sees the update (the server's
//!   delivery, then the TUI's pipeline); CPU time per second of churn of the TUI (the child
//!   without its writer thread), of the writer, and of the sandbox.
//!
//! Run (after `cargo build --release --bins`):
//! `cargo bench --bench envelope -- [envelope|default|S,P,N[,NS]]... [--churn-seconds N]`
//! (default: `default envelope`). kubectl from PATH or `KUBEHOP_KUBECTL`; the kubehop binary
//! from `KUBEHOP_BIN` or `target/release/kubehop`. Every address is loopback.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kubehop::app::{
    AppEvent, AppState, CatalogBuilder, Command as AppCommand, Size, SourceKind, update,
};
use kubehop::cluster::client::{ClusterTarget, Scope};
use kubehop::cluster::feed::ConnectionStatus;
use kubehop::cluster::live::{LiveOptions, LiveSource};
use kubehop::engine::EngineConfig;
use kubehop::engine::model::ServiceKey;
use kubehop::ui::theme::Theme;
use kubehop::ui::view::View;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Updates written and not yet seen in a frame, by (service, pod).
type Pending = Arc<std::sync::Mutex<HashMap<(ServiceKey, String), Sent>>>;

/// When an update was sent, when the API server answered it, when a watch of the writer's own
/// saw it, and whether the pod is selected once it lands.
#[derive(Debug, Clone, Copy)]
struct Sent {
    at: Instant,
    answered: Option<Instant>,
    delivered: Option<Instant>,
    selected: bool,
}

const TUI_ROLE: &str = "KUBEHOP_ENVELOPE_TUI";
/// The sandbox's process id, for its CPU time under churn.
const SERVER_PID: &str = "KUBEHOP_ENVELOPE_SERVER_PID";
const UPDATES_PER_SECOND: u64 = 100;

fn main() {
    if let Ok(kubeconfig) = std::env::var(TUI_ROLE) {
        let seconds: u64 = std::env::var("KUBEHOP_ENVELOPE_CHURN")
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(30);
        tui_child(Path::new(&kubeconfig), seconds);
        return;
    }
    let mut sizes = Vec::new();
    let mut churn = 30_u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--churn-seconds" => churn = args.next().and_then(|v| v.parse().ok()).unwrap_or(churn),
            "--bench" => {}
            size => sizes.push(size.to_owned()),
        }
    }
    if sizes.is_empty() {
        sizes = vec!["default".to_owned(), "envelope".to_owned()];
    }
    println!("load average at start: {}", load_average());
    for size in sizes {
        measure(&size, churn);
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn kubehop_bin() -> PathBuf {
    std::env::var_os("KUBEHOP_BIN")
        .map_or_else(|| PathBuf::from("target/release/kubehop"), PathBuf::from)
}

/// The sandbox serving `size`, once its banner is out (the cluster is loaded).
fn start_sandbox(size: &str, kubeconfig: &Path) -> (std::process::Child, Duration) {
    use std::io::BufRead;
    let started = Instant::now();
    let mut child = Command::new(kubehop_bin())
        .args([
            "sandbox",
            "--api-only",
            "--synthetic",
            size,
            "--kubeconfig-out",
        ])
        .arg(kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubehop sandbox runs (build it: cargo build --release --bins)");
    let stdout = child.stdout.take().expect("stdout");
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.expect("banner");
        if line.starts_with("Ctrl-C stops") {
            break;
        }
    }
    (child, started.elapsed())
}

/// Wall time, peak RSS (MiB) and standard output of one command, under GNU time.
fn timed(
    program: &Path,
    args: &[&str],
    kubeconfig: &Path,
) -> (Duration, Option<f64>, Vec<u8>, bool) {
    let rss_file =
        std::env::temp_dir().join(format!("kubehop-envelope-rss-{}", std::process::id()));
    let started = Instant::now();
    let output = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss_file)
        .arg(program)
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .stderr(Stdio::null())
        .output()
        .expect("/usr/bin/time runs");
    let wall = started.elapsed();
    let rss = std::fs::read_to_string(&rss_file)
        .ok()
        .and_then(|text| text.trim().lines().last()?.trim().parse::<f64>().ok())
        .map(|kib| kib / 1024.0);
    std::fs::remove_file(&rss_file).ok();
    let ok = output.status.code().is_some_and(|code| code <= 1);
    (wall, rss, output.stdout, ok)
}

fn count(stdout: &[u8], field: &str) -> usize {
    serde_json::from_slice::<serde_json::Value>(stdout)
        .ok()
        .and_then(|document| document[field].as_array().map(Vec::len))
        .unwrap_or(0)
}

fn mib(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), |mib| format!("{mib:.0} MiB"))
}

fn measure(size: &str, churn: u64) {
    let scratch = std::env::temp_dir().join(format!("kubehop-envelope-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let kubeconfig = scratch.join("kubeconfig");
    let (mut server, loaded) = start_sandbox(size, &kubeconfig);
    println!(
        "\n==== --synthetic {size}: sandbox loaded in {loaded:.1?}; load {} ====",
        load_average()
    );

    let (wall, rss, stdout, ok) =
        timed(&kubehop_bin(), &["chain", "-A", "-o", "json"], &kubeconfig);
    let chain_wall = wall;
    println!(
        "kubehop chain -A -o json: {wall:.2?}, peak RSS {} ({} Services, ok {ok})",
        mib(rss),
        count(&stdout, "services")
    );
    drop(stdout);
    let kubectl =
        std::env::var_os("KUBEHOP_KUBECTL").map_or_else(|| PathBuf::from("kubectl"), PathBuf::from);
    let cache = scratch.join("kubectl-cache");
    let cache_arg = cache.display().to_string();
    let args = [
        "get",
        "svc,endpointslices,pods,nodes",
        "-A",
        "-o",
        "json",
        "--cache-dir",
        &cache_arg,
    ];
    let (wall, rss, stdout, ok) = timed(&kubectl, &args, &kubeconfig);
    let kubectl_wall = wall;
    println!(
        "kubectl get svc,endpointslices,pods,nodes -A -o json: {wall:.2?}, peak RSS {} ({} items, ok {ok})",
        mib(rss),
        count(&stdout, "items")
    );
    drop(stdout);
    println!("load average: {}", load_average());

    let exe = std::env::current_exe().expect("this binary");
    let status = Command::new(exe)
        .env(TUI_ROLE, &kubeconfig)
        .env("KUBEHOP_ENVELOPE_CHURN", churn.to_string())
        .env(SERVER_PID, server.id().to_string())
        .status()
        .expect("the TUI child runs");
    println!(
        "(TUI child exit: {status}); first frame vs kubectl: see above; chain/kubectl time {:.3}x",
        chain_wall.as_secs_f64() / kubectl_wall.as_secs_f64()
    );
    server.kill().ok();
    server.wait().ok();
    std::fs::remove_dir_all(&scratch).ok();
}

/// This process's (resident, peak resident) memory in MiB.
fn memory() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|value| value.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU time (user + system) of this process so far.
fn cpu_time() -> Duration {
    cpu_time_of("/proc/self/stat")
}

/// CPU time (user + system) so far of the process or thread whose `stat` file is `path`.
fn cpu_time_of(path: &str) -> Duration {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime is the 14th field.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |at: usize| {
        fields
            .get(at)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // `rest` starts at field 3 (the state): utime is field 14, stime 15 (clock ticks of 10 ms).
    let ticks = field(11) + field(12);
    Duration::from_millis(ticks * 10)
}

/// `p50 …, p99 …` of sorted durations.
fn spread(sorted: &[Duration]) -> String {
    format!(
        "p50 {:.1?}, p99 {:.1?}",
        percentile(sorted, 0.5),
        percentile(sorted, 0.99)
    )
}

/// [`spread`] and the largest.
fn spread_and_max(sorted: &[Duration]) -> String {
    format!(
        "{}, max {:.1?}",
        spread(sorted),
        sorted.last().copied().unwrap_or_default()
    )
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let at = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn tui_child(kubeconfig: &Path, churn_seconds: u64) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(tui_run(kubeconfig, churn_seconds));
}

/// The app's state machine with frames drawn into a buffer.
struct Screen {
    state: AppState,
    builder: CatalogBuilder,
    terminal: Terminal<TestBackend>,
    theme: Theme,
}

impl Screen {
    fn new(label: kubehop::cluster::feed::SourceLabel) -> Self {
        let mut state = AppState::new(
            label,
            SourceKind::Live,
            EngineConfig::default(),
            Size {
                width: 200,
                height: 60,
            },
        );
        update(&mut state, AppEvent::Status(ConnectionStatus::Connected));
        Self {
            state,
            builder: CatalogBuilder::new(&EngineConfig::default()),
            terminal: Terminal::new(TestBackend::new(200, 60)).expect("a test terminal"),
            theme: Theme::colored(),
        }
    }

    /// A snapshot in, its catalog built (as the app's blocking task does) and a frame drawn.
    fn snapshot(&mut self, snapshot: Arc<kubehop::cluster::ClusterSnapshot>) {
        let mut pending = update(&mut self.state, AppEvent::Snapshot(snapshot));
        while let Some(command) = pending.pop() {
            if let AppCommand::BuildModel {
                snapshot,
                generation,
            } = command
            {
                let catalog = Arc::new(self.builder.build(snapshot, generation));
                pending.extend(update(
                    &mut self.state,
                    AppEvent::ModelBuilt {
                        catalog,
                        at: Instant::now(),
                    },
                ));
            }
        }
        let (state, theme) = (&self.state, &self.theme);
        self.terminal
            .draw(|frame| {
                let view = View::from_state(state, theme, Instant::now());
                kubehop::ui::render(frame, &view);
            })
            .expect("draws");
    }

    /// Whether the shown catalog has `pod` among the selected pods of `service`.
    fn selects(&self, service: &ServiceKey, pod: &str) -> Option<bool> {
        let catalog = self.state.live.as_ref()?;
        let (_, chain) = catalog.service(service)?;
        Some(
            chain
                .details
                .selected_pods
                .iter()
                .any(|selected| selected.name.as_deref() == Some(pod)),
        )
    }
}

async fn tui_run(kubeconfig: &Path, churn_seconds: u64) {
    let started = Instant::now();
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(kubeconfig).expect("the sandbox's kubeconfig"),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .expect("a configuration");
    let target = ClusterTarget::new(config.clone(), "kubehop-sandbox", Scope::All);
    let mut source = LiveSource::start(&target, LiveOptions::default()).expect("starts");
    let first = source.first_snapshot().await.expect("a first snapshot");
    let feed = source.into_feed();
    let mut screen = Screen::new(feed.label.clone());
    let services = first.services.len();
    screen.snapshot(first);
    let first_frame = started.elapsed();
    let (rss, peak) = memory();
    println!(
        "TUI (live source, incremental catalog, 200x60 frame): first complete frame {first_frame:.2?} ({services} Services); RSS {rss:.0} MiB, peak {peak:.0} MiB"
    );
    churn(screen, feed.snapshots, config, churn_seconds).await;
}

/// Which pods the churn moves: replica 0 of the first ClusterIP Services.
fn churn_targets(
    snapshot: &kubehop::cluster::ClusterSnapshot,
    how_many: usize,
) -> Vec<(ServiceKey, String)> {
    snapshot
        .services
        .iter()
        .filter(|service| {
            service.spec.as_ref().and_then(|spec| spec.type_.as_deref()) == Some("ClusterIP")
        })
        .filter(|service| {
            service
                .spec
                .as_ref()
                .and_then(|spec| spec.cluster_ip.as_deref())
                != Some("None")
        })
        .filter_map(|service| {
            let namespace = service.metadata.namespace.clone()?;
            let name = service.metadata.name.clone()?;
            let pod = format!("{name}-000");
            snapshot
                .pods
                .iter()
                .any(|p| {
                    p.name.as_deref() == Some(pod.as_str())
                        && p.namespace.as_deref() == Some(namespace.as_str())
                })
                .then_some((ServiceKey { namespace, name }, pod))
        })
        .take(how_many)
        .collect()
}

async fn churn(
    mut screen: Screen,
    mut snapshots: tokio::sync::watch::Receiver<Arc<kubehop::cluster::ClusterSnapshot>>,
    config: kube::Config,
    seconds: u64,
) {
    let current = snapshots.borrow_and_update().clone();
    let targets = churn_targets(&current, 500);
    drop(current);
    // (service, pod) → (sent at, whether the pod is selected once the update lands).
    let pending: Pending = Arc::default();
    let stop = Arc::new(tokio::sync::Notify::new());
    let (written_tx, written_rx) = std::sync::mpsc::channel();
    // The writing client runs on a thread and runtime of its own, so that its CPU time is
    // told apart from the TUI's.
    let writer = {
        let (pending, stop) = (pending.clone(), stop.clone());
        std::thread::Builder::new()
            .name("churn-writer".to_owned())
            .spawn(move || writer_thread(config, targets, pending, seconds, stop, written_tx))
            .expect("a writer thread")
    };
    let server_stat = std::env::var(SERVER_PID)
        .ok()
        .map(|pid| format!("/proc/{pid}/stat"));
    let server_cpu = || server_stat.as_deref().map(cpu_time_of);
    let cpu_before = cpu_time();
    let server_before = server_cpu();
    let churn_started = Instant::now();
    let mut latencies: Vec<Duration> = Vec::new();
    let mut after_answer: Vec<Duration> = Vec::new();
    let mut answer_to_watch: Vec<Duration> = Vec::new();
    let mut watch_to_frame: Vec<Duration> = Vec::new();
    // Per snapshot: its update and frame; and the time between two snapshots.
    let mut frames: Vec<Duration> = Vec::new();
    let mut gaps: Vec<Duration> = Vec::new();
    let mut last_arrival: Option<Instant> = None;
    // Once the updates are written: how many, the process's and the writer thread's CPU time,
    // the server's, and the wall time; the figures stop there.
    let mut writing: Option<(usize, Duration, Duration, Option<Duration>, Duration)> = None;
    let give_up = churn_started + Duration::from_secs(seconds * 3 + 30);
    while Instant::now() < give_up {
        if writing.is_none()
            && let Ok((written, writer_cpu)) = written_rx.try_recv()
        {
            writing = Some((
                written,
                cpu_time().saturating_sub(cpu_before),
                writer_cpu,
                server_cpu()
                    .zip(server_before)
                    .map(|(a, b)| a.saturating_sub(b)),
                churn_started.elapsed(),
            ));
        }
        if let Some((.., wall)) = writing
            && (pending.lock().expect("lock").is_empty()
                || churn_started.elapsed() > wall + Duration::from_secs(5))
        {
            break;
        }
        let changed = tokio::time::timeout(Duration::from_millis(200), snapshots.changed()).await;
        if !matches!(changed, Ok(Ok(()))) {
            continue;
        }
        let snapshot = snapshots.borrow_and_update().clone();
        let arrived = Instant::now();
        if let Some(last) = last_arrival.replace(arrived) {
            gaps.push(arrived.duration_since(last));
        }
        screen.snapshot(snapshot);
        let now = Instant::now();
        frames.push(now.duration_since(arrived));
        let mut waiting = pending.lock().expect("lock");
        waiting.retain(|(service, pod), sent| {
            if screen.selects(service, pod) == Some(sent.selected) {
                latencies.push(now.duration_since(sent.at));
                if let Some(answered) = sent.answered {
                    after_answer.push(now.saturating_duration_since(answered));
                    if let Some(delivered) = sent.delivered {
                        answer_to_watch.push(delivered.saturating_duration_since(answered));
                    }
                }
                if let Some(delivered) = sent.delivered {
                    watch_to_frame.push(now.saturating_duration_since(delivered));
                }
                false
            } else {
                true
            }
        });
    }
    stop.notify_one();
    writer.join().ok();
    let (written, cpu, writer_cpu, server, wall) = writing.unwrap_or((
        0,
        cpu_time().saturating_sub(cpu_before),
        Duration::ZERO,
        None,
        churn_started.elapsed(),
    ));
    for list in [
        &mut latencies,
        &mut after_answer,
        &mut answer_to_watch,
        &mut watch_to_frame,
        &mut frames,
        &mut gaps,
    ] {
        list.sort();
    }
    let share = |cpu: Duration| cpu.as_secs_f64() * 100.0 / wall.as_secs_f64();
    let (rss, peak) = memory();
    println!(
        "churn: {written} pod updates written in {wall:.1?} ({:.0}/s; target {UPDATES_PER_SECOND}/s for {seconds} s); {} seen in a frame; update sent → frame {}; API answer → frame {}; unseen {}",
        written as f64 / wall.as_secs_f64(),
        latencies.len(),
        spread_and_max(&latencies),
        spread(&after_answer),
        pending.lock().expect("lock").len(),
    );
    println!(
        "  where the time goes: API answer → the writer's own watch sees it {}; that watch → frame {}",
        spread(&answer_to_watch),
        spread(&watch_to_frame),
    );
    println!(
        "  {} snapshots: update and frame {}; between two snapshots {}",
        frames.len(),
        spread_and_max(&frames),
        spread_and_max(&gaps),
    );
    println!(
        "  CPU while writing, % of one core: TUI (this process without the writer) {:.1} %; writing client and its watch {:.1} %; sandbox API server {}; RSS {rss:.0} MiB, peak {peak:.0} MiB",
        share(cpu.saturating_sub(writer_cpu)),
        share(writer_cpu),
        server.map_or_else(|| "n/a".to_owned(), |cpu| format!("{:.1} %", share(cpu))),
    );
}

/// The writing client's thread: writes the churn and watches pods to see when each update is
/// delivered; sends how many were written and this thread's CPU time, then waits for `stop`.
fn writer_thread(
    config: kube::Config,
    targets: Vec<(ServiceKey, String)>,
    pending: Pending,
    seconds: u64,
    stop: Arc<tokio::sync::Notify>,
    written: std::sync::mpsc::Sender<(usize, Duration)>,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let before = cpu_time_of("/proc/thread-self/stat");
    runtime.block_on(async move {
        let client = kube::Client::try_from(config).expect("a client");
        let watch = tokio::spawn(watch_delivery(client.clone(), pending.clone()));
        let count = write_churn(client, targets, pending, seconds).await;
        let cpu = cpu_time_of("/proc/thread-self/stat").saturating_sub(before);
        written.send((count, cpu)).ok();
        stop.notified().await;
        watch.abort();
    });
}

/// Watches every pod from now on and notes when each pending update is delivered (the
/// server's share of the latency, apart from the TUI's).
async fn watch_delivery(client: kube::Client, pending: Pending) {
    use futures::StreamExt;
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, ListParams, WatchEvent, WatchParams};
    let api: Api<Pod> = Api::all(client);
    let Ok(list) = api.list_metadata(&ListParams::default().limit(1)).await else {
        return;
    };
    let Some(mut version) = list.metadata.resource_version else {
        return;
    };
    loop {
        let Ok(stream) = api
            .watch(&WatchParams::default().timeout(290), &version)
            .await
        else {
            return;
        };
        let mut stream = std::pin::pin!(stream);
        while let Some(Ok(event)) = stream.next().await {
            let pod = match event {
                WatchEvent::Added(pod) | WatchEvent::Modified(pod) => pod,
                WatchEvent::Bookmark(bookmark) => {
                    version = bookmark.metadata.resource_version;
                    continue;
                }
                WatchEvent::Deleted(_) | WatchEvent::Error(_) => continue,
            };
            let now = Instant::now();
            let metadata = &pod.metadata;
            if let Some(rv) = &metadata.resource_version {
                version.clone_from(rv);
            }
            let (Some(namespace), Some(name)) = (&metadata.namespace, &metadata.name) else {
                continue;
            };
            let Some(service) = name.strip_suffix("-000") else {
                continue;
            };
            let selected = metadata
                .labels
                .as_ref()
                .and_then(|labels| labels.get("app"))
                .is_some_and(|app| app != "moved-away");
            let key = (
                ServiceKey {
                    namespace: namespace.clone(),
                    name: service.to_owned(),
                },
                name.clone(),
            );
            if let Some(sent) = pending.lock().expect("lock").get_mut(&key)
                && sent.selected == selected
                && sent.delivered.is_none()
            {
                sent.delivered = Some(now);
            }
        }
    }
}

/// Writes `UPDATES_PER_SECOND` label updates a second (each in its own task, so a slow answer
/// does not hold the next one back): each moves a target pod out of its Service's selector, or
/// back the next time round. Returns how many were written.
async fn write_churn(
    client: kube::Client,
    targets: Vec<(ServiceKey, String)>,
    pending: Pending,
    seconds: u64,
) -> usize {
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / UPDATES_PER_SECOND));
    let total = usize::try_from(seconds * UPDATES_PER_SECOND).unwrap_or(0);
    let mut moved_out: HashMap<String, bool> = HashMap::new();
    let mut writes = Vec::with_capacity(total);
    for step in 0..total {
        ticker.tick().await;
        let Some((service, pod)) = targets.get(step % targets.len().max(1)).cloned() else {
            break;
        };
        let out = !moved_out.get(&pod).copied().unwrap_or(false);
        moved_out.insert(pod.clone(), out);
        writes.push(tokio::spawn(write_one(
            client.clone(),
            service,
            pod,
            out,
            pending.clone(),
        )));
    }
    let mut written = 0;
    for write in writes {
        if write.await.unwrap_or(false) {
            written += 1;
        }
    }
    written
}

async fn write_one(
    client: kube::Client,
    service: ServiceKey,
    pod: String,
    out: bool,
    pending: Pending,
) -> bool {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, Patch, PatchParams};
    let app = if out {
        "moved-away".to_owned()
    } else {
        format!("app-{}", service.name.trim_start_matches("svc-"))
    };
    let patch = serde_json::json!({"metadata": {"labels": {"app": app}}});
    let api: Api<Pod> = Api::namespaced(client, &service.namespace);
    let key = (service, pod);
    let sent = Sent {
        at: Instant::now(),
        answered: None,
        delivered: None,
        selected: !out,
    };
    pending.lock().expect("lock").insert(key.clone(), sent);
    let written = api
        .patch(&key.1, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .is_ok();
    let mut pending = pending.lock().expect("lock");
    if !written {
        pending.remove(&key);
    } else if let Some(entry) = pending.get_mut(&key)
        && entry.at == sent.at
    {
        entry.answered = Some(Instant::now());
    }
    written
}
