//! Kafka client settings that every service agrees on, and topic provisioning.

use std::{
    sync::{Mutex, PoisonError},
    time::Duration,
};

use rdkafka::{
    ClientConfig,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{BaseConsumer, Consumer},
    error::{KafkaError, RDKafkaErrorCode},
    producer::FutureProducer,
};

use crate::config::KafkaArgs;

/// Errors talking to the Kafka cluster.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSetupError {
    /// A client could not be created from the configuration.
    #[error("creating a kafka client for {brokers}")]
    Client {
        /// The bootstrap brokers.
        brokers: String,
        /// What librdkafka said.
        #[source]
        source: KafkaError,
    },
    /// The cluster refused to create a topic.
    #[error("creating topic {topic}: {code}")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// The error code the broker answered.
        code: RDKafkaErrorCode,
    },
    /// The admin request itself failed (e.g. the cluster is unreachable).
    #[error("kafka admin request failed")]
    Admin(#[source] KafkaError),
}

/// Base settings for every client.
pub fn client_config(args: &KafkaArgs) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &args.kafka_brokers)
        .set("client.dns.lookup", "use_all_dns_ips")
        .set("socket.keepalive.enable", "true");
    config
}

/// A producer that never reorders or duplicates records of one partition, even on
/// retries (`enable.idempotence`), and waits for every in-sync replica.
pub fn idempotent_producer(
    args: &KafkaArgs,
    message_timeout: Duration,
) -> Result<FutureProducer, KafkaSetupError> {
    client_config(args)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "lz4")
        .set("linger.ms", "5")
        .set(
            "message.timeout.ms",
            message_timeout.as_millis().to_string(),
        )
        .create()
        .map_err(|source| KafkaSetupError::Client {
            brokers: args.kafka_brokers.clone(),
            source,
        })
}

/// The process's idempotent producer for these brokers and delivery timeout, created
/// at the first call and shared by every later one.
///
/// A librdkafka producer is meant to be shared: it is thread-safe, batches records of
/// all its users together, and each one costs its own threads, broker connections
/// and a polling thread that wakes every 100 ms (and spins through the last
/// millisecond of each wait, a few tenths of a percent of a core per producer even
/// when idle). So the consumer groups of one process share one producer for their
/// dead letters instead of holding one each.
pub fn shared_producer(
    args: &KafkaArgs,
    message_timeout: Duration,
) -> Result<FutureProducer, KafkaSetupError> {
    static PRODUCERS: Mutex<Vec<((String, Duration), FutureProducer)>> = Mutex::new(Vec::new());
    let key = (args.kafka_brokers.clone(), message_timeout);
    let mut producers = PRODUCERS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, producer)) = producers.iter().find(|(known, _)| *known == key) {
        return Ok(producer.clone());
    }
    let producer = idempotent_producer(args, message_timeout)?;
    producers.push((key, producer.clone()));
    Ok(producer)
}

/// Creates each topic that does not exist yet; existing topics are left as they are.
pub async fn ensure_topics(args: &KafkaArgs, topics: &[String]) -> Result<(), KafkaSetupError> {
    let admin: AdminClient<DefaultClientContext> =
        client_config(args)
            .create()
            .map_err(|source| KafkaSetupError::Client {
                brokers: args.kafka_brokers.clone(),
                source,
            })?;
    let replication = args.kafka_topic_replication;
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|topic| {
            NewTopic::new(
                topic,
                args.kafka_topic_partitions,
                TopicReplication::Fixed(replication),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .create_topics(&new_topics, &options)
        .await
        .map_err(KafkaSetupError::Admin)?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(KafkaSetupError::CreateTopic { topic, code }),
        }
    }
    Ok(())
}

/// Keeps calling [`ensure_topics`] until it succeeds or `shutdown` fires; used at
/// start-up so a process can start before the cluster does.
pub async fn ensure_topics_patiently(
    args: &KafkaArgs,
    topics: &[String],
    shutdown: &crate::shutdown::Shutdown,
) -> bool {
    let mut delay = Duration::from_millis(200);
    loop {
        match ensure_topics(args, topics).await {
            Ok(()) => return true,
            Err(error) => {
                tracing::warn!(error = %error, retry_in_ms = delay.as_millis() as u64, "kafka topics not ready");
            }
        }
        if shutdown.is_requested() {
            return false;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// True when a broker answers a metadata request within two seconds; for readiness.
pub async fn is_reachable(args: &KafkaArgs) -> bool {
    let config = client_config(args);
    let probe = tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = match config.create() {
            Ok(consumer) => consumer,
            Err(_) => return false,
        };
        consumer
            .fetch_metadata(None, Duration::from_secs(2))
            .is_ok()
    });
    probe.await.unwrap_or(false)
}
