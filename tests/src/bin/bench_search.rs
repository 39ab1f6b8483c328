//! Benchmark of the catalogue read side and search over the real catalogue (14k
//! titles of `tools/fake-kodik/catalogue.jsonl.gz`), from this process against a
//! query-api on loopback:
//!
//! - **Fixed rate**: 200 requests/s (open loop: latency counts from the scheduled send
//!   time, so a stall is not hidden) for suggest, search, a catalogue page, and a
//!   release detail (cache hit and cache miss).
//! - **Maximum throughput**: 8 clients in closed loops, same scenarios.
//! - **Baseline**: the same search and suggest bodies (`query-api search-body`) sent
//!   straight to the search engine, at the same rate and with 8 clients.
//!
//! Reported: throughput, p50 and p99 per scenario, and our p50 over the engine's for
//! suggest and search. Every scenario is first run unmeasured with 8 clients for a few
//! seconds, so that the engine's and our code paths are warm (JIT, caches, connection
//! pools); then rounds of short runs take the scenarios in turn, and each row pools
//! its rounds, so that the machine's changing load weighs on baseline and routes alike.
//!
//! `cargo build --release --workspace --bins && target/release/bench-search`
//! Settings (environment): `BENCH_RATE` (200), `BENCH_SECONDS` (5, per run),
//! `BENCH_ROUNDS` (3: runs per scenario and load, taken in turns), `BENCH_CLIENTS` (8),
//! `BENCH_WARMUP_SECONDS` (3), `BENCH_SETTLE_SECONDS` (60, the pause between loading
//! and measuring), `BENCH_SCENARIOS` (all; a comma-separated list of words, keeping the
//! scenarios whose name contains one), `BENCH_RATE_LIMIT` (on: the per-client limit
//! counts every request in Redis, with a budget no run exhausts; `off` leaves it out,
//! to see what it costs).

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use e2e::{
    catalogue::{CataloguePublisher, real_catalogue},
    cpu::{CpuSnapshot, CpuUsage},
    harness::{Platform, binary, stack_env},
};
use futures::future::join_all;
use serde_json::Value;
use uuid::Uuid;

const SEARCHES: &[&str] = &[
    "naruto",
    "death note",
    "стальная тревога",
    "shingeki no kyojin",
    "attack on titan",
    "евангелион",
    "進撃の巨人",
    "cowboy bebop",
    "tokyo ghoul",
    "fullmetal alchemist",
    "sword art online",
    "one piece",
    "унесенные призраками",
    "steins gate",
    "gintama",
    "code geass",
    "toradroa",
    "dgrayman",
    "spice and wolf",
    "мастер меча онлайн",
];
const SUGGESTS: &[&str] = &[
    "nar", "deat", "стал", "shinge", "atta", "еван", "進撃", "cowb", "toky", "fullm", "swor",
    "one p", "унес", "stei", "gint", "code g", "tora", "d gr", "spic", "маст",
];

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn encode(text: &str) -> String {
    let mut encoded = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// One request of a scenario: the n-th request to send.
#[derive(Clone)]
enum Request {
    Get(String),
    Post(String, String),
}

type Scenario = Arc<dyn Fn(usize) -> Request + Send + Sync>;

#[derive(Default)]
struct Outcome {
    sent: usize,
    failed: usize,
    seconds: f64,
    latencies_ms: Vec<f64>,
}

impl Outcome {
    /// Adds another run of the same scenario.
    fn merge(&mut self, other: Outcome) {
        self.sent += other.sent;
        self.failed += other.failed;
        self.seconds += other.seconds;
        self.latencies_ms.extend(other.latencies_ms);
    }

    fn report(&self, name: &str, mode: &str) -> (f64, f64) {
        let mut sorted = self.latencies_ms.clone();
        sorted.sort_by(f64::total_cmp);
        let (p50, p99) = (percentile(&sorted, 0.50), percentile(&sorted, 0.99));
        println!(
            "| {name} | {mode} | {:.0} | {p50:.2} | {p99:.2} | {} |",
            self.sent as f64 / self.seconds,
            self.failed
        );
        (p50, p99)
    }
}

async fn send(http: &reqwest::Client, request: Request) -> bool {
    let response = match request {
        Request::Get(url) => http.get(url).send().await,
        Request::Post(url, body) => {
            http.post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
        }
    };
    match response {
        Ok(response) => {
            let ok = response.status().is_success();
            ok && response.bytes().await.is_ok()
        }
        Err(_) => false,
    }
}

/// Open loop at `rate` per second for `seconds`.
async fn fixed_rate(
    http: &reqwest::Client,
    scenario: Scenario,
    rate: u64,
    seconds: u64,
) -> Outcome {
    let total = (rate * seconds) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for n in 0..total {
        let scheduled = start + interval * n as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        let http = http.clone();
        let request = scenario(n);
        tasks.push(tokio::spawn(async move {
            let ok = send(&http, request).await;
            (ok, scheduled.elapsed().as_secs_f64() * 1000.0)
        }));
    }
    let results = join_all(tasks).await;
    let seconds = start.elapsed().as_secs_f64();
    let mut outcome = Outcome {
        sent: total,
        failed: 0,
        seconds,
        latencies_ms: Vec::with_capacity(total),
    };
    for (ok, latency) in results.into_iter().flatten() {
        if ok {
            outcome.latencies_ms.push(latency);
        } else {
            outcome.failed += 1;
        }
    }
    outcome
}

/// `clients` closed loops for `seconds`, or until `limit` requests were sent.
async fn max_throughput(
    http: &reqwest::Client,
    scenario: Scenario,
    clients: usize,
    seconds: u64,
    limit: usize,
) -> Outcome {
    let counter = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let loops = (0..clients).map(|_| {
        let http = http.clone();
        let scenario = scenario.clone();
        let counter = counter.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failed = 0;
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                if n >= limit {
                    break;
                }
                let sent_at = Instant::now();
                if send(&http, scenario(n)).await {
                    latencies.push(sent_at.elapsed().as_secs_f64() * 1000.0);
                } else {
                    failed += 1;
                }
            }
            (latencies, failed)
        })
    });
    let results = join_all(loops).await;
    let seconds = start.elapsed().as_secs_f64();
    let mut outcome = Outcome {
        sent: 0,
        failed: 0,
        seconds,
        latencies_ms: Vec::new(),
    };
    for (latencies, failed) in results.into_iter().flatten() {
        outcome.sent += latencies.len() + failed;
        outcome.failed += failed;
        outcome.latencies_ms.extend(latencies);
    }
    outcome
}

