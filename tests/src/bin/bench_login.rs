//! Benchmark of sign-in, run against the real local stack:
//!
//! 1. **Throughput.** Logins of known users with the right password, `BENCH_CONCURRENCY`
//!    in flight, for `BENCH_SECONDS`. Baseline: raw argon2id verifications with the
//!    same parameters, one thread per core, for as long, just before. The ratio says
//!    how much the rest of a login (HTTP, database, outbox, token) costs on top of the
//!    password hash, which is what bounds it. `BENCH_ROUNDS` pairs of phases alternate,
//!    after `BENCH_BROKER_WARMUP_SECONDS` of produce requests to a scratch topic (the
//!    broker's JIT compiler gets its produce path hot, see `warm_broker`) and
//!    `BENCH_WARMUP_SECONDS` of logins that are not counted (the services and the
//!    database settle); each round prints its ratio and the CPU each program used in
//!    both phases.
//! 2. **Unknown vs known.** Sequential logins, alternating an unknown login name and a
//!    known user with a wrong password, then a known user with the right one; the
//!    medians should be within 10% so that timing does not reveal which accounts exist.
//!
//! `cargo build --release --workspace --bins && target/release/bench-login`
//! Settings (environment): `BENCH_SECONDS` (10) per phase, `BENCH_ROUNDS` (3),
//! `BENCH_BROKER_WARMUP_SECONDS` (20, 0 skips it), `BENCH_WARMUP_SECONDS` (10),
//! `BENCH_CONCURRENCY` (four per core), `BENCH_SAMPLES` per
//! kind for latency (40). Argon2 parameters are the services' defaults unless
//! `ARGON2_*` are set, which both the services and the baseline read.
//!
//! Four logins per core in flight: command-api hashes one password per core at a
//! time, and each login also spends a few milliseconds outside the hash (the
//! database commit, the answer, the next request). With only two per core, both
//! spares of a core are sometimes in that part at once and the core waits; the figure
//! would then measure the client's pacing rather than the most logins the service
//! can do.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use argon2::{
    Algorithm, Argon2, Block, Params, PasswordHash, PasswordHasher, Version,
    password_hash::phc::Output,
};
use e2e::{
    cpu::CpuSnapshot,
    harness::{Platform, stack_env},
};
use rdkafka::{
    ClientConfig,
    admin::{AdminClient, AdminOptions},
    client::DefaultClientContext,
    producer::{FutureProducer, FutureRecord},
};
use serde_json::json;

const PASSWORD: &str = "velvet kettle orbit marmalade";
const USERS: usize = 16;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn cores() -> u64 {
    std::thread::available_parallelism().map_or(2, |n| n.get() as u64)
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

// One thread: the load generator shares the cores with what it measures, and a
// single-threaded client spends the least CPU per request.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let seconds = setting("BENCH_SECONDS", 10);
    let concurrency = setting("BENCH_CONCURRENCY", cores() * 4);
    let warmup = setting("BENCH_WARMUP_SECONDS", 10);
    let samples = setting("BENCH_SAMPLES", 40) as usize;
    let broker_warmup = setting("BENCH_BROKER_WARMUP_SECONDS", 20);
    let rounds = setting("BENCH_ROUNDS", 3).max(1);
    let params = Params::new(
        setting("ARGON2_MEMORY_KIB", 19_456) as u32,
        setting("ARGON2_ITERATIONS", 2) as u32,
        setting("ARGON2_PARALLELISM", 1) as u32,
        None,
    )
    .expect("argon2 parameters");
    println!(
        "bench-login: {} cores, argon2id m={} t={} p={}, {seconds} s per phase, {concurrency} in flight",
        cores(),
        params.m_cost(),
        params.t_cost(),
        params.p_cost()
    );

    let platform = Platform::start("bench_login").await;
    for n in 0..USERS {
        platform.register_user(&format!("bench{n}")).await;
    }

    if broker_warmup > 0 {
        let rounds = warm_broker(&platform, broker_warmup).await;
        println!("broker warm-up: {rounds} rounds of {WARMUP_ROUND} records in {broker_warmup} s");
    }
    if warmup > 0 {
        let logins = logins_per_second(&platform, concurrency, warmup).await;
        println!("warm-up: {logins:.1} logins/s for {warmup} s, not counted");
    }

    // Raw and login phases alternate, so that a change in the load other programs put
    // on the machine weighs on both sides of each ratio alike.
    let mut ratios = Vec::new();
    for round in 1..=rounds {
        let before = CpuSnapshot::take();
        let raw = raw_verifications_per_second(params.clone(), seconds);
        let during_raw = CpuSnapshot::take().usage_since(&before);
        let before = CpuSnapshot::take();
        let logins = logins_per_second(&platform, concurrency, seconds).await;
        let during_logins = CpuSnapshot::take().usage_since(&before);
        println!(
            "round {round}: raw argon2id verifications {raw:.1}/s, logins (known user, right password) {logins:.1}/s, ratio {:.2}",
            logins / raw
        );
        during_raw.print(&format!("round {round}: CPU during raw argon2id"));
        during_logins.print(&format!("round {round}: CPU during the logins"));
        ratios.push(logins / raw);
    }
    println!(
        "ratio logins/raw, median of {rounds} rounds: {:.2} (goal >= 0.9)",
        median(ratios)
    );

    let (unknown, wrong, right) = latencies(&platform, samples).await;
    println!("median latency unknown user: {unknown:.1} ms");
    println!("median latency known user, wrong password: {wrong:.1} ms");
    println!("median latency known user, right password: {right:.1} ms");
    println!(
        "unknown vs known-wrong: {:+.1}%, unknown vs known-right: {:+.1}% (goal within 10%)",
        (unknown - wrong) / wrong * 100.0,
        (unknown - right) / right * 100.0
    );
}

