//! Redis backend, shared by many nodes.
//!
//! Each key is a Redis hash: `v` holds the value (or `n` the count, for counters) and `exp` the
//! expiry in Unix milliseconds by our [`Clock`]. Every operation is one Lua script that is given
//! "now" from that clock, so expiry follows the clock tests advance, and each operation is atomic
//! and one round trip. Redis also gets a real PEXPIRE of the ttl so it drops dead keys itself.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script};

use super::{Attempt, EphemeralError, EphemeralStore};
use crate::clock::Clock;

/// Bound on connecting, on each connection attempt and on each command, so a down Redis gives
/// an error rather than a hang.
const TIMEOUT: Duration = Duration::from_secs(5);

/// ARGV: value, expires-at ms, pexpire ms. Deletes first so no field of an old counter lingers.
const PUT: &str = r"
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'exp', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
";

/// ARGV: now ms, value, expires-at ms, pexpire ms. Returns 1 if stored.
const PUT_IF_ABSENT: &str = r"
local exp = tonumber(redis.call('HGET', KEYS[1], 'exp'))
if exp and exp > tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'exp', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
";

/// ARGV: now ms. Returns the live value or nil.
const GET: &str = r"
local r = redis.call('HMGET', KEYS[1], 'v', 'exp')
if r[2] and tonumber(r[2]) > tonumber(ARGV[1]) then return r[1] end
return false
";

/// ARGV: now ms. Returns, for each of KEYS in order, its live value or nil.
const GET_MANY: &str = r"
local now = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  local r = redis.call('HMGET', key, 'v', 'exp')
  if r[2] and tonumber(r[2]) > now then out[i] = r[1] else out[i] = false end
end
return out
";

/// ARGV: now ms. Returns the live value or nil, and deletes the key either way.
const TAKE: &str = r"
local r = redis.call('HMGET', KEYS[1], 'v', 'exp')
if not r[2] then return false end
redis.call('DEL', KEYS[1])
if tonumber(r[2]) > tonumber(ARGV[1]) then return r[1] end
return false
";

/// ARGV: now ms, expected value. Returns 1 if deleted.
const COMPARE_AND_DELETE: &str = r"
local r = redis.call('HMGET', KEYS[1], 'v', 'exp')
if r[2] and tonumber(r[2]) > tonumber(ARGV[1]) and r[1] == ARGV[2] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
";

/// ARGV: now ms, expires-at ms, pexpire ms. Returns the new count. A live counter keeps its
/// window (HINCRBY leaves both `exp` and the PEXPIRE alone); otherwise a new window starts.
const INCREMENT: &str = r"
local exp = tonumber(redis.call('HGET', KEYS[1], 'exp'))
if exp and exp > tonumber(ARGV[1]) then
  return redis.call('HINCRBY', KEYS[1], 'n', 1)
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'n', 1, 'exp', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
";

/// ARGV: now ms, limit, expires-at ms, pexpire ms. Returns the attempt's number (1-based), or
/// 0 when the window's `limit` attempts are used (nothing counted). Compare and count are one
/// script, so concurrent callers never both take the last attempt.
const TAKE_ATTEMPT: &str = r"
local limit = tonumber(ARGV[2])
local r = redis.call('HMGET', KEYS[1], 'n', 'exp')
if r[2] and tonumber(r[2]) > tonumber(ARGV[1]) then
  local used = tonumber(r[1]) or 0
  if used >= limit then return 0 end
  return redis.call('HINCRBY', KEYS[1], 'n', 1)
end
if limit < 1 then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'n', 1, 'exp', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
";

/// ARGV: now ms. Takes one off a live counter above zero; its window is kept.
const GIVE_BACK: &str = r"
local r = redis.call('HMGET', KEYS[1], 'n', 'exp')
if r[1] and r[2] and tonumber(r[2]) > tonumber(ARGV[1]) and tonumber(r[1]) > 0 then
  redis.call('HINCRBY', KEYS[1], 'n', -1)
end
return 0
";

/// ARGV: now ms. Returns the live count or 0.
const COUNT: &str = r"
local r = redis.call('HMGET', KEYS[1], 'n', 'exp')
if r[1] and r[2] and tonumber(r[2]) > tonumber(ARGV[1]) then return tonumber(r[1]) end
return 0
";

/// ARGV: now ms. Returns 1 if any of KEYS is live.
const EXISTS_ANY: &str = r"
local now = tonumber(ARGV[1])
for _, key in ipairs(KEYS) do
  local exp = tonumber(redis.call('HGET', key, 'exp'))
  if exp and exp > now then return 1 end
end
return 0
";

