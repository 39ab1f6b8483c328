//! The HTTP surface of the command side: routes, the OpenAPI document, and the one
//! place where command errors become problem documents.

mod accounts;
mod problems;

use platform::http::{MetricsRecorder, Readiness, docs_router, health_router, metrics_router};
use salvo::Router;
use utoipa::OpenApi;

use crate::commands::CommandContext;

/// State every handler can reach through the depot.
#[derive(Clone)]
pub struct AppState {
    /// Command handlers' dependencies.
    pub commands: CommandContext,
    /// Most bytes in a request body.
    pub max_body_bytes: usize,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "anidex command API",
        description = "Commands that change the platform's state. Every successful command \
            answers with the aggregate's new `version`; the query API accepts it as \
            `min_version` to wait for its own write to become readable.\n\n\
            Errors are RFC 9457 problem documents whose `type` is a stable \
            `urn:anidex:problem:<slug>`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    paths(accounts::register),
    tags((name = "accounts", description = "Registration and sign-in"))
)]
struct ApiDoc;

/// The OpenAPI document of this API as pretty-printed JSON.
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
}

/// Every route of the command API.
pub fn router(state: AppState, readiness: Readiness, metrics: MetricsRecorder) -> Router {
    Router::new()
        .push(health_router(readiness))
        .push(metrics_router(metrics))
        .push(docs_router(openapi_json()))
        .push(
            Router::with_path("v1")
                .hoop(salvo::affix_state::inject(state))
                .push(Router::with_path("auth/register").post(accounts::register)),
        )
}
