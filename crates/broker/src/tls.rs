//! TLS for the listener (rustls on ring): the server identity, the acceptor, and test
//! certificates generated at run time (a self-signed CA and a server certificate it signs),
//! so no private key is ever committed.

use std::fmt;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

use crate::error::{Error, Result};

/// The broker's TLS identity: a PEM certificate chain (server certificate first) and the
/// PEM private key (PKCS#8, PKCS#1 or SEC1) of its first certificate.
///
/// Its `Debug` output never shows the key.
#[derive(Clone)]
pub struct TlsIdentity {
    cert_chain_pem: String,
    private_key_pem: String,
}

impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("cert_chain_pem", &self.cert_chain_pem)
            .field("private_key_pem", &"<redacted>")
            .finish()
    }
}

impl TlsIdentity {
    /// An identity from PEM text; checked when the broker starts.
    pub fn from_pem(cert_chain_pem: impl Into<String>, private_key_pem: impl Into<String>) -> Self {
        Self {
            cert_chain_pem: cert_chain_pem.into(),
            private_key_pem: private_key_pem.into(),
        }
    }

    /// An identity read from a PEM certificate chain file and a PEM private key file.
    pub fn from_files(cert_chain: impl AsRef<Path>, private_key: impl AsRef<Path>) -> Result<Self> {
        Ok(Self::from_pem(
            read(cert_chain.as_ref())?,
            read(private_key.as_ref())?,
        ))
    }

    /// The PEM certificate chain.
    pub fn cert_chain_pem(&self) -> &str {
        &self.cert_chain_pem
    }

    /// The acceptor serving this identity over TLS 1.2 and 1.3, without client certificates.
    pub(crate) fn acceptor(&self) -> Result<TlsAcceptor> {
        let certs = rustls_pemfile::certs(&mut BufReader::new(self.cert_chain_pem.as_bytes()))
            .collect::<Result<Vec<CertificateDer<'static>>, _>>()
            .map_err(|e| Error::tls("reading the PEM certificate chain", e))?;
        if certs.is_empty() {
            return Err(Error::tls(
                "reading the PEM certificate chain",
                "no CERTIFICATE block found",
            ));
        }
        let key: PrivateKeyDer<'static> =
            rustls_pemfile::private_key(&mut BufReader::new(self.private_key_pem.as_bytes()))
                .map_err(|e| Error::tls("reading the PEM private key", e))?
                .ok_or_else(|| {
                    Error::tls("reading the PEM private key", "no PRIVATE KEY block found")
                })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::tls("choosing the TLS versions", e))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| Error::tls("loading the certificate and key", e))?;
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::File {
        path: path.to_owned(),
        source,
    })
}

/// Certificates for tests and local work, generated at run time: a self-signed CA and a
/// server certificate for the given names (DNS names or IP addresses) signed by it.
///
/// ```
/// use kafka_eos_broker::{BrokerConfig, TestCertificates};
/// let certs = TestCertificates::generate(&["localhost", "127.0.0.1"])?;
/// let config = BrokerConfig::default().tls(certs.identity());
/// assert!(certs.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
/// # let _ = config;
/// # Ok::<(), kafka_eos_broker::Error>(())
/// ```
#[derive(Clone)]
pub struct TestCertificates {
    ca_pem: String,
    identity: TlsIdentity,
}

impl fmt::Debug for TestCertificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCertificates")
            .field("ca_pem", &self.ca_pem)
            .field("identity", &self.identity)
            .finish()
    }
}

impl TestCertificates {
    /// Generates a CA and a server certificate valid for `names` (e.g. `["localhost",
    /// "127.0.0.1"]`; names that parse as IP addresses become IP subject alternative names).
    pub fn generate(names: &[&str]) -> Result<Self> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
            KeyUsagePurpose,
        };
        let generating = |e: rcgen::Error| Error::tls("generating test certificates", e);
        let ca_key = KeyPair::generate().map_err(generating)?;
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(generating)?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "kafka-eos embedded broker test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).map_err(generating)?;

        let server_key = KeyPair::generate().map_err(generating)?;
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut server = CertificateParams::new(names.clone()).map_err(generating)?;
        server.distinguished_name.push(
            DnType::CommonName,
            names.first().map_or("kafka-eos", String::as_str),
        );
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        server.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let server_cert = server
            .signed_by(&server_key, &ca_cert, &ca_key)
            .map_err(generating)?;
        Ok(Self {
            ca_pem: ca_cert.pem(),
            identity: TlsIdentity::from_pem(server_cert.pem(), server_key.serialize_pem()),
        })
    }

    /// The CA certificate (PEM) clients trust, e.g. as librdkafka's `ssl.ca.pem` or, written
    /// with [`write_ca`](Self::write_ca), `ssl.ca.location`.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The server identity for [`BrokerConfig::tls`](crate::BrokerConfig::tls).
    pub fn identity(&self) -> TlsIdentity {
        self.identity.clone()
    }

    /// Writes the CA certificate (PEM) to `path`.
    pub fn write_ca(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, &self.ca_pem).map_err(|source| Error::File {
            path: path.to_owned(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificates_make_an_acceptor() {
        let certs = TestCertificates::generate(&["localhost", "127.0.0.1"]).unwrap();
        assert!(certs.identity().acceptor().is_ok());
        assert!(!format!("{certs:?}").contains("PRIVATE KEY"));
    }

    #[test]
    fn a_missing_key_is_an_error() {
        let certs = TestCertificates::generate(&["localhost"]).unwrap();
        let bad = TlsIdentity::from_pem(certs.ca_pem(), "");
        let e = bad.acceptor().err().unwrap();
        assert!(e.to_string().contains("PRIVATE KEY"), "{e}");
    }
}
