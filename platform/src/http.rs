//! The HTTP conventions both APIs follow: RFC 9457 problem documents for every error,
//! request ids, health and readiness, Prometheus metrics, rate limits, CORS, and the
//! OpenAPI document with an offline docs page.

mod cors;
mod docs;
mod health;
mod metrics;
mod problem;
mod rate_limit;
mod request_id;
mod server;

pub use cors::{CorsArgs, CorsConfigError, cors_handler};
pub use docs::docs_router;
pub use health::{Readiness, health_router};
pub use metrics::{MetricsRecorder, metrics_router};
pub use problem::{FieldError, Problem, ProblemCatcher};
pub use rate_limit::{Decision, RateLimitArgs, RateLimitError, RateLimiter};
pub use request_id::{RequestId, assign_request_id};
pub use server::{HttpArgs, ReadRoute, read_json_body, serve, serve_with_cors};
