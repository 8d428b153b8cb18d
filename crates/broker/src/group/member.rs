//! A group member: its protocols, timeouts, session deadline and the requests it has waiting.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use kafka_protocol::messages::ConsumerProtocolSubscription;
use kafka_protocol::protocol::Decodable;
use tokio::sync::oneshot;

use super::join::JoinOutcome;
use super::sync::SyncOutcome;

/// How long a member that joined during a rebalance may wait for the join to complete
/// before it is expired (Kafka's `GroupCoordinator.NewMemberJoinTimeoutMs`).
pub(super) const NEW_MEMBER_JOIN_TIMEOUT: Duration = Duration::from_secs(300);

/// A group member.
#[derive(Debug)]
pub(super) struct Member {
    /// Member id.
    pub member_id: String,
    /// Static membership instance id.
    pub group_instance_id: Option<String>,
    /// The client id of the connection that joined.
    pub client_id: String,
    /// The client host of the connection that joined.
    pub client_host: String,
    /// Session timeout.
    pub session_timeout: Duration,
    /// Rebalance timeout.
    pub rebalance_timeout: Duration,
    /// The protocol type the member joined with.
    pub protocol_type: String,
    /// Supported protocols in preference order, with their metadata.
    pub protocols: Vec<(String, Bytes)>,
    /// The current assignment.
    pub assignment: Bytes,
    /// When the member expires unless it heartbeats (or otherwise shows life).
    pub session_deadline: Instant,
    /// Joined during the current rebalance and not yet part of a generation.
    pub is_new: bool,
    /// The pending JoinGroup of this member.
    pub join_waiter: Option<oneshot::Sender<JoinOutcome>>,
    /// The pending SyncGroup of this member.
    pub sync_waiter: Option<oneshot::Sender<SyncOutcome>>,
}

/// New protocols and timeouts of a rejoining member.
#[derive(Debug)]
pub(super) struct MemberUpdate {
    /// Protocols in preference order.
    pub protocols: Vec<(String, Bytes)>,
    /// Session timeout.
    pub session_timeout: Duration,
    /// Rebalance timeout.
    pub rebalance_timeout: Duration,
    /// Client id of the connection.
    pub client_id: String,
    /// Client host of the connection.
    pub client_host: String,
}

impl Member {
    /// Whether a JoinGroup of this member is waiting for the rebalance to complete.
    pub(super) fn is_awaiting_join(&self) -> bool {
        self.join_waiter.is_some()
    }

    /// Whether a SyncGroup of this member is waiting for the leader's assignment.
    pub(super) fn is_awaiting_sync(&self) -> bool {
        self.sync_waiter.is_some()
    }

    /// Whether the member sent exactly these protocols (names, metadata and order).
    pub(super) fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols.as_slice() == protocols
    }

    /// The member's metadata for `protocol` (empty if it does not support it).
    pub(super) fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, metadata)| metadata.clone())
            .unwrap_or_default()
    }

    /// Whether the session of the member has expired at `now` (Kafka's
    /// `!hasSatisfiedHeartbeat`): members waiting in a rebalance are kept alive, except
    /// new members, which expire after [`NEW_MEMBER_JOIN_TIMEOUT`].
    pub(super) fn is_expired(&self, now: Instant) -> bool {
        if self.is_new {
            now >= self.session_deadline
        } else if self.is_awaiting_join() || self.is_awaiting_sync() {
            false
        } else {
            now >= self.session_deadline
        }
    }

    /// Moves the session deadline to `now + session timeout`.
    pub(super) fn refresh_session(&mut self, now: Instant) {
        self.session_deadline = now + self.session_timeout;
    }

    /// Takes the new protocols, timeouts and client of a rejoin.
    pub(super) fn update(&mut self, update: MemberUpdate) {
        self.protocols = update.protocols;
        self.session_timeout = update.session_timeout;
        self.rebalance_timeout = update.rebalance_timeout;
        self.client_id = update.client_id;
        self.client_host = update.client_host;
    }

    /// The topics the member subscribes to, read from its `ConsumerProtocolSubscription`
    /// metadata (as Kafka's `computeSubscribedTopics`; unreadable metadata subscribes to
    /// nothing).
    pub(super) fn subscribed_topics(&self, topics: &mut HashSet<String>) {
        for (_, metadata) in &self.protocols {
            let mut buf = metadata.clone();
            if buf.len() < 2 {
                continue;
            }
            let version = i16::from_be_bytes([buf[0], buf[1]]).clamp(0, 3);
            let _ = buf.get_i16();
            if let Ok(sub) = ConsumerProtocolSubscription::decode(&mut buf, version) {
                topics.extend(sub.topics.iter().map(|t| t.to_string()));
            }
        }
    }
}
