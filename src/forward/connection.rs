//! One accepted connection: pick a pod, open a port-forward, splice; on a pod that cannot be
//! used, replay what the client sent on another one.
//!
//! Two phases per attempt:
//! - **opening**: the port-forward is up but nothing says the pod accepted yet (the kubelet
//!   reports a refused pod port on the error channel, not on the stream). Client bytes are
//!   forwarded and kept for replay; the first byte from the pod, or [`MAX_REPLAY`] bytes sent,
//!   establishes the connection. An error message, or the stream ending without a byte and
//!   with an error message, makes the pod unusable for this connection: the next one is tried.
//! - **established**: both directions are copied concurrently (each with its own buffer, so a
//!   client that writes a lot before reading cannot deadlock the splice) until either side
//!   ends, the port-forward reports an error, or the connection is cancelled (the pod is no
//!   longer an endpoint, or the forward stops).
//!
//! Closes travel both ways: when the pod's side ends (the server answered and closed), the
//! client's connection is shut down at once, so it sees the end of the answer. When the
//! client closes its sending side, the port-forward's sending side is shut down (a half-close,
//! where the transport has one) and the pod's answer is relayed until the pod ends it; on a
//! transport without half-close the answer is relayed until the pod is quiet for
//! [`HALF_CLOSE_LINGER`].

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::{ReadHalf as ClientRead, WriteHalf as ClientWrite};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::backends::{Backends, PodRef, chosen};
use super::events::Notice;
use super::forwarder::{Bytes, Ended, Shared};
use super::target::Target;
use super::{FORWARD_ERROR_GRACE, HALF_CLOSE_LINGER, MAX_REPLAY, RETRY_WAIT};
use crate::engine::plan::HopKind;
use crate::probe::dialer::{CLOSE_TIMEOUT, DialTarget, Dialed, ProbeStream};

/// Copy buffer per direction.
const BUFFER: usize = 64 * 1024;

/// The client side of a connection, kept across attempts.
struct Client<'a> {
    read: ClientRead<'a>,
    write: ClientWrite<'a>,
    /// What the client sent while no pod had answered yet.
    replay: Vec<u8>,
    /// The client closed its sending side.
    eof: bool,
}

/// How an attempt on one pod ended.
enum Attempt {
    /// The pod could not be used and the client has seen nothing from it: try another.
    Unusable(String),
    /// The connection is over.
    Over(Over),
}

/// How an established connection ended.
enum Over {
    /// The client or the pod closed, or the client went away.
    Closed,
    /// The pod is no longer an endpoint, or the forward stopped.
    Cancelled,
    /// The port-forward reported an error, or its transport failed.
    Broken(String),
}

/// Serves one accepted connection on forwarded port `port`.
pub(super) async fn serve(
    shared: &Arc<Shared>,
    port: usize,
    mut stream: TcpStream,
    client: SocketAddr,
) {
    let Some(port_shared) = shared.ports.get(port) else {
        return;
    };
    let target = port_shared.target.clone();
    let _ = stream.set_nodelay(true);
    let id = shared.accepted(port);
    let bytes = Arc::new(Bytes::default());
    let mut sets = port_shared.backends.subscribe();
    let first = sets.borrow_and_update().clone();
    if first.is_empty() {
        let reason = first
            .empty_reason
            .clone()
            .unwrap_or_else(|| "no endpoints".to_owned());
        shared.notice(Notice::Refused {
            target,
            client,
            reason,
        });
        reset(&stream);
        drop(stream);
        shared.ended(id, port, &bytes, Ended::Refused);
        return;
    }
    let (read, write) = stream.split();
    let mut side = Client {
        read,
        write,
        replay: Vec::new(),
        eof: false,
    };
    let mut connection = Connection {
        shared,
        port,
        id,
        client,
        target: &target,
        bytes: &bytes,
        cancel: shared.stop.child_token(),
        tried: BTreeSet::new(),
        attempts: 0,
        last_error: String::new(),
    };
    let outcome = connection.try_endpoints(&mut side, &mut sets).await;
    let (attempts, last_error) = (connection.attempts, connection.last_error);
    match outcome {
        Some((over, pod)) => {
            if let (Over::Broken(error), Some(pod)) = (over, pod) {
                shared.notice(Notice::Broken {
                    target,
                    client,
                    pod,
                    error,
                });
            }
            let _ = side.write.shutdown().await;
            drop(side);
            shared.ended(id, port, &bytes, Ended::Served);
        }
        None => {
            shared.notice(Notice::Failed {
                target,
                client,
                attempts,
                error: last_error,
            });
            drop(side);
            reset(&stream);
            shared.ended(id, port, &bytes, Ended::Failed);
        }
    }
}

