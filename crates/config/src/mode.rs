//! Delivery mode of a pipeline.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// The delivery guarantee a pipeline runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Outputs and input offsets are committed atomically in one Kafka transaction;
    /// consumers read with `isolation.level=read_committed`.
    #[default]
    ExactlyOnce,
    /// Outputs are produced with an idempotent (non-transactional) producer and the
    /// input offsets are committed after the outputs are acknowledged. A crash can
    /// cause duplicates but never loss.
    AtLeastOnce,
}

impl Mode {
    /// `true` for [`Mode::ExactlyOnce`].
    pub fn is_exactly_once(self) -> bool {
        matches!(self, Mode::ExactlyOnce)
    }

    /// The canonical string form (`exactly_once` / `at_least_once`).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::ExactlyOnce => "exactly_once",
            Mode::AtLeastOnce => "at_least_once",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "exactly_once" | "eos" => Ok(Mode::ExactlyOnce),
            "at_least_once" | "alo" => Ok(Mode::AtLeastOnce),
            _ => Err(ConfigError::invalid(
                "mode",
                s,
                "expected `exactly_once` or `at_least_once`",
            )),
        }
    }
}

/// Where a consumer starts when its group has no committed offset for a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoOffsetReset {
    /// Start at the earliest available offset (the default: nothing is skipped).
    #[default]
    Earliest,
    /// Start at the end of the partition (only records produced after the first join are read).
    Latest,
}

impl AutoOffsetReset {
    /// The librdkafka value of `auto.offset.reset`.
    pub fn as_str(self) -> &'static str {
        match self {
            AutoOffsetReset::Earliest => "earliest",
            AutoOffsetReset::Latest => "latest",
        }
    }
}

impl FromStr for AutoOffsetReset {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "earliest" | "smallest" | "beginning" => Ok(AutoOffsetReset::Earliest),
            "latest" | "largest" | "end" => Ok(AutoOffsetReset::Latest),
            _ => Err(ConfigError::invalid(
                "auto_offset_reset",
                s,
                "expected `earliest` or `latest`",
            )),
        }
    }
}
