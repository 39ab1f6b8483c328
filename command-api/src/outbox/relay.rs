//! The outbox relay: publishes pending outbox rows to Kafka.
//!
//! Guarantees:
//! - **Nothing lost.** A row is marked published only after Kafka acknowledged it
//!   (`acks=all`); a crash before that re-sends it, so delivery is at least once and
//!   consumers are idempotent.
//! - **Order per aggregate.** Rows are read in id order and the record key is the
//!   aggregate id, so one aggregate's events land on one partition in commit order;
//!   the idempotent producer keeps that order across its own retries.
//! - **One relay at a time.** Every command-api instance runs a relay, but only the
//!   holder of a PostgreSQL advisory lock publishes; the others wait to take over.
//!   Two concurrent relays could interleave one aggregate's rows.

use std::time::Duration;

use futures::future::join_all;
use platform::{config::KafkaArgs, kafka, shutdown::Shutdown};
use rdkafka::message::{Header, OwnedHeaders};
use sqlx::{PgPool, Row, pool::PoolConnection, postgres::PgListener};
use tokio::time::Instant;
use uuid::Uuid;

/// Advisory lock key that elects the publishing relay ("outbox" in ASCII).
const RELAY_LOCK_KEY: i64 = 0x6f75_7462_6f78;

/// The channel the outbox trigger notifies at each commit with events.
const CHANNEL: &str = "outbox_pending";

/// Rounds in a row that find rows before the relay stops listening for notifications.
const BUSY_ROUNDS: u32 = 2;
/// Rounds in a row that find none before it listens again.
const QUIET_ROUNDS: u32 = 3;

/// How the relay behaves.
#[derive(Debug, Clone, clap::Args)]
pub struct RelayArgs {
    /// Outbox rows published per round trip.
    #[arg(long, env = "OUTBOX_BATCH_SIZE", default_value_t = 1000)]
    pub outbox_batch_size: i64,

    /// Shortest time between the starts of two publishing rounds. Under steady load
    /// the events committed meanwhile go out together: one read, one Kafka request and
    /// one update for all of them rather than for each. An event that follows a quiet
    /// spell goes out at once; under load one waits at most this long.
    #[arg(long, env = "OUTBOX_ROUND_INTERVAL_MS", default_value_t = 100)]
    pub outbox_round_interval_ms: u64,

    /// Longest wait between checks for new rows when no notification arrives.
    #[arg(long, env = "OUTBOX_POLL_INTERVAL_MS", default_value_t = 1000)]
    pub outbox_poll_interval_ms: u64,

    /// How long Kafka may take to acknowledge a record before the batch is retried.
    #[arg(long, env = "OUTBOX_DELIVERY_TIMEOUT_MS", default_value_t = 15_000)]
    pub outbox_delivery_timeout_ms: u64,

    /// Published rows are deleted after this many hours.
    #[arg(long, env = "OUTBOX_RETENTION_HOURS", default_value_t = 24)]
    pub outbox_retention_hours: i64,
}

/// One outbox row waiting to be published.
pub(crate) struct PendingRow {
    pub id: i64,
    pub topic: String,
    pub message_key: String,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub correlation_id: String,
    pub envelope: String,
}

/// Errors of one relay round; each is logged and the round is retried.
#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error("reading or marking outbox rows")]
    Database(#[from] sqlx::Error),
    #[error("{failed} of {total} records were not acknowledged by kafka: {first_error}")]
    Delivery {
        failed: usize,
        total: usize,
        first_error: String,
    },
}

/// Runs the relay until `shutdown` fires.
pub async fn run(pool: PgPool, kafka_args: KafkaArgs, args: RelayArgs, mut shutdown: Shutdown) {
    let producer = match kafka::idempotent_producer(
        &kafka_args,
        Duration::from_millis(args.outbox_delivery_timeout_ms),
    ) {
        Ok(producer) => producer,
        Err(error) => {
            tracing::error!(error = %error, "outbox relay cannot create its kafka producer");
            return;
        }
    };

    while !shutdown.is_requested() {
        let Some(lock) = acquire_leadership(&pool, &mut shutdown).await else {
            return;
        };
        tracing::info!("outbox relay is the publisher");
        publish_while_leader(&pool, lock, &producer, &args, &mut shutdown).await;
    }
    tracing::info!("outbox relay stopped");
}

