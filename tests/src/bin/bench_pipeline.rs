//! Benchmark of the event pipeline, run against the real local stack:
//!
//! 1. **Relay throughput.** A backlog of outbox rows is inserted while no relay runs,
//!    then one relay publishes it. Reported: events/s between the first and the last
//!    row marked published. Baseline in the same run: the same number of records of
//!    the same size sent straight to Kafka by one producer with the relay's settings.
//! 2. **End-to-end lag.** Registrations at a steady rate; for each, the time from the
//!    command being saved to the profile row being readable in the read model (both
//!    timestamps come from this machine's clock). Reported: p50, p99, max.
//!
//! `cargo build --release --workspace --bins && target/release/bench-pipeline`
//! Settings (environment): `BENCH_EVENTS` (50000), `BENCH_RATE` per second (20),
//! `BENCH_SECONDS` (20).

use std::time::{Duration, Instant};

use e2e::harness::{Platform, eventually, free_port, stack_env};
use rdkafka::{
    ClientConfig,
    producer::{FutureProducer, FutureRecord},
};
use serde_json::json;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let events = setting("BENCH_EVENTS", 50_000);
    let rate = setting("BENCH_RATE", 20);
    let seconds = setting("BENCH_SECONDS", 20);
    println!("bench-pipeline: {events} outbox events; registrations at {rate}/s for {seconds} s");

    relay_throughput(events).await;
    end_to_end_lag(rate, seconds).await;
}

/// A representative envelope: the size of a real `user.registered` event.
fn sample_envelope(n: u64) -> String {
    json!({
        "event_id": format!("0193a1b2-0000-7000-8000-{n:012}"),
        "event_type": "bench.event",
        "schema_version": 1,
        "aggregate_type": "bench",
        "aggregate_id": format!("aggregate-{}", n % 1000),
        "aggregate_version": n / 1000 + 1,
        "occurred_at": "2026-12-04T16:20:00.123456Z",
        "correlation_id": "bench",
        "actor": {"kind": "system", "name": "bench"},
        "payload": {"user_id": "019aeb2c-529f-7b40-8b1e-8d1f2a3c4b5d", "username": "hikari", "role": "user", "registered_at": "2026-12-04T16:20:00.120000Z"}
    })
    .to_string()
}

async fn relay_throughput(events: u64) {
    let platform =
        Platform::start_with_env("bench-relay", &[("OUTBOX_RELAY_ENABLED", "false")]).await;
    let topic = platform.topic("bench.relay");

    let started = Instant::now();
    sqlx::query(
        "INSERT INTO write.outbox (topic, message_key, event_id, event_type, schema_version, correlation_id, envelope) \
         SELECT $1, 'aggregate-' || (n % 1000), gen_random_uuid(), 'bench.event', 1, 'bench', $2::json \
         FROM generate_series(1, $3::bigint) AS n",
    )
    .bind(&topic)
    .bind(sample_envelope(1))
    .bind(events as i64)
    .execute(&platform.db)
    .await
    .expect("inserting the backlog");
    println!(
        "backlog of {events} rows inserted in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let _relay = platform.spawn_service(
        "command-api",
        &[
            ("OUTBOX_RELAY_ENABLED", "true"),
            ("COMMAND_API_LISTEN", &listen),
        ],
    );
    eventually("the relay to drain the backlog", || async {
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM write.outbox WHERE published_at IS NULL")
                .fetch_one(&platform.db)
                .await
                .ok()?;
        (pending == 0).then_some(())
    })
    .await;
    let span_seconds: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM max(published_at) - min(published_at))::float8 FROM write.outbox",
    )
    .fetch_one(&platform.db)
    .await
    .expect("measuring the publishing span");
    // The first batch is marked only after it was acknowledged, so the span misses
    // one batch; count the events after the first batch over the span.
    let first_batch: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM write.outbox WHERE published_at = (SELECT min(published_at) FROM write.outbox)",
    )
    .fetch_one(&platform.db)
    .await
    .expect("counting the first batch");
    let relay_rate = (events as f64 - first_batch as f64) / span_seconds.max(1e-6);

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", stack_env().kafka_brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "lz4")
        .set("linger.ms", "5")
        .create()
        .expect("a producer");
    let baseline_topic = platform.topic("bench.baseline");
    let payload = sample_envelope(1);
    let started = Instant::now();
    let mut sent = 0;
    while sent < events {
        let chunk = (events - sent).min(1000);
        let deliveries = (sent..sent + chunk).map(|n| {
            let key = format!("aggregate-{}", n % 1000);
            let payload = payload.clone();
            let producer = producer.clone();
            let topic = baseline_topic.clone();
            async move {
                producer
                    .send(
                        FutureRecord::to(&topic).key(&key).payload(&payload),
                        Duration::from_secs(30),
                    )
                    .await
                    .map(drop)
                    .map_err(|(error, _)| error)
            }
        });
        for outcome in futures::future::join_all(deliveries).await {
            outcome.expect("baseline delivery");
        }
        sent += chunk;
    }
    let baseline_rate = events as f64 / started.elapsed().as_secs_f64();

    println!("relay throughput:     {relay_rate:>10.0} events/s");
    println!(
        "kafka producer alone: {baseline_rate:>10.0} events/s (same batches of 1000, same settings)"
    );
    println!("relay / baseline:     {:>10.2}", relay_rate / baseline_rate);
}

async fn end_to_end_lag(rate: u64, seconds: u64) {
    let platform = Platform::start("bench-lag").await;
    let total = rate * seconds;
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    let mut registrations = tokio::task::JoinSet::new();
    let started = Instant::now();
    for n in 0..total {
        ticker.tick().await;
        let http = platform.http.clone();
        let url = format!("{}/v1/auth/register", platform.command_url);
        registrations.spawn(async move {
            let response = http
                .post(url)
                .json(&json!({"email": format!("bench{n}@example.org"), "username": format!("bench{n}"), "password": "velvet kettle orbit marmalade"}))
                .send()
                .await;
            response.map(|response| response.status().as_u16()).unwrap_or(0)
        });
    }
    let mut accepted = 0;
    while let Some(status) = registrations.join_next().await {
        if status.expect("registration task") == 201 {
            accepted += 1;
        }
    }
    let offered = started.elapsed().as_secs_f64();
    eventually("every profile to be projected", || async {
        let projected = platform.count("read.user_profiles").await;
        (projected >= accepted).then_some(())
    })
    .await;

    let mut lags: Vec<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM p.projected_at - u.updated_at)::float8 * 1000 \
         FROM read.user_profiles p JOIN write.users u ON u.id = p.user_id",
    )
    .fetch_all(&platform.db)
    .await
    .expect("reading lags");
    lags.sort_by(f64::total_cmp);
    println!(
        "end-to-end lag over {} registrations ({:.1}/s achieved): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lags.len(),
        accepted as f64 / offered,
        percentile(&lags, 0.50),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or_default()
    );
}
