//! Rate limits kept in Redis, so every instance of an API counts against the same
//! budget.
//!
//! A sliding one-minute window, estimated from two counters: one per scope, subject
//! and calendar minute, raised with `INCR` and given its expiry in the same `MULTI`
//! transaction as the read of the previous minute's counter, so two instances can
//! never lose an increment or leave a counter without expiry. The requests of the
//! last sixty seconds are estimated as this minute's count plus the previous
//! minute's, weighted by the share of it that is less than sixty seconds ago (as if
//! its requests had come evenly). Unlike fixed windows, this lets no client spend
//! twice its budget in a burst across the turn of a minute. Every request counts,
//! refused ones too, so hammering a limit keeps it shut. Subjects (client addresses,
//! account identifiers) are hashed before they become keys, so Redis holds no
//! personal data.
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
const WINDOW_MS: u64 = WINDOW_SECS * 1000;

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
    /// account identifier (at least 1: these limits cannot be turned off).
    #[arg(
        long,
        env = "AUTH_RATE_LIMIT_PER_MINUTE",
        default_value_t = 5,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
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
    /// Requests left in the last sixty seconds.
    pub remaining: u64,
    /// Seconds until the whole budget is free again, if no more requests come.
    pub reset_secs: u64,
    /// Seconds until one more request would be allowed, if no more come meanwhile
    /// (0 while some budget is left).
    pub retry_after_secs: u64,
}

impl Decision {
    /// The decision for a request that made this minute's count `current`, with
    /// `previous` requests in the minute before, `elapsed_ms` into this minute.
    fn of(limit: u64, previous: u64, current: u64, elapsed_ms: u64) -> Self {
        let (limit_w, previous_w, current_w) =
            (u128::from(limit), u128::from(previous), u128::from(current));
        let (window, elapsed) = (u128::from(WINDOW_MS), u128::from(elapsed_ms.min(WINDOW_MS)));
        let left = window - elapsed;
        // The estimate of the last sixty seconds, times the window length, so the
        // arithmetic stays in integers.
        let estimate_w = previous_w * left + current_w * window;
        let allowed = estimate_w <= limit_w * window;
        let remaining = (limit_w * window).saturating_sub(estimate_w) / window;
        // When the estimate falls to `limit - 1`, one more request fits.
        let target = limit_w.saturating_sub(1);
        let retry_after_ms = if estimate_w <= target * window {
            0
        } else if current_w <= target && previous_w > 0 {
            // Within this minute, as the previous minute's weight fades.
            left - (target - current_w) * window / previous_w
        } else if limit_w == 0 {
            left + window
        } else {
            // In the next minute, as this minute's count fades.
            left + window - target * window / current_w
        };
        let reset_ms = if current > 0 {
            left + window
        } else if previous > 0 {
            left
        } else {
            0
        };
        let seconds = |ms: u128| u64::try_from(ms.div_ceil(1000)).unwrap_or(u64::MAX);
        Self {
            allowed,
            limit,
            remaining: u64::try_from(remaining).unwrap_or(u64::MAX),
            reset_secs: seconds(reset_ms),
            retry_after_secs: seconds(retry_after_ms).max(u64::from(!allowed)),
        }
    }
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
        // One client's refusal, never to be served to another from a cache.
        .header(salvo::http::header::CACHE_CONTROL, "no-store")
        .detail(format!(
            "at most {} requests per minute; retry in {} seconds",
            self.limit, self.retry_after_secs
        ))
        .retry_after(self.retry_after_secs)
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
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let now_ms = u64::try_from(now_ms).unwrap_or(u64::MAX);
        let window = now_ms / WINDOW_MS;
        let key = |window: u64| {
            format!(
                "{}ratelimit:{scope}:{}:{window}",
                self.key_prefix,
                digest(subject)
            )
        };
        let (current_key, previous_key) = (key(window), key(window.saturating_sub(1)));
        let mut redis = self.redis.clone();
        // Each counter lives through its minute and the next, where it still weighs.
        let (current, previous): (u64, Option<u64>) = redis::pipe()
            .atomic()
            .incr(&current_key, 1)
            .expire(&current_key, 2 * WINDOW_SECS as i64)
            .ignore()
            .get(&previous_key)
            .query_async(&mut redis)
            .await
            .map_err(RateLimitError::Unavailable)?;
        Ok(Decision::of(
            limit,
            previous.unwrap_or(0),
            current,
            now_ms % WINDOW_MS,
        ))
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
            headers_when_allowed: true,
        }
    }

    /// [`RateLimiter::general`] for answers that shared caches may keep (public,
    /// `max-age`): the `RateLimit-*` headers go only on the refusal, since a cache
    /// would hand one client's budget to every other client it serves.
    pub fn general_for_cacheable(&self) -> GeneralLimit {
        GeneralLimit {
            limiter: self.clone(),
            headers_when_allowed: false,
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
    headers_when_allowed: bool,
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
                if decision.allowed {
                    if self.headers_when_allowed {
                        decision.write_headers(res);
                    }
                } else {
                    decision.write_headers(res);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_previous_minute_leaves_the_whole_budget() {
        let first = Decision::of(5, 0, 1, 10_000);
        assert!(first.allowed);
        assert_eq!((first.remaining, first.retry_after_secs), (4, 0));
        assert_eq!(
            first.reset_secs, 110,
            "this minute's count weighs until the next one ends"
        );
        let fifth = Decision::of(5, 0, 5, 10_000);
        assert!(fifth.allowed);
        assert_eq!(fifth.remaining, 0);
        let sixth = Decision::of(5, 0, 6, 10_000);
        assert!(!sixth.allowed);
        // Six this minute: one more fits once their weight is below four, a third of
        // the way into the next minute (50 s left now + 20 s).
        assert_eq!(sixth.retry_after_secs, 70);
    }

    #[test]
    fn a_burst_just_before_the_turn_of_a_minute_still_counts_after_it() {
        // Five requests in the last second of a minute, then one right after it:
        // a fixed window would allow five more at once.
        let after = Decision::of(5, 5, 1, 500);
        assert!(!after.allowed, "{after:?}");
        // Halfway through the minute, half of the earlier five still weigh.
        let halfway = Decision::of(5, 5, 1, 30_000);
        assert!(halfway.allowed, "{halfway:?}");
        assert_eq!(halfway.remaining, 1);
        assert!(!Decision::of(5, 5, 3, 30_000).allowed);
    }

    #[test]
    fn a_refusal_says_when_the_next_request_fits() {
        // Two this minute, ten the minute before, 15 s in: 10 * 45/60 + 2 = 9.5 > 5.
        // One more fits when 10 * w + 2 <= 4, so at w = 0.2: 12 s before the minute
        // ends, 48 - 15 = 33 s from now.
        let refused = Decision::of(5, 10, 2, 15_000);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_secs, 33);
        // And then it does.
        assert!(Decision::of(5, 10, 3, 48_000).allowed);
        // A limit of zero refuses everything, for a while.
        let never = Decision::of(0, 0, 1, 0);
        assert!(!never.allowed);
        assert!(never.retry_after_secs >= 1);
    }
}
