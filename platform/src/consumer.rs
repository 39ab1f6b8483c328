//! The consumer-group runtime every consumer group of the platform runs on.
//!
//! Guarantees, whatever the group:
//! - **At least once.** Auto-commit is on but only for offsets the runtime stored, and
//!   an offset is stored only after the handler's effect is durable (or the record
//!   was parked in the dead-letter topic). A crash re-delivers what was in flight,
//!   so every handler must be idempotent.
//! - **Order per partition.** Records are handled in offset order. A group whose
//!   handler takes batches ([`Handler::max_batch`]) gets the records that are already
//!   waiting as one batch (one transaction, one bulk request); if the batch fails, the
//!   same records are handled again one by one, so retries and dead-lettering always
//!   concern a single record.
//! - **Bounded retries.** A [`HandlerError::Failed`] record is retried with
//!   exponential backoff and jitter, then copied to the group's dead-letter topic
//!   with the error in headers, and the group moves on. A [`HandlerError::Poison`]
//!   record goes there at once. A [`HandlerError::Unavailable`] dependency is waited
//!   for without limit: an outage must not empty a topic into the dead-letter topic.
//! - **Clean hand-over.** Stored offsets are committed synchronously when partitions
//!   are revoked in a rebalance and when the process shuts down. Because a record or
//!   batch is finished before the next is received, nothing is in flight when either
//!   happens.
//! - **No silent stall.** A consumer whose group membership stays broken (no
//!   coordinator, or a join that never completes) for `CONSUMER_STALL_SECS` while a
//!   broker is reachable is replaced by a new one: librdkafka sometimes never finds
//!   its coordinator again after a broker restart. Offsets stored but not yet
//!   committed are handled again. An outage (no broker reachable) is not a stall.

use std::{
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::{config::KafkaArgs, kafka, shutdown::Shutdown};
use futures::FutureExt as _;
use rand::Rng as _;
use rdkafka::{
    ClientContext, Message as _, Statistics, TopicPartitionList,
    consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer},
    message::{BorrowedMessage, Header, Headers as _, OwnedHeaders},
};
use schemas::record;

/// A record as a handler sees it.
#[derive(Debug, Clone)]
pub struct Record {
    /// Source topic.
    pub topic: String,
    /// Source partition.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
    /// The key, usually an aggregate id.
    pub key: Option<Vec<u8>>,
    /// The value, usually a JSON envelope.
    pub value: Option<Vec<u8>>,
}

impl Record {
    /// The value as an event envelope; a record without one is poison.
    pub fn envelope(&self) -> Result<schemas::RawEnvelope, HandlerError> {
        let value = self
            .value
            .as_deref()
            .ok_or_else(|| HandlerError::Poison("record has no value".to_owned()))?;
        serde_json::from_slice(value)
            .map_err(|error| HandlerError::Poison(format!("not an event envelope: {error}")))
    }
}

/// Why a handler could not apply a record.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The record can never be applied (not JSON, unknown schema version, ...).
    #[error("unprocessable record: {0}")]
    Poison(String),
    /// Applying failed in a way a retry may fix.
    #[error("processing failed: {0}")]
    Failed(String),
    /// A dependency (the database, the search engine) is down; wait for it.
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
}

/// What one consumer group does with each record.
pub trait Handler: Send + Sync + 'static {
    /// Applies one record. Must be idempotent: the same record can arrive again.
    fn handle(&self, record: &Record) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// The most records [`Handler::handle_batch`] takes at once; 1, the default, means
    /// records are only ever handled one at a time.
    fn max_batch(&self) -> usize {
        1
    }

    /// Applies records in offset order, all or nothing as far as the handler can
    /// manage; on an error the runtime handles each of them again with
    /// [`Handler::handle`], so a batch must be idempotent too.
    fn handle_batch(
        &self,
        records: &[Record],
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        async move {
            for record in records {
                self.handle(record).await?;
            }
            Ok(())
        }
    }
}

/// How a group retries.
#[derive(Debug, Clone, clap::Args)]
pub struct RetryArgs {
    /// Attempts for a failing record before it goes to the dead-letter topic.
    #[arg(long, env = "CONSUMER_MAX_ATTEMPTS", default_value_t = 5)]
    pub consumer_max_attempts: u32,

    /// First retry delay; doubles on each attempt, up to ten seconds.
    #[arg(long, env = "CONSUMER_RETRY_BASE_MS", default_value_t = 200)]
    pub consumer_retry_base_ms: u64,

