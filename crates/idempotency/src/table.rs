//! [`TableName`]: an SQL store's table, checked once so it can be written into statements.

use std::fmt;

use crate::error::{Error, Result};

/// A table name that is safe to write into SQL as it is: `table` or `schema.table`, each part
/// letters, digits and `_`, not starting with a digit, at most 63 bytes (PostgreSQL's limit;
/// MariaDB allows 64).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableName(String);

impl TableName {
    pub(crate) fn new(name: &str) -> Result<Self> {
        let part_ok = |p: &str| {
            !p.is_empty()
                && p.len() <= 63
                && !p.starts_with(|c: char| c.is_ascii_digit())
                && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        let mut parts = name.split('.');
        let ok = parts.clone().count() <= 2 && parts.all(part_ok);
        if ok {
            Ok(TableName(name.to_owned()))
        } else {
            Err(Error::InvalidTable {
                table: name.to_owned(),
            })
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::TableName;

    #[test]
    fn only_plain_identifiers_are_accepted() {
        for ok in ["idempotency", "app.idempotency_keys", "_t1"] {
            assert!(TableName::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1t", "t;drop table x", "a.b.c", "t-1", "\"t\"", "a."] {
            assert!(TableName::new(bad).is_err(), "{bad}");
        }
    }
}
