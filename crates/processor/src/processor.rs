//! The `Processor` trait, its input and its outputs.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use kafka_eos_core::OwnedRecord;

use crate::error::BoxError;

/// One decoded input record.
///
/// The input owns its parts: the key and the header values are [`Bytes`] of their own (read
/// them as `&[u8]`; a clone shares the bytes; keeping them keeps nothing else alive), `topic`
/// is shared by the batch's records of that topic, and `value` is what the
/// [`Codec`](crate::Codec) made of the record's value (decoded from a borrow of the bytes
/// the pipeline polled).
///
/// ```
/// use kafka_eos_processor::{Bytes, Input};
///
/// let input = Input {
///     topic: "orders".into(),
///     partition: 0,
///     offset: 7,
///     key: Some(Bytes::from("order-1")),
///     headers: vec![("trace".into(), Some(Bytes::from("t-1"))), ("empty".into(), None)],
///     timestamp: Some(1_700_000_000_000),
///     value: "paid".to_string(),
/// };
/// assert_eq!(&*input.topic, "orders");
/// assert_eq!(input.key.as_deref(), Some(&b"order-1"[..]));
/// assert_eq!(input.header("trace"), Some(Some(&b"t-1"[..])));
/// assert_eq!(input.header("empty"), Some(None)); // present, with a null value
/// assert_eq!(input.header("absent"), None);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Input<T> {
    /// Source topic.
    pub topic: Arc<str>,
    /// Source partition.
    pub partition: i32,
    /// Source offset.
    pub offset: i64,
    /// Record key.
    pub key: Option<Bytes>,
    /// Record headers, in order; a header whose value is null has `None`.
    pub headers: Vec<(String, Option<Bytes>)>,
    /// Record timestamp (ms since the epoch), if any.
    pub timestamp: Option<i64>,
    /// The decoded value (a tombstone, a null value, is decoded by
    /// [`Codec::decode_null`](crate::Codec::decode_null)).
    pub value: T,
}

impl<T> Input<T> {
    /// The value of the first header named `name`: `None` if there is none, `Some(None)` if
    /// its value is null.
    pub fn header(&self, name: &str) -> Option<Option<&[u8]>> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_deref())
    }
}

/// One record to write, inside the same transaction as the input offsets: a
/// [`kafka_eos_core::OwnedRecord`].
///
/// `Output::new(topic, key, value)` goes to the partition the producer's partitioner picks
/// from the key; [`partition`](OwnedRecord::partition) overrides that,
/// [`timestamp`](OwnedRecord::timestamp) replaces the send time,
/// [`Output::tombstone`](OwnedRecord::tombstone) writes a null value and
/// [`null_header`](OwnedRecord::null_header) a null header value.
///
/// ```
/// use kafka_eos_processor::Output;
///
/// let out = Output::new("fees", "order-1", "42")
///     .header("source", "orders")
///     .partition(3) // instead of the key's partition
///     .timestamp(1_700_000_000_000);
/// assert_eq!((out.partition, out.timestamp), (Some(3), Some(1_700_000_000_000)));
/// assert_eq!(Output::tombstone("accounts", "account-9").value, None);
/// ```
pub type Output = OwnedRecord;

/// User logic: one input record in, zero or more output records out.
///
/// Called inside a Kafka transaction; the outputs and the input offset commit
/// atomically. A returned error is retried up to the pipeline's `max_attempts` (then the
/// [`ErrorPolicy`](crate::ErrorPolicy) applies): with a
/// [`parking_topic`](crate::PipelineBuilder::parking_topic) the record and its key's later
/// records park while other keys go on; without one the batch is aborted and replayed. Side
/// effects outside Kafka must be idempotent.
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
