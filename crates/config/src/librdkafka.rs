//! Every rendered property checked by librdkafka's own parser, without creating a client
//! (nothing connects): a misspelt name (`linger.mss`) or a bad value fails at build time,
//! naming the property.

use rdkafka::error::KafkaError;
use rdkafka::ClientConfig;

use crate::error::{ConfigError, Result};

/// Hands each property of `config` to librdkafka (`rd_kafka_conf_set`) and maps its refusal
/// to [`ConfigError::Invalid`] with the property's name, value and librdkafka's reason.
pub(crate) fn check(config: &ClientConfig) -> Result<()> {
    match config.create_native_config() {
        Ok(_) => Ok(()),
        Err(KafkaError::ClientConfig(_, reason, key, value)) => {
            Err(ConfigError::invalid(key, value, reason))
        }
        Err(other) => Err(ConfigError::invalid(
            "librdkafka configuration",
            "",
            other.to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_and_bad_values_are_refused_with_the_property() {
        let mut ok = ClientConfig::new();
        ok.set("bootstrap.servers", "127.0.0.1:1")
            .set("linger.ms", "5");
        assert!(check(&ok).is_ok());

        let mut typo = ok.clone();
        typo.set("linger.mss", "5");
        let err = check(&typo).unwrap_err();
        assert_eq!(err.key(), Some("linger.mss"), "{err}");

        let mut bad = ok.clone();
        bad.set("linger.ms", "soon");
        let err = check(&bad).unwrap_err();
        assert_eq!(err.key(), Some("linger.ms"), "{err}");
        assert!(err.to_string().contains("soon"), "{err}");
    }
}
