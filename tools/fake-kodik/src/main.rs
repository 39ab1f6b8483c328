//! `fake-kodik`: a local server that speaks the Kodik video API's exact format, so the
//! catalogue importer can be tested and benchmarked without reaching the real service.
//!
//! This file is the composition root: command-line options, assembling the served
//! catalogue from the embedded fixture and the hand-made scenarios, and starting the
//! listener.

mod api;
mod catalogue;
mod cursor;
mod faults;
mod filters;
mod generate;
mod links;
mod material_data;
mod model;
mod params;
mod render;
mod scenarios;
mod search;
mod server;
mod store;
mod timestamps;
mod translations;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context as _;
use clap::{Args, Parser, ValueEnum};
use salvo::{
    Server,
    conn::{Acceptor, Listener, TcpListener},
};

use crate::{
    api::Api,
    catalogue::{Subset, Title},
    faults::{Control, Faults},
    server::AppState,
    store::Store,
};

/// Which materials a run serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// The generated catalogue plus the hand-made case materials (ids 1..=999).
    Full,
    /// Only the generated catalogue.
    Catalogue,
    /// Only the hand-made case materials (`serial-1` … `serial-11`, `movie-8`).
    KodikCases,
}

/// Faults active from startup; `POST /_control/faults` changes them at runtime.
#[derive(Debug, Clone, Args)]
struct FaultArgs {
    /// Answer every request with the token error (HTTP 500).
    #[arg(long, env = "FAKE_KODIK_REJECT_TOKEN")]
    reject_token: bool,
    /// Answer every request with HTTP 502 and an HTML page.
    #[arg(long, env = "FAKE_KODIK_HTML_502")]
    html_502: bool,
    /// Answer only the next K requests with the 502 HTML page.
    #[arg(
        long,
        env = "FAKE_KODIK_HTML_502_NEXT",
        default_value_t = 0,
        value_name = "K"
    )]
    html_502_next: u32,
    /// Accept every request and never answer it (see --stall-secs).
    #[arg(long, env = "FAKE_KODIK_STALL")]
    stall: bool,
    /// Stall only the next K requests.
    #[arg(
        long,
        env = "FAKE_KODIK_STALL_NEXT",
        default_value_t = 0,
        value_name = "K"
    )]
    stall_next: u32,
    /// Delay every answer by this many milliseconds.
    #[arg(
        long,
        env = "FAKE_KODIK_SLOW_MS",
        default_value_t = 0,
        value_name = "MS"
    )]
    slow_ms: u64,
    /// Answer every request with the token error JSON but HTTP 200.
    #[arg(long, env = "FAKE_KODIK_ERROR_200")]
    error_200: bool,
}

impl From<FaultArgs> for Faults {
    fn from(a: FaultArgs) -> Self {
        Self {
            reject_token: a.reject_token,
            html_502: a.html_502,
            html_502_next: a.html_502_next,
            stall: a.stall,
            stall_next: a.stall_next,
            slow_ms: a.slow_ms,
            error_200: a.error_200,
        }
    }
}