    /// Seconds a consumer may go without a working group membership (a known
    /// coordinator and a completed join) while a broker is reachable, before it is
    /// replaced by a new one; 0 never replaces it. Longer than the session timeout
    /// (45 s), which a join may legitimately wait out when an earlier member of the
    /// group died without leaving.
    #[arg(long, env = "CONSUMER_STALL_SECS", default_value_t = 60)]
    pub consumer_stall_secs: u64,
}

/// One group's wiring.
pub struct GroupSpec {
    /// Group name without prefix, e.g. `projector`.
    pub name: &'static str,
    /// Full topic names to subscribe to.
    pub topics: Vec<String>,
}

/// Commits stored offsets before partitions are taken away, reports lag, and watches
/// the group membership.
struct GroupContext {
    group: String,
    health: Mutex<Membership>,
    stalled: tokio::sync::Notify,
}

/// How long a consumer's group membership has been broken while a broker was
/// reachable.
#[derive(Debug)]
struct Membership {
    /// `None`: never replace the consumer.
    stall_after: Option<Duration>,
    broken_since: Option<Duration>,
    /// Set once a stall was reported: a consumer being closed keeps reporting
    /// statistics, and is replaced only once.
    stalled: bool,
}

/// One statistics report of librdkafka, as far as the membership is concerned.
struct Observation<'a> {
    /// librdkafka's monotonic clock when it made the report (not when the
    /// application got round to reading it).
    at: Duration,
    /// `up` once the group's coordinator is known.
    state: &'a str,
    /// `steady` once the join completed; `wait-*-call` while librdkafka waits for
    /// the application to take an assignment change, which is not a broken group.
    join_state: &'a str,
    /// Whether some broker connection is up.
    broker_up: bool,
}

impl Membership {
    fn new(stall_after: Option<Duration>) -> Self {
        Self {
            stall_after,
            broken_since: None,
            stalled: false,
        }
    }

    /// Records one report; true, once, when the membership has been broken, with a
    /// broker reachable all along, for longer than allowed.
    fn observe(&mut self, report: &Observation<'_>) -> bool {
        let joined = report.join_state == "steady" || report.join_state.ends_with("-call");
        if self.stalled || (report.state == "up" && joined) || !report.broker_up {
            self.broken_since = None;
            return false;
        }
        let since = *self.broken_since.get_or_insert(report.at);
        self.stalled = self
            .stall_after
            .is_some_and(|allowance| report.at.saturating_sub(since) >= allowance);
        self.stalled
    }
}

impl ClientContext for GroupContext {
    fn stats(&self, statistics: Statistics) {
        if let Some(group) = &statistics.cgrp {
            let report = Observation {
                at: Duration::from_micros(statistics.ts.max(0) as u64),
                state: &group.state,
                join_state: &group.join_state,
                broker_up: statistics
                    .brokers
                    .values()
                    .any(|broker| broker.state == "UP"),
            };
            let stalled = self
                .health
                .lock()
                .map(|mut health| health.observe(&report))
                .unwrap_or(false);
            if stalled {
                tracing::warn!(
                    kafka.group = %self.group,
                    kafka.group_state = %group.state,
                    kafka.join_state = %group.join_state,
                    "the consumer has had no working group membership for too long; replacing it"
                );
                self.stalled.notify_one();
            }
        }
        for (topic, topic_stats) in statistics.topics {
            for (partition, partition_stats) in topic_stats.partitions {
                if partition < 0 || partition_stats.consumer_lag < 0 {
                    continue;
                }
                metrics::gauge!(
                    "kafka_consumer_lag",
                    "group" => self.group.clone(),
                    "topic" => topic.clone(),
                    "partition" => partition.to_string()
                )
                .set(partition_stats.consumer_lag as f64);
            }
        }
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(partitions) => {
                let result = consumer.commit_consumer_state(CommitMode::Sync);
                // "No offset" just means nothing was stored since the last commit.
                if let Err(error) = result
                    && !error.to_string().contains("No offset")
                {
                    tracing::warn!(kafka.group = %self.group, error = %error, "commit before revocation failed");
                }
                tracing::info!(kafka.group = %self.group, partitions = partitions.count(), "partitions revoked");
            }
            Rebalance::Assign(partitions) => {
                tracing::info!(kafka.group = %self.group, partitions = partitions.count(), "partitions assigned");
            }
            Rebalance::Error(error) => {
                tracing::warn!(kafka.group = %self.group, error = %error, "rebalance error");
            }
        }
    }

    fn commit_callback(
        &self,
        result: rdkafka::error::KafkaResult<()>,
        _offsets: &TopicPartitionList,
    ) {
        if let Err(error) = result
            && !error.to_string().contains("No offset")
        {
            tracing::warn!(kafka.group = %self.group, error = %error, "offset commit failed");
        }
    }
}

