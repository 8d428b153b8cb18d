#![cfg(test)] // test code: clippy.toml lets it unwrap and panic
//! The database sink on the real servers (PostgreSQL and MariaDB) and the embedded broker:
//! a non-idempotent increment per record ends equal to the sum over the input, every record
//! applied once, across interrupted runs, two sinks sharing the partitions, injected
//! processor failures and a database link cut mid-run; and its start-up errors.

#[path = "../../idempotency/tests/common/link.rs"]
mod link;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use kafka_eos_database::{DatabaseProcessor, DatabaseSink, Dialect, Error, Upsert};
use kafka_eos_processor::config::PipelineConfig;
use kafka_eos_processor::{BoxError, CancellationToken, Input, JsonCodec};
use kafka_eos_testkit::{write_records_async, Cluster, Record};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, MySql, Postgres};
use tokio::task::JoinHandle;

const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/test";
const ACCOUNTS: usize = 100;

/// A ledger: each record adds its amount to its account's balance (not idempotent) and
/// inserts its (partition, offset) into an events table whose key refuses a second copy.
struct Ledger<DB: Dialect> {
    balance: Upsert<DB>,
    event: String,
    /// Fail the first attempt of every record whose offset is 3 modulo this (0: none).
    fail_every: i64,
    failed: HashSet<(i32, i64)>,
    /// Records of this amount fail on every attempt.
    poison_amount: Option<i64>,
}

impl<DB: Dialect> Ledger<DB> {
    fn new(tables: &Tables, placeholders: [&str; 2], fail_every: i64) -> Self {
        Ledger {
            balance: Upsert::increment(&tables.accounts, &["account"], &["balance", "events"])
                .unwrap(),
            event: format!(
                "INSERT INTO {} (kafka_partition, kafka_offset) VALUES ({}, {})",
                tables.events, placeholders[0], placeholders[1]
            ),
            fail_every,
            failed: HashSet::new(),
            poison_amount: None,
        }
    }
}

macro_rules! ledger {
    ($db:ty, $conn:ty) => {
        impl DatabaseProcessor<$db> for Ledger<$db> {
            type Input = i64;

            async fn process(&mut self, input: Input<i64>, tx: &mut $conn) -> Result<(), BoxError> {
                if self.fail_every > 0
                    && input.offset % self.fail_every == 3
                    && self.failed.insert((input.partition, input.offset))
                {
                    return Err("injected failure".into());
                }
                if self.poison_amount == Some(input.value) {
                    return Err(format!("amount {} is refused, always", input.value).into());
                }
                let account =
                    String::from_utf8_lossy(input.key.as_deref().unwrap_or_default()).into_owned();
                self.balance
                    .query()
                    .bind(account)
                    .bind(input.value)
                    .bind(1_i64)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(&self.event)
                    .bind(input.partition)
                    .bind(input.offset)
                    .execute(&mut *tx)
                    .await?;
                Ok(())
            }
        }
    };
}
ledger!(Postgres, sqlx::PgConnection);
ledger!(MySql, sqlx::MySqlConnection);

