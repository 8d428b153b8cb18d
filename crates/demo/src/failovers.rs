//! `--nodes N --node-failovers K`: the embedded broker runs as a cluster of N nodes
//! (replication factor N) and, at K random points of the progress, one node fails: it stops,
//! its partitions' leadership and its coordinators move to live nodes after the failover
//! delay, and a few seconds later it comes back and takes its leadership again. The workers
//! meet NOT_LEADER_OR_FOLLOWER, NOT_COORDINATOR and a coordinator that moved, in the middle
//! of their transactions; the run's check is the same: exactly once.

use std::time::{Duration, Instant};

use kafka_eos_broker::{BrokerConfig, EmbeddedBroker};
use rand::{Rng, SeedableRng};

use crate::schedule::Schedule;
use crate::DemoError;

/// How long a stopped node keeps its leadership before it moves.
pub const FAILOVER_DELAY: Duration = Duration::from_millis(1_500);

/// How long a failed node stays down.
const DOWN_FOR: Duration = Duration::from_secs(4);

/// The embedded broker's settings for `nodes` nodes.
pub fn cluster_config(config: BrokerConfig, nodes: usize) -> BrokerConfig {
    if nodes <= 1 {
        return config;
    }
    config
        .nodes(nodes)
        .default_replication_factor(nodes as i32)
        .failover_delay(FAILOVER_DELAY)
}

/// The node failures of one run: when each happens, and the node that is down.
#[derive(Debug)]
pub struct NodeFailovers {
    /// When a node fails.
    schedule: Schedule,
    rng: rand::rngs::StdRng,
    down: Option<(i32, Instant)>,
}

impl NodeFailovers {
    /// `count` failures at random points (from `seed`) of a cluster of `nodes` nodes.
    pub fn new(count: u32, nodes: usize, seed: u64) -> Result<Self, DemoError> {
        if count > 0 && nodes < 2 {
            return Err(DemoError::Usage(
                "--node-failovers needs --nodes 2 or more (a node fails over to another)".into(),
            ));
        }
        Ok(Self {
            schedule: Schedule::new(count, seed ^ 0xfa11, 0.1..0.8),
            rng: rand::rngs::StdRng::seed_from_u64(seed),
            down: None,
        })
    }

    /// Node failovers done (a node stopped and started again).
    pub fn done(&self) -> u32 {
        self.schedule.done()
    }

    /// Whether every failover ran and no node is down.
    pub fn finished(&self) -> bool {
        self.down.is_none() && self.schedule.finished()
    }

    /// Called as the run progresses (`fraction` of the results out): fails a node at the
    /// next threshold, brings it back 4 s later. A failure of the fault itself is
    /// reported and the failover skipped: the run goes on.
    pub fn tick(&mut self, broker: Option<&EmbeddedBroker>, fraction: f64) -> Option<String> {
        let broker = broker?;
        let faults = broker.faults();
        if let Some((node, since)) = self.down {
            if since.elapsed() < DOWN_FOR {
                return None;
            }
            self.down = None;
            self.schedule.mark_done();
            return Some(match faults.start_node(node) {
                Ok(()) => {
                    let moved = faults.elect_preferred_leaders();
                    format!("node {node} back, {moved} leaders moved back")
                }
                Err(e) => format!("node {node} did not come back: {e}"),
            });
        }
        if !self.schedule.due(fraction) {
            return None;
        }
        let nodes = broker.listed_nodes();
        let node = nodes[self.rng.gen_range(0..nodes.len())];
        Some(match faults.stop_node(node) {
            Ok(()) => {
                self.down = Some((node, Instant::now()));
                format!(
                    "node {node} failed (failover {}/{})",
                    self.schedule.done() + 1,
                    self.schedule.total()
                )
            }
            Err(e) => {
                self.schedule.mark_done();
                format!("node {node} could not be stopped: {e}")
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failovers_need_a_second_node() {
        assert!(matches!(
            NodeFailovers::new(1, 1, 7),
            Err(DemoError::Usage(_))
        ));
        assert!(NodeFailovers::new(0, 1, 7).unwrap().finished());
        let f = NodeFailovers::new(3, 3, 7).unwrap();
        assert_eq!(f.schedule.total(), 3);
        assert!(!f.finished());
    }

    #[test]
    fn a_node_fails_at_its_threshold_and_comes_back() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let broker = rt
            .block_on(EmbeddedBroker::start(cluster_config(
                BrokerConfig::default(),
                3,
            )))
            .unwrap();
        let mut f = NodeFailovers::new(1, 3, 7).unwrap();
        assert_eq!(f.tick(Some(&broker), 0.05), None);
        let stopped = f.tick(Some(&broker), 0.9).unwrap();
        assert!(stopped.contains("failed"), "{stopped}");
        let (node, _) = f.down.unwrap();
        assert_eq!(f.tick(Some(&broker), 1.0), None, "back too early");
        f.down = Some((node, Instant::now() - DOWN_FOR));
        let back = f.tick(Some(&broker), 1.0).unwrap();
        assert!(back.contains("back"), "{back}");
        assert!(f.finished());
        assert_eq!(f.done(), 1);
        assert_eq!(f.tick(Some(&broker), 1.0), None);
    }
}
