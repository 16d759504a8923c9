//! One check: connect with a timeout, then either one HTTP/1.1 request (when the port looks
//! like HTTP) or a short wait for whatever the server sends first; then compare with the
//! engine's expectation.
//!
//! The HTTP request is written by hand and the answer parsed with `httparse`: one `GET`, a
//! `Host`, `Connection: close`, and only the status line, a few headers and the first bytes of
//! the body are kept. Over a port-forward, the port's error channel is watched the whole time:
//! the kubelet reports "connection refused" there, not on the stream.

use std::time::Duration;

use futures::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::dialer::{DialError, DialTarget, Dialed, Dialer};
use super::outcome::{Agreement, Answer, AnsweringPod, ProbeOutcome, Stage};
use crate::engine::plan::{Expectation, ExpectedEndpoint, HopKind};

/// How long a non-HTTP check waits for the server to speak first.
pub const ANSWER_WINDOW: Duration = Duration::from_millis(300);

/// After a port-forward stream ends without data, how long to wait for the error channel.
pub const FORWARD_ERROR_GRACE: Duration = Duration::from_millis(250);

/// At most this much of an answer is read.
const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// At most this many characters of an answer are kept.
const PREVIEW_CHARS: usize = 160;

/// Headers shown from an HTTP answer.
const KEPT_HEADERS: [&str; 5] = [
    "server",
    "content-type",
    "content-length",
    "location",
    "x-kubehop-pod",
];

/// The header sandbox pods (and any app that wants to) name themselves with.
pub const POD_HEADER: &str = "x-kubehop-pod";

/// The request line and Host of an HTTP check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSpec {
    pub host: Option<String>,
    pub path: String,
    /// Make a TLS handshake first (HTTPS).
    pub tls: bool,
}

/// How to check one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSpec {
    /// Connect timeout, and the time an HTTP answer may take after connecting.
    pub timeout: Duration,
    pub http: Option<HttpSpec>,
    /// How long a non-HTTP check waits for the server to speak first.
    pub answer_window: Duration,
    /// A Gateway TLSRoute or TCPRoute hop: this check instead of HTTP or waiting.
    pub stream: Option<crate::engine::plan::StreamProbe>,
}

/// Connects to `target` and exchanges what `spec` asks for.
pub async fn check(
    dialer: &dyn Dialer,
    target: &DialTarget,
    kind: HopKind,
    spec: &CheckSpec,
) -> ProbeOutcome {
    let started = Instant::now();
    let dialed = match dialer.dial(target, kind, spec.timeout).await {
        Ok(dialed) => dialed,
        Err(error) => return dial_outcome(error, started.elapsed()),
    };
    let latency = dialed.connected_in;
    let (outcome, dialed) = exchange(dialed, target, spec, started, latency).await;
    dialed.close().await;
    outcome
}

fn dial_outcome(error: DialError, elapsed: Duration) -> ProbeOutcome {
    match error {
        DialError::Refused => ProbeOutcome::Refused { detail: None },
        DialError::TimedOut(_) => ProbeOutcome::TimedOut {
            stage: Stage::Connect,
            after: elapsed,
        },
        // A reset (not a refusal) reported by connect() means the handshake had completed: a
        // RST before it completes is reported as "refused". On loopback a proxy can accept and
        // reset before the connect's completion is polled, so this is "accepted, then reset".
        DialError::Reset => ProbeOutcome::Reset {
            after_connect: true,
            detail: None,
        },
        DialError::Dns(detail) => ProbeOutcome::DnsFailure(detail),
        DialError::ForwardFailed(detail) => classify_forward_message(&detail, elapsed),
        DialError::Forbidden(detail) => ProbeOutcome::Forbidden(detail),
        DialError::NotReachable(reason) => ProbeOutcome::NotReachable(reason),
        DialError::Unsupported(target) => {
            ProbeOutcome::NotReachable(format!("no transport can dial {target:?}"))
        }
        DialError::Io(error) => ProbeOutcome::NotReachable(error.to_string()),
    }
}

