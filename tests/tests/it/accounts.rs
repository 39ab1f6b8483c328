//! Accounts end to end: sign-in, refresh-token rotation and reuse detection, logout,
//! password changes and the password policy, role changes with their audit trail, the
//! first administrator, and what never appears in logs or events.

use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use uuid::Uuid;

use e2e::harness::{Platform, eventually};

/// A password every policy setting accepts.
pub(crate) const PASSWORD: &str = "velvet kettle orbit marmalade";
pub(crate) const ADMIN_EMAIL: &str = "root-admin@example.org";
pub(crate) const ADMIN_USERNAME: &str = "rootadmin";
pub(crate) const ADMIN_PASSWORD: &str = "quiet lantern harbor cinnamon";

/// Status and body of a problem document; fails unless it is one.
pub(crate) async fn problem_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        content_type, "application/problem+json",
        "status {status} is a problem document"
    );
    let body: Value = response.json().await.expect("problem body is JSON");
    assert_eq!(body["status"], status, "problem status matches HTTP status");
    (status, body)
}

/// A platform whose command-api creates the first administrator at start-up.
pub(crate) async fn start_with_admin(test: &str, extra_env: &[(&str, &str)]) -> Platform {
    let mut env = vec![
        ("BOOTSTRAP_ADMIN_EMAIL", ADMIN_EMAIL),
        ("BOOTSTRAP_ADMIN_USERNAME", ADMIN_USERNAME),
        ("BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD),
    ];
    env.extend_from_slice(extra_env);
    Platform::start_with_env(test, &env).await
}

/// `POST /v1/auth/login`.
pub(crate) async fn login(platform: &Platform, login: &str, password: &str) -> reqwest::Response {
    platform
        .http
        .post(format!("{}/v1/auth/login", platform.command_url))
        .json(&json!({"login": login, "password": password}))
        .send()
        .await
        .expect("command-api answers")
}

/// Signs in and returns the session document; fails unless it works.
pub(crate) async fn sign_in(platform: &Platform, login_name: &str, password: &str) -> Value {
    let response = login(platform, login_name, password).await;
    assert_eq!(response.status(), 200, "signing in as {login_name}");
    response.json().await.expect("session JSON")
}

/// The access token of a session document.
pub(crate) fn access_token(session: &Value) -> String {
    session["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// The entries of one page of `GET /v1/admin/audit` with `filters`, read with
/// `token`; `None` while the query API cannot answer it.
pub(crate) async fn audit_entries(
    platform: &Platform,
    token: &str,
    filters: &[(&str, String)],
) -> Option<Vec<Value>> {
    let page: Value = platform
        .http
        .get(format!("{}/v1/admin/audit", platform.query_url))
        .query(filters)
        .bearer_auth(token)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    page["items"].as_array().cloned()
}

/// `POST /v1/auth/refresh`.
async fn refresh(platform: &Platform, refresh_token: &str) -> reqwest::Response {
    platform
        .http
        .post(format!("{}/v1/auth/refresh", platform.command_url))
        .json(&json!({"refresh_token": refresh_token}))
        .send()
        .await
        .expect("command-api answers")
}

/// An authenticated POST with a JSON body on the command API.
async fn post_as(platform: &Platform, path: &str, token: &str, body: &Value) -> reqwest::Response {
    platform
        .http
        .post(format!("{}{path}", platform.command_url))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("command-api answers")
}

/// A column of a user's row in the write model.
async fn stored<T>(platform: &Platform, column: &str, id: Uuid) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
{
    sqlx::query_scalar(&format!("SELECT {column} FROM write.users WHERE id = $1"))
        .bind(id)
        .fetch_one(&platform.db)
        .await
        .unwrap_or_else(|error| panic!("reading {column} of user {id}: {error}"))
}

/// `PUT /v1/users/{id}/role` as `token`.
pub(crate) async fn set_role(
    platform: &Platform,
    token: &str,
    user_id: Uuid,
    role: &str,
    expected_version: i64,
) -> reqwest::Response {
    platform
        .http
        .put(format!("{}/v1/users/{user_id}/role", platform.command_url))
        .bearer_auth(token)
        .json(&json!({"role": role, "expected_version": expected_version}))
        .send()
        .await
        .expect("command-api answers")
}

async fn event_types(platform: &Platform) -> Vec<String> {
    sqlx::query_scalar("SELECT event_type FROM write.outbox ORDER BY id")
        .fetch_all(&platform.db)
        .await
        .expect("reading the outbox")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_refresh_reuse_logout_and_password_change() {
    let platform = Platform::start("accounts_sessions").await;
    let user_id = platform.register_user("hikari").await;

    // Either the email or the username signs in; the token works on the query API.
    let by_email = sign_in(&platform, "HIKARI@example.org", PASSWORD).await;
    assert_eq!(by_email["user_id"], user_id.to_string());
    assert_eq!(by_email["role"], "user");
    assert_eq!(by_email["token_type"], "Bearer");
    assert_eq!(by_email["expires_in"], 900);
    let session = sign_in(&platform, "hikari", PASSWORD).await;
    let me = eventually("GET /v1/me", || async {
        let response = platform
            .http
            .get(format!("{}/v1/me", platform.query_url))
            .bearer_auth(access_token(&session))
            .send()
            .await
            .ok()?;
        if response.status() != 200 {
            return None;
        }
        response.json::<Value>().await.ok()
    })
    .await;
    assert_eq!(me["id"], user_id.to_string());
    assert_eq!(me["username"], "hikari");

    // Unknown account and wrong password get the very same answer.
    let (status, unknown) = problem_of(login(&platform, "nobody", PASSWORD).await).await;
    assert_eq!(status, 401);
    let (status, wrong) = problem_of(login(&platform, "hikari", "wrong password here").await).await;
    assert_eq!(status, 401);
    assert_eq!(unknown["type"], "urn:anidex:problem:invalid-credentials");
    assert_eq!(unknown["type"], wrong["type"]);
    assert_eq!(unknown["detail"], wrong["detail"]);

    // Refresh rotates the token; the old one presented again revokes the family.
    let first_refresh = session["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();
    assert!(first_refresh.len() >= 43, "at least 256 bits");
    let response = refresh(&platform, &first_refresh).await;
    assert_eq!(response.status(), 200);
    let rotated: Value = response.json().await.expect("JSON");
    let second_refresh = rotated["refresh_token"].as_str().expect("token").to_owned();
    assert_ne!(first_refresh, second_refresh);

    let (status, problem) = problem_of(refresh(&platform, &first_refresh).await).await;
    assert_eq!(status, 401);
    assert_eq!(problem["type"], "urn:anidex:problem:invalid-refresh-token");
    let (status, _) = problem_of(refresh(&platform, &second_refresh).await).await;
    assert_eq!(status, 401, "the whole family is revoked after a reuse");
    let log = platform.command_api.log();
    let warning = log
        .lines()
        .find(|line| line.contains("refresh_token_reuse"))
        .expect("the reuse is logged as a security event");
    assert!(warning.contains("\"WARN\""), "{warning}");
    assert!(warning.contains(&user_id.to_string()), "{warning}");
    assert!(warning.contains("session.id"), "{warning}");

    // Logout ends only this session.
    let other = sign_in(&platform, "hikari", PASSWORD).await;
    let current = sign_in(&platform, "hikari", PASSWORD).await;
    let response = post_as(
        &platform,
        "/v1/auth/logout",
        &access_token(&current),
        &json!({}),
    )
    .await;
    assert_eq!(response.status(), 204);
    let current_refresh = current["refresh_token"].as_str().expect("token");
    assert_eq!(refresh(&platform, current_refresh).await.status(), 401);
    let other_refresh = other["refresh_token"].as_str().expect("token");
    let response = refresh(&platform, other_refresh).await;
    assert_eq!(response.status(), 200, "another session is untouched");
    let other: Value = response.json().await.expect("JSON");

    // Logout everywhere ends it too.
    let response = post_as(
        &platform,
        "/v1/auth/logout-all",
        &access_token(&other),
        &json!({}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let other_refresh = other["refresh_token"].as_str().expect("token");
    assert_eq!(refresh(&platform, other_refresh).await.status(), 401);

    // A password change needs the current password, follows the policy, and
    // revokes every session.
    let session = sign_in(&platform, "hikari", PASSWORD).await;
    let token = access_token(&session);
    let wrong_current = post_as(
        &platform,
        "/v1/auth/password",
        &token,
        &json!({"current_password": "not the password", "new_password": "amber tundra psalm violin"}),
    )
    .await;
    let (status, problem) = problem_of(wrong_current).await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (401, Some("urn:anidex:problem:invalid-credentials"))
    );
    for (weak, rule) in [
        ("password123", "guess"),
        ("hikari velvet kettle orbit", "username"),
        ("short", "characters"),
        (PASSWORD, "differ"),
    ] {
        let response = post_as(
            &platform,
            "/v1/auth/password",
            &token,
            &json!({"current_password": PASSWORD, "new_password": weak}),
        )
        .await;
        let (status, problem) = problem_of(response).await;
        assert_eq!(status, 422, "{weak}");
        let messages = problem["errors"].to_string();
        assert!(messages.contains("new_password"), "{messages}");
        assert!(messages.contains(rule), "{weak}: {messages}");
    }
    let changed = post_as(
        &platform,
        "/v1/auth/password",
        &token,
        &json!({"current_password": PASSWORD, "new_password": "amber tundra psalm violin"}),
    )
    .await;
    assert_eq!(changed.status(), 200);
    let session_refresh = session["refresh_token"].as_str().expect("token");
    assert_eq!(refresh(&platform, session_refresh).await.status(), 401);
    assert_eq!(login(&platform, "hikari", PASSWORD).await.status(), 401);
    sign_in(&platform, "hikari", "amber tundra psalm violin").await;

    // The account events, in order, and none with personal data.
    let types = event_types(&platform).await;
    for expected in [
        "user.registered",
        "user.logged_in",
        "user.sessions_revoked",
        "user.password_changed",
    ] {
        assert!(
            types.iter().any(|t| t == expected),
            "{expected} in {types:?}"
        );
    }
    let reasons: Vec<String> = sqlx::query_scalar(
        "SELECT envelope #>> '{payload,reason}' FROM write.outbox \
         WHERE event_type = 'user.sessions_revoked' ORDER BY id",
    )
    .fetch_all(&platform.db)
    .await
    .expect("outbox");
    assert_eq!(
        reasons,
        ["refresh_token_reused", "logout_all", "password_changed"],
        "every revocation of sessions is an event"
    );
    let envelopes: Vec<String> = sqlx::query_scalar("SELECT envelope::text FROM write.outbox")
        .fetch_all(&platform.db)
        .await
        .expect("outbox");
    for envelope in envelopes {
        assert!(!envelope.contains("example.org"), "no email in {envelope}");
        assert!(!envelope.contains(PASSWORD), "no password in {envelope}");
    }

    // Sign-ins are sessions, on their own topic, not versions of the account.
    let sign_ins: Vec<(String, String)> = sqlx::query_as(
        "SELECT topic, envelope::text FROM write.outbox WHERE event_type = 'user.logged_in'",
    )
    .fetch_all(&platform.db)
    .await
    .expect("outbox");
    assert_eq!(sign_ins.len(), 6, "six successful sign-ins");
    for (topic, envelope) in &sign_ins {
        let envelope: Value = serde_json::from_str(envelope).expect("JSON");
        assert!(topic.ends_with("account.activity"), "{topic}");
        assert_eq!(envelope["aggregate_type"], "session");
        assert_eq!(envelope["aggregate_version"], 1);
        assert_eq!(envelope["payload"]["user_id"], user_id.to_string());
    }

    // The profile's version follows every account event.
    let last_version: i64 = sqlx::query_scalar("SELECT version FROM write.users WHERE id = $1")
        .bind(user_id)
        .fetch_one(&platform.db)
        .await
        .expect("version");
    let response = platform
        .http
        .get(format!(
            "{}/v1/users/{user_id}?min_version={last_version}",
            platform.query_url
        ))
        .send()
        .await
        .expect("query-api answers");
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_enforces_the_password_policy() {
    let platform = Platform::start("accounts_password_policy").await;
    let cases = [
        ("password1234", "guess"),
        ("sakura-velvet-kettle-orbit", "username"),
        ("mailbox velvet kettle orbit", "email"),
        ("short", "characters"),
    ];
    for (password, rule) in cases {
        let response = platform
            .register(&json!({"email": "mailbox@example.org", "username": "sakura", "password": password}))
            .await;
        let (status, problem) = problem_of(response).await;
        assert_eq!(status, 422, "{password}");
        let errors = problem["errors"].as_array().expect("errors");
        assert!(
            errors.iter().any(|error| error["field"] == "password"
                && error["message"].as_str().is_some_and(|m| m.contains(rule))),
            "{password}: {errors:?}"
        );
    }
    // Length counts characters after NFC normalisation: "e" + a combining accent is
    // one character, so these 470 code points are 250 characters.
    let decomposed = format!("{PASSWORD} {}", "e\u{301}".repeat(220));
    let response = platform
        .register(
            &json!({"email": "nfc@example.org", "username": "nfcuser", "password": decomposed}),
        )
        .await;
    assert_eq!(response.status(), 201, "250 characters in NFC form");
    let too_long = format!("{PASSWORD} {}", "e\u{301}".repeat(230));
    let response = platform
        .register(
            &json!({"email": "nfc2@example.org", "username": "nfcuser2", "password": too_long}),
        )
        .await;
    assert_eq!(response.status(), 422, "260 characters in NFC form");
    assert_eq!(platform.count("write.users").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_change_roles_with_optimistic_concurrency_and_an_audit_trail() {
    let platform = start_with_admin("accounts_roles", &[]).await;
    let admin = sign_in(&platform, ADMIN_USERNAME, ADMIN_PASSWORD).await;
    assert_eq!(admin["role"], "admin");
    let admin_token = access_token(&admin);
    let admin_id: Uuid = admin["user_id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let user_id = platform.register_user("kaede").await;

    // A plain user may not change roles.
    let user = sign_in(&platform, "kaede", PASSWORD).await;
    let (status, problem) =
        problem_of(set_role(&platform, &access_token(&user), user_id, "admin", 2).await).await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (403, Some("urn:anidex:problem:forbidden"))
    );

    // Registered (version 1); signing in opened a session but changed nothing about
    // the account, so version 1 is still current.
    let response = set_role(&platform, &admin_token, user_id, "moderator", 1).await;
    assert_eq!(response.status(), 200);
    let changed: Value = response.json().await.expect("JSON");
    assert_eq!(changed["version"], 2);
    // The role it already has: nothing to write, the version stays.
    let response = set_role(&platform, &admin_token, user_id, "moderator", 2).await;
    assert_eq!(response.status(), 200);
    let unchanged: Value = response.json().await.expect("JSON");
    assert_eq!(unchanged["version"], 2);
    let (status, problem) =
        problem_of(set_role(&platform, &admin_token, user_id, "admin", 1).await).await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (409, Some("urn:anidex:problem:version-conflict"))
    );
    let (status, _) =
        problem_of(set_role(&platform, &admin_token, Uuid::now_v7(), "moderator", 1).await).await;
    assert_eq!(status, 404);

    // The new role is in the next token and on the public profile.
    let moderator = sign_in(&platform, "kaede", PASSWORD).await;
    assert_eq!(moderator["role"], "moderator");
    let response = platform
        .http
        .get(format!(
            "{}/v1/users/{user_id}?min_version=2",
            platform.query_url
        ))
        .send()
        .await
        .expect("answer");
    let profile: Value = response.json().await.expect("JSON");
    assert_eq!(profile["role"], "moderator");

    // The audit trail has the change, with filters and pagination, for admins only.
    let audit_url = format!("{}/v1/admin/audit", platform.query_url);
    let page: Value = eventually("the role change in the audit log", || async {
        let response = platform
            .http
            .get(format!(
                "{audit_url}?action=user.change_role&actor={admin_id}"
            ))
            .bearer_auth(&admin_token)
            .send()
            .await
            .ok()?;
        let page: Value = response.json().await.ok()?;
        (page["items"].as_array()?.len() == 1).then_some(page)
    })
    .await;
    let entry = &page["items"][0];
    assert_eq!(entry["actor_id"], admin_id.to_string());
    assert_eq!(entry["actor_role"], "admin");
    assert_eq!(entry["target"], format!("user:{user_id}"));
    assert!(
        entry["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    assert!(entry["recorded_at"].is_string());

    // The bootstrap admin's creation is audited too: two entries, one per page.
    let first: Value = platform
        .http
        .get(format!("{audit_url}?limit=1"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("JSON");
    assert_eq!(first["items"].as_array().map(Vec::len), Some(1));
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second: Value = platform
        .http
        .get(format!("{audit_url}?limit=1&cursor={cursor}"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("JSON");
    assert_eq!(second["items"][0]["action"], "user.create_privileged");
    assert!(second["next_cursor"].is_null(), "the last page: {second}");
    let empty: Value = platform
        .http
        .get(format!(
            "{audit_url}?target=user:{}&from=2000-01-01T00:00:00Z&to=2001-01-01T00:00:00Z",
            user_id
        ))
        .bearer_auth(&admin_token)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("JSON");
    assert_eq!(empty["items"].as_array().map(Vec::len), Some(0));
    // Malformed times, and times the parser takes but the database cannot hold.
    for from in [
        "yesterday",
        "-5000-01-01T00:00:00Z",
        "9999-12-31T23:00:00-05:00",
    ] {
        let (status, problem) = problem_of(
            platform
                .http
                .get(&audit_url)
                .query(&[("from", from)])
                .bearer_auth(&admin_token)
                .send()
                .await
                .expect("answer"),
        )
        .await;
        assert_eq!(status, 400, "from={from}: {problem}");
    }
    let (status, _) = problem_of(
        platform
            .http
            .get(&audit_url)
            .bearer_auth(access_token(&moderator))
            .send()
            .await
            .expect("answer"),
    )
    .await;
    assert_eq!(status, 403);

    assert!(
        event_types(&platform)
            .await
            .iter()
            .any(|t| t == "user.role_changed")
    );

    // The only administrator cannot step down, whatever the version says...
    let last_admin = |status: u16, problem: &Value| {
        (status, problem["type"].as_str()) == (409, Some("urn:anidex:problem:last-admin"))
    };
    let (status, problem) =
        problem_of(set_role(&platform, &admin_token, admin_id, "user", 1).await).await;
    assert!(last_admin(status, &problem), "{status} {problem}");
    // ...until there is another one; then that one is the last.
    let response = set_role(&platform, &admin_token, user_id, "admin", 2).await;
    assert_eq!(response.status(), 200);
    let version_of = |id: Uuid| stored(&platform, "version", id);
    let response = set_role(
        &platform,
        &admin_token,
        admin_id,
        "moderator",
        version_of(admin_id).await,
    )
    .await;
    assert_eq!(response.status(), 200);
    let kaede = access_token(&sign_in(&platform, "kaede", PASSWORD).await);
    let (status, problem) =
        problem_of(set_role(&platform, &kaede, user_id, "moderator", 3).await).await;
    assert!(last_admin(status, &problem), "{status} {problem}");

    // Two administrators demoting each other at once: one of them stays one.
    let response = set_role(
        &platform,
        &kaede,
        admin_id,
        "admin",
        version_of(admin_id).await,
    )
    .await;
    assert_eq!(response.status(), 200);
    let (admin_version, kaede_version) = (version_of(admin_id).await, version_of(user_id).await);
    let (first, second) = tokio::join!(
        set_role(&platform, &kaede, admin_id, "user", admin_version),
        set_role(&platform, &admin_token, user_id, "user", kaede_version),
    );
    // The second to commit finds its caller no longer an administrator.
    let mut statuses = [first.status().as_u16(), second.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 403]);
    let admins: i64 = sqlx::query_scalar("SELECT count(*) FROM write.users WHERE role = 'admin'")
        .fetch_one(&platform.db)
        .await
        .expect("counting administrators");
    assert_eq!(admins, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demoted_administrator_cannot_act_on_the_token_they_still_hold() {
    let platform = start_with_admin("accounts_demoted", &[]).await;
    let admin_token = access_token(&sign_in(&platform, ADMIN_USERNAME, ADMIN_PASSWORD).await);
    let rin = platform.register_user("rin").await;
    let sora = platform.register_user("sora").await;
    let version_of = |id: Uuid| stored(&platform, "version", id);
    let role_of = |id: Uuid| stored::<String>(&platform, "role", id);

    let response = set_role(&platform, &admin_token, rin, "admin", version_of(rin).await).await;
    assert_eq!(response.status(), 200);
    let rin_token = access_token(&sign_in(&platform, "rin", PASSWORD).await);
    let audit_as_rin = || async {
        let response = platform
            .http
            .get(format!("{}/v1/admin/audit", platform.query_url))
            .bearer_auth(&rin_token)
            .send()
            .await
            .expect("an answer");
        response.status().as_u16()
    };
    // Once the promotion is projected, the query API agrees with the token.
    eventually(
        "rin reading the audit trail as an administrator",
        || async { (audit_as_rin().await == 200).then_some(()) },
    )
    .await;
    let response = set_role(&platform, &admin_token, rin, "user", version_of(rin).await).await;
    assert_eq!(response.status(), 200);

    // The token still says admin; the stored role decides.
    let forbidden = |status: u16, problem: &Value| {
        (status, problem["type"].as_str()) == (403, Some("urn:anidex:problem:forbidden"))
    };
    let (status, problem) =
        problem_of(set_role(&platform, &rin_token, rin, "admin", version_of(rin).await).await)
            .await;
    assert!(forbidden(status, &problem), "{status} {problem}");
    let (status, problem) =
        problem_of(set_role(&platform, &rin_token, sora, "admin", version_of(sora).await).await)
            .await;
    assert!(forbidden(status, &problem), "{status} {problem}");
    let (status, problem) = problem_of(
        post_as(
            &platform,
            "/v1/releases",
            &rin_token,
            &json!({"kind": "tv"}),
        )
        .await,
    )
    .await;
    assert!(forbidden(status, &problem), "{status} {problem}");
    let (status, problem) =
        problem_of(post_as(&platform, "/v1/imports", &rin_token, &json!({})).await).await;
    assert!(forbidden(status, &problem), "{status} {problem}");
    assert_eq!(role_of(rin).await, "user");
    assert_eq!(role_of(sora).await, "user");

    // The query API's administrators' reads follow the projected role, not the token.
    eventually("the demotion to reach the query API", || async {
        (audit_as_rin().await == 403).then_some(())
    })
    .await;
    let (status, problem) = problem_of(
        platform
            .http
            .get(format!("{}/v1/imports", platform.query_url))
            .bearer_auth(&rin_token)
            .send()
            .await
            .expect("an answer"),
    )
    .await;
    assert!(forbidden(status, &problem), "{status} {problem}");

    // A new sign-in carries the stored role.
    let session = sign_in(&platform, "rin", PASSWORD).await;
    assert_eq!(session["role"], "user");

    // An administrator demoted to moderator may still edit the catalogue on the old
    // token, and the audit trail records the role they acted with, not the token's.
    let response = set_role(
        &platform,
        &admin_token,
        sora,
        "admin",
        version_of(sora).await,
    )
    .await;
    assert_eq!(response.status(), 200);
    let sora_token = access_token(&sign_in(&platform, "sora", PASSWORD).await);
    let response = set_role(
        &platform,
        &admin_token,
        sora,
        "moderator",
        version_of(sora).await,
    )
    .await;
    assert_eq!(response.status(), 200);
    let created = post_as(
        &platform,
        "/v1/releases",
        &sora_token,
        &json!({"titles": [{"text": "Demotion Diaries", "language": "romaji", "kind": "main"}]}),
    )
    .await;
    assert_eq!(created.status(), 201);
    let entry = eventually("sora's release in the audit trail", || async {
        let filters = [
            ("actor", sora.to_string()),
            ("action", "release.create".to_owned()),
        ];
        audit_entries(&platform, &admin_token, &filters)
            .await?
            .first()
            .cloned()
    })
    .await;
    assert_eq!(entry["actor_role"], "moderator", "{entry}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_admin_subcommand_and_rehash_at_login() {
    let platform = Platform::start("accounts_create_admin").await;

    // The subcommand reads the password from ADMIN_PASSWORD (or stdin) and applies
    // the policy.
    let env: Vec<(String, String)> = [
        ("DATABASE_URL", platform_database_url(&platform).await),
        ("JWT_KEYS", e2e::harness::TEST_JWT_KEYS.to_owned()),
        ("JWT_ACTIVE_KID", "test-1".to_owned()),
        ("KAFKA_TOPIC_PREFIX", platform.topic_prefix.clone()),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect();
    let weak = std::process::Command::new(e2e::harness::binary("command-api"))
        .args([
            "create-admin",
            "--email",
            "boss@example.org",
            "--username",
            "boss",
        ])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("ADMIN_PASSWORD", "password")
        .output()
        .expect("running create-admin");
    assert!(!weak.status.success(), "a weak password is refused");
    let created = std::process::Command::new(e2e::harness::binary("command-api"))
        .args([
            "create-admin",
            "--email",
            "boss@example.org",
            "--username",
            "boss",
        ])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
        .output()
        .expect("running create-admin");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let admin = sign_in(&platform, "boss", ADMIN_PASSWORD).await;
    assert_eq!(admin["role"], "admin");

    // Stronger parameters in configuration: the next login re-hashes.
    let before: String =
        sqlx::query_scalar("SELECT password_hash FROM write.users WHERE username = 'boss'")
            .fetch_one(&platform.db)
            .await
            .expect("hash");
    assert!(before.contains("t=2"), "{before}");
    let port = e2e::harness::free_port();
    let stronger = platform.spawn_service(
        "command-api",
        &[
            ("COMMAND_API_LISTEN", &format!("127.0.0.1:{port}")),
            ("ARGON2_ITERATIONS", "3"),
            ("OUTBOX_RELAY_ENABLED", "false"),
        ],
    );
    let url = format!("http://127.0.0.1:{port}");
    eventually("the stronger command-api to answer", || async {
        let response = platform
            .http
            .get(format!("{url}/health/live"))
            .send()
            .await
            .ok()?;
        response.status().is_success().then_some(())
    })
    .await;
    let response = platform
        .http
        .post(format!("{url}/v1/auth/login"))
        .json(&json!({"login": "boss", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);
    let after: String =
        sqlx::query_scalar("SELECT password_hash FROM write.users WHERE username = 'boss'")
            .fetch_one(&platform.db)
            .await
            .expect("hash");
    assert!(
        after.contains("t=3"),
        "re-hashed at the configured cost: {after}"
    );
    assert!(stronger.log().contains("re-hashed"));
}

async fn platform_database_url(platform: &Platform) -> String {
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&platform.db)
        .await
        .expect("database name");
    let stack = e2e::harness::stack_env();
    let (base, _) = stack.database_url.rsplit_once('/').expect("a path");
    format!("{base}/{name}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_logs() {
    let platform =
        Platform::start_with_env("accounts_log_hygiene", &[("LOG_LEVEL", "debug")]).await;
    let user_id = platform.register_user("secretive").await;

    let mut secrets = vec![
        PASSWORD.to_owned(),
        "secretive@example.org".to_owned(),
        "wrong horse battery".to_owned(),
    ];
    let session = sign_in(&platform, "secretive@example.org", PASSWORD).await;
    secrets.push(access_token(&session));
    let first_refresh = session["refresh_token"].as_str().expect("token").to_owned();
    secrets.push(first_refresh.clone());
    let response = refresh(&platform, &first_refresh).await;
    let rotated: Value = response.json().await.expect("JSON");
    secrets.push(access_token(&rotated));
    secrets.push(rotated["refresh_token"].as_str().expect("token").to_owned());
    assert_eq!(refresh(&platform, &first_refresh).await.status(), 401);
    assert_eq!(
        login(&platform, "secretive@example.org", "wrong horse battery")
            .await
            .status(),
        401
    );
    assert_eq!(
        login(&platform, "ghost@example.org", PASSWORD)
            .await
            .status(),
        401
    );
    secrets.push("ghost@example.org".to_owned());
    let response = platform
        .http
        .get(format!("{}/v1/me", platform.query_url))
        .bearer_auth(format!("{}x", access_token(&session)))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 401);
    platform.wait_profile(user_id).await;

    for (service, log) in [
        ("command-api", platform.command_api.log()),
        ("query-api", platform.query_api.log()),
        ("consumers", platform.consumers.log()),
    ] {
        assert!(!log.is_empty(), "{service} logged something");
        for secret in &secrets {
            assert!(
                !log.contains(secret.as_str()),
                "{service}'s log contains a secret ({} characters)",
                secret.len()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_racing_a_password_change_opens_no_session() {
    let platform = Platform::start("accounts_race").await;
    let user_id = platform.register_user("sora").await;
    let sessions_of = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM write.refresh_tokens WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&platform.db)
            .await
            .expect("counting sessions")
    };
    let sessions_before = sessions_of().await;

    // A password change in flight: the account row is updated, not yet committed.
    let mut change = platform.db.begin().await.expect("a transaction");
    sqlx::query(
        "UPDATE write.users SET password_hash = password_hash || 'changed', \
         version = version + 1 WHERE id = $1",
    )
    .bind(user_id)
    .execute(&mut *change)
    .await
    .expect("updating the account");

    // A sign-in with the old password verifies it against the committed hash, then
    // waits for the row; the change commits while it waits.
    let sign_in = login(&platform, "sora", PASSWORD);
    let change_commits = async {
        eventually("the sign-in waiting for the account row", || async {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock' \
                   AND query LIKE '%FROM users WHERE id = $1%'",
            )
            .fetch_one(&platform.db)
            .await
            .expect("pg_stat_activity");
            (waiting > 0).then_some(())
        })
        .await;
        change.commit().await.expect("committing the change");
    };
    let (response, ()) = tokio::join!(sign_in, change_commits);

    let (status, problem) = problem_of(response).await;
    assert_eq!(status, 401, "{problem}");
    assert_eq!(sessions_of().await, sessions_before, "no session opened");
}
