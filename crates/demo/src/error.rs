//! The demo's error type.

/// Errors of the demo, its workers and `verify`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// The pipeline failed.
    #[error("pipeline: {0}")]
    Pipeline(#[from] kafka_eos_processor::Error),
    /// The database sink failed (`--sink postgres|mariadb`).
    #[error("database sink: {0}")]
    Database(#[from] kafka_eos_database::Error),
    /// An idempotency store could not be set up (`--side-effects`).
    #[error("idempotency store: {0}")]
    Idempotency(#[from] kafka_eos_idempotency::Error),
    /// Reading or preparing the demo's tables failed.
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    /// The database's tables are not f(input) (`--sink postgres|mariadb`).
    #[error("exactly-once check of the tables failed: {0}")]
    TablesNotExactlyOnce(crate::database::TablesOutcome),
    /// The security settings (`--secure`, or the `KAFKA_EOS_*` security variables) are
    /// not usable.
    #[error("security settings: {0}")]
    Security(#[from] kafka_eos_processor::config::ConfigError),
    /// The embedded broker failed.
    #[error("embedded broker: {0}")]
    Broker(#[from] kafka_eos_broker::Error),
    /// The broker child process of `--broker-kills` did not start (or restart).
    #[error("broker process: {reason}; its log ends with:\n{log_tail}")]
    BrokerStart {
        /// What went wrong.
        reason: String,
        /// The end of its log.
        log_tail: String,
    },
    /// A test fixture (writer, reader) failed (boxed: the testkit's error is large).
    #[error("{0}")]
    Testkit(Box<kafka_eos_testkit::Error>),
    /// A worker process could not be started or watched.
    #[error("worker process: {0}")]
    Process(#[from] std::io::Error),
    /// A bad argument.
    #[error("{0}")]
    Usage(String),
    /// The verification found duplicates, missing records or order violations.
    #[error("exactly-once check failed: {0}")]
    NotExactlyOnce(crate::verify::Outcome),
}

impl From<kafka_eos_testkit::Error> for DemoError {
    fn from(e: kafka_eos_testkit::Error) -> Self {
        Self::Testkit(Box::new(e))
    }
}

impl DemoError {
    /// Whether a newer instance with the same transactional id fenced this worker.
    pub fn is_fenced(&self) -> bool {
        matches!(self, Self::Pipeline(e) if e.is_fenced())
    }
}
