//! Tables of the catalogue: releases, their external ids, the upstream rows merged
//! into them, and their video sources.

use std::collections::{BTreeMap, HashMap};

use schemas::{imports::UpstreamMaterial, releases::ExternalIds};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::domain::releases::{ReleaseEdits, set_external_id};

/// The stored form of an upstream row, and the release it belongs to.
pub struct StoredMaterial {
    /// The release the row was merged into.
    pub release_id: Uuid,
    /// The normalised row as last imported.
    pub content: serde_json::Value,
}

/// Every upstream row merged into a release.
pub async fn materials_of(
    tx: &mut PgConnection,
    release_id: Uuid,
) -> Result<Vec<UpstreamMaterial>, sqlx::Error> {
    let rows = sqlx::query_scalar::<_, serde_json::Value>(
        "SELECT content FROM upstream_materials WHERE release_id = $1 ORDER BY material_id",
    )
    .bind(release_id)
    .fetch_all(tx)
    .await?;
    rows.into_iter()
        .map(|content| {
            serde_json::from_value(content).map_err(|error| sqlx::Error::Decode(error.into()))
        })
        .collect()
}

/// A release's version and last published snapshot (JSON null for a new release),
/// locked for the rest of the transaction.
pub async fn lock_release(
    tx: &mut PgConnection,
    release_id: Uuid,
) -> Result<(i64, serde_json::Value), sqlx::Error> {
    let row = sqlx::query("SELECT version, snapshot FROM releases WHERE id = $1 FOR UPDATE")
        .bind(release_id)
        .fetch_one(tx)
        .await?;
    Ok((row.try_get("version")?, row.try_get("snapshot")?))
}

/// Records a command id; false when it was recorded before (the command was applied).
pub async fn claim_command(tx: &mut PgConnection, command_id: Uuid) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO processed_commands (command_id) VALUES ($1) ON CONFLICT DO NOTHING",
    )
    .bind(command_id)
    .execute(tx)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// A release's moderator edits and whether it is deleted.
pub async fn edits(
    tx: &mut PgConnection,
    release_id: Uuid,
) -> Result<(ReleaseEdits, bool), sqlx::Error> {
    let row =
        sqlx::query("SELECT edits, deleted_at IS NOT NULL AS deleted FROM releases WHERE id = $1")
            .bind(release_id)
            .fetch_one(&mut *tx)
            .await?;
    let edits = serde_json::from_value(row.try_get("edits")?)
        .map_err(|error| sqlx::Error::Decode(error.into()))?;
    Ok((edits, row.try_get("deleted")?))
}

/// Saves a release's moderator edits.
pub async fn save_edits(
    tx: &mut PgConnection,
    release_id: Uuid,
    edits: &ReleaseEdits,
) -> Result<(), sqlx::Error> {
    let edits = serde_json::to_value(edits).map_err(|error| sqlx::Error::Encode(error.into()))?;
    sqlx::query("UPDATE releases SET edits = $2 WHERE id = $1")
        .bind(release_id)
        .bind(edits)
        .execute(tx)
        .await?;
    Ok(())
}

/// Marks a release deleted at `version`.
pub async fn delete_release(
    tx: &mut PgConnection,
    release_id: Uuid,
    version: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE releases SET deleted_at = now(), version = $2, updated_at = now() WHERE id = $1",
    )
    .bind(release_id)
    .bind(version)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM release_sources WHERE release_id = $1")
        .bind(release_id)
        .execute(tx)
        .await?;
    Ok(())
}

fn decode<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, sqlx::Error> {
    serde_json::from_value(value).map_err(|error| sqlx::Error::Decode(error.into()))
}

/// The rows among `material_ids` that were imported before, by upstream id.
pub async fn materials_by_id(
    tx: &mut PgConnection,
    material_ids: &[&str],
) -> Result<HashMap<String, StoredMaterial>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT material_id, release_id, content FROM upstream_materials \
         WHERE material_id = ANY($1)",
    )
    .bind(material_ids)
    .fetch_all(tx)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok((
                row.try_get("material_id")?,
                StoredMaterial {
                    release_id: row.try_get("release_id")?,
                    content: row.try_get("content")?,
                },
            ))
        })
        .collect()
}

/// An external id: its source (one of the merge order) and value.
pub type ExternalIdKey = (String, String);

/// Which release claimed each of `keys`, for those claimed at all.
pub async fn claimed_by(
    tx: &mut PgConnection,
    keys: &[ExternalIdKey],
) -> Result<HashMap<ExternalIdKey, Uuid>, sqlx::Error> {
    let (sources, values): (Vec<&str>, Vec<&str>) = keys
        .iter()
        .map(|(source, value)| (source.as_str(), value.as_str()))
        .unzip();
    let rows = sqlx::query(
        "SELECT c.source, c.value, c.release_id FROM release_external_ids c \
         JOIN unnest($1::text[], $2::text[]) AS k(source, value) \
             ON c.source = k.source AND c.value = k.value",
    )
    .bind(&sources)
    .bind(&values)
    .fetch_all(tx)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok((
                (row.try_get("source")?, row.try_get("value")?),
                row.try_get("release_id")?,
            ))
        })
        .collect()
}

