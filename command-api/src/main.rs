//! `command-api`: accepts commands over HTTP, writes the write model and its outbox
//! in one transaction, and runs the outbox relay that publishes events to Kafka.

mod audit;
mod catalog_commands;
mod commands;
mod domain;
mod http;
mod outbox;
mod store;

use std::{net::SocketAddr, time::Duration};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use platform::{
    auth::{TokenArgs, TokenKeys},
    config::{DatabaseArgs, KafkaArgs, TelemetryArgs},
    http::{CorsArgs, HttpArgs, MetricsRecorder, RateLimitArgs, RateLimiter, Readiness},
    shutdown::Shutdown,
};

use crate::{
    commands::{CommandContext, HashingPool, Topics},
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

    /// Apply the catalogue commands the parser sends over Kafka in this process.
    #[arg(long, env = "CATALOG_COMMANDS_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    catalog_commands: bool,

    #[command(flatten)]
    consumer_retry: platform::consumer::RetryArgs,

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
    #[command(flatten)]
    tokens: TokenArgs,
    #[command(flatten)]
    rate_limits: RateLimitArgs,
    #[command(flatten)]
    cors: CorsArgs,

    /// Public base URL of the query API (e.g. `https://api.example.org`). When set, a
    /// created release and an accepted import answer with a `Location` there, where
    /// they are read; the command API does not serve them.
    #[arg(long, env = "QUERY_API_PUBLIC_URL", value_parser = public_base_url)]
    query_api_public_url: Option<String>,

    /// Lifetime of a refresh token, in seconds (30 days by default).
    #[arg(long, env = "REFRESH_TOKEN_TTL_SECS", default_value_t = 30 * 24 * 3600)]
    refresh_token_ttl_secs: u64,

    #[command(flatten)]
    bootstrap: BootstrapAdminArgs,
}

/// The first administrator, created at start-up when no administrator exists yet.
/// All three must be set for it to happen.
#[derive(clap::Args, Clone)]
struct BootstrapAdminArgs {
    /// Email of the administrator to create when there is none.
    #[arg(long, env = "BOOTSTRAP_ADMIN_EMAIL", hide_env_values = true)]
    bootstrap_admin_email: Option<String>,

    /// Username of that administrator.
    #[arg(long, env = "BOOTSTRAP_ADMIN_USERNAME")]
    bootstrap_admin_username: Option<String>,

    /// Password of that administrator (subject to the password policy).
    #[arg(long, env = "BOOTSTRAP_ADMIN_PASSWORD", hide_env_values = true)]
    bootstrap_admin_password: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and run the relay (the default).
    Serve,
    /// Print the OpenAPI document and exit.
    Openapi,
    /// Create an administrator and exit. The password comes from `ADMIN_PASSWORD`,
    /// or from the first line of standard input.
    CreateAdmin {
        /// The administrator's email address.
        #[arg(long)]
        email: String,
        /// The administrator's username.
        #[arg(long)]
        username: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::Openapi) => {
            println!("{}", http::openapi_json());
            Ok(())
        }
        Some(Command::CreateAdmin { email, username }) => {
            let (email, username) = (email.clone(), username.clone());
            create_admin(cli, &email, &username).await
        }
        Some(Command::Serve) | None => serve(cli).await,
    }
}

async fn connect(cli: &Cli) -> anyhow::Result<sqlx::PgPool> {
    platform::db::connect_and_migrate(&cli.database, "write", &MIGRATIONS, Duration::from_secs(30))
        .await
        .context("preparing the write database")
}

fn command_context(cli: &Cli, pool: sqlx::PgPool) -> anyhow::Result<CommandContext> {
    let threads = HashingPool::default_threads();
    let hasher = PasswordHasher::new(&cli.password_hashing, threads)
        .map_err(|error| anyhow::anyhow!("argon2 parameters: {error}"))?;
    Ok(CommandContext {
        pool,
        hashing: HashingPool::start(hasher, threads).context("starting the hashing threads")?,
        password_policy: cli.password_hashing.policy(),
        tokens: TokenKeys::new(&cli.tokens).context("access-token keys")?,
        refresh_token_ttl: Duration::from_secs(cli.refresh_token_ttl_secs),
        topics: Topics::new(&cli.kafka),
    })
}

