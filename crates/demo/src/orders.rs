//! The demo's order domain: events keyed by order id, and the pipeline's function
//! `f(event) -> result` that the verifier recomputes.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_eos_processor::{BoxError, Input, Output, Processor};
use kafka_eos_testkit::Record;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// The lifecycle step of an order event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The order was placed.
    Created,
    /// It was paid.
    Paid,
    /// It was shipped.
    Shipped,
    /// It was cancelled.
    Cancelled,
}

/// One order event, keyed by `order` on the input topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderEvent {
    /// The order id (the record key is `order-<id>`).
    pub order: u64,
    /// The event's position in its order's life (0, 1, 2, ...).
    pub seq: u32,
    /// What happened.
    pub kind: Kind,
    /// The order amount in cents.
    pub amount_cents: u64,
}

impl OrderEvent {
    /// The record key of this event's order.
    pub fn key(&self) -> String {
        format!("order-{}", self.order)
    }
}

/// Generates the events of `orders` orders (created, paid, then shipped or cancelled, or
/// created then cancelled), interleaved across orders as a real stream is, each order's
/// events in order.
pub fn generate(orders: u64, seed: u64) -> Vec<OrderEvent> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut lives: Vec<Vec<OrderEvent>> = (0..orders)
        .map(|order| {
            let amount_cents = rng.gen_range(100..100_000);
            let kinds: &[Kind] = match rng.gen_range(0..10) {
                0 => &[Kind::Created, Kind::Cancelled],
                1 => &[Kind::Created, Kind::Paid, Kind::Cancelled],
                _ => &[Kind::Created, Kind::Paid, Kind::Shipped, Kind::Shipped],
            };
            kinds
                .iter()
                .enumerate()
                .map(|(seq, kind)| OrderEvent {
                    order,
                    seq: seq as u32,
                    kind: *kind,
                    amount_cents,
                })
                .rev()
                .collect()
        })
        .collect();
    let mut out = Vec::new();
    let mut open: Vec<usize> = (0..lives.len()).collect();
    while !open.is_empty() {
        let i = rng.gen_range(0..open.len());
        let life = &mut lives[open[i]];
        if let Some(e) = life.pop() {
            out.push(e);
        }
        if life.is_empty() {
            open.swap_remove(i);
        }
    }
    out
}

/// The order's status after an event of `kind`.
pub fn status_of(kind: Kind) -> &'static str {
    match kind {
        Kind::Created => "AWAITING_PAYMENT",
        Kind::Paid => "PAID",
        Kind::Shipped => "SHIPPED",
        Kind::Cancelled => "CANCELLED",
    }
}

/// The fee an event earns its merchant: 3% of the order amount, in cents.
pub fn fee_of(event: &OrderEvent) -> u64 {
    event.amount_cents * 3 / 100
}

/// The merchant an order belongs to (64 merchants).
pub fn merchant_of(order: u64) -> u64 {
    order % 64
}

/// The pipeline's function: the result record of one event (key, value). Deterministic, so
/// the verifier can recompute it from the input alone.
pub fn result_of(event: &OrderEvent) -> (String, String) {
    let status = status_of(event.kind);
    let fee = fee_of(event);
    (
        event.key(),
        format!(
            "{{\"order\":{},\"seq\":{},\"status\":\"{status}\",\"amount_cents\":{},\"fee_cents\":{fee}}}",
            event.order, event.seq, event.amount_cents
        ),
    )
}

/// The events as input records: JSON values keyed by order (`order-<id>`).
pub fn input_records(events: &[OrderEvent]) -> Vec<Record> {
    events
        .iter()
        .map(|e| Record::new(e.key(), serde_json::to_vec(e).unwrap_or_default()))
        .collect()
}

/// f(input): one result record per event, each key's results in input order.
pub fn expected_results(events: &[OrderEvent]) -> Vec<Record> {
    events
        .iter()
        .map(|e| {
            let (k, v) = result_of(e);
            Record::new(k, v)
        })
        .collect()
}