/// Every external id claimed by each of `release_ids` (a release with none is absent).
pub async fn external_ids_of(
    tx: &mut PgConnection,
    release_ids: &[Uuid],
) -> Result<HashMap<Uuid, ExternalIds>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT release_id, source, value FROM release_external_ids WHERE release_id = ANY($1)",
    )
    .bind(release_ids)
    .fetch_all(tx)
    .await?;
    let mut found: HashMap<Uuid, ExternalIds> = HashMap::new();
    for row in rows {
        let source: String = row.try_get("source")?;
        set_external_id(
            found.entry(row.try_get("release_id")?).or_default(),
            &source,
            row.try_get("value")?,
        );
    }
    Ok(found)
}

/// Creates empty releases at version 1; their first snapshots are saved by
/// [`save_releases`].
pub async fn create_releases(
    tx: &mut PgConnection,
    release_ids: &[Uuid],
) -> Result<(), sqlx::Error> {
    if release_ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO releases (id, version, snapshot) \
         SELECT id, 1, 'null'::jsonb FROM unnest($1::uuid[]) AS r(id)",
    )
    .bind(release_ids)
    .execute(tx)
    .await?;
    Ok(())
}

/// Records external ids for releases. An id already claimed by another release stays
/// with it.
pub async fn save_claims(
    tx: &mut PgConnection,
    claims: &[(ExternalIdKey, Uuid)],
) -> Result<(), sqlx::Error> {
    if claims.is_empty() {
        return Ok(());
    }
    let mut sources = Vec::with_capacity(claims.len());
    let mut values = Vec::with_capacity(claims.len());
    let mut release_ids = Vec::with_capacity(claims.len());
    for ((source, value), release_id) in claims {
        sources.push(source.as_str());
        values.push(value.as_str());
        release_ids.push(*release_id);
    }
    sqlx::query(
        "INSERT INTO release_external_ids (source, value, release_id) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[]) \
         ON CONFLICT (source, value) DO NOTHING",
    )
    .bind(&sources)
    .bind(&values)
    .bind(&release_ids)
    .execute(tx)
    .await?;
    Ok(())
}

/// An upstream row to save, merged into a release.
pub struct MaterialRow<'a> {
    /// The upstream row.
    pub material: &'a UpstreamMaterial,
    /// The release it was merged into.
    pub release_id: Uuid,
    /// Its normalised form.
    pub content: serde_json::Value,
}

/// Saves upstream rows (distinct material ids) as merged into their releases.
pub async fn save_materials(
    tx: &mut PgConnection,
    rows: &[MaterialRow<'_>],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let material_ids: Vec<&str> = rows
        .iter()
        .map(|row| row.material.material_id.as_str())
        .collect();
    let release_ids: Vec<Uuid> = rows.iter().map(|row| row.release_id).collect();
    let translation_ids: Vec<i64> = rows.iter().map(|row| row.material.translation.id).collect();
    let contents: Vec<&serde_json::Value> = rows.iter().map(|row| &row.content).collect();
    sqlx::query(
        "INSERT INTO upstream_materials (material_id, release_id, translation_id, content) \
         SELECT * FROM unnest($1::text[], $2::uuid[], $3::bigint[], $4::jsonb[]) \
         ON CONFLICT (material_id) DO UPDATE SET release_id = EXCLUDED.release_id, \
             translation_id = EXCLUDED.translation_id, content = EXCLUDED.content, \
             imported_at = now()",
    )
    .bind(&material_ids)
    .bind(&release_ids)
    .bind(&translation_ids)
    .bind(&contents)
    .execute(tx)
    .await?;
    Ok(())
}

/// A release as the command side keeps it, locked for the rest of the transaction.
pub struct StoredRelease {
    /// Its version.
    pub version: i64,
    /// The snapshot last published (JSON null for a new release).
    pub snapshot: serde_json::Value,
    /// Moderators' edits.
    pub edits: ReleaseEdits,
    /// Whether a moderator deleted it.
    pub deleted: bool,
    /// Every upstream row merged into it, by upstream id.
    pub materials: Vec<UpstreamMaterial>,
    /// The sources snapshot last published per translation.
    pub sources: BTreeMap<i64, serde_json::Value>,
}

/// Locks `release_ids` (in id order, so concurrent writers cannot deadlock) and loads
/// what publishing them needs, in three statements whatever their number.
pub async fn lock_releases(
    tx: &mut PgConnection,
    release_ids: &[Uuid],
) -> Result<HashMap<Uuid, StoredRelease>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, version, snapshot, edits, deleted_at IS NOT NULL AS deleted \
         FROM releases WHERE id = ANY($1) ORDER BY id FOR UPDATE",
    )
    .bind(release_ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut releases = HashMap::with_capacity(rows.len());
    for row in rows {
        releases.insert(
            row.try_get::<Uuid, _>("id")?,
            StoredRelease {
                version: row.try_get("version")?,
                snapshot: row.try_get("snapshot")?,
                edits: decode(row.try_get("edits")?)?,
                deleted: row.try_get("deleted")?,
                materials: Vec::new(),
                sources: BTreeMap::new(),
            },
        );
    }
    let rows = sqlx::query(
        "SELECT release_id, content FROM upstream_materials WHERE release_id = ANY($1) \
         ORDER BY release_id, material_id",
    )
    .bind(release_ids)
    .fetch_all(&mut *tx)
    .await?;
    for row in rows {
        if let Some(release) = releases.get_mut(&row.try_get::<Uuid, _>("release_id")?) {
            release.materials.push(decode(row.try_get("content")?)?);
        }
    }
    let rows = sqlx::query(
        "SELECT release_id, translation_id, snapshot FROM release_sources \
         WHERE release_id = ANY($1)",
    )
    .bind(release_ids)
    .fetch_all(&mut *tx)
    .await?;
    for row in rows {
        if let Some(release) = releases.get_mut(&row.try_get::<Uuid, _>("release_id")?) {
            release
                .sources
                .insert(row.try_get("translation_id")?, row.try_get("snapshot")?);
        }
    }
    Ok(releases)
}