/// What a port-forward error message (the kubelet's words) means.
pub fn classify_forward_message(text: &str, elapsed: Duration) -> ProbeOutcome {
    let lower = text.to_ascii_lowercase();
    let detail = Some(text.trim().to_owned());
    if lower.contains("connection refused") {
        ProbeOutcome::Refused { detail }
    } else if lower.contains("timed out") || lower.contains("i/o timeout") {
        ProbeOutcome::TimedOut {
            stage: Stage::Connect,
            after: elapsed,
        }
    } else if lower.contains("connection reset") {
        ProbeOutcome::Reset {
            after_connect: false,
            detail,
        }
    } else {
        ProbeOutcome::ForwardFailed(text.trim().to_owned())
    }
}

fn read_error_outcome(error: &std::io::Error, elapsed: Duration) -> ProbeOutcome {
    match error.kind() {
        std::io::ErrorKind::TimedOut => ProbeOutcome::TimedOut {
            stage: Stage::Answer,
            after: elapsed,
        },
        std::io::ErrorKind::ConnectionReset
        | std::io::ErrorKind::ConnectionAborted
        | std::io::ErrorKind::BrokenPipe => ProbeOutcome::Reset {
            after_connect: true,
            detail: None,
        },
        _ => ProbeOutcome::Reset {
            after_connect: true,
            detail: Some(error.to_string()),
        },
    }
}

enum Read {
    /// Bytes arrived or the stream ended; `eof` says which ended the loop.
    Done {
        eof: bool,
    },
    TimedOut,
    Failed(std::io::Error),
    /// The port-forward's error channel spoke.
    ForwardError(String),
}

async fn poll_errors(errors: &mut Option<BoxFuture<'static, Option<String>>>) -> Option<String> {
    match errors {
        Some(future) => {
            let message = future.await;
            if message.is_none() {
                *errors = None;
            }
            message
        }
        None => std::future::pending().await,
    }
}

/// Reads until `complete` says enough, the stream ends, or `deadline`.
async fn read_answer(
    dialed: &mut Dialed,
    buffer: &mut Vec<u8>,
    first_byte: &mut Option<Duration>,
    started: Instant,
    deadline: Instant,
    complete: impl Fn(&[u8]) -> bool,
) -> Read {
    let mut chunk = vec![0u8; 4096];
    loop {
        let outcome = tokio::select! {
            biased;
            message = poll_errors(&mut dialed.errors) => match message {
                Some(text) => return Read::ForwardError(text),
                None => continue,
            },
            read = dialed.stream.read(&mut chunk) => read,
            () = tokio::time::sleep_until(deadline) => return Read::TimedOut,
        };
        match outcome {
            Ok(0) => return Read::Done { eof: true },
            Ok(count) => {
                first_byte.get_or_insert_with(|| started.elapsed());
                buffer.extend_from_slice(&chunk[..count]);
                if buffer.len() >= MAX_ANSWER_BYTES || complete(buffer) {
                    return Read::Done { eof: false };
                }
            }
            Err(error) => return Read::Failed(error),
        }
    }
}

/// After a port-forward stream ended without data: the error channel may still explain why.
async fn late_forward_error(dialed: &mut Dialed, deadline: Instant) -> Option<String> {
    dialed.errors.as_ref()?;
    let grace = (Instant::now() + FORWARD_ERROR_GRACE).min(deadline);
    tokio::time::timeout_at(grace, poll_errors(&mut dialed.errors))
        .await
        .ok()
        .flatten()
}

async fn exchange(
    mut dialed: Dialed,
    target: &DialTarget,
    spec: &CheckSpec,
    started: Instant,
    latency: Duration,
) -> (ProbeOutcome, Dialed) {
    if let Some(probe) = &spec.stream {
        let windows = (spec.timeout, spec.answer_window);
        let outcome = super::stream::exchange(&mut dialed, probe, windows, started, latency).await;
        return (outcome, dialed);
    }
    let http = spec.http.as_ref();
    let mut tls = None;
    if let Some(http) = http.filter(|http| http.tls) {
        match tls_handshake(&mut dialed, http, target, spec, started, latency).await {
            Ok(version) => tls = Some(version),
            Err(outcome) => return (outcome, dialed),
        }
    }
    if let Some(http) = http
        && let Err(outcome) = send_request(&mut dialed, http, target, started).await
    {
        return (outcome, dialed);
    }
    let outcome = read_outcome(&mut dialed, spec, started, latency).await;
    let outcome = match outcome {
        ProbeOutcome::Connected {
            latency,
            answer: Some(mut answer),
        } if tls.is_some() => {
            answer.tls = tls;
            ProbeOutcome::Connected {
                latency,
                answer: Some(answer),
            }
        }
        other => other,
    };
    (outcome, dialed)
}

