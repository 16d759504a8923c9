//! `kubehop forward` against the sandbox, next to a direct connection to a pod listener in the
//! same run (loopback only). Run with `cargo bench --bench forward`.
//!
//! The sandbox (API server, controllers, pod listeners) runs in this process; the forward is
//! the real binary (`kubehop forward web 0:8080 --kubeconfig ...`), so each forwarded
//! connection is a `pods/portforward` WebSocket through the sandbox's API server.
//!
//! - throughput: one long connection, [`BULK`] bytes echoed back by the pod (non-HTTP bytes
//!   are echoed), writing and reading at once; best of [`ROUNDS`];
//! - connections per second: [`SEQUENTIAL`] HTTP requests, one new connection each, one after
//!   the other; and [`PARALLEL`] clients doing the same at once.
//!
//! The figures are read as a ratio against the direct connection (docs/performance.md).
//!
//! Next to each throughput the CPU time it took (all threads of this process, which runs the
//! client, the API server and the pods, plus the forward process), per MB echoed, and the
//! forward process's share of it: on a machine with few cores that, not latency, is what
//! bounds a forward; on a real cluster the API server and the kubelet run elsewhere and only
//! kubehop's share is spent on the client's machine.

#[path = "../tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::forward::*;
use support::sandbox::{is_ready, start_cluster};

/// The allocator of the kubehop binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BIN: &str = env!("CARGO_BIN_EXE_kubehop");
/// Bytes per throughput round.
const BULK: usize = 128 * 1024 * 1024;
const ROUNDS: usize = 3;
const SEQUENTIAL: usize = 400;
const PARALLEL: usize = 8;
/// Connections per parallel client.
const PER_CLIENT: usize = 100;

/// The forward process; killed when the bench ends (by its own handle).
struct Forwarder(Child);

impl Drop for Forwarder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
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
    let pods = pods_of(sandbox.store(), "web");
    let pod_ip = pods
        .iter()
        .find(|pod| is_ready(pod))
        .and_then(|pod| pod.status.as_ref()?.pod_ip.clone())
        .expect("a ready pod");
    let direct: SocketAddr = format!("{pod_ip}:{PORT}").parse().expect("pod address");
    assert!(direct.ip().is_loopback(), "loopback only: {direct}");

    let port = format!("0:{PORT}");
    let mut child = Command::new(BIN)
        .args(forward_web_args(&port, &kubeconfig))
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubehop forward starts");
    let stdout = child.stdout.take().expect("stdout");
    let forwarder = Forwarder(child);
    let forward_pid = forwarder.0.id();
    let first = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .map(|_| line)
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
    // Warm both paths up (and check they answer).
    for addr in [direct, local] {
        for _ in 0..20 {
            assert!(matches!(get(addr).await, Answer::Pod(_)), "{addr} answers");
        }
    }

    println!("kubehop forward vs a direct connection to the pod (sandbox, loopback)");
    let mut throughput = Vec::new();
    for (label, addr) in [("direct to pod", direct), ("kubehop forward", local)] {
        let mut best = 0f64;
        let (own_before, forward_before) = (cpu_time(std::process::id()), cpu_time(forward_pid));
        for _ in 0..ROUNDS {
            best = best.max(echo_throughput(addr, BULK).await);
        }
        let forward_cpu = cpu_time(forward_pid) - forward_before;
        let cpu = cpu_time(std::process::id()) - own_before + forward_cpu;
        let per_mb = |cpu: Duration| cpu.as_secs_f64() * 1e3 / (ROUNDS * BULK) as f64 * 1e6;
        let (cpu_per_mb, forward_per_mb) = (per_mb(cpu), per_mb(forward_cpu));
        let sequential = sequential_rate(addr, SEQUENTIAL).await;
        let parallel = parallel_rate(addr, PARALLEL, PER_CLIENT).await;
        println!(
            "{label:<16} throughput {best:>8.1} MB/s ({cpu_per_mb:.2} ms CPU/MB, {forward_per_mb:.2} in kubehop) · sequential {sequential:>7.0} connections/s · {PARALLEL} parallel clients {parallel:>7.0} connections/s"
        );
        throughput.push(best);
    }
    if let [direct, forward] = throughput.as_slice() {
        println!(
            "forward throughput = {:.0}% of direct (target ≥ 50%)",
            forward / direct * 100.0
        );
    }
    drop(forwarder);
    sandbox.shutdown().await;
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