/// A local server speaking the Kodik video API format (/list, /search,
/// /translations/v2, /genres, /countries, /qualities/v2, /years), serving an anime
/// catalogue derived from public AniDB and Kaggle data. Control API (ours, not
/// Kodik's): GET|POST /_control/faults, GET|DELETE /_control/requests.
#[derive(Debug, Parser)]
#[command(name = "fake-kodik", version)]
struct Cli {
    /// Address to listen on (port 0 picks a free port; the chosen one is printed).
    #[arg(long, env = "FAKE_KODIK_LISTEN", default_value = "127.0.0.1:58080")]
    listen: SocketAddr,
    /// The token every request must carry as the `token` parameter.
    #[arg(
        long,
        env = "FAKE_KODIK_TOKEN",
        default_value = "fake-kodik-token",
        hide_env_values = true
    )]
    token: String,
    /// Host written into `next_page` URLs: upstream's own public host, deliberately not
    /// this server's address; clients must take only the `next` cursor from it.
    #[arg(
        long,
        env = "FAKE_KODIK_PUBLIC_BASE_URL",
        default_value = "https://kodik-api.com"
    )]
    public_base_url: String,
    /// Which materials to serve.
    #[arg(long, env = "FAKE_KODIK_SCENARIO", value_enum, default_value_t = Scenario::Full)]
    scenario: Scenario,
    /// Read the catalogue from this gzip JSON-lines file instead of the embedded one.
    #[arg(long, env = "FAKE_KODIK_CATALOGUE", value_name = "PATH")]
    catalogue: Option<PathBuf>,
    /// Serve only N titles, spread evenly over the catalogue (deterministic).
    #[arg(
        long,
        env = "FAKE_KODIK_CATALOGUE_SIZE",
        value_name = "N",
        conflicts_with = "only"
    )]
    catalogue_size: Option<usize>,
    /// Serve only the titles with these kodik_ids (comma-separated).
    #[arg(
        long,
        env = "FAKE_KODIK_ONLY",
        value_name = "IDS",
        value_delimiter = ','
    )]
    only: Option<Vec<u32>>,
    /// Seed of the deterministic expansion; the same seed gives the same rows.
    #[arg(long, env = "FAKE_KODIK_SEED", default_value_t = generate::DEFAULT_SEED)]
    seed: u64,
    /// How long a stalled request is held open before it is dropped.
    #[arg(
        long,
        env = "FAKE_KODIK_STALL_SECS",
        default_value_t = 3600,
        value_name = "SECS"
    )]
    stall_secs: u64,
    #[command(flatten)]
    faults: FaultArgs,
}

/// The served catalogue for a set of titles and a scenario mode.
fn assemble(titles: Vec<Title>, scenario: Scenario, seed: u64) -> Store {
    let generated = match scenario {
        Scenario::KodikCases => Vec::new(),
        Scenario::Catalogue => titles,
        // Titles the scenarios stand in for are left out so every shikimori_id keeps
        // one consistent set of external ids.
        Scenario::Full => titles
            .into_iter()
            .filter(|t| {
                t.shikimori_id
                    .is_none_or(|s| !scenarios::SHIKIMORI_IDS.contains(&s))
            })
            .collect(),
    };
    let (mut works, mut materials) = generate::expand(&generated, seed);
    if scenario != Scenario::Catalogue {
        let (extra_works, extra_materials) = scenarios::build(works.len());
        works.extend(extra_works);
        materials.extend(extra_materials);
    }
    Store::new(works, materials)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let subset = match (&cli.catalogue_size, &cli.only) {
        (Some(n), _) => Subset::Size(*n),
        (None, Some(ids)) => Subset::Only(ids.clone()),
        (None, None) => Subset::All,
    };
    let titles = if cli.scenario == Scenario::KodikCases {
        Vec::new()
    } else {
        subset.apply(catalogue::load(cli.catalogue.as_deref()).context("loading the catalogue")?)
    };
    let store = assemble(titles, cli.scenario, cli.seed);
    let episodes: usize = store
        .materials
        .iter()
        .filter_map(|m| m.serial.as_ref())
        .flat_map(|s| &s.seasons)
        .map(|s| s.episodes.len())
        .sum();
    println!(
        "fake-kodik serving {} titles, {} materials, {episodes} episodes (scenario {})",
        store.works.len(),
        store.materials.len(),
        cli.scenario
            .to_possible_value()
            .map_or_else(String::new, |v| v.get_name().to_owned())
    );

    let state = Arc::new(AppState {
        api: Api::new(store, cli.token, cli.public_base_url),
        control: Control::new(cli.faults.into()),
        stall: Duration::from_secs(cli.stall_secs),
    });
    let acceptor = TcpListener::new(cli.listen)
        .try_bind()
        .await
        .with_context(|| format!("binding {}", cli.listen))?;
    let bound = acceptor
        .holdings()
        .first()
        .and_then(|h| h.local_addr.clone().into_std());
    let bound = bound.unwrap_or(cli.listen);
    println!("fake-kodik listening on http://{bound}");
    tokio::select! {
        () = Server::new(acceptor).serve(server::router(state)) => {}
        result = tokio::signal::ctrl_c() => result.context("waiting for ctrl-c")?,
    }
    Ok(())
}