/// One client connection while it looks for an endpoint that serves it.
struct Connection<'a> {
    shared: &'a Arc<Shared>,
    port: usize,
    id: u64,
    client: SocketAddr,
    target: &'a Target,
    bytes: &'a Arc<Bytes>,
    cancel: CancellationToken,
    /// Pods that failed for this connection.
    tried: BTreeSet<PodRef>,
    attempts: usize,
    last_error: String,
}

impl Connection<'_> {
    /// Picks endpoints from the newest set (skipping pods that failed) and splices to the
    /// first that answers, up to the configured attempts. `Some((over, pod))` when a pod
    /// served the connection or the forward was cancelled; `None` when every attempt failed.
    async fn try_endpoints(
        &mut self,
        side: &mut Client<'_>,
        sets: &mut watch::Receiver<Arc<Backends>>,
    ) -> Option<(Over, Option<PodRef>)> {
        let max_attempts = self.shared.options.attempts.max(1);
        loop {
            if self.attempts >= max_attempts {
                return None;
            }
            let set = sets.borrow_and_update().clone();
            let decision = set.without(&self.tried);
            let picked = self
                .shared
                .pick(&decision, self.client.ip())
                .and_then(|endpoint| chosen(&endpoint, &self.target.port.service));
            let Some((pod, pod_port)) = picked else {
                if self.last_error.is_empty() {
                    self.last_error = set
                        .empty_reason
                        .clone()
                        .unwrap_or_else(|| "no usable endpoint".to_owned());
                }
                // Every pod of this set failed for this connection: wait a little for a newer set.
                let newer = tokio::select! {
                    () = self.cancel.cancelled() => return Some((Over::Cancelled, None)),
                    changed = tokio::time::timeout(RETRY_WAIT, sets.changed()) => {
                        matches!(changed, Ok(Ok(())))
                    }
                };
                if newer {
                    continue;
                }
                return None;
            };
            self.attempts += 1;
            let Some(result) = self.try_pod(&pod, pod_port, side).await else {
                return Some((Over::Cancelled, None));
            };
            match result {
                Attempt::Over(over) => return Some((over, Some(pod))),
                Attempt::Unusable(error) => self.unusable(pod, error, max_attempts),
            }
        }
    }

    /// Dials `pod` and splices the client to it. `None` when the forward stopped while
    /// dialing.
    async fn try_pod(&self, pod: &PodRef, pod_port: u16, side: &mut Client<'_>) -> Option<Attempt> {
        let shared = self.shared;
        let dial_target = DialTarget::Pod {
            namespace: pod.namespace.clone(),
            pod: pod.name.clone(),
            port: pod_port,
        };
        let dialed = tokio::select! {
            () = self.cancel.cancelled() => return None,
            dialed = shared.dialer.dial(&dial_target, HopKind::Endpoint, shared.options.dial_timeout) => dialed,
        };
        Some(match dialed {
            Err(error) => Attempt::Unusable(error.to_string()),
            Ok(dialed) => {
                let attempt_cancel = self.cancel.child_token();
                if shared.register(
                    self.id,
                    self.port,
                    pod,
                    attempt_cancel.clone(),
                    self.bytes.clone(),
                ) {
                    let result = splice(dialed, side, self.bytes, &attempt_cancel).await;
                    let counted = !matches!(result, Attempt::Unusable(_));
                    shared.unregister(self.id, counted);
                    result
                } else {
                    close_transport(dialed).await;
                    Attempt::Unusable("no longer an endpoint".to_owned())
                }
            }
        })
    }

    /// A pod that could not serve: a retry notice when attempts remain, and the pod is not
    /// picked again for this connection.
    fn unusable(&mut self, pod: PodRef, error: String, max_attempts: usize) {
        if self.attempts < max_attempts {
            self.shared.retried(self.port);
            self.shared.notice(Notice::Retry {
                target: self.target.clone(),
                client: self.client,
                pod: pod.clone(),
                error: error.clone(),
            });
        }
        self.last_error = format!("pod {pod}: {error}");
        self.tried.insert(pod);
    }
}

/// Makes the close a reset (RST), so the client sees at once that nothing is there.
fn reset(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}

/// Waits for the port-forward's error channel; pending forever once it closed without one.
async fn forward_error(errors: &mut Option<BoxFuture<'static, Option<String>>>) -> Option<String> {
    match errors {
        Some(future) => {
            let message = future.await;
            *errors = None;
            message
        }
        None => std::future::pending().await,
    }
}

/// Closes a port-forward that is not used (bounded by [`CLOSE_TIMEOUT`]).
async fn close_transport(dialed: Dialed) {
    dialed.close().await;
}

