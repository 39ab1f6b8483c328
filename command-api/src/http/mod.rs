//! The HTTP surface of the command side: routes, the OpenAPI document, and the one
//! place where command errors become problem documents.

mod accounts;
mod imports;
mod problems;
mod releases;
mod sessions;
mod users;

use platform::{
    auth::{BearerSecurity, CurrentRoles, Role, TokenKeys, authenticate, confirm_role, require},
    http::{
        MetricsRecorder, Problem, RateLimiter, Readiness, docs_router, health_router,
        metrics_router,
    },
};
use salvo::{Router, async_trait};
use sqlx::PgPool;
use utoipa::OpenApi;
use uuid::Uuid;

use crate::{commands::CommandContext, store::accounts as stored_accounts};

/// State every handler can reach through the depot.
#[derive(Clone)]
pub struct AppState {
    /// Command handlers' dependencies.
    pub commands: CommandContext,
    /// Most bytes in a request body.
    pub max_body_bytes: usize,
    /// Rate limits, shared with the other instances through Redis.
    pub rate_limiter: RateLimiter,
    /// Verifies access tokens.
    pub tokens: TokenKeys,
    /// Where the query API is reached, for `Location` headers; see the CLI option.
    pub query_api_public_url: Option<std::sync::Arc<str>>,
}

impl AppState {
    /// The query API's address of `path` (which starts with `/`), if it is known.
    pub fn query_api_location(&self, path: &str) -> Option<salvo::http::HeaderValue> {
        let base = self.query_api_public_url.as_deref()?;
        salvo::http::HeaderValue::from_str(&format!("{base}{path}")).ok()
    }
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
    paths(
        accounts::register,
        imports::request_import,
        imports::cancel_import,
        releases::create,
        releases::patch,
        releases::delete,
        releases::put_episode,
        releases::delete_episode,
        releases::put_sources,
        releases::delete_sources,
        sessions::login,
        sessions::refresh,
        sessions::logout,
        sessions::logout_all,
        sessions::change_password,
        users::change_role,
    ),
    modifiers(&BearerSecurity),
    tags(
        (name = "accounts", description = "Registration and sign-in"),
        (name = "users", description = "Administration of accounts"),
        (name = "imports", description = "Catalogue imports from the upstream"),
        (name = "releases", description = "Moderators' edits of the catalogue")
    )
)]
struct ApiDoc;

/// The OpenAPI document of this API as pretty-printed JSON.
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
}

/// Every route of the command API. Each protected route names the least role it
/// needs with `require`; the rate limits run before authentication, and
/// authentication before any body is read. The authentication routes count against
/// their own, stricter limits only; everything else under `/v1` and the docs count
/// against the general limit.
pub fn router(state: AppState, readiness: Readiness, metrics: MetricsRecorder) -> Router {
    let limiter = state.rate_limiter.clone();
    let tokens = state.tokens.clone();
    let pool = state.commands.pool.clone();
    // Registration, sign-in and refresh need no access token and ignore one: a client
    // that sends its expired access token along must still be able to refresh.
    let auth_route = |path: &str, scope: &'static str| {
        Router::with_path(path).hoop(limiter.auth_by_client(scope))
    };
    Router::new()
        .push(health_router(readiness))
        .push(metrics_router(metrics))
        .push(
            Router::new()
                .hoop(limiter.general())
                .push(docs_router(openapi_json())),
        )
        .push(
            Router::with_path("v1")
                .hoop(salvo::affix_state::inject(state))
                .push(auth_route("auth/register", "register").post(accounts::register))
                .push(auth_route("auth/login", "login").post(sessions::login))
                .push(auth_route("auth/refresh", "refresh").post(sessions::refresh))
                .push(
                    auth_route("auth/password", "password")
                        .hoop(authenticate(tokens.clone()))
                        .hoop(require(Role::User))
                        .post(sessions::change_password),
                )
                .push(
                    Router::new()
                        .hoop(limiter.general())
                        .hoop(authenticate(tokens.clone()))
                        .push(
                            Router::with_path("auth/logout")
                                .hoop(require(Role::User))
                                .post(sessions::logout),
                        )
                        .push(
                            Router::with_path("auth/logout-all")
                                .hoop(require(Role::User))
                                .post(sessions::logout_all),
                        )
                        .push(
                            Router::with_path("users/{id}/role")
                                // The role change reads the caller's stored role
                                // itself, under a lock in its transaction.
                                .hoop(require(Role::Admin))
                                .put(users::change_role),
                        )
                        .push(
                            Router::with_path("imports")
                                .hoop(require(Role::Admin))
                                .hoop(confirm_role(Role::Admin, StoredRoles(pool.clone())))
                                .post(imports::request_import)
                                .push(
                                    Router::with_path("{id}/cancel").post(imports::cancel_import),
                                ),
                        )
                        .push(
                            Router::with_path("releases")
                                .hoop(require(Role::Moderator))
                                .hoop(confirm_role(Role::Moderator, StoredRoles(pool.clone())))
                                .post(releases::create)
                                .push(
                                    Router::with_path("{id}")
                                        .patch(releases::patch)
                                        .delete(releases::delete)
                                        .push(
                                            Router::with_path("episodes/{season}/{number}")
                                                .put(releases::put_episode)
                                                .delete(releases::delete_episode),
                                        )
                                        .push(
                                            Router::with_path("sources/{translation_id}")
                                                .put(releases::put_sources)
                                                .delete(releases::delete_sources),
                                        ),
                                ),
                        ),
                ),
        )
}

/// The caller's role as stored in the write model, for [`confirm_role`]. An account
/// that is not stored (or has an unknown role) counts as the least role.
struct StoredRoles(PgPool);

#[async_trait]
impl CurrentRoles for StoredRoles {
    async fn current_role(&self, user_id: Uuid) -> Result<Option<Role>, Problem> {
        let stored = stored_accounts::role_of(&self.0, user_id)
            .await
            .map_err(|error| problems::database_problem(&error))?;
        Ok(Some(
            stored
                .as_deref()
                .and_then(Role::parse)
                .unwrap_or(Role::User),
        ))
    }
}
