//! The exit statuses of `kafka-eos-demo` (the demo, `worker` and `verify`): one table for the
//! binary and for the suites that start and kill its workers.

use crate::error::DemoError;

/// Success: the demo verified exactly once, or a worker stopped gracefully.
pub const OK: u8 = 0;
/// Any error not listed below.
pub const FAILED: u8 = 1;
/// The output is not exactly f(input) (duplicates, missing records, order violations).
pub const NOT_EXACTLY_ONCE: u8 = 2;
/// A worker was fenced by a newer instance with the same `--instance` (a zombie stopped).
pub const FENCED: u8 = 3;

/// The exit status for an error.
pub fn code_of(error: &DemoError) -> u8 {
    match error {
        e if e.is_fenced() => FENCED,
        DemoError::NotExactlyOnce(_) | DemoError::TablesNotExactlyOnce(_) => NOT_EXACTLY_ONCE,
        _ => FAILED,
    }
}
