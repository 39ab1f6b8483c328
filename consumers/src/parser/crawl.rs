//! One import, from `StartImport` to `FinishImport`: walks `/list` page by page with
//! the upstream's cursor, normalises each page, and sends it as one `ImportPage`
//! before fetching the next.
//!
//! What ends an import:
//! - the last page (`next_page` null), or, in an incremental import, the first
//!   material updated before `since`: **succeeded**;
//! - a rejected token, an upstream error message, a page still failing after the
//!   retries, or a broken cursor: **failed**, with the reason. A cursor API cannot
//!   skip a page (the next cursor is on the page that failed), so a failed page ends
//!   the import; the page is also reported in an `ImportPage` with a failure;
//! - `cancelled` in the read model's `imports` row, checked before every page:
//!   **cancelled**.
//!
//! A material that does not normalise is a failure of that material only: it is
//! listed in its page's `failures` and copied to the dead-letter topic, and the
//! import goes on. A material seen twice in one crawl (it was updated while the crawl
//! ran and moved ahead of the cursor) is sent once.

use std::{
    collections::{BTreeMap, HashSet},
    time::Instant,
};

use chrono::{DateTime, Utc};
use platform::shutdown::Shutdown;
use schemas::imports::{
    CatalogCommand, ImportFailure, ImportMode, ImportRequested, ImportState, UpstreamMaterial,
};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::{
    client::{ClientError, KodikClient},
    normalise,
    publish::{PublishError, Publisher},
};
use crate::runtime::Record;

/// Most rows the upstream returns per page.
const MAX_LIMIT: u32 = 100;

/// Why a crawl stopped before it could send `FinishImport`. The import has not
/// ended: the runtime retries the record, and the import runs again.
#[derive(Debug, thiserror::Error)]
pub enum CrawlError {
    /// Kafka did not take a command.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// The read model could not be asked for the import's state.
    #[error("reading the import state")]
    Database(#[from] sqlx::Error),
    /// The process is stopping; the import runs again after the restart.
    #[error("shutdown requested during the import")]
    ShuttingDown,
}

/// Counters for the finish log line.
#[derive(Debug, Default)]
struct Tally {
    pages: u64,
    materials: u64,
    failures: u64,
    duplicates: u64,
}

/// How a crawl ended.
struct Outcome {
    state: ImportState,
    error: Option<String>,
}

impl Outcome {
    fn succeeded() -> Self {
        Self {
            state: ImportState::Succeeded,
            error: None,
        }
    }

    fn failed(reason: String) -> Self {
        Self {
            state: ImportState::Failed,
            error: Some(reason),
        }
    }

    fn cancelled() -> Self {
        Self {
            state: ImportState::Cancelled,
            error: None,
        }
    }
}

/// The import being run, and where its request came from.
pub struct Job<'a> {
    /// The request.
    pub request: &'a ImportRequested,
    /// Correlation id of the request, carried by every command.
    pub correlation_id: &'a str,
    /// The import event record, for dead-letter headers.
    pub source: &'a Record,
}

/// Runs imports.
pub struct Crawler {
    client: KodikClient,
    publisher: Publisher,
    read_pool: PgPool,
    shutdown: Shutdown,
}

impl Crawler {
    /// A crawler fetching with `client`, publishing with `publisher`, and checking
    /// for cancellation in the read model behind `read_pool`.
    pub fn new(
        client: KodikClient,
        publisher: Publisher,
        read_pool: PgPool,
        shutdown: Shutdown,
    ) -> Self {
        Self {
            client,
            publisher,
            read_pool,
            shutdown,
        }
    }

