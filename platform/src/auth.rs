//! Access tokens: issuing them (command-api) and verifying them (both APIs), so the
//! query API checks a caller on its own, without asking the command side.
//!
//! Tokens are JWTs signed with HS256 and nothing else. The algorithm is pinned on
//! both ends: the header's `alg` must be HS256 and `kid` must name a configured key,
//! so `alg: none`, algorithm confusion and tokens of retired keys are all rejected.
//! HS256 rather than EdDSA because both APIs belong to one operator and one
//! configuration, and a shared secret keeps key rotation a matter of one variable;
//! the price is that every process that verifies could also sign, which is
//! documented in `docs/security.md`.
//!
//! [`authenticate`] is a hoop that turns a valid `Authorization: Bearer` header into
//! a [`Principal`] in the depot (and rejects an invalid one with 401); [`require`]
//! guards a router with the least [`Role`] it needs.

use std::{collections::HashMap, sync::Arc, time::Duration};

use clap::Args;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use salvo::{
    Depot, FlowCtrl, Handler, Request, Response, Writer, async_trait,
    http::{HeaderValue, StatusCode, header},
};
pub use schemas::accounts::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::http::Problem;

/// The only signing algorithm accepted.
const ALGORITHM: Algorithm = Algorithm::HS256;
/// HS256 secrets shorter than the hash output weaken it.
const MIN_SECRET_BYTES: usize = 32;
/// Clock skew tolerated between the processes, in seconds.
const LEEWAY_SECS: u64 = 5;

/// Access-token settings; both APIs read the same ones.
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// Signing keys as a comma-separated list of `kid:secret` (secrets of at least 32
    /// bytes). Keep a retired key here until the tokens it signed have expired.
    #[arg(long, env = "JWT_KEYS", hide_env_values = true, default_value = "")]
    pub jwt_keys: String,

    /// The `kid` of the key that signs new tokens.
    #[arg(long, env = "JWT_ACTIVE_KID", default_value = "")]
    pub jwt_active_kid: String,

    /// The `iss` claim set and required.
    #[arg(long, env = "JWT_ISSUER", default_value = "anidex")]
    pub jwt_issuer: String,

    /// The `aud` claim set and required.
    #[arg(long, env = "JWT_AUDIENCE", default_value = "anidex-api")]
    pub jwt_audience: String,

    /// Lifetime of an access token, in seconds.
    #[arg(long, env = "ACCESS_TOKEN_TTL_SECS", default_value_t = 900)]
    pub access_token_ttl_secs: u64,
}

/// Why the token configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum TokenConfigError {
    /// `JWT_KEYS` is empty.
    #[error("JWT_KEYS is empty: configure at least one kid:secret signing key")]
    NoKeys,
    /// An entry is not `kid:secret`.
    #[error("JWT_KEYS entry {0} is not of the form kid:secret")]
    Malformed(usize),
    /// A secret is too short.
    #[error("the JWT key {kid} is shorter than {MIN_SECRET_BYTES} bytes")]
    WeakSecret {
        /// The key's id.
        kid: String,
    },
    /// `JWT_ACTIVE_KID` names no configured key.
    #[error("JWT_ACTIVE_KID {0:?} is not among JWT_KEYS")]
    UnknownActiveKid(String),
    /// The crypto backend refused a key.
    #[error("the JWT key {kid} is unusable")]
    Unusable {
        /// The key's id.
        kid: String,
    },
}

/// Why a token was refused. Never shown to the client in detail.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Bad signature, bad claims, unknown key, wrong algorithm, expired…
    #[error("invalid access token: {0}")]
    Invalid(String),
    /// Signing failed.
    #[error("signing an access token")]
    Signing,
}