/// One database of the suite: its URL and the ledger's placeholders.
trait Server: Dialect {
    const URL: &'static str;
    const PLACEHOLDERS: [&'static str; 2];
    /// The dead letters' `error` column as text a driver-neutral pool reads.
    const ERROR_TEXT: &'static str;
}
impl Server for Postgres {
    const URL: &'static str = POSTGRES_URL;
    const PLACEHOLDERS: [&'static str; 2] = ["$1", "$2"];
    const ERROR_TEXT: &'static str = "error";
}
impl Server for MySql {
    const URL: &'static str = MYSQL_URL;
    const PLACEHOLDERS: [&'static str; 2] = ["?", "?"];
    const ERROR_TEXT: &'static str = "CAST(error AS CHAR(255))";
}

struct Tables {
    accounts: String,
    events: String,
    offsets: String,
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

async fn any_pool(url: &str) -> AnyPool {
    sqlx::any::install_default_drivers();
    AnyPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .unwrap()
}

async fn create_tables(db: &AnyPool) -> Tables {
    let t = Tables {
        accounts: unique("sink_accounts"),
        events: unique("sink_events"),
        offsets: unique("sink_offsets"),
    };
    for sql in [
        format!("CREATE TABLE {} (account VARCHAR(64) PRIMARY KEY, balance BIGINT NOT NULL, events BIGINT NOT NULL)", t.accounts),
        format!("CREATE TABLE {} (kafka_partition INT NOT NULL, kafka_offset BIGINT NOT NULL, PRIMARY KEY (kafka_partition, kafka_offset))", t.events),
    ] {
        sqlx::query(&sql).execute(db).await.unwrap();
    }
    t
}

/// `n` records over `ACCOUNTS` accounts, amounts 1..=1000, and the balances they make.
fn ledger_input(n: usize) -> (Vec<Record>, BTreeMap<String, (i64, i64)>) {
    let mut expected = BTreeMap::new();
    let records = (0..n)
        .map(|i| {
            let account = format!("account-{}", i % ACCOUNTS);
            let amount = (i % 1000 + 1) as i64;
            let e = expected.entry(account.clone()).or_insert((0, 0));
            e.0 += amount;
            e.1 += 1;
            Record::new(account, amount.to_string())
        })
        .collect();
    (records, expected)
}

async fn balances(db: &AnyPool, t: &Tables) -> BTreeMap<String, (i64, i64)> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(&format!(
        "SELECT account, balance, events FROM {}",
        t.accounts
    ))
    .fetch_all(db)
    .await
    .unwrap();
    rows.into_iter().map(|(a, b, e)| (a, (b, e))).collect()
}

async fn events(db: &AnyPool, t: &Tables) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", t.events))
        .fetch_one(db)
        .await
        .unwrap()
}

/// A topic of `partitions` with `records`, and a group name.
async fn topic_with(cluster: &Cluster, partitions: i32, records: &[Record]) -> (String, String) {
    let topic = cluster.unique_topic("sink-in");
    cluster
        .create_topic_async(&topic, partitions)
        .await
        .unwrap();
    write_records_async(&cluster.bootstrap_servers(), &topic, records)
        .await
        .unwrap();
    (topic, cluster.unique_topic("sink-group"))
}

fn config(
    cluster: &Cluster,
    topic: &str,
    group: &str,
) -> kafka_eos_processor::config::PipelineConfigBuilder {
    PipelineConfig::builder()
        .bootstrap_servers(cluster.bootstrap_servers())
        .group_id(group)
        .input_topic(topic)
        .commit_interval(Duration::from_millis(100))
        .commit_max_records(500)
        .consumer_override("session.timeout.ms", "6000")
}

struct Running {
    task: JoinHandle<Result<(), Error>>,
    stop: CancellationToken,
    stats: std::sync::Arc<kafka_eos_database::Stats>,
}

async fn start<DB: Server>(
    cluster: &Cluster,
    url: &str,
    topic: &str,
    group: &str,
    t: &Tables,
    fail_every: i64,
) -> Running
where
    Ledger<DB>: DatabaseProcessor<DB, Input = i64>,
{
    let stop = CancellationToken::new();
    let sink = DatabaseSink::<DB, _, _>::builder(
        config(cluster, topic, group),
        url,
        Ledger::<DB>::new(t, DB::PLACEHOLDERS, fail_every),
        JsonCodec::<i64>::new(),
    )
    .offsets_table(&t.offsets)
    .max_attempts(3)
    // shorter than the outage test's 3 s cut: a connection asked for between two batches
    // fails (and the batch rolls back) instead of waiting the outage out
    .connect_timeout(Duration::from_secs(1))
    .shutdown(stop.clone())
    .build()
    .await
    .unwrap();
    Running {
        stats: sink.stats(),
        task: tokio::spawn(sink.run()),
        stop,
    }
}

/// Waits until `n` events are in the table (at most `limit`).
async fn until_events(db: &AnyPool, t: &Tables, n: i64, limit: Duration) -> i64 {
    let started = Instant::now();
    loop {
        let done = events(db, t).await;
        if done >= n || started.elapsed() > limit {
            return done;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn stop(r: Running) {
    r.stop.cancel();
    tokio::time::timeout(Duration::from_secs(30), r.task)
        .await
        .expect("the sink stops")
        .expect("its task")
        .expect("it stops without an error");
}

/// 20,000 records; three sinks are aborted mid-run (their futures dropped, transactions
/// open), the fourth finishes: every balance is the input's sum, every record applied once.
async fn exactly_once_across_interrupted_runs<DB: Server>()
where
    Ledger<DB>: DatabaseProcessor<DB, Input = i64>,
{
    let db = any_pool(DB::URL).await;
    let cluster = Cluster::from_env().unwrap();
    let n = 20_000;
    let (records, expected) = ledger_input(n);
    let (topic, group) = topic_with(&cluster, 4, &records).await;
    let t = create_tables(&db).await;
    for round in 1..=3 {
        let r = start::<DB>(&cluster, DB::URL, &topic, &group, &t, 0).await;
        let reached = until_events(&db, &t, (n as i64 / 5) * round, Duration::from_secs(60)).await;
        assert!(
            reached >= (n as i64 / 5) * round,
            "round {round}: {reached} events"
        );
        r.task.abort(); // a crash: the open transaction is never committed
        let _ = r.task.await;
    }
    let last = start::<DB>(&cluster, DB::URL, &topic, &group, &t, 0).await;
    let done = until_events(&db, &t, n as i64, Duration::from_secs(120)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop(last).await;
    assert_eq!(done, n as i64);
    assert_eq!(events(&db, &t).await, n as i64, "every record applied once");
    assert_eq!(
        balances(&db, &t).await,
        expected,
        "balances = the input's sums"
    );
    let next: Vec<(i64,)> = sqlx::query_as(&format!("SELECT next_offset FROM {}", t.offsets))
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(next.len(), 4, "one offsets row per partition");
    assert_eq!(next.iter().map(|r| r.0).sum::<i64>(), n as i64);
}

/// Two sinks of one group share 4 partitions (the second joins mid-run: a rebalance), with
/// a failing first attempt every 97 records (the batch rolls back and runs again).
async fn two_sinks_and_failures_apply_each_record_once<DB: Server>()
where
    Ledger<DB>: DatabaseProcessor<DB, Input = i64>,
{
    let metrics = recorder();
    let db = any_pool(DB::URL).await;
    let cluster = Cluster::from_env().unwrap();
    let n = 12_000;
    let (records, expected) = ledger_input(n);
    let (topic, group) = topic_with(&cluster, 4, &records).await;
    let t = create_tables(&db).await;
    let a = start::<DB>(&cluster, DB::URL, &topic, &group, &t, 97).await;
    until_events(&db, &t, n as i64 / 4, Duration::from_secs(60)).await;
    let b = start::<DB>(&cluster, DB::URL, &topic, &group, &t, 97).await;
    let done = until_events(&db, &t, n as i64, Duration::from_secs(120)).await;
    stop(a).await;
    stop(b).await;
    assert_eq!(done, n as i64);
    assert_eq!(events(&db, &t).await, n as i64);
    assert_eq!(balances(&db, &t).await, expected);
    // the metrics facade counted what committed, and the rollbacks of the failures
    let page = metrics.render();
    let sample = |series: &str| -> f64 {
        page.lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit_once(' '))
            .map_or(0.0, |(_, v)| v.parse().unwrap())
    };
    let records = format!("kafka_eos_database_records_total{{group=\"{group}\"}}");
    assert_eq!(sample(&records), n as f64, "{page}");
    let rolled_back = format!(
        "kafka_eos_database_transactions_total{{group=\"{group}\",outcome=\"rolled_back\"}}"
    );
    assert!(sample(&rolled_back) >= 1.0, "{page}");
}

/// The Prometheus recorder of this test binary, installed once.
fn recorder() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .unwrap()
        })
        .clone()
}

/// The sink reaches the database through a link that is cut for 3 s mid-run (the server
/// gone: connections dropped, new ones refused): batches roll back and run again, with
/// backoff, until it is back; nothing is applied twice.
async fn a_database_outage_is_survived<DB: Server>(server: &str)
where
    Ledger<DB>: DatabaseProcessor<DB, Input = i64>,
{
    let db = any_pool(DB::URL).await;
    let cluster = Cluster::from_env().unwrap();
    let n = 10_000;
    let (records, expected) = ledger_input(n);
    let (topic, group) = topic_with(&cluster, 2, &records).await;
    let t = create_tables(&db).await;
    let link = link::Link::to(server).await;
    let url = DB::URL.replacen(server, &format!("127.0.0.1:{}", link.port()), 1);
    let r = start::<DB>(&cluster, &url, &topic, &group, &t, 0).await;
    until_events(&db, &t, n as i64 / 4, Duration::from_secs(60)).await;
    link.cut().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = events(&db, &t).await;
    assert!(during < n as i64, "the outage came before the end");
    let _back = link::Link::on(link.port(), server).await;
    let done = until_events(&db, &t, n as i64, Duration::from_secs(120)).await;
    let rollbacks = r.stats.snapshot().rollbacks;
    stop(r).await;
    assert_eq!(done, n as i64);
    assert!(rollbacks >= 1, "the outage rolled a batch back");
    assert_eq!(events(&db, &t).await, n as i64);
    assert_eq!(balances(&db, &t).await, expected);
}

/// 3,000 records, 3 of them not JSON numbers and 3 of an amount the processor always
/// refuses: with a dead-letter table those 6 land there (key, value, error, attempts) in
/// their batch's transaction, and every other record is applied once.
async fn poison_records_are_dead_lettered_in_their_batch<DB: Server>()
where
    Ledger<DB>: DatabaseProcessor<DB, Input = i64>,
{
    let db = any_pool(DB::URL).await;
    let cluster = Cluster::from_env().unwrap();
    let (mut records, _) = ledger_input(3_000);
    for i in [100, 1_500, 2_900] {
        records[i] = Record::new(format!("account-{}", i % ACCOUNTS), "not a number");
    }
    // amount 500 is record i with i % 1000 == 499: 3 of them
    let poison_amount = 500;
    let mut expected: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for r in &records {
        let Ok(amount) = r.value_text().parse::<i64>() else {
            continue;
        };
        if amount == poison_amount {
            continue;
        }
        let e = expected
            .entry(String::from_utf8_lossy(&r.key).into_owned())
            .or_default();
        e.0 += amount;
        e.1 += 1;
    }
    let (topic, group) = topic_with(&cluster, 2, &records).await;
    let t = create_tables(&db).await;
    let dead_letters = format!("{}_dlq", t.offsets);
    let token = CancellationToken::new();
    let mut ledger = Ledger::<DB>::new(&t, DB::PLACEHOLDERS, 0);
    ledger.poison_amount = Some(poison_amount);
    let sink = DatabaseSink::<DB, _, _>::builder(
        config(&cluster, &topic, &group),
        DB::URL,
        ledger,
        JsonCodec::<i64>::new(),
    )
    .offsets_table(&t.offsets)
    .dead_letter_table(&dead_letters)
    .max_attempts(2)
    .backoff(kafka_eos_processor::Backoff::new(
        Duration::from_millis(10),
        Duration::from_millis(50),
    ))
    .shutdown(token.clone())
    .build()
    .await
    .unwrap();
    let stats = sink.stats();
    let r = Running {
        stats: sink.stats(),
        task: tokio::spawn(sink.run()),
        stop: token,
    };
    let good = records.len() as i64 - 6;
    let done = until_events(&db, &t, good, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop(r).await;
    assert_eq!(done, good);
    assert_eq!(events(&db, &t).await, good);
    assert_eq!(balances(&db, &t).await, expected);
    let rows: Vec<(i64, Option<Vec<u8>>, String, i32)> = sqlx::query_as(&format!(
        "SELECT kafka_offset, record_value, {} AS error, attempts FROM {dead_letters} ORDER BY kafka_offset",
        DB::ERROR_TEXT
    ))
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(rows.len(), 6, "{rows:?}");
    let refused: Vec<_> = rows.iter().filter(|r| r.2.contains("refused")).collect();
    assert_eq!(refused.len(), 3, "{rows:?}");
    assert!(
        refused
            .iter()
            .all(|r| r.3 == 2 && r.1.as_deref() == Some(&b"500"[..])),
        "{rows:?}"
    );
    let undecodable: Vec<_> = rows
        .iter()
        .filter(|r| r.2.contains("cannot decode"))
        .collect();
    assert_eq!(undecodable.len(), 3, "{rows:?}");
    assert!(
        undecodable
            .iter()
            .all(|r| r.3 == 1 && r.1.as_deref() == Some(&b"not a number"[..])),
        "{rows:?}"
    );
    assert_eq!(stats.snapshot().dead_letters, 6);
}

macro_rules! suite {
    ($module:ident, $db:ty, $server:literal) => {
        mod $module {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn exactly_once_across_interrupted_runs() {
                super::exactly_once_across_interrupted_runs::<$db>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn two_sinks_and_failures_apply_each_record_once() {
                super::two_sinks_and_failures_apply_each_record_once::<$db>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn poison_records_are_dead_lettered_in_their_batch() {
                super::poison_records_are_dead_lettered_in_their_batch::<$db>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_database_outage_is_survived() {
                super::a_database_outage_is_survived::<$db>($server).await;
            }
        }
    };
}
suite!(postgres, Postgres, "127.0.0.1:5432");
suite!(mariadb, MySql, "127.0.0.1:3306");

#[tokio::test]
async fn a_missing_offsets_table_is_reported_with_the_sql_that_creates_it() {
    let cluster = Cluster::from_env().unwrap();
    let db = any_pool(POSTGRES_URL).await;
    let t = create_tables(&db).await;
    let sink = DatabaseSink::<Postgres, _, _>::builder(
        config(&cluster, "unused", "unused"),
        POSTGRES_URL,
        Ledger::<Postgres>::new(&t, Postgres::PLACEHOLDERS, 0),
        JsonCodec::<i64>::new(),
    )
    .offsets_table(&t.offsets)
    .create_offsets_table(false)
    .build()
    .await
    .unwrap();
    let e = sink.run().await.unwrap_err();
    assert!(matches!(e, Error::MissingOffsetsTable { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains(&format!("CREATE TABLE IF NOT EXISTS {}", t.offsets)),
        "{text}"
    );
}

#[tokio::test]
async fn an_unreachable_database_is_named_without_its_password() {
    let cluster = Cluster::from_env().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://app:s3cret-pw@127.0.0.1:{port}/test");
    let t = Tables {
        accounts: "a".into(),
        events: "e".into(),
        offsets: "o".into(),
    };
    let e = DatabaseSink::<Postgres, _, _>::builder(
        config(&cluster, "unused", "unused"),
        &url,
        Ledger::<Postgres>::new(&t, Postgres::PLACEHOLDERS, 0),
        JsonCodec::<i64>::new(),
    )
    .connect_timeout(Duration::from_secs(2))
    .build()
    .await
    .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, Error::Connect { .. }), "{e:?}");
    assert!(
        text.contains(&format!("postgres://app:***@127.0.0.1:{port}/test")),
        "{text}"
    );
    assert!(!text.contains("s3cret-pw"), "{text}");
    assert!(!format!("{e:?}").contains("s3cret-pw"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_kafka_password_stops_the_sink() {
    use kafka_eos_broker::{BrokerConfig, TestCertificates};
    use kafka_eos_processor::config::{Sasl, Security};
    let certs = TestCertificates::generate(&["localhost", "127.0.0.1"]).unwrap();
    let ca = std::env::temp_dir().join(format!("{}-ca.pem", unique("sink-sasl")));
    certs.write_ca(&ca).unwrap();
    let cluster = Cluster::embedded_with(
        BrokerConfig::default()
            .tls(certs.identity())
            .sasl_user("sink", "right-password"),
    )
    .unwrap();
    cluster.create_topic("sasl-in", 1).unwrap();
    let db = any_pool(POSTGRES_URL).await;
    let t = create_tables(&db).await;
    let security =
        Security::sasl_ssl(Sasl::scram_sha_256("sink", "wrong-password")).ca_location(&ca);
    let sink = DatabaseSink::<Postgres, _, _>::builder(
        config(&cluster, "sasl-in", &unique("sasl-group")).security(security),
        POSTGRES_URL,
        Ledger::<Postgres>::new(&t, Postgres::PLACEHOLDERS, 0),
        JsonCodec::<i64>::new(),
    )
    .offsets_table(&t.offsets)
    .build()
    .await
    .unwrap();
    let e = tokio::time::timeout(Duration::from_secs(60), sink.run())
        .await
        .expect("a refused password must stop the sink, not retry")
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Consumer {
                operation: "SASL authentication",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(!format!("{e} {e:?}").contains("wrong-password"));
}

#[test]
fn bad_table_names_are_refused() {
    assert!(matches!(
        Upsert::<Postgres>::new("t; drop table x", &["k"], &[]),
        Err(Error::InvalidTable { .. })
    ));
    assert!(Upsert::<MySql>::new("t", &[], &["c"]).is_err());
    assert!(Upsert::<MySql>::increment("t", &["k"], &[]).is_err());
}