    /// The state the read model has for the import, if it has a row yet.
    pub async fn import_state(&self, import_id: Uuid) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT state FROM imports WHERE import_id = $1")
            .bind(import_id)
            .fetch_optional(&self.read_pool)
            .await
    }

    /// Runs one import to its end and sends `StartImport`, the pages and
    /// `FinishImport`.
    pub async fn run(&self, job: &Job<'_>) -> Result<(), CrawlError> {
        let request = job.request;
        let started = Instant::now();
        tracing::info!(
            import.id = %request.import_id,
            import.mode = ?request.mode,
            import.since = ?request.since,
            "import started"
        );
        self.send(
            job,
            CatalogCommand::StartImport {
                import_id: request.import_id,
            },
        )
        .await?;

        let mut tally = Tally::default();
        let mut newest: Option<DateTime<Utc>> = None;
        let outcome = if request.source == "kodik" {
            self.crawl(job, &mut tally, &mut newest).await?
        } else {
            Outcome::failed(format!(
                "import source {:?} is not supported",
                request.source
            ))
        };

        // Only a complete crawl may move the checkpoint: the newest material of a
        // failed or cancelled crawl was seen, but older changes after it were not.
        let checkpoint = match outcome.state {
            ImportState::Succeeded => newest.or(request.since),
            _ => None,
        };
        self.send(
            job,
            CatalogCommand::FinishImport {
                import_id: request.import_id,
                state: outcome.state,
                error: outcome.error.clone(),
                checkpoint,
            },
        )
        .await?;
        tracing::info!(
            import.id = %request.import_id,
            import.state = ?outcome.state,
            import.error = outcome.error.as_deref(),
            pages = tally.pages,
            materials = tally.materials,
            failures = tally.failures,
            duplicates = tally.duplicates,
            duration_ms = started.elapsed().as_millis() as u64,
            "import finished"
        );
        Ok(())
    }

    async fn crawl(
        &self,
        job: &Job<'_>,
        tally: &mut Tally,
        newest: &mut Option<DateTime<Utc>>,
    ) -> Result<Outcome, CrawlError> {
        let request = job.request;
        let import_id = request.import_id;
        let since = match request.mode {
            ImportMode::Incremental => request.since,
            ImportMode::Full => None,
        };
        let params = list_params(request);
        let mut cursor: Option<String> = None;
        let mut seen: HashSet<String> = HashSet::new();
        let mut page_number: i64 = 0;

        loop {
            if self.shutdown.is_requested() {
                return Err(CrawlError::ShuttingDown);
            }
            if self.import_state(import_id).await?.as_deref() == Some("cancelled") {
                return Ok(Outcome::cancelled());
            }
            page_number += 1;
            let mut page_params = params.clone();
            if let Some(cursor) = &cursor {
                page_params.push(("next".to_owned(), cursor.clone()));
            }

            let mut shutdown = self.shutdown.clone();
            let fetched = tokio::select! {
                _ = shutdown.requested() => return Err(CrawlError::ShuttingDown),
                fetched = self.client.list(&page_params) => fetched,
            };
            let page = match fetched {
                Ok(page) => page,
                Err(error @ ClientError::TokenRejected) => {
                    return Ok(Outcome::failed(error.to_string()));
                }
                Err(error) => {
                    let reason = self.client.redact(&format!("page {page_number}: {error}"));
                    self.send_page(
                        job,
                        page_number,
                        Vec::new(),
                        vec![ImportFailure {
                            material_id: None,
                            page: page_number,
                            reason: reason.clone(),
                        }],
                    )
                    .await?;
                    tally.pages += 1;
                    tally.failures += 1;
                    return Ok(Outcome::failed(reason));
                }
            };

            let mut materials: Vec<UpstreamMaterial> = Vec::with_capacity(page.results.len());
            let mut failures: Vec<ImportFailure> = Vec::new();
            let mut reached_since = false;
            for row in &page.results {
                let material_id = normalise::material_id(row);
                if let Some(id) = &material_id
                    && !seen.insert(id.clone())
                {
                    tally.duplicates += 1;
                    continue;
                }
                let updated_at = normalise::updated_at(row);
                if let (Some(since), Some(updated_at)) = (since, updated_at)
                    && updated_at < since
                {
                    reached_since = true;
                    break;
                }
                *newest = (*newest).max(updated_at);
                match normalise::normalise(row) {
                    Ok(material) => materials.push(material),
                    Err(error) => {
                        let failure = ImportFailure {
                            material_id,
                            page: page_number,
                            reason: error.to_string(),
                        };
                        self.reject(job, row, &failure).await?;
                        failures.push(failure);
                    }
                }
            }

            tally.pages += 1;
            tally.materials += materials.len() as u64;
            tally.failures += failures.len() as u64;
            tracing::debug!(
                import.id = %import_id,
                page = page_number,
                rows = page.results.len(),
                materials = materials.len(),
                failures = failures.len(),
                upstream.total = page.total,
                "page imported"
            );
            let too_large = match self.send_page(job, page_number, materials, failures).await {
                Ok(()) => None,
                Err(CrawlError::Publish(error @ PublishError::TooLarge { .. })) => Some(error),
                Err(error) => return Err(error),
            };
            if let Some(error) = too_large {
                let reason = format!("page {page_number}: {error}");
                self.send_page(
                    job,
                    page_number,
                    Vec::new(),
                    vec![ImportFailure {
                        material_id: None,
                        page: page_number,
                        reason: reason.clone(),
                    }],
                )
                .await?;
                return Ok(Outcome::failed(reason));
            }

            if reached_since {
                return Ok(Outcome::succeeded());
            }
            match page.next_cursor {
                None => return Ok(Outcome::succeeded()),
                Some(next) if cursor.as_ref() == Some(&next) => {
                    return Ok(Outcome::failed(format!(
                        "page {page_number}: the upstream repeated the previous cursor"
                    )));
                }
                Some(next) => cursor = Some(next),
            }
        }
    }

    async fn send(&self, job: &Job<'_>, command: CatalogCommand) -> Result<(), CrawlError> {
        self.publisher
            .command(job.request.import_id, job.correlation_id, command)
            .await?;
        Ok(())
    }

    async fn send_page(
        &self,
        job: &Job<'_>,
        page: i64,
        materials: Vec<UpstreamMaterial>,
        failures: Vec<ImportFailure>,
    ) -> Result<(), CrawlError> {
        self.send(
            job,
            CatalogCommand::ImportPage {
                import_id: job.request.import_id,
                page,
                materials,
                failures,
            },
        )
        .await
    }

    async fn reject(
        &self,
        job: &Job<'_>,
        row: &Value,
        failure: &ImportFailure,
    ) -> Result<(), CrawlError> {
        tracing::warn!(
            import.id = %job.request.import_id,
            material.id = failure.material_id.as_deref(),
            page = failure.page,
            reason = %failure.reason,
            "material not imported, copied to the dead-letter topic"
        );
        self.publisher
            .rejected_material(job.request.import_id, row, &failure.reason, job.source)
            .await?;
        Ok(())
    }
}

