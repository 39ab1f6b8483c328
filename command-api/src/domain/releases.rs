//! Releases: how upstream rows become one release.
//!
//! The upstream sends one row per title *per translation*. Rows are merged into a
//! release by external ids, never by title text ([`MERGE_ORDER`]), and the release is
//! a deterministic function of the set of its rows: the same rows give the same
//! release whatever order they arrived in, so re-importing unchanged data changes
//! nothing.

use std::{cmp::Ordering, collections::BTreeMap};

use serde::{Deserialize, Serialize};

use schemas::{
    imports::UpstreamMaterial,
    releases::{
        Episode, EpisodeSource, ExternalIds, ReleaseSourcesUpserted, ReleaseStatus,
        ReleaseUpserted, Title, TranslationSummary,
    },
};
use uuid::Uuid;

/// External id sources in the order they decide which release a row joins. A row
/// joins the release found by the first of its ids that is known, unless that release
/// carries a *different* id of a source earlier in this list (two films of one
/// franchise can share a Kinopoisk id but never a Shikimori id).
pub const MERGE_ORDER: [&str; 5] = ["shikimori", "kinopoisk", "imdb", "mydramalist", "worldart"];

/// The value of one external id source.
pub fn external_id<'a>(ids: &'a ExternalIds, source: &str) -> Option<&'a str> {
    match source {
        "shikimori" => ids.shikimori.as_deref(),
        "kinopoisk" => ids.kinopoisk.as_deref(),
        "imdb" => ids.imdb.as_deref(),
        "mydramalist" => ids.mydramalist.as_deref(),
        "worldart" => ids.worldart.as_deref(),
        _ => None,
    }
}

/// Sets the value of one external id source; unknown sources are ignored.
pub fn set_external_id(ids: &mut ExternalIds, source: &str, value: String) {
    let slot = match source {
        "shikimori" => &mut ids.shikimori,
        "kinopoisk" => &mut ids.kinopoisk,
        "imdb" => &mut ids.imdb,
        "mydramalist" => &mut ids.mydramalist,
        "worldart" => &mut ids.worldart,
        _ => return,
    };
    *slot = Some(value);
}

/// True when a row with `row` ids may join a release with `release` ids that was
/// found through `found_by`: no source before it disagrees.
pub fn may_join(row: &ExternalIds, release: &ExternalIds, found_by: &str) -> bool {
    MERGE_ORDER
        .iter()
        .take_while(|source| **source != found_by)
        .all(
            |source| match (external_id(row, source), external_id(release, source)) {
                (Some(ours), Some(theirs)) => ours == theirs,
                _ => true,
            },
        )
}

/// Compares decimal episode numbers (`"2"` < `"6.5"` < `"10"`).
pub fn compare_episode_numbers(left: &str, right: &str) -> Ordering {
    let parse = |text: &str| text.parse::<f64>().unwrap_or(f64::MAX);
    parse(left)
        .total_cmp(&parse(right))
        .then_with(|| left.cmp(right))
}

/// Orders rows so that the most recently updated one speaks first for single-valued
/// fields; ties broken by id, so the result never depends on arrival order.
fn by_authority(materials: &mut [&UpstreamMaterial]) {
    materials.sort_by(|a, b| {
        b.updated_at
            .cmp(&a.updated_at)
            .then_with(|| a.material_id.cmp(&b.material_id))
    });
}