/// What publishing changed in the command side's tables, written in a few statements.
#[derive(Default)]
pub struct ReleaseWrites {
    ids: Vec<Uuid>,
    versions: Vec<i64>,
    snapshots: Vec<Option<serde_json::Value>>,
    needs_review: Vec<Option<bool>>,
    source_releases: Vec<Uuid>,
    source_translations: Vec<i64>,
    source_snapshots: Vec<serde_json::Value>,
    removed_releases: Vec<Uuid>,
    removed_translations: Vec<i64>,
}

impl ReleaseWrites {
    /// Moves a release to `version`; with a snapshot, also replaces its snapshot.
    pub fn release(
        &mut self,
        release_id: Uuid,
        version: i64,
        snapshot: Option<(serde_json::Value, bool)>,
    ) {
        self.ids.push(release_id);
        self.versions.push(version);
        let (snapshot, needs_review) = snapshot.unzip();
        self.snapshots.push(snapshot);
        self.needs_review.push(needs_review);
    }

    /// Saves the sources snapshot of one translation.
    pub fn sources(&mut self, release_id: Uuid, translation_id: i64, snapshot: serde_json::Value) {
        self.source_releases.push(release_id);
        self.source_translations.push(translation_id);
        self.source_snapshots.push(snapshot);
    }

    /// Forgets the sources snapshot of one translation.
    pub fn remove_sources(&mut self, release_id: Uuid, translation_id: i64) {
        self.removed_releases.push(release_id);
        self.removed_translations.push(translation_id);
    }

    /// Writes everything within the caller's transaction.
    pub async fn save(self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        if !self.ids.is_empty() {
            sqlx::query(
                "UPDATE releases r SET version = w.version, \
                     snapshot = COALESCE(w.snapshot, r.snapshot), \
                     needs_review = COALESCE(w.needs_review, r.needs_review), updated_at = now() \
                 FROM unnest($1::uuid[], $2::bigint[], $3::jsonb[], $4::bool[]) \
                     AS w(id, version, snapshot, needs_review) \
                 WHERE r.id = w.id",
            )
            .bind(&self.ids)
            .bind(&self.versions)
            .bind(&self.snapshots)
            .bind(&self.needs_review)
            .execute(&mut *tx)
            .await?;
        }
        if !self.source_releases.is_empty() {
            sqlx::query(
                "INSERT INTO release_sources (release_id, translation_id, snapshot) \
                 SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::jsonb[]) \
                 ON CONFLICT (release_id, translation_id) DO UPDATE SET snapshot = EXCLUDED.snapshot",
            )
            .bind(&self.source_releases)
            .bind(&self.source_translations)
            .bind(&self.source_snapshots)
            .execute(&mut *tx)
            .await?;
        }
        if !self.removed_releases.is_empty() {
            sqlx::query(
                "DELETE FROM release_sources s \
                 USING unnest($1::uuid[], $2::bigint[]) AS d(release_id, translation_id) \
                 WHERE s.release_id = d.release_id AND s.translation_id = d.translation_id",
            )
            .bind(&self.removed_releases)
            .bind(&self.removed_translations)
            .execute(&mut *tx)
            .await?;
        }
        Ok(())
    }
}
