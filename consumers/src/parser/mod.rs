//! The `parser` consumer group: the upstream catalogue crawler.
//!
//! - Consumes: the import events topic; acts on `import.requested` and skips every
//!   other event type.
//! - Produces: catalogue commands on the catalogue commands topic, keyed by import
//!   id: `StartImport`, one `ImportPage` per upstream page (the materials that
//!   normalised and a failure for each one that did not), then `FinishImport` with
//!   the final state and, after a complete crawl, the checkpoint for the next
//!   incremental import. Materials that do not normalise are also copied, raw, to
//!   `parser.dlq`.
//! - Guarantees: commands of one import are sent in order, each acknowledged by Kafka
//!   before the upstream is asked for the next page. The crawl runs inside the
//!   handler and the request's offset is stored only after `FinishImport` was
//!   acknowledged, so a crash re-runs the import from the start; the command side
//!   applies each material idempotently, so a re-run changes nothing twice. The
//!   upstream token never reaches a log line, a command or an error text.
//!
//! `docs/importer.md` describes the flow, the settings and the failure rules.

mod client;
mod crawl;
mod cursor;
mod normalise;
mod publish;

use std::time::Duration;

use platform::{config::KafkaArgs, shutdown::Shutdown};
use schemas::{RawEnvelope, imports::ImportRequested};
use sqlx::PgPool;

use crate::{
    projector::database_error,
    runtime::{Handler, HandlerError, Record},
};
use client::{ClientSetupError, KodikClient};
use crawl::{CrawlError, Crawler, Job};
use publish::Publisher;

/// The group name, without prefix.
pub const GROUP: &str = "parser";

/// Settings of the parser group.
#[derive(Debug, Clone, clap::Args)]
pub struct ParserArgs {
    /// Base URL of the upstream catalogue API. The token is sent only here, never to
    /// the hosts of the upstream's own pagination links.
    #[arg(long, env = "KODIK_BASE_URL", default_value = "https://kodik-api.com")]
    pub kodik_base_url: String,

    /// The upstream API token; required when the parser group runs.
    #[arg(long, env = "KODIK_TOKEN", hide_env_values = true)]
    pub kodik_token: Option<String>,

    /// Timeout of one upstream request, connection to last byte, in milliseconds.
    #[arg(long, env = "KODIK_TIMEOUT_MS", default_value_t = 15_000)]
    pub kodik_timeout_ms: u64,

    /// Most upstream requests per second, over all imports of this process.
    #[arg(long, env = "KODIK_REQUESTS_PER_SECOND", default_value_t = 5.0,
          value_parser = parse_rate)]
    pub kodik_requests_per_second: f64,

    /// Most upstream requests in flight at once in this process.
    #[arg(long, env = "KODIK_MAX_CONCURRENCY", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub kodik_max_concurrency: u32,

    /// Retries of a page after a timeout, a connection error, a 5xx or a non-JSON
    /// body, before the page (and with it the import) fails.
    #[arg(long, env = "KODIK_MAX_RETRIES", default_value_t = 5)]
    pub kodik_max_retries: u32,

    /// First retry delay in milliseconds; doubles per retry (with jitter), up to a
    /// minute.
    #[arg(long, env = "KODIK_RETRY_BASE_MS", default_value_t = 1_000)]
    pub kodik_retry_base_ms: u64,

    /// Kafka's `max.poll.interval.ms` for the parser group: the longest one import
    /// may run before the group considers this consumer dead and rebalances.
    #[arg(long, env = "PARSER_MAX_POLL_INTERVAL_MS", default_value_t = 3_600_000)]
    pub parser_max_poll_interval_ms: u64,
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err("a positive number of requests per second".to_owned()),
    }
}

impl ParserArgs {
    /// The librdkafka settings the parser group needs beyond the runtime's defaults.
    pub fn consumer_settings(&self) -> Vec<(String, String)> {
        vec![(
            "max.poll.interval.ms".to_owned(),
            self.parser_max_poll_interval_ms.to_string(),
        )]
    }
}

/// Why the parser could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ParserSetupError {
    /// No token configured.
    #[error("KODIK_TOKEN is required to run the parser group")]
    MissingToken,
    /// The HTTP client could not be built.
    #[error("setting up the upstream client")]
    Client(#[from] ClientSetupError),
    /// The Kafka producer could not be built.
    #[error("setting up the command producer")]
    Producer(#[from] platform::kafka::KafkaSetupError),
}

/// Handles import events.
pub struct Parser {
    crawler: Crawler,
}

impl Parser {
    /// A parser reading the read model through `read_pool` (for cancellations) and
    /// publishing with the Kafka settings of `kafka`.
    pub fn new(
        args: &ParserArgs,
        kafka: &KafkaArgs,
        read_pool: PgPool,
        shutdown: Shutdown,
    ) -> Result<Self, ParserSetupError> {
        let token = args
            .kodik_token
            .clone()
            .filter(|token| !token.trim().is_empty())
            .ok_or(ParserSetupError::MissingToken)?;
        let client = KodikClient::new(args, token)?;
        let producer = platform::kafka::shared_producer(kafka, Duration::from_secs(30))?;
        let publisher = Publisher::new(
            producer,
            kafka.name(schemas::topics::CATALOG_COMMANDS),
            kafka.name(&schemas::topics::dead_letter(GROUP)),
            kafka.name(GROUP),
        );
        Ok(Self {
            crawler: Crawler::new(client, publisher, read_pool, shutdown),
        })
    }

    async fn import_requested(
        &self,
        envelope: &RawEnvelope,
        record: &Record,
    ) -> Result<(), HandlerError> {
        let request: ImportRequested = envelope
            .payload_as()
            .map_err(|error| HandlerError::Poison(format!("import.requested payload: {error}")))?;

        // A re-delivered request of an import that already ended (the process died
        // after `FinishImport` but before storing the offset) must not run again.
        let state = self
            .crawler
            .import_state(request.import_id)
            .await
            .map_err(database_error)?;
        if matches!(state.as_deref(), Some("succeeded" | "failed")) {
            tracing::info!(import.id = %request.import_id, import.state = state.as_deref(), "import already ended, not run again");
            return Ok(());
        }

        let job = Job {
            request: &request,
            correlation_id: &envelope.meta.correlation_id,
            source: record,
        };
        self.crawler.run(&job).await.map_err(|error| match error {
            CrawlError::Database(error) => database_error(error),
            error @ (CrawlError::Publish(_) | CrawlError::ShuttingDown) => {
                HandlerError::Unavailable(with_causes(&error))
            }
        })
    }
}

/// An error and its causes on one line, for the one place the error is handled and
/// logged. Only for errors whose texts hold no URL.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl Handler for Parser {
    async fn handle(&self, record: &Record) -> Result<(), HandlerError> {
        let envelope = record.envelope()?;

        if envelope.is::<ImportRequested>() {
            return self.import_requested(&envelope, record).await;
        }
        tracing::trace!(event.r#type = %envelope.meta.event_type, "event type not handled by the parser");
        Ok(())
    }
}
