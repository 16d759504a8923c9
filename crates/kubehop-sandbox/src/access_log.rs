//! Each sandbox pod's own log: the access log of its app, what `kubectl logs` shows.
//!
//! Sandbox pods run no processes, so the only output they truthfully have is what their
//! listeners did ([`dataplane::pods`](crate::dataplane::pods), [`dataplane::udp`](crate::dataplane::udp)):
//! - an HTTP request: one line like a web server's access log,
//!   `CLIENT - - [06/Dec/2026:10:30:19 +0000] "GET /path HTTP/1.1" 200 95 "-" "curl/8.5.0"`
//!   (status, body bytes sent, referer, user agent);
//! - a TCP connection that is not HTTP (echoed), or that closed before sending anything (a
//!   TCP probe): one line when it ends,
//!   `CLIENT - - [TIME] "TCP 127.1.0.2:6379" echoed 12 bytes in 0.004s`;
//! - a UDP flow (a client's first datagram after [`FLOW_IDLE`](crate::dataplane::udp::FLOW_IDLE)
//!   of silence): `CLIENT - - [TIME] "UDP 127.1.0.2:53" flow started`.
//!
//! Lines belong to the container that declares the port (its `containerPort`), else to the
//! pod's first container. Bytes a client sent that are not printable are written `\xHH`.
//!
//! Bounded like a kubelet's log rotation: each container keeps its newest [`MAX_LINES`] lines
//! and at most [`MAX_BYTES`] bytes; older lines are dropped. A pod's log goes away with the pod.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use tokio::sync::watch;

use crate::resources::ResourceId;
use crate::store::Store;

/// Lines kept per container.
pub const MAX_LINES: usize = 1000;
/// Bytes of log text kept per container.
pub const MAX_BYTES: usize = 256 * 1024;

/// The transport a line is about (which port table finds its container).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Tcp,
    Udp,
}

/// One log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Its position in the container's log (counts every line ever written, dropped ones too).
    pub seq: u64,
    pub at: Timestamp,
    pub text: String,
}

/// One container's bounded log.
#[derive(Debug, Default)]
pub struct Ring {
    lines: VecDeque<LogLine>,
    bytes: usize,
    next: u64,
}

impl Ring {
    /// Appends a line, dropping the oldest ones beyond the bounds.
    pub fn push(&mut self, at: Timestamp, text: String) {
        self.bytes += text.len() + 1;
        self.lines.push_back(LogLine {
            seq: self.next,
            at,
            text,
        });
        self.next += 1;
        while self.lines.len() > MAX_LINES || (self.bytes > MAX_BYTES && self.lines.len() > 1) {
            if let Some(old) = self.lines.pop_front() {
                self.bytes -= old.text.len() + 1;
            }
        }
    }

    /// The lines from sequence number `from` on.
    pub fn from(&self, from: u64) -> impl Iterator<Item = &LogLine> {
        self.lines.iter().filter(move |l| l.seq >= from)
    }

    /// The sequence number the next line gets.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// One pod's logs, a ring per container; followers wait on [`PodLog::subscribe`].
#[derive(Debug)]
pub struct PodLog {
    containers: Mutex<HashMap<String, Ring>>,
    written: watch::Sender<u64>,
}

impl Default for PodLog {
    fn default() -> Self {
        PodLog {
            containers: Mutex::new(HashMap::new()),
            written: watch::channel(0).0,
        }
    }
}

impl PodLog {
    fn rings(&self) -> MutexGuard<'_, HashMap<String, Ring>> {
        self.containers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub fn push(&self, container: &str, at: Timestamp, text: String) {
        self.rings()
            .entry(container.to_string())
            .or_default()
            .push(at, text);
        self.written.send_modify(|n| *n += 1);
    }

    /// Reads `container`'s ring (empty when nothing was written).
    pub fn read<T>(&self, container: &str, f: impl FnOnce(&Ring) -> T) -> T {
        let rings = self.rings();
        match rings.get(container) {
            Some(ring) => f(ring),
            None => f(&Ring::default()),
        }
    }

    /// Changes whenever a line is written to any container.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.written.subscribe()
    }
}

#[derive(Debug, Default)]
struct PodEntry {
    namespace: String,
    name: String,
    log: Arc<PodLog>,
    /// (transport, port) -> the container declaring it.
    ports: HashMap<(Transport, u16), String>,
    /// The first container (where undeclared ports log).
    first: String,
}

