//! The whole import path against the local Kodik-compatible server: admin request →
//! parser crawl → catalogue commands → command side merge → release events. Every
//! upstream quirk of the reported cases is asserted on what the catalogue ends up
//! holding.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::accounts::{ADMIN_EMAIL, ADMIN_PASSWORD, access_token, sign_in, start_with_admin};
use e2e::harness::{FakeKodik, Platform, eventually};

const TOKEN: &str = "import-test-token";

async fn import_cases(test: &str) -> (Platform, FakeKodik, Value) {
    let upstream = FakeKodik::start(test, "kodik-cases", TOKEN, "https://kodik-api.com").await;
    let platform = start_with_admin(
        test,
        &[
            ("KODIK_BASE_URL", upstream.base_url.as_str()),
            ("KODIK_TOKEN", TOKEN),
            ("KODIK_REQUESTS_PER_SECOND", "100"),
            ("KODIK_RETRY_BASE_MS", "20"),
            (
                "CONSUMER_GROUPS",
                "projector,catalog-projector,indexer,import-projector,parser",
            ),
        ],
    )
    .await;
    let token = access_token(&sign_in(&platform, ADMIN_EMAIL, ADMIN_PASSWORD).await);
    let response = platform
        .http
        .post(format!("{}/v1/imports", platform.command_url))
        .bearer_auth(&token)
        .json(&json!({"source": "kodik", "mode": "full"}))
        .send()
        .await
        .expect("command-api answers");
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.expect("JSON");
    let import_id = accepted["import_id"].as_str().expect("an id").to_owned();
    let view = eventually("the import to finish", || async {
        let view: Value = platform
            .http
            .get(format!("{}/v1/imports/{import_id}", platform.query_url))
            .bearer_auth(&token)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        ["succeeded", "failed"]
            .contains(&view["state"].as_str()?)
            .then_some(view)
    })
    .await;
    (platform, upstream, view)
}

async fn release_of(platform: &Platform, material_id: &str) -> Uuid {
    crate::imports::release_of(platform, material_id).await
}

async fn snapshot(platform: &Platform, release_id: Uuid) -> Value {
    sqlx::query_scalar("SELECT snapshot FROM write.releases WHERE id = $1")
        .bind(release_id)
        .fetch_one(&platform.db)
        .await
        .expect("the release")
}

async fn sources(platform: &Platform, release_id: Uuid) -> Vec<Value> {
    sqlx::query_scalar(
        "SELECT snapshot FROM write.release_sources WHERE release_id = $1 ORDER BY translation_id",
    )
    .bind(release_id)
    .fetch_all(&platform.db)
    .await
    .expect("sources")
}

