//! The nodes of a broker that serves as several (`BrokerConfig::nodes`): their addresses
//! and liveness, where new partitions' replicas go, and which node coordinates a group or
//! a transactional id. The nodes share one state, as a cluster whose replicas are always
//! caught up; what differs between them is what Kafka clients see: who leads, who
//! coordinates, who answers at all.
//!
//! A stopped node refuses connections at once, but stays the leader and coordinator of
//! what it had until the failover delay passes (Kafka's `broker.session.timeout.ms`):
//! then it is fenced, leaves the metadata, and leadership and coordinators move to live
//! nodes with a new leader epoch. A node that starts again rejoins every ISR and leads
//! partitions that had no leader; leadership does not move back by itself.

use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::replicas::{Replicas, NO_LEADER};

/// Partitions of `__consumer_offsets` and `__transaction_state` (Kafka's defaults), which
/// decide the coordinator of a group or transactional id.
pub(crate) const COORDINATOR_PARTITIONS: usize = 50;

/// What a coordinator key names (FindCoordinator's key type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CoordinatorKind {
    Group = 0,
    Transaction = 1,
}

/// Where a node is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Liveness {
    Up,
    /// Stopped: refuses connections, still listed and leading until the failover delay.
    Down {
        since: Instant,
    },
    /// Failed over: not listed, leads and coordinates nothing.
    Fenced,
}

/// One node: its id, advertised address and liveness.
#[derive(Debug)]
pub(crate) struct Node {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub liveness: Liveness,
    /// `true` while the node's listener accepts; its server and connections watch it.
    pub up: watch::Sender<bool>,
}

/// The nodes and the coordinators' partitions.
#[derive(Debug)]
pub(crate) struct Cluster {
    nodes: Vec<Node>,
    failover_delay: Duration,
    /// The replicas of the coordinator partitions, by kind.
    coordinators: [Vec<Replicas>; 2],
    /// Where the next topic's first replica goes, so leaders spread across topics.
    next_start: usize,
}