/// The claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: Uuid,
    role: Role,
    /// The refresh-token family (session) the token was issued for; required, so
    /// that logout always knows which session to end.
    sid: Uuid,
    iat: u64,
    nbf: u64,
    exp: u64,
    jti: Uuid,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    /// The user's id (`sub`).
    pub user_id: Uuid,
    /// The role the token was issued with; on routes guarded by [`confirm_role`],
    /// the role stored now.
    pub role: Role,
    /// The session (refresh-token family) the token belongs to.
    pub session_id: Uuid,
}

impl Principal {
    /// The caller, if the request carried a valid token.
    pub fn of(depot: &Depot) -> Option<Principal> {
        depot.get_typed::<Principal>().ok().copied()
    }
}

/// A freshly signed access token.
#[derive(Debug)]
pub struct IssuedToken {
    /// The JWT.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

struct Key {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// Signs and verifies access tokens with the configured keys.
#[derive(Clone)]
pub struct TokenKeys {
    keys: Arc<HashMap<String, Key>>,
    active_kid: String,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl TokenKeys {
    /// Parses and checks the configuration.
    pub fn new(args: &TokenArgs) -> Result<Self, TokenConfigError> {
        let mut keys = HashMap::new();
        for (index, entry) in args
            .jwt_keys
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .enumerate()
        {
            let (kid, secret) = entry
                .split_once(':')
                .filter(|(kid, _)| !kid.is_empty())
                .ok_or(TokenConfigError::Malformed(index))?;
            if secret.len() < MIN_SECRET_BYTES {
                return Err(TokenConfigError::WeakSecret {
                    kid: kid.to_owned(),
                });
            }
            let unusable = || TokenConfigError::Unusable {
                kid: kid.to_owned(),
            };
            let key = Key {
                encoding: EncodingKey::from_secret(secret.as_bytes()).map_err(|_| unusable())?,
                decoding: DecodingKey::from_secret(secret.as_bytes()).map_err(|_| unusable())?,
            };
            keys.insert(kid.to_owned(), key);
        }
        if keys.is_empty() {
            return Err(TokenConfigError::NoKeys);
        }
        if !keys.contains_key(&args.jwt_active_kid) {
            return Err(TokenConfigError::UnknownActiveKid(
                args.jwt_active_kid.clone(),
            ));
        }
        Ok(Self {
            keys: Arc::new(keys),
            active_kid: args.jwt_active_kid.clone(),
            issuer: args.jwt_issuer.clone(),
            audience: args.jwt_audience.clone(),
            ttl: Duration::from_secs(args.access_token_ttl_secs),
        })
    }

    /// Signs an access token for `user_id` with `role`, for the session `session_id`.
    pub fn issue(
        &self,
        user_id: Uuid,
        role: Role,
        session_id: Uuid,
    ) -> Result<IssuedToken, TokenError> {
        let key = self.keys.get(&self.active_kid).ok_or(TokenError::Signing)?;
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id,
            role,
            sid: session_id,
            iat: now,
            nbf: now,
            exp: now + self.ttl.as_secs(),
            jti: Uuid::now_v7(),
        };
        let mut header = Header::new(ALGORITHM);
        header.kid = Some(self.active_kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &key.encoding)
            .map_err(|_| TokenError::Signing)?;
        Ok(IssuedToken {
            token,
            expires_in: self.ttl.as_secs(),
        })
    }

    /// Checks signature, algorithm, key id, issuer, audience, expiry and not-before.
    pub fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        let invalid = |reason: &str| TokenError::Invalid(reason.to_owned());
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed header"))?;
        if header.alg != ALGORITHM {
            return Err(invalid("algorithm not allowed"));
        }
        let kid = header.kid.ok_or_else(|| invalid("no kid"))?;
        let key = self.keys.get(&kid).ok_or_else(|| invalid("unknown kid"))?;