/// The TLS handshake of an HTTPS check: the negotiated version, or the outcome when the
/// port-forward failed or the handshake did (a connection whose TLS failed).
async fn tls_handshake(
    dialed: &mut Dialed,
    http: &HttpSpec,
    target: &DialTarget,
    spec: &CheckSpec,
    started: Instant,
    latency: Duration,
) -> Result<String, ProbeOutcome> {
    match handshake(dialed, http, target, spec.timeout, started).await {
        Ok(version) => Ok(version),
        Err(Handshake::Forward(text)) => Err(classify_forward_message(&text, started.elapsed())),
        Err(Handshake::Silent) => Err(ProbeOutcome::TimedOut {
            stage: Stage::Answer,
            after: started.elapsed(),
        }),
        Err(Handshake::Failed(error)) => Err(ProbeOutcome::Connected {
            latency,
            answer: Some(Answer {
                tls: Some(format!("TLS handshake failed: {error}")),
                ..Answer::default()
            }),
        }),
    }
}

/// Writes the HTTP request, unless the port-forward's error channel speaks first.
async fn send_request(
    dialed: &mut Dialed,
    http: &HttpSpec,
    target: &DialTarget,
    started: Instant,
) -> Result<(), ProbeOutcome> {
    let request = http_request(http, target);
    let written = tokio::select! {
        biased;
        message = poll_errors(&mut dialed.errors) => match message {
            Some(text) => return Err(classify_forward_message(&text, started.elapsed())),
            None => Ok(()),
        },
        written = dialed.stream.write_all(request.as_bytes()) => written,
    };
    if let Err(error) = written {
        return Err(read_error_outcome(&error, started.elapsed()));
    }
    let _ = dialed.stream.flush().await;
    Ok(())
}

/// Reads the answer (an HTTP head, or whatever a server that speaks first sends within the
/// answer window) and classifies it.
async fn read_outcome(
    dialed: &mut Dialed,
    spec: &CheckSpec,
    started: Instant,
    latency: Duration,
) -> ProbeOutcome {
    let http = spec.http.as_ref();
    let mut buffer = Vec::new();
    let mut first_byte = None;
    let wait = if http.is_some() {
        spec.timeout
    } else {
        spec.answer_window
    };
    let deadline = Instant::now() + wait;
    let read = read_answer(
        dialed,
        &mut buffer,
        &mut first_byte,
        started,
        deadline,
        |bytes| http.is_none() || http_head_complete(bytes),
    )
    .await;
    match read {
        Read::ForwardError(text) => classify_forward_message(&text, started.elapsed()),
        Read::Failed(error) => read_error_outcome(&error, started.elapsed()),
        Read::TimedOut if buffer.is_empty() => {
            if http.is_some() {
                ProbeOutcome::TimedOut {
                    stage: Stage::Answer,
                    after: started.elapsed(),
                }
            } else {
                // Silence is normal for protocols where the client speaks first.
                ProbeOutcome::Connected {
                    latency,
                    answer: None,
                }
            }
        }
        Read::Done { eof: true } if buffer.is_empty() => {
            if let Some(text) = late_forward_error(dialed, deadline).await {
                classify_forward_message(&text, started.elapsed())
            } else {
                ProbeOutcome::Connected {
                    latency,
                    answer: Some(Answer {
                        first_byte: None,
                        closed_without_data: true,
                        ..Answer::default()
                    }),
                }
            }
        }
        Read::TimedOut | Read::Done { .. } => ProbeOutcome::Connected {
            latency,
            answer: Some(parse_answer(&buffer, http.is_some(), first_byte)),
        },
    }
}

enum Handshake {
    /// The port-forward's error channel spoke first.
    Forward(String),
    Failed(String),
    /// Connected, then nothing came back: the same silence an HTTP check waiting for its
    /// answer sees (a dropping proxy holds the connection open and silent).
    Silent,
}

