//! Rate limits kept in Redis, so every instance of an API counts against the same
//! budget.
//!
//! Fixed one-minute windows: one counter per scope, subject and minute, raised with
//! `INCR` and given its expiry in the same `MULTI` transaction, so two instances
//! can never lose an increment or leave a counter without expiry. Subjects (client
//! addresses, account identifiers) are hashed before they become keys, so Redis
//! holds no personal data.
//!
//! When Redis is unreachable the general limit lets requests through (a cache
//! outage must not take the site down) and logs a warning; the authentication
//! limits refuse with 503 instead, because unlimited password guessing during an
//! outage is worse than a short sign-in outage.

use std::{net::IpAddr, sync::Arc, time::Duration};

use clap::Args;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use salvo::{
    Depot, FlowCtrl, Handler, Request, Response, Writer, async_trait,
    http::{HeaderValue, StatusCode},
};
use sha2::{Digest, Sha256};

use super::Problem;

const WINDOW_SECS: u64 = 60;

/// Rate-limit settings.
#[derive(Debug, Clone, Args)]
pub struct RateLimitArgs {
    /// Redis URL of the rate-limit counters.
    #[arg(
        long,
        env = "REDIS_URL",
        default_value = "redis://127.0.0.1:56379",
        hide_env_values = true
    )]
    pub redis_url: String,

    /// Requests per minute one client may make to routes other than authentication,
    /// health and metrics; 0 turns this limit off (for a proxy in front that limits
    /// already).
    #[arg(long, env = "RATE_LIMIT_PER_MINUTE", default_value_t = 600)]
    pub rate_limit_per_minute: u64,

    /// Registrations, logins and refreshes per minute, per client address and per
    /// account identifier.
    #[arg(long, env = "AUTH_RATE_LIMIT_PER_MINUTE", default_value_t = 5)]
    pub auth_rate_limit_per_minute: u64,

    /// Comma-separated addresses of reverse proxies whose `X-Forwarded-For` is
    /// believed; from any other peer the header is ignored.
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,

    /// Prefix of every Redis key, so several deployments can share one Redis; the
    /// response cache uses the same setting.
    #[arg(
        long = "rate-limit-key-prefix",
        env = "REDIS_KEY_PREFIX",
        default_value = ""
    )]
    pub redis_key_prefix: String,
}

/// Why the rate limiter could not be built or consulted.
#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    /// `REDIS_URL` is not a Redis URL.
    #[error("REDIS_URL is invalid")]
    InvalidUrl(#[source] redis::RedisError),
    /// A `TRUSTED_PROXIES` entry is not an IP address.
    #[error("TRUSTED_PROXIES entry {0:?} is not an IP address")]
    InvalidProxy(String),
    /// Redis did not answer.
    #[error("redis is unavailable")]
    Unavailable(#[source] redis::RedisError),
}

/// The state of one counter after a hit.
#[derive(Debug, Clone, Copy)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// The budget per window.
    pub limit: u64,
    /// Requests left in this window.
    pub remaining: u64,
    /// Seconds until the window resets.
    pub reset_secs: u64,
}

impl Decision {
    /// Writes the `RateLimit-*` headers, unless a limit checked earlier in the same
    /// request has less left: a client sees the budget that will refuse it first.
    fn write_headers(&self, res: &mut Response) {
        let earlier = res
            .headers()
            .get("ratelimit-remaining")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if earlier.is_some_and(|earlier| earlier <= self.remaining) {
            return;
        }
        let headers = res.headers_mut();
        headers.insert("ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert("ratelimit-reset", HeaderValue::from(self.reset_secs));
    }

    fn problem(&self) -> Problem {
        Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
        )
        .detail(format!(
            "at most {} requests per minute; retry in {} seconds",
            self.limit, self.reset_secs
        ))
        .retry_after(self.reset_secs)
    }
}

/// Counts requests in Redis.
#[derive(Clone)]
pub struct RateLimiter {
    redis: ConnectionManager,
    general_per_minute: u64,
    auth_per_minute: u64,
    trusted_proxies: Arc<Vec<IpAddr>>,
    key_prefix: Arc<str>,
}