type PodRead = ReadHalf<Box<dyn ProbeStream>>;
type PodWrite = WriteHalf<Box<dyn ProbeStream>>;

/// One attempt on a dialed pod: opening, then established.
async fn splice(
    dialed: Dialed,
    side: &mut Client<'_>,
    bytes: &Bytes,
    cancel: &CancellationToken,
) -> Attempt {
    let Dialed {
        stream,
        errors,
        finish,
        half_close,
        ..
    } = dialed;
    let (pod_read, pod_write) = tokio::io::split(stream);
    let mut pod = Pod {
        read: pod_read,
        write: pod_write,
        errors,
        half_close,
    };
    let result = run(&mut pod, side, bytes, cancel).await;
    let Pod {
        read: pod_read,
        write: pod_write,
        ..
    } = pod;
    // Closing: the stream first (kube-rs then closes the WebSocket), then wait for that.
    drop(pod_read);
    drop(pod_write);
    if let Some(finish) = finish {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, finish).await;
    }
    result
}

/// The pod side of one attempt.
struct Pod {
    read: PodRead,
    write: PodWrite,
    errors: Option<BoxFuture<'static, Option<String>>>,
    /// Shutting down `write` keeps `read` going ([`Dialed::half_close`]).
    half_close: bool,
}

impl Pod {
    /// The client closed its sending side: a half-close towards the pod where the transport
    /// has one (`Ok(None)`: read until the pod ends); otherwise the time the pod may stay
    /// quiet before the connection ends.
    async fn client_closed(&mut self) -> std::io::Result<Option<Instant>> {
        if self.half_close {
            self.write.shutdown().await?;
            return Ok(None);
        }
        Ok(Some(Instant::now() + HALF_CLOSE_LINGER))
    }
}

async fn run(
    pod: &mut Pod,
    side: &mut Client<'_>,
    bytes: &Bytes,
    cancel: &CancellationToken,
) -> Attempt {
    if !side.replay.is_empty()
        && let Err(error) = pod.write.write_all(&side.replay).await
    {
        return failed(error);
    }
    let mut down = vec![0u8; BUFFER];
    let mut up = vec![0u8; BUFFER];
    let mut linger = None;
    if side.eof {
        match pod.client_closed().await {
            Ok(deadline) => linger = deadline,
            Err(error) => return failed(error),
        }
    }
    if let Some(ended) = opening(pod, side, bytes, cancel, (&mut down, &mut up), linger).await {
        return ended;
    }
    let Pod {
        read,
        write,
        errors,
        half_close,
    } = pod;
    Attempt::Over(
        established(
            read,
            write,
            errors,
            side,
            bytes,
            cancel,
            *half_close,
            (&mut down, &mut up),
        )
        .await,
    )
}

fn failed(error: std::io::Error) -> Attempt {
    Attempt::Unusable(format!("the port-forward failed: {error}"))
}

