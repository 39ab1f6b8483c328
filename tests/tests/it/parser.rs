//! The parser consumer group against a local Kodik-compatible upstream (`fake-kodik`):
//! what it sends to the catalogue commands topic when the upstream rejects the token,
//! paginates, answers HTML error pages, or stalls, and that the token and the
//! upstream's pagination URLs never leak.
//!
//! The command side that applies these commands is tested in `imports.rs`; here the
//! assertions are on what the parser produces, read straight from the topics.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rdkafka::{
    ClientConfig, Message as _,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{Consumer, StreamConsumer},
    producer::{FutureProducer, FutureRecord},
};
use schemas::{
    Actor, Envelope,
    imports::{
        CatalogCommand, CatalogCommandMessage, ImportMode, ImportRequested, ImportState,
        UpstreamMaterial,
    },
};
use serde_json::json;
use uuid::Uuid;

use e2e::harness::{DEADLINE, FakeKodik, Platform, eventually, stack_env};

/// Where the fake upstream says its pagination links live: deliberately not the
/// server the parser is configured with, and a name that cannot resolve.
const UPSTREAM_OWN_HOST: &str = "https://kodik-own-host.invalid";

/// A fake upstream and a platform running only the parser group against it.
struct Crawl {
    upstream: FakeKodik,
    platform: Platform,
    token: String,
}

async fn start(test: &str, scenario: &str, extra_env: &[(&str, &str)]) -> Crawl {
    let token = format!("e2e-token-{}", Uuid::now_v7().simple());
    let upstream = FakeKodik::start(test, scenario, &token, UPSTREAM_OWN_HOST).await;
    let mut env = vec![
        ("CONSUMER_GROUPS", "parser"),
        ("KODIK_BASE_URL", upstream.base_url.as_str()),
        ("KODIK_TOKEN", token.as_str()),
        ("KODIK_REQUESTS_PER_SECOND", "100"),
        ("KODIK_RETRY_BASE_MS", "20"),
        ("KODIK_MAX_RETRIES", "2"),
        ("KODIK_TIMEOUT_MS", "5000"),
        ("LOG_LEVEL", "info,consumers=debug"),
    ];
    for &(key, value) in extra_env {
        env.retain(|(existing, _)| *existing != key);
        env.push((key, value));
    }
    let platform = Platform::start_with_env(test, &env).await;
    create_topics(&platform).await;
    Crawl {
        upstream,
        platform,
        token,
    }
}

/// The topics this suite reads, created up front so a reader can subscribe before the
/// parser has written anything.
async fn create_topics(platform: &Platform) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", stack_env().kafka_brokers)
        .create()
        .expect("an admin client");
    let names = [
        platform.topic("catalog.commands"),
        platform.topic("parser.dlq"),
        platform.topic("import.events"),
    ];
    let topics: Vec<NewTopic<'_>> = names
        .iter()
        .map(|name| NewTopic::new(name, 3, TopicReplication::Fixed(1)))
        .collect();
    admin
        .create_topics(&topics, &AdminOptions::new())
        .await
        .expect("creating topics");
}

/// Publishes a full import's `import.requested` on the import events topic, as
/// command-api does.
async fn request_import(platform: &Platform, filters: &[(&str, &str)]) -> Uuid {
    request_import_since(platform, None, filters).await
}

/// Publishes `import.requested`, incremental when `since` is given.
async fn request_import_since(
    platform: &Platform,
    since: Option<DateTime<Utc>>,
    filters: &[(&str, &str)],
) -> Uuid {
    let import_id = Uuid::now_v7();
    publish_request(platform, import_id, since, filters).await;
    import_id
}

/// Publishes `import.requested` for `import_id`.
async fn publish_request(
    platform: &Platform,
    import_id: Uuid,
    since: Option<DateTime<Utc>>,
    filters: &[(&str, &str)],
) {
    let request = ImportRequested {
        import_id,
        source: "kodik".to_owned(),
        mode: if since.is_some() {
            ImportMode::Incremental
        } else {
            ImportMode::Full
        },
        filters: filters
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect(),
        since,
    };
    let envelope = Envelope::new(
        import_id.to_string(),
        1,
        format!("e2e-{import_id}"),
        Actor::System {
            name: "e2e".to_owned(),
        },
        request,
    );
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", stack_env().kafka_brokers)
        .create()
        .expect("a producer");
    let payload = serde_json::to_vec(&envelope).expect("an envelope serialises");
    producer
        .send(
            FutureRecord::to(&platform.topic("import.events"))
                .key(&import_id.to_string())
                .payload(&payload),
            Duration::from_secs(10),
        )
        .await
        .expect("the import request is written");
}

