//! Release commands: publishing a release after any change (shared with imports), and
//! moderators' create, edit and delete of releases, episodes and video sources, each
//! with optimistic concurrency on the release version.

use schemas::{
    Actor, Envelope,
    imports::UpstreamMaterial,
    releases::{
        AgeRating, AiringSeason, ReleaseDeleted, ReleaseKind, ReleaseSourcesRemoved,
        ReleaseSourcesUpserted, ReleaseStatus, Title,
    },
};
use serde_json::{Map, Value};
use sqlx::PgConnection;
use uuid::Uuid;

use super::CommandContext;
use crate::{
    audit::{self, AuditContext, AuditEntry},
    domain::releases::{
        self, EDITABLE_FIELDS, EpisodeEdit, InvalidEdit, ReleaseEdits, episode_key,
    },
    outbox,
    store::catalog,
};

/// What publishing a release found.
pub enum ReleaseChange {
    /// The release was new.
    Created,
    /// Something changed and was published.
    Updated,
    /// Nothing changed; nothing was published.
    Unchanged,
}

fn encode(error: serde_json::Error) -> sqlx::Error {
    sqlx::Error::Encode(error.into())
}

/// Recomputes a release from its upstream rows and moderator edits, and publishes
/// what changed: `release.upserted`, and `release.sources_upserted` or
/// `release.sources_removed` per changed translation, each a new version. A deleted
/// release publishes nothing.
pub async fn publish_release(
    tx: &mut PgConnection,
    ctx: &CommandContext,
    correlation_id: &str,
    actor: &Actor,
    release_id: Uuid,
) -> Result<ReleaseChange, sqlx::Error> {
    let changes = publish_releases(tx, ctx, correlation_id, actor, &[release_id]).await?;
    Ok(changes
        .into_iter()
        .next()
        .map_or(ReleaseChange::Unchanged, |(_, change)| change))
}

/// [`publish_release`] for many releases at once, in a fixed number of statements:
/// the releases are locked in id order, and what changed is written and appended to
/// the outbox in bulk. Returns the change of each release, in id order.
pub async fn publish_releases(
    tx: &mut PgConnection,
    ctx: &CommandContext,
    correlation_id: &str,
    actor: &Actor,
    release_ids: &[Uuid],
) -> Result<Vec<(Uuid, ReleaseChange)>, sqlx::Error> {
    let mut stored = catalog::lock_releases(tx, release_ids).await?;
    let mut ids: Vec<Uuid> = stored.keys().copied().collect();
    ids.sort_unstable();
    let mut writes = catalog::ReleaseWrites::default();
    let mut events = outbox::Batch::default();
    let mut changes = Vec::with_capacity(ids.len());
    for release_id in ids {
        let Some(release) = stored.remove(&release_id) else {
            continue;
        };
        let change = publish_one(
            release_id,
            release,
            correlation_id,
            actor,
            &ctx.topics.catalog_events,
            &mut writes,
            &mut events,
        )?;
        changes.push((release_id, change));
    }
    writes.save(tx).await?;
    events.insert(tx).await?;
    Ok(changes)
}

