//! Moderators' edits of the catalogue: create, edit and delete releases, episodes and
//! video sources with optimistic concurrency (`If-Match`), edits that survive later
//! imports, and validation.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    accounts::{
        ADMIN_EMAIL, ADMIN_PASSWORD, access_token, audit_entries, problem_of, sign_in,
        start_with_admin,
    },
    imports::{Imports, ids, material, release_of},
};
use e2e::harness::{Platform, eventually};

struct Moderator<'a> {
    platform: &'a Platform,
    token: String,
}

impl Moderator<'_> {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        if_match: Option<i64>,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self
            .platform
            .http
            .request(method, format!("{}{path}", self.platform.command_url))
            .bearer_auth(&self.token);
        if let Some(version) = if_match {
            request = request.header("if-match", format!("\"{version}\""));
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("command-api answers")
    }

    /// Sends a change that must succeed; returns the new version (also the ETag).
    async fn change(
        &self,
        method: reqwest::Method,
        path: &str,
        if_match: Option<i64>,
        body: Option<Value>,
    ) -> i64 {
        let response = self.send(method, path, if_match, body).await;
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        let etag = response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let answer: Value = response.json().await.expect("JSON");
        let version = answer["version"].as_i64().expect("a version");
        assert_eq!(
            etag,
            Some(format!("\"{version}\"")),
            "the ETag is the version"
        );
        version
    }
}

