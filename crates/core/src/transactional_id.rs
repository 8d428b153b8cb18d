//! Stable `transactional.id`s.

use std::fmt;

use kafka_eos_config::ConfigError;

use crate::error::{Error, Result};

/// A `transactional.id` that is stable across restarts of one pipeline instance.
///
/// The form is `<app>-<group>-<instance>`. A restarted instance reuses its id, so
/// its `init_transactions` fences the previous incarnation (a zombie) and aborts
/// whatever transaction the zombie left open. Two live instances must never share an
/// instance index.
///
/// ```
/// use kafka_eos_core::TransactionalId;
///
/// let id = TransactionalId::new("enricher", "orders", 3)?;
/// assert_eq!(id.as_str(), "enricher-orders-3");
/// # Ok::<(), kafka_eos_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TransactionalId(String);

impl TransactionalId {
    /// Builds `<app>-<group>-<instance>`; `app` and `group` must be non-empty and use
    /// only ASCII letters, digits, `.`, `_` and `-` (a Kafka-safe id).
    pub fn new(app: &str, group: &str, instance: u32) -> Result<Self> {
        check_part("app", app)?;
        check_part("group_id", group)?;
        Ok(TransactionalId(format!("{app}-{group}-{instance}")))
    }

    /// Uses `id` as is (after the same character check).
    pub fn from_raw(id: &str) -> Result<Self> {
        check_part("transactional_id", id)?;
        Ok(TransactionalId(id.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

fn check_part(field: &'static str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::Config(ConfigError::Missing { field }));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(Error::Config(ConfigError::Invalid {
            field: field.to_owned(),
            value: value.to_owned(),
            reason: format!("character {bad:?} is not allowed in a transactional id (use ASCII letters, digits, '.', '_', '-')"),
        }));
    }
    Ok(())
}

impl fmt::Display for TransactionalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TransactionalId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_format() {
        let a = TransactionalId::new("app", "grp", 0).unwrap();
        let b = TransactionalId::new("app", "grp", 0).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "app-grp-0");
        assert_ne!(a, TransactionalId::new("app", "grp", 1).unwrap());
    }

    #[test]
    fn rejects_bad_parts() {
        assert!(matches!(
            TransactionalId::new("", "g", 0),
            Err(Error::Config(ConfigError::Missing { field: "app" }))
        ));
        assert!(matches!(
            TransactionalId::new("a b", "g", 0),
            Err(Error::Config(ConfigError::Invalid { .. }))
        ));
        assert!(TransactionalId::from_raw("x/y").is_err());
        assert!(TransactionalId::from_raw("x.y_z-1").is_ok());
    }
}