/// Decides what one release publishes, gathering its writes and events.
fn publish_one(
    release_id: Uuid,
    stored: catalog::StoredRelease,
    correlation_id: &str,
    actor: &Actor,
    topic: &str,
    writes: &mut catalog::ReleaseWrites,
    events: &mut outbox::Batch,
) -> Result<ReleaseChange, sqlx::Error> {
    if stored.deleted {
        return Ok(ReleaseChange::Unchanged);
    }
    let mut version = stored.version;
    let is_new = stored.snapshot.is_null();
    // Edits were validated when they were made; a release that no longer takes them
    // (an import removed what they refer to) is published without them.
    let computed = releases::release_from(release_id, &stored.materials);
    let release = stored.edits.apply(computed.clone()).unwrap_or(computed);
    let snapshot = serde_json::to_value(&release).map_err(encode)?;

    let mut changed = false;
    let mut new_snapshot = None;
    if snapshot != stored.snapshot {
        if !is_new {
            version += 1;
        }
        new_snapshot = Some((snapshot, release.needs_review));
        let event = Envelope::new(
            release_id.to_string(),
            version,
            correlation_id,
            actor.clone(),
            release,
        );
        events.push(topic, &event)?;
        changed = true;
    }

    let all_sources = stored
        .edits
        .apply_to_sources(releases::sources_from(release_id, &stored.materials));
    let mut published = stored.sources;
    for sources in all_sources {
        let translation_id = sources.translation.id;
        let snapshot = serde_json::to_value(&sources).map_err(encode)?;
        if published.remove(&translation_id).as_ref() == Some(&snapshot) {
            continue;
        }
        version += 1;
        writes.sources(release_id, translation_id, snapshot);
        let event: Envelope<ReleaseSourcesUpserted> = Envelope::new(
            release_id.to_string(),
            version,
            correlation_id,
            actor.clone(),
            sources,
        );
        events.push(topic, &event)?;
        changed = true;
    }
    for translation_id in published.into_keys() {
        version += 1;
        writes.remove_sources(release_id, translation_id);
        let event = Envelope::new(
            release_id.to_string(),
            version,
            correlation_id,
            actor.clone(),
            ReleaseSourcesRemoved {
                release_id,
                translation_id,
            },
        );
        events.push(topic, &event)?;
        changed = true;
    }
    if changed {
        writes.release(release_id, version, new_snapshot);
    }

    Ok(match (is_new, changed) {
        (true, _) => ReleaseChange::Created,
        (false, true) => ReleaseChange::Updated,
        (false, false) => ReleaseChange::Unchanged,
    })
}

/// Why a release command was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// The request breaks a rule.
    #[error("invalid release edit: {0}")]
    Invalid(String),
    /// No such release (or it was deleted).
    #[error("no such release")]
    NotFound,
    /// The release has no such episode or translation to delete.
    #[error("{0}")]
    NoSuchPart(String),
    /// The release changed since the version the client saw.
    #[error("the release is at version {current}, not {expected}")]
    Stale {
        /// What the client sent.
        expected: i64,
        /// What the release is at.
        current: i64,
    },
    /// The database failed.
    #[error("saving a release")]
    Database(#[from] sqlx::Error),
}

impl From<InvalidEdit> for ReleaseError {
    fn from(error: InvalidEdit) -> Self {
        Self::Invalid(error.0)
    }
}

/// A moderator's change, applied to the release's edits.
pub enum ReleaseEditCommand {
    /// Overwrite fields (a JSON object of [`EDITABLE_FIELDS`]).
    Fields(Map<String, Value>),
    /// Set an episode's title and flags (creating it if needed).
    PutEpisode {
        /// Season; 0 holds specials.
        season: i32,
        /// Decimal number.
        number: String,
        /// The edit.
        edit: EpisodeEdit,
    },
    /// Delete an episode.
    DeleteEpisode {
        /// Season.
        season: i32,
        /// Decimal number.
        number: String,
    },
    /// Replace the video sources of one translation.
    PutSources(Box<ReleaseSourcesUpserted>),
    /// Remove the video sources of one translation.
    DeleteSources {
        /// The translation.
        translation_id: i64,
    },
}

