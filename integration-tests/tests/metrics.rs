#![cfg(test)] // test code: clippy.toml lets it unwrap and panic
//! The Prometheus endpoint of a running pipeline, scraped over HTTP: its counters match
//! what a `read_committed` reader sees, its per-partition lag is reported while records wait
//! and falls to 0 once the pipeline has caught up (an input written by plain idempotent
//! sends, and one written by transactions, whose commit markers follow the last records),
//! and an address that cannot be bound stops `run()` with a clear error.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kafka_eos_integration_tests::{runtime, Topics};
use kafka_eos_processor::metric_names::{
    CONSUMER_LAG_RECORDS, CONSUMER_LAG_SECONDS, HOT_KEY_SHARE, RECORDS_IN, RECORDS_OUT,
    TRANSACTIONS_ABORTED, TRANSACTIONS_COMMITTED,
};
use kafka_eos_processor::{BoxError, Input, Output, PipelineBuilder, Processor, RawBytes};
use kafka_eos_testkit::{
    check_exactly_once, read_committed, run_pipeline, write_records, Cluster, Record,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const RECORDS: usize = 300;
const PARTITIONS: i32 = 3;
const TIMEOUT: Duration = Duration::from_secs(60);

/// Copies each record to `output`, after `work` (so records wait and lag shows).
struct Copy {
    output: String,
    work: Duration,
}

impl Processor for Copy {
    type Input = Option<Vec<u8>>;
    async fn process(&self, i: Input<Option<Vec<u8>>>) -> Result<Vec<Output>, BoxError> {
        tokio::time::sleep(self.work).await;
        let key = i.key.map(Vec::from).unwrap_or_default();
        Ok(vec![Output::new(
            &self.output,
            key,
            i.value.unwrap_or_default(),
        )])
    }
}

fn input() -> Vec<Record> {
    (0..RECORDS)
        .map(|i| Record::new(format!("k{}", i % 30), format!("v{i}")))
        .collect()
}

/// A free port on 127.0.0.1 (bound and released: the test's own address).
fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// `GET /metrics`, the body.
async fn scrape(addr: SocketAddr) -> Option<String> {
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut page = String::new();
    s.read_to_string(&mut page).await.ok()?;
    let (head, body) = page.split_once("\r\n\r\n")?;
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    Some(body.to_owned())
}

/// The samples of `name` in a text-format page: each with its labels.
fn samples(page: &str, name: &str) -> Vec<(Vec<(String, String)>, f64)> {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (n, labels) = series.split_once('{').unwrap_or((series, "}"));
            (n == name).then(|| {
                let labels = labels
                    .trim_end_matches('}')
                    .split(',')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
                    .collect();
                (labels, value.parse().unwrap())
            })
        })
        .collect()
}

fn sum(page: &str, name: &str) -> f64 {
    samples(page, name).iter().map(|(_, v)| v).sum()
}

/// What the scraper saw.
struct Scraped {
    last: String,
    max_lag: f64,
}

