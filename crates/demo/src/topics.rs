//! The topic and group names of one run of the order pipeline.

use kafka_eos_testkit::Cluster;

/// Input, output and dead-letter topics, and the consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// Input topic (order events).
    pub input: String,
    /// Output topic (order results).
    pub output: String,
    /// Dead-letter topic (records that cannot be decoded).
    pub dlq: String,
    /// Consumer group of the pipeline.
    pub group: String,
    /// Parking topic (retries park there: as many partitions as the input).
    pub parked: String,
}

impl Topics {
    /// The demo's names on its own embedded broker: `orders`, `order-results`, `orders-dlq`,
    /// group `order-pipeline` (the defaults of `kafka-eos-demo worker` and `verify`).
    pub fn fixed() -> Self {
        Self {
            input: "orders".into(),
            output: "order-results".into(),
            dlq: "orders-dlq".into(),
            group: "order-pipeline".into(),
            parked: "orders-parked".into(),
        }
    }

    /// Names unique to this run, prefixed with `prefix` (an external cluster outlives runs).
    pub fn unique(cluster: &Cluster, prefix: &str) -> Self {
        Self {
            input: cluster.unique_topic(&format!("{prefix}-in")),
            output: cluster.unique_topic(&format!("{prefix}-out")),
            dlq: cluster.unique_topic(&format!("{prefix}-dlq")),
            group: cluster.unique_topic(&format!("{prefix}-group")),
            parked: cluster.unique_topic(&format!("{prefix}-parked")),
        }
    }

    /// [`Topics::unique`] names, created with [`Topics::create`].
    pub fn create_unique(
        cluster: &Cluster,
        prefix: &str,
        partitions: i32,
    ) -> kafka_eos_testkit::Result<Self> {
        let topics = Self::unique(cluster, prefix);
        topics.create(cluster, partitions)?;
        Ok(topics)
    }

    /// Creates the input, output and parking topics with `partitions` partitions and the
    /// dead-letter topic with one.
    pub fn create(&self, cluster: &Cluster, partitions: i32) -> kafka_eos_testkit::Result<()> {
        cluster.create_topic(&self.input, partitions)?;
        cluster.create_topic(&self.output, partitions)?;
        cluster.create_topic(&self.parked, partitions)?;
        cluster.create_topic(&self.dlq, 1)
    }
}
