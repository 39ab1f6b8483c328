//! The HTTP conventions both APIs follow: RFC 9457 problem documents for every error,
//! request ids, health and readiness, Prometheus metrics, and the OpenAPI document with
//! an offline docs page.

mod docs;
mod health;
mod metrics;
mod problem;
mod request_id;
mod server;

pub use docs::docs_router;
pub use health::{Readiness, health_router};
pub use metrics::{MetricsRecorder, metrics_router};
pub use problem::{FieldError, Problem, ProblemCatcher};
pub use request_id::{RequestId, assign_request_id};
pub use server::{HttpArgs, read_json_body, serve};
