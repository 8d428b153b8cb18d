//! ListOffsets (by isolation level) and OffsetForLeaderEpoch.

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;

use super::Api;
use crate::state::State;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;

impl Api for ListOffsetsRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 1, max: 7 };
    fn fail(&self, _version: i16, code: i16) -> ListOffsetsResponse {
        ListOffsetsResponse::default().with_topics(
            self.topics
                .iter()
                .map(|t| {
                    ListOffsetsTopicResponse::default()
                        .with_name(t.name.clone())
                        .with_partitions(
                            t.partitions
                                .iter()
                                .map(|p| {
                                    ListOffsetsPartitionResponse::default()
                                        .with_partition_index(p.partition_index)
                                        .with_error_code(code)
                                        .with_timestamp(-1)
                                        .with_offset(-1)
                                        .with_leader_epoch(-1)
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
    }
}

pub(crate) fn list_offsets(
    state: &State,
    req: ListOffsetsRequest,
    version: i16,
) -> ListOffsetsResponse {
    // the leader epoch exists from v4 on: -1 (its default) is all an older one may carry
    let epoch = if version >= 4 { 0 } else { -1 };
    let read_committed = req.isolation_level == 1;
    let topics = state.topics();
    let result = req
        .topics
        .iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_timestamp(-1)
                        .with_leader_epoch(epoch);
                    let Some(log) = topics.partition(&name, p.partition_index) else {
                        return r
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_offset(-1)
                            .with_leader_epoch(-1);
                    };
                    let upper = if read_committed {
                        log.last_stable_offset()
                    } else {
                        log.high_watermark()
                    };
                    match p.timestamp {
                        LATEST => r.with_offset(upper),
                        EARLIEST => r.with_offset(log.log_start_offset()),
                        MAX_TIMESTAMP => match log.max_timestamp_offset(upper) {
                            Some((offset, ts)) => r.with_offset(offset).with_timestamp(ts),
                            None => r.with_offset(-1),
                        },
                        ts if ts >= 0 => match log.offset_for_timestamp(ts, upper) {
                            Some((offset, found)) => r.with_offset(offset).with_timestamp(found),
                            None => r.with_offset(-1),
                        },
                        _ => r
                            .with_error_code(ResponseError::UnsupportedVersion.code())
                            .with_offset(-1),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(result)
}

impl Api for OffsetForLeaderEpochRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 2, max: 4 };
    fn fail(&self, _version: i16, code: i16) -> OffsetForLeaderEpochResponse {
        OffsetForLeaderEpochResponse::default().with_topics(
            self.topics
                .iter()
                .map(|t| {
                    OffsetForLeaderTopicResult::default()
                        .with_topic(t.topic.clone())
                        .with_partitions(
                            t.partitions
                                .iter()
                                .map(|p| {
                                    EpochEndOffset::default()
                                        .with_partition(p.partition)
                                        .with_error_code(code)
                                        .with_leader_epoch(-1)
                                        .with_end_offset(-1)
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
    }
}

pub(crate) fn offset_for_leader_epoch(
    state: &State,
    req: OffsetForLeaderEpochRequest,
    _version: i16,
) -> OffsetForLeaderEpochResponse {
    let topics = state.topics();
    let result = req
        .topics
        .iter()
        .map(|t| {
            let name = t.topic.0.to_string();
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = EpochEndOffset::default().with_partition(p.partition);
                    match topics.partition(&name, p.partition) {
                        None => r
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_leader_epoch(-1)
                            .with_end_offset(-1),
                        Some(_) if p.current_leader_epoch > 0 => r
                            .with_error_code(ResponseError::UnknownLeaderEpoch.code())
                            .with_leader_epoch(-1)
                            .with_end_offset(-1),
                        // The only epoch is 0; a later requested epoch is unknown.
                        Some(_) if p.leader_epoch > 0 => {
                            r.with_leader_epoch(-1).with_end_offset(-1)
                        }
                        Some(log) => r.with_leader_epoch(0).with_end_offset(log.high_watermark()),
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(result)
}