/// The processor the demo's workers run: one result per event, to `output`.
#[derive(Debug)]
pub struct OrderProcessor {
    /// The output topic.
    pub output: Arc<str>,
    /// Simulated work: pause 1 ms every this many records (0: none). It keeps
    /// transactions open long enough for kills to land inside them.
    pub pause_every: u64,
    /// Simulated latency of a call to another service, per record (zero: none).
    pub work: Duration,
    /// Injected failures.
    pub failures: Failures,
    seen: AtomicU64,
    /// Records that failed their transient failure in this process.
    failed: Mutex<HashSet<(i32, i64)>>,
}

/// Failures the demo injects: a fraction of records fail their first attempt (in each
/// worker life: a restarted worker fails them once more), and a few orders fail always.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Failures {
    /// Fraction of records (0..=1) whose first attempt fails.
    pub transient: f64,
    /// Orders that always fail ([`fails_permanently`]).
    pub permanent: u32,
}

/// Whether `order` is one of the `permanent` orders that always fail: every 997th order
/// from order 1, `permanent` of them.
pub fn fails_permanently(order: u64, permanent: u32) -> bool {
    order % 997 == 1 && order / 997 < u64::from(permanent)
}

/// Whether `event` is among the `fraction` of records whose first attempt fails (a hash of
/// its order and step, so every worker picks the same).
pub fn fails_transiently(event: &OrderEvent, fraction: f64) -> bool {
    let h = kafka_eos_processor::core::partitioning::murmur2(
        format!("{}/{}", event.order, event.seq).as_bytes(),
    );
    f64::from(h & 0xffff) / 65_536.0 < fraction
}

impl OrderProcessor {
    /// A processor writing to `output`, pausing 1 ms every `pause_every` records.
    pub fn new(output: impl Into<Arc<str>>, pause_every: u64) -> Self {
        Self {
            output: output.into(),
            pause_every,
            work: Duration::ZERO,
            failures: Failures::default(),
            seen: AtomicU64::new(0),
            failed: Mutex::new(HashSet::new()),
        }
    }

    /// Injects `failures`.
    pub fn with_failures(mut self, failures: Failures) -> Self {
        self.failures = failures;
        self
    }

    /// Adds a simulated call of `work` to every record.
    pub fn with_work(mut self, work: Duration) -> Self {
        self.work = work;
        self
    }
}

impl Processor for OrderProcessor {
    type Input = OrderEvent;

    async fn process(&self, input: Input<OrderEvent>) -> Result<Vec<Output>, BoxError> {
        let seen = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        if self.pause_every > 0 && seen.is_multiple_of(self.pause_every) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if !self.work.is_zero() {
            tokio::time::sleep(self.work).await;
        }
        let event = &input.value;
        if fails_permanently(event.order, self.failures.permanent) {
            return Err(format!("order {} always fails (injected)", event.order).into());
        }
        if fails_transiently(event, self.failures.transient) {
            let first = self
                .failed
                .lock()
                .map(|mut f| f.insert((input.partition, input.offset)))
                .unwrap_or(false);
            if first {
                return Err(format!(
                    "order {} step {} failed its first attempt (injected)",
                    event.order, event.seq
                )
                .into());
            }
        }
        let (key, value) = result_of(&input.value);
        Ok(vec![Output::new(Arc::clone(&self.output), key, value)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_orders_events_stay_in_order() {
        let events = generate(200, 7);
        let mut last: std::collections::HashMap<u64, u32> = Default::default();
        for e in &events {
            let prev = last.insert(e.order, e.seq);
            assert_eq!(prev.map_or(0, |p| p + 1), e.seq);
        }
        assert!(events.len() >= 400);
        assert_eq!(generate(200, 7), events, "deterministic for a seed");
    }

    #[test]
    fn result_is_a_function_of_the_event() {
        let e = OrderEvent {
            order: 5,
            seq: 1,
            kind: Kind::Paid,
            amount_cents: 1000,
        };
        let (k, v) = result_of(&e);
        assert_eq!(k, "order-5");
        assert_eq!(
            v,
            r#"{"order":5,"seq":1,"status":"PAID","amount_cents":1000,"fee_cents":30}"#
        );
    }
}