fn episodes_of(release: &Value, season: i64) -> Vec<String> {
    release["episodes"]
        .as_array()
        .expect("episodes")
        .iter()
        .filter(|episode| episode["season"] == season)
        .map(|episode| episode["number"].as_str().expect("a number").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reported_upstream_quirk_imports_correctly() {
    let (platform, _upstream, view) = import_cases("catalogue_import_cases").await;
    assert_eq!(view["state"], "succeeded", "{view}");
    assert_eq!(view["counters"]["failures"], 0, "{view}");
    assert_eq!(view["counters"]["materials"], 11, "{view}");

    // Cases 1 and 11: three link forms, one release, string ids.
    let naruto = release_of(&platform, "serial-1").await;
    assert_eq!(release_of(&platform, "serial-2").await, naruto);
    assert_eq!(release_of(&platform, "serial-3").await, naruto);
    let naruto_sources = sources(&platform, naruto).await;
    assert_eq!(naruto_sources.len(), 3, "one sources set per translation");
    for set in &naruto_sources {
        for source in set["sources"].as_array().expect("sources") {
            let link = source["player_link"].as_str().expect("a link");
            assert!(link.starts_with("https://"), "{link} is absolute https");
            assert!(
                !link.contains("https:https") && !link.contains("https://https"),
                "{link}"
            );
        }
    }
    let naruto_release = snapshot(&platform, naruto).await;
    assert_eq!(naruto_release["external_ids"]["shikimori"], "20");
    assert_eq!(
        naruto_release["external_ids"]["mydramalist"],
        "56743-mei-gui-qi-shi"
    );
    // The first air date (April 1st upstream) places the release in its season.
    let year = naruto_release["year"].as_i64().expect("a year");
    assert_eq!(
        naruto_release["airing_season"],
        json!({"year": year, "season": "spring"}),
        "{naruto_release}"
    );

    // Case 3: specials in season 0 are kept next to season 1.
    let specials = snapshot(&platform, release_of(&platform, "serial-4").await).await;
    assert_eq!(episodes_of(&specials, 0).len(), 4, "season 0 specials kept");
    assert_eq!(episodes_of(&specials, 1).len(), 64, "season 1 kept");

    // Case 4: numeric order, and gaps stay gaps.
    let ordered = snapshot(&platform, release_of(&platform, "serial-5").await).await;
    assert_eq!(episodes_of(&ordered, 1), ["1", "2", "10"]);
    let gaps = snapshot(&platform, release_of(&platform, "serial-6").await).await;
    let numbers = episodes_of(&gaps, 1);
    assert_eq!(numbers.len(), 158);
    assert!(
        !numbers
            .iter()
            .any(|n| (116..=127).contains(&n.parse::<i32>().unwrap_or_default()))
    );

    // Case 5: link strings and objects in one season are both imported.
    let mixed_release = release_of(&platform, "serial-7").await;
    let mixed = sources(&platform, mixed_release).await;
    let mixed_count = mixed[0]["sources"]
        .as_array()
        .map(Vec::len)
        .unwrap_or_default();
    let mixed_episodes = snapshot(&platform, mixed_release).await["episodes"]
        .as_array()
        .map(Vec::len);
    assert!(mixed_count >= 2);
    assert_eq!(
        mixed_episodes,
        Some(mixed_count),
        "every episode of both forms is imported"
    );

    // Cases 6 and 7: the film is one episode, its own release.
    let film = release_of(&platform, "movie-8").await;
    assert_ne!(
        film, naruto,
        "a film and a serial of one franchise are two releases"
    );
    let film_release = snapshot(&platform, film).await;
    assert_eq!(film_release["kind"], "movie");
    assert_eq!(episodes_of(&film_release, 1), ["1"]);
    let film_sources = sources(&platform, film).await;
    assert!(
        film_sources[0]["sources"][0]["player_link"]
            .as_str()
            .is_some_and(|l| l.starts_with("https://"))
    );

    // Case 8: joined by Kinopoisk id; no id at all is its own release, for review.
    assert_eq!(
        release_of(&platform, "serial-9").await,
        release_of(&platform, "serial-4").await
    );
    let orphan = release_of(&platform, "serial-10").await;
    assert_eq!(snapshot(&platform, orphan).await["needs_review"], true);
    assert_eq!(
        snapshot(&platform, orphan).await["external_ids"]["upstream_material_ids"],
        json!(["serial-10"])
    );

    // Re-importing the same upstream, in smaller pages, publishes nothing new.
    let events_before: i64 =
        sqlx::query_scalar("SELECT count(*) FROM write.outbox WHERE event_type LIKE 'release.%'")
            .fetch_one(&platform.db)
            .await
            .expect("counting");
    let token = access_token(&sign_in(&platform, ADMIN_EMAIL, ADMIN_PASSWORD).await);
    let again: Value = platform
        .http
        .post(format!("{}/v1/imports", platform.command_url))
        .bearer_auth(&token)
        .json(&json!({"source": "kodik", "mode": "full", "filters": {"limit": "4"}}))
        .send()
        .await
        .expect("an answer")
        .json()
        .await
        .expect("JSON");
    let again_id = again["import_id"].as_str().expect("id").to_owned();
    let second = eventually("the second import to finish", || async {
        let view: Value = platform
            .http
            .get(format!("{}/v1/imports/{again_id}", platform.query_url))
            .bearer_auth(&token)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (view["state"] == "succeeded").then_some(view)
    })
    .await;
    let materials = second["counters"]["materials"].as_i64().expect("a count");
    assert_eq!(
        second["counters"]["materials"],
        view["counters"]["materials"]
    );
    assert_eq!(
        second["counters"]["pages"].as_i64(),
        Some((materials + 3) / 4),
        "the limit filter sets the page size: {second}"
    );
    assert_eq!(second["counters"]["releases_created"], 0);
    assert_eq!(second["counters"]["releases_updated"], 0);
    let events_after: i64 =
        sqlx::query_scalar("SELECT count(*) FROM write.outbox WHERE event_type LIKE 'release.%'")
            .fetch_one(&platform.db)
            .await
            .expect("counting");
    assert_eq!(
        events_after, events_before,
        "unchanged data publishes no event"
    );
}
