//! The HTTP surface of the query side.

mod audit;
mod catalog;
mod conditional;
pub mod filters;
mod imports;
mod search;
mod users;

use std::time::Duration;

use platform::{
    auth::{BearerSecurity, CurrentRoles, Role, TokenKeys, authenticate, confirm_role, require},
    http::{
        MetricsRecorder, Problem, RateLimiter, ReadRoute as _, Readiness, docs_router,
        health_router, metrics_router,
    },
};
use salvo::{Router, async_trait};
use sqlx::PgPool;
use utoipa::OpenApi;
use uuid::Uuid;

/// State every handler can reach through the depot.
#[derive(Clone)]
pub struct AppState {
    /// The read model.
    pub pool: PgPool,
    /// Longest wait for `min_version`.
    pub read_your_writes_wait: Duration,
    /// Rate limits, shared with the other instances through Redis.
    pub rate_limiter: RateLimiter,
    /// Verifies access tokens (no call to the command side).
    pub tokens: TokenKeys,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "anidex query API",
        description = "Reads of the platform: the catalogue, search with autocomplete, user views, import progress and the audit trail.\n\n\
            **Read your writes.** Commands answer with the aggregate's new `version`. Pass it \
            as `min_version` and the query API waits (a few seconds at most) until the read \
            model has caught up; if it has not, the answer is 503 `projection-lagging` with \
            `Retry-After`.\n\n\
            Errors are RFC 9457 problem documents whose `type` is a stable \
            `urn:anidex:problem:<slug>`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    paths(
        users::profile, users::me, audit::list, imports::get, imports::list,
        catalog::list, catalog::detail, catalog::episodes, catalog::genres, catalog::teams,
        search::search, search::suggest
    ),
    components(schemas(Problem)),
    modifiers(&BearerSecurity),
    tags(
        (name = "catalogue", description = "The catalogue, from the read model"),
        (name = "search", description = "Full-text search and autocomplete"),
        (name = "users", description = "Public user views"),
        (name = "admin", description = "Administration: the audit trail"),
        (name = "imports", description = "Progress of catalogue imports")
    )
)]
struct ApiDoc;

/// The OpenAPI document of this API as pretty-printed JSON.
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
}

/// Every route of the query API. Each protected route names the least role it needs
/// with `require`.
pub fn router(state: AppState, readiness: Readiness, metrics: MetricsRecorder) -> Router {
    let limiter = state.rate_limiter.clone();
    let tokens = state.tokens.clone();
    let pool = state.pool.clone();
    Router::new()
        .push(health_router(readiness))
        .push(metrics_router(metrics))
        .push(
            Router::new()
                .hoop(limiter.general())
                .push(docs_router(openapi_json()))
                .push(
                    Router::with_path("v1")
                        .hoop(salvo::affix_state::inject(state))
                        .hoop(authenticate(tokens))
                        .push(Router::with_path("users/{id}").get_or_head(users::profile))
                        .push(
                            Router::with_path("me")
                                .hoop(require(Role::User))
                                .get_or_head(users::me),
                        )
                        .push(
                            Router::with_path("admin/audit")
                                .hoop(require(Role::Admin))
                                .hoop(confirm_role(Role::Admin, ProjectedRoles(pool.clone())))
                                .get_or_head(audit::list),
                        )
                        .push(
                            Router::with_path("imports")
                                .hoop(require(Role::Admin))
                                .hoop(confirm_role(Role::Admin, ProjectedRoles(pool.clone())))
                                .get_or_head(imports::list)
                                .push(Router::with_path("{id}").get_or_head(imports::get)),
                        ),
                ),
        )
}

/// The caller's role as projected into the read model, for [`confirm_role`]: a
/// demotion applies as soon as it is projected (usually within milliseconds). An
/// account not projected yet has nothing to contradict its token, which then decides.
struct ProjectedRoles(PgPool);

