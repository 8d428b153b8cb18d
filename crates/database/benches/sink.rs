//! The database sink against a naive loop, on PostgreSQL and MariaDB (both on 127.0.0.1),
//! embedded broker: rows/s in steady state (the window from 20% to 80% of the input
//! applied, after start-up and warm-up), printed as a table.
//!
//! - sink: `DatabaseSink`, 1,000-record transactions, offsets in the same transaction;
//! - naive: per record, an autocommitted upsert then a synchronous Kafka offset commit (what
//!   a consumer loop without the sink does; at least once).
//!
//! ```text
//! cargo bench -p kafka-eos-database --bench sink
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark binary

use std::time::{Duration, Instant};

use kafka_eos_database::sqlx::{self, AnyPool, MySql, Postgres};
use kafka_eos_database::{DatabaseProcessor, DatabaseSink, Dialect, Upsert};
use kafka_eos_processor::config::PipelineConfig;
use kafka_eos_processor::{BoxError, CancellationToken, Input, JsonCodec};
use kafka_eos_testkit::{write_records, Cluster, Record};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{ClientConfig, Message};

const SINK_RECORDS: usize = 40_000;
const NAIVE_RECORDS: usize = 4_000;

struct Add<DB: Dialect>(Upsert<DB>);

macro_rules! add {
    ($db:ty, $conn:ty) => {
        impl DatabaseProcessor<$db> for Add<$db> {
            type Input = i64;
            async fn process(&mut self, input: Input<i64>, tx: &mut $conn) -> Result<(), BoxError> {
                let key =
                    String::from_utf8_lossy(input.key.as_deref().unwrap_or_default()).into_owned();
                self.0
                    .query()
                    .bind(key)
                    .bind(input.value)
                    .execute(&mut *tx)
                    .await?;
                Ok(())
            }
        }
    };
}
add!(Postgres, sqlx::PgConnection);
add!(MySql, sqlx::MySqlConnection);

fn input(n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| Record::new(format!("k{}", i % 1000), (i % 100 + 1).to_string()))
        .collect()
}

async fn table(db: &AnyPool, name: &str) {
    sqlx::query(&format!(
        "CREATE TABLE {name} (k VARCHAR(16) PRIMARY KEY, v BIGINT NOT NULL)"
    ))
    .execute(db)
    .await
    .unwrap();
}

async fn applied(db: &AnyPool, name: &str) -> i64 {
    let rows: Vec<(i64,)> = sqlx::query_as(&format!("SELECT v FROM {name}"))
        .fetch_all(db)
        .await
        .unwrap();
    rows.iter().map(|r| r.0).sum()
}

/// Seconds from 20% to 80% of `total` applied, polling `done`.
async fn window(total: i64, mut done: impl AsyncFnMut() -> i64) -> f64 {
    let (low, high) = (total / 5, total * 4 / 5);
    let mut start = None;
    loop {
        let now = done().await;
        if start.is_none() && now >= low {
            start = Some((Instant::now(), now));
        }
        if now >= high {
            let (t, _) = start.unwrap();
            return t.elapsed().as_secs_f64();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn sum_of(records: &[Record]) -> i64 {
    records
        .iter()
        .map(|r| r.value_text().parse::<i64>().unwrap())
        .sum()
}

async fn bench_sink<DB: Dialect>(cluster: &Cluster, url: &str, db: &AnyPool) -> f64
where
    Add<DB>: DatabaseProcessor<DB, Input = i64>,
{
    let topic = cluster.unique_topic("bench-sink");
    cluster.create_topic_async(&topic, 4).await.unwrap();
    let records = input(SINK_RECORDS);
    write_records(&cluster.bootstrap_servers(), &topic, &records).unwrap();
    let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
    table(db, &name).await;
    let stop = CancellationToken::new();
    let config = PipelineConfig::builder()
        .bootstrap_servers(cluster.bootstrap_servers())
        .group_id(cluster.unique_topic("bench-sink-group"))
        .input_topic(&topic)
        .commit_max_records(1000);
    let sink = DatabaseSink::<DB, _, _>::builder(
        config,
        url,
        Add(Upsert::increment(&name, &["k"], &["v"]).unwrap()),
        JsonCodec::<i64>::new(),
    )
    .offsets_table(format!("{name}_o"))
    .shutdown(stop.clone())
    .build()
    .await
    .unwrap();
    let task = tokio::spawn(sink.run());
    let total = sum_of(&records);
    let secs = window(total, async || applied(db, &name).await).await;
    stop.cancel();
    task.await.unwrap().unwrap();
    (SINK_RECORDS as f64 * 0.6) / secs
}

async fn bench_naive(cluster: &Cluster, url: &str, db: &AnyPool, placeholders: &str) -> f64 {
    let topic = cluster.unique_topic("bench-naive");
    cluster.create_topic_async(&topic, 4).await.unwrap();
    let records = input(NAIVE_RECORDS);
    write_records(&cluster.bootstrap_servers(), &topic, &records).unwrap();
    let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
    table(db, &name).await;
    let sql = match placeholders {
        "$" => format!("INSERT INTO {name} (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = {name}.v + EXCLUDED.v"),
        _ => format!("INSERT INTO {name} (k, v) VALUES (?, ?) ON DUPLICATE KEY UPDATE v = v + VALUES(v)"),
    };
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("group.id", cluster.unique_topic("bench-naive-group"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let url = url.to_owned();
    let writer = tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let pool = rt
            .block_on(
                sqlx::any::AnyPoolOptions::new()
                    .max_connections(1)
                    .connect(&url),
            )
            .unwrap();
        let mut n = 0;
        while n < NAIVE_RECORDS {
            let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
            let v: i64 = std::str::from_utf8(m.payload().unwrap())
                .unwrap()
                .parse()
                .unwrap();
            rt.block_on(sqlx::query(&sql).bind(key).bind(v).execute(&pool))
                .unwrap();
            consumer.commit_message(&m, CommitMode::Sync).unwrap();
            n += 1;
        }
    });
    let total = sum_of(&records);
    let secs = window(total, async || applied(db, &name).await).await;
    writer.await.unwrap();
    (NAIVE_RECORDS as f64 * 0.6) / secs
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    sqlx::any::install_default_drivers();
    let cluster = Cluster::from_env().unwrap();
    println!("| database | sink rows/s ({SINK_RECORDS} records, 1,000 per transaction) | naive rows/s ({NAIVE_RECORDS} records: upsert, then a sync Kafka commit, per record) | ratio |");
    println!("|---|---|---|---|");
    for (label, url, placeholders) in [
        ("PostgreSQL", "postgres://postgres@127.0.0.1:5432/test", "$"),
        ("MariaDB", "mysql://root@127.0.0.1:3306/test", "?"),
    ] {
        let db = sqlx::any::AnyPoolOptions::new()
            .max_connections(2)
            .connect(url)
            .await
            .unwrap();
        let sink = if placeholders == "$" {
            bench_sink::<Postgres>(&cluster, url, &db).await
        } else {
            bench_sink::<MySql>(&cluster, url, &db).await
        };
        let naive = bench_naive(&cluster, url, &db, placeholders).await;
        println!(
            "| {label} | {sink:.0} | {naive:.0} | {:.1}x |",
            sink / naive
        );
    }
}
