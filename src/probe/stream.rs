//! The checks of Gateway route hops that do not speak HTTP ([`StreamProbe`]):
//!
//! - a TLSRoute hop gets a TLS handshake with the route's hostname as the server name (SNI):
//!   the Gateway's listener picks the route by it and, passing TLS through, splices the
//!   connection to a backend pod, which completes the handshake. The hop answers when the
//!   handshake completes; the certificate presented (its subject and issuer) says who
//!   completed it. A fatal `unrecognized_name` alert is the Gateway saying no route takes the
//!   name ([`TlsFailure::SniNotRouted`]); any other end of the handshake (a reset, a close, an
//!   alert, bytes that are not TLS) is [`TlsFailure::HandshakeFailed`].
//! - a TCPRoute hop gets a connection through the listener, one line ([`TCP_LINE`]) sent and
//!   whatever comes back within the answer window read (an echo, a server's banner or error;
//!   silence proves nothing on TCP).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use tokio_rustls::rustls;

use super::check::preview;
use super::dialer::Dialed;
use super::outcome::{Answer, ProbeOutcome, Stage, TlsFailure};
use crate::engine::plan::StreamProbe;

/// The line a TCPRoute hop sends: harmless to any server, and echoed by the sandbox's pods.
pub const TCP_LINE: &[u8] = b"kubehop-probe\r\n";

/// At most this much of an answer is read.
const MAX_BYTES: usize = 4096;

/// Runs the stream check on a connected stream.
pub(super) async fn exchange(
    dialed: &mut Dialed,
    probe: &StreamProbe,
    (timeout, window): (Duration, Duration),
    started: Instant,
    latency: Duration,
) -> ProbeOutcome {
    match probe {
        StreamProbe::Tls { sni } => tls(dialed, sni, (timeout, window), started, latency).await,
        StreamProbe::Tcp => tcp(dialed, window, started, latency).await,
    }
}

async fn tcp(
    dialed: &mut Dialed,
    window: Duration,
    started: Instant,
    latency: Duration,
) -> ProbeOutcome {
    if let Err(error) = dialed.stream.write_all(TCP_LINE).await {
        return io_outcome(&error, started);
    }
    let _ = dialed.stream.flush().await;
    match read_some(dialed, window).await {
        Ok((bytes, _)) if bytes.is_empty() => ProbeOutcome::Connected {
            latency,
            answer: None,
        },
        Ok((bytes, eof)) => ProbeOutcome::Connected {
            latency,
            answer: Some(Answer {
                first_bytes: preview(&bytes),
                first_byte: Some(started.elapsed()),
                closed_without_data: eof && bytes.is_empty(),
                ..Answer::default()
            }),
        },
        Err(error) => io_outcome(&error, started),
    }
}

async fn tls(
    dialed: &mut Dialed,
    sni: &str,
    (timeout, window): (Duration, Duration),
    started: Instant,
    latency: Duration,
) -> ProbeOutcome {
    let connector = match super::tls::connector() {
        Ok(connector) => connector,
        Err(error) => return failed(latency, TlsFailure::HandshakeFailed, &error),
    };
    let plain = std::mem::replace(&mut dialed.stream, Box::new(tokio::io::empty()));
    let connecting = connector.connect(super::tls::server_name(sni), plain);
    let stream = match tokio::time::timeout(timeout * 2, connecting).await {
        Err(_) => {
            return ProbeOutcome::TimedOut {
                stage: Stage::Answer,
                after: started.elapsed(),
            };
        }
        Ok(Err(error)) => {
            let kind = if unrecognized_name(&error) {
                TlsFailure::SniNotRouted
            } else {
                TlsFailure::HandshakeFailed
            };
            return failed(latency, kind, &handshake_words(&error));
        }
        Ok(Ok(stream)) => stream,
    };
    let session = stream.get_ref().1;
    let version = session.protocol_version().map_or_else(
        || "TLS".to_owned(),
        |version| {
            format!("{version:?}")
                .replace("TLSv1_", "TLS 1.")
                .replace("TLSv", "TLS ")
        },
    );
    let certificate = session
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|der| certificate_words(der.as_ref()));
    dialed.stream = Box::new(stream);
    let (bytes, _) = read_some(dialed, window).await.unwrap_or_default();
    ProbeOutcome::Connected {
        latency,
        answer: Some(Answer {
            first_bytes: preview(&bytes),
            first_byte: (!bytes.is_empty()).then(|| started.elapsed()),
            tls: Some(version),
            certificate,
            ..Answer::default()
        }),
    }
}

fn failed(latency: Duration, kind: TlsFailure, detail: &str) -> ProbeOutcome {
    ProbeOutcome::Connected {
        latency,
        answer: Some(Answer {
            tls: Some(format!("TLS handshake failed: {detail}")),
            tls_failure: Some(kind),
            ..Answer::default()
        }),
    }
}

/// Whether the handshake ended with the server's fatal `unrecognized_name` alert (RFC 6066
/// section 3: no virtual host takes the name asked for).
fn unrecognized_name(error: &std::io::Error) -> bool {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|inner| {
            matches!(
                inner,
                rustls::Error::AlertReceived(rustls::AlertDescription::UnrecognisedName)
            )
        })
}