impl ReleaseEditCommand {
    fn action(&self) -> &'static str {
        match self {
            Self::Fields(_) => "release.edit",
            Self::PutEpisode { .. } => "episode.put",
            Self::DeleteEpisode { .. } => "episode.delete",
            Self::PutSources(_) => "sources.put",
            Self::DeleteSources { .. } => "sources.delete",
        }
    }

    /// A deletion must name an episode or translation the release has now: deleting
    /// one it does not have would only leave an edit that hides it from later imports.
    fn ensure_target_exists(
        &self,
        release_id: Uuid,
        edits: &ReleaseEdits,
        materials: &[UpstreamMaterial],
    ) -> Result<(), ReleaseError> {
        match self {
            Self::DeleteEpisode { season, number } => {
                let computed = releases::release_from(release_id, materials);
                let current = edits.apply(computed.clone()).unwrap_or(computed);
                let exists = current
                    .episodes
                    .iter()
                    .any(|episode| episode.season == *season && episode.number == *number);
                if !exists {
                    return Err(ReleaseError::NoSuchPart(format!(
                        "the release has no episode {number} in season {season}"
                    )));
                }
            }
            Self::DeleteSources { translation_id } => {
                let sources = edits.apply_to_sources(releases::sources_from(release_id, materials));
                if !sources
                    .iter()
                    .any(|sources| sources.translation.id == *translation_id)
                {
                    return Err(ReleaseError::NoSuchPart(format!(
                        "the release has no sources of translation {translation_id}"
                    )));
                }
            }
            Self::Fields(_) | Self::PutEpisode { .. } | Self::PutSources(_) => {}
        }
        Ok(())
    }

    fn apply_to(self, edits: &mut ReleaseEdits) -> Result<Value, ReleaseError> {
        Ok(match self {
            Self::Fields(fields) => {
                validate_fields(&fields)?;
                let details = Value::Array(fields.keys().cloned().map(Value::String).collect());
                edits.fields.extend(fields);
                serde_json::json!({ "fields": details })
            }
            Self::PutEpisode {
                season,
                number,
                edit,
            } => {
                validate_episode(season, &number)?;
                if edit
                    .title
                    .as_deref()
                    .is_some_and(|title| title.trim().is_empty() || title.chars().count() > 500)
                {
                    return Err(ReleaseError::Invalid(
                        "title: 1 to 500 characters; leave it out for an untitled episode"
                            .to_owned(),
                    ));
                }
                edits
                    .episodes
                    .insert(episode_key(season, &number), Some(edit));
                serde_json::json!({ "season": season, "number": number })
            }
            Self::DeleteEpisode { season, number } => {
                validate_episode(season, &number)?;
                edits.episodes.insert(episode_key(season, &number), None);
                serde_json::json!({ "season": season, "number": number })
            }
            Self::PutSources(mut sources) => {
                for source in &mut sources.sources {
                    source.episode = canonical_episode_number(&source.episode);
                }
                validate_sources(&sources)?;
                let translation_id = sources.translation.id;
                edits.sources.insert(translation_id, Some(*sources));
                serde_json::json!({ "translation_id": translation_id })
            }
            Self::DeleteSources { translation_id } => {
                edits.sources.insert(translation_id, None);
                serde_json::json!({ "translation_id": translation_id })
            }
        })
    }
}

fn sets_episode_counts(fields: &Map<String, Value>) -> bool {
    fields.contains_key("episodes_total") || fields.contains_key("episodes_aired")
}

/// A moderator who sets either episode count must leave the release with no more
/// episodes aired than it has. Only checked then: the counts the upstream reports
/// are taken as they come, and an edit of another field must not fail on them.
fn check_episode_counts(release: &schemas::releases::ReleaseUpserted) -> Result<(), ReleaseError> {
    match (release.episodes_aired, release.episodes_total) {
        (Some(aired), Some(total)) if aired > total => Err(ReleaseError::Invalid(format!(
            "episodes_aired ({aired}) cannot exceed episodes_total ({total})"
        ))),
        _ => Ok(()),
    }
}

