//! `command-api`: accepts commands over HTTP, writes the write model and its outbox
//! in one transaction, and runs the outbox relay that publishes events to Kafka.

mod commands;
mod domain;
mod http;
mod outbox;
mod store;

use std::{net::SocketAddr, time::Duration};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use platform::{
    config::{DatabaseArgs, KafkaArgs, TelemetryArgs},
    http::{HttpArgs, MetricsRecorder, Readiness},
    shutdown::Shutdown,
};

use crate::{
    commands::{CommandContext, Topics},
    domain::accounts::{PasswordHasher, PasswordHashingArgs},
    outbox::relay::RelayArgs,
};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Accepts commands, writes the write model and its outbox, relays the outbox to Kafka.
///
/// Every option can also be set through the environment variable shown with it.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// Address the HTTP API listens on.
    #[arg(long, env = "COMMAND_API_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// Run the outbox relay in this process (turn off to run API-only instances).
    #[arg(long, env = "OUTBOX_RELAY_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    relay: bool,

    #[command(flatten)]
    telemetry: TelemetryArgs,
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    http: HttpArgs,
    #[command(flatten)]
    password_hashing: PasswordHashingArgs,
    #[command(flatten)]
    relay_args: RelayArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and run the relay (the default).
    Serve,
    /// Print the OpenAPI document and exit.
    Openapi,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Openapi) => {
            println!("{}", http::openapi_json());
            Ok(())
        }
        Some(Command::Serve) | None => serve(cli).await,
    }
}

async fn serve(cli: Cli) -> anyhow::Result<()> {
    platform::telemetry::init(&cli.telemetry)?;
    let metrics = MetricsRecorder::install()?;
    let shutdown = Shutdown::on_signals();

    let pool = platform::db::connect_and_migrate(
        &cli.database,
        "write",
        &MIGRATIONS,
        Duration::from_secs(30),
    )
    .await
    .context("preparing the write database")?;

    let topics = Topics::new(&cli.kafka);
    let relay = cli.relay.then(|| {
        let pool = pool.clone();
        let kafka = cli.kafka.clone();
        let args = cli.relay_args.clone();
        let topics = topics.all();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            if platform::kafka::ensure_topics_patiently(&kafka, &topics, &shutdown).await {
                outbox::relay::run(pool, kafka, args, shutdown).await;
            }
        })
    });

    let state = http::AppState {
        commands: CommandContext {
            pool: pool.clone(),
            hasher: PasswordHasher::new(&cli.password_hashing)
                .map_err(|error| anyhow::anyhow!("argon2 parameters: {error}"))?,
            topics,
        },
        max_body_bytes: cli.http.max_body_bytes,
    };
    // Kafka is not a readiness dependency: commands are accepted while it is down
    // and their events wait in the outbox.
    let readiness = {
        let pool = pool.clone();
        Readiness::default().check("postgres", move || {
            let pool = pool.clone();
            async move { platform::db::is_reachable(&pool).await }
        })
    };

    tracing::info!(version = env!("CARGO_PKG_VERSION"), "command-api starting");
    platform::http::serve(
        cli.listen,
        http::router(state, readiness, metrics),
        shutdown,
    )
    .await?;
    if let Some(relay) = relay {
        let _ = relay.await;
    }
    tracing::info!("command-api stopped");
    Ok(())
}
