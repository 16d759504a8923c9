//! TLS pods: a pod annotated [`APP_ANNOTATION`](super::dns::APP_ANNOTATION)`: tls` terminates
//! TLS itself on every port, as the backend of a TLS passthrough route does, and then answers
//! HTTP or echoes inside it like any pod app. A connection whose first byte is not a TLS
//! handshake record is answered in the clear.
//!
//! Its certificate, issued by the sandbox CA when first asked for, names the server name the
//! client asked for (`CN` and a DNS SAN; without SNI `NAME.NAMESPACE.pod.sandbox.invalid`)
//! and the pod itself in its organisation (`O=kubehop sandbox pod NAMESPACE/NAME`), so a
//! client can tell a backend's certificate from a Gateway's.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use k8s_openapi::api::core::v1::Pod;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{ServerConfig, crypto::ring::default_provider};

use super::dns::APP_ANNOTATION;
use crate::tls::SandboxCa;

/// The [`APP_ANNOTATION`] value of a pod whose app speaks TLS.
pub const TLS_APP: &str = "tls";

/// Whether the pod's app terminates TLS.
pub fn is_tls_pod(pod: &Pod) -> bool {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(APP_ANNOTATION))
        .is_some_and(|value| value == TLS_APP)
}

/// The organisation a pod's certificates carry.
pub fn organization(namespace: &str, name: &str) -> String {
    format!("kubehop sandbox pod {namespace}/{name}")
}

struct PodCertificates {
    ca: Arc<SandboxCa>,
    namespace: String,
    name: String,
    issued: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl std::fmt::Debug for PodCertificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "certificates of pod {}/{}", self.namespace, self.name)
    }
}

impl ResolvesServerCert for PodCertificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello
            .server_name()
            .map(str::to_ascii_lowercase)
            .unwrap_or_else(|| format!("{}.{}.pod.sandbox.invalid", self.name, self.namespace));
        let mut issued = self.issued.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(key) = issued.get(&name) {
            return Some(key.clone());
        }
        let organization = organization(&self.namespace, &self.name);
        let key = self
            .ca
            .issue_for(std::slice::from_ref(&name), Some(&organization))
            .map_err(|err| tracing::warn!("pod {}: no certificate for {name}: {err}", self.name))
            .ok()?;
        let key = Arc::new(key);
        issued.insert(name, key.clone());
        Some(key)
    }
}

/// The acceptor of pod `namespace/name`'s app; `None` when rustls offers no protocol version.
pub(crate) fn acceptor(ca: Arc<SandboxCa>, namespace: &str, name: &str) -> Option<TlsAcceptor> {
    let resolver = PodCertificates {
        ca,
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        issued: Mutex::new(HashMap::new()),
    };
    let config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .ok()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    Some(TlsAcceptor::from(Arc::new(config)))
}

/// A stream whose first reads return bytes already read from it.
pub(crate) struct Replay<S> {
    prefix: Vec<u8>,
    offset: usize,
    inner: S,
}

impl<S> Replay<S> {
    pub(crate) fn new(prefix: Vec<u8>, inner: S) -> Self {
        Replay {
            prefix,
            offset: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Replay<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.offset < self.prefix.len() {
            let rest = &self.prefix[self.offset..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            self.offset += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replay<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
