//! The search document of a release, built from a `release.upserted` event or from the
//! read model (for a reindex) with the same rules, so both paths index the same thing.

use std::borrow::Cow;

use platform::text::mend_lookalikes;
use schemas::releases::{ReleaseUpserted, Title, TitleLanguage};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::titles::{decode_entities, main_title};

/// What the index needs of a release.
pub struct Release {
    pub release_id: Uuid,
    pub kind: Option<String>,
    pub status: Option<String>,
    pub titles: Vec<Title>,
    pub year: Option<i32>,
    pub season: Option<String>,
    pub genres: Vec<String>,
    pub age_rating: Option<String>,
    pub translation_kinds: Vec<String>,
    pub teams: Vec<String>,
    pub popularity: Option<i64>,
    pub score: Option<f64>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub poster_url: Option<String>,
}

fn enum_text<T: serde::Serialize>(value: &T) -> Option<String> {
    serde_json::to_value(value)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
}

impl Release {
    /// The release as an event describes it.
    pub fn from_event(event: &ReleaseUpserted, occurred_at: chrono::DateTime<chrono::Utc>) -> Self {
        let mut translation_kinds: Vec<String> = event
            .translations
            .iter()
            .filter_map(|summary| enum_text(&summary.translation.kind))
            .collect();
        translation_kinds.sort();
        translation_kinds.dedup();
        let mut teams: Vec<String> = event
            .translations
            .iter()
            .filter_map(|summary| summary.team.clone())
            .collect();
        teams.sort();
        teams.dedup();
        Self {
            release_id: event.release_id,
            kind: enum_text(&event.kind),
            status: enum_text(&event.status),
            titles: event.titles.clone(),
            year: event.year,
            season: event.airing_season.and_then(|season| {
                enum_text(&season.season).map(|name| format!("{name}_{}", season.year))
            }),
            genres: event
                .genres
                .iter()
                .map(|genre| genre.to_lowercase())
                .collect(),
            age_rating: event.age_rating.and_then(|rating| enum_text(&rating)),
            translation_kinds,
            teams,
            popularity: event.popularity,
            score: event.score,
            updated_at: occurred_at,
            poster_url: event.poster_url.clone(),
        }
    }

    /// The JSON document indexed for this release.
    pub fn to_document(&self) -> Value {
        let titles: Vec<Title> = self
            .titles
            .iter()
            .map(|title| Title {
                text: decode_entities(&title.text),
                language: title.language.clone(),
                kind: title.kind,
            })
            .collect();
        // The searched forms of the names; `titles` keeps them as written, for display.
        let searched: Vec<(&TitleLanguage, Cow<'_, str>)> = titles
            .iter()
            .map(|title| (&title.language, mend_lookalikes(&title.text)))
            .collect();
        let texts_of = |wanted: &dyn Fn(&TitleLanguage) -> bool| -> Vec<&str> {
            searched
                .iter()
                .filter(|(language, _)| wanted(language))
                .map(|(_, text)| text.as_ref())
                .collect()
        };
        let main = main_title(&titles);
        json!({
            "release_id": self.release_id,
            "deleted": false,
            "kind": self.kind,
            "status": self.status,
            "year": self.year,
            "season": self.season,
            "genres": self.genres,
            "age_rating": self.age_rating,
            "translation_kinds": self.translation_kinds,
            "teams": self.teams,
            "popularity": self.popularity,
            "score": self.score,
            "updated_at": self.updated_at,
            "main_title": main,
            "sort_title": main.to_lowercase(),
            "poster_url": self.poster_url,
            "titles": titles,
            "names_exact": texts_of(&|_| true),
            "title_ru": texts_of(&|language| *language == TitleLanguage::Ru),
            "title_en": texts_of(&|language| *language == TitleLanguage::En),
            "title_romaji": texts_of(&|language| *language == TitleLanguage::Romaji),
            "title_ja": texts_of(&|language| *language == TitleLanguage::Ja),
            "title_other": texts_of(&|language| matches!(language, TitleLanguage::Other(_))),
        })
    }
}

/// The document that stands for a deleted release: it keeps the deletion's version in
/// the index, so a late, older upsert is rejected by external versioning instead of
/// resurrecting the release. Queries filter it out.
pub fn tombstone(release_id: Uuid) -> Value {
    json!({ "release_id": release_id, "deleted": true })
}
