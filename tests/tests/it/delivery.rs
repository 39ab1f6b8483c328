//! Delivery guarantees: nothing is lost while Kafka is down, a killed consumer
//! resumes without duplicating anything, and a poison record is parked in the
//! dead-letter topic while the group moves on.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use rdkafka::{
    ClientConfig, Message as _,
    consumer::{Consumer, StreamConsumer},
    message::Headers as _,
    producer::{FutureProducer, FutureRecord},
};
use uuid::Uuid;

use e2e::harness::{Platform, eventually, eventually_within, stack_env, stack_script};

async fn profiles_count(platform: &Platform) -> i64 {
    platform.count("read.user_profiles").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_are_accepted_while_kafka_is_down_and_delivered_after() {
    let platform = Platform::start_exclusive("kafka_outage").await;
    let first = platform.register_user("before-outage").await;
    platform.wait_profile(first).await;

    stack_script(&["down", "kafka"]);
    let mut registered = vec![first];
    for n in 0..20 {
        registered.push(platform.register_user(&format!("during-outage-{n}")).await);
    }
    let pending: i64 =
        sqlx::query_scalar("SELECT count(*) FROM write.outbox WHERE published_at IS NULL")
            .fetch_one(&platform.db)
            .await
            .expect("counting pending rows");
    assert!(pending > 0, "events wait in the outbox while Kafka is down");
    let readiness = platform
        .http
        .get(format!("{}/health/ready", platform.consumers_url))
        .send()
        .await
        .expect("consumers answer");
    assert_eq!(
        readiness.status(),
        503,
        "consumers report Kafka as a missing dependency"
    );

    stack_script(&["up", "kafka"]);
    // A consumer that never finds its coordinator again is replaced after
    // CONSUMER_STALL_SECS (60), and its replacement joins once the broker has expired
    // the member it replaced (session timeout, 45 s): recovery may then take longer
    // than the usual deadline.
    for user_id in &registered {
        eventually_within(
            &format!("the profile of {user_id}"),
            Duration::from_secs(150),
            || async { (platform.profile(*user_id).await.status() == 200).then_some(()) },
        )
        .await;
    }
    eventually("the outbox to drain", || async {
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM write.outbox WHERE published_at IS NULL")
                .fetch_one(&platform.db)
                .await
                .ok()?;
        (pending == 0).then_some(())
    })
    .await;
    assert_eq!(
        profiles_count(&platform).await,
        registered.len() as i64,
        "each profile once"
    );
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM read.user_profiles")
        .fetch_all(&platform.db)
        .await
        .expect("versions");
    assert!(versions.iter().all(|version| *version == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_killed_mid_stream_resumes_without_loss_or_duplicates() {
    let mut platform = Platform::start("projector_sigkill").await;
    let mut registered = Vec::new();
    for n in 0..15 {
        registered.push(platform.register_user(&format!("first-wave-{n}")).await);
    }
    eventually("some profiles to be projected", || async {
        (profiles_count(&platform).await > 0).then_some(())
    })
    .await;

    platform.kill_consumers();
    for n in 0..15 {
        registered.push(platform.register_user(&format!("second-wave-{n}")).await);
    }
    platform.restart_consumers().await;

    for user_id in &registered {
        platform.wait_profile(*user_id).await;
    }
    assert_eq!(profiles_count(&platform).await, 30);
    let distinct: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT username) FROM read.user_profiles")
            .fetch_one(&platform.db)
            .await
            .expect("counting");
    assert_eq!(distinct, 30);

    // A graceful stop drains and commits: the process exits cleanly and says so.
    let status = platform.consumers.terminate();
    assert!(status.success(), "consumers exit cleanly on SIGTERM");
    assert!(platform.consumers.log().contains("consumer group stopped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_record_goes_to_the_dead_letter_topic_and_the_group_moves_on() {
    let platform = Platform::start("poison_record").await;
    let before = platform.register_user("before-poison").await;
    platform.wait_profile(before).await;

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", stack_env().kafka_brokers)
        .create()
        .expect("a producer");
    let poison_key = Uuid::now_v7().to_string();
    producer
        .send(
            FutureRecord::to(&platform.topic("account.events"))
                .key(&poison_key)
                .payload("this is not an event envelope"),
            Duration::from_secs(10),
        )
        .await
        .expect("the poison record is written");

    let after = platform.register_user("after-poison").await;
    platform.wait_profile(after).await;

    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", stack_env().kafka_brokers)
        .set("group.id", format!("dlq-reader-{}", Uuid::now_v7()))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("a consumer");
    consumer
        .subscribe(&[&platform.topic("projector.dlq")])
        .expect("subscribing");
    let dead_letter = tokio::time::timeout(e2e::harness::DEADLINE, async {
        loop {
            let message = consumer
                .recv()
                .await
                .expect("reading the dead-letter topic");
            if message.key() == Some(poison_key.as_bytes()) {
                return message.detach();
            }
        }
    })
    .await
    .expect("the poison record reaches the dead-letter topic");

    assert_eq!(
        dead_letter.payload(),
        Some(b"this is not an event envelope".as_slice())
    );
    let headers = dead_letter.headers().expect("dead-letter headers");
    let header = |name: &str| {
        headers
            .iter()
            .find(|header| header.key == name)
            .and_then(|header| header.value)
            .map(|value| String::from_utf8_lossy(value).into_owned())
    };
    assert!(header("dlq.error").is_some_and(|error| error.contains("not an event envelope")));
    assert_eq!(
        header("dlq.source.topic"),
        Some(platform.topic("account.events"))
    );
    assert_eq!(header("dlq.group"), Some(platform.topic("projector")));
    assert!(header("dlq.source.offset").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_committed_close_together_share_a_relay_round() {
    // Long enough that every registration below commits within two rounds.
    let platform =
        Platform::start_with_env("relay_rounds", &[("OUTBOX_ROUND_INTERVAL_MS", "3000")]).await;
    let mut registered = Vec::new();
    for n in 0..12 {
        registered.push(platform.register_user(&format!("burst-{n}")).await);
    }
    for user_id in &registered {
        platform.wait_profile(*user_id).await;
    }
    // A round marks its rows in one statement, so they share `published_at`.
    let rounds: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT published_at) FROM write.outbox WHERE published_at IS NOT NULL",
    )
    .fetch_one(&platform.db)
    .await
    .expect("counting rounds");
    assert!(
        (1..=3).contains(&rounds),
        "12 events published in {rounds} rounds"
    );
}

/// The backend and last statement of the relay's notification connection.
async fn relay_subscription(platform: &Platform) -> Option<(i32, String)> {
    sqlx::query_as(
        "SELECT pid, query FROM pg_stat_activity \
         WHERE datname = current_database() AND query ~ '^(UN)?LISTEN \"outbox_pending\";?$' \
         ORDER BY backend_start DESC LIMIT 1",
    )
    .fetch_optional(&platform.db)
    .await
    .expect("reading pg_stat_activity")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_relay_unsubscribes_and_an_idle_one_is_woken_again() {
    // Polling so rare that only a notification can deliver the last event in time.
    let platform = Platform::start_with_env(
        "relay_wakeups",
        &[
            ("OUTBOX_ROUND_INTERVAL_MS", "1500"),
            ("OUTBOX_POLL_INTERVAL_MS", "600000"),
        ],
    )
    .await;
    let listening = |query: &str| query.starts_with("LISTEN");
    eventually("the relay to subscribe", || async {
        relay_subscription(&platform)
            .await
            .filter(|(_, query)| listening(query))
    })
    .await;

    // A registration every few hundred milliseconds keeps every round busy until the
    // relay unsubscribes.
    let stop = AtomicBool::new(false);
    let load = async {
        let mut registered = Vec::new();
        for n in 0..200 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            registered.push(platform.register_user(&format!("busy-{n}")).await);
            // Pacing of the load, not a wait for anything.
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        registered
    };
    let paused = async {
        let paused = eventually("the busy relay to unsubscribe", || async {
            relay_subscription(&platform)
                .await
                .filter(|(_, query)| query.starts_with("UNLISTEN"))
        })
        .await;
        stop.store(true, Ordering::Relaxed);
        paused
    };
    let (registered, (listener_pid, _)) = tokio::join!(load, paused);
    // The idle connection may die while the relay does not use it; it must then
    // subscribe on a new one.
    let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(listener_pid)
        .fetch_one(&platform.db)
        .await
        .expect("terminating the listener's backend");
    assert!(terminated);
    for user_id in &registered {
        platform.wait_profile(*user_id).await;
    }
    eventually("the idle relay to subscribe again", || async {
        relay_subscription(&platform)
            .await
            .filter(|(pid, query)| *pid != listener_pid && listening(query))
    })
    .await;

    let late = platform.register_user("after-the-burst").await;
    platform.wait_profile(late).await;
}