/// A handshake error in a few words: the peer's alert, a reset, a close, or rustls's words.
fn handshake_words(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            "the connection closed before the server's hello".to_owned()
        }
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => {
            "the connection was reset before the server's hello".to_owned()
        }
        _ => error.to_string(),
    }
}

fn io_outcome(error: &std::io::Error, started: Instant) -> ProbeOutcome {
    match error.kind() {
        std::io::ErrorKind::TimedOut => ProbeOutcome::TimedOut {
            stage: Stage::Answer,
            after: started.elapsed(),
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

/// Reads what arrives within `window` (up to [`MAX_BYTES`]); whether the stream ended.
async fn read_some(dialed: &mut Dialed, window: Duration) -> std::io::Result<(Vec<u8>, bool)> {
    let deadline = Instant::now() + window;
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let read = tokio::time::timeout_at(deadline, dialed.stream.read(&mut chunk)).await;
        match read {
            Err(_) => return Ok((bytes, false)),
            Ok(Ok(0)) => return Ok((bytes, true)),
            Ok(Ok(n)) => {
                bytes.extend_from_slice(&chunk[..n]);
                if bytes.len() >= MAX_BYTES || bytes.ends_with(b"\n") {
                    return Ok((bytes, false));
                }
            }
            Ok(Err(error)) if bytes.is_empty() => return Err(error),
            Ok(Err(_)) => return Ok((bytes, true)),
        }
    }
}

/// Who a certificate says it is: `"db.shop.test" (O=...), issued by "kubehop-sandbox-ca"`,
/// every string escaped for the terminal.
pub fn certificate_words(der: &[u8]) -> String {
    let Some(names) = CertificateNames::read(der) else {
        return "a certificate kubehop could not read".to_owned();
    };
    let quoted = |text: &Option<String>| {
        text.as_deref()
            .map_or("(no common name)".to_owned(), |t| format!("{:?}", t))
    };
    let mut out = quoted(&names.subject_cn);
    if let Some(organization) = &names.subject_o {
        out.push_str(&format!(" (O={organization:?})"));
    }
    out.push_str(", issued by ");
    out.push_str(&quoted(&names.issuer_cn));
    crate::printable::escape(&out).into_owned()
}

/// The names a certificate's issuer and subject carry.
#[derive(Debug, Default, PartialEq, Eq)]
struct CertificateNames {
    subject_cn: Option<String>,
    subject_o: Option<String>,
    issuer_cn: Option<String>,
}

/// One DER element: (tag, content, the rest after it).
fn element(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let length = rest[..count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (length, &rest[count..])
    };
    (rest.len() >= length).then(|| (tag, &rest[..length], &rest[length..]))
}

/// The value of attribute `oid` (its encoded bytes) in an X.501 Name's content.
fn attribute(name: &[u8], oid: &[u8]) -> Option<String> {
    let mut sets = name;
    while let Some((_, set, rest)) = element(sets) {
        sets = rest;
        let mut pairs = set;
        while let Some((_, pair, rest)) = element(pairs) {
            pairs = rest;
            let Some((0x06, id, value)) = element(pair) else {
                continue;
            };
            if id == oid {
                let (_, text, _) = element(value)?;
                return Some(String::from_utf8_lossy(text).into_owned());
            }
        }
    }
    None
}

impl CertificateNames {
    /// Reads the issuer and subject of an X.509 certificate (RFC 5280 4.1).
    fn read(der: &[u8]) -> Option<Self> {
        const CN: &[u8] = &[0x55, 0x04, 0x03];
        const O: &[u8] = &[0x55, 0x04, 0x0a];
        let (_, certificate, _) = element(der)?;
        let (_, tbs, _) = element(certificate)?;
        let mut fields = Vec::new();
        let mut rest = tbs;
        while let Some((tag, content, after)) = element(rest) {
            if !(fields.is_empty() && tag == 0xa0) {
                fields.push(content);
            }
            rest = after;
        }
        // serialNumber, signature, issuer, validity, subject.
        let issuer = fields.get(2)?;
        let subject = fields.get(4)?;
        Some(CertificateNames {
            subject_cn: attribute(subject, CN),
            subject_o: attribute(subject, O),
            issuer_cn: attribute(issuer, CN),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_says_who_it_is_and_who_issued_it() {
        let issuer_key = rcgen::KeyPair::generate().expect("key");
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "test-ca");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let issuer = rcgen::Issuer::new(ca, issuer_key);
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params =
            rcgen::CertificateParams::new(vec!["db.shop.test".to_owned()]).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "db.shop.test");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "pod shop/db-0\u{1b}]0;x");
        let cert = params.signed_by(&key, &issuer).expect("signed");
        assert_eq!(
            certificate_words(cert.der()),
            r#""db.shop.test" (O="pod shop/db-0\u{1b}]0;x"), issued by "test-ca""#
        );
        assert_eq!(
            certificate_words(b"\x30\x03\x02\x01"),
            "a certificate kubehop could not read"
        );
    }
}
