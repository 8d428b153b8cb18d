//! `kafka-eos lag`: a group's lag per partition (committed offset vs. the last stable
//! offset a read_committed pipeline can reach) and the skew across partitions; with
//! `--watch`, refreshed until Ctrl-C, with how fast each partition is consumed and produced
//! and when the group will have caught up; `--json` for scripts (one object per sample).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kafka_eos_core::lag::{group_observer_with, partition_lags, skew, PartitionLag};
use rdkafka::consumer::BaseConsumer;
use serde::Serialize;

use crate::error::CliError;
use crate::offsets::{partitions_of, TIMEOUT};

/// Arguments of `lag`.
#[derive(Debug, Clone, clap::Args)]
pub struct LagArgs {
    /// bootstrap.servers of the cluster.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
    pub bootstrap: String,
    /// The consumer group.
    #[arg(long)]
    pub group: String,
    /// The topic.
    #[arg(long)]
    pub topic: String,
    /// Refresh every `--interval` seconds until Ctrl-C, with rates and time to catch up.
    #[arg(long)]
    pub watch: bool,
    /// Seconds between two samples of `--watch`.
    #[arg(long, default_value_t = 2.0, value_parser = positive_seconds)]
    pub interval: f64,
    /// Stop `--watch` after this many samples.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Print each sample as one JSON object per line.
    #[arg(long)]
    pub json: bool,
}

impl LagArgs {
    /// One sample of `group`'s lag on `topic`, as a table.
    pub fn new(bootstrap: &str, group: &str, topic: &str) -> Self {
        LagArgs {
            bootstrap: bootstrap.to_owned(),
            group: group.to_owned(),
            topic: topic.to_owned(),
            watch: false,
            interval: 2.0,
            count: None,
            json: false,
        }
    }
}

fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a positive number of seconds")),
    }
}

/// The lag of every partition.
pub fn run(args: &LagArgs) -> Result<Vec<PartitionLag>, CliError> {
    let consumer = group_observer_with(&crate::client::base(&args.bootstrap)?, &args.group)?;
    let partitions = partitions_of(&consumer, &args.topic)?;
    read(&consumer, &args.topic, &partitions)
}

fn read(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: &[i32],
) -> Result<Vec<PartitionLag>, CliError> {
    Ok(partition_lags(consumer, topic, partitions, TIMEOUT)?)
}

/// One partition's lag and how it moves since the previous sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartitionTrend {
    /// Partition.
    pub partition: i32,
    /// Committed offset (`None`: the group has not committed).
    pub committed: Option<i64>,
    /// End offset for read_committed readers.
    pub end: i64,
    /// Records behind.
    pub lag: i64,
    /// Records/s the group committed since the previous sample (`None` on the first).
    pub consumed_per_s: Option<f64>,
    /// Records/s written to the partition since the previous sample (`None` on the first).
    pub produced_per_s: Option<f64>,
    /// Seconds until the lag is 0 at these rates: 0 when there is none, `None` when it is
    /// not shrinking (or on the first sample).
    pub catch_up_s: Option<f64>,
}

/// One sample of `--watch`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// When it was taken (ms since the epoch).
    pub time_ms: u128,
    /// The group.
    pub group: String,
    /// The topic.
    pub topic: String,
    /// Records behind, over every partition.
    pub total_lag: i64,
    /// The largest partition lag over the mean (1 = even).
    pub skew: f64,
    /// Every partition.
    pub partitions: Vec<PartitionTrend>,
}

/// Each partition of `now`, with its rates against `before`, `seconds` earlier.
pub fn trends(
    before: Option<&[PartitionLag]>,
    now: &[PartitionLag],
    seconds: f64,
) -> Vec<PartitionTrend> {
    now.iter()
        .map(|l| {
            let prev = before.and_then(|b| b.iter().find(|p| p.partition == l.partition));
            let rate = |from: i64, to: i64| (seconds > 0.0).then(|| (to - from) as f64 / seconds);
            let produced_per_s = prev.and_then(|p| rate(p.end, l.end));
            let consumed_per_s = prev.and_then(|p| match (p.committed, l.committed) {
                (Some(from), Some(to)) => rate(from, to),
                _ => None,
            });
            let catch_up_s = if l.lag == 0 {
                Some(0.0)
            } else {
                match (consumed_per_s, produced_per_s) {
                    (Some(c), Some(p)) if c > p => Some(l.lag as f64 / (c - p)),
                    _ => None,
                }
            };
            PartitionTrend {
                partition: l.partition,
                committed: l.committed,
                end: l.end,
                lag: l.lag,
                consumed_per_s,
                produced_per_s,
                catch_up_s,
            }
        })
        .collect()
}