/// Runs one consumer group until `shutdown` fires.
pub async fn run_group<H: Handler>(
    kafka_args: KafkaArgs,
    retry: RetryArgs,
    spec: GroupSpec,
    handler: Arc<H>,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    run_group_with_settings(kafka_args, retry, spec, Vec::new(), handler, shutdown).await
}

/// [`run_group`] with librdkafka consumer settings that win over the defaults, for a
/// group whose records need them (e.g. a long `max.poll.interval.ms` when handling
/// one record can take longer than the default five minutes).
pub async fn run_group_with_settings<H: Handler>(
    kafka_args: KafkaArgs,
    retry: RetryArgs,
    spec: GroupSpec,
    consumer_settings: Vec<(String, String)>,
    handler: Arc<H>,
    mut shutdown: Shutdown,
) -> anyhow::Result<()> {
    let group = kafka_args.name(spec.name);
    let dead_letter_topic = kafka_args.name(&schemas::topics::dead_letter(spec.name));

    let mut topics = spec.topics.clone();
    topics.push(dead_letter_topic.clone());
    if !kafka::ensure_topics_patiently(&kafka_args, &topics, &shutdown).await {
        return Ok(());
    }

    let dead_letters = kafka::shared_producer(&kafka_args, Duration::from_secs(30))?;
    let worker = Worker {
        group: &group,
        dead_letter_topic: &dead_letter_topic,
        retry: &retry,
        dead_letters: &dead_letters,
    };
    loop {
        let consumer = group_consumer(&kafka_args, &group, &retry, &consumer_settings)?;
        let subscribed: Vec<&str> = spec.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&subscribed)?;
        tracing::info!(kafka.group = %group, kafka.topics = ?spec.topics, "consumer group started");
        match consume(&consumer, &worker, handler.as_ref(), &mut shutdown).await? {
            Ended::Stopped => {
                if let Err(error) = consumer.commit_consumer_state(CommitMode::Sync)
                    && !error.to_string().contains("No offset")
                {
                    tracing::warn!(kafka.group = %group, error = %error, "final offset commit failed");
                }
                consumer.unsubscribe();
                tracing::info!(kafka.group = %group, "consumer group stopped");
                return Ok(());
            }
            // Closing a consumer waits for its group, which is what is broken, and
            // may never finish: it closes on a detached thread (not the runtime's
            // blocking pool, which shutdown waits for) while the replacement starts.
            // Records it handled without committing their offsets come again.
            Ended::Stalled => {
                let closing = std::thread::Builder::new()
                    .name("kafka-consumer-close".to_owned())
                    .spawn(move || drop(consumer));
                if let Err(error) = closing {
                    tracing::warn!(kafka.group = %group, error = %error, "cannot start a thread to close the stalled consumer");
                }
            }
        }
    }
}

/// Why [`consume`] returned.
enum Ended {
    /// Shutdown was requested.
    Stopped,
    /// The group membership stayed broken; the consumer must be replaced.
    Stalled,
}

/// A new consumer of `group`, not yet subscribed.
fn group_consumer(
    kafka_args: &KafkaArgs,
    group: &str,
    retry: &RetryArgs,
    consumer_settings: &[(String, String)],
) -> anyhow::Result<StreamConsumer<GroupContext>> {
    let mut config = kafka::client_config(kafka_args);
    config
        .set("group.id", group)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("statistics.interval.ms", "5000")
        .set("partition.assignment.strategy", "cooperative-sticky");
    for (key, value) in consumer_settings {
        config.set(key, value);
    }
    Ok(config.create_with_context(GroupContext {
        group: group.to_owned(),
        health: Mutex::new(Membership::new(
            (retry.consumer_stall_secs > 0).then(|| Duration::from_secs(retry.consumer_stall_secs)),
        )),
        stalled: tokio::sync::Notify::new(),
    })?)
}