/// A command with its raw bytes, to search them for secrets.
struct Sent {
    message: CatalogCommandMessage,
    raw: String,
}

/// Every command the parser sent for `import_id`, up to and including
/// `FinishImport`, in topic order.
async fn commands_until_finished(platform: &Platform, import_id: Uuid) -> Vec<Sent> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", stack_env().kafka_brokers)
        .set("group.id", format!("parser-reader-{}", Uuid::now_v7()))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("a consumer");
    consumer
        .subscribe(&[&platform.topic("catalog.commands")])
        .expect("subscribing");
    let key = import_id.to_string();
    tokio::time::timeout(DEADLINE, async {
        let mut sent = Vec::new();
        loop {
            let record = consumer.recv().await.expect("reading the commands topic");
            assert_eq!(
                record.key(),
                Some(key.as_bytes()),
                "every command is keyed by its import id"
            );
            let raw = String::from_utf8(record.payload().unwrap_or_default().to_vec())
                .expect("UTF-8 JSON");
            let message: CatalogCommandMessage =
                serde_json::from_str(&raw).expect("a catalogue command message");
            let finished = matches!(message.command, CatalogCommand::FinishImport { .. });
            sent.push(Sent { message, raw });
            if finished {
                return sent;
            }
        }
    })
    .await
    .expect("the parser finishes the import")
}

/// The final state, error and checkpoint of the import.
fn finish(sent: &[Sent]) -> (ImportState, Option<String>, Option<DateTime<Utc>>) {
    match &sent.last().expect("at least FinishImport").message.command {
        CatalogCommand::FinishImport {
            state,
            error,
            checkpoint,
            ..
        } => (*state, error.clone(), *checkpoint),
        other => panic!("the last command is FinishImport, not {other:?}"),
    }
}

/// The `ImportPage` commands, as (page, materials, failure reasons).
fn pages(sent: &[Sent]) -> Vec<(i64, Vec<UpstreamMaterial>, Vec<String>)> {
    sent.iter()
        .filter_map(|sent| match &sent.message.command {
            CatalogCommand::ImportPage {
                page,
                materials,
                failures,
                ..
            } => Some((
                *page,
                materials.clone(),
                failures
                    .iter()
                    .map(|failure| failure.reason.clone())
                    .collect(),
            )),
            _ => None,
        })
        .collect()
}