/// The release made of `materials` (all rows merged into it), with id `release_id`.
pub fn release_from(release_id: Uuid, materials: &[UpstreamMaterial]) -> ReleaseUpserted {
    let mut rows: Vec<&UpstreamMaterial> = materials.iter().collect();
    by_authority(&mut rows);
    let first =
        |pick: &dyn Fn(&UpstreamMaterial) -> Option<String>| rows.iter().find_map(|m| pick(m));

    let mut titles: Vec<Title> = Vec::new();
    for row in &rows {
        for title in &row.titles {
            let known = titles
                .iter()
                .any(|seen| seen.text == title.text && seen.language == title.language);
            if !known {
                titles.push(title.clone());
            }
        }
    }

    let mut genres: Vec<String> = rows
        .iter()
        .flat_map(|row| row.genres.iter().cloned())
        .collect();
    genres.sort();
    genres.dedup();

    let mut upstream_material_ids: Vec<String> =
        rows.iter().map(|row| row.material_id.clone()).collect();
    upstream_material_ids.sort();
    let external_ids = ExternalIds {
        shikimori: first(&|m| m.external_ids.shikimori.clone()),
        kinopoisk: first(&|m| m.external_ids.kinopoisk.clone()),
        imdb: first(&|m| m.external_ids.imdb.clone()),
        mydramalist: first(&|m| m.external_ids.mydramalist.clone()),
        worldart: first(&|m| m.external_ids.worldart.clone()),
        upstream_material_ids,
    };
    let needs_review = MERGE_ORDER
        .iter()
        .all(|source| external_id(&external_ids, source).is_none());

    let mut episodes: BTreeMap<(i32, String), Episode> = BTreeMap::new();
    for row in &rows {
        for episode in &row.episodes {
            let entry = episodes
                .entry((episode.season, episode.number.clone()))
                .or_insert_with(|| Episode {
                    season: episode.season,
                    number: episode.number.clone(),
                    title: None,
                    recap: false,
                    filler: false,
                });
            if entry.title.is_none() {
                entry.title.clone_from(&episode.title);
            }
        }
    }
    let mut episodes: Vec<Episode> = episodes.into_values().collect();
    episodes.sort_by(|a, b| {
        a.season
            .cmp(&b.season)
            .then_with(|| compare_episode_numbers(&a.number, &b.number))
    });

    let mut translations: BTreeMap<i64, TranslationSummary> = BTreeMap::new();
    for row in &rows {
        let summary =
            translations
                .entry(row.translation.id)
                .or_insert_with(|| TranslationSummary {
                    translation: row.translation.clone(),
                    team: row.team.clone(),
                    episodes: 0,
                });
        summary.episodes += row.episodes.len() as i32;
    }

    let lead = rows.first().copied();
    ReleaseUpserted {
        release_id,
        kind: lead.map_or(schemas::releases::ReleaseKind::Tv, |m| m.kind),
        status: rows
            .iter()
            .find_map(|m| m.status)
            .unwrap_or(ReleaseStatus::Released),
        titles,
        external_ids,
        year: rows.iter().find_map(|m| m.year),
        airing_season: rows
            .iter()
            .find_map(|m| m.aired_at)
            .map(schemas::releases::AiringSeason::of_date),
        genres,
        age_rating: rows.iter().find_map(|m| m.age_rating),
        description: first(&|m| m.description.clone()),
        poster_url: first(&|m| m.poster_url.clone()),
        episodes_total: rows
            .iter()
            .find_map(|m| m.episodes_total.filter(|total| *total > 0)),
        episodes_aired: rows.iter().find_map(|m| m.episodes_aired),
        next_episode_at: rows.iter().find_map(|m| m.next_episode_at),
        score: rows.iter().find_map(|m| m.score),
        popularity: rows.iter().find_map(|m| m.popularity),
        episodes,
        translations: translations.into_values().collect(),
        needs_review,
    }
}

/// The video sources of each translation of the release made of `materials`.
pub fn sources_from(
    release_id: Uuid,
    materials: &[UpstreamMaterial],
) -> Vec<ReleaseSourcesUpserted> {
    let mut rows: Vec<&UpstreamMaterial> = materials.iter().collect();
    by_authority(&mut rows);
    let mut per_translation: BTreeMap<i64, ReleaseSourcesUpserted> = BTreeMap::new();
    for row in rows {
        let entry = per_translation
            .entry(row.translation.id)
            .or_insert_with(|| ReleaseSourcesUpserted {
                release_id,
                translation: row.translation.clone(),
                team: row.team.clone(),
                quality: row.quality.clone(),
                camrip: row.camrip,
                blocked_countries: row.blocked_countries.clone(),
                blocked_seasons: row.blocked_seasons.clone(),
                upstream_material_id: Some(row.material_id.clone()),
                upstream_updated_at: row.updated_at,
                sources: Vec::new(),
            });
        for episode in &row.episodes {
            let known = entry
                .sources
                .iter()
                .any(|source| source.season == episode.season && source.episode == episode.number);
            if !known {
                entry.sources.push(EpisodeSource {
                    season: episode.season,
                    episode: episode.number.clone(),
                    player_link: episode.player_link.clone(),
                });
            }
        }
    }
    let mut all: Vec<ReleaseSourcesUpserted> = per_translation.into_values().collect();
    for sources in &mut all {
        sources.sources.sort_by(|a, b| {
            a.season
                .cmp(&b.season)
                .then_with(|| compare_episode_numbers(&a.episode, &b.episode))
        });
    }
    all
}

/// Fields of a release a moderator may set; anything else is derived.
pub const EDITABLE_FIELDS: &[&str] = &[
    "kind",
    "status",
    "titles",
    "year",
    "airing_season",
    "genres",
    "age_rating",
    "description",
    "poster_url",
    "episodes_total",
    "episodes_aired",
    "next_episode_at",
    "score",
];

/// A moderator's changes to one episode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpisodeEdit {
    /// Episode title.
    #[serde(default)]
    pub title: Option<String>,
    /// A recap episode.
    #[serde(default)]
    pub recap: bool,
    /// A filler episode.
    #[serde(default)]
    pub filler: bool,
}

/// Moderators' changes to a release, kept apart from what the upstream says so that
/// an import never erases them: the release is always `edits` applied to the release
/// computed from its upstream rows (or to an empty one for a release created by hand).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReleaseEdits {
    /// Overridden fields of [`EDITABLE_FIELDS`], as JSON; `null` clears a field.
    #[serde(default)]
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// Episodes by `season/number`: an edit, or `None` for a deleted episode.
    #[serde(default)]
    pub episodes: BTreeMap<String, Option<EpisodeEdit>>,
    /// Video sources by translation id: a replacement, or `None` for removed ones.
    #[serde(default)]
    pub sources: BTreeMap<i64, Option<ReleaseSourcesUpserted>>,
}

