//! Fault injection on a running broker: injected error codes, added latency, dropped
//! connections, a pause, a bounce, shortened transaction timeouts.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kafka_protocol::messages::ApiKey;
use kafka_protocol::ResponseError;
use tokio::sync::watch;

use crate::state::State;

#[derive(Debug, Default)]
pub(crate) struct Injected {
    errors: HashMap<i16, VecDeque<(i16, u32)>>,
    latency: HashMap<i16, Duration>,
    response_latency: HashMap<i16, Duration>,
    down_until: Option<Instant>,
}

/// Fault state shared by the connections of one broker.
#[derive(Debug)]
pub(crate) struct FaultState {
    injected: Mutex<Injected>,
    /// Bumped to make every connection close.
    pub(crate) disconnect: watch::Sender<u64>,
    /// `true` while the broker answers nothing.
    pub(crate) paused: watch::Sender<bool>,
    /// `true` while the background tick leaves the group timers alone.
    group_timers_paused: AtomicBool,
}

impl Default for FaultState {
    fn default() -> Self {
        Self {
            injected: Mutex::new(Injected::default()),
            disconnect: watch::channel(0).0,
            paused: watch::channel(false).0,
            group_timers_paused: AtomicBool::new(false),
        }
    }
}

impl FaultState {
    pub(crate) fn lock_injected(&self) -> MutexGuard<'_, Injected> {
        self.injected.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The error code to answer this request of `api_key` with, if one is injected.
    pub(crate) fn take_error(&self, api_key: i16) -> Option<i16> {
        let mut inj = self.lock_injected();
        let queue = inj.errors.get_mut(&api_key)?;
        let (code, remaining) = queue.front_mut()?;
        let code = *code;
        *remaining -= 1;
        if *remaining == 0 {
            queue.pop_front();
        }
        Some(code)
    }

    pub(crate) fn latency(&self, api_key: i16) -> Option<Duration> {
        self.lock_injected().latency.get(&api_key).copied()
    }

    pub(crate) fn response_latency(&self, api_key: i16) -> Option<Duration> {
        self.lock_injected().response_latency.get(&api_key).copied()
    }

    /// Whether the background tick must leave the group timers alone.
    pub(crate) fn group_timers_paused(&self) -> bool {
        self.group_timers_paused.load(Ordering::Acquire)
    }

    /// Whether new connections are refused (during a bounce).
    pub(crate) fn is_down(&self) -> bool {
        let mut inj = self.lock_injected();
        match inj.down_until {
            Some(t) if Instant::now() < t => true,
            Some(_) => {
                inj.down_until = None;
                false
            }
            None => false,
        }
    }
}

/// A handle to inject faults into a running [`EmbeddedBroker`](crate::EmbeddedBroker).
///
/// ```no_run
/// # async fn demo() -> Result<(), kafka_eos_broker::Error> {
/// use std::time::Duration;
/// use kafka_eos_broker::{EmbeddedBroker, protocol::{messages::ApiKey, ResponseError}};
/// let broker = EmbeddedBroker::start_default().await?;
/// let faults = broker.faults();
/// // the next two EndTxn requests fail as if the coordinator were loading
/// faults.fail_next(ApiKey::EndTxn, ResponseError::CoordinatorLoadInProgress, 2);
/// faults.add_latency(ApiKey::Produce, Duration::from_millis(50));
/// faults.bounce(Duration::from_millis(500)); // connections cut, state kept
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Faults {
    pub(crate) state: Arc<State>,
}

impl Faults {
    /// Answers the next `count` requests of `api` with `error` (the request is not executed).
    pub fn fail_next(&self, api: ApiKey, error: ResponseError, count: u32) {
        self.fail_next_code(api as i16, error.code(), count);
    }

    /// As [`fail_next`](Self::fail_next), with a raw API key and error code.
    pub fn fail_next_code(&self, api_key: i16, error_code: i16, count: u32) {
        if count == 0 {
            return;
        }
        self.state
            .faults
            .lock_injected()
            .errors
            .entry(api_key)
            .or_default()
            .push_back((error_code, count));
    }

    /// How many injected error answers are still waiting for their request (0 once every
    /// injected error was used), so a test can show its faults were hit.
    pub fn pending_errors(&self) -> u32 {
        self.state
            .faults
            .lock_injected()
            .errors
            .values()
            .flat_map(|q| q.iter().map(|(_, n)| *n))
            .sum()
    }

    /// Delays every request of `api` by `delay` (replaces an earlier delay; zero removes it).
    pub fn add_latency(&self, api: ApiKey, delay: Duration) {
        let mut inj = self.state.faults.lock_injected();
        if delay.is_zero() {
            inj.latency.remove(&(api as i16));
        } else {
            inj.latency.insert(api as i16, delay);
        }
    }

