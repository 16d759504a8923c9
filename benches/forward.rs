//! `kubehop forward svc/web` against `kubectl port-forward svc/web` on the same sandbox Service,
//! with a direct connection to a pod listener as the floor, all in one run (loopback only). Run
//! with `cargo bench --bench forward`.
//!
//! The sandbox (API server, controllers, pod listeners) runs in this process; the forwards are
//! real processes: this build's binary (`kubehop forward web 0:8080 --kubeconfig ...`, each
//! forwarded connection a `pods/portforward` WebSocket through the sandbox's API server), and
//! kubectl (`kubectl port-forward svc/web :8080`, one SPDY session tunnelled in a WebSocket, a
//! pair of streams per connection; and the same over plain SPDY,
//! `KUBECTL_PORT_FORWARD_WEBSOCKETS=false`). kubectl is found like the tests find it
//! (`KUBEHOP_KUBECTL`, else PATH); without one its rows are left out. `KUBEHOP_FORWARD_BEFORE`
//! may name another kubehop binary (an earlier build) to measure beside this one.
//!
//! - throughput: one long connection, [`BULK`] bytes echoed back by the pod (non-HTTP bytes
//!   are echoed), writing and reading at once; MB/s each way;
//! - connections per second: [`SEQUENTIAL`] HTTP requests, one new connection each, one after
//!   the other; and [`PARALLEL`] clients doing [`PER_CLIENT`] each at once.
//!
//! Every measurement is taken [`ROUNDS`] times, the paths alternating within a round (each
//! round starts with the next path) so that load from elsewhere on the machine falls on all of
//! them alike; the table gives medians and ranges, and the ratios kubehop / kubectl.
//!
//! Next to the figures, the CPU time the forward process spent per MB echoed and per new
//! connection (sequential and parallel together): on a real cluster the API server and the kubelet run elsewhere and only that share is spent on the
//! client's machine.

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::bin::find_kubectl;
use support::forward::*;
use support::sandbox::{is_ready, start_cluster};

/// The allocator of the kubehop binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BIN: &str = env!("CARGO_BIN_EXE_kubehop");
/// Bytes per throughput measurement (`FORWARD_BENCH_MIB` overrides, for a quick check).
const BULK: usize = 256 * 1024 * 1024;
/// Rounds (`FORWARD_BENCH_ROUNDS` overrides).
const ROUNDS: usize = 5;
const SEQUENTIAL: usize = 400;
const PARALLEL: usize = 8;
/// Connections per parallel client.
const PER_CLIENT: usize = 100;

/// A positive number from environment variable `name`, else `default`.
fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .filter(|value| *value > 0)
        .unwrap_or(default)
}

fn bulk() -> usize {
    setting("FORWARD_BENCH_MIB", BULK >> 20) << 20
}

fn rounds() -> usize {
    setting("FORWARD_BENCH_ROUNDS", ROUNDS)
}

/// A forward process; killed when the bench ends (by its own handle).
struct Forwarder(Child);

impl Drop for Forwarder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One way to reach the pods, and what was measured through it.
struct Route {
    label: String,
    addr: SocketAddr,
    /// The forward process (`None`: the direct connection).
    process: Option<Forwarder>,
    throughput: Vec<f64>,
    /// The forward process's CPU per MB echoed, in ms.
    cpu_per_mb: Vec<f64>,
    /// The forward process's CPU per new connection (sequential and parallel), in ms.
    cpu_per_connection: Vec<f64>,
    sequential: Vec<f64>,
    parallel: Vec<f64>,
}

impl Route {
    fn new(label: &str, addr: SocketAddr, process: Option<Forwarder>) -> Route {
        Route {
            label: label.to_owned(),
            addr,
            process,
            throughput: Vec::new(),
            cpu_per_mb: Vec::new(),
            cpu_per_connection: Vec::new(),
            sequential: Vec::new(),
            parallel: Vec::new(),
        }
    }

    fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|process| process.0.id())
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench());
}

