//! `consumers`: runs the platform's Kafka consumer groups. Each group can run alone
//! (`--groups projector`) and scales by running more instances, up to the number of
//! partitions of its topics.

mod catalog_projector;
mod import_projector;
mod indexer;
mod parser;
mod projector;
mod runtime;
mod titles;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use platform::{
    config::{DatabaseArgs, KafkaArgs, SearchArgs, TelemetryArgs},
    http::{MetricsRecorder, Readiness, health_router, metrics_router},
    shutdown::Shutdown,
};
use salvo::Router;

use crate::runtime::{GroupSpec, RetryArgs};

static READ_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Runs the platform's Kafka consumer groups.
///
/// Every option can also be set through the environment variable shown with it.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// Consumer groups to run in this process.
    #[arg(
        long,
        env = "CONSUMER_GROUPS",
        value_enum,
        value_delimiter = ',',
        default_value = "projector,catalog-projector,indexer,import-projector,parser"
    )]
    groups: Vec<Group>,

    /// Address of the health and metrics endpoints.
    #[arg(long, env = "CONSUMERS_LISTEN", default_value = "127.0.0.1:8082")]
    listen: SocketAddr,

    #[command(flatten)]
    telemetry: TelemetryArgs,
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    retry: RetryArgs,
    #[command(flatten)]
    parser: parser::ParserArgs,
    #[command(flatten)]
    search: SearchArgs,
    #[command(flatten)]
    cache: catalog_projector::CacheArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the consumer groups (the default).
    Run,
    /// Build a new version of the search index from the read model and swap the alias.
    Reindex,
}

/// A consumer group this binary can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Group {
    /// Keeps the read model in PostgreSQL.
    Projector,
    /// Keeps the catalogue read model in PostgreSQL and invalidates the response cache.
    CatalogProjector,
    /// Keeps the search index in step with the catalogue.
    Indexer,
    /// Crawls the upstream catalogue for requested imports.
    Parser,
    /// Keeps the progress of catalogue imports.
    ImportProjector,
}

/// Spawns a group that runs on the plain runtime: `topics` are default names, put
/// under the configured prefix.
fn spawn_group<H: runtime::Handler>(
    groups: &mut tokio::task::JoinSet<anyhow::Result<()>>,
    cli: &Cli,
    shutdown: &Shutdown,
    name: &'static str,
    topics: &[&str],
    handler: H,
) {
    let spec = GroupSpec {
        name,
        topics: topics.iter().map(|topic| cli.kafka.name(topic)).collect(),
    };
    groups.spawn(runtime::run_group(
        cli.kafka.clone(),
        cli.retry.clone(),
        spec,
        Arc::new(handler),
        shutdown.clone(),
    ));
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Run) | None => run(cli).await,
        Some(Command::Reindex) => reindex(cli).await,
    }
}

async fn reindex(cli: Cli) -> anyhow::Result<()> {
    platform::telemetry::init(&cli.telemetry)?;
    let read_pool = platform::db::connect_and_migrate(
        &cli.database,
        "read",
        &READ_MIGRATIONS,
        Duration::from_secs(30),
    )
    .await
    .context("preparing the read database")?;
    let engine = indexer::Engine::new(&cli.search.search_url, cli.search.releases_alias())?;
    indexer::reindex::run(&read_pool, &engine).await?;
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    platform::telemetry::init(&cli.telemetry)?;
    let metrics = MetricsRecorder::install()?;
    let shutdown = Shutdown::on_signals();

    let read_pool = platform::db::connect_and_migrate(
        &cli.database,
        "read",
        &READ_MIGRATIONS,
        Duration::from_secs(30),
    )
    .await
    .context("preparing the read database")?;

    let mut groups = tokio::task::JoinSet::new();
    for group in &cli.groups {
        match group {
            Group::Projector => spawn_group(
                &mut groups,
                &cli,
                &shutdown,
                "projector",
                &[
                    schemas::topics::ACCOUNT_EVENTS,
                    schemas::topics::AUDIT_EVENTS,
                ],
                projector::Projector::new(read_pool.clone()),
            ),
            Group::CatalogProjector => {
                let cache = catalog_projector::CacheInvalidator::connect(&cli.cache).await;
                spawn_group(
                    &mut groups,
                    &cli,
                    &shutdown,
                    "catalog-projector",
                    &[schemas::topics::CATALOG_EVENTS],
                    catalog_projector::CatalogProjector::new(read_pool.clone(), cache),
                );
            }
            Group::ImportProjector => spawn_group(
                &mut groups,
                &cli,
                &shutdown,
                "import-projector",
                &[schemas::topics::IMPORT_EVENTS],
                import_projector::ImportProjector::new(read_pool.clone()),
            ),
            Group::Indexer => {
                let spec = GroupSpec {
                    name: "indexer",
                    topics: vec![cli.kafka.name(schemas::topics::CATALOG_EVENTS)],
                };
                let engine =
                    indexer::Engine::new(&cli.search.search_url, cli.search.releases_alias())?;
                let handler = Arc::new(indexer::Indexer::new(engine.clone()));
                groups.spawn(indexer::run(
                    engine,
                    cli.kafka.clone(),
                    cli.retry.clone(),
                    spec,
                    handler,
                    shutdown.clone(),
                ));
            }
            Group::Parser => {
                let spec = GroupSpec {
                    name: parser::GROUP,
                    topics: vec![cli.kafka.name(schemas::topics::IMPORT_EVENTS)],
                };
                let handler = Arc::new(parser::Parser::new(
                    &cli.parser,
                    &cli.kafka,
                    read_pool.clone(),
                    shutdown.clone(),
                )?);
                let kafka = cli.kafka.clone();
                let retry = cli.retry.clone();
                let settings = cli.parser.consumer_settings();
                let shutdown = shutdown.clone();
                groups.spawn(async move {
                    // The commands topic is written, not read, so the runtime does
                    // not create it; a cluster without auto-creation needs it made.
                    let commands = vec![kafka.name(schemas::topics::CATALOG_COMMANDS)];
                    let ready =
                        platform::kafka::ensure_topics_patiently(&kafka, &commands, &shutdown)
                            .await;
                    if !ready {
                        return Ok(());
                    }
                    runtime::run_group_with_settings(
                        kafka, retry, spec, settings, handler, shutdown,
                    )
                    .await
                });
            }
        }
    }

    let readiness = {
        let pool = read_pool.clone();
        let kafka = cli.kafka.clone();
        Readiness::default()
            .check("postgres", move || {
                let pool = pool.clone();
                async move { platform::db::is_reachable(&pool).await }
            })
            .check("kafka", move || {
                let kafka = kafka.clone();
                async move { platform::kafka::is_reachable(&kafka).await }
            })
    };
    let router = Router::new()
        .push(health_router(readiness))
        .push(metrics_router(metrics));
    let http = tokio::spawn(platform::http::serve(cli.listen, router, shutdown.clone()));

    let mut failed = None;
    while let Some(outcome) = groups.join_next().await {
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::error!(error = ?error, "consumer group stopped with an error");
                failed.get_or_insert(error);
            }
            Err(error) => {
                tracing::error!(error = %error, "consumer group task panicked");
                failed.get_or_insert(anyhow::anyhow!("consumer group task panicked"));
            }
        }
    }
    http.abort();
    tracing::info!("consumers stopped");
    failed.map_or(Ok(()), Err)
}
