//! The names of the pipeline's metrics, as published through the [`metrics`] facade and
//! served by the Prometheus endpoint (Prometheus conventions: counters end in `_total`, the
//! unit is in the name). Every metric carries the label `group` (the consumer group).

/// Counter: input records done (their outputs, or dead letter, and the input offset past
/// them committed); each input record counts once.
pub const RECORDS_IN: &str = "kafka_eos_records_in_total";
/// Counter: output records acknowledged by the broker (aborted transactions' included).
pub const RECORDS_OUT: &str = "kafka_eos_records_out_total";
/// Counter: input records taken from the consumer, replays included.
pub const RECORDS_POLLED: &str = "kafka_eos_records_polled_total";
/// Counter: input records taken again after an abort rewound their partition.
pub const RECORDS_REPLAYED: &str = "kafka_eos_records_replayed_total";
/// Counter: calls of the processor (attempts).
pub const PROCESS_CALLS: &str = "kafka_eos_process_calls_total";
/// Counter: transactions begun.
pub const TRANSACTIONS_BEGUN: &str = "kafka_eos_transactions_begun_total";
/// Counter: transactions committed.
pub const TRANSACTIONS_COMMITTED: &str = "kafka_eos_transactions_committed_total";
/// Counter, label `cause` (`retry`, `stop`, `error`, `shutdown`, `other`: see
/// [`AbortCause`](crate::metrics::AbortCause)): transactions aborted.
pub const TRANSACTIONS_ABORTED: &str = "kafka_eos_transactions_aborted_total";
/// Counter: Kafka operations retried (a timed-out commit, a coordinator not available...).
pub const RETRIES: &str = "kafka_eos_retries_total";
/// Counter, label `attempt` (`1`..`7`, `8+`): records the processor failed on that were
/// scheduled for another attempt, by the attempt that failed.
pub const RECORD_RETRIES: &str = "kafka_eos_record_retries_total";
/// Counter: failed sends.
pub const SEND_FAILURES: &str = "kafka_eos_send_failures_total";
/// Counter: producers rebuilt after a fatal error.
pub const PRODUCER_REBUILDS: &str = "kafka_eos_producer_rebuilds_total";
/// Counter: records written to a dead-letter topic (committed).
pub const DEAD_LETTERS: &str = "kafka_eos_dead_letters_total";
/// Counter: times the consumer was paused behind a batch that stayed in flight.
pub const PAUSES: &str = "kafka_eos_consumer_pauses_total";
/// Histogram: commit latency, in seconds.
pub const COMMIT_LATENCY: &str = "kafka_eos_commit_latency_seconds";
/// Gauge: input records of the open transaction (polled, not yet committed or rewound).
pub const RECORDS_IN_FLIGHT: &str = "kafka_eos_records_in_flight";
/// Gauge: the most records processed at once (keyed concurrency), since the start.
pub const RECORDS_IN_FLIGHT_PEAK: &str = "kafka_eos_records_in_flight_peak";
/// Gauge, labels `topic`, `partition`: the partition's last stable offset minus the offset
/// this pipeline committed for it (0 once caught up).
pub const CONSUMER_LAG_RECORDS: &str = "kafka_eos_consumer_lag_records";
/// Gauge, labels `topic`, `partition`: 0 when caught up, else the age of the last record
/// committed on the partition (an upper bound on how long the oldest waiting record waited).
pub const CONSUMER_LAG_SECONDS: &str = "kafka_eos_consumer_lag_seconds";

/// Counter: records written to the parking topic (committed): records that failed and
/// parked, and later records of their keys that parked behind them.
pub const RECORDS_PARKED: &str = "kafka_eos_records_parked_total";
/// Gauge: keys parked now, over the assigned partitions.
pub const PARKED_KEYS: &str = "kafka_eos_parked_keys";
/// Gauge: records parked now, over the assigned partitions.
pub const PARKED_RECORDS: &str = "kafka_eos_parked_records";

/// Gauge, labels `topic`, `partition`: the hottest key's share (0 to 1) of the partition's
/// recent records polled (a space-saving sketch; the key is logged, not a label).
pub const HOT_KEY_SHARE: &str = "kafka_eos_hot_key_share";
/// Counter: times this pipeline's producer was fenced by a newer instance (it then stops).
pub const FENCINGS: &str = "kafka_eos_fencings_total";

/// The label every pipeline metric carries: the consumer group.
pub const LABEL_GROUP: &str = "group";

/// Every metric name above.
pub const ALL: [&str; 24] = [
    RECORDS_IN,
    RECORDS_OUT,
    RECORDS_POLLED,
    RECORDS_REPLAYED,
    PROCESS_CALLS,
    TRANSACTIONS_BEGUN,
    TRANSACTIONS_COMMITTED,
    TRANSACTIONS_ABORTED,
    RETRIES,
    RECORD_RETRIES,
    SEND_FAILURES,
    PRODUCER_REBUILDS,
    DEAD_LETTERS,
    PAUSES,
    COMMIT_LATENCY,
    RECORDS_IN_FLIGHT,
    RECORDS_IN_FLIGHT_PEAK,
    CONSUMER_LAG_RECORDS,
    CONSUMER_LAG_SECONDS,
    RECORDS_PARKED,
    PARKED_KEYS,
    PARKED_RECORDS,
    HOT_KEY_SHARE,
    FENCINGS,
];