async fn bench() {
    let (sandbox, _client) = start_cluster(web(3, json!({})), Duration::ZERO).await;
    let kubeconfig = sandbox.kubeconfig_path().display().to_string();
    let mut paths = vec![Route::new("direct to the pod", direct(&sandbox), None)];
    let this = spawn_forward(kubehop(BIN, &kubeconfig)).await;
    paths.push(Route::new("kubehop forward", this.0, Some(this.1)));
    if let Some(before) = std::env::var_os("KUBEHOP_FORWARD_BEFORE") {
        let before = before.to_string_lossy().into_owned();
        let forward = spawn_forward(kubehop(&before, &kubeconfig)).await;
        paths.push(Route::new("kubehop (before)", forward.0, Some(forward.1)));
    }
    let cache = std::env::temp_dir().join(format!("kubehop-bench-forward-{}", std::process::id()));
    match find_kubectl() {
        Some(kubectl) => {
            for (label, websockets) in [("kubectl port-forward", true), ("kubectl (SPDY)", false)] {
                let command = kubectl_forward(&kubectl, &kubeconfig, &cache, websockets);
                let forward = spawn_forward(command).await;
                paths.push(Route::new(label, forward.0, Some(forward.1)));
            }
        }
        None => println!("SKIP kubectl: none found (set KUBEHOP_KUBECTL)"),
    }
    // Warm every path up (and check they answer).
    for path in &paths {
        for _ in 0..20 {
            assert!(
                matches!(get(path.addr).await, Answer::Pod(_)),
                "{} answers",
                path.label
            );
        }
    }
    println!(
        "kubehop forward vs kubectl port-forward, sandbox Service shop/web (3 pods), loopback; load average {}",
        load_average()
    );
    for round in 0..rounds() {
        measure_round(&mut paths, round).await;
    }
    report(&paths);
    println!("load average at the end {}", load_average());
    drop(paths);
    let _ = std::fs::remove_dir_all(&cache);
    sandbox.shutdown().await;
}

/// The address of a ready pod's listener.
fn direct(sandbox: &kubehop::sandbox::SandboxHandle) -> SocketAddr {
    let pods = pods_of(sandbox.store(), "web");
    let pod_ip = pods
        .iter()
        .find(|pod| is_ready(pod))
        .and_then(|pod| pod.status.as_ref()?.pod_ip.clone())
        .expect("a ready pod");
    let direct: SocketAddr = format!("{pod_ip}:{PORT}").parse().expect("pod address");
    assert!(direct.ip().is_loopback(), "loopback only: {direct}");
    direct
}

fn kubehop(binary: &str, kubeconfig: &str) -> Command {
    let mut command = Command::new(binary);
    command
        .args(forward_web_args(&format!("0:{PORT}"), kubeconfig))
        .env_remove("KUBECONFIG");
    command
}

fn kubectl_forward(kubectl: &Path, kubeconfig: &str, cache: &Path, websockets: bool) -> Command {
    let mut command = Command::new(kubectl);
    command
        .arg("--cache-dir")
        .arg(cache)
        .args(["port-forward", "svc/web", &format!(":{PORT}"), "-n"])
        .args([
            NAMESPACE,
            "--address",
            "127.0.0.1",
            "--kubeconfig",
            kubeconfig,
        ])
        .env_remove("KUBECONFIG")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy");
    if !websockets {
        command.env("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false");
    }
    command
}

/// Starts a forward; returns the address of its "Forwarding from ADDR -> ..." line (kubectl's
/// format, which kubehop shares). Its later output (kubectl's "Handling connection" lines) is
/// read and dropped so that the process never blocks on a full pipe.
async fn spawn_forward(mut command: Command) -> (SocketAddr, Forwarder) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the forward starts");
    let stdout = child.stdout.take().expect("stdout");
    let forwarder = Forwarder(child);
    let first = tokio::task::spawn_blocking(move || {
        let mut lines = std::io::BufReader::new(stdout);
        let mut line = String::new();
        lines.read_line(&mut line).map(|_| {
            std::thread::spawn(move || {
                let mut rest = String::new();
                while lines.read_line(&mut rest).is_ok_and(|count| count > 0) {
                    rest.clear();
                }
            });
            line
        })
    })
    .await
    .expect("reader")
    .expect("a Forwarding line");
    let local: SocketAddr = first
        .trim()
        .strip_prefix("Forwarding from ")
        .and_then(|rest| rest.split_once(" -> "))
        .map(|(from, _)| from.parse().expect("address"))
        .unwrap_or_else(|| panic!("not kubectl's line: {first:?}"));
    assert!(local.ip().is_loopback(), "loopback only: {local}");
    (local, forwarder)
}

/// One round: each measurement through every path, starting with path number `round`.
async fn measure_round(paths: &mut [Route], round: usize) {
    let count = paths.len();
    let order: Vec<usize> = (0..count).map(|at| (round + at) % count).collect();
    for &at in &order {
        let path = &mut paths[at];
        let before = path.pid().map(cpu_time).unwrap_or_default();
        let rate = echo_throughput(path.addr, bulk()).await;
        let spent = path.pid().map(cpu_time).unwrap_or_default() - before;
        path.throughput.push(rate);
        path.cpu_per_mb
            .push(spent.as_secs_f64() * 1e3 / (bulk() as f64 / 1e6));
    }
    let mut spent = vec![Duration::ZERO; count];
    for &at in &order {
        let before = paths[at].pid().map(cpu_time).unwrap_or_default();
        let rate = sequential_rate(paths[at].addr, SEQUENTIAL).await;
        spent[at] += paths[at].pid().map(cpu_time).unwrap_or_default() - before;
        paths[at].sequential.push(rate);
    }
    for &at in &order {
        let before = paths[at].pid().map(cpu_time).unwrap_or_default();
        let rate = parallel_rate(paths[at].addr, PARALLEL, PER_CLIENT).await;
        spent[at] += paths[at].pid().map(cpu_time).unwrap_or_default() - before;
        paths[at].parallel.push(rate);
    }
    let connections = (SEQUENTIAL + PARALLEL * PER_CLIENT) as f64;
    for (path, spent) in paths.iter_mut().zip(spent) {
        path.cpu_per_connection
            .push(spent.as_secs_f64() * 1e3 / connections);
    }
}