/// Receives and handles records until shutdown or until the membership stalls.
async fn consume<H: Handler>(
    consumer: &StreamConsumer<GroupContext>,
    worker: &Worker<'_>,
    handler: &H,
    shutdown: &mut Shutdown,
) -> anyhow::Result<Ended> {
    let group = worker.group;
    let stalled = &consumer.context().stalled;
    let max_batch = handler.max_batch().max(1);
    loop {
        let message = tokio::select! {
            _ = shutdown.requested() => return Ok(Ended::Stopped),
            _ = stalled.notified() => return Ok(Ended::Stalled),
            message = consumer.recv() => message,
        };
        let message = match message {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(kafka.group = %group, error = %error, "kafka receive error");
                continue;
            }
        };
        let mut batch = vec![message];
        // Whatever is already fetched joins the batch; nothing waits for more.
        while batch.len() < max_batch {
            match consumer.recv().now_or_never() {
                Some(Ok(message)) => batch.push(message),
                Some(Err(error)) => {
                    tracing::warn!(kafka.group = %group, error = %error, "kafka receive error");
                    break;
                }
                None => break,
            }
        }
        if batch.len() > 1 && worker.process_batch(&batch, handler).await {
            for message in &batch {
                consumer.store_offset_from_message(message)?;
            }
            continue;
        }
        for message in &batch {
            if !worker.process(message, handler, shutdown).await {
                return Ok(Ended::Stopped);
            }
            consumer.store_offset_from_message(message)?;
        }
    }
}

struct Worker<'a> {
    group: &'a str,
    dead_letter_topic: &'a str,
    retry: &'a RetryArgs,
    dead_letters: &'a kafka::Producer,
}

fn record_of(message: &BorrowedMessage<'_>) -> Record {
    Record {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().map(<[u8]>::to_vec),
        value: message.payload().map(<[u8]>::to_vec),
    }
}