/// Records per round of the broker's warm-up: about what the relay publishes per
/// round during the logins.
const WARMUP_ROUND: usize = 10;

/// Sends rounds of records to a scratch topic, back to back, with the relay's
/// producer settings, and returns how many rounds were acknowledged. The topic is
/// deleted afterwards (it holds tens of megabytes).
///
/// The broker's JIT compiler optimises a request path once it has run some thousands
/// of times. The relay sends about ten produce requests a second during the logins,
/// so on a freshly started broker that takes many minutes, and the compiler's bursts
/// (5-18% of a core) land in the measured phases. A running site's broker is past
/// that; these rounds take it there before anything is measured.
async fn warm_broker(platform: &Platform, seconds: u64) -> u64 {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", stack_env().kafka_brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "lz4")
        // The relay lingers 5 ms to fill its batches; here every round is whole
        // already, and waiting would only make fewer rounds.
        .set("linger.ms", "0")
        .create()
        .expect("a producer");
    let topic = platform.topic("bench.broker-warmup");
    let payload =
        json!({"user_id": uuid::Uuid::nil(), "logged_in_at": "2026-01-01T00:00:00Z"}).to_string();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut rounds = 0;
    while Instant::now() < deadline {
        let sends = (0..WARMUP_ROUND).map(|n| {
            let (producer, topic, payload) = (&producer, &topic, &payload);
            async move {
                let key = format!("session-{n}");
                producer
                    .send(
                        FutureRecord::to(topic).key(&key).payload(payload),
                        Duration::from_secs(30),
                    )
                    .await
                    .map_err(|(error, _)| error)
            }
        });
        for outcome in futures::future::join_all(sends).await {
            outcome.expect("the broker acknowledges a warm-up record");
        }
        rounds += 1;
    }
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", stack_env().kafka_brokers)
        .create()
        .expect("an admin client");
    let deleted = admin
        .delete_topics(&[topic.as_str()], &AdminOptions::new())
        .await
        .expect("the broker answers a topic deletion");
    for outcome in deleted {
        outcome.expect("the warm-up topic is deleted");
    }
    rounds
}

/// One thread per core verifying a stored hash, each in working memory it keeps
/// between verifications (as the services' hashing jobs do).
fn raw_verifications_per_second(params: Params, seconds: u64) -> f64 {
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let stored = argon2
        .hash_password(PASSWORD.as_bytes())
        .expect("hashing")
        .to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..cores())
        .map(|_| {
            let (argon2, stored) = (argon2.clone(), stored.clone());
            let (stop, count) = (stop.clone(), count.clone());
            let blocks = params.block_count();
            std::thread::spawn(move || {
                let mut memory = vec![Block::new(); blocks];
                while !stop.load(Ordering::Relaxed) {
                    let parsed = PasswordHash::new(&stored).expect("a PHC string");
                    let (salt, expected) = (parsed.salt.expect("salt"), parsed.hash.expect("hash"));
                    let mut computed = vec![0_u8; expected.len()];
                    argon2
                        .hash_password_into_with_memory(
                            PASSWORD.as_bytes(),
                            &salt,
                            &mut computed,
                            &mut memory,
                        )
                        .expect("hashing");
                    assert!(Output::new(&computed).expect("an output") == expected);
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().expect("a verifier thread");
    }
    count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

async fn login(platform: &Platform, login: &str, password: &str) -> u16 {
    let response = platform
        .http
        .post(format!("{}/v1/auth/login", platform.command_url))
        .json(&json!({"login": login, "password": password}))
        .send()
        .await
        .expect("command-api answers");
    let status = response.status().as_u16();
    // Read to the end, as a real client does: a connection whose answer was left
    // unread cannot carry the next request, and a new connection per login would
    // add work to both sides that a real client does not cause.
    response.bytes().await.expect("the answer's body");
    status
}

async fn logins_per_second(platform: &Platform, concurrency: u64, seconds: u64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let workers = (0..concurrency).map(|worker| async move {
        let mut done = 0_u64;
        let mut n = worker as usize;
        while Instant::now() < deadline {
            let status = login(platform, &format!("bench{}", n % USERS), PASSWORD).await;
            assert_eq!(status, 200, "a login succeeds");
            done += 1;
            n += 1;
        }
        done
    });
    let total: u64 = futures::future::join_all(workers).await.into_iter().sum();
    total as f64 / started.elapsed().as_secs_f64()
}

async fn latencies(platform: &Platform, samples: usize) -> (f64, f64, f64) {
    let (mut unknown, mut wrong, mut right) = (Vec::new(), Vec::new(), Vec::new());
    for n in 0..samples {
        let started = Instant::now();
        assert_eq!(login(platform, &format!("nobody{n}"), PASSWORD).await, 401);
        unknown.push(started.elapsed().as_secs_f64() * 1000.0);

        let started = Instant::now();
        assert_eq!(
            login(platform, &format!("bench{}", n % USERS), "not the password").await,
            401
        );
        wrong.push(started.elapsed().as_secs_f64() * 1000.0);

        let started = Instant::now();
        assert_eq!(
            login(platform, &format!("bench{}", n % USERS), PASSWORD).await,
            200
        );
        right.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    (median(unknown), median(wrong), median(right))
}
