//! Access tokens as both APIs verify them: every kind of bad token is a 401
//! `invalid-token` problem with `WWW-Authenticate: Bearer`, and a rotated-out key
//! keeps verifying while it is still configured.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use uuid::Uuid;

use e2e::harness::{Platform, TEST_JWT_KEYS, eventually, free_port};

use crate::accounts::{PASSWORD, access_token, problem_of, sign_in};

const SECRET: &str = "e2e-only-secret-0123456789abcdef0123456789";
const NEXT_SECRET: &str = "e2e-only-next-secret-abcdef0123456789abcdef";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims(user_id: Uuid) -> Value {
    json!({
        "iss": "anidex",
        "aud": "anidex-api",
        "sub": user_id,
        "role": "admin",
        "sid": Uuid::now_v7(),
        "iat": now(),
        "nbf": now() - 10,
        "exp": now() + 600,
        "jti": Uuid::now_v7(),
    })
}

fn sign(claims: &Value, kid: &str, secret: &str, algorithm: Algorithm) -> String {
    let mut header = Header::new(algorithm);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(secret.as_bytes()).expect("a key"),
    )
    .expect("signing")
}

fn with(mut claims: Value, field: &str, value: Value) -> Value {
    claims[field] = value;
    claims
}

fn unsigned(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"test-1"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.")
}

/// The bad tokens, each with what is wrong with it.
fn bad_tokens(user_id: Uuid) -> Vec<(&'static str, String)> {
    let good = claims(user_id);
    let mut without_exp = good.clone();
    without_exp
        .as_object_mut()
        .expect("an object")
        .remove("exp");
    let mut without_session = good.clone();
    without_session
        .as_object_mut()
        .expect("an object")
        .remove("sid");
    vec![
        ("garbage", "not-a-token".to_owned()),
        ("three garbage parts", "a.b.c".to_owned()),
        (
            "forged signature",
            sign(
                &good,
                "test-1",
                "someone-elses-secret-0123456789abcdef",
                Algorithm::HS256,
            ),
        ),
        (
            "expired",
            sign(
                &with(
                    with(good.clone(), "exp", json!(now() - 3600)),
                    "nbf",
                    json!(now() - 7200),
                ),
                "test-1",
                SECRET,
                Algorithm::HS256,
            ),
        ),
        (
            "not yet valid",
            sign(
                &with(good.clone(), "nbf", json!(now() + 3600)),
                "test-1",
                SECRET,
                Algorithm::HS256,
            ),
        ),
        (
            "issued in the future",
            sign(
                &with(good.clone(), "iat", json!(now() + 3600)),
                "test-1",
                SECRET,
                Algorithm::HS256,
            ),
        ),
        (
            "wrong audience",
            sign(
                &with(good.clone(), "aud", json!("another-api")),
                "test-1",
                SECRET,
                Algorithm::HS256,
            ),
        ),
        (
            "wrong issuer",
            sign(
                &with(good.clone(), "iss", json!("evil")),
                "test-1",
                SECRET,
                Algorithm::HS256,
            ),
        ),
        (
            "unknown kid",
            sign(&good, "test-9", SECRET, Algorithm::HS256),
        ),
        ("alg none", unsigned(&good)),
        (
            "other algorithm",
            sign(&good, "test-1", SECRET, Algorithm::HS512),
        ),
        (
            "no exp",
            sign(&without_exp, "test-1", SECRET, Algorithm::HS256),
        ),
        (
            "no session id",
            sign(&without_session, "test-1", SECRET, Algorithm::HS256),
        ),
        (
            "unknown role",
            sign(
                &with(good.clone(), "role", json!("root")),
                "test-1",
                SECRET,
                Algorithm::HS256,
            ),
        ),
    ]
}

