//! Benchmark of a full catalogue import, against the real local stack and the local
//! Kodik-compatible server serving the whole committed catalogue (about 14,000
//! titles in 31,600 upstream rows with 331,000 episodes):
//!
//! - time from the admin's request until the import succeeded (crawl, commands and
//!   merge done), and until the catalogue read model holds every release at its
//!   final version;
//! - titles (releases) per second, upstream rows per second, video sources per second;
//! - each process's peak resident memory.
//!
//! `cargo build --release --workspace --bins && target/release/bench-import`

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use e2e::harness::{FakeKodik, Platform};
use serde_json::{Value, json};
use uuid::Uuid;

const TOKEN: &str = "bench-import-token";
const ADMIN_EMAIL: &str = "bench-admin@example.org";
const ADMIN_PASSWORD: &str = "quiet lantern harbor cinnamon";

async fn wait_long<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::main]
async fn main() {
    let upstream = FakeKodik::start("bench-import", "full", TOKEN, "https://kodik-api.com").await;
    let platform = Platform::start_with_env(
        "bench-import",
        &[
            ("BOOTSTRAP_ADMIN_EMAIL", ADMIN_EMAIL),
            ("BOOTSTRAP_ADMIN_USERNAME", "benchadmin"),
            ("BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("KODIK_BASE_URL", upstream.base_url.as_str()),
            ("KODIK_TOKEN", TOKEN),
            ("KODIK_REQUESTS_PER_SECOND", "1000"),
            (
                "CONSUMER_GROUPS",
                "projector,catalog-projector,indexer,import-projector,parser",
            ),
            ("LOG_LEVEL", "warn"),
        ],
    )
    .await;

    let session: Value = platform
        .http
        .post(format!("{}/v1/auth/login", platform.command_url))
        .json(&json!({"login": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .expect("command-api answers")
        .json()
        .await
        .expect("a session");
    let token = session["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned();

    let started = Instant::now();
    let accepted: Value = platform
        .http
        .post(format!("{}/v1/imports", platform.command_url))
        .bearer_auth(&token)
        .json(&json!({"source": "kodik", "mode": "full"}))
        .send()
        .await
        .expect("command-api answers")
        .json()
        .await
        .expect("an accepted import");
    let import_id = accepted["import_id"]
        .as_str()
        .expect("an import id")
        .to_owned();

    let view = wait_long(
        "the import to finish",
        Duration::from_secs(1800),
        || async {
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
        },
    )
    .await;
    let import_seconds = started.elapsed().as_secs_f64();
    assert_eq!(view["state"], "succeeded", "{view}");

    let releases = platform.count("write.releases").await;
    // The read model is complete when it holds, for every release and every
    // translation's sources, the newest version the command side published. Those
    // versions are fixed once the import succeeded, so they are read once.
    let expected: Vec<(Uuid, Option<i64>, i64)> = sqlx::query_as(
        "SELECT message_key::uuid, NULL::bigint, max((envelope->>'aggregate_version')::bigint) \
         FROM write.outbox WHERE event_type = 'release.upserted' GROUP BY 1 \
         UNION ALL \
         SELECT message_key::uuid, (envelope->'payload'->'translation'->>'id')::bigint, \
                max((envelope->>'aggregate_version')::bigint) \
         FROM write.outbox WHERE event_type = 'release.sources_upserted' GROUP BY 1, 2",
    )
    .fetch_all(&platform.db)
    .await
    .expect("the published versions");
    wait_long(
        "the read model to catch up",
        Duration::from_secs(1800),
        || async {
            let projected: Vec<(Uuid, Option<i64>, i64)> = sqlx::query_as(
                "SELECT release_id, NULL::bigint, version FROM read.releases \
                 UNION ALL \
                 SELECT release_id, translation_id, version FROM read.release_sources",
            )
            .fetch_all(&platform.db)
            .await
            .ok()?;
            let projected: HashMap<(Uuid, Option<i64>), i64> = projected
                .into_iter()
                .map(|(release, translation, version)| ((release, translation), version))
                .collect();
            expected
                .iter()
                .all(|(release, translation, version)| {
                    projected
                        .get(&(*release, *translation))
                        .is_some_and(|projected| projected >= version)
                })
                .then_some(())
        },
    )
    .await;
    let total_seconds = started.elapsed().as_secs_f64();

    let counters = &view["counters"];
    let materials = counters["materials"].as_f64().unwrap_or_default();
    let sources = counters["sources"].as_f64().unwrap_or_default();
    println!("full import of the committed catalogue");
    println!(
        "  upstream rows:  {materials:.0} in {} pages, {} failures",
        counters["pages"], counters["failures"]
    );
    println!("  releases:       {releases}");
    println!("  video sources:  {sources:.0}");
    println!("  import done:    {import_seconds:.1} s");
    println!(
        "  read model:     {total_seconds:.1} s (every release and sources set at its final version)"
    );
    println!("  titles/s:       {:.0}", releases as f64 / total_seconds);
    println!("  rows/s:         {:.0}", materials / total_seconds);
    println!("  sources/s:      {:.0}", sources / total_seconds);
    for (name, process) in [
        ("command-api", &platform.command_api),
        ("consumers", &platform.consumers),
        ("query-api", &platform.query_api),
        ("fake-kodik", &upstream.process),
    ] {
        let peak = process
            .peak_memory_mib()
            .map_or("?".to_owned(), |mib| format!("{mib:.0} MiB"));
        println!("  peak memory {name:<12} {peak}");
    }
}
