//! Catalogue imports: requesting and cancelling them (admin commands over HTTP), and
//! applying the catalogue commands the parser sends over Kafka, which merge upstream
//! rows into releases. Only this side writes the catalogue.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::Utc;
use schemas::{
    Actor, Envelope,
    imports::{
        CatalogCommand, CatalogCommandMessage, ImportCounters, ImportMode, ImportRequested,
        ImportState, UpstreamMaterial,
    },
    releases::ExternalIds,
};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    CommandContext,
    releases::{ReleaseChange, publish_releases},
};
use crate::{
    audit::{self, AuditContext, AuditEntry},
    domain::releases::{MERGE_ORDER, external_id, may_join, set_external_id},
    outbox,
    store::{
        catalog::{self, ExternalIdKey},
        imports::{self, Import},
    },
};

/// The only upstream so far.
pub const SOURCE_KODIK: &str = "kodik";

/// Upstream filters an import may pass on.
pub const ALLOWED_FILTERS: &[&str] = &[
    "types",
    "year",
    "translation_id",
    "translation_type",
    "camrip",
    "lgbt",
    "anime_kind",
    "anime_status",
    "genres",
    "anime_genres",
    "rating_mpaa",
    "minimal_age",
    "not_blocked_in",
    "shikimori_rating",
    "limit",
];

/// The most rows one upstream page may carry (`limit`).
pub const MAX_PAGE_LIMIT: u32 = 100;

/// The values the upstream accepts for its enumerated filters (each filter a
/// comma-separated list); other filters' values are passed on unchecked. The local
/// Kodik-compatible server keeps its own list on purpose: it stands in for the
/// upstream, so a mistake here must not be copied into what tests run against.
const FILTER_VALUES: &[(&str, &[&str])] = &[
    (
        "types",
        &[
            "anime",
            "anime-serial",
            "foreign-movie",
            "foreign-serial",
            "russian-movie",
            "russian-serial",
            "foreign-cartoon",
            "russian-cartoon",
            "soviet-cartoon",
            "cartoon-serial",
            "documentary-serial",
            "multi-part-film",
        ],
    ),
    ("translation_type", &["voice", "subtitles"]),
    ("camrip", &["true", "false"]),
    ("lgbt", &["true", "false"]),
    (
        "anime_kind",
        &[
            "tv", "movie", "ova", "ona", "special", "music", "tv_13", "tv_24", "tv_48",
        ],
    ),
    ("anime_status", &["anons", "ongoing", "released"]),
];

/// Why a filter's value cannot be sent upstream, if it cannot.
fn invalid_filter_value(name: &str, value: &str) -> Option<String> {
    if name == "limit" {
        let valid = value
            .parse::<u32>()
            .is_ok_and(|limit| (1..=MAX_PAGE_LIMIT).contains(&limit));
        return (!valid).then(|| {
            format!(
                "filter \"limit\" must be a whole number from 1 to {MAX_PAGE_LIMIT}, not {value:?}"
            )
        });
    }
    let (_, allowed) = FILTER_VALUES.iter().find(|(filter, _)| *filter == name)?;
    value
        .split(',')
        .map(str::trim)
        .find(|item| !allowed.contains(item))
        .map(|item| {
            format!(
                "filter {name:?} does not take {item:?}; one or more of {}",
                allowed.join(", ")
            )
        })
}

/// `request_import`: an admin asks for an import.
pub struct RequestImport {
    /// Upstream name; only `kodik`.
    pub source: String,
    /// Full or incremental.
    pub mode: ImportMode,
    /// Upstream filters.
    pub filters: BTreeMap<String, String>,
}

/// Why an import command was refused.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The source or a filter is not supported.
    #[error("invalid import request: {0}")]
    Invalid(String),
    /// No import with this id.
    #[error("no such import")]
    NotFound,
    /// The import already ended.
    #[error("the import already ended")]
    AlreadyFinished,
    /// The database failed.
    #[error("saving an import")]
    Database(#[from] sqlx::Error),
}