/// Replaces the stream by a TLS stream over it; returns the protocol version agreed.
async fn handshake(
    dialed: &mut Dialed,
    http: &HttpSpec,
    target: &DialTarget,
    timeout: Duration,
    started: Instant,
) -> Result<String, Handshake> {
    let connector = super::tls::connector().map_err(Handshake::Failed)?;
    let host = match (&http.host, target) {
        (Some(host), _) => host.clone(),
        (None, DialTarget::Socket(address)) => address.ip().to_string(),
        (None, DialTarget::Host { host, .. }) => host.clone(),
        (None, DialTarget::Pod { .. }) => "localhost".to_owned(),
    };
    let plain = std::mem::replace(&mut dialed.stream, Box::new(tokio::io::empty()));
    let deadline = started + timeout * 2;
    let connecting = connector.connect(super::tls::server_name(&host), plain);
    let result = tokio::select! {
        biased;
        message = poll_errors(&mut dialed.errors) => match message {
            Some(text) => return Err(Handshake::Forward(text)),
            None => return Err(Handshake::Failed("the port-forward ended".to_owned())),
        },
        result = tokio::time::timeout_at(deadline, connecting) => result,
    };
    match result {
        Ok(Ok(stream)) => {
            let version = stream.get_ref().1.protocol_version().map_or_else(
                || "TLS".to_owned(),
                |version| {
                    format!("{version:?}")
                        .replace("TLSv1_", "TLS 1.")
                        .replace("TLSv", "TLS ")
                },
            );
            dialed.stream = Box::new(stream);
            Ok(version)
        }
        Ok(Err(error)) => Err(Handshake::Failed(error.to_string())),
        Err(_) => Err(Handshake::Silent),
    }
}

fn http_request(http: &HttpSpec, target: &DialTarget) -> String {
    let host = match (&http.host, target) {
        (Some(host), _) => host.clone(),
        (None, DialTarget::Socket(address)) => address.to_string(),
        (None, DialTarget::Host { host, port }) => format!("{host}:{port}"),
        (None, DialTarget::Pod { port, .. }) => format!("localhost:{port}"),
    };
    let path = if http.path.starts_with('/') {
        http.path.clone()
    } else {
        format!("/{}", http.path)
    };
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: kubehop-probe/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// The header block has ended and some of the body (or none is coming) is there.
fn http_head_complete(bytes: &[u8]) -> bool {
    let Some(end) = bytes.windows(4).position(|window| window == b"\r\n\r\n") else {
        // Not HTTP at all: stop once a line is there.
        return !bytes.starts_with(b"HTTP/") && bytes.contains(&b'\n');
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(_)) = response.parse(bytes) else {
        return true;
    };
    let length = response
        .headers
        .iter()
        .find(|header| header.name.eq_ignore_ascii_case("content-length"))
        .and_then(|header| std::str::from_utf8(header.value).ok())
        .and_then(|value| value.trim().parse::<usize>().ok());
    let body = bytes.len() - (end + 4);
    match length {
        Some(length) => body >= length.min(PREVIEW_CHARS),
        None => body > 0,
    }
}

/// Printable, one line, at most [`PREVIEW_CHARS`] characters.
pub fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    let mut last_space = false;
    for c in text.chars() {
        let c = if c.is_whitespace() {
            ' '
        } else if c.is_control() {
            '·'
        } else {
            c
        };
        if c == ' ' && (last_space || out.is_empty()) {
            continue;
        }
        last_space = c == ' ';
        out.push(c);
        if out.chars().count() >= PREVIEW_CHARS {
            break;
        }
    }
    out.trim_end().to_owned()
}

fn parse_answer(bytes: &[u8], http: bool, first_byte: Option<Duration>) -> Answer {
    if http {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        if let Ok(status) = response.parse(bytes)
            && let Some(code) = response.code
        {
            let body = match status {
                httparse::Status::Complete(length) => bytes.get(length..).unwrap_or_default(),
                httparse::Status::Partial => &[],
            };
            let kept = response
                .headers
                .iter()
                .filter(|header| {
                    KEPT_HEADERS
                        .iter()
                        .any(|name| header.name.eq_ignore_ascii_case(name))
                })
                .map(|header| {
                    (
                        header.name.to_ascii_lowercase(),
                        String::from_utf8_lossy(header.value).trim().to_owned(),
                    )
                })
                .collect();
            return Answer {
                status: Some(code),
                reason: response.reason.map(str::to_owned),
                headers: kept,
                first_bytes: preview(body),
                first_byte,
                closed_without_data: false,
                ..Answer::default()
            };
        }
    }
    Answer {
        first_bytes: preview(bytes),
        first_byte,
        ..Answer::default()
    }
}