/// Checks a fields object: only editable fields, each of the right type and range.
pub fn validate_fields(fields: &Map<String, Value>) -> Result<(), ReleaseError> {
    let invalid = |message: String| Err(ReleaseError::Invalid(message));
    for (field, value) in fields {
        if !EDITABLE_FIELDS.contains(&field.as_str()) {
            return invalid(format!(
                "{field} cannot be edited; editable: {}",
                EDITABLE_FIELDS.join(", ")
            ));
        }
        let typed = match field.as_str() {
            "kind" => serde_json::from_value::<ReleaseKind>(value.clone()).map(drop),
            "status" => serde_json::from_value::<ReleaseStatus>(value.clone()).map(drop),
            "titles" => serde_json::from_value::<Vec<Title>>(value.clone()).map(drop),
            "airing_season" => {
                serde_json::from_value::<Option<AiringSeason>>(value.clone()).map(drop)
            }
            "genres" => serde_json::from_value::<Vec<String>>(value.clone()).map(drop),
            "age_rating" => serde_json::from_value::<Option<AgeRating>>(value.clone()).map(drop),
            "description" | "poster_url" => {
                serde_json::from_value::<Option<String>>(value.clone()).map(drop)
            }
            "year" | "episodes_total" | "episodes_aired" => {
                serde_json::from_value::<Option<i32>>(value.clone()).map(drop)
            }
            "next_episode_at" => {
                match serde_json::from_value::<Option<chrono::DateTime<chrono::Utc>>>(value.clone())
                {
                    // RFC 3339 years have four digits; the parser also takes signed and
                    // longer ones, which the read model could not store.
                    Ok(Some(time)) if !(0..=9999).contains(&chrono::Datelike::year(&time)) => {
                        return invalid(format!(
                            "{field}: the year must lie between 0000 and 9999"
                        ));
                    }
                    parsed => parsed.map(drop),
                }
            }
            _ => serde_json::from_value::<Option<f64>>(value.clone()).map(drop),
        };
        if let Err(error) = typed {
            return invalid(format!("{field}: {error}"));
        }
    }
    if let Some(titles) = fields.get("titles").and_then(Value::as_array) {
        let bad = titles
            .iter()
            .filter_map(|title| title["text"].as_str())
            .any(|text| text.trim().is_empty() || text.chars().count() > 500);
        if titles.is_empty() || bad {
            return invalid("titles: at least one, each 1 to 500 characters".to_owned());
        }
        let mut seen = std::collections::HashSet::new();
        if !titles.iter().all(|title| seen.insert(title.to_string())) {
            return invalid("titles: each title once".to_owned());
        }
    }
    if let Some(genres) = fields.get("genres").and_then(Value::as_array) {
        let names: Vec<&str> = genres.iter().filter_map(Value::as_str).collect();
        let mut seen = std::collections::HashSet::new();
        let bad = names.iter().any(|name| {
            name.trim() != *name
                || name.is_empty()
                || name.chars().count() > 64
                || !seen.insert(name.to_lowercase())
        });
        if names.len() > 50 || bad {
            return invalid(
                "genres: at most 50 distinct names (case aside), each 1 to 64 characters \
                 without surrounding spaces"
                    .to_owned(),
            );
        }
    }
    let in_range = |field: &str, range: std::ops::RangeInclusive<f64>| {
        fields
            .get(field)
            .and_then(Value::as_f64)
            .is_none_or(|value| range.contains(&value))
    };
    if !in_range("year", 1900.0..=2100.0) {
        return invalid("year: 1900 to 2100".to_owned());
    }
    let season_year = fields
        .get("airing_season")
        .and_then(|season| season.get("year"))
        .and_then(Value::as_f64);
    if season_year.is_some_and(|year| !(1900.0..=2100.0).contains(&year)) {
        return invalid("airing_season.year: 1900 to 2100".to_owned());
    }
    if !in_range("episodes_total", 0.0..=100_000.0) || !in_range("episodes_aired", 0.0..=100_000.0)
    {
        return invalid("episodes_total and episodes_aired: 0 to 100000".to_owned());
    }
    if !in_range("score", 0.0..=10.0) {
        return invalid("score: 0 to 10".to_owned());
    }
    if fields
        .get("description")
        .and_then(Value::as_str)
        .is_some_and(|text| text.chars().count() > 20_000)
    {
        return invalid("description: at most 20000 characters".to_owned());
    }
    if let Some(url) = fields.get("poster_url").and_then(Value::as_str)
        && !is_https_url(url)
    {
        return invalid("poster_url: an absolute https URL".to_owned());
    }
    Ok(())
}

fn is_https_url(url: &str) -> bool {
    url.strip_prefix("https://").is_some_and(|rest| {
        !rest.is_empty() && !rest.contains(char::is_whitespace) && url.len() <= 2048
    })
}

/// The whole and fractional digits of a decimal episode number (`6.5` → `6`, `5`;
/// `12` → `12`, empty), or `None` when `number` is not one.
fn decimal_parts(number: &str) -> Option<(&str, &str)> {
    let (whole, fraction) = match number.split_once('.') {
        Some((_, "")) => return None,
        Some(parts) => parts,
        None => (number, ""),
    };
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    (!whole.is_empty() && digits(whole) && digits(fraction)).then_some((whole, fraction))
}