#[async_trait]
impl CurrentRoles for ProjectedRoles {
    async fn current_role(&self, user_id: Uuid) -> Result<Option<Role>, Problem> {
        let profile = crate::store::users::profile(&self.0, user_id)
            .await
            .map_err(|error| database_problem(&error))?;
        Ok(profile.map(|profile| Role::parse(&profile.role).unwrap_or(Role::User)))
    }
}

/// The `min_version` query parameter of a read-your-writes request, if given.
#[expect(
    clippy::result_large_err,
    reason = "Problem is the single error shape of the API, built only on the error path"
)]
pub(crate) fn min_version(req: &salvo::Request) -> Result<Option<i64>, Problem> {
    let Some(text) = req.query::<String>("min_version") else {
        return Ok(None);
    };
    text.parse::<i64>()
        .ok()
        .filter(|version| *version >= 1)
        .map(Some)
        .ok_or_else(|| {
            Problem::invalid_parameter("min_version", "min_version must be a positive integer")
        })
}

/// Reads a row with `fetch` until it reflects `min_version` (a client reading its own
/// write), polling for at most `wait`; without `min_version` it reads once. A row still
/// behind at the deadline is a 503 `projection-lagging` with `Retry-After`.
pub(crate) async fn read_your_write<T, F, Fut>(
    wait: Duration,
    min_version: Option<i64>,
    version_of: impl Fn(&T) -> i64,
    mut fetch: F,
) -> Result<Option<T>, Problem>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, sqlx::Error>>,
{
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let row = fetch().await.map_err(|error| database_problem(&error))?;
        let caught_up = match (&row, min_version) {
            (_, None) => true,
            (Some(row), Some(min)) => version_of(row) >= min,
            (None, Some(_)) => false,
        };
        if caught_up {
            return Ok(row);
        }
        if tokio::time::Instant::now() >= deadline {
            let wanted = min_version.unwrap_or_default();
            return Err(Problem::new(
                salvo::http::StatusCode::SERVICE_UNAVAILABLE,
                "projection-lagging",
                "Read model not caught up",
            )
            .detail(format!(
                "the read model does not reflect version {wanted} yet"
            ))
            .retry_after(1));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A read-model query failed: 503 if the database is unreachable, 500 otherwise.
pub(crate) fn database_problem(error: &sqlx::Error) -> Problem {
    match error {
        error if platform::db::is_unavailable(error) => {
            tracing::warn!(error = %error, "read database unavailable");
            Problem::unavailable("the read database is unavailable; retry shortly")
        }
        error => {
            tracing::error!(error = ?error, "read database error");
            Problem::internal()
        }
    }
}

pub use catalog::CatalogState;

/// The catalogue and search routes, compressed (brotli or gzip, as the client asks).
/// They are public and read-only, and count against the general per-client limit
/// (whose headers go only on a refusal: these answers may sit in shared caches).
pub fn catalog_router(state: CatalogState, limiter: &RateLimiter) -> Router {
    let compression = salvo::compression::Compression::new()
        .disable_all()
        .enable_brotli(salvo::compression::CompressionLevel::Fastest)
        .enable_gzip(salvo::compression::CompressionLevel::Fastest)
        .min_length(512);
    Router::with_path("v1")
        .hoop(limiter.general_for_cacheable())
        .hoop(compression)
        .hoop(salvo::affix_state::inject(state))
        .push(Router::with_path("releases").get_or_head(catalog::list))
        .push(Router::with_path("releases/{id}").get_or_head(catalog::detail))
        .push(Router::with_path("releases/{id}/episodes").get_or_head(catalog::episodes))
        .push(Router::with_path("genres").get_or_head(catalog::genres))
        .push(Router::with_path("teams").get_or_head(catalog::teams))
        .push(Router::with_path("search").get_or_head(search::search))
        .push(Router::with_path("suggest").get_or_head(search::suggest))
}
