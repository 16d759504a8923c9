//! The certificates the HTTPS listeners of the Ingress controller and the Gateways present:
//! one per name their rules or listeners take, issued by the sandbox CA when first asked for;
//! a name none takes (or no SNI) gets a certificate for a fallback name under `.invalid`,
//! which no client will accept for another name.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{ServerConfig, crypto::ring::default_provider};

use crate::notes::Notes;
use crate::tls::SandboxCa;

/// Whether a listener takes a (lower-case) server name.
type Takes = Box<dyn Fn(&str) -> bool + Send + Sync>;

/// Who presents the certificates, for notes, and the name of the certificate for names no
/// listener takes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Presenter {
    pub who: &'static str,
    pub fallback: &'static str,
}

struct Certificates {
    ca: Arc<SandboxCa>,
    presenter: Presenter,
    takes: Takes,
    issued: Mutex<HashMap<String, Arc<CertifiedKey>>>,
    notes: Notes,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Certificates of the {}", self.presenter.who)
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let asked = hello.server_name().map(str::to_ascii_lowercase);
        let name = asked
            .filter(|name| (self.takes)(name))
            .unwrap_or_else(|| self.presenter.fallback.to_owned());
        let mut issued = self.issued.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(key) = issued.get(&name) {
            return Some(key.clone());
        }
        match self.ca.issue(std::slice::from_ref(&name)) {
            Ok(key) => {
                let key = Arc::new(key);
                issued.insert(name, key.clone());
                Some(key)
            }
            Err(err) => {
                self.notes.push(format!(
                    "{}: cannot issue a certificate for {name}: {err}",
                    self.presenter.who
                ));
                None
            }
        }
    }
}

/// An HTTP/1.1 TLS acceptor presenting certificates for the names `takes` accepts; `None` (with
/// a note) when rustls has no protocol version to offer.
pub(crate) fn acceptor(
    ca: Arc<SandboxCa>,
    presenter: Presenter,
    notes: &Notes,
    takes: impl Fn(&str) -> bool + Send + Sync + 'static,
) -> Option<TlsAcceptor> {
    let resolver = Certificates {
        ca,
        presenter,
        takes: Box::new(takes),
        issued: Mutex::new(HashMap::new()),
        notes: notes.clone(),
    };
    let config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions();
    match config {
        Ok(config) => {
            let mut config = config
                .with_no_client_auth()
                .with_cert_resolver(Arc::new(resolver));
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Some(TlsAcceptor::from(Arc::new(config)))
        }
        Err(err) => {
            notes.push(format!("{}: no HTTPS: {err}", presenter.who));
            None
        }
    }
}