async fn create_admin(cli: Cli, email: &str, username: &str) -> anyhow::Result<()> {
    platform::telemetry::init(&cli.telemetry)?;
    let password = match std::env::var("ADMIN_PASSWORD") {
        Ok(password) => password,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("reading the password from standard input")?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let pool = connect(&cli).await?;
    let ctx = command_context(&cli, pool)?;
    let created = commands::accounts::create_admin(&ctx, email, username, &password)
        .await
        .map_err(|error| match error {
            commands::accounts::RegisterError::Invalid(errors) => {
                let reasons: Vec<String> = errors
                    .into_iter()
                    .map(|error| format!("{}: {}", error.field, error.message))
                    .collect();
                anyhow::anyhow!("the administrator is invalid: {}", reasons.join("; "))
            }
            error => anyhow::Error::new(error),
        })?;
    println!("{}", created.user_id);
    Ok(())
}

/// Creates the configured administrator if there is no administrator yet.
async fn bootstrap_admin(cli: &Cli, ctx: &CommandContext) -> anyhow::Result<()> {
    let BootstrapAdminArgs {
        bootstrap_admin_email: Some(email),
        bootstrap_admin_username: Some(username),
        bootstrap_admin_password: Some(password),
    } = &cli.bootstrap
    else {
        return Ok(());
    };
    if commands::accounts::admin_exists(ctx).await? {
        return Ok(());
    }
    match commands::accounts::create_admin(ctx, email, username, password).await {
        Ok(created) => {
            tracing::info!(user.id = %created.user_id, "bootstrap administrator created");
            Ok(())
        }
        // Another instance created it at the same moment, or an ordinary account
        // already has that email or username.
        Err(
            commands::accounts::RegisterError::EmailTaken
            | commands::accounts::RegisterError::UsernameTaken,
        ) => {
            if !commands::accounts::admin_exists(ctx).await? {
                tracing::warn!(
                    "no bootstrap administrator: the configured email or username belongs \
                     to an account that is not an administrator; configure others, or \
                     create one with `command-api create-admin`"
                );
            }
            Ok(())
        }
        Err(error) => {
            Err(anyhow::Error::new(error).context("creating the bootstrap administrator"))
        }
    }
}

async fn serve(cli: Cli) -> anyhow::Result<()> {
    platform::telemetry::init(&cli.telemetry)?;
    let metrics = MetricsRecorder::install()?;
    let shutdown = Shutdown::on_signals();

    let pool = connect(&cli).await?;
    let commands = command_context(&cli, pool.clone())?;
    bootstrap_admin(&cli, &commands).await?;
    let rate_limiter = RateLimiter::new(&cli.rate_limits).context("rate limits")?;
    let cors = platform::http::cors_handler(&cli.cors).context("CORS")?;

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

    let catalog_consumer = cli.catalog_commands.then(|| {
        let spec = platform::consumer::GroupSpec {
            name: "catalog-commands",
            topics: vec![topics.catalog_commands.clone()],
        };
        let handler = std::sync::Arc::new(catalog_commands::CatalogCommands::new(commands.clone()));
        tokio::spawn(platform::consumer::run_group(
            cli.kafka.clone(),
            cli.consumer_retry.clone(),
            spec,
            handler,
            shutdown.clone(),
        ))
    });

    let state = http::AppState {
        tokens: commands.tokens.clone(),
        commands,
        max_body_bytes: cli.http.max_body_bytes,
        rate_limiter: rate_limiter.clone(),
        query_api_public_url: cli.query_api_public_url.clone().map(Into::into),
    };
    // Kafka is not a readiness dependency: commands are accepted while it is down
    // and their events wait in the outbox. Redis is one: sign-in refuses without it.
    let readiness = {
        let pool = pool.clone();
        Readiness::default()
            .check("postgres", move || {
                let pool = pool.clone();
                async move { platform::db::is_reachable(&pool).await }
            })
            .check("redis", move || {
                let limiter = rate_limiter.clone();
                async move { limiter.is_reachable().await }
            })
    };

    tracing::info!(version = env!("CARGO_PKG_VERSION"), "command-api starting");
    platform::http::serve_with_cors(
        cli.listen,
        http::router(state, readiness, metrics),
        Some(cors),
        shutdown,
    )
    .await?;
    if let Some(relay) = relay {
        let _ = relay.await;
    }
    if let Some(consumer) = catalog_consumer {
        match consumer.await {
            Ok(Err(error)) => tracing::error!(error = ?error, "catalogue commands consumer failed"),
            Err(error) => tracing::error!(error = %error, "catalogue commands consumer panicked"),
            Ok(Ok(())) => {}
        }
    }
    tracing::info!("command-api stopped");
    Ok(())
}

/// An `http` or `https` URL without a trailing slash.
fn public_base_url(value: &str) -> Result<String, String> {
    let trimmed = value.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or("must start with http:// or https://")?;
    // Visible ASCII only, so that every `Location` built on it is a valid header.
    let usable = !rest.is_empty()
        && !rest.contains(['?', '#', '@'])
        && trimmed.bytes().all(|byte| byte.is_ascii_graphic());
    if !usable {
        return Err(
            "must be a base URL such as https://api.example.org (ASCII, no credentials, query or fragment)"
                .to_owned(),
        );
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::public_base_url;

    #[test]
    fn a_public_base_url_is_an_http_url_without_a_trailing_slash() {
        assert_eq!(
            public_base_url(" https://api.example.org/ ").as_deref(),
            Ok("https://api.example.org")
        );
        assert_eq!(
            public_base_url("http://127.0.0.1:8081").as_deref(),
            Ok("http://127.0.0.1:8081")
        );
        for refused in [
            "api.example.org",
            "ftp://x",
            "https://",
            "https://a b",
            "https://a/?q=1",
            "https://user:pw@a",
            "https://\u{430}pi.example.org",
            "https://a\u{7}b",
        ] {
            assert!(public_base_url(refused).is_err(), "{refused}");
        }
    }
}