/// Which pod answered: the `X-Kubehop-Pod` header, else the longest known pod name that
/// appears in the first bytes of the answer.
pub fn answering_pod(outcome: &ProbeOutcome, known_pods: &[String]) -> Option<AnsweringPod> {
    let answer = outcome.answer()?;
    if let Some(pod) = answer.header(POD_HEADER).filter(|pod| !pod.is_empty()) {
        return Some(AnsweringPod {
            pod: pod.to_owned(),
            from: "header",
        });
    }
    if let Some(certificate) = &answer.certificate
        && let Some(pod) = known_pods
            .iter()
            .filter(|pod| !pod.is_empty() && certificate.contains(pod.as_str()))
            .max_by_key(|pod| pod.len())
    {
        return Some(AnsweringPod {
            pod: pod.clone(),
            from: "certificate",
        });
    }
    known_pods
        .iter()
        .filter(|pod| !pod.is_empty() && answer.first_bytes.contains(pod.as_str()))
        .max_by_key(|pod| pod.len())
        .map(|pod| AnsweringPod {
            pod: pod.clone(),
            from: "body",
        })
}

/// Whether the outcome agrees with the expectation, and why.
pub fn agree(
    expected: &Expectation,
    kind: HopKind,
    outcome: &ProbeOutcome,
    answered_by: Option<&AnsweringPod>,
) -> (Agreement, String) {
    use Agreement::{Expected, Unexpected, Unverified};
    match outcome {
        ProbeOutcome::NotReachable(reason) => {
            return (Unverified, format!("not checked: {reason}"));
        }
        ProbeOutcome::Forbidden(detail) => {
            return (
                Unverified,
                format!("not checked: the API server forbids the port-forward ({detail})"),
            );
        }
        _ => {}
    }
    let status = outcome.answer().and_then(|answer| answer.status);
    match expected {
        Expectation::Unrouted { reason } => (Unverified, format!("no prediction: {reason}")),
        Expectation::Connect { endpoints, reason } => match outcome {
            ProbeOutcome::Connected { answer, .. } => agree_connected(
                endpoints,
                reason,
                kind,
                answer.as_ref(),
                answered_by,
                status,
            ),
            other => (Unexpected, format!("{}; predicted: {reason}", other.word())),
        },
        Expectation::Drop { reason } => match outcome {
            ProbeOutcome::TimedOut { .. } => (Expected, format!("as predicted: {reason}")),
            ProbeOutcome::Connected { answer: None, .. } => (
                Expected,
                format!(
                    "silent, as predicted (the connection was accepted, then nothing): {reason}"
                ),
            ),
            other => (
                Unexpected,
                format!("{}; predicted a drop: {reason}", other.word()),
            ),
        },
        Expectation::Reject { reason } => match outcome {
            ProbeOutcome::Refused { .. } | ProbeOutcome::Reset { .. } => {
                (Expected, format!("as predicted: {reason}"))
            }
            other => (
                Unexpected,
                format!("{}; predicted a reject: {reason}", other.word()),
            ),
        },
        Expectation::NoBackend { reason } => match (outcome, status) {
            (ProbeOutcome::Connected { .. }, Some(code)) if code >= 500 => {
                (Expected, format!("answered {code}, as predicted: {reason}"))
            }
            (ProbeOutcome::Refused { .. } | ProbeOutcome::Reset { .. }, _) => {
                (Expected, format!("as predicted: {reason}"))
            }
            (other, _) => (
                Unexpected,
                format!("{}; predicted no backend: {reason}", other.word()),
            ),
        },
    }
}