        let mut validation = Validation::new(ALGORITHM);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
            .map_err(|error| TokenError::Invalid(format!("{:?}", error.kind())))?;
        // Tokens are issued here, never ahead of time: one that claims a later issue
        // time was not made by these services' clocks.
        if data.claims.iat > jsonwebtoken::get_current_timestamp() + LEEWAY_SECS {
            return Err(invalid("issued in the future"));
        }
        Ok(Principal {
            user_id: data.claims.sub,
            role: data.claims.role,
            session_id: data.claims.sid,
        })
    }
}

/// The answer to a missing or invalid token: 401 with `WWW-Authenticate: Bearer`.
async fn reject_unauthenticated(
    problem: Problem,
    error: &str,
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
    ctrl: &mut FlowCtrl,
) {
    let challenge = if error.is_empty() {
        "Bearer".to_owned()
    } else {
        format!("Bearer error=\"{error}\"")
    };
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    problem.write(req, depot, res).await;
    ctrl.skip_rest();
}

/// Hoop: verifies a bearer token when there is one and stores the [`Principal`].
/// No header means an anonymous caller; a header with a bad token is 401 at once,
/// because a client that sends one expects to be treated as signed in.
pub struct Authenticate {
    keys: TokenKeys,
}

/// The [`Authenticate`] hoop over `keys`.
pub fn authenticate(keys: TokenKeys) -> Authenticate {
    Authenticate { keys }
}

#[async_trait]
impl Handler for Authenticate {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        let Some(value) = req.headers().get(header::AUTHORIZATION) else {
            return;
        };
        let token = value
            .to_str()
            .ok()
            .and_then(bearer_token)
            .unwrap_or_default();
        match self.keys.verify(token) {
            Ok(principal) => {
                depot.insert_typed(principal);
            }
            Err(error) => {
                tracing::debug!(error = %error, "access token rejected");
                let problem = Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid-token",
                    "Invalid access token",
                )
                .detail("the access token is invalid or expired; refresh it or sign in again");
                reject_unauthenticated(problem, "invalid_token", req, depot, res, ctrl).await;
            }
        }
    }
}

/// Guard: the caller must be signed in with at least `role`.
pub struct RequireRole(Role);

/// A guard for routers that need at least `role`: 401 for anonymous callers, 403
/// for callers whose role is lower.
pub fn require(role: Role) -> RequireRole {
    RequireRole(role)
}

#[async_trait]
impl Handler for RequireRole {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        match Principal::of(depot) {
            None => {
                let problem = Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "Authentication required",
                )
                .detail("send an access token as `Authorization: Bearer <token>`");
                reject_unauthenticated(problem, "", req, depot, res, ctrl).await;
            }
            Some(principal) if principal.role < self.0 => {
                forbidden().write(req, depot, res).await;
                ctrl.skip_rest();
            }
            Some(_) => {}
        }
    }
}

/// Where [`confirm_role`] learns a caller's role as it is now.
#[async_trait]
pub trait CurrentRoles: Send + Sync + 'static {
    /// The role of `user_id` now, or `None` when nothing is known that could
    /// contradict the access token.
    async fn current_role(&self, user_id: Uuid) -> Result<Option<Role>, Problem>;
}

/// Guard: see [`confirm_role`].
pub struct ConfirmRole<S> {
    least: Role,
    roles: S,
}

/// A guard for privileged routes, after [`require`]: the caller's role as `roles`
/// knows it now must be at least `least` too (403 otherwise). An access token names
/// the role it was issued with for its whole lifetime (15 minutes by default); this
/// makes a demotion take effect on such routes at once, for one indexed read per
/// request. The [`Principal`] the handler sees then carries the current role, so what
/// it records (the audit trail) names the role the caller acted with.
pub fn confirm_role<S: CurrentRoles>(least: Role, roles: S) -> ConfirmRole<S> {
    ConfirmRole { least, roles }
}

#[async_trait]
impl<S: CurrentRoles> Handler for ConfirmRole<S> {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        let Some(principal) = Principal::of(depot) else {
            // `require` runs first.
            return;
        };
        let problem = match self.roles.current_role(principal.user_id).await {
            Ok(None) => return,
            Ok(Some(role)) if role >= self.least => {
                depot.insert_typed(Principal { role, ..principal });
                return;
            }
            Ok(Some(_)) => {
                tracing::info!(user.id = %principal.user_id, "refused: the caller's role is lower now than in their token");
                forbidden()
            }
            Err(problem) => problem,
        };
        problem.write(req, depot, res).await;
        ctrl.skip_rest();
    }
}