/// ARGV: now ms, expected value, new value, expires-at ms, pexpire ms. Returns 1 if replaced.
const COMPARE_AND_SWAP: &str = r"
local r = redis.call('HMGET', KEYS[1], 'v', 'exp')
if r[2] and tonumber(r[2]) > tonumber(ARGV[1]) and r[1] == ARGV[2] then
  redis.call('HSET', KEYS[1], 'v', ARGV[3], 'exp', ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0
";

struct Scripts {
    put: Script,
    put_if_absent: Script,
    get: Script,
    get_many: Script,
    take: Script,
    compare_and_delete: Script,
    increment: Script,
    take_attempt: Script,
    give_back: Script,
    count: Script,
    exists_any: Script,
    compare_and_swap: Script,
}

pub struct RedisStore {
    conn: ConnectionManager,
    key_prefix: String,
    clock: Clock,
    scripts: Scripts,
}

impl RedisStore {
    /// Connects to `url`; every key is stored as `key_prefix` followed by the caller's key.
    pub async fn connect(
        url: &str,
        key_prefix: &str,
        clock: Clock,
    ) -> Result<Self, EphemeralError> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        // Few, short retries: a failing call triggers a fresh reconnect anyway, and the
        // readiness probe should notice an outage quickly.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(3)
            .set_max_delay(Duration::from_secs(1));
        let conn =
            tokio::time::timeout(TIMEOUT, ConnectionManager::new_with_config(client, config))
                .await
                .map_err(|_| {
                    EphemeralError::Unavailable("timed out connecting to redis".to_owned())
                })?
                .map_err(unavailable)?;
        Ok(Self {
            conn,
            key_prefix: key_prefix.to_owned(),
            clock,
            scripts: Scripts {
                put: Script::new(PUT),
                put_if_absent: Script::new(PUT_IF_ABSENT),
                get: Script::new(GET),
                get_many: Script::new(GET_MANY),
                take: Script::new(TAKE),
                compare_and_delete: Script::new(COMPARE_AND_DELETE),
                increment: Script::new(INCREMENT),
                take_attempt: Script::new(TAKE_ATTEMPT),
                give_back: Script::new(GIVE_BACK),
                count: Script::new(COUNT),
                exists_any: Script::new(EXISTS_ANY),
                compare_and_swap: Script::new(COMPARE_AND_SWAP),
            },
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.key_prefix)
    }

    /// Runs a script that takes any number of keys and "now" as its one argument.
    async fn invoke_on_keys<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        keys: &[String],
    ) -> Result<T, EphemeralError> {
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(self.key(key));
        }
        invocation
            .arg(self.clock.unix_ms())
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)
    }

    /// The manager is a cheap, multiplexed handle; commands need it by `&mut`.
    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Now, the logical expiry for `ttl`, and the Redis PEXPIRE (at least 1 ms, as Redis
    /// rejects 0).
    fn times(&self, ttl: Duration) -> (i64, i64, i64) {
        let now = self.clock.unix_ms();
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        (now, now.saturating_add(ttl_ms), ttl_ms.max(1))
    }
}

/// The message is the error's text, which names the failure, never the values sent.
fn unavailable(err: RedisError) -> EphemeralError {
    EphemeralError::Unavailable(err.to_string())
}

#[async_trait]
impl EphemeralStore for RedisStore {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), EphemeralError> {
        let (_, expires_at, pexpire) = self.times(ttl);
        self.scripts
            .put
            .key(self.key(key))
            .arg(value)
            .arg(expires_at)
            .arg(pexpire)
            .invoke_async::<()>(&mut self.conn())
            .await
            .map_err(unavailable)
    }

    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, EphemeralError> {
        let (now, expires_at, pexpire) = self.times(ttl);
        self.scripts
            .put_if_absent
            .key(self.key(key))
            .arg(now)
            .arg(value)
            .arg(expires_at)
            .arg(pexpire)
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
        self.scripts
            .get
            .key(self.key(key))
            .arg(self.clock.unix_ms())
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, EphemeralError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.invoke_on_keys(&self.scripts.get_many, keys).await
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
        self.scripts
            .take
            .key(self.key(key))
            .arg(self.clock.unix_ms())
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)
    }

    async fn compare_and_delete(&self, key: &str, expected: &[u8]) -> Result<bool, EphemeralError> {
        self.scripts
            .compare_and_delete
            .key(self.key(key))
            .arg(self.clock.unix_ms())
            .arg(expected)
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)
    }

    async fn delete(&self, key: &str) -> Result<(), EphemeralError> {
        redis::cmd("DEL")
            .arg(self.key(key))
            .exec_async(&mut self.conn())
            .await
            .map_err(unavailable)
    }

    async fn increment(&self, key: &str, ttl: Duration) -> Result<u64, EphemeralError> {
        let (now, expires_at, pexpire) = self.times(ttl);
        self.scripts
            .increment
            .key(self.key(key))
            .arg(now)
            .arg(expires_at)
            .arg(pexpire)
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)
    }

    async fn take_attempt(
        &self,
        key: &str,
        limit: u64,
        ttl: Duration,
    ) -> Result<Attempt, EphemeralError> {
        let (now, expires_at, pexpire) = self.times(ttl);
        let used: u64 = self
            .scripts
            .take_attempt
            .key(self.key(key))
            .arg(now)
            .arg(limit)
            .arg(expires_at)
            .arg(pexpire)
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(match used {
            0 => Attempt::Refused,
            used => Attempt::Allowed { used },
        })
    }

    async fn give_back(&self, key: &str) -> Result<(), EphemeralError> {
        self.scripts
            .give_back
            .key(self.key(key))
            .arg(self.clock.unix_ms())
            .invoke_async::<()>(&mut self.conn())
            .await
            .map_err(unavailable)
    }

    async fn count(&self, key: &str) -> Result<u64, EphemeralError> {
        self.scripts
            .count
            .key(self.key(key))
            .arg(self.clock.unix_ms())
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)
    }

    async fn exists_any(&self, keys: &[String]) -> Result<bool, EphemeralError> {
        if keys.is_empty() {
            return Ok(false);
        }
        self.invoke_on_keys(&self.scripts.exists_any, keys).await
    }

    async fn ping(&self) -> Result<(), EphemeralError> {
        redis::cmd("PING")
            .exec_async(&mut self.conn())
            .await
            .map_err(unavailable)
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, EphemeralError> {
        let (now, expires_at, pexpire) = self.times(ttl);
        self.scripts
            .compare_and_swap
            .key(self.key(key))
            .arg(now)
            .arg(expected)
            .arg(value)
            .arg(expires_at)
            .arg(pexpire)
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)
    }
}