/// The one spelling of a decimal episode number: no leading zeros in the whole part,
/// no trailing zeros in the fraction (`03` → `3`, `06.50` → `6.5`, `3.0` → `3`), so
/// that two spellings never address two episodes that the read side, which compares
/// numbers, would take for one. Text that is not a decimal number is returned as it
/// is, for [`validate_episode`] to refuse.
pub fn canonical_episode_number(number: &str) -> String {
    let Some((whole, fraction)) = decimal_parts(number) else {
        return number.to_owned();
    };
    let whole = match whole.trim_start_matches('0') {
        "" => "0",
        trimmed => trimmed,
    };
    match fraction.trim_end_matches('0') {
        "" => whole.to_owned(),
        fraction => format!("{whole}.{fraction}"),
    }
}

/// Checks an episode address: a season from 0 to 1000 and a decimal number of at
/// most five whole and two fractional digits.
pub fn validate_episode(season: i32, number: &str) -> Result<(), ReleaseError> {
    let valid = (0..=1000).contains(&season)
        && decimal_parts(number)
            .is_some_and(|(whole, fraction)| whole.len() <= 5 && fraction.len() <= 2);
    if valid {
        Ok(())
    } else {
        Err(ReleaseError::Invalid(
            "an episode is a season from 0 to 1000 and a number such as 12 or 6.5".to_owned(),
        ))
    }
}