fn starts_with_start_import(sent: &[Sent], import_id: Uuid) {
    assert!(
        matches!(
            sent.first().map(|sent| &sent.message.command),
            Some(CatalogCommand::StartImport { import_id: id }) if *id == import_id
        ),
        "StartImport comes first"
    );
    let mut ids: Vec<Uuid> = sent.iter().map(|sent| sent.message.command_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        sent.len(),
        "every command has its own command_id"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_2_a_rejected_token_fails_the_import_at_once_and_the_token_leaks_nowhere() {
    let crawl = start("parser_token", "kodik-cases", &[]).await;
    crawl
        .upstream
        .set_faults(&json!({"reject_token": true}))
        .await;

    let import_id = request_import(&crawl.platform, &[]).await;
    let sent = commands_until_finished(&crawl.platform, import_id).await;

    starts_with_start_import(&sent, import_id);
    let (state, error, checkpoint) = finish(&sent);
    assert_eq!(state, ImportState::Failed);
    let error = error.expect("a reason");
    assert!(
        error.contains("rejected the token"),
        "the reason names the rejected token: {error}"
    );
    assert_eq!(checkpoint, None);
    assert!(pages(&sent).is_empty(), "no page was imported");
    assert_eq!(
        crawl.upstream.requests("/list").await,
        1,
        "a rejected token is not retried"
    );

    // The line is written just after FinishImport was acknowledged.
    let logs = eventually("the import's last log line", || async {
        let logs = crawl.platform.all_logs();
        logs.contains("import finished").then_some(logs)
    })
    .await;
    for (what, text) in [
        ("the platform's logs", logs.as_str()),
        ("the upstream's log", crawl.upstream.log().as_str()),
    ] {
        assert!(!text.contains(&crawl.token), "the token appears in {what}");
    }
    for sent in &sent {
        assert!(
            !sent.raw.contains(&crawl.token),
            "the token is in a command"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_9_and_11_pages_chain_through_the_cursor_to_the_end_without_the_upstream_url() {
    let crawl = start("parser_pages", "kodik-cases", &[]).await;

    // The 11 case materials, three per page: four pages.
    let import_id = request_import(&crawl.platform, &[("limit", "3")]).await;
    let sent = commands_until_finished(&crawl.platform, import_id).await;

    starts_with_start_import(&sent, import_id);
    let (state, error, checkpoint) = finish(&sent);
    assert_eq!(state, ImportState::Succeeded, "{error:?}");
    let pages = pages(&sent);
    let numbers: Vec<i64> = pages.iter().map(|(page, _, _)| *page).collect();
    assert_eq!(numbers, [1, 2, 3, 4], "one ImportPage per page, in order");
    assert!(pages.iter().all(|(_, _, failures)| failures.is_empty()));
    let materials: Vec<&UpstreamMaterial> = pages
        .iter()
        .flat_map(|(_, materials, _)| materials)
        .collect();
    let mut ids: Vec<&str> = materials
        .iter()
        .map(|material| material.material_id.as_str())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 11, "every case material once: {ids:?}");
    assert_eq!(
        crawl.upstream.requests("/list").await,
        4,
        "every page was fetched from the configured server, once"
    );
    // The newest case material, serial-11, was updated on 2024-03-12 at 11:00.
    assert_eq!(
        checkpoint,
        Some("2024-03-12T11:00:00Z".parse().expect("a timestamp"))
    );

    // Case 11: ids are strings, a non-numeric mdl_id included.
    let naruto = materials
        .iter()
        .find(|material| material.material_id == "serial-1")
        .expect("serial-1 was imported");
    assert_eq!(naruto.external_ids.shikimori.as_deref(), Some("20"));
    assert_eq!(naruto.external_ids.kinopoisk.as_deref(), Some("283290"));
    assert_eq!(
        naruto.external_ids.mydramalist.as_deref(),
        Some("56743-mei-gui-qi-shi")
    );
    // Case 1 on the way: every link absolute https, none doubled.
    for material in &materials {
        for episode in &material.episodes {
            assert!(
                episode.player_link.starts_with("https://")
                    && !episode.player_link.contains("https:https:"),
                "{}: {}",
                material.material_id,
                episode.player_link
            );
        }
    }

    let logs = crawl.platform.all_logs();
    assert!(logs.contains("page imported"), "pages are logged at debug");
    assert!(
        !logs.contains("kodik-own-host"),
        "the next_page URL reached a log line"
    );
    assert!(!logs.contains(&crawl.token), "the token reached a log line");
    for sent in &sent {
        assert!(!sent.raw.contains("kodik-own-host"));
        assert!(!sent.raw.contains(&crawl.token));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_10_an_html_502_is_retried_with_backoff_and_the_import_goes_on() {
    let crawl = start("parser_502_then_ok", "kodik-cases", &[]).await;
    crawl
        .upstream
        .set_faults(&json!({"html_502_next": 2}))
        .await;

    let import_id = request_import(&crawl.platform, &[]).await;
    let sent = commands_until_finished(&crawl.platform, import_id).await;

    let (state, error, _) = finish(&sent);
    assert_eq!(state, ImportState::Succeeded, "{error:?}");
    let pages = pages(&sent);
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].1.len(), 11);
    assert_eq!(
        crawl.upstream.requests("/list").await,
        3,
        "two 502 answers, then the page"
    );
    assert!(
        crawl
            .platform
            .all_logs()
            .contains("upstream request failed, retrying")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_10_a_502_that_never_ends_records_the_page_as_failed() {
    let crawl = start("parser_502_forever", "kodik-cases", &[]).await;
    crawl.upstream.set_faults(&json!({"html_502": true})).await;

    let import_id = request_import(&crawl.platform, &[]).await;
    let sent = commands_until_finished(&crawl.platform, import_id).await;

    let (state, error, checkpoint) = finish(&sent);
    assert_eq!(state, ImportState::Failed);
    let error = error.expect("a reason");
    assert!(error.contains("HTTP 502"), "{error}");
    assert_eq!(checkpoint, None);
    let pages = pages(&sent);
    assert_eq!(pages.len(), 1, "the failed page is recorded");
    assert!(pages[0].1.is_empty());
    assert!(
        pages[0].2.iter().any(|reason| reason.contains("HTTP 502")),
        "{:?}",
        pages[0].2
    );
    assert_eq!(
        crawl.upstream.requests("/list").await,
        3,
        "the first attempt and KODIK_MAX_RETRIES=2 retries"
    );

    let mut platform = crawl.platform;
    let logs = platform.all_logs();
    assert!(!logs.contains("panicked"), "nothing panics");
    let status = platform.consumers.terminate();
    assert!(
        status.success(),
        "the consumers process is healthy and stops cleanly"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_12_a_stalled_upstream_times_out_is_retried_and_fails_clearly() {
    let crawl = start(
        "parser_stall",
        "kodik-cases",
        &[("KODIK_TIMEOUT_MS", "400"), ("KODIK_MAX_RETRIES", "1")],
    )
    .await;
    crawl.upstream.set_faults(&json!({"stall": true})).await;

    let import_id = request_import(&crawl.platform, &[]).await;
    let sent = commands_until_finished(&crawl.platform, import_id).await;

    let (state, error, _) = finish(&sent);
    assert_eq!(state, ImportState::Failed);
    let error = error.expect("a reason");
    assert!(error.contains("no answer within 400 ms"), "{error}");
    assert!(error.contains("after 2 attempts"), "{error}");
    assert_eq!(crawl.upstream.requests("/list").await, 2, "one retry");
    assert!(!error.contains("://"), "no URL in the reason: {error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_generated_catalogue_normalises_without_a_failure() {
    let crawl = start(
        "parser_full",
        "full",
        &[("KODIK_REQUESTS_PER_SECOND", "1000")],
    )
    .await;

    let import_id = request_import(&crawl.platform, &[]).await;
    let sent = commands_until_finished(&crawl.platform, import_id).await;

    let (state, error, _) = finish(&sent);
    assert_eq!(state, ImportState::Succeeded, "{error:?}");
    let pages = pages(&sent);
    let failures: Vec<&String> = pages.iter().flat_map(|(_, _, failures)| failures).collect();
    assert!(failures.is_empty(), "{failures:?}");
    let materials: usize = pages.iter().map(|(_, materials, _)| materials.len()).sum();
    // Every generated and hand-made material of the anime types, each once.
    assert!(materials > 30_000, "{materials} materials");
    assert_eq!(crawl.upstream.requests("/list").await, pages.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_import_stops_at_the_first_material_older_than_since() {
    let crawl = start("parser_incremental", "kodik-cases", &[]).await;

    // Case materials are updated from 2024-03-02 on, one a day; five are newer than
    // this: serial-11, serial-10, serial-9, movie-8 and serial-7.
    let since: DateTime<Utc> = "2024-03-08T00:00:00Z".parse().expect("a timestamp");
    let import_id = request_import_since(&crawl.platform, Some(since), &[("limit", "3")]).await;
    let sent = commands_until_finished(&crawl.platform, import_id).await;

    let (state, error, checkpoint) = finish(&sent);
    assert_eq!(state, ImportState::Succeeded, "{error:?}");
    let mut ids: Vec<String> = pages(&sent)
        .into_iter()
        .flat_map(|(_, materials, _)| materials)
        .map(|material| material.material_id)
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        ["movie-8", "serial-10", "serial-11", "serial-7", "serial-9"]
    );
    assert_eq!(
        crawl.upstream.requests("/list").await,
        2,
        "the crawl stops on the page where older materials begin"
    );
    assert_eq!(
        checkpoint,
        Some("2024-03-12T11:00:00Z".parse().expect("a timestamp"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_import_stops_before_the_next_page() {
    let crawl = start("parser_cancelled", "kodik-cases", &[]).await;
    let import_id = Uuid::now_v7();
    // What the read model shows once an admin cancelled the import.
    sqlx::query(
        "INSERT INTO read.imports (import_id, source, mode, state, counters, requested_at, version) \
         VALUES ($1, 'kodik', 'full', 'cancelled', '{}', now(), 2)",
    )
    .bind(import_id)
    .execute(&crawl.platform.db)
    .await
    .expect("a cancelled import row");

    publish_request(&crawl.platform, import_id, None, &[]).await;
    let sent = commands_until_finished(&crawl.platform, import_id).await;

    starts_with_start_import(&sent, import_id);
    let (state, error, checkpoint) = finish(&sent);
    assert_eq!(state, ImportState::Cancelled, "{error:?}");
    assert_eq!(checkpoint, None);
    assert!(pages(&sent).is_empty());
    assert_eq!(crawl.upstream.requests("/list").await, 0);
}
