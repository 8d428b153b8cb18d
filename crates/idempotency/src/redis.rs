//! [`RedisStore`]: claims as `SET NX PX` keys with a lease, marks as keys with a TTL.

use std::sync::LazyLock;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, RedisError, Script};

use crate::error::{Error, Result, StoreKind};
use crate::key::IdempotencyKey;
use crate::store::{Claim, ClaimToken, Completion, IdempotencyStore};
use kafka_eos_sql::redact_url as redact;

/// The prefix of every key the store writes, by default.
pub const DEFAULT_PREFIX: &str = "kafka-eos:idempotency:";

/// How long a done mark is kept, by default: 7 days, Kafka's default retention, so a record
/// replayed from anywhere in a topic kept that long finds its mark.
pub const DEFAULT_DONE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long connecting, and each command, may take before it counts as unavailable.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// How many times the connection manager reconnects (with backoff from 100 ms) before a
/// call fails; at set-up, before [`RedisStore::connect`] fails.
const RECONNECT_RETRIES: usize = 3;

const DONE: &str = "done";

/// Claims the key if it is absent (a claim that expired is absent): 1; done: 2; held: 3 and
/// the time left on its lease (ms).
static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1, 0} end
          if redis.call('GET', KEYS[1]) == 'done' then return {2, 0} end
          return {3, redis.call('PTTL', KEYS[1])}",
    )
});

/// Marks the key done (with the done TTL) whoever holds it: 1 if our claim held it, else 0.
static COMPLETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local held = redis.call('GET', KEYS[1])
          redis.call('SET', KEYS[1], 'done', 'PX', ARGV[2])
          if held == ARGV[1] then return 1 end
          return 0",
    )
});

/// Deletes the key if our claim holds it.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
          return 0",
    )
});

/// An [`IdempotencyStore`] in Redis (feature `redis`).
///
/// Each key is one Redis key, `prefix + namespace:key`, holding `claimed:<token>` with the
/// lease as its expiry (`SET NX PX`: an expired claim is gone, so the next claim takes the
/// key), then `done` with the done TTL. Each step is one Lua script, atomic on the server.
///
/// A done mark lasts [`DEFAULT_DONE_TTL`] (7 days) or [`RedisStore::done_ttl`]: after it a
/// replay of the same key runs the effect again. Choose it longer than any replay (the
/// input topics' retention, the oldest offset you might reset a group to), or put a
/// database behind Redis ([`Layered`](crate::Layered)). Redis keeps the marks in memory:
/// with persistence off (or a failover that loses writes) they are lost on restart, which
/// is why the seeds put the database's unique key behind it.
///
/// Calls go through a [`ConnectionManager`]: a dropped connection fails the call with
/// [`Error::Unavailable`] and is re-opened in the background.
///
/// ```no_run
/// use std::time::Duration;
/// use kafka_eos_idempotency::{Idempotent, RedisStore};
///
/// # async fn demo() -> Result<(), kafka_eos_idempotency::Error> {
/// let store = RedisStore::connect("redis://127.0.0.1:6379")
///     .await?
///     .prefix("fees:")
///     .done_ttl(Duration::from_secs(14 * 24 * 3600));
/// let guard = Idempotent::new(store);
/// # let _ = guard; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    prefix: String,
    done_ttl: Duration,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("done_ttl", &self.done_ttl)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to `url` (`redis://[:password@]host:port[/db]`). Fails with
    /// [`Error::Unreachable`] (naming the URL, its password hidden) if the server does not
    /// answer within a few attempts.
    pub async fn connect(url: &str) -> Result<Self> {
        let unreachable = |source: RedisError| Error::Unreachable {
            store: StoreKind::Redis,
            url: redact(url),
            source: Box::new(source),
        };
        let client = redis::Client::open(url).map_err(unreachable)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(RECONNECT_RETRIES);
        let connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(unreachable)?;
        Ok(Self::from_connection(connection))
    }

    /// A store on your own connection manager.
    pub fn from_connection(connection: ConnectionManager) -> Self {
        RedisStore {
            connection,
            prefix: DEFAULT_PREFIX.to_owned(),
            done_ttl: DEFAULT_DONE_TTL,
        }
    }

    /// The prefix of every key written ([`DEFAULT_PREFIX`] by default).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a done mark is kept ([`DEFAULT_DONE_TTL`] by default).
    pub fn done_ttl(mut self, ttl: Duration) -> Self {
        self.done_ttl = ttl;
        self
    }

    /// The connection (a clone shares it).
    pub fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    fn redis_key(&self, key: &IdempotencyKey) -> String {
        format!("{}{}", self.prefix, key.as_str())
    }

    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.done_ttl.as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

/// `claimed:<token>`, the value of a claimed key.
fn claimed(token: &ClaimToken) -> String {
    format!("claimed:{}", token.as_str())
}

/// A Redis error, classified: connection, timeout and "try again" errors are unavailable.
fn classify(e: RedisError) -> Error {
    use redis::{ErrorKind, ServerErrorKind};
    let transient = e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_cluster_error()
        || matches!(
            e.kind(),
            ErrorKind::Server(
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::ReadOnly
            )
        );
    let source = Box::new(e);
    if transient {
        Error::Unavailable {
            store: StoreKind::Redis,
            source,
        }
    } else {
        Error::Rejected {
            store: StoreKind::Redis,
            source,
        }
    }
}

impl IdempotencyStore for RedisStore {
    async fn claim(&self, key: &IdempotencyKey, lease: Duration) -> Result<Claim> {
        let token = ClaimToken::random();
        let lease_ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX).max(1);
        let (answer, left): (i64, i64) = CLAIM
            .key(self.redis_key(key))
            .arg(claimed(&token))
            .arg(lease_ms)
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(classify)?;
        Ok(match answer {
            1 => Claim::Acquired(token),
            2 => Claim::Done,
            _ => Claim::Held {
                expires_in: Duration::from_millis(u64::try_from(left).unwrap_or(0)),
            },
        })
    }

    async fn complete(&self, key: &IdempotencyKey, token: &ClaimToken) -> Result<Completion> {
        let ours: i64 = COMPLETE
            .key(self.redis_key(key))
            .arg(claimed(token))
            .arg(self.ttl_ms())
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(classify)?;
        Ok(if ours == 1 {
            Completion::Marked
        } else {
            Completion::LeaseLost
        })
    }

    async fn release(&self, key: &IdempotencyKey, token: &ClaimToken) -> Result<()> {
        let _: i64 = RELEASE
            .key(self.redis_key(key))
            .arg(claimed(token))
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn is_done(&self, key: &IdempotencyKey) -> Result<bool> {
        let value: Option<String> = self
            .connection
            .clone()
            .get(self.redis_key(key))
            .await
            .map_err(classify)?;
        Ok(value.as_deref() == Some(DONE))
    }

    async fn mark_done(&self, key: &IdempotencyKey) -> Result<()> {
        let options =
            redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(self.ttl_ms()));
        let _: () = self
            .connection
            .clone()
            .set_options(self.redis_key(key), DONE, options)
            .await
            .map_err(classify)?;
        Ok(())
    }
}
