//! The demo into a database (`--sink postgres|mariadb`): the same order events, written by
//! [`kafka_eos_database::DatabaseSink`] workers into an order-status table (upserted by order
//! id) and a per-merchant fee balance (incremented per event: not idempotent), then the
//! tables checked against the input.

pub mod run;

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use kafka_eos_database::{DatabaseProcessor, Upsert};
use kafka_eos_processor::{BoxError, Input};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, MySql, Postgres};

use crate::error::DemoError;
use crate::orders::{fails_transiently, fee_of, merchant_of, status_of, OrderEvent};
use crate::worker::{MetricsLine, WorkerArgs};

/// Where the demo's pipeline writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Sink {
    /// The output topic, in Kafka transactions.
    #[default]
    Kafka,
    /// PostgreSQL tables, in database transactions (`kafka-eos-database`).
    Postgres,
    /// MariaDB (or MySQL) tables, in database transactions (`kafka-eos-database`).
    Mariadb,
}

impl Sink {
    /// The database to write to: `given` (`--database-url`), else the one of this machine and
    /// of CI; a usage error for `--sink kafka`.
    pub fn url(self, given: Option<&str>) -> Result<String, DemoError> {
        let default = match self {
            Sink::Kafka => return Err(DemoError::Usage("--sink kafka writes no tables".into())),
            Sink::Postgres => "postgres://postgres@127.0.0.1:5432/test",
            Sink::Mariadb => "mysql://root@127.0.0.1:3306/test",
        };
        Ok(given.unwrap_or(default).to_owned())
    }
}

/// The tables of one run: order status, merchant fees, and the sink's offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    /// One row per order: its last status and step, its events, and how many arrived out
    /// of order (always 0 when per-key order holds).
    pub status: String,
    /// One row per merchant: the fees of its orders' events, and how many events.
    pub fees: String,
    /// The sink's offsets table.
    pub offsets: String,
}

impl Tables {
    /// `<prefix>_order_status`, `<prefix>_merchant_fees`, `<prefix>_offsets`.
    pub fn with_prefix(prefix: &str) -> Self {
        Tables {
            status: format!("{prefix}_order_status"),
            fees: format!("{prefix}_merchant_fees"),
            offsets: format!("{prefix}_offsets"),
        }
    }

    /// Drops and creates the tables (the offsets table is left to the sink).
    pub async fn recreate(&self, db: &AnyPool) -> Result<(), sqlx::Error> {
        for sql in [
            format!("DROP TABLE IF EXISTS {}", self.status),
            format!("DROP TABLE IF EXISTS {}", self.fees),
            format!("DROP TABLE IF EXISTS {}", self.offsets),
            format!(
                "CREATE TABLE {} (order_id BIGINT PRIMARY KEY, status VARCHAR(32) NOT NULL, \
                 seq INT NOT NULL, events BIGINT NOT NULL, out_of_order BIGINT NOT NULL)",
                self.status
            ),
            format!(
                "CREATE TABLE {} (merchant BIGINT PRIMARY KEY, balance_cents BIGINT NOT NULL, \
                 events BIGINT NOT NULL)",
                self.fees
            ),
        ] {
            sqlx::query(&sql).execute(db).await?;
        }
        Ok(())
    }

    /// Events applied so far (the fee table's event counts).
    pub async fn events_applied(&self, db: &AnyPool) -> Result<i64, sqlx::Error> {
        let counts: Vec<i64> = sqlx::query_scalar(&format!("SELECT events FROM {}", self.fees))
            .fetch_all(db)
            .await?;
        Ok(counts.iter().sum())
    }
}

/// A pool on `url` that speaks to either database.
pub async fn connect(url: &str) -> Result<AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    AnyPoolOptions::new().max_connections(2).connect(url).await
}

/// The workers' processor: per event, the order's status row upserted (counting events out
/// of order) and the merchant's fee added to its balance, in the batch's transaction.
#[derive(Debug)]
pub struct OrderRows<DB: kafka_eos_database::Dialect> {
    status: String,
    fees: Upsert<DB>,
    /// Fraction of records whose first attempt (in this worker life) fails.
    transient_failures: f64,
    failed: HashSet<(i32, i64)>,
}

impl OrderRows<Postgres> {
    /// The processor writing `tables` on PostgreSQL.
    pub fn postgres(
        tables: &Tables,
        transient_failures: f64,
    ) -> Result<Self, kafka_eos_database::Error> {
        let s = &tables.status;
        Ok(OrderRows {
            status: format!(
                "INSERT INTO {s} (order_id, status, seq, events, out_of_order) VALUES ($1, $2, $3, 1, $4) \
                 ON CONFLICT (order_id) DO UPDATE SET \
                 out_of_order = {s}.out_of_order + CASE WHEN EXCLUDED.seq = {s}.seq + 1 THEN 0 ELSE 1 END, \
                 status = EXCLUDED.status, seq = EXCLUDED.seq, events = {s}.events + 1"
            ),
            fees: Upsert::increment(&tables.fees, &["merchant"], &["balance_cents", "events"])?,
            transient_failures,
            failed: HashSet::new(),
        })
    }
}