/// Opening: until the pod speaks (or enough was sent that a replay is off): `None`, the
/// connection is established; `Some`, the attempt ended. `linger`: when a client that closed
/// its side stops waiting for a quiet pod (no half-close).
async fn opening(
    pod: &mut Pod,
    side: &mut Client<'_>,
    bytes: &Bytes,
    cancel: &CancellationToken,
    (down, up): (&mut [u8], &mut [u8]),
    mut linger: Option<Instant>,
) -> Option<Attempt> {
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Some(Attempt::Over(Over::Cancelled)),
            message = forward_error(&mut pod.errors) => {
                if let Some(text) = message {
                    return Some(Attempt::Unusable(text.trim().to_owned()));
                }
            }
            read = pod.read.read(down) => match read {
                Ok(0) => {
                    // Ended before a byte: the error channel may still say why.
                    if let Ok(Some(text)) =
                        tokio::time::timeout(FORWARD_ERROR_GRACE, forward_error(&mut pod.errors)).await
                    {
                        return Some(Attempt::Unusable(text.trim().to_owned()));
                    }
                    return Some(Attempt::Over(Over::Closed));
                }
                Ok(count) => {
                    if side.write.write_all(&down[..count]).await.is_err() {
                        return Some(Attempt::Over(Over::Closed));
                    }
                    bytes.received.fetch_add(count as u64, Ordering::Relaxed);
                    side.replay = Vec::new();
                    return None;
                }
                Err(error) => return Some(failed(error)),
            },
            read = side.read.read(up), if !side.eof => match read {
                Ok(0) => {
                    side.eof = true;
                    match pod.client_closed().await {
                        Ok(deadline) => linger = deadline,
                        Err(error) => return Some(failed(error)),
                    }
                }
                Ok(count) => {
                    bytes.sent.fetch_add(count as u64, Ordering::Relaxed);
                    side.replay.extend_from_slice(&up[..count]);
                    if let Err(error) = pod.write.write_all(&up[..count]).await {
                        return Some(failed(error));
                    }
                    if side.replay.len() > MAX_REPLAY {
                        side.replay = Vec::new();
                        return None;
                    }
                }
                Err(_) => return Some(Attempt::Over(Over::Closed)),
            },
            () = sleep_until(linger) => return Some(Attempt::Over(Over::Closed)),
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// How the pod-to-client direction ended.
enum Down {
    /// The pod side closed.
    Closed,
    /// The client had closed, the transport has no half-close, and the pod stayed quiet for
    /// [`HALF_CLOSE_LINGER`].
    Quiet,
    /// Writing to the client failed (it went away).
    ClientGone,
    Failed(std::io::Error),
}

#[allow(clippy::too_many_arguments)]
async fn established(
    pod_read: &mut PodRead,
    pod_write: &mut PodWrite,
    errors: &mut Option<BoxFuture<'static, Option<String>>>,
    side: &mut Client<'_>,
    bytes: &Bytes,
    cancel: &CancellationToken,
    half_close: bool,
    (down, up): (&mut [u8], &mut [u8]),
) -> Over {
    // With a half-close the pod's answer is read until the pod ends it: nothing to watch.
    let (client_done_tx, client_done) = watch::channel(side.eof && !half_close);
    let already_done = side.eof;
    let to_pod = pump_up(
        &mut side.read,
        pod_write,
        up,
        bytes,
        already_done,
        (half_close, client_done_tx),
    );
    let to_client = pump_down(pod_read, &mut side.write, down, bytes, client_done);
    tokio::pin!(to_pod, to_client);
    let mut up_done = already_done;
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Over::Cancelled,
            message = forward_error(errors) => {
                if let Some(text) = message {
                    return Over::Broken(text.trim().to_owned());
                }
            }
            ended = &mut to_client => return match ended {
                Down::Closed | Down::Quiet | Down::ClientGone => Over::Closed,
                Down::Failed(error) => Over::Broken(format!("the port-forward failed: {error}")),
            },
            ended = &mut to_pod, if !up_done => match ended {
                Ok(()) => up_done = true,
                Err(Up::ClientGone) => return Over::Closed,
                Err(Up::Failed(error)) => {
                    return Over::Broken(format!("the port-forward failed: {error}"));
                }
            },
        }
    }
}

enum Up {
    ClientGone,
    Failed(std::io::Error),
}

/// Client → pod until the client closes its sending side (`Ok`): then the pod's sending side
/// is shut down where the transport has a half-close (`half_close`), else `done` tells the
/// other direction to linger.
async fn pump_up(
    client: &mut (impl AsyncRead + Unpin),
    pod: &mut (impl AsyncWrite + Unpin),
    buffer: &mut [u8],
    bytes: &Bytes,
    already_done: bool,
    (half_close, done): (bool, watch::Sender<bool>),
) -> Result<(), Up> {
    if already_done {
        return Ok(());
    }
    loop {
        let count = match client.read(buffer).await {
            Ok(0) if half_close => return pod.shutdown().await.map_err(Up::Failed),
            Ok(0) => {
                done.send_replace(true);
                return Ok(());
            }
            Ok(count) => count,
            Err(_) => return Err(Up::ClientGone),
        };
        bytes.sent.fetch_add(count as u64, Ordering::Relaxed);
        pod.write_all(&buffer[..count]).await.map_err(Up::Failed)?;
    }
}

/// Pod → client until the pod side ends, or the pod is quiet after the client closed.
async fn pump_down(
    pod: &mut (impl AsyncRead + Unpin),
    client: &mut (impl AsyncWrite + Unpin),
    buffer: &mut [u8],
    bytes: &Bytes,
    mut client_done: watch::Receiver<bool>,
) -> Down {
    let mut lingering = *client_done.borrow_and_update();
    // Until the other direction ended: it may still say the client closed.
    let mut watching = true;
    loop {
        let read = if lingering {
            match tokio::time::timeout(HALF_CLOSE_LINGER, pod.read(buffer)).await {
                Ok(read) => read,
                Err(_) => return Down::Quiet,
            }
        } else {
            tokio::select! {
                read = pod.read(buffer) => read,
                changed = client_done.changed(), if watching => {
                    watching = changed.is_ok();
                    lingering = *client_done.borrow_and_update();
                    continue;
                }
            }
        };
        match read {
            Ok(0) => return Down::Closed,
            Ok(count) => {
                if client.write_all(&buffer[..count]).await.is_err() {
                    return Down::ClientGone;
                }
                bytes.received.fetch_add(count as u64, Ordering::Relaxed);
            }
            Err(error) => return Down::Failed(error),
        }
    }
}
