//! The exactly-once checker.

use std::collections::HashMap;
use std::fmt;

use std::time::Duration;

use crate::error::Result;
use crate::io::{read_committed, read_committed_async, Record};

/// What [`check_exactly_once`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExactlyOnceReport {
    /// Records expected (`f(input)`).
    pub expected: usize,
    /// Records read.
    pub actual: usize,
    /// Extra copies of expected records.
    pub duplicates: usize,
    /// Expected records never read.
    pub missing: usize,
    /// Records read that are not in `f(input)`.
    pub unexpected: usize,
    /// Keys whose records were read out of their input order.
    pub order_violations: usize,
}

impl ExactlyOnceReport {
    /// No duplicate, nothing missing, nothing unexpected, every key in order.
    pub fn is_exactly_once(&self) -> bool {
        self.duplicates == 0
            && self.missing == 0
            && self.unexpected == 0
            && self.order_violations == 0
    }
}

impl fmt::Display for ExactlyOnceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "expected {}, read {}: {} duplicates, {} missing, {} unexpected, {} keys out of order",
            self.expected,
            self.actual,
            self.duplicates,
            self.missing,
            self.unexpected,
            self.order_violations
        )
    }
}

/// What records are compared by: the key and the value (`None`: a tombstone).
type KeyValue<'a> = (&'a [u8], Option<&'a [u8]>);

/// Compares `actual` (as read, in per-partition order) with `expected` (`f(input)`, each
/// key's records in input order). Records are compared by key and value (a tombstone is
/// a value of its own, not an empty one).
pub fn check_exactly_once(expected: &[Record], actual: &[Record]) -> ExactlyOnceReport {
    let mut report = ExactlyOnceReport {
        expected: expected.len(),
        actual: actual.len(),
        ..Default::default()
    };
    let mut want: HashMap<KeyValue<'_>, usize> = HashMap::new();
    for r in expected {
        *want.entry(key_value(r)).or_default() += 1;
    }
    let mut seen: HashMap<KeyValue<'_>, usize> = HashMap::new();
    for r in actual {
        *seen.entry(key_value(r)).or_default() += 1;
    }
    for (k, n) in &seen {
        match want.get(k) {
            None => report.unexpected += n,
            Some(w) if n > w => report.duplicates += n - w,
            Some(_) => {}
        }
    }
    for (k, w) in &want {
        let n = seen.get(k).copied().unwrap_or(0);
        if n < *w {
            report.missing += w - n;
        }
    }
    // per key: the first occurrences of expected values must come in the expected order
    let mut position: HashMap<KeyValue<'_>, usize> = HashMap::new();
    for r in expected {
        let next = position.len();
        position.entry(key_value(r)).or_insert(next);
    }
    let mut last_position: HashMap<&[u8], usize> = HashMap::new();
    let mut first_seen: std::collections::HashSet<KeyValue<'_>> = Default::default();
    let mut out_of_order: std::collections::HashSet<&[u8]> = Default::default();
    for r in actual {
        let k = key_value(r);
        if !first_seen.insert(k) {
            continue;
        }
        let Some(&pos) = position.get(&k) else {
            continue;
        };
        if let Some(prev) = last_position.insert(&r.key, pos) {
            if prev > pos {
                out_of_order.insert(&r.key);
            }
        }
    }
    report.order_violations = out_of_order.len();
    report
}

fn key_value(r: &Record) -> KeyValue<'_> {
    (&r.key, r.value.as_deref())
}

/// How long [`verify_topic`] keeps reading after the expected count, to catch duplicates.
const VERIFY_LINGER: Duration = Duration::from_secs(1);

/// Reads `topic` with a `read_committed` reader (lingering a second after the expected
/// count, to catch duplicates) and compares it with `expected` (`f(input)`).
///
/// Blocks the calling thread while it reads: in async code use [`verify_topic_async`].
pub fn verify_topic(
    bootstrap: &str,
    topic: &str,
    expected: &[Record],
) -> Result<ExactlyOnceReport> {
    let output = read_committed(bootstrap, topic, expected.len(), VERIFY_LINGER)?;
    Ok(check_exactly_once(expected, &output))
}

/// [`verify_topic`] without blocking the runtime (the reader runs on Tokio's blocking pool).
/// Works on any runtime flavour, the current-thread one included.
pub async fn verify_topic_async(
    bootstrap: &str,
    topic: &str,
    expected: &[Record],
) -> Result<ExactlyOnceReport> {
    let output = read_committed_async(bootstrap, topic, expected.len(), VERIFY_LINGER).await?;
    Ok(check_exactly_once(expected, &output))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(k: &str, v: &str) -> Record {
        Record::new(k, v)
    }

    #[test]
    fn a_perfect_run_passes() {
        let exp = vec![r("a", "1"), r("b", "1"), r("a", "2")];
        let act = vec![r("b", "1"), r("a", "1"), r("a", "2")];
        let rep = check_exactly_once(&exp, &act);
        assert!(rep.is_exactly_once(), "{rep}");
    }

    #[test]
    fn duplicates_missing_unexpected_and_order_are_counted() {
        let exp = vec![r("a", "1"), r("a", "2"), r("b", "1"), r("c", "1")];
        let act = vec![
            r("a", "2"),
            r("a", "1"),
            r("b", "1"),
            r("b", "1"),
            r("x", "9"),
        ];
        let rep = check_exactly_once(&exp, &act);
        assert_eq!(
            (
                rep.duplicates,
                rep.missing,
                rep.unexpected,
                rep.order_violations
            ),
            (1, 1, 1, 1)
        );
        assert!(!rep.is_exactly_once());
    }
}
