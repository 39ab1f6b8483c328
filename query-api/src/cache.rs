//! Cache-aside of whole HTTP answers in Redis.
//!
//! Layout (shared with the catalog-projector, which invalidates it):
//! - `<prefix>catalog:release:<id>`: a hash whose fields are the normalised requests
//!   about one release (its detail, its episode pages), values the JSON answers. The
//!   catalog-projector deletes the key when it applies a newer version of the release.
//! - `<prefix>catalog:lists`: a hash of every list, genre and team answer, deleted on
//!   any applied change, since any change can move a release in or out of a list.
//!
//! Both keys get a TTL when first written, which bounds staleness if an invalidation
//! was lost while Redis was down. Redis is optional: any error is logged as a WARN and
//! the request is served from the read model, so losing Redis loses nothing.

use std::time::Duration;

use redis::aio::ConnectionManager;
use uuid::Uuid;

/// Redis settings of the response cache.
#[derive(Debug, Clone, clap::Args)]
pub struct CacheArgs {
    /// Redis URL of the response cache.
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
    pub cache_key_prefix: String,

    /// Longest life of a cached answer, in seconds.
    #[arg(long, env = "CACHE_TTL_SECS", default_value_t = 300)]
    pub cache_ttl_secs: u64,
}

/// Which hash an answer lives in.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    /// Answers about one release.
    Release(Uuid),
    /// Lists, genres and teams.
    Lists,
}

/// The response cache; cheap to clone.
#[derive(Clone)]
pub struct Cache {
    connection: Option<ConnectionManager>,
    prefix: String,
    ttl: Duration,
}

impl Cache {
    /// Connects to Redis; without Redis at start-up the cache stays off (WARN).
    pub async fn connect(args: &CacheArgs) -> Self {
        let ttl = Duration::from_secs(args.cache_ttl_secs);
        let connection = match redis::Client::open(args.cache_redis_url.as_str()) {
            Ok(client) => {
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_millis(500)))
                    .set_response_timeout(Some(Duration::from_millis(500)))
                    .set_number_of_retries(1);
                match tokio::time::timeout(
                    Duration::from_secs(3),
                    client.get_connection_manager_with_config(config),
                )
                .await
                {
                    Ok(Ok(connection)) => Some(connection),
                    Ok(Err(error)) => {
                        tracing::warn!(error = %error, "redis unreachable, response cache off");
                        None
                    }
                    Err(_) => {
                        tracing::warn!("redis did not answer in time, response cache off");
                        None
                    }
                }
            }
            Err(error) => {
                tracing::warn!(error = %error, "invalid redis url, response cache off");
                None
            }
        };
        Self {
            connection,
            prefix: args.cache_key_prefix.clone(),
            ttl,
        }
    }

    fn key(&self, scope: Scope) -> String {
        match scope {
            Scope::Release(id) => format!("{}catalog:release:{id}", self.prefix),
            Scope::Lists => format!("{}catalog:lists", self.prefix),
        }
    }

    /// The cached answer to `request`, if any.
    pub async fn get(&self, scope: Scope, request: &str) -> Option<Vec<u8>> {
        let mut connection = self.connection.clone()?;
        let result: redis::RedisResult<Option<Vec<u8>>> = redis::cmd("HGET")
            .arg(self.key(scope))
            .arg(request)
            .query_async(&mut connection)
            .await;
        match result {
            Ok(value) => value,
            Err(error) => {
                tracing::warn!(error = %error, "response cache read failed, serving uncached");
                None
            }
        }
    }

    /// Stores the answer to `request`.
    pub async fn put(&self, scope: Scope, request: &str, body: &[u8]) {
        let Some(mut connection) = self.connection.clone() else {
            return;
        };
        let key = self.key(scope);
        let result: redis::RedisResult<()> = redis::pipe()
            .cmd("HSET")
            .arg(&key)
            .arg(request)
            .arg(body)
            .ignore()
            .cmd("EXPIRE")
            .arg(&key)
            .arg(self.ttl.as_secs())
            .arg("NX")
            .ignore()
            .query_async(&mut connection)
            .await;
        if let Err(error) = result {
            tracing::warn!(error = %error, "response cache write failed");
        }
    }
}
