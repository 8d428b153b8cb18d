//! The pipeline's metrics as [`metrics`] facade handles: registered once, when the
//! pipeline starts, so that updating one is an atomic operation, never a lookup by name.

use ::metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Level, Metadata, Recorder, Unit};

use super::names;
use super::ATTEMPT_BUCKETS;

/// Where the handles say they come from (some recorders filter on it).
static METADATA: Metadata<'static> = Metadata::new("kafka_eos", Level::INFO, Some(module_path!()));

/// One handle per metric of [`super::Metrics`], each carrying the pipeline's labels.
#[derive(Debug)]
pub(super) struct Facade {
    pub(super) records_in: Counter,
    pub(super) records_out: Counter,
    pub(super) records_polled: Counter,
    pub(super) records_replayed: Counter,
    pub(super) process_calls: Counter,
    pub(super) transactions_begun: Counter,
    pub(super) commits: Counter,
    pub(super) aborts: [Counter; super::ABORT_CAUSES],
    pub(super) fencings: Counter,
    pub(super) retries: Counter,
    pub(super) record_retries: [Counter; ATTEMPT_BUCKETS],
    pub(super) send_failures: Counter,
    pub(super) producer_rebuilds: Counter,
    pub(super) dead_lettered: Counter,
    pub(super) pauses: Counter,
    pub(super) commit_latency: Histogram,
    pub(super) in_flight: Gauge,
    pub(super) in_flight_peak: Gauge,
    pub(super) records_parked: Counter,
    pub(super) parked_keys: Gauge,
    pub(super) parked_records: Gauge,
}

impl Facade {
    /// Describes the metrics to `recorder` and registers a handle for each, with `labels`.
    pub(super) fn register(recorder: &dyn Recorder, labels: &[Label]) -> Self {
        let counter = |name: &'static str, help: &'static str| {
            recorder.describe_counter(KeyName::from_const_str(name), None, help.into());
            recorder.register_counter(&Key::from_parts(name, labels.to_vec()), &METADATA)
        };
        let gauge = |name: &'static str, help: &'static str| {
            recorder.describe_gauge(KeyName::from_const_str(name), None, help.into());
            recorder.register_gauge(&Key::from_parts(name, labels.to_vec()), &METADATA)
        };
        recorder.describe_counter(
            KeyName::from_const_str(names::RECORD_RETRIES),
            None,
            "Records the processor failed on that were scheduled for another attempt, by the attempt that failed".into(),
        );
        let record_retries = std::array::from_fn(|i| {
            let attempt = if i + 1 == ATTEMPT_BUCKETS {
                format!("{}+", i + 1)
            } else {
                (i + 1).to_string()
            };
            let mut labels = labels.to_vec();
            labels.push(Label::new("attempt", attempt));
            recorder.register_counter(&Key::from_parts(names::RECORD_RETRIES, labels), &METADATA)
        });
        recorder.describe_counter(
            KeyName::from_const_str(names::TRANSACTIONS_ABORTED),
            None,
            "Transactions aborted, by cause: retry, stop, error, shutdown, other".into(),
        );
        let aborts = super::AbortCause::ALL.map(|cause| {
            let mut labels = labels.to_vec();
            labels.push(Label::new("cause", cause.label()));
            recorder.register_counter(
                &Key::from_parts(names::TRANSACTIONS_ABORTED, labels),
                &METADATA,
            )
        });
        recorder.describe_histogram(
            KeyName::from_const_str(names::COMMIT_LATENCY),
            Some(Unit::Seconds),
            "Latency of a transaction's commit (send offsets and commit), in seconds".into(),
        );
        Facade {
            records_in: counter(
                names::RECORDS_IN,
                "Input records done: outputs (or dead letter) and input offset committed",
            ),
            records_out: counter(
                names::RECORDS_OUT,
                "Output records acknowledged by the broker, aborted transactions' included",
            ),
            records_polled: counter(
                names::RECORDS_POLLED,
                "Input records taken from the consumer, replays included",
            ),
            records_replayed: counter(
                names::RECORDS_REPLAYED,
                "Input records taken again after an abort rewound their partition",
            ),
            process_calls: counter(names::PROCESS_CALLS, "Calls of the processor (attempts)"),
            transactions_begun: counter(names::TRANSACTIONS_BEGUN, "Transactions begun"),
            commits: counter(names::TRANSACTIONS_COMMITTED, "Transactions committed"),
            aborts,
            fencings: counter(
                names::FENCINGS,
                "Times this pipeline's producer was fenced by a newer instance (it stops)",
            ),
            retries: counter(names::RETRIES, "Kafka operations retried"),
            record_retries,
            send_failures: counter(names::SEND_FAILURES, "Failed sends"),
            producer_rebuilds: counter(
                names::PRODUCER_REBUILDS,
                "Producers rebuilt after a fatal error",
            ),
            dead_lettered: counter(
                names::DEAD_LETTERS,
                "Records written to a dead-letter topic",
            ),
            pauses: counter(
                names::PAUSES,
                "Times the consumer was paused behind a batch that stayed in flight",
            ),
            commit_latency: recorder.register_histogram(
                &Key::from_parts(names::COMMIT_LATENCY, labels.to_vec()),
                &METADATA,
            ),
            in_flight: gauge(
                names::RECORDS_IN_FLIGHT,
                "Input records of the open transaction: polled, not yet committed or rewound",
            ),
            in_flight_peak: gauge(
                names::RECORDS_IN_FLIGHT_PEAK,
                "The most records processed at once since the start",
            ),
            records_parked: counter(
                names::RECORDS_PARKED,
                "Records written to the parking topic: failed records and the later records of their keys",
            ),
            parked_keys: gauge(names::PARKED_KEYS, "Keys parked now, over the assigned partitions"),
            parked_records: gauge(
                names::PARKED_RECORDS,
                "Records parked now, over the assigned partitions",
            ),
        }
    }
}
