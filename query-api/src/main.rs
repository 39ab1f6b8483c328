//! `query-api`: serves the read model (user profiles, the audit log, the catalogue and
//! search). It reads only the read model, the search index and Redis; never the write
//! model.

mod cache;
mod http;
mod search;
mod store;

/// Each request allocates and frees many short-lived buffers (engine answers, JSON
/// trees, response bodies) across threads; glibc's allocator spent about a fifth of
/// the process's CPU on them under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::{net::SocketAddr, time::Duration};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use platform::{
    auth::{TokenArgs, TokenKeys},
    config::{DatabaseArgs, TelemetryArgs},
    http::{CorsArgs, MetricsRecorder, RateLimitArgs, RateLimiter, Readiness},
    shutdown::Shutdown,
};

/// The read model's migrations are owned by the read side and shared with the
/// projector; sqlx serialises concurrent runs with an advisory lock.
static READ_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../consumers/migrations");

/// Serves the read model: catalogue, search and user views.
///
/// Every option can also be set through the environment variable shown with it.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// Address the HTTP API listens on.
    #[arg(long, env = "QUERY_API_LISTEN", default_value = "127.0.0.1:8081")]
    listen: SocketAddr,

    /// Longest time a request with `min_version` waits for the read model to catch up.
    #[arg(long, env = "READ_YOUR_WRITES_WAIT_MS", default_value_t = 3000)]
    read_your_writes_wait_ms: u64,

    #[command(flatten)]
    telemetry: TelemetryArgs,
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    tokens: TokenArgs,
    #[command(flatten)]
    rate_limits: RateLimitArgs,
    #[command(flatten)]
    cors: CorsArgs,
    #[command(flatten)]
    search: platform::config::SearchArgs,
    #[command(flatten)]
    cache: cache::CacheArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Print the OpenAPI document and exit.
    Openapi,
    /// Print the search-engine body of a search (or, with `--suggest`, an autocomplete)
    /// for `q`, e.g. to send the same query straight to the engine.
    SearchBody {
        /// The query text.
        q: String,
        /// The autocomplete query instead of the full-text one.
        #[arg(long)]
        suggest: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Openapi) => {
            println!("{}", http::openapi_json());
            Ok(())
        }
        Some(Command::SearchBody { q, suggest }) => {
            // The very text sent to the engine.
            let body = if suggest {
                search::suggest_body_text(&q, 10)
            } else {
                search::search_body_text(&q, &http::filters::Filters::default(), None, 0, 20)
            };
            println!("{body}");
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
        "read",
        &READ_MIGRATIONS,
        Duration::from_secs(30),
    )
    .await
    .context("preparing the read database")?;

    let tokens = TokenKeys::new(&cli.tokens).context("access-token keys")?;
    let rate_limiter = RateLimiter::new(&cli.rate_limits).context("rate limits")?;
    let cors = platform::http::cors_handler(&cli.cors).context("CORS")?;
    let readiness = {
        let pool = pool.clone();
        let limiter = rate_limiter.clone();
        Readiness::default()
            .check("postgres", move || {
                let pool = pool.clone();
                async move { platform::db::is_reachable(&pool).await }
            })
            .check("redis", move || {
                let limiter = limiter.clone();
                async move { limiter.is_reachable().await }
            })
    };
    let search = search::SearchEngine::new(
        &cli.search.search_url,
        cli.search.releases_alias(),
        Duration::from_millis(cli.search.search_timeout_ms),
    )
    .context("search engine client")?;
    let readiness = {
        let search = search.clone();
        readiness.check("search", move || {
            let search = search.clone();
            async move { search.is_reachable().await }
        })
    };
    let catalog = http::CatalogState {
        pool: pool.clone(),
        cache: cache::Cache::connect(&cli.cache).await,
        search,
        read_your_writes_wait: Duration::from_millis(cli.read_your_writes_wait_ms),
    };
    let catalog_routes = http::catalog_router(catalog, &rate_limiter);
    let state = http::AppState {
        pool,
        read_your_writes_wait: Duration::from_millis(cli.read_your_writes_wait_ms),
        rate_limiter,
        tokens,
    };

    tracing::info!(version = env!("CARGO_PKG_VERSION"), "query-api starting");
    platform::http::serve_with_cors(
        cli.listen,
        http::router(state, readiness, metrics).push(catalog_routes),
        Some(cors),
        shutdown,
    )
    .await?;
    tracing::info!("query-api stopped");
    Ok(())
}
