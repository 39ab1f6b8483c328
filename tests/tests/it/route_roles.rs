//! Who may call what: every operation of both OpenAPI documents, called as an
//! anonymous client, a user, a moderator and an administrator, must answer according
//! to [`ROUTE_ROLES`].
//!
//! **Adding a route? Add a line to [`ROUTE_ROLES`].** The test fails for an operation
//! the table does not list, and for a listed one that no longer exists. Requests carry
//! placeholder path parameters and an empty JSON object as body: the point is that the
//! authentication and authorisation answer comes before any validation.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use e2e::harness::Platform;

use crate::accounts::{
    ADMIN_PASSWORD, ADMIN_USERNAME, PASSWORD, access_token, set_role, sign_in, start_with_admin,
};

/// The least role an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Least {
    /// Anyone, signed in or not.
    Anonymous,
    User,
    Moderator,
    Admin,
}

use Least::{Admin, Anonymous, Moderator, User};

/// (service, method, path as in the OpenAPI document, least role).
pub(crate) const ROUTE_ROLES: &[(&str, &str, &str, Least)] = &[
    // command-api: accounts
    ("command-api", "POST", "/v1/auth/register", Anonymous),
    ("command-api", "POST", "/v1/auth/login", Anonymous),
    ("command-api", "POST", "/v1/auth/refresh", Anonymous),
    ("command-api", "POST", "/v1/auth/logout", User),
    ("command-api", "POST", "/v1/auth/logout-all", User),
    ("command-api", "POST", "/v1/auth/password", User),
    ("command-api", "PUT", "/v1/users/{id}/role", Admin),
    // command-api: catalogue imports
    ("command-api", "POST", "/v1/imports", Admin),
    ("command-api", "POST", "/v1/imports/{id}/cancel", Admin),
    // command-api: moderators' catalogue edits
    ("command-api", "POST", "/v1/releases", Moderator),
    ("command-api", "PATCH", "/v1/releases/{id}", Moderator),
    ("command-api", "DELETE", "/v1/releases/{id}", Moderator),
    (
        "command-api",
        "PUT",
        "/v1/releases/{id}/episodes/{season}/{number}",
        Moderator,
    ),
    (
        "command-api",
        "DELETE",
        "/v1/releases/{id}/episodes/{season}/{number}",
        Moderator,
    ),
    (
        "command-api",
        "PUT",
        "/v1/releases/{id}/sources/{translation_id}",
        Moderator,
    ),
    (
        "command-api",
        "DELETE",
        "/v1/releases/{id}/sources/{translation_id}",
        Moderator,
    ),
    // query-api: users and administration
    ("query-api", "GET", "/v1/users/{id}", Anonymous),
    ("query-api", "GET", "/v1/me", User),
    ("query-api", "GET", "/v1/admin/audit", Admin),
    ("query-api", "GET", "/v1/imports", Admin),
    ("query-api", "GET", "/v1/imports/{id}", Admin),
    // query-api: the public catalogue and search
    ("query-api", "GET", "/v1/genres", Anonymous),
    ("query-api", "GET", "/v1/releases", Anonymous),
    ("query-api", "GET", "/v1/releases/{id}", Anonymous),
    ("query-api", "GET", "/v1/releases/{id}/episodes", Anonymous),
    ("query-api", "GET", "/v1/search", Anonymous),
    ("query-api", "GET", "/v1/suggest", Anonymous),
    ("query-api", "GET", "/v1/teams", Anonymous),
];

/// A path with its `{parameters}` replaced by plausible placeholders.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .map_or(rest.len(), |end| start + end + 1);
        out.push_str("019aeb2c-529f-7b40-8b1e-8d1f2a3c4b5d");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

async fn operations(
    platform: &Platform,
    service: &str,
    base: &str,
) -> BTreeSet<(String, String, String)> {
    let document: Value = platform
        .http
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .expect("an answer")
        .json()
        .await
        .expect("an OpenAPI document");
    let mut found = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                found.insert((service.to_owned(), method.to_uppercase(), path.clone()));
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_answers_according_to_the_role_table() {
    let platform = start_with_admin("route_roles", &[]).await;
    let admin = sign_in(&platform, ADMIN_USERNAME, ADMIN_PASSWORD).await;
    platform.register_user("plainuser").await;
    let moderator_id = platform.register_user("modeuser").await;
    let promoted = set_role(
        &platform,
        &access_token(&admin),
        moderator_id,
        "moderator",
        1,
    )
    .await;
    assert_eq!(promoted.status(), 200);
    let user = sign_in(&platform, "plainuser", PASSWORD).await;
    let moderator = sign_in(&platform, "modeuser", PASSWORD).await;
    assert_eq!(moderator["role"], "moderator");
    let callers = [
        (Anonymous, None),
        (User, Some(access_token(&user))),
        (Least::Moderator, Some(access_token(&moderator))),
        (Admin, Some(access_token(&admin))),
    ];

    let mut documented = operations(&platform, "command-api", &platform.command_url).await;
    documented.extend(operations(&platform, "query-api", &platform.query_url).await);
    let table: BTreeSet<(String, String, String)> = ROUTE_ROLES
        .iter()
        .map(|(service, method, path, _)| {
            (
                (*service).to_owned(),
                (*method).to_owned(),
                (*path).to_owned(),
            )
        })
        .collect();
    let missing: Vec<_> = documented.difference(&table).collect();
    assert!(
        missing.is_empty(),
        "operations without a line in ROUTE_ROLES (tests/tests/it/route_roles.rs): {missing:?}"
    );
    let stale: Vec<_> = table.difference(&documented).collect();
    assert!(
        stale.is_empty(),
        "ROUTE_ROLES lists operations that do not exist: {stale:?}"
    );

    let mut failures = Vec::new();
    for (service, method, path, least) in ROUTE_ROLES {
        let base = if *service == "command-api" {
            &platform.command_url
        } else {
            &platform.query_url
        };
        let url = format!("{base}{}", concrete(path));
        for (caller, token) in &callers {
            let method_value = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
            let mut request = platform.http.request(method_value, &url);
            if *method != "GET" && *method != "DELETE" {
                request = request.json(&json!({}));
            }
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let status = request.send().await.expect("an answer").status().as_u16();
            let expected_denial = match (least, caller) {
                (Anonymous, _) => None,
                (_, Anonymous) => Some(401),
                (least, caller) if caller < least => Some(403),
                _ => None,
            };
            let ok = match expected_denial {
                Some(denial) => status == denial,
                None => status != 401 && status != 403,
            };
            if !ok {
                failures.push(format!(
                    "{method} {path} on {service} as {caller:?}: {status}, expected {}",
                    expected_denial.map_or("neither 401 nor 403".to_owned(), |s| s.to_string())
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
