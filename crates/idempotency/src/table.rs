//! [`TableName`]: an SQL store's table, checked once so it can be written into statements.

use std::fmt;

use crate::error::{Error, Result};

/// A table name that is safe to write into SQL as it is ([`kafka_eos_sql::is_valid_table_name`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableName(String);

impl TableName {
    pub(crate) fn new(name: &str) -> Result<Self> {
        if kafka_eos_sql::is_valid_table_name(name) {
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