/// Whether a connection matches a Connect prediction: answered by a predicted pod, and for an
/// Ingress no gateway error and no close without an answer.
fn agree_connected(
    endpoints: &[ExpectedEndpoint],
    reason: &str,
    kind: HopKind,
    answer: Option<&Answer>,
    answered_by: Option<&AnsweringPod>,
    status: Option<u16>,
) -> (Agreement, String) {
    use Agreement::{Expected, Unexpected};
    if let Some(pod) = answered_by {
        let predicted = endpoints
            .iter()
            .any(|endpoint| endpoint.pod.as_deref() == Some(pod.pod.as_str()));
        if !predicted && endpoints.iter().any(|endpoint| endpoint.pod.is_some()) {
            return (
                Unexpected,
                format!(
                    "answered by {}, which is not among the {} the engine predicted",
                    pod.pod,
                    plural(endpoints.len(), "endpoint", "endpoints")
                ),
            );
        }
    }
    if kind == HopKind::Ingress
        && let Some(code @ (502..=504)) = status
    {
        return (
            Unexpected,
            format!(
                "the ingress controller answered {code}: it did not reach the backend ({reason})"
            ),
        );
    }
    // GW11: a Gateway answers 500 for a rule whose backends are invalid.
    if kind == HopKind::Gateway
        && let Some(code @ (500..=504)) = status
    {
        return (
            Unexpected,
            format!("the Gateway answered {code}: it did not reach the backend ({reason})"),
        );
    }
    if let Some(failure) = answer.and_then(|a| a.tls.as_ref().filter(|_| a.tls_failure.is_some())) {
        return (Unexpected, format!("{failure}; predicted: {reason}"));
    }
    if answer.is_some_and(|a| a.closed_without_data)
        && matches!(kind, HopKind::Ingress | HopKind::Gateway)
    {
        return (
            Unexpected,
            "accepted, then closed without an answer".to_owned(),
        );
    }
    (Expected, format!("as predicted: {reason}"))
}