impl Worker<'_> {
    /// Applies several messages at once; false when the batch failed and its records
    /// must be handled one by one.
    async fn process_batch<H: Handler>(
        &self,
        messages: &[BorrowedMessage<'_>],
        handler: &H,
    ) -> bool {
        let records: Vec<Record> = messages.iter().map(record_of).collect();
        match handler.handle_batch(&records).await {
            Ok(()) => {
                metrics::counter!("consumer_records_total", "group" => self.group.to_owned(), "outcome" => "applied").increment(records.len() as u64);
                true
            }
            Err(error) => {
                tracing::info!(
                    kafka.group = %self.group,
                    records = records.len(),
                    error = %error,
                    "batch not applied, handling its records one by one"
                );
                false
            }
        }
    }

    /// Applies one message (or parks it in the dead-letter topic). Returns false when
    /// shutdown interrupted it before its effect was durable, so its offset must not
    /// be stored.
    async fn process<H: Handler>(
        &self,
        message: &BorrowedMessage<'_>,
        handler: &H,
        shutdown: &mut Shutdown,
    ) -> bool {
        let record = record_of(message);
        let mut attempt: u32 = 0;
        let mut unavailable_since_attempt = 0;
        loop {
            attempt += 1;
            let error = match handler.handle(&record).await {
                Ok(()) => {
                    metrics::counter!("consumer_records_total", "group" => self.group.to_owned(), "outcome" => "applied").increment(1);
                    return true;
                }
                Err(error) => error,
            };
            let give_up = match &error {
                HandlerError::Poison(_) => true,
                HandlerError::Failed(_) => attempt >= self.retry.consumer_max_attempts,
                HandlerError::Unavailable(_) => false,
            };
            if give_up {
                return self.park(&record, message, &error, attempt, shutdown).await;
            }
            if matches!(error, HandlerError::Unavailable(_)) {
                unavailable_since_attempt += 1;
            }
            let delay = self.backoff(attempt.max(unavailable_since_attempt));
            tracing::warn!(
                kafka.group = %self.group,
                kafka.topic = %record.topic,
                kafka.partition = record.partition,
                kafka.offset = record.offset,
                attempt,
                retry_in_ms = delay.as_millis() as u64,
                error = %error,
                "record not applied, retrying"
            );
            tokio::select! {
                _ = shutdown.requested() => return false,
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self
            .retry
            .consumer_retry_base_ms
            .saturating_mul(1 << attempt.min(10));
        let capped = base.min(10_000);
        let jitter = rand::rng().random_range(0..=capped / 4);
        Duration::from_millis(capped - capped / 8 + jitter)
    }

    /// Copies the record to the dead-letter topic, waiting until Kafka has it: a
    /// record is never dropped. Returns false only if shutdown came first.
    async fn park(
        &self,
        record: &Record,
        message: &BorrowedMessage<'_>,
        error: &HandlerError,
        attempts: u32,
        shutdown: &mut Shutdown,
    ) -> bool {
        let error_text = error.to_string();
        tracing::warn!(
            kafka.group = %self.group,
            kafka.topic = %record.topic,
            kafka.partition = record.partition,
            kafka.offset = record.offset,
            attempts,
            error = %error_text,
            "record sent to the dead-letter topic"
        );
        let mut headers = OwnedHeaders::new();
        if let Some(source_headers) = message.headers() {
            for header in source_headers.iter() {
                headers = headers.insert(Header {
                    key: header.key,
                    value: header.value,
                });
            }
        }
        let partition = record.partition.to_string();
        let offset = record.offset.to_string();
        let attempts_text = attempts.to_string();
        for (key, value) in [
            (record::HEADER_DLQ_ERROR, error_text.as_str()),
            (record::HEADER_DLQ_GROUP, self.group),
            (record::HEADER_DLQ_TOPIC, record.topic.as_str()),
            (record::HEADER_DLQ_PARTITION, partition.as_str()),
            (record::HEADER_DLQ_OFFSET, offset.as_str()),
            (record::HEADER_DLQ_ATTEMPTS, attempts_text.as_str()),
        ] {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }

        let mut delay = Duration::from_millis(200);
        loop {
            let mut dead_letter =
                kafka::Record::to(self.dead_letter_topic).headers(headers.clone());
            if let Some(key) = record.key.as_deref() {
                dead_letter = dead_letter.key(key);
            }
            if let Some(value) = record.value.as_deref() {
                dead_letter = dead_letter.payload(value);
            }
            match self
                .dead_letters
                .send(dead_letter, Duration::from_secs(5))
                .await
            {
                Ok(_) => {
                    metrics::counter!("consumer_records_total", "group" => self.group.to_owned(), "outcome" => "dead_lettered").increment(1);
                    return true;
                }
                Err(send_error) => {
                    tracing::error!(kafka.group = %self.group, error = %send_error, "cannot write to the dead-letter topic, retrying");
                }
            }
            tokio::select! {
                _ = shutdown.requested() => return false,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(10));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(seconds: u64, state: &'static str, join_state: &'static str) -> Observation<'static> {
        Observation {
            at: Duration::from_secs(seconds),
            state,
            join_state,
            broker_up: true,
        }
    }

    #[test]
    fn a_membership_stalls_only_after_staying_broken_for_the_whole_allowance() {
        let mut membership = Membership::new(Some(Duration::from_secs(60)));

        assert!(!membership.observe(&report(0, "up", "steady")));
        // Broken from 5 s on: not yet stalled at 60 s, stalled at 65 s.
        assert!(!membership.observe(&report(5, "wait-coord", "steady")));
        assert!(!membership.observe(&report(60, "up", "wait-join")));
        assert!(membership.observe(&report(65, "query-coord", "init")));
        // Reported once: the consumer is being replaced.
        assert!(!membership.observe(&report(70, "query-coord", "init")));
        let mut membership = Membership::new(Some(Duration::from_secs(60)));
        // One healthy report starts the allowance over; waiting for the application
        // to take an assignment is healthy.
        assert!(!membership.observe(&report(70, "up", "steady")));
        assert!(!membership.observe(&report(75, "up", "wait-sync")));
        assert!(!membership.observe(&report(100, "up", "wait-assign-call")));
        assert!(!membership.observe(&report(105, "up", "wait-sync")));
        assert!(!membership.observe(&report(164, "up", "wait-sync")));
        assert!(membership.observe(&report(165, "up", "wait-sync")));
    }

    #[test]
    fn an_outage_is_not_a_stall_and_zero_never_replaces() {
        let mut membership = Membership::new(Some(Duration::from_secs(60)));
        let down = |seconds| Observation {
            broker_up: false,
            ..report(seconds, "wait-coord", "init")
        };
        assert!(!membership.observe(&report(0, "wait-coord", "init")));
        assert!(!membership.observe(&down(30)));
        assert!(!membership.observe(&down(300)));
        // The broker is back: the allowance counts from here.
        assert!(!membership.observe(&report(305, "query-coord", "init")));
        assert!(!membership.observe(&report(360, "query-coord", "init")));
        assert!(membership.observe(&report(365, "query-coord", "init")));

        let mut never = Membership::new(None);
        assert!(!never.observe(&report(0, "query-coord", "init")));
        assert!(!never.observe(&report(10_000, "query-coord", "init")));
    }
}
