//! `kafka-eos skew`: how evenly a topic's records spread over its partitions, and which keys
//! are hot. Reads the latest records of every partition (`read_committed`, no group), counts
//! them per partition and per key, and — given `--key-field`, a JSON field of the value to
//! route by instead (an order id rather than a merchant id, say) — shows the spread that
//! field would give under the producers' partitioner (murmur2, as Java's), so a team sees the
//! effect before changing its producers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kafka_eos_core::lag::{group_observer_with, max_over_mean};
use kafka_eos_core::partitioning::partition_for_key;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use crate::error::CliError;
use crate::offsets::{partitions_of, TIMEOUT};

/// Arguments of `skew`.
#[derive(Debug, Clone, clap::Args)]
pub struct SkewArgs {
    /// bootstrap.servers of the cluster.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
    pub bootstrap: String,
    /// The topic.
    #[arg(long)]
    pub topic: String,
    /// Records to read, the latest of each partition (spread evenly over the partitions).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub sample: u64,
    /// How many of the hottest keys to show.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// A field of the JSON values to route by instead of the key: shows the spread it gives.
    #[arg(long)]
    pub key_field: Option<String>,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

impl SkewArgs {
    /// A sample of `sample` records of `topic`, its 10 hottest keys.
    pub fn new(bootstrap: &str, topic: &str, sample: u64) -> Self {
        SkewArgs {
            bootstrap: bootstrap.to_owned(),
            topic: topic.to_owned(),
            sample,
            top: 10,
            key_field: None,
            json: false,
        }
    }
}

/// A partition in the sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartitionShare {
    /// Partition.
    pub partition: i32,
    /// Records the partition holds (high minus low watermark).
    pub records: i64,
    /// Records of the sample read from it.
    pub sampled: u64,
    /// Records/s written to it over the sample's time span (`None`: too few records).
    pub per_s: Option<f64>,
}

/// A key and how often it was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HotKey {
    /// The key (lossy UTF-8).
    pub key: String,
    /// Records of the sample with it.
    pub count: u64,
}

/// What `skew` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkewReport {
    /// The topic.
    pub topic: String,
    /// Every partition.
    pub partitions: Vec<PartitionShare>,
    /// The fullest partition's records over the mean (1 = even).
    pub skew: f64,
    /// The hottest keys of the sample, hottest first.
    pub top_keys: Vec<HotKey>,
    /// Records of the sample.
    pub sampled: u64,
    /// With `--key-field`: records per partition if routed by that field (index = partition).
    pub by_field: Option<Vec<u64>>,
    /// With `--key-field`: the skew that routing would give.
    pub by_field_skew: Option<f64>,
}

/// One sampled record: partition, key, value, timestamp.
pub(crate) type Sampled = (i32, Option<Vec<u8>>, Option<Vec<u8>>, Option<i64>);

