//! Imports on the command side: how upstream rows merge into releases (by external
//! ids, never by title), that re-importing unchanged data publishes nothing, that a
//! command delivered twice is applied once, and the import's life as admins see it.
//!
//! These tests play the parser's part by sending catalogue commands straight to the
//! catalogue commands topic; `parser.rs` covers the crawl itself.

use std::time::Duration;

use rdkafka::{
    ClientConfig,
    producer::{FutureProducer, FutureRecord},
};
use schemas::{
    imports::{
        CatalogCommand, CatalogCommandMessage, ImportState, UpstreamEpisode, UpstreamMaterial,
    },
    releases::{
        ExternalIds, ReleaseKind, Title, TitleKind, TitleLanguage, Translation, TranslationKind,
    },
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::accounts::{ADMIN_EMAIL, ADMIN_PASSWORD, access_token, sign_in, start_with_admin};
use e2e::harness::{Platform, eventually, stack_env};

pub(crate) fn material(
    id: &str,
    ids: ExternalIds,
    title: &str,
    translation_id: i64,
) -> UpstreamMaterial {
    let is_film = id.starts_with("movie-");
    UpstreamMaterial {
        material_id: id.to_owned(),
        external_ids: ids,
        kind: if is_film {
            ReleaseKind::Movie
        } else {
            ReleaseKind::Tv
        },
        status: None,
        titles: vec![Title {
            text: title.to_owned(),
            language: TitleLanguage::Romaji,
            kind: TitleKind::Main,
        }],
        year: Some(2002),
        genres: vec!["action".to_owned()],
        age_rating: None,
        description: None,
        poster_url: None,
        episodes_total: None,
        episodes_aired: None,
        aired_at: None,
        next_episode_at: None,
        score: None,
        popularity: None,
        translation: Translation {
            id: translation_id,
            title: format!("Team {translation_id}"),
            kind: TranslationKind::Voice,
        },
        team: Some(format!("Team {translation_id}")),
        quality: Some("WEB-DLRip 720p".to_owned()),
        camrip: false,
        blocked_countries: Vec::new(),
        blocked_seasons: Vec::new(),
        updated_at: None,
        episodes: (1..=if is_film { 1 } else { 3 })
            .map(|number| UpstreamEpisode {
                season: 1,
                number: number.to_string(),
                title: None,
                player_link: format!("https://kodik.info/seria/{id}/{number}/720p"),
            })
            .collect(),
    }
}

pub(crate) fn ids(shikimori: Option<&str>, kinopoisk: Option<&str>) -> ExternalIds {
    ExternalIds {
        shikimori: shikimori.map(str::to_owned),
        kinopoisk: kinopoisk.map(str::to_owned),
        ..ExternalIds::default()
    }
}

/// The rows of the merging cases: one title in two translations, a film of the same
/// franchise with its own Shikimori id, a row known only by Kinopoisk id, a row with no
/// id at all, and a film sharing the Kinopoisk id but not the Shikimori id.
fn franchise_page() -> Vec<UpstreamMaterial> {
    vec![
        material("serial-1", ids(Some("20"), Some("K1")), "Naruto", 1),
        material("serial-2", ids(Some("20"), None), "Naruto", 2),
        material("movie-3", ids(Some("21"), None), "Naruto", 1),
        material("serial-4", ids(None, Some("K1")), "Naruto", 3),
        material("serial-5", ids(None, None), "Naruto", 4),
        material("movie-6", ids(Some("22"), Some("K1")), "Naruto", 1),
    ]
}

pub(crate) struct Imports<'a> {
    platform: &'a Platform,
    pub(crate) token: String,
    producer: FutureProducer,
}

