//! Kafka -> PostgreSQL exactly once with `kafka-eos-database`: payments add to account
//! balances (`balance = balance + amount`, not idempotent), and each batch's rows commit in
//! one database transaction together with the consumer's next offsets.
//!
//! The example writes 1,000 payments, runs a sink until half are applied, drops it in the
//! middle of a batch (a crash: its open transaction never commits), runs a second sink to
//! the end, and checks every balance against the sum over the input; it exits non-zero if
//! one differs. It needs PostgreSQL on 127.0.0.1:5432 (database `test`; or
//! `DATABASE_URL`), the embedded broker (or `KAFKA_BOOTSTRAP_SERVERS`).
//!
//! ```text
//! cargo run -p kafka-eos-examples --example kafka_to_postgres
//! ```

use std::collections::BTreeMap;
use std::error::Error;
use std::time::{Duration, Instant};

use kafka_eos_database::sqlx::{self, PgConnection, PgPool, Postgres};
use kafka_eos_database::{DatabaseProcessor, DatabaseSink, Upsert};
use kafka_eos_processor::config::PipelineConfig;
use kafka_eos_processor::{BoxError, CancellationToken, Input, JsonCodec};
use kafka_eos_testkit::{write_records, Cluster, Record};

#[derive(serde::Serialize, serde::Deserialize)]
struct Payment {
    account: String,
    cents: i64,
}

/// Adds each payment to its account's balance, in the batch's transaction.
struct Balances {
    add: Upsert<Postgres>,
}

impl DatabaseProcessor<Postgres> for Balances {
    type Input = Payment;

    async fn process(
        &mut self,
        input: Input<Payment>,
        tx: &mut PgConnection,
    ) -> Result<(), BoxError> {
        let p = input.value;
        self.add
            .query()
            .bind(p.account)
            .bind(p.cents)
            .execute(&mut *tx)
            .await?;
        Ok(())
    }
}

fn sink(
    cluster: &Cluster,
    url: &str,
    topic: &str,
    group: &str,
    table: &str,
    stop: &CancellationToken,
) -> Result<DatabaseSink<Postgres, Balances, JsonCodec<Payment>>, Box<dyn Error>> {
    let config = PipelineConfig::builder()
        .bootstrap_servers(cluster.bootstrap_servers())
        .group_id(group)
        .input_topic(topic)
        .commit_max_records(100);
    let balances = Balances {
        add: Upsert::increment(table, &["account"], &["cents"])?,
    };
    let runtime = tokio::runtime::Handle::current();
    Ok(runtime.block_on(
        DatabaseSink::builder(config, url, balances, JsonCodec::new())
            .offsets_table(format!("{table}_offsets"))
            .shutdown(stop.clone())
            .build(),
    )?)
}

async fn applied(db: &PgPool, table: &str) -> Result<BTreeMap<String, i64>, sqlx::Error> {
    let rows: Vec<(String, i64)> = sqlx::query_as(&format!("SELECT account, cents FROM {table}"))
        .fetch_all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

async fn until(db: &PgPool, table: &str, total: i64) -> Result<i64, sqlx::Error> {
    let started = Instant::now();
    loop {
        let sum: i64 = applied(db, table).await?.values().sum();
        if sum >= total || started.elapsed() > Duration::from_secs(60) {
            return Ok(sum);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let runtime = tokio::runtime::Runtime::new()?;
    let _guard = runtime.enter();
    let cluster = Cluster::from_env()?;
    let topic = cluster.unique_topic("payments");
    let group = cluster.unique_topic("payments-to-postgres");
    let table = group.replace('-', "_"); // unique per run
    cluster.create_topic(&topic, 4)?;

    let db = runtime.block_on(PgPool::connect(&url))?;
    runtime.block_on(
        sqlx::query(&format!(
            "CREATE TABLE {table} (account TEXT PRIMARY KEY, cents BIGINT NOT NULL)"
        ))
        .execute(&db),
    )?;
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    let payments: Vec<Record> = (0..1_000)
        .map(|i| {
            let p = Payment {
                account: format!("account-{}", i % 10),
                cents: i + 1,
            };
            *expected.entry(p.account.clone()).or_default() += p.cents;
            Record::new(
                p.account.clone(),
                serde_json::to_vec(&p).unwrap_or_default(),
            )
        })
        .collect();
    write_records(&cluster.bootstrap_servers(), &topic, &payments)?;
    let total: i64 = expected.values().sum();
    println!(
        "wrote {} payments to {topic}; balances in {table}",
        payments.len()
    );

    // a first sink, dropped half-way: its open transaction never commits
    let stop = CancellationToken::new();
    let first = runtime.spawn(sink(&cluster, &url, &topic, &group, &table, &stop)?.run());
    let half = runtime.block_on(until(&db, &table, total / 2))?;
    first.abort();
    println!("first sink dropped after {half} of {total} cents were applied");

    // a second sink resumes from the offsets stored with the rows
    let second = runtime.spawn(sink(&cluster, &url, &topic, &group, &table, &stop)?.run());
    let done = runtime.block_on(until(&db, &table, total))?;
    stop.cancel();
    runtime.block_on(second)??;
    let balances = runtime.block_on(applied(&db, &table))?;
    runtime.block_on(sqlx::query(&format!("DROP TABLE {table}, {table}_offsets")).execute(&db))?;
    for (account, cents) in &balances {
        println!("{account}: {cents}");
    }
    if balances != expected || done != total {
        return Err(format!("balances differ from the input's sums: {balances:?}").into());
    }
    println!("every balance is the sum of its payments: each applied exactly once");
    Ok(())
}
