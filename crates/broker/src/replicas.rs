//! Who replicates a partition, which replicas are in sync, and who leads it; leader
//! election when a node is fenced or comes back, as Kafka's controller does it (clean
//! elections only: a leader is always chosen from the in-sync replicas).

/// "No leader" on the wire.
pub(crate) const NO_LEADER: i32 = -1;

/// The replica set of one partition (or of one partition of the coordinators' internal
/// topics). Every replica is in sync while its node is live: the nodes share one log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Replicas {
    /// The assigned replicas; the first is the preferred leader.
    pub replicas: Vec<i32>,
    /// The in-sync replicas, in assignment order.
    pub isr: Vec<i32>,
    /// The leader, or [`NO_LEADER`] while every in-sync replica is fenced.
    pub leader: i32,
}

impl Replicas {
    /// A new partition led by its first replica.
    pub fn new(replicas: Vec<i32>) -> Self {
        Self {
            leader: replicas.first().copied().unwrap_or(NO_LEADER),
            isr: replicas.clone(),
            replicas,
        }
    }

    /// `node` was fenced: it leaves the ISR (unless it is the last member, as in Kafka,
    /// which keeps the last in-sync replica to elect when it returns) and, if it led, the
    /// first other in-sync replica takes over. Returns whether the leader changed.
    pub fn fence(&mut self, node: i32) -> bool {
        if !self.isr.contains(&node) {
            return false;
        }
        if self.isr.len() > 1 {
            self.isr.retain(|n| *n != node);
        }
        if self.leader != node {
            return false;
        }
        self.leader = self
            .isr
            .iter()
            .copied()
            .find(|n| *n != node)
            .unwrap_or(NO_LEADER);
        true
    }

    /// `node` is back: it rejoins the ISR (it shares the leader's log, so it is caught up)
    /// and leads a partition that had no leader. Returns whether the leader changed.
    pub fn unfence(&mut self, node: i32) -> bool {
        if !self.replicas.contains(&node) {
            return false;
        }
        if !self.isr.contains(&node) {
            self.isr.push(node);
            let order = &self.replicas;
            self.isr
                .sort_by_key(|n| order.iter().position(|r| r == n).unwrap_or(usize::MAX));
        }
        if self.leader == NO_LEADER {
            self.leader = node;
            return true;
        }
        false
    }

    /// The preferred (first) replica takes the lead back if it is in sync. Returns
    /// whether the leader changed.
    pub fn elect_preferred(&mut self) -> bool {
        match self.replicas.first() {
            Some(&p) if p != self.leader && self.isr.contains(&p) => {
                self.leader = p;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_in_sync_replica_takes_over() {
        let mut r = Replicas::new(vec![2, 3, 1]);
        assert_eq!(r.leader, 2);
        assert!(!r.fence(3), "a follower leaving changes no leader");
        assert_eq!(r.isr, vec![2, 1]);
        assert!(r.fence(2));
        assert_eq!((r.leader, r.isr.clone()), (1, vec![1]));
        // the last in-sync replica stays in the ISR and the partition goes offline
        assert!(r.fence(1));
        assert_eq!((r.leader, r.isr.clone()), (NO_LEADER, vec![1]));
    }

    #[test]
    fn a_returning_node_rejoins_and_leads_an_offline_partition() {
        let mut r = Replicas::new(vec![1, 2]);
        r.fence(1);
        r.fence(2);
        assert_eq!(r.leader, NO_LEADER);
        assert!(r.unfence(2));
        assert_eq!(r.leader, 2);
        assert!(!r.unfence(1));
        assert_eq!(r.isr, vec![1, 2]);
        assert!(!r.unfence(7), "not a replica");
        assert!(r.elect_preferred());
        assert_eq!(r.leader, 1);
    }
}