impl PodEntry {
    fn of(pod: &Pod) -> Self {
        let mut entry = PodEntry {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            name: pod.metadata.name.clone().unwrap_or_default(),
            ..PodEntry::default()
        };
        learn(&mut entry, pod);
        entry
    }
}

/// Which pod a listener serves (enough to find it in the store).
#[derive(Debug, Clone, Copy)]
pub struct PodKey<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
}

/// Every pod's log, by pod uid, made when a pod first serves or is first asked for (a pod
/// nobody talks to costs nothing). Cheap to clone; clones share the logs.
#[derive(Debug, Clone)]
pub struct AccessLogs {
    store: Store,
    pods: Arc<Mutex<HashMap<String, PodEntry>>>,
}

impl AccessLogs {
    /// Logs for the pods of `store`.
    pub fn new(store: Store) -> Self {
        AccessLogs {
            store,
            pods: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, PodEntry>> {
        self.pods.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The log of `pod` (made empty if there is none yet).
    pub fn pod(&self, pod: &Pod) -> Arc<PodLog> {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        self.lock()
            .entry(uid)
            .or_insert_with(|| PodEntry::of(pod))
            .log
            .clone()
    }

    /// Forgets the logs of pods that are gone from the store.
    pub fn prune(&self) {
        let mut entries = self.lock();
        if entries.is_empty() {
            return;
        }
        entries.retain(|uid, entry| {
            self.store
                .get_object(ResourceId::Pods, &entry.namespace, &entry.name)
                .is_some_and(|object| object.uid() == uid)
        });
    }

    /// Writes a line to the log of the container of `pod` serving `port`.
    pub fn record(&self, pod: PodKey<'_>, transport: Transport, port: u16, text: String) {
        let known = self.lock().contains_key(pod.uid);
        let stored = if known {
            None
        } else {
            // The first line of this pod: learn its containers from the store.
            self.store
                .get_object(ResourceId::Pods, pod.namespace, pod.name)
                .filter(|object| object.uid() == pod.uid)
                .and_then(|object| object.decode::<Pod>().ok())
        };
        let (log, container) = {
            let mut entries = self.lock();
            let entry = entries
                .entry(pod.uid.to_string())
                .or_insert_with(|| match &stored {
                    Some(pod) => PodEntry::of(pod),
                    None => PodEntry {
                        namespace: pod.namespace.to_string(),
                        name: pod.name.to_string(),
                        ..PodEntry::default()
                    },
                });
            let container = entry
                .ports
                .get(&(transport, port))
                .unwrap_or(&entry.first)
                .clone();
            (entry.log.clone(), container)
        };
        log.push(&container, Timestamp::now(), text);
    }
}

fn learn(entry: &mut PodEntry, pod: &Pod) {
    let Some(spec) = pod.spec.as_ref() else {
        return;
    };
    let containers = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    for container in containers {
        for port in container.ports.iter().flatten() {
            let transport = match port.protocol.as_deref() {
                Some("UDP") => Transport::Udp,
                Some("SCTP") => continue,
                _ => Transport::Tcp,
            };
            if let Ok(number) = u16::try_from(port.container_port) {
                entry
                    .ports
                    .entry((transport, number))
                    .or_insert_with(|| container.name.clone());
            }
        }
    }
    if let Some(first) = spec.containers.first() {
        entry.first = first.name.clone();
    }
}

/// `[06/Dec/2026:10:30:19 +0000]`, the access log's time.
fn clf_time(at: Timestamp) -> String {
    at.strftime("[%d/%b/%Y:%H:%M:%S +0000]").to_string()
}

/// Client-sent text for a log line: printable ASCII as is, everything else `\xHH`, and `"`
/// as `\"` (as web servers escape their access logs).
pub fn escape(text: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for &byte in text {
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(byte as char),
            _ => out.push_str(&format!("\\x{byte:02X}")),
        }
    }
    out
}

/// What an HTTP request line says, for [`http_line`].
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    pub method: &'a str,
    pub target: &'a str,
    pub version: &'a str,
    pub referer: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// An HTTP request's access-log line.
pub fn http_line(
    client: SocketAddr,
    request: &HttpRequest<'_>,
    status: u16,
    bytes: usize,
) -> String {
    let quoted = |value: Option<&str>| value.map_or("-".to_string(), |v| escape(v.as_bytes()));
    format!(
        "{} - - {} \"{} {} {}\" {status} {bytes} \"{}\" \"{}\"",
        client.ip(),
        clf_time(Timestamp::now()),
        escape(request.method.as_bytes()),
        escape(request.target.as_bytes()),
        escape(request.version.as_bytes()),
        quoted(request.referer),
        quoted(request.user_agent),
    )
}

/// A finished echoed TCP connection's line.
pub fn tcp_line(client: SocketAddr, local: SocketAddr, bytes: u64, seconds: f64) -> String {
    format!(
        "{} - - {} \"TCP {local}\" echoed {bytes} bytes in {seconds:.3}s",
        client.ip(),
        clf_time(Timestamp::now())
    )
}

/// A new UDP flow's line.
pub fn udp_line(client: SocketAddr, local: SocketAddr) -> String {
    format!(
        "{} - - {} \"UDP {local}\" flow started",
        client.ip(),
        clf_time(Timestamp::now())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).expect("timestamp")
    }

    #[test]
    fn the_ring_keeps_the_newest_lines() {
        let mut ring = Ring::default();
        for i in 0..(MAX_LINES + 5) {
            ring.push(at(i as i64), format!("line {i}"));
        }
        assert_eq!(ring.len(), MAX_LINES);
        let first = ring.from(0).next().expect("a line");
        assert_eq!(first.text, "line 5");
        assert_eq!(first.seq, 5);
        assert_eq!(ring.next_seq(), (MAX_LINES + 5) as u64);
        assert_eq!(ring.from(ring.next_seq() - 2).count(), 2);
    }

    #[test]
    fn the_ring_keeps_at_most_its_bytes() {
        let mut ring = Ring::default();
        let line = "x".repeat(1023);
        for i in 0..300 {
            ring.push(at(i), line.clone());
        }
        assert_eq!(ring.len(), MAX_BYTES / 1024);
        // One line larger than the bound is still kept.
        ring.push(at(301), "y".repeat(MAX_BYTES * 2));
        assert_eq!(ring.len(), 1);
    }

    #[test]
    fn lines_go_to_the_container_declaring_the_port_and_go_away_with_the_pod() {
        let store = Store::new(10);
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {"containers": [
                {"name": "app", "ports": [{"containerPort": 8080}]},
                {"name": "dns", "ports": [{"containerPort": 53, "protocol": "UDP"}]}
            ]}
        });
        store.load_objects(vec![pod]);
        let stored: Pod = store.get("default", "p").expect("decodes").expect("stored");
        let uid = stored.metadata.uid.clone().expect("uid");
        let key = PodKey {
            namespace: "default",
            name: "p",
            uid: &uid,
        };
        let logs = AccessLogs::new(store.clone());
        logs.record(key, Transport::Tcp, 8080, "a".into());
        logs.record(key, Transport::Udp, 53, "b".into());
        logs.record(key, Transport::Tcp, 9999, "c".into());
        let log = logs.pod(&stored);
        let texts = |container: &str| {
            log.read(container, |ring| {
                ring.from(0).map(|l| l.text.clone()).collect::<Vec<_>>()
            })
        };
        assert_eq!(texts("app"), ["a", "c"]);
        assert_eq!(texts("dns"), ["b"]);
        logs.prune();
        assert_eq!(logs.lock().len(), 1);
        store
            .delete::<Pod>("default", "p", &Default::default())
            .expect("deleted");
        logs.prune();
        assert!(logs.lock().is_empty());
    }

    #[test]
    fn client_text_is_escaped() {
        assert_eq!(escape(b"/a b\x1b[31m\"q\""), "/a b\\x1B[31m\\\"q\\\"");
        let client: SocketAddr = "127.0.0.1:40000".parse().expect("addr");
        let line = http_line(
            client,
            &HttpRequest {
                method: "GET",
                target: "/x",
                version: "HTTP/1.1",
                referer: None,
                user_agent: Some("curl/8"),
            },
            200,
            95,
        );
        assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
        assert!(
            line.ends_with("] \"GET /x HTTP/1.1\" 200 95 \"-\" \"curl/8\""),
            "{line}"
        );
    }
}