impl OrderRows<MySql> {
    /// The processor writing `tables` on MariaDB / MySQL.
    pub fn mysql(
        tables: &Tables,
        transient_failures: f64,
    ) -> Result<Self, kafka_eos_database::Error> {
        let s = &tables.status;
        Ok(OrderRows {
            // assignments run left to right: out_of_order reads the old seq
            status: format!(
                "INSERT INTO {s} (order_id, status, seq, events, out_of_order) VALUES (?, ?, ?, 1, ?) \
                 ON DUPLICATE KEY UPDATE \
                 out_of_order = out_of_order + IF(VALUES(seq) = seq + 1, 0, 1), \
                 status = VALUES(status), seq = VALUES(seq), events = events + 1"
            ),
            fees: Upsert::increment(&tables.fees, &["merchant"], &["balance_cents", "events"])?,
            transient_failures,
            failed: HashSet::new(),
        })
    }
}

impl<DB: kafka_eos_database::Dialect> OrderRows<DB> {
    /// Whether this attempt of `input` fails (injected: once per worker life).
    fn fails(&mut self, input: &Input<OrderEvent>) -> bool {
        fails_transiently(&input.value, self.transient_failures)
            && self.failed.insert((input.partition, input.offset))
    }
}

macro_rules! order_rows {
    ($db:ty, $conn:ty) => {
        impl DatabaseProcessor<$db> for OrderRows<$db> {
            type Input = OrderEvent;

            async fn process(
                &mut self,
                input: Input<OrderEvent>,
                tx: &mut $conn,
            ) -> Result<(), BoxError> {
                if self.fails(&input) {
                    return Err("injected transient failure".into());
                }
                let e = &input.value;
                sqlx::query(&self.status)
                    .bind(e.order as i64)
                    .bind(status_of(e.kind))
                    .bind(e.seq as i32)
                    .bind(i64::from(e.seq != 0))
                    .execute(&mut *tx)
                    .await?;
                self.fees
                    .query()
                    .bind(merchant_of(e.order) as i64)
                    .bind(fee_of(e) as i64)
                    .bind(1_i64)
                    .execute(&mut *tx)
                    .await?;
                Ok(())
            }
        }
    };
}
order_rows!(Postgres, sqlx::PgConnection);
order_rows!(MySql, sqlx::MySqlConnection);

/// What the tables must hold after `events`: per order (status, seq, events), per merchant
/// (balance, events).
#[allow(clippy::type_complexity)]
pub fn expected(
    events: &[OrderEvent],
) -> (BTreeMap<i64, (String, i32, i64)>, BTreeMap<i64, (i64, i64)>) {
    let mut orders = BTreeMap::new();
    let mut merchants: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for e in events {
        let o = orders
            .entry(e.order as i64)
            .or_insert((String::new(), 0, 0));
        *o = (status_of(e.kind).to_owned(), e.seq as i32, o.2 + 1);
        let m = merchants.entry(merchant_of(e.order) as i64).or_default();
        m.0 += fee_of(e) as i64;
        m.1 += 1;
    }
    (orders, merchants)
}

/// The tables compared with f(input).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TablesOutcome {
    /// Orders in the input.
    pub orders: usize,
    /// Merchants in the input.
    pub merchants: usize,
    /// Events in the input.
    pub events: i64,
    /// Events applied, by the fee table's count.
    pub applied: i64,
    /// Orders missing from the status table, or with fewer events than the input has.
    pub missing: usize,
    /// Orders with more events applied than the input has (a duplicate), and rows of
    /// orders the input does not have.
    pub duplicated: usize,
    /// Orders whose status or step is not their last event's.
    pub wrong_status: usize,
    /// Events applied out of their order's sequence (per-key order broken).
    pub out_of_order: i64,
    /// Merchants whose balance or event count is not the sum over the input.
    pub wrong_balances: usize,
}

impl TablesOutcome {
    /// Whether the tables are exactly f(input).
    pub fn holds(&self) -> bool {
        self.missing == 0
            && self.duplicated == 0
            && self.wrong_status == 0
            && self.out_of_order == 0
            && self.wrong_balances == 0
            && self.applied == self.events
    }
}

impl fmt::Display for TablesOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} events of {} orders and {} merchants; applied {}; missing {}, duplicated {}, wrong status {}, out of order {}, wrong balances {}: {}",
            self.events,
            self.orders,
            self.merchants,
            self.applied,
            self.missing,
            self.duplicated,
            self.wrong_status,
            self.out_of_order,
            self.wrong_balances,
            if self.holds() { "EXACTLY ONCE" } else { "NOT EXACTLY ONCE" }
        )
    }
}

