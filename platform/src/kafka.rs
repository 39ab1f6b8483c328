//! Kafka client settings that every service agrees on, the producer every service
//! sends with, and topic provisioning.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use rdkafka::{
    ClientConfig, ClientContext,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{BaseConsumer, Consumer},
    error::{KafkaError, RDKafkaErrorCode},
    message::OwnedHeaders,
    producer::{BaseProducer, BaseRecord, DeliveryResult, ProducerContext},
    util::Timeout,
};
use tokio::sync::oneshot;

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
) -> Result<Producer, KafkaSetupError> {
    let producer: BaseProducer<DeliveryReports> = client_config(args)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "lz4")
        .set("linger.ms", "5")
        .set(
            "message.timeout.ms",
            message_timeout.as_millis().to_string(),
        )
        .create_with_context(DeliveryReports)
        .map_err(|source| KafkaSetupError::Client {
            brokers: args.kafka_brokers.clone(),
            source,
        })?;
    Producer::start(producer).map_err(|source| KafkaSetupError::Client {
        brokers: args.kafka_brokers.clone(),
        source,
    })
}

/// The process's idempotent producer for these brokers and delivery timeout, created
/// at the first call and shared by every later one.
///
/// A librdkafka producer is meant to be shared: it is thread-safe, batches records of
/// all its users together, and each one costs its own threads and broker
/// connections. So the consumer groups of one process share one producer for their
/// dead letters instead of holding one each.
pub fn shared_producer(
    args: &KafkaArgs,
    message_timeout: Duration,
) -> Result<Producer, KafkaSetupError> {
    static PRODUCERS: Mutex<Vec<((String, Duration), Producer)>> = Mutex::new(Vec::new());
    let key = (args.kafka_brokers.clone(), message_timeout);
    let mut producers = PRODUCERS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, producer)) = producers.iter().find(|(known, _)| *known == key) {
        return Ok(producer.clone());
    }
    let producer = idempotent_producer(args, message_timeout)?;
    producers.push((key, producer.clone()));
    Ok(producer)
}

/// A Kafka producer whose sends are awaited until the broker acknowledges them.
///
/// librdkafka reports each delivery as an event on a queue that someone must poll.
/// Here one thread per producer waits on that queue without a timeout, so it wakes
/// only when a report arrives and costs nothing while the producer is idle. (The
/// usual polling thread wakes every 100 ms and, because the remaining wait is
/// rounded down to whole milliseconds, spins through the last millisecond of each:
/// most of a percent of a core per producer on a server doing nothing.) The thread
/// and the producer last as long as the process; records not yet acknowledged when
/// it ends are not lost, because every sender here keeps a record until its send is
/// acknowledged.
#[derive(Clone)]
pub struct Producer {
    inner: Arc<BaseProducer<DeliveryReports>>,
}

/// A record to send: topic, optional key, payload and headers.
pub struct Record<'a> {
    topic: &'a str,
    key: Option<&'a [u8]>,
    payload: Option<&'a [u8]>,
    headers: Option<OwnedHeaders>,
}

impl<'a> Record<'a> {
    /// A record for `topic` with no key, payload or headers yet.
    pub fn to(topic: &'a str) -> Self {
        Self {
            topic,
            key: None,
            payload: None,
            headers: None,
        }
    }

    /// Sets the key, which picks the partition.
    pub fn key(mut self, key: &'a (impl AsRef<[u8]> + ?Sized)) -> Self {
        self.key = Some(key.as_ref());
        self
    }

    /// Sets the payload.
    pub fn payload(mut self, payload: &'a (impl AsRef<[u8]> + ?Sized)) -> Self {
        self.payload = Some(payload.as_ref());
        self
    }

    /// Sets the headers.
    pub fn headers(mut self, headers: OwnedHeaders) -> Self {
        self.headers = Some(headers);
        self
    }
}

type Acknowledgement = oneshot::Sender<Result<(), KafkaError>>;

impl Producer {
    fn start(producer: BaseProducer<DeliveryReports>) -> Result<Self, KafkaError> {
        let inner = Arc::new(producer);
        let polled = inner.clone();
        std::thread::Builder::new()
            .name("kafka-deliveries".to_owned())
            .spawn(move || polled.poll(Timeout::Never))
            .map_err(|_| KafkaError::ClientCreation("cannot start the delivery thread".into()))?;
        Ok(Self { inner })
    }

    /// Queues `record` and waits until the broker acknowledges it or delivery fails
    /// (after `message.timeout.ms`). When librdkafka's local queue is full, retries
    /// queueing for up to `queue_timeout`.
    pub async fn send(
        &self,
        record: Record<'_>,
        queue_timeout: Duration,
    ) -> Result<(), KafkaError> {
        let started = Instant::now();
        let (acknowledged, acknowledgement) = oneshot::channel();
        let mut base = BaseRecord::<[u8], [u8], Box<Acknowledgement>>::with_opaque_to(
            record.topic,
            Box::new(acknowledged),
        );
        base.key = record.key;
        base.payload = record.payload;
        base.headers = record.headers;
        loop {
            match self.inner.send(base) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned))
                    if started.elapsed() < queue_timeout =>
                {
                    base = returned;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err((error, _)) => return Err(error),
            }
        }
        acknowledgement.await.unwrap_or(Err(KafkaError::Canceled))
    }
}

/// Hands each delivery report to the sender waiting for it.
struct DeliveryReports;

impl ClientContext for DeliveryReports {}

impl ProducerContext for DeliveryReports {
    type DeliveryOpaque = Box<Acknowledgement>;

    fn delivery(&self, report: &DeliveryResult<'_>, acknowledged: Self::DeliveryOpaque) {
        let outcome = match report {
            Ok(_) => Ok(()),
            Err((error, _)) => Err(error.clone()),
        };
        let _ = acknowledged.send(outcome);
    }
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
