//! The sandbox's serving certificate: a fresh CA per sandbox and a server certificate for the
//! listen address, signed by it. The CA goes into the kubeconfig as
//! `certificate-authority-data`.
//!
//! TLS is the default because client-go (kubectl) only sends credentials over TLS: against a
//! plain-HTTP server it drops the kubeconfig's bearer token and every request is anonymous.

use std::net::IpAddr;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{CipherSuite, ServerConfig};

/// Why the serving certificate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot generate the sandbox certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("cannot configure TLS: {0}")]
    Config(#[from] tokio_rustls::rustls::Error),
}

/// The AES-128-GCM suites (TLS 1.3, TLS 1.2).
const AES_128_GCM: [CipherSuite; 3] = [
    CipherSuite::TLS13_AES_128_GCM_SHA256,
    CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
];

/// A TLS acceptor and the CA clients must trust.
#[derive(Clone)]
pub(crate) struct ServingTls {
    pub acceptor: TlsAcceptor,
    pub ca_pem: String,
    /// The CA itself, for the data plane's certificates (the Ingress controller's).
    pub ca: Arc<SandboxCa>,
}

/// The sandbox's CA: signs the API server's certificate and the Ingress controller's.
pub struct SandboxCa {
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
}

impl std::fmt::Debug for SandboxCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SandboxCa")
    }
}

impl SandboxCa {
    /// A server certificate for `names` (DNS names; an IP address as an IP SAN), with the CA
    /// after it in the chain.
    pub(crate) fn issue(&self, names: &[String]) -> Result<CertifiedKey, TlsError> {
        self.issue_for(names, None)
    }

    /// [`Self::issue`], the subject naming `organization` as well (a TLS pod names itself).
    pub(crate) fn issue_for(
        &self,
        names: &[String],
        organization: Option<&str>,
    ) -> Result<CertifiedKey, TlsError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        for name in names {
            params.subject_alt_names.push(match name.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(name.clone().try_into()?),
            });
        }
        params.distinguished_name.push(
            DnType::CommonName,
            names
                .first()
                .map_or("kubehop-sandbox-ingress", String::as_str),
        );
        if let Some(organization) = organization {
            params
                .distinguished_name
                .push(DnType::OrganizationName, organization);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let cert = params.signed_by(&key, &self.issuer)?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signing = tokio_rustls::rustls::crypto::ring::sign::any_supported_type(&der)?;
        Ok(CertifiedKey::new(
            vec![cert.der().clone(), self.der.clone()],
            signing,
        ))
    }
}

/// Makes a CA and a server certificate valid for `ip` and `localhost`.
pub(crate) fn serving_tls(ip: IpAddr) -> Result<ServingTls, TlsError> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "kubehop-sandbox-ca");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let ca = Arc::new(SandboxCa {
        issuer,
        der: ca_cert.der().clone(),
    });

    let server_key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec!["localhost".to_string()])?;
    params.subject_alt_names.push(SanType::IpAddress(ip));
    params
        .distinguished_name
        .push(DnType::CommonName, "kubehop-sandbox");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let server_cert = params.signed_by(&server_key, &ca.issuer)?;

    // The cipher an API server picks: Go's crypto/tls prefers AES-128-GCM over the client's
    // order (AES-256-GCM first for rustls) on CPUs with AES instructions.
    let mut provider = tokio_rustls::rustls::crypto::ring::default_provider();
    provider
        .cipher_suites
        .sort_by_key(|suite| !AES_128_GCM.contains(&suite.suite()));
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![
                server_cert.der().clone(),
                CertificateDer::from(ca_cert.der().to_vec()),
            ],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        )?;
    config.ignore_client_order = true;
    // HTTP/1.1 only: WebSocket upgrades (port-forward) need it.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(ServingTls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        ca_pem: ca_cert.pem(),
        ca,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_rustls::TlsConnector;
    use tokio_rustls::rustls::pki_types::ServerName;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::{ClientConfig, RootCertStore};

    #[tokio::test]
    async fn negotiates_aes_128_gcm_whatever_the_client_prefers() {
        let ip = IpAddr::from([127, 0, 0, 1]);
        let serving = serving_tls(ip).expect("certificate");
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(serving.ca_pem.as_bytes()).expect("CA PEM"))
            .expect("CA");
        // rustls's client order starts with AES-256-GCM.
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        assert_eq!(
            provider.cipher_suites[0].suite(),
            CipherSuite::TLS13_AES_256_GCM_SHA384
        );
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let accept = serving.acceptor.accept(server_io);
        let connect = TlsConnector::from(Arc::new(client)).connect(ServerName::from(ip), client_io);
        let (server, client) = tokio::join!(accept, connect);
        server.expect("server handshake");
        let client = client.expect("client handshake");
        assert_eq!(
            client
                .get_ref()
                .1
                .negotiated_cipher_suite()
                .map(|s| s.suite()),
            Some(CipherSuite::TLS13_AES_128_GCM_SHA256)
        );
    }
}
