//! The `Processor` trait, its input and its outputs.

use std::future::Future;

use kafka_eos_core::OwnedRecord;

use crate::error::BoxError;

/// One decoded input record.
#[derive(Debug, Clone, PartialEq)]
pub struct Input<T> {
    /// Source topic.
    pub topic: String,
    /// Source partition.
    pub partition: i32,
    /// Source offset.
    pub offset: i64,
    /// Record key.
    pub key: Option<Vec<u8>>,
    /// Record headers.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Record timestamp (ms since the epoch), if any.
    pub timestamp: Option<i64>,
    /// The decoded value.
    pub value: T,
}

/// One record to write, inside the same transaction as the input offsets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Output {
    /// Destination topic.
    pub topic: String,
    /// Record key (the partitioner uses it: keep a key's events on one partition).
    pub key: Option<Vec<u8>>,
    /// Record value.
    pub value: Option<Vec<u8>>,
    /// Record headers.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Output {
    /// An output to `topic` with this key and value.
    pub fn new(
        topic: impl Into<String>,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
    ) -> Self {
        Self {
            topic: topic.into(),
            key: Some(key.into()),
            value: Some(value.into()),
            headers: Vec::new(),
        }
    }

    /// Appends a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

impl From<Output> for OwnedRecord {
    fn from(o: Output) -> Self {
        OwnedRecord {
            topic: o.topic,
            partition: None,
            key: o.key,
            value: o.value,
            headers: o.headers,
            timestamp: None,
        }
    }
}

/// User logic: one input record in, zero or more output records out.
///
/// Called inside a Kafka transaction; the outputs and the input offset commit
/// atomically. A returned error aborts the batch, which is replayed (up to the
/// pipeline's `max_attempts`, then the [`ErrorPolicy`](crate::ErrorPolicy) applies), so
/// side effects outside Kafka must be idempotent.
///
/// `process` takes `&self`: with [`PipelineBuilder::max_in_flight`](crate::PipelineBuilder::max_in_flight)
/// above 1, records of different keys are processed concurrently (records of one key never
/// are: they run one after the other, in input order). State that needs `&mut self` goes
/// behind a lock, or implement [`SequentialProcessor`] and wrap it in [`Sequential`].
///
/// ```
/// use kafka_eos_processor::{BoxError, Input, Output, Processor};
///
/// #[derive(serde::Deserialize)]
/// struct Order { id: u64, amount: u64 }
///
/// struct Doubler;
///
/// impl Processor for Doubler {
///     type Input = Order;
///
///     async fn process(&self, input: Input<Order>) -> Result<Vec<Output>, BoxError> {
///         let o = input.value;
///         Ok(vec![Output::new("doubled", o.id.to_string(), (o.amount * 2).to_string())])
///     }
/// }
///
/// # let p = Doubler;
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # let out = rt.block_on(p.process(Input { topic: "orders".into(), partition: 0, offset: 0,
/// #     key: None, headers: vec![], timestamp: None, value: Order { id: 1, amount: 21 } })).unwrap();
/// # assert_eq!(out[0].value.as_deref(), Some(&b"42"[..]));
/// ```
pub trait Processor: Send + Sync + 'static {
    /// The decoded input type (see [`Codec`](crate::Codec)).
    type Input: Send + 'static;

    /// Processes one record.
    fn process(
        &self,
        input: Input<Self::Input>,
    ) -> impl Future<Output = Result<Vec<Output>, BoxError>> + Send;
}

/// A processor that needs `&mut self` (counters, caches without a lock). Wrap it in
/// [`Sequential`] to use it: its records are processed one at a time, whatever
/// `max_in_flight` says.
///
/// ```
/// use kafka_eos_processor::{BoxError, Input, Output, Sequential, SequentialProcessor};
///
/// struct Numbered { next: u64 }
///
/// impl SequentialProcessor for Numbered {
///     type Input = String;
///     async fn process(&mut self, input: Input<String>) -> Result<Vec<Output>, BoxError> {
///         self.next += 1;
///         Ok(vec![Output::new("numbered", self.next.to_string(), input.value)])
///     }
/// }
///
/// let processor = Sequential::new(Numbered { next: 0 }); // a Processor
/// # let _ = processor;
/// ```
pub trait SequentialProcessor: Send + 'static {
    /// The decoded input type (see [`Codec`](crate::Codec)).
    type Input: Send + 'static;

    /// Processes one record.
    fn process(
        &mut self,
        input: Input<Self::Input>,
    ) -> impl Future<Output = Result<Vec<Output>, BoxError>> + Send;
}

/// Runs a [`SequentialProcessor`] as a [`Processor`]: one record at a time.
#[derive(Debug)]
pub struct Sequential<P>(tokio::sync::Mutex<P>);

impl<P> Sequential<P> {
    /// Wraps `processor`.
    pub fn new(processor: P) -> Self {
        Sequential(tokio::sync::Mutex::new(processor))
    }

    /// The wrapped processor.
    pub fn into_inner(self) -> P {
        self.0.into_inner()
    }
}

impl<P: SequentialProcessor> Processor for Sequential<P> {
    type Input = P::Input;

    async fn process(&self, input: Input<Self::Input>) -> Result<Vec<Output>, BoxError> {
        self.0.lock().await.process(input).await
    }
}