/// Creates a queued import and publishes `import.requested` for the parser.
pub async fn request_import(
    ctx: &CommandContext,
    audit_context: &AuditContext,
    request: RequestImport,
) -> Result<Import, ImportError> {
    if request.source != SOURCE_KODIK {
        return Err(ImportError::Invalid(format!(
            "unknown source {:?}; use \"kodik\"",
            request.source
        )));
    }
    if let Some(unknown) = request
        .filters
        .keys()
        .find(|key| !ALLOWED_FILTERS.contains(&key.as_str()))
    {
        return Err(ImportError::Invalid(format!("unknown filter {unknown:?}")));
    }
    if let Some(reason) = request
        .filters
        .iter()
        .find_map(|(name, value)| invalid_filter_value(name, value))
    {
        return Err(ImportError::Invalid(reason));
    }

    let mut tx = ctx.pool.begin().await?;
    let since = match request.mode {
        ImportMode::Full => None,
        ImportMode::Incremental => imports::last_checkpoint(&mut tx, &request.source).await?,
    };
    let import = Import {
        id: Uuid::now_v7(),
        version: 1,
        source: request.source.clone(),
        mode: request.mode,
        state: ImportState::Queued,
        filters: serde_json::to_value(&request.filters).unwrap_or_default(),
        since,
        counters: ImportCounters::default(),
        failures: Vec::new(),
        error: None,
        checkpoint: None,
        requested_by: audit_context.actor.map(|principal| principal.user_id),
        requested_at: Utc::now(),
        started_at: None,
        finished_at: None,
    };
    imports::insert(&mut tx, &import).await?;
    let actor = actor_of(audit_context);
    let requested = Envelope::new(
        import.id.to_string(),
        1,
        audit_context.request_id.clone(),
        actor.clone(),
        ImportRequested {
            import_id: import.id,
            source: request.source,
            mode: request.mode,
            filters: request.filters,
            since,
        },
    );
    outbox::append(&mut tx, &ctx.topics.import_events, &requested).await?;
    publish_import(&mut tx, ctx, &import, &audit_context.request_id, actor).await?;
    audit::record(
        &mut tx,
        &ctx.topics.audit_events,
        audit_context,
        AuditEntry {
            action: "import.request",
            target: format!("import:{}", import.id),
            details: serde_json::json!({"mode": import.mode, "filters": import.filters}),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(import.id = %import.id, "import requested");
    Ok(import)
}

/// Marks a running or queued import cancelled; the parser stops at its next page.
pub async fn cancel_import(
    ctx: &CommandContext,
    audit_context: &AuditContext,
    import_id: Uuid,
) -> Result<Import, ImportError> {
    let mut tx = ctx.pool.begin().await?;
    let mut import = imports::lock(&mut tx, import_id)
        .await?
        .ok_or(ImportError::NotFound)?;
    if import.state.is_final() {
        return Err(ImportError::AlreadyFinished);
    }
    import.state = ImportState::Cancelled;
    import.finished_at = Some(Utc::now());
    import.version += 1;
    imports::save(&mut tx, &import).await?;
    publish_import(
        &mut tx,
        ctx,
        &import,
        &audit_context.request_id,
        actor_of(audit_context),
    )
    .await?;
    audit::record(
        &mut tx,
        &ctx.topics.audit_events,
        audit_context,
        AuditEntry {
            action: "import.cancel",
            target: format!("import:{import_id}"),
            details: serde_json::json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(import.id = %import_id, "import cancelled");
    Ok(import)
}

fn actor_of(context: &AuditContext) -> Actor {
    match context.actor {
        Some(principal) => Actor::User {
            id: principal.user_id,
        },
        None => Actor::System {
            name: "command-api".to_owned(),
        },
    }
}

fn parser_actor() -> Actor {
    Actor::System {
        name: "parser".to_owned(),
    }
}

async fn publish_import(
    tx: &mut PgConnection,
    ctx: &CommandContext,
    import: &Import,
    correlation_id: &str,
    actor: Actor,
) -> Result<(), sqlx::Error> {
    let event = Envelope::new(
        import.id.to_string(),
        import.version,
        correlation_id.to_owned(),
        actor,
        import.snapshot(),
    );
    outbox::append(tx, &ctx.topics.import_events, &event).await
}

/// Why a catalogue command could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The command names an import that does not exist.
    #[error("unknown import {0}")]
    UnknownImport(Uuid),
    /// The database failed.
    #[error("applying a catalogue command")]
    Database(#[from] sqlx::Error),
}

/// Applies one catalogue command, exactly once per `command_id`.
pub async fn apply(ctx: &CommandContext, message: CatalogCommandMessage) -> Result<(), ApplyError> {
    let mut tx = ctx.pool.begin().await?;
    if !catalog::claim_command(&mut tx, message.command_id).await? {
        tracing::debug!(command.id = %message.command_id, "catalogue command already applied");
        return Ok(());
    }
    let correlation_id = message.correlation_id;
    match message.command {
        CatalogCommand::StartImport { import_id } => {
            let mut import = lock_import(&mut tx, import_id).await?;
            if import.state == ImportState::Queued {
                import.state = ImportState::Running;
                import.started_at = Some(Utc::now());
                import.version += 1;
                imports::save(&mut tx, &import).await?;
                publish_import(&mut tx, ctx, &import, &correlation_id, parser_actor()).await?;
                tracing::info!(import.id = %import_id, "import started");
            }
        }
        CatalogCommand::ImportPage {
            import_id,
            page: _,
            materials,
            failures,
        } => {
            let mut import = lock_import(&mut tx, import_id).await?;
            if !import.state.is_final() {
                import.counters.pages += 1;
                import.record_failures(&failures);
                merge_materials(
                    &mut tx,
                    ctx,
                    &correlation_id,
                    &materials,
                    &mut import.counters,
                )
                .await?;
                import.version += 1;
                imports::save(&mut tx, &import).await?;
                publish_import(&mut tx, ctx, &import, &correlation_id, parser_actor()).await?;
            }
        }
        CatalogCommand::FinishImport {
            import_id,
            state,
            error,
            checkpoint,
        } => {
            let mut import = lock_import(&mut tx, import_id).await?;
            if !import.state.is_final() {
                import.state = state;
                import.error = error;
                import.checkpoint = checkpoint;
                import.finished_at = Some(Utc::now());
                import.version += 1;
                imports::save(&mut tx, &import).await?;
                publish_import(&mut tx, ctx, &import, &correlation_id, parser_actor()).await?;
                tracing::info!(
                    import.id = %import_id,
                    import.state = ?import.state,
                    import.materials = import.counters.materials,
                    import.failures = import.counters.failures,
                    "import finished"
                );
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

async fn lock_import(tx: &mut PgConnection, import_id: Uuid) -> Result<Import, ApplyError> {
    imports::lock(tx, import_id)
        .await?
        .ok_or(ApplyError::UnknownImport(import_id))
}

/// Merges a page of upstream rows: each row joins (or creates) its release, then every
/// touched release is recomputed from all its rows and published if it changed. The
/// page is read and written in a fixed number of statements, whatever its size.
async fn merge_materials(
    tx: &mut PgConnection,
    ctx: &CommandContext,
    correlation_id: &str,
    materials: &[UpstreamMaterial],
    counters: &mut ImportCounters,
) -> Result<(), sqlx::Error> {
    // A row sent twice in one page counts once, as its last form.
    let mut latest: BTreeMap<&str, &UpstreamMaterial> = BTreeMap::new();
    for material in materials {
        counters.materials += 1;
        counters.episodes += material.episodes.len() as i64;
        counters.sources += material.episodes.len() as i64;
        latest.insert(material.material_id.as_str(), material);
    }
    let ids: Vec<&str> = latest.keys().copied().collect();
    let stored = catalog::materials_by_id(tx, &ids).await?;

    // Everything the merge order may look at, loaded up front.
    let keys: Vec<ExternalIdKey> = latest
        .values()
        .flat_map(|material| external_id_keys(&material.external_ids))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut claims = catalog::claimed_by(tx, &keys).await?;
    let known: Vec<Uuid> = claims
        .values()
        .chain(stored.values().map(|stored| &stored.release_id))
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut release_ids = catalog::external_ids_of(tx, &known).await?;

    let mut created = Vec::new();
    let mut new_claims = Vec::new();
    let mut rows = Vec::new();
    let mut touched: BTreeSet<Uuid> = BTreeSet::new();
    for material in materials {
        // Only the last form of a repeated row is merged.
        if !std::ptr::eq(latest[material.material_id.as_str()], material) {
            continue;
        }
        let content =
            serde_json::to_value(material).map_err(|error| sqlx::Error::Encode(error.into()))?;
        let release_id = match stored.get(&material.material_id) {
            Some(stored) if stored.content == content => {
                counters.releases_unchanged += 1;
                continue;
            }
            Some(stored) => stored.release_id,
            None => match find_release_for(&material.external_ids, &claims, &release_ids) {
                Some(release_id) => release_id,
                None => {
                    let release_id = Uuid::now_v7();
                    created.push(release_id);
                    release_id
                }
            },
        };
        // Claim the row's ids that no release holds yet, so later rows of this page
        // find the release too.
        for key in external_id_keys(&material.external_ids) {
            if let std::collections::hash_map::Entry::Vacant(slot) = claims.entry(key.clone()) {
                slot.insert(release_id);
                set_external_id(
                    release_ids.entry(release_id).or_default(),
                    &key.0,
                    key.1.clone(),
                );
                new_claims.push((key, release_id));
            }
        }
        rows.push(catalog::MaterialRow {
            material,
            release_id,
            content,
        });
        touched.insert(release_id);
    }
    catalog::create_releases(tx, &created).await?;
    catalog::save_claims(tx, &new_claims).await?;
    catalog::save_materials(tx, &rows).await?;

    let touched: Vec<Uuid> = touched.into_iter().collect();
    for (_, change) in publish_releases(tx, ctx, correlation_id, &parser_actor(), &touched).await? {
        match change {
            ReleaseChange::Created => counters.releases_created += 1,
            ReleaseChange::Updated => counters.releases_updated += 1,
            ReleaseChange::Unchanged => counters.releases_unchanged += 1,
        }
    }
    Ok(())
}

/// The external ids of a row, in merge order.
fn external_id_keys(ids: &ExternalIds) -> Vec<ExternalIdKey> {
    MERGE_ORDER
        .iter()
        .filter_map(|source| {
            external_id(ids, source).map(|value| ((*source).to_owned(), value.to_owned()))
        })
        .collect()
}

/// The release that one of `ids` points to, following the merge order, given every
/// claim of those ids (`claims`) and the ids of the releases they point to. `None`
/// when no known release may take a row with these ids.
fn find_release_for(
    ids: &ExternalIds,
    claims: &HashMap<ExternalIdKey, Uuid>,
    release_ids: &HashMap<Uuid, ExternalIds>,
) -> Option<Uuid> {
    let no_ids = ExternalIds::default();
    external_id_keys(ids).into_iter().find_map(|key| {
        let release_id = *claims.get(&key)?;
        let theirs = release_ids.get(&release_id).unwrap_or(&no_ids);
        may_join(ids, theirs, &key.0).then_some(release_id)
    })
}