impl RateLimiter {
    /// A limiter that connects to Redis lazily (and reconnects by itself), so the
    /// process starts while Redis is down.
    pub fn new(args: &RateLimitArgs) -> Result<Self, RateLimitError> {
        let client =
            redis::Client::open(args.redis_url.as_str()).map_err(RateLimitError::InvalidUrl)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let redis = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(RateLimitError::InvalidUrl)?;
        let trusted_proxies = args
            .trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse()
                    .map_err(|_| RateLimitError::InvalidProxy(entry.to_owned()))
            })
            .collect::<Result<Vec<IpAddr>, _>>()?;
        Ok(Self {
            redis,
            general_per_minute: args.rate_limit_per_minute,
            auth_per_minute: args.auth_rate_limit_per_minute,
            trusted_proxies: Arc::new(trusted_proxies),
            key_prefix: Arc::from(args.redis_key_prefix.as_str()),
        })
    }

    /// True while Redis answers `PING`; for readiness probes.
    pub async fn is_reachable(&self) -> bool {
        let mut redis = self.redis.clone();
        let command = redis::cmd("PING");
        let ping = command.query_async::<String>(&mut redis);
        matches!(
            tokio::time::timeout(Duration::from_secs(2), ping).await,
            Ok(Ok(_))
        )
    }

    /// Counts one request of `subject` in `scope` against `limit` per minute.
    pub async fn hit(
        &self,
        scope: &str,
        subject: &str,
        limit: u64,
    ) -> Result<Decision, RateLimitError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let window = now / WINDOW_SECS;
        let key = format!(
            "{}ratelimit:{scope}:{}:{window}",
            self.key_prefix,
            digest(subject)
        );
        let mut redis = self.redis.clone();
        let (count,): (u64,) = redis::pipe()
            .atomic()
            .incr(&key, 1)
            .expire(&key, WINDOW_SECS as i64)
            .ignore()
            .query_async(&mut redis)
            .await
            .map_err(RateLimitError::Unavailable)?;
        Ok(Decision {
            allowed: count <= limit,
            limit,
            remaining: limit.saturating_sub(count),
            reset_secs: WINDOW_SECS - now % WINDOW_SECS,
        })
    }

    /// The client's address: the socket peer, or the nearest untrusted address in
    /// `X-Forwarded-For` when the peer is a trusted proxy.
    pub fn client_ip(&self, req: &Request) -> Option<IpAddr> {
        let peer = req.remote_addr().ip()?;
        if !self.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        let client = forwarded
            .iter()
            .rev()
            .filter_map(|entry| entry.parse::<IpAddr>().ok())
            .find(|address| !self.trusted_proxies.contains(address));
        Some(client.unwrap_or(peer))
    }

    /// The hoop of the general per-client limit. Fails open when Redis is down.
    pub fn general(&self) -> GeneralLimit {
        GeneralLimit {
            limiter: self.clone(),
        }
    }

    /// The hoop of the per-client limit of one authentication endpoint (`scope`, e.g.
    /// `login`). Fails closed when Redis is down.
    pub fn auth_by_client(&self, scope: &'static str) -> AuthLimit {
        AuthLimit {
            limiter: self.clone(),
            scope,
        }
    }

    /// The per-account limit of an authentication endpoint, for handlers once they
    /// know the identifier (email, username, refresh token). Fails closed.
    pub async fn auth_by_account(
        &self,
        res: &mut Response,
        scope: &str,
        identifier: &str,
    ) -> Result<(), Problem> {
        let subject = crate::auth::login_key(identifier);
        let decision = self
            .hit(&format!("{scope}:account"), &subject, self.auth_per_minute)
            .await
            .map_err(auth_unavailable)?;
        decision.write_headers(res);
        if decision.allowed {
            Ok(())
        } else {
            tracing::info!(rate_limit.scope = scope, "account rate limit reached");
            Err(decision.problem())
        }
    }
}

fn digest(subject: &str) -> String {
    let hash = Sha256::digest(subject.as_bytes());
    hash.iter()
        .take(16)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn auth_unavailable(error: RateLimitError) -> Problem {
    tracing::warn!(error = %error, "rate limiter unavailable, refusing an authentication request");
    Problem::unavailable("sign-in is briefly unavailable; retry shortly")
}

/// See [`RateLimiter::general`].
pub struct GeneralLimit {
    limiter: RateLimiter,
}

#[async_trait]
impl Handler for GeneralLimit {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        if self.limiter.general_per_minute == 0 {
            return;
        }
        let subject = self
            .limiter
            .client_ip(req)
            .map(|ip| ip.to_string())
            .unwrap_or_default();
        match self
            .limiter
            .hit("all", &subject, self.limiter.general_per_minute)
            .await
        {
            Ok(decision) => {
                decision.write_headers(res);
                if !decision.allowed {
                    decision.problem().write(req, depot, res).await;
                    ctrl.skip_rest();
                }
            }
            Err(error) => {
                tracing::warn!(error = %error, "rate limiter unavailable, letting the request through");
            }
        }
    }
}

/// See [`RateLimiter::auth_by_client`].
pub struct AuthLimit {
    limiter: RateLimiter,
    scope: &'static str,
}

#[async_trait]
impl Handler for AuthLimit {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        let subject = self
            .limiter
            .client_ip(req)
            .map(|ip| ip.to_string())
            .unwrap_or_default();
        let outcome = self
            .limiter
            .hit(
                &format!("{}:client", self.scope),
                &subject,
                self.limiter.auth_per_minute,
            )
            .await;
        let problem = match outcome {
            Ok(decision) => {
                decision.write_headers(res);
                if decision.allowed {
                    return;
                }
                tracing::info!(rate_limit.scope = self.scope, "client rate limit reached");
                decision.problem()
            }
            Err(error) => auth_unavailable(error),
        };
        problem.write(req, depot, res).await;
        ctrl.skip_rest();
    }
}
