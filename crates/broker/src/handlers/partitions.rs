//! CreatePartitions: more partitions for a topic, placed by the broker or by the request's
//! replica assignments (first replica the leader), checked as Kafka's controller
//! (`ReplicationControlManager.createPartitions`) checks them.

use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::VersionRange;
use kafka_protocol::ResponseError;

use super::{sb, Api};
use crate::cluster::Cluster;
use crate::state::State;
use crate::topics::MAX_PARTITIONS;

impl Api for CreatePartitionsRequest {
    const SUPPORTED_VERSIONS: VersionRange = VersionRange { min: 0, max: 3 };
    fn fail(&self, _version: i16, code: i16) -> CreatePartitionsResponse {
        CreatePartitionsResponse::default().with_results(
            self.topics
                .iter()
                .map(|t| {
                    CreatePartitionsTopicResult::default()
                        .with_name(t.name.clone())
                        .with_error_code(code)
                })
                .collect(),
        )
    }
}

/// Why a topic's partitions were not added: the code and Kafka's message.
type Refusal = (ResponseError, String);

fn invalid_assignment(message: String) -> Refusal {
    (ResponseError::InvalidReplicaAssignment, message)
}

/// Kafka's `validateManualPartitionAssignment`: a non-empty list of distinct brokers that
/// are part of the cluster, as many as the topic's replication factor.
fn check_assignment(cluster: &Cluster, replicas: &[i32], rf: usize) -> Result<(), Refusal> {
    if replicas.is_empty() {
        return Err(invalid_assignment(
            "The manual partition assignment includes an empty replica list.".into(),
        ));
    }
    let mut sorted = replicas.to_vec();
    sorted.sort_unstable();
    let mut previous = None;
    for id in sorted.iter().copied() {
        if !cluster.all_listed(&[id]) {
            return Err(invalid_assignment(format!(
                "The manual partition assignment includes broker {id}, but no such broker is registered."
            )));
        }
        if previous == Some(id) {
            return Err(invalid_assignment(format!(
                "The manual partition assignment includes the broker {id} more than once."
            )));
        }
        previous = Some(id);
    }
    if sorted.len() != rf {
        return Err(invalid_assignment(format!(
            "The manual partition assignment includes a partition with {} replica(s), but this is not consistent with previous partitions, which have {rf} replica(s).",
            sorted.len()
        )));
    }
    Ok(())
}

/// The replicas of the `additional` new partitions: the request's assignments once
/// checked, or the broker's own placement.
fn new_replicas(
    cluster: &mut Cluster,
    assignments: Option<&[CreatePartitionsAssignment]>,
    additional: usize,
    rf: usize,
) -> Result<Vec<Vec<i32>>, Refusal> {
    let Some(assignments) = assignments else {
        return cluster.place(additional, rf).map_err(|available| {
            (
                ResponseError::InvalidPartitions,
                format!("Replication factor: {rf} larger than available brokers: {available}."),
            )
        });
    };
    if assignments.len() != additional {
        return Err(invalid_assignment(format!(
            "Attempted to add {additional} additional partition(s), but only {} assignment(s) were specified.",
            assignments.len()
        )));
    }
    assignments
        .iter()
        .map(|a| {
            let replicas: Vec<i32> = a.broker_ids.iter().map(|b| b.0).collect();
            check_assignment(cluster, &replicas, rf).map(|()| replicas)
        })
        .collect()
}

/// One topic of the request: checks it and, unless `validate_only`, adds its partitions.
fn add(state: &State, t: &CreatePartitionsTopic, validate_only: bool) -> Result<(), Refusal> {
    let name = t.name.0.to_string();
    let mut topics = state.topics();
    let Some((current, rf)) = topics.get(&name).map(|topic| {
        let rf = topics.replicas(&name, 0).map_or(1, |r| r.replicas.len());
        (topic.partitions.len() as i32, rf)
    }) else {
        return Err((
            ResponseError::UnknownTopicOrPartition,
            format!("The topic '{name}' does not exist."),
        ));
    };
    if t.count <= current {
        return Err((
            ResponseError::InvalidPartitions,
            format!(
                "Topic currently has {current} partitions, which is higher than or equal to the requested {}.",
                t.count
            ),
        ));
    }
    if t.count > MAX_PARTITIONS {
        return Err((
            ResponseError::InvalidPartitions,
            format!(
                "Number of partitions {} is above the limit of {MAX_PARTITIONS}.",
                t.count
            ),
        ));
    }
    let additional = (t.count - current) as usize;
    let replicas = new_replicas(
        &mut state.cluster(),
        t.assignments.as_deref(),
        additional,
        rf,
    )?;
    if validate_only {
        return Ok(());
    }
    topics
        .add_partitions(&name, replicas)
        .map_err(|e| (ResponseError::InvalidPartitions, e.to_string()))?;
    if let Some(store) = &state.store {
        store.topics_changed();
    }
    tracing::info!(topic = %name, partitions = t.count, "added partitions");
    Ok(())
}