/// Scrapes `addr` until `records_in` reached `RECORDS` and every partition's lag is
/// reported and 0 (or the timeout: then it panics with the last page).
async fn scrape_until_caught_up(addr: SocketAddr) -> Scraped {
    let deadline = Instant::now() + TIMEOUT;
    let mut max_lag: f64 = 0.0;
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Some(page) = scrape(addr).await {
            let lag = samples(&page, CONSUMER_LAG_RECORDS);
            max_lag = max_lag.max(lag.iter().map(|(_, v)| v).sum());
            let caught_up = lag.len() == PARTITIONS as usize && lag.iter().all(|(_, v)| *v == 0.0);
            if sum(&page, RECORDS_IN) == RECORDS as f64 && caught_up {
                return Scraped {
                    last: page,
                    max_lag,
                };
            }
            last = page;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never caught up (max lag seen {max_lag}):\n{last}");
}

/// Runs the metered pipeline over `names.input` (already written) into `names.output`,
/// scraping its endpoint; checks the scraped counters against a `read_committed` read.
fn metered_run(cluster: &Cluster, names: &Topics, expected: &[Record]) {
    let bootstrap = cluster.bootstrap_servers();
    let addr = free_addr();
    let pipeline = PipelineBuilder::new()
        .bootstrap_servers(&bootstrap)
        .group_id(&names.group)
        .input_topic(&names.input)
        .commit_every_records(20)
        .consumer_override("statistics.interval.ms", "100")
        .metrics_addr(addr)
        .build(
            Copy {
                output: names.output.clone(),
                work: Duration::from_millis(5),
            },
            RawBytes,
        )
        .unwrap();
    let metrics = pipeline.metrics();
    let shutdown = pipeline.shutdown_token();
    let rt = runtime();
    let running = rt.spawn(pipeline.run());
    let scraped = rt.block_on(scrape_until_caught_up(addr));
    let read = read_committed(
        &bootstrap,
        &names.output,
        RECORDS,
        Duration::from_millis(500),
    )
    .unwrap();
    shutdown.cancel();
    rt.block_on(running).unwrap().unwrap();

    let report = check_exactly_once(expected, &read);
    assert!(report.is_exactly_once(), "{report}");
    let page = &scraped.last;
    assert_eq!(sum(page, RECORDS_IN), read.len() as f64, "{page}");
    assert_eq!(sum(page, RECORDS_OUT), read.len() as f64, "{page}");
    let commits = sum(page, TRANSACTIONS_COMMITTED);
    assert!(commits >= (RECORDS / 20) as f64 / 2.0, "{page}");
    assert!(commits <= metrics.snapshot().commits as f64, "{page}");
    assert!(
        scraped.max_lag > 0.0,
        "lag was never reported while records waited:\n{page}"
    );
    let lag = samples(page, CONSUMER_LAG_RECORDS);
    for (labels, _) in &lag {
        assert!(
            labels
                .iter()
                .any(|(k, v)| k == "topic" && *v == names.input),
            "{labels:?}"
        );
        assert!(
            labels
                .iter()
                .any(|(k, v)| k == "group" && *v == names.group),
            "{labels:?}"
        );
    }
    assert_eq!(sum(page, CONSUMER_LAG_SECONDS), 0.0, "{page}");
}

/// Copies each record; fails the first attempt of offset 100 (the batch aborts and replays).
struct FailOnce {
    output: String,
    failed: std::sync::atomic::AtomicBool,
}

impl Processor for FailOnce {
    type Input = Option<Vec<u8>>;
    async fn process(&self, i: Input<Option<Vec<u8>>>) -> Result<Vec<Output>, BoxError> {
        if i.offset == 100 && !self.failed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err("the first attempt of offset 100 fails".into());
        }
        let key = i.key.map(Vec::from).unwrap_or_default();
        Ok(vec![Output::new(
            &self.output,
            key,
            i.value.unwrap_or_default(),
        )])
    }
}

/// 10,000 keys once each, and a planted key (`merchant-42`) in 4,000 more records among
/// them, on one partition: the pipeline's sketch (of a sample of the records) names the
/// planted key with its share (4/14), served as `kafka_eos_hot_key_share`; the failed first attempt shows as an abort
/// with cause `retry`.
#[test]
fn a_planted_hot_key_and_an_abort_by_cause_are_served() {
    let cluster = Cluster::from_env().unwrap();
    let names = Topics::create_unique(&cluster, "hot-keys", 1).unwrap();
    let mut input = Vec::new();
    for i in 0..10_000 {
        input.push(Record::new(format!("order-{i}"), format!("v{i}")));
        if i % 5 < 2 {
            input.push(Record::new("merchant-42", format!("m{i}")));
        }
    }
    let bootstrap = cluster.bootstrap_servers();
    write_records(&bootstrap, &names.input, &input).unwrap();
    let addr = free_addr();
    let pipeline = PipelineBuilder::new()
        .bootstrap_servers(&bootstrap)
        .group_id(&names.group)
        .input_topic(&names.input)
        .hot_key_alert(0.2)
        .metrics_addr(addr)
        .build(
            FailOnce {
                output: names.output.clone(),
                failed: Default::default(),
            },
            RawBytes,
        )
        .unwrap();
    let hot_keys = pipeline.hot_keys();
    let shutdown = pipeline.shutdown_token();
    let rt = runtime();
    let running = rt.spawn(pipeline.run());
    let read = read_committed(
        &bootstrap,
        &names.output,
        input.len(),
        Duration::from_millis(300),
    )
    .unwrap();
    let page = rt.block_on(scrape(addr)).unwrap();
    shutdown.cancel();
    rt.block_on(running).unwrap().unwrap();

    assert!(check_exactly_once(&input, &read).is_exactly_once());
    let top = hot_keys.top(&names.input, 0);
    assert_eq!(top[0].key.as_deref(), Some(&b"merchant-42"[..]), "{top:?}");
    let hottest = hot_keys.hottest();
    let share = hottest[0].3;
    // 4,000 of 14,000 records, estimated from a sample of one in 16 (about 875 records:
    // a standard error of 0.015; a replayed batch is sampled again)
    assert!((0.22..=0.36).contains(&share), "share {share}");
    let served = samples(&page, HOT_KEY_SHARE);
    assert_eq!(served.len(), 1, "{page}");
    assert!((served[0].1 - share).abs() < 0.05, "{page}");
    let retry_aborts: f64 = samples(&page, TRANSACTIONS_ABORTED)
        .iter()
        .filter(|(labels, _)| labels.iter().any(|(k, v)| k == "cause" && v == "retry"))
        .map(|(_, v)| v)
        .sum();
    assert!(retry_aborts >= 1.0, "{page}");
}