fn validate_sources(sources: &ReleaseSourcesUpserted) -> Result<(), ReleaseError> {
    if sources.translation.title.trim().is_empty()
        || sources.translation.title.chars().count() > 200
    {
        return Err(ReleaseError::Invalid(
            "translation.title: 1 to 200 characters".to_owned(),
        ));
    }
    if sources.sources.len() > 20_000 {
        return Err(ReleaseError::Invalid(
            "at most 20000 sources per translation".to_owned(),
        ));
    }
    let mut episodes = std::collections::HashSet::new();
    for source in &sources.sources {
        validate_episode(source.season, &source.episode)?;
        if !episodes.insert((source.season, source.episode.as_str())) {
            return Err(ReleaseError::Invalid(format!(
                "episode {}/{} has more than one link; a translation has one per episode",
                source.season, source.episode
            )));
        }
        if !is_https_url(&source.player_link) {
            return Err(ReleaseError::Invalid(format!(
                "player_link of {}/{}: an absolute https URL",
                source.season, source.episode
            )));
        }
    }
    Ok(())
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

/// Creates a release by hand from a fields object (which must include `titles`).
pub async fn create_release(
    ctx: &CommandContext,
    context: &AuditContext,
    fields: Map<String, Value>,
) -> Result<(Uuid, i64), ReleaseError> {
    validate_fields(&fields)?;
    let release_id = Uuid::now_v7();
    let counts_set = sets_episode_counts(&fields);
    let edits = ReleaseEdits {
        fields,
        ..ReleaseEdits::default()
    };
    let release = edits.apply(releases::blank_release(release_id))?;
    if counts_set {
        check_episode_counts(&release)?;
    }

    let mut tx = ctx.pool.begin().await?;
    catalog::create_releases(&mut tx, &[release_id]).await?;
    catalog::save_edits(&mut tx, release_id, &edits).await?;
    publish_release(
        &mut tx,
        ctx,
        &context.request_id,
        &actor_of(context),
        release_id,
    )
    .await?;
    let (version, _) = catalog::lock_release(&mut tx, release_id).await?;
    record(
        &mut tx,
        ctx,
        context,
        "release.create",
        release_id,
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(release.id = %release_id, "release created by hand");
    Ok((release_id, version))
}

/// Applies a moderator's change if the release is still at `expected_version`.
pub async fn edit_release(
    ctx: &CommandContext,
    context: &AuditContext,
    release_id: Uuid,
    expected_version: i64,
    command: ReleaseEditCommand,
) -> Result<i64, ReleaseError> {
    let mut tx = ctx.pool.begin().await?;
    let current = lock_live_release(&mut tx, release_id, expected_version).await?;
    let (mut edits, _) = catalog::edits(&mut tx, release_id).await?;
    let materials = catalog::materials_of(&mut tx, release_id).await?;
    command.ensure_target_exists(release_id, &edits, &materials)?;
    let action = command.action();
    let counts_set =
        matches!(&command, ReleaseEditCommand::Fields(fields) if sets_episode_counts(fields));
    let details = command.apply_to(&mut edits)?;
    let release = edits.apply(releases::release_from(release_id, &materials))?;
    if counts_set {
        check_episode_counts(&release)?;
    }

    catalog::save_edits(&mut tx, release_id, &edits).await?;
    publish_release(
        &mut tx,
        ctx,
        &context.request_id,
        &actor_of(context),
        release_id,
    )
    .await?;
    let (version, _) = catalog::lock_release(&mut tx, release_id).await?;
    record(&mut tx, ctx, context, action, release_id, details).await?;
    tx.commit().await?;
    tracing::info!(release.id = %release_id, release.version = version, action, "release edited");
    debug_assert!(version >= current);
    Ok(version)
}

/// Deletes a release if it is still at `expected_version`. Imports never bring it back.
pub async fn delete_release(
    ctx: &CommandContext,
    context: &AuditContext,
    release_id: Uuid,
    expected_version: i64,
) -> Result<i64, ReleaseError> {
    let mut tx = ctx.pool.begin().await?;
    let current = lock_live_release(&mut tx, release_id, expected_version).await?;
    let version = current + 1;
    catalog::delete_release(&mut tx, release_id, version).await?;
    let event = Envelope::new(
        release_id.to_string(),
        version,
        context.request_id.clone(),
        actor_of(context),
        ReleaseDeleted { release_id },
    );
    outbox::append(&mut tx, &ctx.topics.catalog_events, &event).await?;
    record(
        &mut tx,
        ctx,
        context,
        "release.delete",
        release_id,
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(release.id = %release_id, "release deleted");
    Ok(version)
}

async fn lock_live_release(
    tx: &mut PgConnection,
    release_id: Uuid,
    expected_version: i64,
) -> Result<i64, ReleaseError> {
    let found = sqlx::query_as::<_, (i64, bool)>(
        "SELECT version, deleted_at IS NOT NULL FROM releases WHERE id = $1 FOR UPDATE",
    )
    .bind(release_id)
    .fetch_optional(&mut *tx)
    .await?;
    match found {
        None | Some((_, true)) => Err(ReleaseError::NotFound),
        Some((current, false)) if current != expected_version => Err(ReleaseError::Stale {
            expected: expected_version,
            current,
        }),
        Some((current, false)) => Ok(current),
    }
}

async fn record(
    tx: &mut PgConnection,
    ctx: &CommandContext,
    context: &AuditContext,
    action: &str,
    release_id: Uuid,
    details: Value,
) -> Result<(), sqlx::Error> {
    audit::record(
        tx,
        &ctx.topics.audit_events,
        context,
        AuditEntry {
            action,
            target: format!("release:{release_id}"),
            details,
        },
    )
    .await
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::{canonical_episode_number, validate_fields};

    #[test]
    fn next_episode_times_need_a_four_digit_year() {
        let fields = |time: &str| {
            serde_json::json!({ "next_episode_at": time })
                .as_object()
                .cloned()
                .expect("an object")
        };
        assert!(validate_fields(&fields("2026-12-24T18:00:00Z")).is_ok());
        assert!(validate_fields(&fields("-5000-01-01T00:00:00Z")).is_err());
        assert!(validate_fields(&fields("+12026-01-01T00:00:00Z")).is_err());
        assert!(validate_fields(&fields("9999-12-31T23:00:00-05:00")).is_err());
    }

    #[test]
    fn an_episode_number_has_one_spelling() {
        for (given, canonical) in [
            ("3", "3"),
            ("03", "3"),
            ("3.0", "3"),
            ("06.50", "6.5"),
            ("0", "0"),
            ("000", "0"),
            ("0.5", "0.5"),
            ("00.05", "0.05"),
            ("10", "10"),
            ("abc", "abc"),
            ("3.", "3."),
            ("-1", "-1"),
            ("", ""),
        ] {
            assert_eq!(canonical_episode_number(given), canonical, "{given}");
        }
    }
}