/// Java's `String.hashCode`, on which Kafka places groups and transactional ids.
fn java_hash(key: &str) -> i32 {
    key.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The coordinator partition of `key` (Kafka: `Utils.abs(key.hashCode) % partitions`).
pub(crate) fn coordinator_partition(key: &str) -> usize {
    (java_hash(key) & 0x7fff_ffff) as usize % COORDINATOR_PARTITIONS
}

impl Cluster {
    /// A cluster of `nodes` (id, host, port), all up.
    pub fn new(nodes: Vec<(i32, String, i32)>, failover_delay: Duration) -> Self {
        let nodes: Vec<Node> = nodes
            .into_iter()
            .map(|(id, host, port)| Node {
                id,
                host,
                port,
                liveness: Liveness::Up,
                up: watch::channel(true).0,
            })
            .collect();
        let mut cluster = Self {
            nodes,
            failover_delay,
            coordinators: [Vec::new(), Vec::new()],
            next_start: 0,
        };
        // offsets.topic.replication.factor and transaction.state.log.replication.factor: 3
        let rf = cluster.nodes.len().min(3);
        for kind in 0..2 {
            // (never fails: at least one node, and rf <= nodes)
            let placed = cluster
                .place(COORDINATOR_PARTITIONS, rf)
                .unwrap_or_default();
            cluster.coordinators[kind] = placed.into_iter().map(Replicas::new).collect();
        }
        cluster.next_start = 0;
        cluster
    }

    /// More than one node: requests are routed by leader and coordinator.
    pub fn is_multi_node(&self) -> bool {
        self.nodes.len() > 1
    }

    pub fn node(&self, id: i32) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The nodes clients are told about: all but the fenced.
    pub fn listed(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.liveness != Liveness::Fenced)
    }

    /// The node clients are told is the controller: the lowest listed id.
    pub fn controller(&self) -> i32 {
        self.listed().map(|n| n.id).min().unwrap_or(NO_LEADER)
    }

    /// Replica lists for `partitions` new partitions with `rf` replicas each, over the
    /// listed nodes, the first replica rotating from partition to partition and from topic
    /// to topic (Kafka's rack-unaware assignment, without its random start). `Err` with the
    /// number of listed nodes when there are fewer than `rf`.
    pub fn place(&mut self, partitions: usize, rf: usize) -> Result<Vec<Vec<i32>>, usize> {
        let ids: Vec<i32> = self.listed().map(|n| n.id).collect();
        if rf == 0 || rf > ids.len() {
            return Err(ids.len());
        }
        let start = self.next_start;
        self.next_start = self.next_start.wrapping_add(1);
        Ok((0..partitions)
            .map(|p| (0..rf).map(|r| ids[(start + p + r) % ids.len()]).collect())
            .collect())
    }

    /// Whether every id is a listed node (a manual replica assignment).
    pub fn all_listed(&self, ids: &[i32]) -> bool {
        ids.iter().all(|id| self.listed().any(|n| n.id == *id))
    }

    /// The node coordinating `key`, or [`NO_LEADER`] while its partition has no leader.
    pub fn coordinator(&self, kind: CoordinatorKind, key: &str) -> i32 {
        self.coordinators[kind as usize]
            .get(coordinator_partition(key))
            .map_or(NO_LEADER, |r| r.leader)
    }

    /// Which coordinator partitions of `kind` have a node that is up leading them.
    pub fn live_coordinators(&self, kind: CoordinatorKind) -> Vec<bool> {
        self.coordinators[kind as usize]
            .iter()
            .map(|r| {
                self.node(r.leader)
                    .is_some_and(|n| n.liveness == Liveness::Up)
            })
            .collect()
    }

    /// Stops `id`: its listener closes at once. Returns `false` for an unknown or stopped node.
    pub fn stop(&mut self, id: i32, now: Instant) -> bool {
        let Some(node) = self.nodes.iter_mut().find(|n| n.id == id) else {
            return false;
        };
        if node.liveness != Liveness::Up {
            return false;
        }
        node.liveness = Liveness::Down { since: now };
        node.up.send_replace(false);
        true
    }

    /// Starts `id` again. Returns whether it had been fenced (its partitions must be
    /// unfenced), or `None` for an unknown or running node.
    pub fn start(&mut self, id: i32) -> Option<bool> {
        let node = self.nodes.iter_mut().find(|n| n.id == id)?;
        let was_fenced = match node.liveness {
            Liveness::Up => return None,
            Liveness::Down { .. } => false,
            Liveness::Fenced => true,
        };
        node.liveness = Liveness::Up;
        node.up.send_replace(true);
        Some(was_fenced)
    }

    /// Fences the stopped nodes whose failover delay has passed (all stopped nodes with
    /// `force`) and returns their ids.
    pub fn fence_due(&mut self, now: Instant, force: bool) -> Vec<i32> {
        let delay = self.failover_delay;
        let mut fenced = Vec::new();
        for node in &mut self.nodes {
            if let Liveness::Down { since } = node.liveness {
                if force || now.duration_since(since) >= delay {
                    node.liveness = Liveness::Fenced;
                    fenced.push(node.id);
                }
            }
        }
        fenced
    }

    /// Applies `f` to every coordinator partition; returns the partitions of each kind
    /// whose leader changed.
    pub fn update_coordinators(
        &mut self,
        mut f: impl FnMut(&mut Replicas) -> bool,
    ) -> [Vec<usize>; 2] {
        let mut moved = [Vec::new(), Vec::new()];
        for (kind, partitions) in self.coordinators.iter_mut().enumerate() {
            for (p, r) in partitions.iter_mut().enumerate() {
                if f(r) {
                    moved[kind].push(p);
                }
            }
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> Cluster {
        Cluster::new(
            (1..=3).map(|i| (i, "127.0.0.1".into(), 9000 + i)).collect(),
            Duration::from_secs(1),
        )
    }

    #[test]
    fn keys_hash_as_in_kafka() {
        // Java: "orders".hashCode() == -1008770331; abs % 50
        assert_eq!(java_hash("orders"), -1_008_770_331);
        assert_eq!(coordinator_partition("orders"), 17);
        assert_eq!(java_hash(""), 0);
    }

    #[test]
    fn replicas_spread_and_rotate() {
        let mut c = three();
        let placed = c.place(3, 2).unwrap();
        assert_eq!(placed, vec![vec![1, 2], vec![2, 3], vec![3, 1]]);
        let next = c.place(1, 3).unwrap();
        assert_eq!(next, vec![vec![2, 3, 1]]);
        assert_eq!(c.place(1, 4), Err(3));
        assert_eq!(c.place(1, 0), Err(3));
    }

    #[test]
    fn coordinators_are_spread_over_the_nodes() {
        let c = three();
        let leaders: std::collections::HashSet<i32> = (0..200)
            .map(|i| c.coordinator(CoordinatorKind::Group, &format!("group-{i}")))
            .collect();
        assert_eq!(leaders.len(), 3);
    }

    #[test]
    fn a_stopped_node_is_fenced_after_the_delay() {
        let mut c = three();
        let t0 = Instant::now();
        assert!(c.stop(2, t0));
        assert!(!c.stop(2, t0), "stopped twice");
        assert_eq!(c.listed().count(), 3, "listed until fenced");
        assert!(c
            .fence_due(t0 + Duration::from_millis(500), false)
            .is_empty());
        assert_eq!(c.fence_due(t0 + Duration::from_secs(1), false), vec![2]);
        assert_eq!(c.listed().count(), 2);
        assert_eq!(c.place(1, 3), Err(2));
        assert_eq!(c.start(2), Some(true));
        assert_eq!(c.start(2), None);
        assert_eq!(c.listed().count(), 3);
    }
}