#[test]
fn the_endpoint_counts_what_a_read_committed_reader_sees_and_lag_falls_to_zero() {
    let cluster = Cluster::from_env().unwrap();
    let names = Topics::create_unique(&cluster, "metrics", PARTITIONS).unwrap();
    let input = input();
    write_records(&cluster.bootstrap_servers(), &names.input, &input).unwrap();
    metered_run(&cluster, &names, &input);
}

/// The input is the output of another exactly-once pipeline: a commit marker follows each
/// partition's last record, past which no record's offset reaches.
#[test]
fn lag_falls_to_zero_on_an_input_written_by_transactions() {
    let cluster = Cluster::from_env().unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let first = Topics::create_unique(&cluster, "metrics-upstream", PARTITIONS).unwrap();
    let input = input();
    write_records(&bootstrap, &first.input, &input).unwrap();
    let upstream = PipelineBuilder::new()
        .bootstrap_servers(&bootstrap)
        .group_id(&first.group)
        .input_topic(&first.input)
        .build(
            Copy {
                output: first.output.clone(),
                work: Duration::ZERO,
            },
            RawBytes,
        )
        .unwrap();
    runtime()
        .block_on(run_pipeline(
            upstream,
            &bootstrap,
            &first.output,
            RECORDS,
            TIMEOUT,
        ))
        .unwrap();
    let second = Topics::create_unique(&cluster, "metrics-downstream", PARTITIONS).unwrap();
    let names = Topics {
        input: first.output.clone(),
        ..second
    };
    metered_run(&cluster, &names, &input);
}

#[test]
fn an_address_that_cannot_be_bound_stops_run_with_a_clear_error() {
    let cluster = Cluster::from_env().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let pipeline = PipelineBuilder::new()
        .bootstrap_servers(cluster.bootstrap_servers())
        .group_id("metrics-taken")
        .input_topic("metrics-taken")
        .metrics_addr(addr)
        .build(
            Copy {
                output: "unused".into(),
                work: Duration::ZERO,
            },
            RawBytes,
        )
        .unwrap();
    let err = runtime().block_on(pipeline.run()).unwrap_err();
    assert!(err.is_metrics_endpoint(), "{err:?}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    let source = std::error::Error::source(&err).unwrap();
    let io = source.downcast_ref::<std::io::Error>().unwrap();
    assert_eq!(io.kind(), std::io::ErrorKind::AddrInUse, "{err}");

    let port_zero = PipelineBuilder::new()
        .bootstrap_servers(cluster.bootstrap_servers())
        .group_id("metrics-zero")
        .input_topic("metrics-zero")
        .metrics_addr("127.0.0.1:0".parse().unwrap())
        .build(
            Copy {
                output: "unused".into(),
                work: Duration::ZERO,
            },
            RawBytes,
        )
        .unwrap_err();
    assert!(port_zero.is_config(), "{port_zero:?}");
}

/// The README's table, the crate docs' table and the Grafana dashboard name every metric,
/// and the dashboard queries no other `kafka_eos_` name.
#[test]
fn the_docs_and_the_dashboard_name_every_metric() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let read = |path: &str| std::fs::read_to_string(format!("{root}/{path}")).unwrap();
    let (readme, lib) = (read("README.md"), read("crates/processor/src/lib.rs"));
    let dashboard = read("dashboards/kafka-eos.json");
    for name in kafka_eos_processor::metric_names::ALL {
        assert!(
            readme.contains(&format!("| `{name}` |")),
            "README lacks {name}"
        );
        assert!(
            lib.contains(&format!("| `{name}` |")),
            "crate docs lack {name}"
        );
        assert!(dashboard.contains(name), "dashboard lacks {name}");
    }
    let queried = dashboard.split("kafka_eos_").skip(1).map(|rest| {
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap();
        format!("kafka_eos_{}", &rest[..end])
    });
    for name in queried {
        let known = kafka_eos_processor::metric_names::ALL
            .iter()
            .any(|n| name == *n || name == format!("{n}_bucket"));
        assert!(
            known,
            "the dashboard queries {name}, which no pipeline publishes"
        );
    }
}
