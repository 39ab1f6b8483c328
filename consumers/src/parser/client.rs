//! The upstream's HTTP client: one `/list` page per call, politely paced, with a
//! timeout on every request and retries for what a retry can fix.
//!
//! How answers are classified:
//! - a JSON object with an `error` key, under *any* status (clients have seen it with
//!   500, 200 and 401), is the upstream refusing the request. A retry cannot change
//!   that, so it is never retried; the token message becomes
//!   [`ClientError::TokenRejected`].
//! - a body that is not JSON (router-level failures answer HTML, e.g. a gateway's 502
//!   page), a 5xx, a timeout and a connection failure are transient: retried with
//!   exponential backoff and jitter, then reported as [`ClientError::Unavailable`].
//! - anything else unexpected (a redirect, JSON without `results`) is
//!   [`ClientError::Malformed`].
//!
//! The token travels only as a query parameter of requests to the configured base
//! URL. Redirects are not followed (they could carry the query, token included, to
//! another host), reqwest errors are stripped of their URL, and every error text is
//! built here from the status and the kind of failure, never from a URL.

use std::time::Duration;

use rand::Rng as _;
use reqwest::{StatusCode, Url, redirect};
use serde_json::Value;
use tokio::sync::{Mutex, Semaphore};

use super::{
    ParserArgs,
    cursor::{self, CursorError},
};

/// The upstream's answer to a missing or wrong token.
const TOKEN_REJECTED_MESSAGE: &str = "Отсутствует или неверный токен";

/// Why a page could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The upstream refused the token; nothing will work until it is fixed.
    #[error("the upstream rejected the token ({TOKEN_REJECTED_MESSAGE})")]
    TokenRejected,
    /// The upstream answered with an error of its own (an unknown filter value, a
    /// broken cursor, ...).
    #[error("the upstream refused the request with HTTP {status}: {message}")]
    Refused {
        /// The HTTP status it came with.
        status: u16,
        /// The upstream's message.
        message: String,
    },
    /// Every attempt failed in a way that could have been transient.
    #[error("the upstream did not answer usably after {attempts} attempts; last: {last}")]
    Unavailable {
        /// Attempts made.
        attempts: u32,
        /// What went wrong the last time.
        last: Transient,
    },
    /// The answer was well-formed HTTP but not a `/list` page.
    #[error("the upstream answered something that is not a list page: {0}")]
    Malformed(String),
    /// The page's `next_page` held no usable cursor.
    #[error(transparent)]
    Cursor(#[from] CursorError),
}

/// A failure a retry may fix. `Display` never contains a URL.
#[derive(Debug, thiserror::Error)]
pub enum Transient {
    /// No complete answer within the configured timeout.
    #[error("no answer within {timeout_ms} ms")]
    Timeout {
        /// The configured timeout.
        timeout_ms: u64,
    },
    /// The connection could not be made or broke.
    #[error("connection failed: {0}")]
    Connection(String),
    /// A body that is not JSON, typically a proxy's HTML error page.
    #[error("HTTP {status} with a body that is not JSON ({content_type})")]
    NotJson {
        /// The HTTP status.
        status: u16,
        /// The content type the body came with.
        content_type: String,
    },
    /// A server error with a JSON body that is not the upstream's error object.
    #[error("HTTP {status}")]
    ServerError {
        /// The HTTP status.
        status: u16,
    },
}

/// One `/list` page.
#[derive(Debug)]
pub struct ListPage {
    /// The rows, as the upstream sent them.
    pub results: Vec<Value>,
    /// The cursor of the next page; `None` on the last page.
    pub next_cursor: Option<String>,
    /// Rows matching the filters, as the upstream counts them.
    pub total: Option<i64>,
}

/// Spaces requests evenly: at most one every `interval`, however many callers.
struct Pace {
    interval: Duration,
    next_slot: Mutex<tokio::time::Instant>,
}

impl Pace {
    fn new(requests_per_second: f64) -> Self {
        Self {
            interval: Duration::from_secs_f64(1.0 / requests_per_second),
            next_slot: Mutex::new(tokio::time::Instant::now()),
        }
    }

