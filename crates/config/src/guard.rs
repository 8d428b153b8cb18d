//! Checks of free-form librdkafka overrides against the guarantees of a profile.
//!
//! Every librdkafka property may be overridden, except that a value which breaks a
//! delivery guarantee is rejected with [`ConfigError::Unsafe`], and the properties that
//! have a typed field (`bootstrap.servers`, `group.id`, `transactional.id`) must be set
//! through that field.

use crate::error::{ConfigError, Result};
use crate::mode::Mode;

/// The largest `max.in.flight.requests.per.connection` the idempotent producer keeps
/// ordering with.
pub const MAX_IN_FLIGHT_LIMIT: u32 = 5;

/// What an override is checked against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GuardContext {
    pub(crate) mode: Mode,
    pub(crate) transactional: bool,
    pub(crate) commit_interval_ms: Option<u64>,
}

/// Parses a librdkafka boolean the way librdkafka does (plus `yes`/`no`/`on`/`off`).
pub(crate) fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "1" | "yes" | "on" => Ok(true),
        "false" | "f" | "0" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::invalid(key, value, "expected a boolean")),
    }
}

pub(crate) fn parse_u64(key: &str, value: &str) -> Result<u64> {
    value
        .trim()
        .parse::<u64>()
        .map_err(|_| ConfigError::invalid(key, value, "expected a non-negative integer"))
}

fn managed(key: &str, value: &str, field: &str) -> ConfigError {
    ConfigError::invalid(
        key,
        value,
        format!("this property is set through the typed field `{field}`, not as an override"),
    )
}

/// Checks one producer override; returns the normalised key on success.
pub(crate) fn check_producer_override(key: &str, value: &str, ctx: GuardContext) -> Result<()> {
    let k = key.trim().to_ascii_lowercase();
    match k.as_str() {
        "bootstrap.servers" | "metadata.broker.list" => {
            Err(managed(key, value, "bootstrap_servers"))
        }
        "transactional.id" => Err(managed(key, value, "transactional_id")),
        "enable.idempotence" => {
            if parse_bool(key, value)? {
                Ok(())
            } else {
                Err(ConfigError::unsafe_setting(
                    key,
                    value,
                    "the idempotent producer is required: without it a retried produce can write a record twice and transactions are impossible",
                ))
            }
        }
        "acks" | "request.required.acks" => {
            let v = value.trim().to_ascii_lowercase();
            if v == "all" || v == "-1" {
                Ok(())
            } else {
                Err(ConfigError::unsafe_setting(
                    key,
                    value,
                    "with idempotence acks must be `all` (-1): a record acknowledged by the leader alone is lost if the leader fails",
                ))
            }
        }
        "max.in.flight.requests.per.connection" | "max.in.flight" => {
            let n = parse_u64(key, value)?;
            if n == 0 {
                Err(ConfigError::invalid(key, value, "must be at least 1"))
            } else if n > u64::from(MAX_IN_FLIGHT_LIMIT) {
                Err(ConfigError::unsafe_setting(
                    key,
                    value,
                    format!(
                        "the idempotent producer keeps per-partition ordering with at most {MAX_IN_FLIGHT_LIMIT} requests in flight"
                    ),
                ))
            } else {
                Ok(())
            }
        }
        "retries" | "message.send.max.retries" => {
            if parse_u64(key, value)? == 0 {
                Err(ConfigError::unsafe_setting(
                    key,
                    value,
                    "retries must stay unbounded (bounded by delivery.timeout.ms); with 0 retries a transient error drops the record",
                ))
            } else {
                Ok(())
            }
        }
        "transaction.timeout.ms" => {
            let ms = parse_u64(key, value)?;
            check_transaction_timeout(key, ms, ctx)
        }
        _ => Ok(()),
    }
}

/// Checks that a transaction timeout is longer than the commit interval.
pub(crate) fn check_transaction_timeout(key: &str, ms: u64, ctx: GuardContext) -> Result<()> {
    if !ctx.transactional {
        return Ok(());
    }
    if let Some(interval) = ctx.commit_interval_ms {
        if ms <= interval {
            return Err(ConfigError::unsafe_setting(
                key,
                ms.to_string(),
                format!(
                    "the transaction timeout must be longer than the commit interval ({interval} ms): the coordinator would abort every transaction before it commits"
                ),
            ));
        }
    }
    Ok(())
}

/// Checks one consumer override.
pub(crate) fn check_consumer_override(key: &str, value: &str, ctx: GuardContext) -> Result<()> {
    let k = key.trim().to_ascii_lowercase();
    match k.as_str() {
        "bootstrap.servers" | "metadata.broker.list" => {
            Err(managed(key, value, "bootstrap_servers"))
        }
        "group.id" => Err(managed(key, value, "group_id")),
        "enable.auto.commit" | "auto.commit.enable" => {
            if parse_bool(key, value)? && ctx.mode.is_exactly_once() {
                Err(ConfigError::unsafe_setting(
                    key,
                    value,
                    "in exactly-once mode offsets are committed inside the producer's transaction; auto-commit would commit them outside it",
                ))
            } else {
                Ok(())
            }
        }
        "partition.assignment.strategy" => {
            if value.to_ascii_lowercase().contains("cooperative") {
                Err(ConfigError::unsafe_setting(
                    key,
                    value,
                    "the pipeline drops polled records on every rebalance and relies on every assigned partition resuming from its committed offset, which holds for the eager assignors (range, roundrobin) but not for incremental cooperative rebalancing",
                ))
            } else {
                Ok(())
            }
        }
        "enable.auto.offset.store" => {
            if parse_bool(key, value)? {
                Err(ConfigError::unsafe_setting(
                    key,
                    value,
                    "automatic offset store marks a record consumed before it is processed; a crash would then lose it",
                ))
            } else {
                Ok(())
            }
        }
        "isolation.level" => {
            let v = value.trim().to_ascii_lowercase();
            match v.as_str() {
                "read_committed" => Ok(()),
                "read_uncommitted" if !ctx.mode.is_exactly_once() => Ok(()),
                "read_uncommitted" => Err(ConfigError::unsafe_setting(
                    key,
                    value,
                    "in exactly-once mode the consumer must read committed data only; read_uncommitted sees records of aborted transactions",
                )),
                _ => Err(ConfigError::invalid(
                    key,
                    value,
                    "expected `read_committed` or `read_uncommitted`",
                )),
            }
        }
        _ => Ok(()),
    }
}