/// Builds the report from the partitions' sizes (`records`, by partition id) and the sample.
pub fn analyse(
    topic: &str,
    records: &[(i32, i64)],
    sample: &[Sampled],
    top: usize,
    key_field: Option<&str>,
) -> Result<SkewReport, CliError> {
    let mut per_partition: HashMap<i32, (u64, Option<i64>, Option<i64>)> = HashMap::new();
    let mut keys: HashMap<&[u8], u64> = HashMap::new();
    for (partition, key, _, ts) in sample {
        let e = per_partition.entry(*partition).or_insert((0, None, None));
        e.0 += 1;
        if let Some(ts) = ts {
            e.1 = Some(e.1.map_or(*ts, |t: i64| t.min(*ts)));
            e.2 = Some(e.2.map_or(*ts, |t: i64| t.max(*ts)));
        }
        *keys.entry(key.as_deref().unwrap_or_default()).or_insert(0) += 1;
    }
    let partitions: Vec<PartitionShare> = records
        .iter()
        .map(|&(partition, records)| {
            let (sampled, first, last) = per_partition
                .get(&partition)
                .copied()
                .unwrap_or((0, None, None));
            let per_s = match (first, last) {
                (Some(a), Some(b)) if b > a && sampled > 1 => {
                    Some((sampled - 1) as f64 * 1000.0 / (b - a) as f64)
                }
                _ => None,
            };
            PartitionShare {
                partition,
                records,
                sampled,
                per_s,
            }
        })
        .collect();
    let mut top_keys: Vec<HotKey> = keys
        .into_iter()
        .map(|(k, count)| HotKey {
            key: String::from_utf8_lossy(k).into_owned(),
            count,
        })
        .collect();
    top_keys.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    top_keys.truncate(top);
    let (by_field, by_field_skew) = match key_field {
        None => (None, None),
        Some(field) => {
            let spread = spread_by_field(sample, field, records.len())?;
            let skew = max_over_mean(spread.iter().map(|&n| n as f64));
            (Some(spread), Some(skew))
        }
    };
    Ok(SkewReport {
        topic: topic.to_owned(),
        skew: max_over_mean(partitions.iter().map(|p| p.records as f64)),
        partitions,
        top_keys,
        sampled: sample.len() as u64,
        by_field,
        by_field_skew,
    })
}

/// Records per partition if each sampled record were keyed by `field` of its JSON value.
fn spread_by_field(
    sample: &[Sampled],
    field: &str,
    partitions: usize,
) -> Result<Vec<u64>, CliError> {
    let mut spread = vec![0u64; partitions];
    let n = i32::try_from(partitions).unwrap_or(i32::MAX);
    let mut found = 0u64;
    for (_, _, value, _) in sample {
        let Some(v) = value
            .as_deref()
            .and_then(|v| serde_json::from_slice::<serde_json::Value>(v).ok())
        else {
            continue;
        };
        let key = match v.get(field) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Null) | None => continue,
            Some(other) => other.to_string(),
        };
        found += 1;
        if let Some(slot) = usize::try_from(partition_for_key(key.as_bytes(), n))
            .ok()
            .and_then(|p| spread.get_mut(p))
        {
            *slot += 1;
        }
    }
    if found == 0 {
        return Err(CliError::FieldNotFound {
            field: field.to_owned(),
            sampled: sample.len() as u64,
        });
    }
    Ok(spread)
}

/// Reads the sample and builds the report.
pub fn run(args: &SkewArgs) -> Result<SkewReport, CliError> {
    let consumer = group_observer_with(&crate::client::base(&args.bootstrap)?, "kafka-eos-skew")?;
    let partitions = partitions_of(&consumer, &args.topic)?;
    let per_partition = args.sample.div_ceil(partitions.len() as u64).max(1) as i64;
    let mut records = Vec::new();
    let mut tpl = TopicPartitionList::new();
    let mut ends = HashMap::new();
    for &p in &partitions {
        let (low, high) = consumer.fetch_watermarks(&args.topic, p, TIMEOUT)?;
        records.push((p, high - low));
        if high > low {
            tpl.add_partition_offset(
                &args.topic,
                p,
                Offset::Offset((high - per_partition).max(low)),
            )?;
            ends.insert(p, high);
        }
    }
    let sample = if ends.is_empty() {
        Vec::new()
    } else {
        consumer.assign(&tpl)?;
        read_until(&consumer, &mut ends)?
    };
    analyse(
        &args.topic,
        &records,
        &sample,
        args.top,
        args.key_field.as_deref(),
    )
}

/// Polls until every partition of `ends` reached its end offset (a read_committed reader
/// may stop short of it: transaction markers; then until nothing arrives for a while).
fn read_until(
    consumer: &BaseConsumer,
    ends: &mut HashMap<i32, i64>,
) -> Result<Vec<Sampled>, CliError> {
    let mut sample = Vec::new();
    let mut quiet_since = Instant::now();
    while !ends.is_empty() && quiet_since.elapsed() < QUIET {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                quiet_since = Instant::now();
                if m.offset() + 1 >= ends.get(&m.partition()).copied().unwrap_or(0) {
                    ends.remove(&m.partition());
                }
                sample.push((
                    m.partition(),
                    m.key().map(<[u8]>::to_vec),
                    m.payload().map(<[u8]>::to_vec),
                    m.timestamp().to_millis(),
                ));
            }
            Some(Err(e)) => return Err(e.into()),
            None => {}
        }
    }
    Ok(sample)
}

