//! Tables of the catalogue: releases, their external ids, the upstream rows merged
//! into them, and their video sources.

use schemas::{imports::UpstreamMaterial, releases::ExternalIds};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::domain::releases::MERGE_ORDER;

/// The stored form of an upstream row, and the release it belongs to.
pub struct StoredMaterial {
    /// The release the row was merged into.
    pub release_id: Uuid,
    /// The normalised row as last imported.
    pub content: serde_json::Value,
}

/// The row with this upstream id, if it was imported before.
pub async fn material(
    tx: &mut PgConnection,
    material_id: &str,
) -> Result<Option<StoredMaterial>, sqlx::Error> {
    let row =
        sqlx::query("SELECT release_id, content FROM upstream_materials WHERE material_id = $1")
            .bind(material_id)
            .fetch_optional(tx)
            .await?;
    row.map(|row| {
        Ok(StoredMaterial {
            release_id: row.try_get("release_id")?,
            content: row.try_get("content")?,
        })
    })
    .transpose()
}

/// Saves an upstream row as merged into `release_id`.
pub async fn save_material(
    tx: &mut PgConnection,
    release_id: Uuid,
    material: &UpstreamMaterial,
    content: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO upstream_materials (material_id, release_id, translation_id, content) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (material_id) DO UPDATE SET release_id = EXCLUDED.release_id, \
             translation_id = EXCLUDED.translation_id, content = EXCLUDED.content, imported_at = now()",
    )
    .bind(&material.material_id)
    .bind(release_id)
    .bind(material.translation.id)
    .bind(content)
    .execute(tx)
    .await?;
    Ok(())
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

/// The release that one of `ids` points to, following the merge order. `None` when no
/// known release may take a row with these ids.
pub async fn find_release_for(
    tx: &mut PgConnection,
    ids: &ExternalIds,
) -> Result<Option<Uuid>, sqlx::Error> {
    for source in MERGE_ORDER {
        let Some(value) = crate::domain::releases::external_id(ids, source) else {
            continue;
        };
        let found: Option<Uuid> = sqlx::query_scalar(
            "SELECT release_id FROM release_external_ids WHERE source = $1 AND value = $2",
        )
        .bind(source)
        .bind(value)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(release_id) = found else { continue };
        let release_ids = external_ids_of(tx, release_id).await?;
        if crate::domain::releases::may_join(ids, &release_ids, source) {
            return Ok(Some(release_id));
        }
    }
    Ok(None)
}

async fn external_ids_of(
    tx: &mut PgConnection,
    release_id: Uuid,
) -> Result<ExternalIds, sqlx::Error> {
    let rows = sqlx::query("SELECT source, value FROM release_external_ids WHERE release_id = $1")
        .bind(release_id)
        .fetch_all(tx)
        .await?;
    let mut ids = ExternalIds::default();
    for row in rows {
        let source: String = row.try_get("source")?;
        let value: Option<String> = Some(row.try_get("value")?);
        match source.as_str() {
            "shikimori" => ids.shikimori = value,
            "kinopoisk" => ids.kinopoisk = value,
            "imdb" => ids.imdb = value,
            "mydramalist" => ids.mydramalist = value,
            "worldart" => ids.worldart = value,
            _ => {}
        }
    }
    Ok(ids)
}

/// Records the external ids of a row for `release_id`. An id already claimed by
/// another release stays with it.
pub async fn claim_external_ids(
    tx: &mut PgConnection,
    release_id: Uuid,
    ids: &ExternalIds,
) -> Result<(), sqlx::Error> {
    for source in MERGE_ORDER {
        let Some(value) = crate::domain::releases::external_id(ids, source) else {
            continue;
        };
        sqlx::query(
            "INSERT INTO release_external_ids (source, value, release_id) VALUES ($1, $2, $3) \
             ON CONFLICT (source, value) DO NOTHING",
        )
        .bind(source)
        .bind(value)
        .bind(release_id)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Creates an empty release at version 1; its first snapshot is saved by
/// [`save_release`].
pub async fn create_release(tx: &mut PgConnection, release_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO releases (id, version, snapshot) VALUES ($1, 1, 'null'::jsonb)")
        .bind(release_id)
        .execute(tx)
        .await?;
    Ok(())
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

/// Saves a release's new version and snapshot.
pub async fn save_release(
    tx: &mut PgConnection,
    release_id: Uuid,
    version: i64,
    snapshot: &serde_json::Value,
    needs_review: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE releases SET version = $2, snapshot = $3, needs_review = $4, updated_at = now() \
         WHERE id = $1",
    )
    .bind(release_id)
    .bind(version)
    .bind(snapshot)
    .bind(needs_review)
    .execute(tx)
    .await?;
    Ok(())
}

/// The last published sources snapshot of one translation of a release.
pub async fn sources(
    tx: &mut PgConnection,
    release_id: Uuid,
    translation_id: i64,
) -> Result<Option<serde_json::Value>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT snapshot FROM release_sources WHERE release_id = $1 AND translation_id = $2",
    )
    .bind(release_id)
    .bind(translation_id)
    .fetch_optional(tx)
    .await
}

/// Saves the sources snapshot of one translation of a release.
pub async fn save_sources(
    tx: &mut PgConnection,
    release_id: Uuid,
    translation_id: i64,
    snapshot: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO release_sources (release_id, translation_id, snapshot) VALUES ($1, $2, $3) \
         ON CONFLICT (release_id, translation_id) DO UPDATE SET snapshot = EXCLUDED.snapshot",
    )
    .bind(release_id)
    .bind(translation_id)
    .bind(snapshot)
    .execute(tx)
    .await?;
    Ok(())
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

/// Moves a release to `version` without touching its snapshot (a sources change).
pub async fn save_release_version(
    tx: &mut PgConnection,
    release_id: Uuid,
    version: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE releases SET version = $2, updated_at = now() WHERE id = $1")
        .bind(release_id)
        .bind(version)
        .execute(tx)
        .await?;
    Ok(())
}

/// A release's moderator edits and whether it is deleted.
pub async fn edits(
    tx: &mut PgConnection,
    release_id: Uuid,
) -> Result<(crate::domain::releases::ReleaseEdits, bool), sqlx::Error> {
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
    edits: &crate::domain::releases::ReleaseEdits,
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

/// Translation ids that have a published sources snapshot.
pub async fn translations_with_sources(
    tx: &mut PgConnection,
    release_id: Uuid,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT translation_id FROM release_sources WHERE release_id = $1")
        .bind(release_id)
        .fetch_all(tx)
        .await
}

/// Forgets the sources snapshot of one translation.
pub async fn remove_sources(
    tx: &mut PgConnection,
    release_id: Uuid,
    translation_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM release_sources WHERE release_id = $1 AND translation_id = $2")
        .bind(release_id)
        .bind(translation_id)
        .execute(tx)
        .await?;
    Ok(())
}