/// The query parameters of every page: the defaults, overridden by the request's
/// filters, with `limit` capped and, for an incremental import, the sort the early
/// stop depends on. `token` and `next` are the parser's own and cannot be filters.
pub fn list_params(request: &ImportRequested) -> Vec<(String, String)> {
    let mut params: BTreeMap<String, String> = [
        ("limit", "100"),
        ("with_episodes_data", "true"),
        ("with_material_data", "true"),
        ("types", "anime,anime-serial"),
        ("sort", "updated_at"),
        ("order", "desc"),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value.to_owned()))
    .collect();
    for (key, value) in &request.filters {
        if key == "token" || key == "next" {
            tracing::warn!(import.id = %request.import_id, filter.key = %key, "import filter ignored");
            continue;
        }
        params.insert(key.clone(), value.clone());
    }
    let limit = params
        .get("limit")
        .and_then(|limit| limit.parse::<u32>().ok())
        .filter(|limit| (1..=MAX_LIMIT).contains(limit))
        .unwrap_or(MAX_LIMIT);
    params.insert("limit".to_owned(), limit.to_string());
    if request.mode == ImportMode::Incremental && request.since.is_some() {
        params.insert("sort".to_owned(), "updated_at".to_owned());
        params.insert("order".to_owned(), "desc".to_owned());
    }
    params.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(mode: ImportMode, filters: &[(&str, &str)]) -> ImportRequested {
        ImportRequested {
            import_id: Uuid::now_v7(),
            source: "kodik".to_owned(),
            mode,
            filters: filters
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
            since: (mode == ImportMode::Incremental).then(Utc::now),
        }
    }

    fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
        params
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    #[test]
    fn defaults_ask_for_anime_with_episodes_and_material_data() {
        let params = list_params(&request(ImportMode::Full, &[]));
        assert_eq!(param(&params, "limit"), Some("100"));
        assert_eq!(param(&params, "with_episodes_data"), Some("true"));
        assert_eq!(param(&params, "with_material_data"), Some("true"));
        assert_eq!(param(&params, "types"), Some("anime,anime-serial"));
        assert_eq!(param(&params, "token"), None);
    }

    #[test]
    fn filters_override_defaults_but_not_the_token_the_cursor_or_the_limit_cap() {
        let params = list_params(&request(
            ImportMode::Full,
            &[
                ("types", "anime"),
                ("year", "2015"),
                ("limit", "500"),
                ("token", "smuggled"),
                ("next", "forged"),
            ],
        ));
        assert_eq!(param(&params, "types"), Some("anime"));
        assert_eq!(param(&params, "year"), Some("2015"));
        assert_eq!(param(&params, "limit"), Some("100"));
        assert_eq!(param(&params, "token"), None);
        assert_eq!(param(&params, "next"), None);

        let params = list_params(&request(ImportMode::Full, &[("limit", "3")]));
        assert_eq!(param(&params, "limit"), Some("3"));
    }

    #[test]
    fn an_incremental_import_always_walks_newest_first() {
        let params = list_params(&request(
            ImportMode::Incremental,
            &[("sort", "year"), ("order", "asc")],
        ));
        assert_eq!(param(&params, "sort"), Some("updated_at"));
        assert_eq!(param(&params, "order"), Some("desc"));
    }
}
