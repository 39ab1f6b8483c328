//! Invalidation of the query API's Redis cache. The layout is shared with
//! `query-api/src/cache.rs` and documented in `docs/search.md`:
//!
//! - `<prefix>catalog:release:<id>`: a hash of every cached answer about one release
//!   (detail, episode pages); deleted when a newer version of the release is applied.
//! - `<prefix>catalog:lists`: a hash of every cached list, genre and team answer; any
//!   applied change can move a release in or out of any list, so it is deleted too.
//!
//! Both keys expire on their own (the query API sets a TTL), which bounds staleness
//! when Redis was unreachable at invalidation time.

use redis::aio::ConnectionManager;
use uuid::Uuid;

/// Redis settings of the cache.
#[derive(Debug, Clone, clap::Args)]
pub struct CacheArgs {
    /// Redis URL of the response cache; the query API uses the same one.
    #[arg(
        long = "cache-redis-url",
        env = "REDIS_URL",
        default_value = "redis://127.0.0.1:56379",
        hide_env_values = true
    )]
    pub cache_redis_url: String,

    /// Prefix of every cache key, so several deployments (or test runs) can share Redis.
    #[arg(
        long = "cache-key-prefix",
        env = "REDIS_KEY_PREFIX",
        default_value = ""
    )]
    pub redis_key_prefix: String,
}

/// Deletes cache entries made stale by an applied change.
#[derive(Clone)]
pub struct CacheInvalidator {
    connection: Option<ConnectionManager>,
    prefix: String,
}

impl CacheInvalidator {
    /// Connects lazily-tolerant: if Redis cannot be reached now, invalidation is off
    /// for this process and the TTLs bound staleness; a WARN says so.
    pub async fn connect(args: &CacheArgs) -> Self {
        let connection = match redis::Client::open(args.cache_redis_url.as_str()) {
            Ok(client) => match client.get_connection_manager().await {
                Ok(connection) => Some(connection),
                Err(error) => {
                    tracing::warn!(error = %error, "redis unreachable, cache invalidation off");
                    None
                }
            },
            Err(error) => {
                tracing::warn!(error = %error, "invalid redis url, cache invalidation off");
                None
            }
        };
        Self {
            connection,
            prefix: args.redis_key_prefix.clone(),
        }
    }

    /// Drops the cached answers about each of `release_ids` and every cached list.
    pub async fn releases_changed(&self, release_ids: &[Uuid]) {
        if release_ids.is_empty() {
            return;
        }
        let Some(mut connection) = self.connection.clone() else {
            return;
        };
        let mut keys: Vec<String> = release_ids
            .iter()
            .map(|release_id| format!("{}catalog:release:{release_id}", self.prefix))
            .collect();
        keys.push(format!("{}catalog:lists", self.prefix));
        let result: redis::RedisResult<()> = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut connection)
            .await;
        if let Err(error) = result {
            tracing::warn!(releases = release_ids.len(), error = %error, "cache invalidation failed");
        }
    }
}
