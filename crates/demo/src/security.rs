//! How the demo's clients reach the cluster: plaintext on the embedded broker; `--secure`:
//! the embedded broker serves TLS (certificates generated for the run) and SASL/SCRAM
//! (user `demo`, a random password the workers read from a file); on an external cluster
//! (`--bootstrap`), the `KAFKA_EOS_SECURITY_PROTOCOL` / `KAFKA_EOS_SASL_*` /
//! `KAFKA_EOS_SSL_*` variables, which the workers inherit.

use std::path::{Path, PathBuf};

use kafka_eos_broker::{BrokerConfig, TestCertificates};
use kafka_eos_processor::config::{ClientConfig, Sasl, SecretSource, Security};
use rand::Rng;

use crate::error::DemoError;

/// The SASL user of `--secure`.
pub const USER: &str = "demo";

/// The security of one run: the settings of the demo's own clients and the variables that
/// give the workers the same.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The settings (secrets by file or variable; nothing printable).
    pub security: Security,
    /// Variables for the worker processes (a secret only as a file path).
    pub worker_env: Vec<(String, String)>,
}

impl Access {
    /// The settings of the `KAFKA_EOS_*` security variables (plaintext when none is set).
    pub fn from_env() -> Result<Self, DemoError> {
        Ok(Self {
            security: Security::from_env()?,
            worker_env: Vec::new(),
        })
    }

    /// `--secure`: generates a CA and a broker certificate and a password into `dir`, adds
    /// TLS and the user to `config`, and returns the clients' settings: SASL_SSL with
    /// SCRAM-SHA-512, the CA, the password read from its file.
    pub fn secure(config: BrokerConfig, dir: &Path) -> Result<(BrokerConfig, Self), DemoError> {
        std::fs::create_dir_all(dir)?;
        let certs = TestCertificates::generate(&["localhost", "127.0.0.1"])?;
        let ca = dir.join("ca.pem");
        certs.write_ca(&ca)?;
        let password: String = rand::thread_rng()
            .sample_iter(rand::distributions::Alphanumeric)
            .take(24)
            .map(char::from)
            .collect();
        let password_file = dir.join("password");
        write_private(&password_file, &password)?;
        let config = config.tls(certs.identity()).sasl_user(USER, password);
        let security = Security::sasl_ssl(Sasl::scram_sha_512(
            USER,
            SecretSource::File(password_file.clone()),
        ))
        .ca_location(&ca);
        let path = |p: &PathBuf| p.display().to_string();
        let worker_env = [
            ("KAFKA_EOS_SECURITY_PROTOCOL", "SASL_SSL".to_owned()),
            ("KAFKA_EOS_SASL_MECHANISM", "SCRAM-SHA-512".to_owned()),
            ("KAFKA_EOS_SASL_USERNAME", USER.to_owned()),
            ("KAFKA_EOS_SASL_PASSWORD_FILE", path(&password_file)),
            ("KAFKA_EOS_SSL_CA_LOCATION", path(&ca)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        Ok((
            config,
            Self {
                security,
                worker_env,
            },
        ))
    }

    /// Settings for a client of the demo itself (writer, reader) on `bootstrap`.
    pub fn client(&self, bootstrap: &str) -> Result<ClientConfig, DemoError> {
        let mut config = kafka_eos_testkit::client_config(bootstrap);
        for (key, value) in self.security.properties()? {
            config.set(key, value);
        }
        Ok(config)
    }

    /// One line for the report: `PLAINTEXT`, or `SASL_SSL (SCRAM-SHA-512, user demo)`.
    pub fn describe(&self) -> String {
        match self.security.sasl() {
            Some(sasl) => format!(
                "{} ({}, user {})",
                self.security.protocol(),
                sasl.mechanism(),
                sasl.username()
            ),
            None => self.security.protocol().to_string(),
        }
    }
}

/// Writes `contents` to a new file only its owner may read.
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path)?.write_all(contents.as_bytes())
}
