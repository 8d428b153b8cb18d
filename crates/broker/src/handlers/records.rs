//! DeleteRecords: moving a partition's log start offset.

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;

use super::Api;
use crate::state::State;

impl Api for DeleteRecordsRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 0, max: 2 };
    fn fail(&self, _version: i16, code: i16) -> DeleteRecordsResponse {
        respond(self, |_, _| Err(code))
    }
}

/// Builds the response, asking `outcome` for each partition's new low watermark.
fn respond(
    req: &DeleteRecordsRequest,
    mut outcome: impl FnMut(
        &str,
        &kafka_protocol::messages::delete_records_request::DeleteRecordsPartition,
    ) -> Result<i64, i16>,
) -> DeleteRecordsResponse {
    DeleteRecordsResponse::default().with_topics(
        req.topics
            .iter()
            .map(|t| {
                DeleteRecordsTopicResult::default()
                    .with_name(t.name.clone())
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                let r = DeleteRecordsPartitionResult::default()
                                    .with_partition_index(p.partition_index);
                                match outcome(&t.name, p) {
                                    Ok(low) => r.with_low_watermark(low),
                                    Err(code) => r.with_low_watermark(-1).with_error_code(code),
                                }
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}

pub(crate) fn delete_records(
    state: &State,
    req: DeleteRecordsRequest,
    _version: i16,
) -> DeleteRecordsResponse {
    let mut topics = state.topics();
    respond(&req, |topic, p| {
        let log = topics
            .partition_mut(topic, p.partition_index)
            .ok_or(ResponseError::UnknownTopicOrPartition.code())?;
        let low = log
            .delete_records(p.offset)
            .ok_or(ResponseError::OffsetOutOfRange.code())?;
        tracing::info!(
            topic,
            partition = p.partition_index,
            low_watermark = low,
            "deleted records"
        );
        Ok(low)
    })
}