async fn assert_rejected(platform: &Platform, request: reqwest::RequestBuilder, what: &str) {
    let response = request.send().await.expect("an answer");
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (status, problem) = problem_of(response).await;
    assert_eq!(status, 401, "{what}");
    assert_eq!(
        problem["type"], "urn:anidex:problem:invalid-token",
        "{what}"
    );
    assert!(
        challenge.starts_with("Bearer"),
        "{what}: WWW-Authenticate {challenge:?}"
    );
    let _ = platform;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_rejected_by_both_apis() {
    let platform = Platform::start("tokens_rejected").await;
    let user_id = platform.register_user("tamaki").await;

    // A correctly signed token works, so the rejections below are about the defects.
    let valid = sign(&claims(user_id), "test-1", SECRET, Algorithm::HS256);
    let response = platform
        .http
        .post(format!("{}/v1/auth/logout-all", platform.command_url))
        .bearer_auth(&valid)
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), 200);

    for (what, token) in bad_tokens(user_id) {
        let command = platform
            .http
            .post(format!("{}/v1/auth/logout-all", platform.command_url))
            .bearer_auth(&token);
        assert_rejected(&platform, command, &format!("command-api: {what}")).await;
        let query = platform
            .http
            .get(format!("{}/v1/me", platform.query_url))
            .bearer_auth(&token);
        assert_rejected(&platform, query, &format!("query-api: {what}")).await;
    }

    // A correctly signed token of an account that does not exist (a restored
    // database, keys shared with another environment) is no better.
    let stranger = sign(&claims(Uuid::now_v7()), "test-1", SECRET, Algorithm::HS256);
    let command = platform
        .http
        .post(format!("{}/v1/auth/logout-all", platform.command_url))
        .bearer_auth(&stranger);
    assert_rejected(&platform, command, "logout-all, no such account").await;
    let command = platform
        .http
        .post(format!("{}/v1/auth/password", platform.command_url))
        .bearer_auth(&stranger)
        .json(&json!({"current_password": PASSWORD, "new_password": "amber tundra psalm violin"}));
    assert_rejected(&platform, command, "password change, no such account").await;

    // Sign-in and refresh need no access token and ignore a bad one, so a client that
    // sends its expired token along can still get a new one.
    let expired = sign(
        &with(
            with(claims(user_id), "exp", json!(now() - 60)),
            "iat",
            json!(now() - 960),
        ),
        "test-1",
        SECRET,
        Algorithm::HS256,
    );
    let response = platform
        .http
        .post(format!("{}/v1/auth/login", platform.command_url))
        .bearer_auth(&expired)
        .json(&json!({"login": "tamaki", "password": PASSWORD}))
        .send()
        .await
        .expect("an answer");
    assert_eq!(
        response.status(),
        200,
        "login with a stale token sent along"
    );
    let session: Value = response.json().await.expect("a session");
    let response = platform
        .http
        .post(format!("{}/v1/auth/refresh", platform.command_url))
        .bearer_auth("not-a-token")
        .json(&json!({"refresh_token": session["refresh_token"]}))
        .send()
        .await
        .expect("an answer");
    assert_eq!(
        response.status(),
        200,
        "refresh with a bad token sent along"
    );

    // No token at all on a protected route: 401 with the challenge, no error code.
    let response = platform
        .http
        .get(format!("{}/v1/me", platform.query_url))
        .send()
        .await
        .expect("an answer");
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    let (status, problem) = problem_of(response).await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (401, Some("urn:anidex:problem:unauthenticated"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_signing_key_keeps_verifying_until_removed() {
    let platform = Platform::start("tokens_rotation").await;
    let user_id = platform.register_user("nodoka").await;
    let old_session = sign_in(&platform, "nodoka", PASSWORD).await;
    let old_token = access_token(&old_session);
    platform.wait_profile(user_id).await;

    // A query-api that signs with a new key but still lists the old one.
    let rotated_keys = format!("{TEST_JWT_KEYS},test-2:{NEXT_SECRET}");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let _rotated = platform.spawn_service(
        "query-api",
        &[
            ("QUERY_API_LISTEN", &listen),
            ("JWT_KEYS", &rotated_keys),
            ("JWT_ACTIVE_KID", "test-2"),
        ],
    );
    let url = format!("http://127.0.0.1:{port}");
    eventually("the rotated query-api to answer", || async {
        let response = platform
            .http
            .get(format!("{url}/health/live"))
            .send()
            .await
            .ok()?;
        response.status().is_success().then_some(())
    })
    .await;
    let me = |token: String| {
        let request = platform.http.get(format!("{url}/v1/me")).bearer_auth(token);
        async move { request.send().await.expect("an answer") }
    };
    assert_eq!(
        me(old_token.clone()).await.status(),
        200,
        "old kid still verifies"
    );
    let new_token = sign(&claims(user_id), "test-2", NEXT_SECRET, Algorithm::HS256);
    assert_eq!(
        me(new_token.clone()).await.status(),
        200,
        "new kid verifies"
    );

    // The original query-api does not know test-2.
    let request = platform
        .http
        .get(format!("{}/v1/me", platform.query_url))
        .bearer_auth(&new_token);
    assert_rejected(&platform, request, "unknown kid on the old configuration").await;
}