fn engine_body(query: &str, suggest: bool) -> String {
    let mut command = std::process::Command::new(binary("query-api"));
    command.arg("search-body").arg(query);
    if suggest {
        command.arg("--suggest");
    }
    let output = command.output().expect("query-api search-body");
    String::from_utf8(output.stdout)
        .expect("UTF-8")
        .trim()
        .to_owned()
}

#[tokio::main]
async fn main() {
    let rate = setting("BENCH_RATE", 200);
    let seconds = setting("BENCH_SECONDS", 5);
    let rounds = setting("BENCH_ROUNDS", 3).max(1);
    let clients = setting("BENCH_CLIENTS", 8) as usize;
    let warmup = setting("BENCH_WARMUP_SECONDS", 3);
    let limit = match std::env::var("BENCH_RATE_LIMIT").as_deref() {
        Ok("off") => "0",
        _ => "100000000",
    };
    println!("bench-search: per-client rate limit {limit} a minute (0: off)");
    let platform = Platform::start_with_env(
        "bench_search",
        &[("LOG_LEVEL", "warn"), ("RATE_LIMIT_PER_MINUTE", limit)],
    )
    .await;
    let query_url = platform.query_url.clone();
    let search_url =
        std::env::var("SEARCH_URL").unwrap_or_else(|_| "http://127.0.0.1:59200".to_owned());
    let alias = format!("{}releases", platform.topic_prefix.to_lowercase());

    let catalogue = real_catalogue();
    let ids: Vec<Uuid> = catalogue
        .iter()
        .map(|(_, event)| event.release_id)
        .collect();
    println!("bench-search: loading {} releases", ids.len());
    let publisher = CataloguePublisher::new(
        &stack_env().kafka_brokers,
        &platform.topic("catalog.events"),
    );
    publisher
        .publish_all(
            catalogue
                .into_iter()
                .map(|(_, event)| (event.release_id, 1, event))
                .collect(),
        )
        .await;
    loop {
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM read.releases")
            .fetch_one(&platform.db)
            .await
            .unwrap_or_default();
        if count >= ids.len() as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut reindex = std::process::Command::new(binary("consumers"));
    reindex.arg("reindex");
    for (key, value) in platform.service_env() {
        reindex.env(key, value);
    }
    let output = reindex.output().expect("consumers reindex");
    assert!(output.status.success(), "reindex failed");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    loop {
        let body: Value = http
            .get(format!("{search_url}/{alias}/_count"))
            .send()
            .await
            .expect("the engine answers")
            .json()
            .await
            .unwrap_or_default();
        if body["count"].as_i64().unwrap_or_default() >= ids.len() as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Let the indexer's backlog (harmless version conflicts by now) drain before timing.
    tokio::time::sleep(Duration::from_secs(setting("BENCH_SETTLE_SECONDS", 60))).await;

    let search_bodies: Arc<Vec<String>> = Arc::new(
        SEARCHES
            .iter()
            .map(|query| engine_body(query, false))
            .collect(),
    );
    let suggest_bodies: Arc<Vec<String>> = Arc::new(
        SUGGESTS
            .iter()
            .map(|query| engine_body(query, true))
            .collect(),
    );
    let hot: Arc<Vec<Uuid>> = Arc::new(ids[..50].to_vec());
    let ids = Arc::new(ids);
    // Cache misses take ids nobody asked for yet: a moving offset into the catalogue.
    let miss_offset = Arc::new(AtomicUsize::new(100));

    let url = query_url.clone();
    let suggest: Scenario = Arc::new(move |n| {
        Request::Get(format!(
            "{url}/v1/suggest?q={}",
            encode(SUGGESTS[n % SUGGESTS.len()])
        ))
    });
    let url = query_url.clone();
    let search: Scenario = Arc::new(move |n| {
        Request::Get(format!(
            "{url}/v1/search?q={}",
            encode(SEARCHES[n % SEARCHES.len()])
        ))
    });
    let url = query_url.clone();
    let page: Scenario = Arc::new(move |n| {
        let kinds = ["tv", "movie", "ova", "special"];
        let sorts = ["popularity", "score", "year", "title"];
        Request::Get(format!(
            "{url}/v1/releases?kind={}&sort={}",
            kinds[n % 4],
            sorts[(n / 4) % 4]
        ))
    });
    let url = query_url.clone();
    let hot_ids = hot.clone();
    let detail_hit: Scenario = Arc::new(move |n| {
        Request::Get(format!("{url}/v1/releases/{}", hot_ids[n % hot_ids.len()]))
    });
    let url = query_url.clone();
    let all_ids = ids.clone();
    let offset = miss_offset.clone();
    let detail_miss: Scenario = Arc::new(move |_| {
        let at = offset.fetch_add(1, Ordering::Relaxed) % all_ids.len();
        Request::Get(format!("{url}/v1/releases/{}", all_ids[at]))
    });
    let engine = format!("{search_url}/{alias}/_search");
    let bodies = search_bodies.clone();
    let engine_search: Scenario =
        Arc::new(move |n| Request::Post(engine.clone(), bodies[n % bodies.len()].clone()));
    let engine = format!("{search_url}/{alias}/_search");
    let bodies = suggest_bodies.clone();
    let engine_suggest: Scenario =
        Arc::new(move |n| Request::Post(engine.clone(), bodies[n % bodies.len()].clone()));

    // Warm the hot details (cache hits) and the connection pools.
    for id in hot.iter() {
        send(&http, Request::Get(format!("{query_url}/v1/releases/{id}"))).await;
    }
    // The cache-miss scenario asks each id at most once per run, after the cached
    // details were dropped: with 14k ids, a run at maximum throughput is cut short
    // rather than wrapping around to ids it already cached.
    let scenarios: Vec<(&str, Scenario, usize)> = vec![
        ("engine: search (baseline)", engine_search, usize::MAX),
        ("engine: suggest (baseline)", engine_suggest, usize::MAX),
        ("suggest", suggest, usize::MAX),
        ("search", search, usize::MAX),
        ("catalogue page", page, usize::MAX),
        ("detail, cache hit", detail_hit, usize::MAX),
        ("detail, cache miss", detail_miss, ids.len()),
    ];
    // `BENCH_SCENARIOS=suggest,search` keeps the scenarios whose name contains one of
    // the words (the engine's baselines included), to look at one path closely.
    let scenarios: Vec<_> = match std::env::var("BENCH_SCENARIOS") {
        Ok(wanted) if !wanted.trim().is_empty() => scenarios
            .into_iter()
            .filter(|(name, _, _)| {
                wanted
                    .split(',')
                    .any(|word| !word.trim().is_empty() && name.contains(word.trim()))
            })
            .collect(),
        _ => scenarios,
    };
    let redis = redis::Client::open(
        platform
            .service_env()
            .iter()
            .find(|(key, _)| key == "REDIS_URL")
            .map(|(_, url)| url.as_str())
            .expect("the platform's Redis URL"),
    )
    .expect("a Redis URL")
    .get_multiplexed_async_connection()
    .await
    .expect("Redis answers");
    let cached_details = format!("{}catalog:release:*", platform.topic_prefix);
    let forget_details = || {
        let mut redis = redis.clone();
        let pattern = cached_details.clone();
        async move {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(&pattern)
                .query_async(&mut redis)
                .await
                .expect("listing cached details");
            for chunk in keys.chunks(1000) {
                let () = redis::cmd("DEL")
                    .arg(chunk)
                    .query_async(&mut redis)
                    .await
                    .expect("dropping cached details");
            }
        }
    };
    // Every scenario warms up first; then rounds of short runs go through all of them
    // in turn, so that a change in the machine's load from other programs weighs on
    // the engine's baseline and on our routes alike. Each row pools its rounds.
    for (_, scenario, limit) in &scenarios {
        max_throughput(&http, scenario.clone(), clients, warmup, *limit).await;
    }
    let mut at_rate: Vec<Outcome> = scenarios.iter().map(|_| Outcome::default()).collect();
    let mut at_max: Vec<Outcome> = scenarios.iter().map(|_| Outcome::default()).collect();
    let mut cpu_at_max: Vec<CpuUsage> = scenarios.iter().map(|_| CpuUsage::default()).collect();
    for _ in 0..rounds {
        for ((_, scenario, limit), pooled) in scenarios.iter().zip(&mut at_rate) {
            if *limit < usize::MAX {
                forget_details().await;
            }
            pooled.merge(fixed_rate(&http, scenario.clone(), rate, seconds).await);
        }
    }
    for _ in 0..rounds {
        for (((_, scenario, limit), pooled), cpu) in
            scenarios.iter().zip(&mut at_max).zip(&mut cpu_at_max)
        {
            if *limit < usize::MAX {
                forget_details().await;
            }
            let before = CpuSnapshot::take();
            pooled.merge(max_throughput(&http, scenario.clone(), clients, seconds, *limit).await);
            cpu.merge(CpuSnapshot::take().usage_since(&before));
        }
    }
    println!(
        "\n| scenario | load | req/s | p50 ms | p99 ms | failed |\n| --- | --- | --- | --- | --- | --- |"
    );
    let mut p50s = Vec::new();
    for (outcomes, load) in [
        (&at_rate, format!("{rate}/s")),
        (&at_max, format!("max, {clients} clients")),
    ] {
        for ((name, _, _), outcome) in scenarios.iter().zip(outcomes) {
            let (p50, _) = outcome.report(name, &load);
            p50s.push((*name, load.clone(), p50));
        }
    }
    println!();
    for ((name, _, _), cpu) in scenarios.iter().zip(&cpu_at_max) {
        cpu.print(&format!("CPU at max, {name}"));
    }
    println!();
    for (ours, engine) in [
        ("suggest", "engine: suggest (baseline)"),
        ("search", "engine: search (baseline)"),
    ] {
        for load in [format!("{rate}/s"), format!("max, {clients} clients")] {
            let p50_of = |wanted: &str| {
                p50s.iter()
                    .find(|(name, at, _)| *name == wanted && *at == load)
                    .map(|(_, _, p50)| *p50)
            };
            if let (Some(ours_p50), Some(engine_p50)) = (p50_of(ours), p50_of(engine)) {
                println!(
                    "{ours} p50 / engine p50 at {load}: {:.2} (goal <= 1.25)",
                    ours_p50 / engine_p50
                );
            }
        }
    }
    let alias_targets: Value = http
        .get(format!("{search_url}/_alias/{alias}"))
        .send()
        .await
        .expect("the engine answers")
        .json()
        .await
        .unwrap_or_default();
    for index in alias_targets
        .as_object()
        .into_iter()
        .flat_map(|indexes| indexes.keys())
    {
        let _ = http.delete(format!("{search_url}/{index}")).send().await;
    }
}
