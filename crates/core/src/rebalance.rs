//! A consumer's rebalance events, served as rdkafka's default `ConsumerContext::rebalance`
//! serves them, except on a consumer that has closed.
//!
//! The default asks the group for its rebalance protocol and calls `rd_kafka_assign` (or
//! its incremental twins): requests to librdkafka's group handler, each awaited without a
//! timeout. Once the group has terminated (the consumer closed), librdkafka drops such a
//! request without answering it (librdkafka issue #4884). A rebalance event still queued
//! when the consumer closes is served by the close itself (rdkafka's drop polls the
//! consumer until it is closed), and with the default it blocks that thread for ever.
//! Seen in CI: a pipeline that failed while its consumer was still joining the group never
//! returned, its consumer's close stuck in `rd_kafka_assign`. [`serve`] skips the event
//! on a closed consumer (the group is gone and has no assignment left to change), checked
//! before each request. A group that terminates between the check and the request it
//! precedes can still strand that request: the window is narrowed, not closed, until
//! librdkafka answers such requests (its pull request #4883).

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::TopicPartitionList;

/// Serves one rebalance event of `consumer` for `context`: `pre_rebalance`, the assign or
/// unassign (incremental under the cooperative protocol), then `post_rebalance`. On a
/// closed consumer it does nothing. Call it from [`ConsumerContext::rebalance`].
pub fn serve<C: ConsumerContext>(
    context: &C,
    consumer: &BaseConsumer<C>,
    err: RDKafkaRespErr,
    tpl: &mut TopicPartitionList,
) {
    if consumer.closed() {
        tracing::debug!(
            ?err,
            partitions = tpl.count(),
            "rebalance event after the consumer closed: skipped"
        );
        return;
    }
    let tpl: &TopicPartitionList = tpl;
    let rebalance = match err {
        RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => Rebalance::Assign(tpl),
        RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => Rebalance::Revoke(tpl),
        other => Rebalance::Error(KafkaError::Rebalance(other.into())),
    };
    context.pre_rebalance(consumer, &rebalance);
    // each request below is checked for again: the group may terminate in between (served
    // on librdkafka's main thread, e.g. when the LeaveGroup answer of a close arrives)
    if consumer.closed() {
        return;
    }
    let cooperative = matches!(
        consumer.rebalance_protocol(),
        RebalanceProtocol::Cooperative
    );
    if consumer.closed() {
        return;
    }
    let changed = match (&rebalance, cooperative) {
        (Rebalance::Assign(tpl), true) => consumer.incremental_assign(tpl),
        (Rebalance::Assign(tpl), false) => consumer.assign(tpl),
        (_, true) => consumer.incremental_unassign(tpl),
        (_, false) => consumer.unassign(),
    };
    if let Err(e) = changed {
        tracing::warn!(error = %e, ?err, "rebalance: the assignment could not be changed");
    }
    context.post_rebalance(consumer, &rebalance);
}
