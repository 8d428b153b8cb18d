//! `kafka-eos-demo verify`: re-reads the demo's input, output and dead-letter topics and
//! checks the invariant: every input record is in the output exactly once (as
//! `f(record)`) or in the dead-letter topic exactly once, each key's results and dead
//! letters in input order.

use std::collections::HashSet;
use std::time::Duration;

use kafka_eos_testkit::{check_exactly_once, read_committed_with, ExactlyOnceReport, Record};

use crate::error::DemoError;
use crate::orders::{expected_results, OrderEvent};

/// Arguments of `verify`.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// bootstrap.servers of the cluster.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
    pub bootstrap: String,
    /// Input topic (order events).
    #[arg(long, default_value = "orders")]
    pub input: String,
    /// Output topic (order results).
    #[arg(long, default_value = "order-results")]
    pub output: String,
    /// Dead-letter topic.
    #[arg(long, default_value = "orders-dlq")]
    pub dlq: String,
    /// Stop reading a topic after this long without a new record (ms).
    #[arg(long, default_value_t = 2000)]
    pub idle_ms: u64,
}

/// The invariant, checked on both sides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The output against `f(input records that were not dead-lettered)`.
    pub output: ExactlyOnceReport,
    /// The dead letters against the input records they name (and the undecodable input
    /// records, which must all be there): duplicates, strangers, missing, order.
    pub dead_letters: ExactlyOnceReport,
}

impl Outcome {
    /// Every input record exactly once in the output or the dead-letter topic, in order.
    pub fn holds(&self) -> bool {
        self.output.is_exactly_once() && self.dead_letters.is_exactly_once()
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "output: {}; dead letters: {}",
            self.output, self.dead_letters
        )
    }
}

/// Checks the output and the dead letters against the input (records compared by key and
/// value).
pub fn check(input: &[Record], output: &[Record], dlq: &[Record]) -> Outcome {
    let dead: HashSet<(&[u8], Option<&[u8]>)> = dlq
        .iter()
        .map(|r| (r.key.as_slice(), r.value.as_deref()))
        .collect();
    let mut events = Vec::new();
    let mut expected_dead = Vec::new();
    for r in input {
        let event = r
            .value
            .as_deref()
            .and_then(|v| serde_json::from_slice::<OrderEvent>(v).ok());
        let dead_lettered = dead.contains(&(r.key.as_slice(), r.value.as_deref()));
        match event {
            Some(e) if !dead_lettered => events.push(e),
            // a dead-lettered event, or a record that cannot be decoded (it must be one)
            _ => expected_dead.push(r.clone()),
        }
    }
    Outcome {
        output: check_exactly_once(&expected_results(&events), output),
        dead_letters: check_exactly_once(&expected_dead, dlq),
    }
}

/// Reads the three topics and checks them.
pub fn run(args: &VerifyArgs) -> Result<Outcome, DemoError> {
    let idle = Duration::from_millis(args.idle_ms);
    // a secured cluster: the KAFKA_EOS_SECURITY_PROTOCOL / SASL_* / SSL_* variables
    let client = crate::security::Access::from_env()?.client(&args.bootstrap)?;
    let input = read_committed_with(&client, &[&args.input], 0, idle)?;
    let dlq = read_committed_with(&client, &[&args.dlq], 0, idle)?;
    let output = read_committed_with(&client, &[&args.output], 0, idle)?;
    Ok(check(&input, &output, &dlq))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::{generate, input_records};

    #[test]
    fn a_record_must_be_in_the_output_or_the_dead_letters_once() {
        let events = generate(20, 3);
        let mut input = input_records(&events);
        input.push(Record::new("poison-1", "{not json"));
        let results = expected_results(&events);
        // event 0 dead-lettered instead of processed; the poison record dead-lettered
        let dlq = vec![input[0].clone(), input[input.len() - 1].clone()];
        let output: Vec<Record> = results[1..].to_vec();
        assert!(check(&input, &output, &dlq).holds());
        // twice in the dead letters
        let twice = vec![dlq[0].clone(), dlq[0].clone(), dlq[1].clone()];
        assert_eq!(check(&input, &output, &twice).dead_letters.duplicates, 1);
        // the poison record nowhere
        let lost = check(&input, &output, &dlq[..1]);
        assert_eq!(lost.dead_letters.missing, 1);
        // in both
        assert_eq!(check(&input, &results, &dlq).output.unexpected, 1);
    }
}