/// Why edits do not make a valid release.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidEdit(pub String);

/// The key of an episode in [`ReleaseEdits::episodes`].
pub fn episode_key(season: i32, number: &str) -> String {
    format!("{season}/{number}")
}

impl ReleaseEdits {
    /// `base` with these edits applied.
    pub fn apply(&self, base: ReleaseUpserted) -> Result<ReleaseUpserted, InvalidEdit> {
        let release_id = base.release_id;
        let mut json =
            serde_json::to_value(&base).map_err(|error| InvalidEdit(error.to_string()))?;
        if let Some(object) = json.as_object_mut() {
            for (field, value) in &self.fields {
                object.insert(field.clone(), value.clone());
            }
        }
        let mut release: ReleaseUpserted =
            serde_json::from_value(json).map_err(|error| InvalidEdit(error.to_string()))?;
        release.release_id = release_id;

        for (key, edit) in &self.episodes {
            let Some((season, number)) = key.split_once('/') else {
                continue;
            };
            let season: i32 = season.parse().unwrap_or_default();
            release
                .episodes
                .retain(|episode| !(episode.season == season && episode.number == number));
            if let Some(edit) = edit {
                release.episodes.push(Episode {
                    season,
                    number: number.to_owned(),
                    title: edit.title.clone(),
                    recap: edit.recap,
                    filler: edit.filler,
                });
            }
        }
        release.episodes.sort_by(|a, b| {
            a.season
                .cmp(&b.season)
                .then_with(|| compare_episode_numbers(&a.number, &b.number))
        });
        for (translation_id, replacement) in &self.sources {
            release
                .translations
                .retain(|summary| summary.translation.id != *translation_id);
            if let Some(sources) = replacement {
                release.translations.push(TranslationSummary {
                    translation: sources.translation.clone(),
                    team: sources.team.clone(),
                    episodes: sources.sources.len() as i32,
                });
            }
        }
        release
            .translations
            .sort_by_key(|summary| summary.translation.id);

        if release.titles.is_empty() {
            return Err(InvalidEdit("a release needs at least one title".to_owned()));
        }
        Ok(release)
    }

    /// `base` sources with these edits applied.
    pub fn apply_to_sources(
        &self,
        mut base: Vec<ReleaseSourcesUpserted>,
    ) -> Vec<ReleaseSourcesUpserted> {
        for (translation_id, replacement) in &self.sources {
            base.retain(|sources| sources.translation.id != *translation_id);
            if let Some(sources) = replacement {
                base.push(sources.clone());
            }
        }
        base.sort_by_key(|sources| sources.translation.id);
        base
    }
}

/// An empty release for one created by hand: the edits supply everything.
pub fn blank_release(release_id: Uuid) -> ReleaseUpserted {
    release_from(release_id, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_air_date_places_a_release_in_its_season() {
        use chrono::NaiveDate;
        use schemas::releases::{AiringSeason, YearSeason};
        let season_of = |year, month, day| {
            AiringSeason::of_date(NaiveDate::from_ymd_opt(year, month, day).expect("a date"))
        };
        assert_eq!(
            season_of(2016, 1, 10),
            AiringSeason {
                year: 2016,
                season: YearSeason::Winter
            }
        );
        assert_eq!(season_of(2015, 12, 31).season, YearSeason::Winter);
        assert_eq!(
            season_of(2015, 12, 31).year,
            2016,
            "December opens next year's winter"
        );
        assert_eq!(season_of(2016, 4, 1).season, YearSeason::Spring);
        assert_eq!(season_of(2016, 8, 31).season, YearSeason::Summer);
        assert_eq!(season_of(2016, 9, 1).season, YearSeason::Fall);
    }

    #[test]
    fn episode_numbers_sort_numerically() {
        let mut numbers = vec!["10", "2", "6.5", "0", "1", "6"];
        numbers.sort_by(|a, b| compare_episode_numbers(a, b));
        assert_eq!(numbers, ["0", "1", "2", "6", "6.5", "10"]);
    }

    #[test]
    fn a_row_never_joins_a_release_with_a_different_earlier_id() {
        let release = ExternalIds {
            shikimori: Some("1".into()),
            kinopoisk: Some("K".into()),
            ..ExternalIds::default()
        };
        let film = ExternalIds {
            shikimori: Some("2".into()),
            kinopoisk: Some("K".into()),
            ..ExternalIds::default()
        };
        assert!(!may_join(&film, &release, "kinopoisk"));
        let no_shikimori = ExternalIds {
            kinopoisk: Some("K".into()),
            ..ExternalIds::default()
        };
        assert!(may_join(&no_shikimori, &release, "kinopoisk"));
    }
}
