//! The settings every client of the command starts from: the bootstrap servers and, for a
//! secured cluster, the security the `KAFKA_EOS_SECURITY_PROTOCOL`, `KAFKA_EOS_SASL_*` and
//! `KAFKA_EOS_SSL_*` variables give (as for a pipeline: `Security::from_env`). Passwords come
//! from a variable or a file, never from a flag, so they are in no shell history and no
//! process list.

use kafka_eos_core::config::Security;
use rdkafka::ClientConfig;

use crate::error::CliError;

/// `bootstrap.servers` and the environment's security settings.
pub fn base(bootstrap: &str) -> Result<ClientConfig, CliError> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    for (key, value) in security()?.properties()? {
        config.set(key, value);
    }
    Ok(config)
}

/// The environment's security settings (plaintext when none is set).
pub fn security() -> Result<Security, CliError> {
    Ok(Security::from_env()?)
}

/// What the `--help` of the commands that connect says about a secured cluster.
pub const SECURITY_HELP: &str = "\
A secured cluster (TLS, SASL) is reached with the environment variables pipelines read:
  KAFKA_EOS_SECURITY_PROTOCOL   PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL
  KAFKA_EOS_SASL_MECHANISM      PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER
  KAFKA_EOS_SASL_USERNAME       the user
  KAFKA_EOS_SASL_PASSWORD_FILE  a file holding the password (or KAFKA_EOS_SASL_PASSWORD)
  KAFKA_EOS_SSL_CA_LOCATION     the CA certificates (PEM) of a private CA";