async fn snapshot(platform: &Platform, release_id: Uuid) -> Value {
    sqlx::query_scalar("SELECT snapshot FROM write.releases WHERE id = $1")
        .bind(release_id)
        .fetch_one(&platform.db)
        .await
        .expect("the release")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderators_edit_releases_episodes_and_sources_with_optimistic_concurrency() {
    let platform = start_with_admin("moderation", &[]).await;
    let session = sign_in(&platform, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let moderator = Moderator {
        platform: &platform,
        token: access_token(&session),
    };
    use reqwest::Method;

    let created = moderator
        .send(
            Method::POST,
            "/v1/releases",
            None,
            Some(json!({
                "kind": "movie", "status": "released", "year": 2001,
                "titles": [{"text": "Sen to Chihiro no Kamikakushi", "language": "romaji", "kind": "main"}]
            })),
        )
        .await;
    assert_eq!(created.status(), 201);
    let location = created
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let created: Value = created.json().await.expect("JSON");
    let release_id: Uuid = created["release_id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("id");
    let path = format!("/v1/releases/{release_id}");
    assert_eq!(created["version"], 1);
    // The release is read on the query API, which QUERY_API_PUBLIC_URL names (the
    // harness gives it with a trailing slash, which is dropped).
    assert_eq!(location, Some(format!("{}{path}", platform.query_url)));
    let read = platform
        .http
        .get(format!("{}?min_version=1", location.unwrap_or_default()))
        .send()
        .await
        .expect("query-api answers");
    assert_eq!(read.status(), 200);

    let v2 = moderator
        .change(
            Method::PATCH,
            &path,
            Some(1),
            Some(json!({"description": "A girl in a spirit world."})),
        )
        .await;
    assert_eq!(v2, 2);
    let (status, problem) = problem_of(
        moderator
            .send(Method::PATCH, &path, Some(1), Some(json!({"year": 2002})))
            .await,
    )
    .await;
    assert_eq!(
        status, 412,
        "a stale version is refused, never silently overwritten"
    );
    assert_eq!(problem["type"], "urn:anidex:problem:stale-version");
    let (status, _) = problem_of(
        moderator
            .send(Method::PATCH, &path, None, Some(json!({"year": 2002})))
            .await,
    )
    .await;
    assert_eq!(status, 428, "If-Match is required");
    for malformed in ["\"2", "2\"", "W/2\"", "\"two\""] {
        let response = moderator
            .platform
            .http
            .patch(format!("{}{path}", moderator.platform.command_url))
            .bearer_auth(&moderator.token)
            .header("if-match", malformed)
            .json(&json!({"year": 2002}))
            .send()
            .await
            .expect("command-api answers");
        let (status, problem) = problem_of(response).await;
        assert_eq!(status, 400, "If-Match: {malformed}");
        assert_eq!(problem["type"], "urn:anidex:problem:invalid-parameter");
    }

    let v3 = moderator
        .change(
            Method::PUT,
            // Written as the same number a client might spell it; stored as 6.5.
            &format!("{path}/episodes/1/06.50"),
            Some(v2),
            Some(json!({"title": "Recap", "recap": true})),
        )
        .await;
    let v4 = moderator
        .change(
            Method::PUT,
            &format!("{path}/sources/610"),
            Some(v3),
            Some(json!({"title": "AniLibria.TV", "kind": "voice", "sources": [
                {"season": 1, "episode": "1", "player_link": "https://kodik.info/video/1/abc/720p"}
            ]})),
        )
        .await;
    assert!(v4 > v3);
    let release = snapshot(&platform, release_id).await;
    assert_eq!(release["description"], "A girl in a spirit world.");
    assert_eq!(release["episodes"].as_array().map(Vec::len), Some(1));
    assert_eq!(release["episodes"][0]["number"], "6.5");
    assert_eq!(release["episodes"][0]["recap"], true);
    assert_eq!(release["translations"][0]["translation"]["id"], 610);

    let invalid = [
        (Method::PATCH, path.clone(), json!({"release_id": "x"})),
        (Method::PATCH, path.clone(), json!({"year": 1200})),
        (
            Method::PATCH,
            path.clone(),
            json!({"airing_season": {"year": -5, "season": "winter"}}),
        ),
        (Method::PATCH, path.clone(), json!({"titles": []})),
        (
            Method::PATCH,
            path.clone(),
            json!({"titles": [
                {"text": "Twice", "language": "en", "kind": "main"},
                {"text": "Twice", "language": "en", "kind": "main"}
            ]}),
        ),
        (
            Method::PUT,
            format!("{path}/episodes/1/2"),
            json!({"title": "x".repeat(501)}),
        ),
        (
            Method::PUT,
            format!("{path}/episodes/1/2"),
            json!({"title": " "}),
        ),
        (
            Method::PATCH,
            path.clone(),
            json!({"poster_url": "http://plain.example/p.jpg"}),
        ),
        (
            Method::PATCH,
            path.clone(),
            json!({"genres": ["drama", "Drama"]}),
        ),
        (Method::PATCH, path.clone(), json!({"genres": [" drama"]})),
        (
            Method::PATCH,
            path.clone(),
            json!({"episodes_total": 3, "episodes_aired": 4}),
        ),
        (Method::PATCH, path.clone(), json!({"genres": [""]})),
        (Method::PUT, format!("{path}/episodes/1/abc"), json!({})),
        (
            Method::PUT,
            format!("{path}/sources/611"),
            json!({"title": "Team", "kind": "voice", "sources": [
                {"season": 1, "episode": "1", "player_link": "javascript:alert(1)"}
            ]}),
        ),
        (
            Method::PUT,
            format!("{path}/sources/612"),
            json!({"title": "Team", "kind": "voice", "sources": [
                {"season": 1, "episode": "1", "player_link": "https://kodik.info/video/1/a/720p"},
                {"season": 1, "episode": "01", "player_link": "https://kodik.info/video/1/b/720p"}
            ]}),
        ),
    ];
    for (method, target, body) in invalid {
        let (status, problem) = problem_of(
            moderator
                .send(method, &target, Some(v4), Some(body.clone()))
                .await,
        )
        .await;
        assert_eq!(status, 422, "{target} {body}");
        assert_eq!(problem["type"], "urn:anidex:problem:validation");
    }

    // Deleting what the release does not have is a 404, not a silent edit.
    for target in [
        format!("{path}/sources/999999"),
        format!("{path}/episodes/7/99"),
    ] {
        let (status, problem) = problem_of(
            moderator
                .send(Method::DELETE, &target, Some(v4), None)
                .await,
        )
        .await;
        assert_eq!(status, 404, "{target}");
        assert_eq!(problem["type"], "urn:anidex:problem:not-found", "{target}");
    }

    let v5 = moderator
        .change(
            Method::DELETE,
            &format!("{path}/sources/610"),
            Some(v4),
            None,
        )
        .await;
    // The moderator reads their own change back from the query side.
    let detail: Value = platform
        .http
        .get(format!(
            "{}/v1/releases/{release_id}?min_version={v5}",
            platform.query_url
        ))
        .send()
        .await
        .expect("query-api answers")
        .json()
        .await
        .expect("a release detail");
    assert!(detail["version"].as_i64() >= Some(v5), "{detail}");
    assert!(
        !detail["sources"]
            .as_array()
            .expect("sources")
            .iter()
            .any(|group| group["translation"]["id"] == 610),
        "{detail}"
    );
    let removed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM write.outbox WHERE event_type = 'release.sources_removed'",
    )
    .fetch_one(&platform.db)
    .await
    .expect("counting");
    assert_eq!(removed, 1);

    let v6 = moderator
        .change(Method::DELETE, &path, Some(v5), None)
        .await;
    // Reading one's own delete back finds it gone, not a lagging read model.
    let gone = platform
        .http
        .get(format!(
            "{}/v1/releases/{release_id}?min_version={v6}",
            platform.query_url
        ))
        .send()
        .await
        .expect("query-api answers");
    assert_eq!(gone.status(), 404);
    let (status, _) = problem_of(
        moderator
            .send(
                Method::PATCH,
                &path,
                Some(v5 + 1),
                Some(json!({"year": 2001})),
            )
            .await,
    )
    .await;
    assert_eq!(status, 404, "a deleted release is gone");
    let deleted: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM write.outbox WHERE event_type = 'release.deleted'",
    )
    .fetch_one(&platform.db)
    .await
    .expect("counting");
    assert_eq!(deleted, 1);

    // Every one of these commands is in the audit trail, with who, when and the request.
    let admin_id = session["user_id"]
        .as_str()
        .expect("the admin's id")
        .to_owned();
    let entries = eventually("the release's commands in the audit trail", || async {
        let filters = [
            ("target", format!("release:{release_id}")),
            ("limit", "100".to_owned()),
        ];
        let entries = audit_entries(&platform, &moderator.token, &filters).await?;
        // Audit events are spread over partitions, so they may arrive in any order.
        ["release.create", "release.edit", "release.delete"]
            .iter()
            .all(|action| entries.iter().any(|entry| entry["action"] == *action))
            .then_some(entries)
    })
    .await;
    for entry in &entries {
        assert_eq!(entry["actor_id"], admin_id, "{entry}");
        assert_eq!(entry["actor_role"], "admin", "{entry}");
        assert!(
            entry["request_id"]
                .as_str()
                .is_some_and(|id| !id.is_empty()),
            "{entry}"
        );
        assert!(entry["recorded_at"].is_string(), "{entry}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderator_edits_survive_later_imports() {
    let platform = start_with_admin("moderation_vs_import", &[]).await;
    let imports = Imports::new(&platform).await;
    let moderator = Moderator {
        platform: &platform,
        token: imports.token.clone(),
    };
    imports
        .run(vec![vec![material(
            "serial-31",
            ids(Some("31"), None),
            "Mushishi",
            1,
        )]])
        .await;
    let release_id = release_of(&platform, "serial-31").await;
    let version: i64 = sqlx::query_scalar("SELECT version FROM write.releases WHERE id = $1")
        .bind(release_id)
        .fetch_one(&platform.db)
        .await
        .expect("version");

    moderator
        .change(
            reqwest::Method::PATCH,
            &format!("/v1/releases/{release_id}"),
            Some(version),
            Some(json!({"description": "Written by a moderator."})),
        )
        .await;

    let mut changed = material("serial-31", ids(Some("31"), None), "Mushishi", 1);
    changed.description = Some("Written by the upstream.".to_owned());
    changed.year = Some(2005);
    imports.run(vec![vec![changed]]).await;

    let release = snapshot(&platform, release_id).await;
    assert_eq!(
        release["description"], "Written by a moderator.",
        "the edit wins"
    );
    assert_eq!(
        release["year"], 2005,
        "fields nobody edited follow the upstream"
    );
}