pub(crate) fn create_partitions(
    state: &State,
    req: CreatePartitionsRequest,
    _version: i16,
) -> CreatePartitionsResponse {
    let results = req
        .topics
        .iter()
        .map(|t| {
            let r = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            match add(state, t, req.validate_only) {
                Ok(()) => r,
                Err((ResponseError::UnknownTopicOrPartition, _)) => {
                    r.with_error_code(ResponseError::UnknownTopicOrPartition.code())
                }
                Err((code, message)) => r
                    .with_error_code(code.code())
                    .with_error_message(Some(sb(message))),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::create_partitions_request::CreatePartitionsAssignment;

    use super::*;
    use crate::config::BrokerConfig;

    /// Three nodes, topic `t` with one partition on nodes 1, 2 (replication factor 2).
    fn state() -> State {
        let nodes = (1..=3)
            .map(|id| (id, "127.0.0.1".to_owned(), 9090 + id))
            .collect();
        let state = State::new(BrokerConfig::default().nodes(3), nodes, None);
        state.topics().create("t", vec![vec![1, 2]]).unwrap();
        state
    }

    fn request(
        count: i32,
        assignments: Option<&[&[i32]]>,
        validate_only: bool,
    ) -> CreatePartitionsRequest {
        let assignments = assignments.map(|a| {
            a.iter()
                .map(|ids| {
                    CreatePartitionsAssignment::default()
                        .with_broker_ids(ids.iter().map(|i| BrokerId(*i)).collect())
                })
                .collect()
        });
        CreatePartitionsRequest::default()
            .with_topics(vec![CreatePartitionsTopic::default()
                .with_name(TopicName(sb("t")))
                .with_count(count)
                .with_assignments(assignments)])
            .with_validate_only(validate_only)
    }

    fn replicas(state: &State) -> Vec<Vec<i32>> {
        let topics = state.topics();
        let n = topics.get("t").unwrap().partitions.len() as i32;
        (0..n)
            .map(|p| topics.replicas("t", p).unwrap().replicas.clone())
            .collect()
    }

    #[test]
    fn assignments_are_used_with_the_first_replica_leading() {
        let state = state();
        let r = create_partitions(&state, request(3, Some(&[&[3, 1], &[2, 3]]), false), 3);
        assert_eq!(
            r.results[0].error_code, 0,
            "{:?}",
            r.results[0].error_message
        );
        assert_eq!(replicas(&state), vec![vec![1, 2], vec![3, 1], vec![2, 3]]);
        assert_eq!(state.topics().replicas("t", 1).unwrap().leader, 3);
    }

    #[test]
    fn validate_only_checks_without_adding() {
        let state = state();
        let r = create_partitions(&state, request(2, Some(&[&[3, 1]]), true), 3);
        assert_eq!(r.results[0].error_code, 0);
        assert_eq!(replicas(&state), vec![vec![1, 2]]);
        let r = create_partitions(&state, request(2, Some(&[&[3, 3]]), true), 3);
        assert_eq!(
            r.results[0].error_code,
            ResponseError::InvalidReplicaAssignment.code()
        );
    }

    #[test]
    fn bad_assignments_are_refused_with_kafkas_messages() {
        let state = state();
        let cases: [(i32, &[&[i32]], &str); 5] = [
            (3, &[&[1, 2]], "Attempted to add 2 additional partition(s), but only 1 assignment(s) were specified."),
            (2, &[&[]], "The manual partition assignment includes an empty replica list."),
            (2, &[&[1, 7]], "The manual partition assignment includes broker 7, but no such broker is registered."),
            (2, &[&[2, 2]], "The manual partition assignment includes the broker 2 more than once."),
            (2, &[&[1, 2, 3]], "The manual partition assignment includes a partition with 3 replica(s), but this is not consistent with previous partitions, which have 2 replica(s)."),
        ];
        for (count, assignments, message) in cases {
            let r = create_partitions(&state, request(count, Some(assignments), false), 3);
            let result = &r.results[0];
            assert_eq!(
                result.error_code,
                ResponseError::InvalidReplicaAssignment.code(),
                "{assignments:?}"
            );
            assert_eq!(result.error_message.as_deref(), Some(message));
        }
        assert_eq!(replicas(&state), vec![vec![1, 2]]);
    }

    #[test]
    fn without_assignments_the_broker_places_them() {
        let state = state();
        let r = create_partitions(&state, request(4, None, false), 3);
        assert_eq!(r.results[0].error_code, 0);
        let placed = replicas(&state);
        assert_eq!(placed.len(), 4);
        assert!(placed.iter().all(|r| r.len() == 2));
    }
}