/// Reads the tables and compares them with f(`events`).
pub async fn check(
    db: &AnyPool,
    tables: &Tables,
    events: &[OrderEvent],
) -> Result<TablesOutcome, sqlx::Error> {
    let (orders, merchants) = expected(events);
    let rows: Vec<(i64, String, i32, i64, i64)> = sqlx::query_as(&format!(
        "SELECT order_id, status, seq, events, out_of_order FROM {}",
        tables.status
    ))
    .fetch_all(db)
    .await?;
    let fee_rows: Vec<(i64, i64, i64)> = sqlx::query_as(&format!(
        "SELECT merchant, balance_cents, events FROM {}",
        tables.fees
    ))
    .fetch_all(db)
    .await?;
    let mut outcome = TablesOutcome {
        orders: orders.len(),
        merchants: merchants.len(),
        events: events.len() as i64,
        applied: fee_rows.iter().map(|r| r.2).sum(),
        ..TablesOutcome::default()
    };
    let found: BTreeMap<i64, (String, i32, i64, i64)> = rows
        .into_iter()
        .map(|(id, status, seq, n, ooo)| (id, (status, seq, n, ooo)))
        .collect();
    for (id, (status, seq, n)) in &orders {
        match found.get(id) {
            None => outcome.missing += 1,
            Some((s, q, m, ooo)) => {
                outcome.out_of_order += ooo;
                if m < n {
                    outcome.missing += 1;
                } else if m > n {
                    outcome.duplicated += 1;
                } else if s != status || q != seq {
                    outcome.wrong_status += 1;
                }
            }
        }
    }
    outcome.duplicated += found.keys().filter(|id| !orders.contains_key(id)).count();
    let fees: BTreeMap<i64, (i64, i64)> =
        fee_rows.into_iter().map(|(m, b, n)| (m, (b, n))).collect();
    outcome.wrong_balances = merchants
        .iter()
        .filter(|(m, want)| fees.get(m) != Some(want))
        .count()
        + fees.keys().filter(|m| !merchants.contains_key(m)).count();
    Ok(outcome)
}

/// Runs a worker of `--sink postgres|mariadb` until shutdown: the sink, its metrics lines.
pub async fn run_worker(args: WorkerArgs) -> Result<(), DemoError> {
    let tables = Tables::with_prefix(&args.tables);
    let url = args.sink.url(args.database_url.as_deref())?;
    // each failure costs the sink a rollback and a backoff (the Kafka pipeline parks the key
    // instead): a tenth of the Kafka pipeline's rate
    let failures = args.transient_failures / 10.0;
    match args.sink {
        Sink::Postgres => {
            sink(
                &args,
                &url,
                &tables,
                OrderRows::postgres(&tables, failures)?,
            )
            .await
        }
        _ => sink(&args, &url, &tables, OrderRows::mysql(&tables, failures)?).await,
    }
}

async fn sink<DB: kafka_eos_database::Dialect>(
    args: &WorkerArgs,
    url: &str,
    tables: &Tables,
    rows: OrderRows<DB>,
) -> Result<(), DemoError>
where
    OrderRows<DB>: DatabaseProcessor<DB, Input = OrderEvent>,
{
    let token = kafka_eos_processor::CancellationToken::new();
    let config = kafka_eos_processor::config::PipelineConfig::builder()
        .bootstrap_servers(&args.bootstrap)
        .security(kafka_eos_processor::config::Security::from_env()?)
        .group_id(&args.group)
        .input_topic(&args.input)
        .commit_interval(std::time::Duration::from_millis(args.commit_interval_ms))
        .commit_max_records(args.commit_records)
        .consumer_override(
            "group.instance.id",
            format!("{}-{}", args.group, args.instance),
        )
        .consumer_override("session.timeout.ms", "10000");
    let sink = kafka_eos_database::DatabaseSink::builder(
        config,
        url,
        rows,
        kafka_eos_processor::JsonCodec::<OrderEvent>::new(),
    )
    .offsets_table(&tables.offsets)
    .max_attempts(args.max_attempts)
    .backoff(kafka_eos_processor::Backoff::new(
        std::time::Duration::from_millis(args.retry_initial_ms),
        std::time::Duration::from_millis(args.retry_max_ms),
    ))
    .shutdown(token.clone())
    .stop_on_signals(true)
    .build()
    .await?;
    let stats = sink.stats();
    let instance = args.instance;
    let line = move || {
        let s = stats.snapshot();
        MetricsLine {
            instance,
            commits: s.transactions,
            aborts: s.rollbacks,
            records_in: s.records,
            records_out: s.records,
            ..MetricsLine::default()
        }
    };
    crate::worker::serve(args, token, line, sink.run()).await?;
    Ok(())
}
