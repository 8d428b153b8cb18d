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
                        .with_timestamp(-1);
                    let Some(log) = topics.partition(&name, p.partition_index) else {
                        return r
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_offset(-1);
                    };
                    if version >= 4 {
                        if let Err(e) = log.epochs().check(p.current_leader_epoch) {
                            return r.with_error_code(e.code()).with_offset(-1);
                        }
                    }
                    let upper = if read_committed {
                        log.last_stable_offset()
                    } else {
                        log.high_watermark()
                    };
                    let r = match p.timestamp {
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
                    };
                    // the leader epoch of the offset found exists from v4 on: an older
                    // response may carry only -1 (its default)
                    if version >= 4 && r.offset >= 0 {
                        let epoch = log.epochs().epoch_at(r.offset);
                        r.with_leader_epoch(epoch)
                    } else {
                        r
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
                    let Some(log) = topics.partition(&name, p.partition) else {
                        return r
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_leader_epoch(-1)
                            .with_end_offset(-1);
                    };
                    if let Err(e) = log.epochs().check(p.current_leader_epoch) {
                        return r
                            .with_error_code(e.code())
                            .with_leader_epoch(-1)
                            .with_end_offset(-1);
                    }
                    let (epoch, end) = log
                        .epochs()
                        .end_offset_for(p.leader_epoch, log.high_watermark());
                    r.with_leader_epoch(epoch).with_end_offset(end)
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(result)
}
