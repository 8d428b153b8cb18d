//! End to end: a pipeline on the embedded broker increments a counter row in PostgreSQL
//! per record (an effect that is not idempotent by itself), guarded by `Idempotent` on
//! Redis in front of PostgreSQL, while records fail on their first attempt (before or
//! after their effect) so batches abort and replay: every counter ends at exactly 1.
#![cfg(test)] // test code: clippy.toml lets it unwrap and panic

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{unique, POSTGRES_URL, REDIS_URL};
use kafka_eos_idempotency::{
    Error, IdempotencyKey, Idempotent, Layered, PostgresStore, RedisStore,
};
use kafka_eos_processor::{BoxError, Input, Output, PipelineBuilder, Processor, RawBytes};
use kafka_eos_testkit::{check_exactly_once, run_pipeline, write_records_async, Cluster, Record};

type Guard = Idempotent<Layered<RedisStore, PostgresStore>>;

/// Copies each record to `output`; its effect: `counters[topic/partition/offset] += 1`.
struct Counting {
    output: String,
    namespace: String,
    increment: String,
    guard: Arc<Guard>,
    seen: Mutex<HashSet<(i32, i64)>>,
}

impl Processor for Counting {
    type Input = Option<Vec<u8>>;

    async fn process(&self, input: Input<Option<Vec<u8>>>) -> Result<Vec<Output>, BoxError> {
        let first = self
            .seen
            .lock()
            .unwrap()
            .insert((input.partition, input.offset));
        if first && input.offset % 23 == 4 {
            return Err("flaky before the effect".into()); // a plain error: the batch replays
        }
        let key = IdempotencyKey::of_input(&self.namespace, &input)
            .map_err(Error::into_processor_error)?;
        let pool = self.guard.store().db().pool().clone();
        let increment = self.increment.clone();
        // Ran or AlreadyDone: the output is the same either way
        let _outcome = self
            .guard
            .once(&key, |key| async move {
                sqlx::query(&increment).bind(key.key()).execute(&pool).await
            })
            .await
            .map_err(Error::into_processor_error)?;
        if first && input.offset % 17 == 9 {
            return Err("flaky after the effect".into());
        }
        let key = input.key.map(|k| k.to_vec()).unwrap_or_default();
        Ok(vec![Output::new(
            &self.output,
            key,
            input.value.unwrap_or_default(),
        )])
    }
}

#[test]
fn a_replayed_pipeline_runs_each_records_effect_exactly_once() {
    let cluster = Cluster::embedded().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let bootstrap = cluster.bootstrap_servers();
        let (input, output) = (
            cluster.unique_topic("counted"),
            cluster.unique_topic("copied"),
        );
        cluster.create_topic_async(&input, 2).await.unwrap();
        cluster.create_topic_async(&output, 2).await.unwrap();
        let records: Vec<Record> = (0..200)
            .map(|i| Record::new(format!("k{}", i % 20), format!("v{i}")))
            .collect();
        write_records_async(&bootstrap, &input, &records)
            .await
            .unwrap();

        let counters = unique("counters");
        let db = PostgresStore::connect(POSTGRES_URL, &unique("idem"))
            .await
            .unwrap();
        db.create_table().await.unwrap();
        sqlx::query(&format!(
            "CREATE TABLE {counters} (id TEXT PRIMARY KEY, n INT NOT NULL)"
        ))
        .execute(db.pool())
        .await
        .unwrap();
        let cache = RedisStore::connect(REDIS_URL)
            .await
            .unwrap()
            .prefix(format!("{}:", unique("kafka-eos-test")))
            .done_ttl(common::KEEP);
        let guard = Arc::new(Idempotent::new(Layered::new(cache, db.clone())));
        let processor = Counting {
            output: output.clone(),
            namespace: cluster.unique_topic("counting"),
            increment: format!(
                "INSERT INTO {counters} (id, n) VALUES ($1, 1) \
                 ON CONFLICT (id) DO UPDATE SET n = {counters}.n + 1"
            ),
            guard: Arc::clone(&guard),
            seen: Mutex::default(),
        };
        let pipeline = PipelineBuilder::new()
            .bootstrap_servers(&bootstrap)
            .group_id(cluster.unique_topic("counting"))
            .input_topic(&input)
            .commit_every_records(50)
            .retry_backoff(Duration::from_millis(10), Duration::from_millis(100))
            .build(processor, RawBytes)
            .unwrap();
        let run = run_pipeline(
            pipeline,
            &bootstrap,
            &output,
            records.len(),
            Duration::from_secs(120),
        )
        .await
        .unwrap();

        let report = check_exactly_once(&records, &run.records);
        assert!(report.is_exactly_once(), "{report}");
        assert!(
            run.metrics.aborts > 0,
            "batches were replayed: {:?}",
            run.metrics
        );
        let (rows, min, max): (i64, i32, i32) =
            sqlx::query_as(&format!("SELECT count(*), min(n), max(n) FROM {counters}"))
                .fetch_one(db.pool())
                .await
                .unwrap();
        assert_eq!(
            (rows, min, max),
            (200, 1, 1),
            "each record's effect ran exactly once"
        );
        let stats = guard.stats();
        assert_eq!(stats.ran, 200, "{stats:?}");
        assert!(
            stats.already_done > 0,
            "replays found their effects done: {stats:?}"
        );
        assert!(
            guard.store().stats().db_queries_saved > 0,
            "{:?}",
            guard.store().stats()
        );
    });
}