    async fn wait_turn(&self) {
        let slot = {
            let mut next_slot = self.next_slot.lock().await;
            let slot = (*next_slot).max(tokio::time::Instant::now());
            *next_slot = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// A client of one upstream.
pub struct KodikClient {
    http: reqwest::Client,
    list_url: Url,
    token: String,
    timeout_ms: u64,
    max_retries: u32,
    retry_base: Duration,
    pace: Pace,
    permits: Semaphore,
}

impl KodikClient {
    /// A client for the upstream `args` describe.
    pub fn new(args: &ParserArgs, token: String) -> Result<Self, ClientSetupError> {
        let base = if args.kodik_base_url.ends_with('/') {
            args.kodik_base_url.clone()
        } else {
            format!("{}/", args.kodik_base_url)
        };
        let list_url = Url::parse(&base)
            .and_then(|base| base.join("list"))
            .map_err(|_| ClientSetupError::BaseUrl)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(args.kodik_timeout_ms))
            .connect_timeout(Duration::from_millis(args.kodik_timeout_ms))
            .redirect(redirect::Policy::none())
            .user_agent(concat!("anidex-parser/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| ClientSetupError::Http(error.without_url()))?;
        Ok(Self {
            http,
            list_url,
            token,
            timeout_ms: args.kodik_timeout_ms,
            max_retries: args.kodik_max_retries,
            retry_base: Duration::from_millis(args.kodik_retry_base_ms),
            pace: Pace::new(args.kodik_requests_per_second),
            permits: Semaphore::new(args.kodik_max_concurrency as usize),
        })
    }

    /// Replaces the token wherever it might appear in `text`; a last line of defence
    /// for texts that quote the upstream.
    pub fn redact(&self, text: &str) -> String {
        if self.token.is_empty() {
            return text.to_owned();
        }
        text.replace(&self.token, "[redacted]")
    }

    /// Fetches one `/list` page with `params` (filters plus the cursor, never the
    /// token: it is added here).
    pub async fn list(&self, params: &[(String, String)]) -> Result<ListPage, ClientError> {
        let attempts = self.max_retries + 1;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let transient = match self.list_once(params).await {
                Ok(page) => return Ok(page),
                Err(Attempt::Final(error)) => return Err(error),
                Err(Attempt::Transient(transient)) => transient,
            };
            if attempt >= attempts {
                return Err(ClientError::Unavailable {
                    attempts,
                    last: transient,
                });
            }
            let delay = self.backoff(attempt);
            tracing::warn!(
                upstream.path = "/list",
                attempt,
                retry_in_ms = delay.as_millis() as u64,
                error = %transient,
                "upstream request failed, retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// Exponential backoff with jitter: the base doubles per attempt (capped at a
    /// minute), and the delay is drawn from its upper half so that parsers restarted
    /// together do not retry in lockstep.
    fn backoff(&self, attempt: u32) -> Duration {
        let exponential = self
            .retry_base
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(Duration::from_secs(60));
        let millis = exponential.as_millis() as u64;
        let jitter = rand::rng().random_range(0..=millis / 2);
        Duration::from_millis(millis - millis / 2 + jitter)
    }

    async fn list_once(&self, params: &[(String, String)]) -> Result<ListPage, Attempt> {
        // The semaphore is never closed, so acquiring only fails after a bug; the
        // pacing alone still protects the upstream then.
        let _permit = self.permits.acquire().await.ok();
        self.pace.wait_turn().await;

        let started = std::time::Instant::now();
        let response = self
            .http
            .get(self.list_url.clone())
            .query(params)
            .query(&[("token", self.token.as_str())])
            .send()
            .await
            .map_err(|error| Attempt::Transient(self.transport(error)))?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("no content type")
            .to_owned();
        let body = response
            .bytes()
            .await
            .map_err(|error| Attempt::Transient(self.transport(error)))?;
        tracing::debug!(
            upstream.path = "/list",
            http.status = status.as_u16(),
            body_bytes = body.len(),
            duration_ms = started.elapsed().as_millis() as u64,
            "upstream answered"
        );
        self.classify(status, &content_type, &body)
    }

    fn classify(
        &self,
        status: StatusCode,
        content_type: &str,
        body: &[u8],
    ) -> Result<ListPage, Attempt> {
        let Ok(json) = serde_json::from_slice::<Value>(body) else {
            if status.is_redirection() {
                return Err(Attempt::Final(ClientError::Malformed(format!(
                    "a redirect (HTTP {}), which is not followed",
                    status.as_u16()
                ))));
            }
            return Err(Attempt::Transient(Transient::NotJson {
                status: status.as_u16(),
                content_type: content_type.to_owned(),
            }));
        };
        if let Some(error) = json.get("error") {
            let message = error
                .as_str()
                .map_or_else(|| error.to_string(), str::to_owned);
            if message.contains(TOKEN_REJECTED_MESSAGE) || message.contains("токен") {
                return Err(Attempt::Final(ClientError::TokenRejected));
            }
            return Err(Attempt::Final(ClientError::Refused {
                status: status.as_u16(),
                message: self.redact(&message),
            }));
        }
        if status.is_server_error() {
            return Err(Attempt::Transient(Transient::ServerError {
                status: status.as_u16(),
            }));
        }
        if !status.is_success() {
            return Err(Attempt::Final(ClientError::Malformed(format!(
                "HTTP {} without an error message",
                status.as_u16()
            ))));
        }
        page(json).map_err(Attempt::Final)
    }

    fn transport(&self, error: reqwest::Error) -> Transient {
        if error.is_timeout() {
            return Transient::Timeout {
                timeout_ms: self.timeout_ms,
            };
        }
        // `without_url` keeps the URL (and with it the token) out of the text.
        let error = error.without_url();
        Transient::Connection(self.redact(&super::with_causes(&error)))
    }
}

/// The outcome of one attempt that did not give a page.
enum Attempt {
    Final(ClientError),
    Transient(Transient),
}

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientSetupError {
    /// The base URL is not an absolute URL.
    #[error("KODIK_BASE_URL must be an absolute URL")]
    BaseUrl,
    /// reqwest refused the settings.
    #[error("building the HTTP client")]
    Http(#[source] reqwest::Error),
}

fn page(json: Value) -> Result<ListPage, ClientError> {
    let Value::Object(mut envelope) = json else {
        return Err(ClientError::Malformed("not a JSON object".to_owned()));
    };
    let results = match envelope.remove("results") {
        Some(Value::Array(results)) => results,
        _ => return Err(ClientError::Malformed("no results array".to_owned())),
    };
    let next_cursor = match envelope.get("next_page") {
        None | Some(Value::Null) => None,
        Some(Value::String(next_page)) if next_page.is_empty() => None,
        Some(Value::String(next_page)) => Some(cursor::next_cursor(next_page)?),
        Some(_) => {
            return Err(ClientError::Malformed(
                "next_page is not a string".to_owned(),
            ));
        }
    };
    Ok(ListPage {
        results,
        next_cursor,
        total: envelope.get("total").and_then(Value::as_i64),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_page_gives_its_rows_and_only_the_cursor_of_next_page() {
        let page = page(json!({
            "time": "15ms",
            "total": 11,
            "prev_page": null,
            "next_page": "https://kodik-api.com/list?token=secret&next=WzEsInNlcmlhbC05Il0%3D&limit=3",
            "results": [{"id": "serial-1"}],
        }))
        .expect("a page");
        assert_eq!(page.results.len(), 1);
        assert_eq!(page.next_cursor.as_deref(), Some("WzEsInNlcmlhbC05Il0="));
        assert_eq!(page.total, Some(11));
    }

    fn client() -> KodikClient {
        let args = ParserArgs {
            kodik_base_url: "http://127.0.0.1:9".to_owned(),
            kodik_token: None,
            kodik_timeout_ms: 1_000,
            kodik_requests_per_second: 5.0,
            kodik_max_concurrency: 1,
            kodik_max_retries: 0,
            kodik_retry_base_ms: 1,
            parser_max_poll_interval_ms: 1,
        };
        KodikClient::new(&args, "secret-token".to_owned()).expect("a client")
    }

    fn classify(status: u16, body: &str) -> Result<ListPage, Attempt> {
        let status = StatusCode::from_u16(status).expect("a status");
        client().classify(status, "text/html", body.as_bytes())
    }

    #[test]
    fn the_token_error_is_final_under_any_status() {
        let body = r#"{"error":"Отсутствует или неверный токен"}"#;
        for status in [500, 200, 401] {
            assert!(
                matches!(
                    classify(status, body),
                    Err(Attempt::Final(ClientError::TokenRejected))
                ),
                "HTTP {status}"
            );
        }
        let reason = ClientError::TokenRejected.to_string();
        assert!(reason.contains("rejected the token"), "{reason}");
    }

    #[test]
    fn other_upstream_errors_are_final_and_quote_the_upstream_without_the_token() {
        let refused = classify(500, r#"{"error":"Неправильный тип secret-token"}"#);
        let Err(Attempt::Final(error @ ClientError::Refused { .. })) = refused else {
            panic!("an upstream error is final");
        };
        let reason = error.to_string();
        assert!(reason.contains("Неправильный тип"), "{reason}");
        assert!(!reason.contains("secret-token"), "{reason}");
    }

    #[test]
    fn html_bodies_and_server_errors_are_transient() {
        let html = "<html><head><title>502 Bad Gateway</title></head></html>";
        for status in [502, 200, 404] {
            assert!(
                matches!(
                    classify(status, html),
                    Err(Attempt::Transient(Transient::NotJson { .. }))
                ),
                "HTTP {status}"
            );
        }
        assert!(matches!(
            classify(503, r#"{"results": []}"#),
            Err(Attempt::Transient(Transient::ServerError { status: 503 }))
        ));
        assert!(matches!(
            classify(200, r#"{"total": 0}"#),
            Err(Attempt::Final(ClientError::Malformed(_)))
        ));
    }

    #[test]
    fn backoff_doubles_with_jitter_in_the_upper_half() {
        let mut client = client();
        client.retry_base = Duration::from_millis(100);
        for (attempt, full_ms) in [(1, 100), (2, 200), (3, 400)] {
            let delay = client.backoff(attempt).as_millis() as u64;
            assert!(
                (full_ms / 2..=full_ms).contains(&delay),
                "attempt {attempt}: {delay} ms"
            );
        }
    }

    #[test]
    fn the_last_page_has_no_cursor() {
        let page = page(json!({"total": 0, "next_page": null, "results": []})).expect("a page");
        assert!(page.next_cursor.is_none());
    }
}