fn report(paths: &[Route]) {
    println!(
        "{} rounds, median (min–max); throughput: {} MiB echoed on one connection, MB/s each way",
        rounds(),
        bulk() >> 20
    );
    for path in paths {
        let (cpu, per_connection) = if path.process.is_some() {
            (
                format!("{:.2} ms CPU/MB in the forward", median(&path.cpu_per_mb)),
                format!(
                    " · {:.3} ms CPU per connection in the forward",
                    median(&path.cpu_per_connection)
                ),
            )
        } else {
            (String::new(), String::new())
        };
        println!(
            "{:<21} throughput {} MB/s ({cpu}) · sequential {} connections/s · {PARALLEL} parallel clients {} connections/s{per_connection}",
            path.label,
            spread(&path.throughput),
            spread(&path.sequential),
            spread(&path.parallel),
        );
    }
    let find = |label: &str| paths.iter().find(|path| path.label == label);
    let Some(kubehop) = find("kubehop forward") else {
        return;
    };
    for peer in ["kubectl port-forward", "kubectl (SPDY)", "kubehop (before)"] {
        let Some(peer) = find(peer) else { continue };
        println!(
            "kubehop forward / {:<20} throughput {:.2}x · sequential {:.2}x · parallel {:.2}x (medians; target ≥ 1.0x against kubectl)",
            peer.label,
            median(&kubehop.throughput) / median(&peer.throughput),
            median(&kubehop.sequential) / median(&peer.sequential),
            median(&kubehop.parallel) / median(&peer.parallel),
        );
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        len if len % 2 == 1 => sorted[len / 2],
        len => (sorted[len / 2 - 1] + sorted[len / 2]) / 2.0,
    }
}

/// "median (min–max)".
fn spread(values: &[f64]) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(0.0, f64::max);
    format!("{:>6.0} ({min:.0}–{max:.0})", median(values))
}

/// The 1, 5 and 15 minute load averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Time on a CPU of all threads of process `pid` so far (`/proc/PID/task/*/schedstat`, in
/// nanoseconds); zero where that is not available.
fn cpu_time(pid: u32) -> Duration {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Duration::ZERO;
    };
    let nanos: u64 = tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|text| text.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}

/// MB/s of `total` bytes sent and echoed back on one connection.
async fn echo_throughput(addr: SocketAddr, total: usize) -> f64 {
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (mut reader, mut writer) = stream.into_split();
    let started = Instant::now();
    let write = tokio::spawn(async move {
        // Not HTTP: the pod echoes it.
        let chunk = vec![0u8; 64 * 1024];
        let mut sent = 0;
        while sent < total {
            let size = chunk.len().min(total - sent);
            writer.write_all(&chunk[..size]).await.expect("write");
            sent += size;
        }
        writer
    });
    let mut buffer = vec![0u8; 256 * 1024];
    let mut received = 0;
    while received < total {
        let count = reader.read(&mut buffer).await.expect("read");
        assert!(count > 0, "the echo ended after {received} bytes");
        received += count;
    }
    let elapsed = started.elapsed();
    drop(write.await.expect("writer"));
    total as f64 / 1e6 / elapsed.as_secs_f64()
}

/// New connections per second, one HTTP request each, one after the other.
async fn sequential_rate(addr: SocketAddr, count: usize) -> f64 {
    let started = Instant::now();
    for _ in 0..count {
        match get(addr).await {
            Answer::Pod(_) => {}
            other => panic!("{addr}: {other:?}"),
        }
    }
    count as f64 / started.elapsed().as_secs_f64()
}

/// New connections per second with `clients` clients at once.
async fn parallel_rate(addr: SocketAddr, clients: usize, each: usize) -> f64 {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        tasks.spawn(async move {
            for _ in 0..each {
                match get(addr).await {
                    Answer::Pod(_) => {}
                    other => panic!("{addr}: {other:?}"),
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a client");
    }
    (clients * each) as f64 / started.elapsed().as_secs_f64()
}