impl<'a> Imports<'a> {
    pub(crate) async fn new(platform: &'a Platform) -> Self {
        let session = sign_in(platform, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let producer = ClientConfig::new()
            .set("bootstrap.servers", stack_env().kafka_brokers)
            .create()
            .expect("a producer");
        Self {
            platform,
            token: access_token(&session),
            producer,
        }
    }

    async fn request(&self, body: &Value) -> reqwest::Response {
        self.platform
            .http
            .post(format!("{}/v1/imports", self.platform.command_url))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .expect("command-api answers")
    }

    async fn start(&self) -> Uuid {
        let response = self
            .request(&json!({"source": "kodik", "mode": "full"}))
            .await;
        assert_eq!(response.status(), 202);
        let location = response
            .headers()
            .get("location")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["state"], "queued");
        let import_id = body["import_id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .expect("import id");
        assert_eq!(
            location,
            Some(format!(
                "{}/v1/imports/{import_id}",
                self.platform.query_url
            )),
            "the import's progress on the query API"
        );
        import_id
    }

    async fn send(&self, import_id: Uuid, command: CatalogCommand) -> Uuid {
        let message = CatalogCommandMessage {
            command_id: Uuid::now_v7(),
            correlation_id: format!("test-{import_id}"),
            issued_at: chrono::Utc::now(),
            command,
        };
        self.send_message(import_id, &message).await;
        message.command_id
    }

    async fn send_message(&self, import_id: Uuid, message: &CatalogCommandMessage) {
        let payload = serde_json::to_string(message).expect("serializing a command");
        let key = import_id.to_string();
        self.producer
            .send(
                FutureRecord::to(&self.platform.topic("catalog.commands"))
                    .key(&key)
                    .payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .expect("the command is written");
    }

    pub(crate) async fn run(&self, pages: Vec<Vec<UpstreamMaterial>>) -> Value {
        let import_id = self.start().await;
        self.send(import_id, CatalogCommand::StartImport { import_id })
            .await;
        for (index, materials) in pages.into_iter().enumerate() {
            let page = index as i64 + 1;
            self.send(
                import_id,
                CatalogCommand::ImportPage {
                    import_id,
                    page,
                    materials,
                    failures: Vec::new(),
                },
            )
            .await;
        }
        self.send(
            import_id,
            CatalogCommand::FinishImport {
                import_id,
                state: ImportState::Succeeded,
                error: None,
                checkpoint: None,
            },
        )
        .await;
        self.wait_state(import_id, "succeeded").await
    }

    async fn view(&self, import_id: Uuid) -> reqwest::Response {
        self.platform
            .http
            .get(format!(
                "{}/v1/imports/{import_id}",
                self.platform.query_url
            ))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("query-api answers")
    }

    async fn wait_state(&self, import_id: Uuid, state: &str) -> Value {
        eventually(&format!("import {import_id} to be {state}"), || async {
            let response = self.view(import_id).await;
            if response.status() != 200 {
                return None;
            }
            let view: Value = response.json().await.ok()?;
            (view["state"] == state).then_some(view)
        })
        .await
    }
}

pub(crate) async fn release_of(platform: &Platform, material_id: &str) -> Uuid {
    sqlx::query_scalar("SELECT release_id FROM write.upstream_materials WHERE material_id = $1")
        .bind(material_id)
        .fetch_one(&platform.db)
        .await
        .unwrap_or_else(|error| panic!("{material_id} was imported: {error}"))
}

async fn catalog_events(platform: &Platform) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM write.outbox WHERE event_type LIKE 'release.%'")
        .fetch_one(&platform.db)
        .await
        .expect("counting events")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_merge_by_external_ids_never_by_title() {
    let platform = start_with_admin("imports_merging", &[]).await;
    let imports = Imports::new(&platform).await;

    let view = imports.run(vec![franchise_page()]).await;

    let series = release_of(&platform, "serial-1").await;
    assert_eq!(
        release_of(&platform, "serial-2").await,
        series,
        "same Shikimori id: one release"
    );
    assert_eq!(
        release_of(&platform, "serial-4").await,
        series,
        "no Shikimori id but the series' Kinopoisk id: joins it"
    );
    let film = release_of(&platform, "movie-3").await;
    assert_ne!(
        film, series,
        "a film with its own Shikimori id is its own release"
    );
    let orphan = release_of(&platform, "serial-5").await;
    assert_ne!(orphan, series, "a row without ids is never merged by title");
    let other_film = release_of(&platform, "movie-6").await;
    assert_ne!(
        other_film, series,
        "a shared Kinopoisk id does not override a different Shikimori id"
    );
    assert_ne!(other_film, film);

    let needs_review: bool =
        sqlx::query_scalar("SELECT needs_review FROM write.releases WHERE id = $1")
            .bind(orphan)
            .fetch_one(&platform.db)
            .await
            .expect("the orphan release");
    assert!(
        needs_review,
        "a release without any external id is marked for review"
    );
    assert_eq!(platform.count("write.releases").await, 4);

    assert_eq!(view["counters"]["pages"], 1);
    assert_eq!(view["counters"]["materials"], 6);
    assert_eq!(view["counters"]["releases_created"], 4);
    assert_eq!(view["counters"]["failures"], 0);
    assert!(view["started_at"].is_string() && view["finished_at"].is_string());

    // The series carries three translations and the union of their episodes.
    let snapshot: Value = sqlx::query_scalar("SELECT snapshot FROM write.releases WHERE id = $1")
        .bind(series)
        .fetch_one(&platform.db)
        .await
        .expect("the series");
    assert_eq!(snapshot["translations"].as_array().map(Vec::len), Some(3));
    assert_eq!(snapshot["episodes"].as_array().map(Vec::len), Some(3));
    assert_eq!(snapshot["external_ids"]["kinopoisk"], "K1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reimporting_unchanged_data_publishes_nothing_and_commands_apply_once() {
    let platform = start_with_admin("imports_idempotent", &[]).await;
    let imports = Imports::new(&platform).await;
    imports.run(vec![franchise_page()]).await;
    let events_after_first = catalog_events(&platform).await;
    assert!(events_after_first > 0);

    let view = imports.run(vec![franchise_page()]).await;
    assert_eq!(view["counters"]["materials"], 6);
    assert_eq!(view["counters"]["releases_unchanged"], 6);
    assert_eq!(view["counters"]["releases_created"], 0);
    assert_eq!(view["counters"]["releases_updated"], 0);
    assert_eq!(
        catalog_events(&platform).await,
        events_after_first,
        "no event for unchanged data"
    );

    // The same command delivered twice counts once.
    let import_id = imports.start().await;
    let page = CatalogCommandMessage {
        command_id: Uuid::now_v7(),
        correlation_id: "duplicate".to_owned(),
        issued_at: chrono::Utc::now(),
        command: CatalogCommand::ImportPage {
            import_id,
            page: 1,
            materials: vec![material("serial-9", ids(Some("99"), None), "Another", 1)],
            failures: Vec::new(),
        },
    };
    imports.send_message(import_id, &page).await;
    imports.send_message(import_id, &page).await;
    imports
        .send(
            import_id,
            CatalogCommand::FinishImport {
                import_id,
                state: ImportState::Succeeded,
                error: None,
                checkpoint: None,
            },
        )
        .await;
    let view = imports.wait_state(import_id, "succeeded").await;
    assert_eq!(
        view["counters"]["pages"], 1,
        "a redelivered page is applied once"
    );
    assert_eq!(view["counters"]["materials"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_import_ignores_later_pages() {
    let platform = start_with_admin("imports_cancel", &[]).await;
    let imports = Imports::new(&platform).await;
    let import_id = imports.start().await;
    imports
        .send(import_id, CatalogCommand::StartImport { import_id })
        .await;
    imports.wait_state(import_id, "running").await;

    let cancel = |token: String| {
        let http = platform.http.clone();
        let url = format!("{}/v1/imports/{import_id}/cancel", platform.command_url);
        async move {
            http.post(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("an answer")
        }
    };
    let response = cancel(imports.token.clone()).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["state"], "cancelled");
    let (status, problem) = crate::accounts::problem_of(cancel(imports.token.clone()).await).await;
    assert_eq!(status, 409);
    assert_eq!(problem["type"], "urn:anidex:problem:import-finished");

    let page = imports
        .send(
            import_id,
            CatalogCommand::ImportPage {
                import_id,
                page: 1,
                materials: franchise_page(),
                failures: Vec::new(),
            },
        )
        .await;
    eventually("the late page to be processed", || async {
        let processed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM write.processed_commands WHERE command_id = $1",
        )
        .bind(page)
        .fetch_one(&platform.db)
        .await
        .ok()?;
        (processed == 1).then_some(())
    })
    .await;
    let view = imports.wait_state(import_id, "cancelled").await;
    assert_eq!(
        view["counters"]["materials"], 0,
        "pages after cancellation are ignored"
    );
    assert_eq!(
        platform.count("write.releases").await,
        0,
        "nothing was merged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_import_requests_are_problems() {
    let platform = start_with_admin("imports_bad_requests", &[]).await;
    let imports = Imports::new(&platform).await;
    let cases = [
        (
            json!({"source": "elsewhere", "mode": "full"}),
            422,
            "validation",
        ),
        (
            json!({"source": "kodik", "mode": "full", "filters": {"token": "x"}}),
            422,
            "validation",
        ),
        (
            json!({"source": "kodik", "mode": "full", "filters": {"limit": "500"}}),
            422,
            "validation",
        ),
        (
            json!({"source": "kodik", "mode": "full", "filters": {"limit": "ten"}}),
            422,
            "validation",
        ),
        (
            json!({"source": "kodik", "mode": "full", "filters": {"types": "anime,nonsense"}}),
            422,
            "validation",
        ),
        (
            json!({"source": "kodik", "mode": "full", "filters": {"translation_type": "dub"}}),
            422,
            "validation",
        ),
        (
            json!({"source": "kodik", "mode": "sometimes"}),
            400,
            "malformed-body",
        ),
        (
            json!({"source": "kodik", "mode": "full", "extra": 1}),
            400,
            "malformed-body",
        ),
    ];
    for (body, expected_status, expected_type) in cases {
        let (status, problem) = crate::accounts::problem_of(imports.request(&body).await).await;
        assert_eq!(status, expected_status, "{body}");
        assert_eq!(
            problem["type"],
            format!("urn:anidex:problem:{expected_type}"),
            "{body}"
        );
    }
    let unknown = imports.view(Uuid::now_v7()).await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        platform.count("write.imports").await,
        0,
        "nothing was written"
    );
}