/// Waits until this instance holds the relay lock. The lock lives as long as the
/// returned connection.
async fn acquire_leadership(
    pool: &PgPool,
    shutdown: &mut Shutdown,
) -> Option<PoolConnection<sqlx::Postgres>> {
    loop {
        let attempt = async {
            let mut connection = pool.acquire().await?;
            let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(RELAY_LOCK_KEY)
                .fetch_one(&mut *connection)
                .await?;
            Ok::<_, sqlx::Error>(locked.then_some(connection))
        };
        match attempt.await {
            Ok(Some(connection)) => return Some(connection),
            Ok(None) => tracing::debug!("another instance publishes the outbox"),
            Err(error) => tracing::warn!(error = %error, "outbox relay cannot reach the database"),
        }
        tokio::select! {
            _ = shutdown.requested() => return None,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

async fn publish_while_leader(
    pool: &PgPool,
    mut lock: PoolConnection<sqlx::Postgres>,
    producer: &kafka::Producer,
    args: &RelayArgs,
    shutdown: &mut Shutdown,
) {
    let mut wakeups = Wakeups::connect(pool).await;
    let poll_interval = Duration::from_millis(args.outbox_poll_interval_ms);
    let round_interval = Duration::from_millis(args.outbox_round_interval_ms);
    let mut last_round: Option<Instant> = None;
    let (mut busy_rounds, mut quiet_rounds) = (0_u32, 0_u32);
    let mut backoff = Duration::from_millis(100);
    let mut last_housekeeping = Instant::now() - Duration::from_secs(3600);

    while !shutdown.is_requested() {
        if last_housekeeping.elapsed() >= Duration::from_secs(1) {
            if !still_leader(&mut lock).await {
                tracing::warn!("outbox relay lost its database lock; re-electing");
                return;
            }
            housekeeping(pool, args.outbox_retention_hours).await;
            last_housekeeping = Instant::now();
        }

        if let Some(wait) = last_round.and_then(|start| round_interval.checked_sub(start.elapsed()))
        {
            tokio::select! {
                _ = shutdown.requested() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        // Every notification received so far is for a row this round reads.
        wakeups.drain();
        last_round = Some(Instant::now());

        match publish_batch(pool, producer, args.outbox_batch_size).await {
            Ok(published) => {
                backoff = Duration::from_millis(100);
                if published > 0 {
                    (busy_rounds, quiet_rounds) = (busy_rounds + 1, 0);
                } else {
                    (busy_rounds, quiet_rounds) = (0, quiet_rounds + 1);
                }
                if published as i64 == args.outbox_batch_size {
                    last_round = None;
                } else if published > 0 {
                    if busy_rounds >= BUSY_ROUNDS {
                        // Rounds follow each other at the interval while rows keep
                        // coming, so notifications would only cost work.
                        wakeups.pause().await;
                    }
                    if wakeups.listening {
                        wakeups.wait(poll_interval, shutdown).await;
                    }
                } else if !wakeups.listening && quiet_rounds < QUIET_ROUNDS {
                    // Just busy: a few more rounds at the interval before listening.
                } else if wakeups.resume().await {
                    // Rows committed before the subscription took effect sent no
                    // notification: look once more before waiting.
                    last_round = None;
                } else {
                    wakeups.wait(poll_interval, shutdown).await;
                }
            }
            Err(error) => {
                tracing::warn!(error = %error, retry_in_ms = backoff.as_millis() as u64, "outbox relay round failed");
                tokio::select! {
                    _ = shutdown.requested() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// The relay's subscription to the outbox trigger's notifications.
///
/// A notification costs work at each commit with events: the database wakes the
/// subscribed backend, which sends it here. When events keep coming, rounds follow
/// each other at `OUTBOX_ROUND_INTERVAL_MS` anyway, so after [`BUSY_ROUNDS`] rounds in
/// a row found rows the relay unsubscribes; after [`QUIET_ROUNDS`] that find none it
/// subscribes again, then looks once more (a row that committed before the
/// subscription sent nothing). When it cannot subscribe it polls every
/// `OUTBOX_POLL_INTERVAL_MS`, and tries again after each round that finds nothing.
struct Wakeups {
    pool: PgPool,
    listener: Option<PgListener>,
    listening: bool,
}

impl Wakeups {
    async fn connect(pool: &PgPool) -> Self {
        let mut wakeups = Self {
            pool: pool.clone(),
            listener: None,
            listening: false,
        };
        wakeups.resume().await;
        wakeups
    }

    /// Subscribes if it is not; true when it just did. A listener whose connection
    /// failed is replaced by a new one once.
    async fn resume(&mut self) -> bool {
        if self.listening {
            return false;
        }
        for attempt in 1..=2 {
            let listener = match self.listener.as_mut() {
                Some(listener) => listener,
                None => match PgListener::connect_with(&self.pool).await {
                    Ok(listener) => self.listener.insert(listener),
                    Err(error) => {
                        tracing::warn!(error = %error, "outbox relay cannot connect for notifications; polling");
                        return false;
                    }
                },
            };
            match listener.listen(CHANNEL).await {
                Ok(()) => {
                    self.listening = true;
                    return true;
                }
                Err(error) => {
                    // The connection is most likely gone (it idled while the relay
                    // was busy); the listener only replaces it while receiving.
                    self.listener = None;
                    if attempt == 2 {
                        tracing::warn!(error = %error, "outbox relay cannot listen for notifications; polling");
                    }
                }
            }
        }
        false
    }

    /// Unsubscribes while rounds run back to back.
    async fn pause(&mut self) {
        if !self.listening {
            return;
        }
        self.listening = false;
        if let Some(listener) = self.listener.as_mut()
            && let Err(error) = listener.unlisten(CHANNEL).await
        {
            // Not listening either way; `resume` starts over on a new connection.
            tracing::debug!(error = %error, "outbox relay could not unsubscribe");
            self.listener = None;
        }
    }

    /// Forgets the notifications received so far.
    fn drain(&mut self) {
        if let Some(listener) = self.listener.as_mut() {
            while listener.next_buffered().is_some() {}
        }
    }

    /// Waits for a notification, at most `poll`.
    async fn wait(&mut self, poll: Duration, shutdown: &mut Shutdown) {
        match self.listener.as_mut().filter(|_| self.listening) {
            Some(listener) => {
                tokio::select! {
                    _ = shutdown.requested() => {}
                    _ = tokio::time::timeout(poll, listener.recv()) => {}
                }
            }
            None => {
                tokio::select! {
                    _ = shutdown.requested() => {}
                    _ = tokio::time::sleep(poll) => {}
                }
            }
        }
    }
}

async fn still_leader(lock: &mut PoolConnection<sqlx::Postgres>) -> bool {
    sqlx::query("SELECT 1").execute(&mut **lock).await.is_ok()
}

/// Reports the backlog and deletes rows published longer ago than the retention.
async fn housekeeping(pool: &PgPool, retention_hours: i64) {
    let backlog: Result<i64, _> =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(pool)
            .await;
    if let Ok(backlog) = backlog {
        metrics::gauge!("outbox_backlog").set(backlog as f64);
    }
    let deleted = sqlx::query(
        "DELETE FROM outbox WHERE published_at < now() - make_interval(hours => $1::int)",
    )
    .bind(retention_hours as i32)
    .execute(pool)
    .await;
    if let Err(error) = deleted {
        tracing::warn!(error = %error, "deleting old outbox rows failed");
    }
}

/// Publishes up to `limit` pending rows and marks the acknowledged ones. Returns how
/// many rows were published.
async fn publish_batch(
    pool: &PgPool,
    producer: &kafka::Producer,
    limit: i64,
) -> Result<usize, RelayError> {
    let rows = fetch_pending(pool, limit).await?;
    if rows.is_empty() {
        return Ok(0);
    }

    let deliveries = rows.iter().map(|row| {
        let mut headers = OwnedHeaders::new_with_capacity(4);
        for (key, value) in super::headers_of(row) {
            headers = headers.insert(Header {
                key,
                value: Some(value.as_str()),
            });
        }
        let record = kafka::Record::to(&row.topic)
            .key(row.message_key.as_str())
            .payload(row.envelope.as_str())
            .headers(headers);
        // The queue timeout only applies when librdkafka's local queue is full; the
        // delivery itself is bounded by message.timeout.ms.
        producer.send(record, Duration::from_secs(30))
    });
    let outcomes = join_all(deliveries).await;

    let mut delivered = Vec::with_capacity(rows.len());
    let mut first_error = None;
    for (row, outcome) in rows.iter().zip(outcomes) {
        match outcome {
            Ok(_) => delivered.push(row.id),
            Err(error) => {
                first_error.get_or_insert_with(|| error.to_string());
            }
        }
    }
    mark_published(pool, &delivered).await?;
    metrics::counter!("outbox_published_total").increment(delivered.len() as u64);

    match first_error {
        None => Ok(delivered.len()),
        Some(first_error) => Err(RelayError::Delivery {
            failed: rows.len() - delivered.len(),
            total: rows.len(),
            first_error,
        }),
    }
}

async fn fetch_pending(pool: &PgPool, limit: i64) -> Result<Vec<PendingRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, topic, message_key, event_id, event_type, schema_version, correlation_id, \
                envelope::text AS envelope \
         FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(PendingRow {
                id: row.try_get("id")?,
                topic: row.try_get("topic")?,
                message_key: row.try_get("message_key")?,
                event_id: row.try_get("event_id")?,
                event_type: row.try_get("event_type")?,
                schema_version: row.try_get("schema_version")?,
                correlation_id: row.try_get("correlation_id")?,
                envelope: row.try_get("envelope")?,
            })
        })
        .collect()
}

async fn mark_published(pool: &PgPool, ids: &[i64]) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query("UPDATE outbox SET published_at = now() WHERE id = ANY($1)")
        .bind(ids)
        .execute(pool)
        .await?;
    Ok(())
}