/// Samples the lag every `--interval` (until `--count` samples, or forever), handing each
/// sample to `show`.
pub fn watch(args: &LagArgs, mut show: impl FnMut(&Sample)) -> Result<(), CliError> {
    let consumer = group_observer_with(&crate::client::base(&args.bootstrap)?, &args.group)?;
    let partitions = partitions_of(&consumer, &args.topic)?;
    let interval = Duration::from_secs_f64(args.interval);
    let mut before: Option<(Instant, Vec<PartitionLag>)> = None;
    let mut taken = 0;
    loop {
        let lags = read(&consumer, &args.topic, &partitions)?;
        let at = Instant::now();
        let seconds = before
            .as_ref()
            .map_or(0.0, |(t, _)| at.duration_since(*t).as_secs_f64());
        let sample = Sample {
            time_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis()),
            group: args.group.clone(),
            topic: args.topic.clone(),
            total_lag: lags.iter().map(|l| l.lag).sum(),
            skew: skew(&lags),
            partitions: trends(before.as_ref().map(|(_, b)| b.as_slice()), &lags, seconds),
        };
        show(&sample);
        taken += 1;
        if args.count.is_some_and(|n| taken >= n) {
            return Ok(());
        }
        before = Some((at, lags));
        std::thread::sleep(interval.saturating_sub(at.elapsed()));
    }
}

/// A sample as a table.
pub fn table(sample: &Sample) -> String {
    let num = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.0}"));
    let mut out = format!(
        "{:>9} {:>12} {:>12} {:>10} {:>12} {:>12} {:>12}\n",
        "partition", "committed", "end", "lag", "consumed/s", "produced/s", "catch-up s"
    );
    for p in &sample.partitions {
        let committed = p.committed.map_or("-".to_owned(), |c| c.to_string());
        out.push_str(&format!(
            "{:>9} {:>12} {:>12} {:>10} {:>12} {:>12} {:>12}\n",
            p.partition,
            committed,
            p.end,
            p.lag,
            num(p.consumed_per_s),
            num(p.produced_per_s),
            num(p.catch_up_s),
        ));
    }
    out.push_str(&format!(
        "total lag {}, skew (max/mean) {:.2}",
        sample.total_lag, sample.skew
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lag(partition: i32, committed: Option<i64>, end: i64) -> PartitionLag {
        PartitionLag {
            partition,
            committed,
            end,
            lag: end - committed.unwrap_or(0),
        }
    }

    #[test]
    fn rates_and_time_to_catch_up_follow_the_offsets() {
        let before = [
            lag(0, Some(100), 1_000),
            lag(1, None, 50),
            lag(2, Some(10), 10),
        ];
        let now = [
            lag(0, Some(500), 1_200),
            lag(1, Some(10), 80),
            lag(2, Some(10), 10),
        ];
        let t = trends(Some(&before), &now, 2.0);
        // partition 0: consumed 200/s, produced 100/s, 700 behind: 7 s to catch up
        assert_eq!(t[0].consumed_per_s, Some(200.0));
        assert_eq!(t[0].produced_per_s, Some(100.0));
        assert_eq!(t[0].catch_up_s, Some(7.0));
        // partition 1: the group had not committed before: no consumption rate yet
        assert_eq!(t[1].consumed_per_s, None);
        assert_eq!(t[1].produced_per_s, Some(15.0));
        assert_eq!(t[1].catch_up_s, None);
        // partition 2: no lag
        assert_eq!(t[2].catch_up_s, Some(0.0));
    }

    #[test]
    fn a_group_falling_behind_never_catches_up_and_a_first_sample_has_no_rates() {
        let before = [lag(0, Some(100), 1_000)];
        let now = [lag(0, Some(150), 1_200)];
        let t = trends(Some(&before), &now, 1.0);
        assert_eq!(t[0].catch_up_s, None, "consumed 50/s, produced 200/s");
        let first = trends(None, &now, 0.0);
        assert_eq!(
            (
                first[0].consumed_per_s,
                first[0].produced_per_s,
                first[0].catch_up_s
            ),
            (None, None, None)
        );
    }

    #[test]
    fn a_sample_prints_as_a_table_and_as_json() {
        let now = [lag(0, Some(5), 10)];
        let sample = Sample {
            time_ms: 1,
            group: "g".into(),
            topic: "t".into(),
            total_lag: 5,
            skew: 1.0,
            partitions: trends(None, &now, 0.0),
        };
        let text = table(&sample);
        assert!(text.contains("catch-up s"), "{text}");
        assert!(
            text.ends_with("total lag 5, skew (max/mean) 1.00"),
            "{text}"
        );
        let json = serde_json::to_value(&sample).unwrap();
        assert_eq!(json["partitions"][0]["lag"], 5);
        assert!(json["partitions"][0]["catch_up_s"].is_null());
    }
}
