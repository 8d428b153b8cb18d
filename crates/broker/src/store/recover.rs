//! Rebuilding a broker's state from its data dir at start: the metadata snapshot, then each
//! partition log (a torn tail cut off, the batches replayed), then the transactions (decided
//! ones completed, open ones left to time out) and groups.

use crate::error::{Error, Result};
use crate::log::PartitionLog;
use crate::replicas::Replicas;
use crate::state::State;
use crate::topic_config::TopicConfigs;
use crate::topics::{validate_name, Topic};

/// Recovers what `state`'s data dir holds into `state` (nothing without a data dir) and
/// saves the result. A metadata file that cannot be read is an error; a log's torn tail
/// is truncated and logged.
pub(crate) fn recover(state: &State) -> Result<()> {
    let Some(store) = &state.store else {
        return Ok(());
    };
    let path = store.metadata_path();
    let saved = store.read()?;
    let mut txns = state.txns();
    let mut topics = state.topics();
    let file_error = |path: std::path::PathBuf| move |source| Error::File { path, source };
    let Some(snapshot) = saved else {
        tracing::info!(path = %path.display(), "new data dir");
        return store
            .save(&txns, &topics, &state.groups)
            .map_err(file_error(path));
    };
    let corrupt = |reason: String| Error::CorruptMetadata {
        path: path.clone(),
        reason,
    };
    let (mut partitions, mut bytes, mut torn) = (0usize, 0u64, 0u64);
    let topic_count = snapshot.topics.len();
    for t in snapshot.topics {
        validate_name(&t.name).map_err(|e| corrupt(e.to_string()))?;
        let id = uuid::Uuid::parse_str(&t.id)
            .map_err(|e| corrupt(format!("topic {:?} has a bad id: {e}", t.name)))?;
        let mut logs = Vec::with_capacity(t.replicas.len());
        for p in 0..t.replicas.len() {
            let logs_dir = store.logs();
            let (segment, found) = logs_dir
                .recover(&t.name, p)
                .map_err(file_error(logs_dir.path(&t.name, p)))?;
            if found.torn > 0 {
                tracing::warn!(
                    path = %segment.path().display(),
                    kept = found.bytes,
                    truncated = found.torn,
                    "partition log had a torn or corrupt tail: truncated after its last valid batch"
                );
            }
            bytes += found.bytes;
            torn += found.torn;
            let start = t.log_start_offsets.get(p).copied().unwrap_or(0);
            logs.push(PartitionLog::recover(segment, found.batches, start));
        }
        partitions += logs.len();
        let mut configs = TopicConfigs::default();
        configs.replace_all(t.configs);
        topics.insert(
            t.name,
            Topic {
                id,
                partitions: logs,
                replicas: t.replicas.into_iter().map(Replicas::new).collect(),
                configs,
            },
        );
    }
    let groups = snapshot.groups.len();
    state.groups.restore(snapshot.groups);
    let restored = txns
        .restore(
            snapshot.next_producer_id,
            snapshot.transactions,
            &mut topics,
            &state.groups,
        )
        .map_err(corrupt)?;
    store
        .save(&txns, &topics, &state.groups)
        .map_err(file_error(path.clone()))?;
    tracing::info!(
        dir = %path.parent().unwrap_or(&path).display(),
        topics = topic_count,
        partitions,
        bytes,
        torn_bytes_truncated = torn,
        groups,
        transactions_completed = restored.completed,
        transactions_open = restored.ongoing,
        "recovered the data dir (open transactions are aborted when their timeout passes)"
    );
    Ok(())
}