/// How long the reader waits for more records before it takes what it has.
const QUIET: Duration = Duration::from_secs(3);

/// The report as text.
pub fn text(report: &SkewReport) -> String {
    let mut out = format!(
        "{:>9} {:>12} {:>9} {:>10}\n",
        "partition", "records", "sampled", "records/s"
    );
    for p in &report.partitions {
        let rate = p.per_s.map_or("-".to_owned(), |r| format!("{r:.0}"));
        out.push_str(&format!(
            "{:>9} {:>12} {:>9} {:>10}\n",
            p.partition, p.records, p.sampled, rate
        ));
    }
    out.push_str(&format!(
        "skew (max/mean records) {:.2} over {} partitions\n",
        report.skew,
        report.partitions.len()
    ));
    out.push_str(&format!(
        "hottest keys of {} sampled records:\n",
        report.sampled
    ));
    for k in &report.top_keys {
        let share = k.count as f64 * 100.0 / report.sampled.max(1) as f64;
        out.push_str(&format!("  {:>6} {share:>5.1}%  {}\n", k.count, k.key));
    }
    if let (Some(spread), Some(skew)) = (&report.by_field, report.by_field_skew) {
        out.push_str(&format!(
            "routed by the field instead (murmur2): {spread:?}, skew {skew:.2}\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(partition: i32, key: &str, value: &str, ts: i64) -> Sampled {
        (
            partition,
            Some(key.as_bytes().to_vec()),
            Some(value.as_bytes().to_vec()),
            Some(ts),
        )
    }

    #[test]
    fn a_hot_key_and_a_full_partition_show_and_the_field_spreads_them() {
        // merchant m1 sends most orders: its partition fills up
        let mut sample = Vec::new();
        for i in 0..90 {
            sample.push(rec(
                0,
                "m1",
                &format!(r#"{{"order_id":"o{i}"}}"#),
                1_000 + i,
            ));
        }
        for i in 0..10 {
            sample.push(rec(
                1,
                &format!("m{}", i + 2),
                &format!(r#"{{"order_id":{i}}}"#),
                1_000 + i * 10,
            ));
        }
        let records = [(0, 900), (1, 100), (2, 0)];
        let r = analyse("orders", &records, &sample, 3, Some("order_id")).unwrap();
        assert!((r.skew - 2.7).abs() < 1e-9, "{}", r.skew);
        assert_eq!(
            r.top_keys[0],
            HotKey {
                key: "m1".into(),
                count: 90
            }
        );
        assert_eq!(r.top_keys.len(), 3);
        assert_eq!(r.partitions[0].per_s, Some(1000.0), "89 records over 89 ms");
        assert_eq!(r.partitions[2].per_s, None);
        let spread = r.by_field.clone().unwrap();
        assert_eq!(spread.iter().sum::<u64>(), 100);
        assert!(
            r.by_field_skew.unwrap() < r.skew,
            "order ids spread better: {spread:?}"
        );
        assert!(text(&r).contains("routed by the field instead"));
    }

    #[test]
    fn a_field_no_record_has_is_an_error_naming_it() {
        let sample = vec![
            rec(0, "k", r#"{"merchant":"m"}"#, 1),
            rec(0, "k", "not json", 2),
        ];
        let err = analyse("t", &[(0, 2)], &sample, 5, Some("order_id")).unwrap_err();
        assert!(
            matches!(&err, CliError::FieldNotFound { field, sampled: 2 } if field == "order_id"),
            "{err}"
        );
    }
}