/// The form of a login name (email or username) that identifies an account: trimmed,
/// in Unicode normalisation form C (as accounts store them), and each character
/// lower-cased on its own, the way PostgreSQL's `lower()` does.
/// Both the account lookup and the per-account rate limit use exactly this form, so
/// every spelling that reaches an account spends that account's budget. (Lower-casing
/// the whole string instead applies rules `lower()` does not, such as the final
/// sigma, and maps `İ` to two characters where `lower()` gives `i`; spellings that
/// differ only so reached one account under many budgets.)
pub fn login_key(login: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    login.trim().nfc().flat_map(char::to_lowercase).collect()
}

/// 403 `forbidden`: the caller's role is too low for the operation.
pub fn forbidden() -> Problem {
    Problem::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden")
        .detail("your role does not allow this operation")
}

/// The token of an `Authorization: Bearer <token>` value; the scheme name is
/// case-insensitive, as in every HTTP authentication scheme.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The bearer security scheme for OpenAPI documents, named `bearer`.
pub struct BearerSecurity;

impl utoipa::Modify for BearerSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_keys_lower_case_each_character_as_postgres_does() {
        assert_eq!(login_key("  Hikari1 "), "hikari1");
        assert_eq!(login_key("Name@Example.ORG"), "name@example.org");
        // No final-sigma rule: `lower('ΟΔΥΣ')` is `οδυσ`.
        assert_eq!(login_key("ΟΔΥΣ"), "οδυσ");
        // `İ` does not become a plain `i`, so `HİKARİ1` is not `hikari1`'s key.
        assert_ne!(login_key("HİKARİ1"), login_key("hikari1"));
        // Composed and decomposed spellings are one key.
        assert_eq!(login_key("E\u{301}lo"), login_key("\u{e9}lo"));
    }

    fn args(keys: &str, active: &str) -> TokenArgs {
        TokenArgs {
            jwt_keys: keys.to_owned(),
            jwt_active_kid: active.to_owned(),
            jwt_issuer: "anidex".to_owned(),
            jwt_audience: "anidex-api".to_owned(),
            access_token_ttl_secs: 900,
        }
    }

    #[test]
    fn the_bearer_scheme_name_is_case_insensitive() {
        for value in ["Bearer abc", "bearer abc", "BEARER abc", "BeArEr   abc "] {
            assert_eq!(bearer_token(value), Some("abc"), "{value}");
        }
        for value in ["Basic abc", "Bearerabc", "abc", ""] {
            assert_eq!(bearer_token(value), None, "{value}");
        }
    }

    const OLD: &str = "old:0123456789abcdef0123456789abcdef";
    const NEW: &str = "new:fedcba9876543210fedcba9876543210";

    #[test]
    fn a_rotated_key_still_verifies_and_unknown_keys_do_not() {
        let before = TokenKeys::new(&args(OLD, "old")).expect("keys");
        let token = before
            .issue(Uuid::now_v7(), Role::Moderator, Uuid::now_v7())
            .expect("token");
        let after = TokenKeys::new(&args(&format!("{OLD},{NEW}"), "new")).expect("keys");
        let principal = after.verify(&token.token).expect("old key still verifies");
        assert_eq!(principal.role, Role::Moderator);

        let only_new = TokenKeys::new(&args(NEW, "new")).expect("keys");
        assert!(only_new.verify(&token.token).is_err());
    }

    #[test]
    fn weak_or_missing_keys_are_refused() {
        assert!(TokenKeys::new(&args("", "")).is_err());
        assert!(TokenKeys::new(&args("k:short", "k")).is_err());
        assert!(TokenKeys::new(&args(OLD, "other")).is_err());
    }
}