fn plural(count: usize, one: &str, many: &str) -> String {
    if count == 1 {
        format!("1 {one}")
    } else {
        format!("{count} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use std::io;

    #[rstest]
    #[case::refused(io::ErrorKind::ConnectionRefused, ProbeOutcome::Refused { detail: None })]
    #[case::reset_means_it_was_accepted(
        io::ErrorKind::ConnectionReset,
        ProbeOutcome::Reset { after_connect: true, detail: None }
    )]
    fn connect_errors_mean_what_tcp_says(
        #[case] kind: io::ErrorKind,
        #[case] expected: ProbeOutcome,
    ) {
        let error = DialError::from_connect(io::Error::from(kind));
        assert_eq!(dial_outcome(error, Duration::ZERO), expected);
    }

    #[test]
    fn http_answers_keep_status_headers_and_first_bytes() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Kubehop-Pod: web-1\r\nDate: x\r\nContent-Length: 26\r\n\r\npod shop/web-1 on node-1\r\n";
        let answer = parse_answer(raw, true, Some(Duration::from_millis(1)));
        assert_eq!(answer.status, Some(200));
        assert_eq!(answer.summary(), "HTTP 200 OK");
        assert_eq!(answer.header("x-kubehop-pod"), Some("web-1"));
        assert!(
            answer.header("date").is_none(),
            "only a few headers are kept"
        );
        assert_eq!(answer.first_bytes, "pod shop/web-1 on node-1");
        assert!(http_head_complete(raw));
        assert!(!http_head_complete(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
        ));
    }

    #[test]
    fn non_http_answers_are_previewed() {
        let answer = parse_answer(b"SSH-2.0-OpenSSH_9.6\r\n\x00\x01", false, None);
        assert_eq!(answer.status, None);
        assert_eq!(answer.summary(), "\"SSH-2.0-OpenSSH_9.6 ··\"");
    }

    #[rstest]
    #[case(
        "error forwarding port 8080 to pod web-1, uid : failed to connect to 127.0.0.5:8080: Connection refused (os error 111)",
        "refused"
    )]
    #[case(
        "an error occurred forwarding 8080 -> 8080: dial tcp4 127.0.0.1:8080: i/o timeout",
        "timeout"
    )]
    #[case("read: connection reset by peer", "reset")]
    #[case("pod web-1 is not running", "forward-failed")]
    fn forward_messages(#[case] text: &str, #[case] word: &str) {
        assert_eq!(classify_forward_message(text, Duration::ZERO).word(), word);
    }

    #[test]
    fn answering_pod_from_header_then_body() {
        let known = vec!["web-1".to_owned(), "web-12".to_owned()];
        let outcome = |answer: Answer| ProbeOutcome::Connected {
            latency: Duration::ZERO,
            answer: Some(answer),
        };
        let by_header = outcome(Answer {
            headers: vec![("x-kubehop-pod".into(), "web-9".into())],
            ..Answer::default()
        });
        assert_eq!(
            answering_pod(&by_header, &known).map(|pod| (pod.pod, pod.from)),
            Some(("web-9".to_owned(), "header"))
        );
        let by_body = outcome(Answer {
            first_bytes: "hello from web-12".into(),
            ..Answer::default()
        });
        assert_eq!(
            answering_pod(&by_body, &known).map(|pod| pod.pod),
            Some("web-12".to_owned())
        );
    }

    fn connect() -> Expectation {
        Expectation::Connect {
            endpoints: vec![crate::engine::plan::ExpectedEndpoint {
                pod: Some("web-1".into()),
                node: None,
                ip: "127.0.0.5".parse().expect("ip"),
                port: 8080,
            }],
            reason: "ready".into(),
        }
    }

    #[rstest]
    #[case(connect(), ProbeOutcome::Connected { latency: Duration::ZERO, answer: None }, Agreement::Expected)]
    #[case(connect(), ProbeOutcome::Refused { detail: None }, Agreement::Unexpected)]
    #[case(Expectation::Drop { reason: "local".into() }, ProbeOutcome::TimedOut { stage: Stage::Connect, after: Duration::ZERO }, Agreement::Expected)]
    #[case(Expectation::Drop { reason: "local".into() }, ProbeOutcome::TimedOut { stage: Stage::Answer, after: Duration::ZERO }, Agreement::Expected)]
    #[case(Expectation::Drop { reason: "local".into() }, ProbeOutcome::Refused { detail: None }, Agreement::Unexpected)]
    #[case(Expectation::Reject { reason: "none".into() }, ProbeOutcome::Refused { detail: None }, Agreement::Expected)]
    #[case(Expectation::Reject { reason: "none".into() }, ProbeOutcome::Connected { latency: Duration::ZERO, answer: None }, Agreement::Unexpected)]
    #[case(connect(), ProbeOutcome::NotReachable("ClusterIP".into()), Agreement::Unverified)]
    #[case(Expectation::Unrouted { reason: "not ready".into() }, ProbeOutcome::Refused { detail: None }, Agreement::Unverified)]
    fn agreement_table(
        #[case] expected: Expectation,
        #[case] outcome: ProbeOutcome,
        #[case] agreement: Agreement,
    ) {
        assert_eq!(
            agree(&expected, HopKind::ClusterIp, &outcome, None).0,
            agreement
        );
    }

    #[test]
    fn an_answer_from_an_unpredicted_pod_is_unexpected() {
        let outcome = ProbeOutcome::Connected {
            latency: Duration::ZERO,
            answer: None,
        };
        let stranger = AnsweringPod {
            pod: "db-1".into(),
            from: "header",
        };
        let (agreement, why) = agree(&connect(), HopKind::ClusterIp, &outcome, Some(&stranger));
        assert_eq!(agreement, Agreement::Unexpected);
        assert!(why.contains("db-1"), "{why}");
    }

    /// A dropping proxy accepts and stays silent: the http and the https port of one Service
    /// must both read as silence (a drop, when predicted), not one as a failed TLS "answer".
    #[tokio::test]
    async fn silence_reads_the_same_over_http_and_https() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                open.push(stream);
            }
        });
        let dialer = super::super::dialer::DirectDialer::new(
            super::super::reach::NetworkScope::LoopbackOnly,
        );
        let drop = Expectation::Drop {
            reason: "no local endpoint".into(),
        };
        for tls in [false, true] {
            let spec = CheckSpec {
                timeout: Duration::from_millis(200),
                http: Some(HttpSpec {
                    host: None,
                    path: "/".into(),
                    tls,
                }),
                answer_window: Duration::from_millis(100),
                stream: None,
            };
            let outcome = check(
                &dialer,
                &DialTarget::Socket(address),
                HopKind::NodePort,
                &spec,
            )
            .await;
            assert!(
                matches!(
                    outcome,
                    ProbeOutcome::TimedOut {
                        stage: Stage::Answer,
                        ..
                    }
                ),
                "tls {tls}: {outcome:?}"
            );
            let (agreement, why) = agree(&drop, HopKind::NodePort, &outcome, None);
            assert_eq!(agreement, Agreement::Expected, "tls {tls}: {why}");
        }
        held.abort();
    }
}