    /// Delays the response to every request of `api` by `delay`, after the request took
    /// effect (replaces an earlier delay; zero removes it): a client that gives up waiting
    /// cannot tell whether it did, as when a response is lost.
    pub fn add_response_latency(&self, api: ApiKey, delay: Duration) {
        let mut inj = self.state.faults.lock_injected();
        if delay.is_zero() {
            inj.response_latency.remove(&(api as i16));
        } else {
            inj.response_latency.insert(api as i16, delay);
        }
    }

    /// Closes every client connection now (clients reconnect).
    pub fn drop_connections(&self) {
        self.state.faults.disconnect.send_modify(|g| *g += 1);
    }

    /// Stops answering requests (connections stay open) until [`resume`](Self::resume).
    pub fn pause(&self) {
        self.state.faults.paused.send_replace(true);
    }

    /// Answers requests again after a [`pause`](Self::pause).
    pub fn resume(&self) {
        self.state.faults.paused.send_replace(false);
    }

    /// Stops the background tick (every 50 ms) from running the group coordinator's timers
    /// (session expiry, rebalance and initial delays, pending members and syncs) until
    /// [`resume_group_timers`](Self::resume_group_timers), as a stalled timer thread would.
    /// Requests for a group still expire its members whose session deadline has passed,
    /// as Kafka's timers would have fired by then: tests use this to see that a request
    /// right after a session timeout finds the member gone without racing the tick.
    pub fn pause_group_timers(&self) {
        self.state
            .faults
            .group_timers_paused
            .store(true, Ordering::Release);
    }

    /// Runs the group timers from the background tick again.
    pub fn resume_group_timers(&self) {
        self.state
            .faults
            .group_timers_paused
            .store(false, Ordering::Release);
    }

    /// Cuts every connection and refuses new ones for `down_for`, keeping all state, as a
    /// restart of a broker with durable logs.
    pub fn bounce(&self, down_for: Duration) {
        self.state.faults.lock_injected().down_until = Some(Instant::now() + down_for);
        self.drop_connections();
    }

    /// Stops node `id` of a broker with several [nodes](crate::BrokerConfig::nodes), as a
    /// crashed Kafka broker: its listener closes (connections are refused) and its
    /// connections are cut at once; its partitions' leadership and its group and
    /// transaction coordinators stay with it until the
    /// [failover delay](crate::BrokerConfig::failover_delay) has passed, then move to live
    /// nodes (new leader epochs; the node leaves the metadata). Stopping the only node is
    /// allowed: nothing can then move.
    pub fn stop_node(&self, id: i32) -> crate::Result<()> {
        let mut cluster = self.state.cluster();
        if cluster.node(id).is_none() {
            return Err(crate::Error::UnknownNode(id));
        }
        if cluster.stop(id, Instant::now()) {
            tracing::info!(node = id, "node stopped");
        }
        Ok(())
    }

    /// Starts a stopped node again: it listens at its address again and, if it had been
    /// failed over, rejoins every in-sync replica set and leads the partitions that had no
    /// leader. Leadership it lost does not come back by itself (see
    /// [`elect_preferred_leaders`](Self::elect_preferred_leaders)).
    pub fn start_node(&self, id: i32) -> crate::Result<()> {
        if self.state.cluster().node(id).is_none() {
            return Err(crate::Error::UnknownNode(id));
        }
        self.state.start_node(id);
        Ok(())
    }

    /// Fails the stopped nodes over now, without waiting for the failover delay (as a
    /// controlled shutdown moves leadership away). Returns the nodes failed over.
    pub fn fail_over_now(&self) -> Vec<i32> {
        self.state.fail_over(Instant::now(), true)
    }

    /// Gives each partition's and coordinator's leadership back to its preferred (first)
    /// replica where that replica is in sync, as Kafka's preferred leader election. Returns
    /// how many leaders moved.
    pub fn elect_preferred_leaders(&self) -> usize {
        self.state.elect_preferred_leaders()
    }

    /// Caps every transaction's timeout at `timeout` (`None` restores the producers' own).
    pub fn set_transaction_timeout(&self, timeout: Option<Duration>) {
        self.state.txns().timeout_override = timeout;
    }

    /// Removes every injected error and latency, resumes a paused broker and its group
    /// timers.
    pub fn clear(&self) {
        let mut inj = self.state.faults.lock_injected();
        inj.errors.clear();
        inj.latency.clear();
        inj.response_latency.clear();
        inj.down_until = None;
        drop(inj);
        self.resume();
        self.resume_group_timers();
    }
}
