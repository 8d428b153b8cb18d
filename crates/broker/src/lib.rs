//! An embedded Kafka-protocol broker, one node or a cluster of several in one process, that
//! is faithful where exactly-once depends on it: idempotent producers, transactions with commit/abort markers, the last
//! stable offset and aborted-transaction lists for `read_committed` readers, producer
//! fencing, transaction timeouts, classic consumer groups and committed offsets — plus
//! fault injection for tests.
//!
//! Requests are decoded and responses encoded with the [`kafka-protocol`](kafka_protocol)
//! crate. Data lives in memory, or with [`BrokerConfig::data_dir`] in files that survive a
//! restart (see "Durable logs" below).
//!
//! That crate comes as `kafka-eos-kafka-protocol`: kafka-protocol 0.18.0 with one fix (array
//! decoders reserve no more elements than the bytes left in the frame can hold; a 14-byte
//! request claiming 2^31 elements otherwise made the allocator abort the process). It is a
//! regular dependency, so the fix reaches every project using this broker. Upstream
//! kafka-protocol 0.18.0 (newest release as of 2026-11) lacks the fix; open upstream PRs
//! exist; switch back when a release includes it (`vendor/README.md` in the repository).
//!
//! ```no_run
//! # async fn demo() -> Result<(), kafka_eos_broker::Error> {
//! use kafka_eos_broker::EmbeddedBroker;
//! let broker = EmbeddedBroker::start_default().await?;
//! broker.create_topic("orders", 8)?;
//! // point any Kafka client at broker.bootstrap_servers()
//! # Ok(()) }
//! ```
//!
//! # A cluster in one process
//!
//! [`BrokerConfig::nodes`] serves as N nodes: one listener each, one shared state. Topics
//! take a replication factor up to N (replicas and in-sync replicas reported as Kafka
//! reports them), leaders spread over the nodes, and the group and transaction
//! coordinators of a key sit where Kafka would put them (the leader of the key's partition
//! of `__consumer_offsets` / `__transaction_state`, by Java's `String.hashCode`). A
//! request to a node that does not lead the partition gets NOT_LEADER_OR_FOLLOWER, one to a
//! node that does not coordinate the group or transactional id NOT_COORDINATOR;
//! ListGroups and ListTransactions list what the node coordinates.
//!
//! [`Faults::stop_node`] stops a node as a crash would: connections refused and cut at
//! once, but its leadership and coordinators stay with it (clients retry and see
//! errors) until [`BrokerConfig::failover_delay`] passes; then it is fenced: it leaves the
//! metadata and its ISRs, each partition it led gets the next in-sync replica as leader
//! with a new leader epoch (batches are stamped with it; OffsetForLeaderEpoch answers from
//! each log's epoch history; a client's stale or future epoch gets FENCED_LEADER_EPOCH or
//! UNKNOWN_LEADER_EPOCH), and its coordinators move, the new group coordinator restarting
//! every member's session as Kafka's does when it loads a group. [`Faults::start_node`]
//! brings it back into every ISR; [`Faults::elect_preferred_leaders`] gives leadership back.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kafka_eos_broker::Error> {
//! use std::time::Duration;
//! use kafka_eos_broker::{BrokerConfig, EmbeddedBroker};
//! let broker = EmbeddedBroker::start(
//!     BrokerConfig::default().nodes(3).failover_delay(Duration::from_secs(1)),
//! )
//! .await?;
//! broker.create_replicated_topic("orders", 8, 3)?;
//! let leader = broker.leader("orders", 0).unwrap_or(-1);
//! broker.faults().stop_node(leader)?; // a second later partition 0 has a new leader
//! # Ok(()) }
//! ```
//!
//! The replicas share one log, so they are always caught up: there is no replication lag,
//! no under-replicated partition while every node runs, no unclean election and no data
//! loss on failover (as Kafka with `acks=all` and `min.insync.replicas` met); followers
//! never serve fetches (KIP-392). A group coordinator that moves keeps a rebalance in
//! progress where it was (Kafka's new coordinator would load the group's last stable
//! generation); transaction timeouts keep running while a coordinator is down.
//! CreatePartitions takes the request's replica assignments (the first replica leads),
//! checked as Kafka's controller checks them (INVALID_REPLICA_ASSIGNMENT), or places the
//! new partitions itself.
//! A group coordinator failover gets librdkafka 2.12 stuck, on the client side: its
//! `send_offsets_to_transaction` (a TxnOffsetCommit to the group coordinator) does not
//! return, even past its timeout, once that node is stopped: librdkafka sets a timeout on
//! coordinator requests but never checks it, and waits for the dead coordinator's
//! connection to change state (librdkafka issues 5456 and 5511). Apache Kafka names the dead
//! node as coordinator until it is fenced, as this broker does during its failover delay,
//! so real clusters meet it too. kafka-eos's producer gives up on the call after its
//! timeout plus a margin and the pipeline replaces the producer (`Error::Stalled` in
//! kafka-eos-core); the failover suite checks that this keeps exactly once.
//!
//! # Security
//!
//! Plaintext and anonymous by default. Optionally, as a Kafka listener would:
//! - TLS ([`BrokerConfig::tls`], rustls): a PEM identity, or [`TestCertificates`] generated
//!   at run time (a CA for clients' `ssl.ca.location` and a server certificate it signs);
//! - SASL ([`BrokerConfig::sasl_user`]): PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512, over
//!   plaintext or TLS; only ApiVersions and the SASL exchange precede authentication, and
//!   a failed authentication is answered with Kafka's SASL_AUTHENTICATION_FAILED message,
//!   then the connection is closed. SCRAM credentials can be listed, added, replaced and
//!   deleted at run time with DescribeUserScramCredentials and AlterUserScramCredentials
//!   (KIP-554, Kafka's error codes; CLUSTER DESCRIBE / ALTER under the authorizer): an
//!   upserted credential authenticates the user's next SCRAM exchange, a deleted one no
//!   longer does (the listener requires SASL only if users were configured at start);
//! - authorization ([`BrokerConfig::acl`], [`BrokerConfig::super_user`],
//!   [`BrokerConfig::authorization`]): [`AclRule`]s checked as Kafka's `KafkaApis` checks
//!   them, denying what no rule allows; CreateAcls, DescribeAcls and DeleteAcls manage
//!   them at run time. [`EmbeddedBroker::security_protocol`] tells clients what to set.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kafka_eos_broker::Error> {
//! use kafka_eos_broker::{AclOperation, AclRule, BrokerConfig, EmbeddedBroker, ResourceType, TestCertificates};
//! let certs = TestCertificates::generate(&["localhost", "127.0.0.1"])?;
//! certs.write_ca(std::env::temp_dir().join("ca.pem"))?;
//! let broker = EmbeddedBroker::start(
//!     BrokerConfig::default()
//!         .tls(certs.identity())
//!         .sasl_user("app", "app-secret")
//!         .acl(AclRule::allow("User:app", ResourceType::Topic, "orders", AclOperation::All))
//!         .acl("User:app:group:orders-*:read".parse()?),
//! )
//! .await?;
//! assert_eq!(broker.security_protocol().as_str(), "SASL_SSL");
//! // clients: security.protocol=SASL_SSL, sasl.mechanisms=SCRAM-SHA-256,
//! // sasl.username=app, sasl.password=app-secret, ssl.ca.location=<temp dir>/ca.pem
//! # Ok(()) }
//! ```
//!
//! Not implemented: mutual TLS (client certificates as principals), GSSAPI and
//! OAUTHBEARER, SASL re-authentication (KIP-368), delegation tokens, host-based ACLs
//! beyond exact IP addresses, and a few multi-resource admin requests are refused as a
//! whole when any of their resources is refused (see `handlers/guard.rs`).
//!
//! Dynamic broker configs (AlterConfigs / IncrementalAlterConfigs on a BROKER resource: a
//! broker id of the cluster, or "" for the cluster default) are kept and reported by
//! DescribeConfigs (DYNAMIC_BROKER_CONFIG, DYNAMIC_DEFAULT_BROKER_CONFIG) but not acted
//! upon: the broker runs with its [`BrokerConfig`]. Any node answers for any broker id of
//! the cluster (Kafka wants the request at the broker it names).
//!
//! What is knowingly not implemented: replication between separate processes, enforcement
//! of retention and compaction (topic configs are stored and reported), quotas, the KIP-848 consumer protocol, fetch sessions (KIP-227: every fetch is a full
//! fetch, which clients accept), topic ids in Fetch (v13+), KIP-890 transactions v2.
//! Records without a key are refused on a compacted topic (INVALID_RECORD, each named by
//! its index in its batch, as Kafka's log validator) in uncompressed batches only: the
//! broker does not decompress batches, so a compressed one is not inspected.
//!
//! # Durable logs
//!
//! By default everything lives in memory and no file is touched. With
//! [`BrokerConfig::data_dir`] (`kafka-eos broker --data-dir DIR`) the broker keeps in `DIR`:
//! - `logs/<topic>-<partition>.log`: each partition's batches exactly as stored (v2 record
//!   batches with their offsets and leader epochs, commit and abort markers included),
//!   appended before the produce (or the transaction's end) is answered;
//! - `metadata.json`: topics (id, replicas, configs, log start offsets after
//!   DeleteRecords), the transaction coordinator (the producer id counter, every
//!   transactional id with its producer id, epoch, state, timeout and the partitions and
//!   groups of its transaction), committed group offsets, offsets staged by open
//!   transactions, and group generations. It is replaced atomically (written aside, then
//!   renamed) after each request that changes it, before that request is answered, and
//!   after the background tick aborts timed-out transactions or completes a rebalance.
//!
//! A broker started on the same dir recovers, a crash (`SIGKILL`) included: each log is
//! read batch by batch and cut after its last whole batch with a valid CRC (a torn last
//! write); replaying the batches rebuilds the next offset, producer sequences (a retried
//! batch is still recognized as a duplicate), open transactions, the last stable offset,
//! the aborted-transaction index and the leader epochs, and each partition begins a new
//! leader epoch (a restart is an election). A transaction's decision (PrepareCommit or
//! PrepareAbort, with its staged offsets) is saved before its first marker is written, so
//! a transaction decided before a crash is completed at start (missing markers written, its
//! offsets committed or dropped), as Kafka's coordinator completes it; transactions still
//! open restart their timeout and are aborted when it passes. Recovery is logged
//! (`tracing` info: topics, partitions, bytes, torn bytes cut, transactions completed and
//! left open). A `metadata.json` that cannot be read stops the start with
//! [`Error::CorruptMetadata`].
//!
//! [`FsyncPolicy`] ([`BrokerConfig::fsync`], `--fsync`): `Never` (default) hands every write
//! to the operating system before answering, which survives a crash of the process but not
//! of the machine, as Kafka's own defaults (page cache, durability through replication);
//! `Always` fsyncs each append, marker and metadata save before answering.
//!
//! Not kept: group members (after a restart members rejoin, getting UNKNOWN_MEMBER_ID as
//! after a coordinator move; generations continue past the saved ones), ACLs created at run
//! time (configured ones apply again), SCRAM credentials changed at run time (configured
//! users get theirs again), dynamic broker configs, injected faults and stopped nodes,
//! transaction counts. Partition logs are one file each that only grows (DeleteRecords moves the log
//! start offset, kept in the metadata; retention is not enforced). A write that fails
//! answers Produce with KAFKA_STORAGE_ERROR and transactional requests with
//! NOT_COORDINATOR; a metadata save that fails closes the connection instead of answering
//! (the client retries); a marker that cannot be written takes the data dir offline (no
//! more writes until a restart, which completes the transaction from the saved decision).
//! Restart a data dir with the same node count: replicas are kept by node id.
//!
//! # Consumer groups: how they differ from Apache Kafka
//!
//! The classic group protocol follows Kafka's `GroupMetadataManager` state by state
//! (Empty, PreparingRebalance, CompletingRebalance, Stable): JoinGroup, SyncGroup, Heartbeat
//! and LeaveGroup answer each state with Kafka's error codes, static members (KIP-345)
//! replace their old member id and fence it, session, rebalance and pending-sync timeouts
//! remove members as Kafka does. What still differs:
//! - No `Dead` state: DeleteGroups removes a group at once, and later requests for it are
//!   answered as for a group that never existed (Kafka answers requests racing the deletion
//!   with COORDINATOR_NOT_AVAILABLE). DescribeGroups reports unknown groups as `Dead`, as Kafka.
//! - `group.max.size` is not implemented: groups are unbounded (Kafka's default), never
//!   GROUP_MAX_SIZE_REACHED.
//! - There is no `__consumer_offsets` topic: offsets live in the coordinator's memory (and,
//!   with a data dir, in its metadata snapshot), so a coordinator that moves has nothing to
//!   load (never COORDINATOR_LOAD_IN_PROGRESS) and a commit has no log append to fail and
//!   revert. NOT_COORDINATOR is answered by the nodes that do not coordinate the group.
//! - Committed offsets of empty groups never expire (`offsets.retention.minutes` is not
//!   enforced) and empty groups are never removed by the broker.
//! - Ties: a protocol vote tie goes to the first member's preference (Kafka: hash order);
//!   a departed leader is replaced by the earliest-joined member (Kafka: any member).
//! - A SyncGroup waiting when its member is removed (LeaveGroup during
//!   CompletingRebalance) is answered UNKNOWN_MEMBER_ID; Kafka leaves it unanswered until
//!   the client's request timeout.
//! - Timers (sessions, rebalance and initial delays, pending members and syncs) are checked
//!   every 50 ms rather than fired at their exact deadline; sessions are also checked
//!   whenever a request names the group (before it is answered), so no request sees a
//!   member whose session deadline has passed, as with Kafka's timers. Join reasons
//!   (KIP-800) are ignored.
//!
//! Every advertised version of every API is answered at that version
//! (`tests/api_versions.rs` sends each a request naming a topic, a group and a
//! transactional id); authorized operations, when asked for, are reported as Kafka reports
//! them without an authorizer (every operation of the resource) or, with the authorizer
//! on, the operations the principal is allowed.

mod acl;
mod authorizer;
mod background;
mod batch;
mod broker;
mod buffers;
mod clock;
mod cluster;
mod config;
mod dispatch;
mod dynamic_config;
mod error;
mod faults;
mod group;
mod handlers;
mod leader_epochs;
mod log;
mod producer_state;
mod replicas;
mod sasl;
mod security;
mod server;
mod state;
mod store;
mod tls;
mod topic_config;
mod topics;
mod txn;

pub use acl::{AclOperation, AclPermission, AclRule, PatternType, ResourceType};
pub use background::BackgroundBroker;
pub use broker::EmbeddedBroker;
pub use config::{BrokerConfig, FsyncPolicy};
pub use error::{Error, Result};
pub use faults::Faults;
pub use security::SecurityProtocol;
pub use tls::{TestCertificates, TlsIdentity};
pub use txn::{TransactionCounts, TransactionInfo};

/// The `kafka-protocol` crate, re-exported for [`Faults::fail_next`]'s API keys and error codes.
pub use kafka_protocol as protocol;
