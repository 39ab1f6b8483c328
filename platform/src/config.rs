//! Configuration shared by the binaries. Every setting is a command-line flag with an
//! environment variable of the same meaning and a documented default, so `--help`
//! is the reference and a container only needs environment variables.

use clap::{Args, ValueEnum};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line, for log collectors.
    Json,
    /// Human-readable lines, for a terminal.
    Text,
}

/// Logging settings.
#[derive(Debug, Clone, Args)]
pub struct TelemetryArgs {
    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: LogFormat,

    /// Log filter in `tracing` syntax, e.g. `info` or `info,consumers=debug`.
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

/// PostgreSQL settings.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL connection URL.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://anime:anime@127.0.0.1:55432/anime",
        hide_env_values = true
    )]
    pub database_url: String,

    /// Most connections this process opens.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 10)]
    pub database_max_connections: u32,
}

/// Kafka settings.
#[derive(Debug, Clone, Args)]
pub struct KafkaArgs {
    /// Comma-separated bootstrap brokers.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:59092")]
    pub kafka_brokers: String,

    /// Prefix for every topic and consumer group name, so that several deployments
    /// (or test runs) can share one cluster.
    #[arg(long, env = "KAFKA_TOPIC_PREFIX", default_value = "")]
    pub kafka_topic_prefix: String,

    /// Partitions of topics this process creates when they are missing.
    #[arg(long, env = "KAFKA_TOPIC_PARTITIONS", default_value_t = 3)]
    pub kafka_topic_partitions: i32,

    /// Replication factor of topics this process creates when they are missing.
    #[arg(long, env = "KAFKA_TOPIC_REPLICATION", default_value_t = 1)]
    pub kafka_topic_replication: i32,
}

impl KafkaArgs {
    /// The full name of a topic or group: the configured prefix plus `name`.
    pub fn name(&self, name: &str) -> String {
        format!("{}{name}", self.kafka_topic_prefix)
    }
}

/// Search engine settings (Elasticsearch or OpenSearch).
#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    /// Base URL of the search engine (Elasticsearch 8/9 or OpenSearch 2/3).
    #[arg(
        long,
        env = "SEARCH_URL",
        default_value = "http://127.0.0.1:59200",
        hide_env_values = true
    )]
    pub search_url: String,

    /// Prefix of every index and alias name, so several deployments (or test runs) can
    /// share one cluster. Lower-case, as index names must be.
    #[arg(long, env = "SEARCH_INDEX_PREFIX", default_value = "")]
    pub search_index_prefix: String,

    /// Longest wait for one search engine request, in milliseconds.
    #[arg(long, env = "SEARCH_TIMEOUT_MS", default_value_t = 5000)]
    pub search_timeout_ms: u64,
}

impl SearchArgs {
    /// The alias queries and writes go through, e.g. `releases`.
    pub fn releases_alias(&self) -> String {
        format!("{}releases", self.search_index_prefix)
    }
}
