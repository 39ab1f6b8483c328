//! Catalogue fixtures: the real catalogue of `tools/fake-kodik/catalogue.jsonl.gz`
//! (AniDB titles joined with a Kaggle dump) turned into `release.upserted` events, as
//! the importer will publish them, and publishing events onto a catalogue topic.

use std::{io::Read as _, time::Duration};

use futures::future::join_all;
use rdkafka::{
    ClientConfig,
    producer::{FutureProducer, FutureRecord},
};
use schemas::{
    Actor, DomainEvent, Envelope,
    releases::{
        ExternalIds, ReleaseKind, ReleaseStatus, ReleaseUpserted, Title, TitleKind, TitleLanguage,
    },
};
use serde::Deserialize;
use uuid::Uuid;

use crate::harness::repo_root;

#[derive(Deserialize)]
struct Line {
    kodik_id: u64,
    shikimori_id: Option<u64>,
    kind: String,
    status: String,
    year: Option<i32>,
    genres: Vec<String>,
    episodes: Option<i32>,
    rating: Option<f64>,
    members: Option<i64>,
    titles: Vec<LineTitle>,
}

#[derive(Deserialize)]
struct LineTitle {
    lang: String,
    kind: String,
    text: String,
}

/// The release id the fixture gives catalogue entry `kodik_id` (stable across runs).
pub fn release_id(kodik_id: u64) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | u128::from(kodik_id))
}

/// Decodes HTML entities once, as the importer does before publishing.
pub fn decode_entities(text: &str) -> String {
    text.replace("&#039;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn title(line: &LineTitle) -> Title {
    Title {
        text: decode_entities(&line.text),
        language: match line.lang.as_str() {
            "ru" => TitleLanguage::Ru,
            "en" => TitleLanguage::En,
            "romaji" => TitleLanguage::Romaji,
            "ja" => TitleLanguage::Ja,
            other => TitleLanguage::Other(other.to_owned()),
        },
        kind: match line.kind.as_str() {
            "main" => TitleKind::Main,
            "official" => TitleKind::Official,
            "short" => TitleKind::Short,
            _ => TitleKind::Synonym,
        },
    }
}

/// Every title of the real catalogue as a `release.upserted` payload.
pub fn real_catalogue() -> Vec<(u64, ReleaseUpserted)> {
    let path = repo_root().join("tools/fake-kodik/catalogue.jsonl.gz");
    let compressed = std::fs::read(&path).expect("reading the committed catalogue");
    let mut text = String::new();
    flate2::read::GzDecoder::new(compressed.as_slice())
        .read_to_string(&mut text)
        .expect("the catalogue is gzip-compressed UTF-8");
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let line: Line = serde_json::from_str(line).expect("a catalogue line");
            (line.kodik_id, release_of(&line))
        })
        .collect()
}

fn release_of(line: &Line) -> ReleaseUpserted {
    ReleaseUpserted {
        release_id: release_id(line.kodik_id),
        kind: match line.kind.as_str() {
            "movie" => ReleaseKind::Movie,
            "ova" => ReleaseKind::Ova,
            "ona" => ReleaseKind::Ona,
            "special" => ReleaseKind::Special,
            "music" => ReleaseKind::Music,
            _ => ReleaseKind::Tv,
        },
        status: match line.status.as_str() {
            "anons" => ReleaseStatus::Announced,
            "ongoing" => ReleaseStatus::Ongoing,
            _ => ReleaseStatus::Released,
        },
        titles: line.titles.iter().map(title).collect(),
        external_ids: ExternalIds {
            shikimori: line.shikimori_id.map(|id| id.to_string()),
            ..ExternalIds::default()
        },
        year: line.year,
        airing_season: None,
        genres: line
            .genres
            .iter()
            .map(|genre| genre.to_lowercase())
            .collect(),
        age_rating: None,
        description: None,
        poster_url: Some(format!("https://example.org/posters/{}.jpg", line.kodik_id)),
        episodes_total: line.episodes,
        episodes_aired: line.episodes,
        next_episode_at: None,
        score: line.rating,
        popularity: line.members,
        episodes: Vec::new(),
        translations: Vec::new(),
        needs_review: false,
    }
}

/// Publishes catalogue events (key = release id) and waits until Kafka has them all.
pub struct CataloguePublisher {
    producer: FutureProducer,
    topic: String,
}

impl CataloguePublisher {
    /// A producer for `topic` on `brokers`.
    pub fn new(brokers: &str, topic: &str) -> Self {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("enable.idempotence", "true")
            .set("linger.ms", "20")
            .create()
            .expect("a Kafka producer");
        Self {
            producer,
            topic: topic.to_owned(),
        }
    }

    /// Publishes `payload` as version `version` of release `release_id`.
    pub async fn publish<P: DomainEvent>(&self, release_id: Uuid, version: i64, payload: P) {
        self.publish_all(vec![(release_id, version, payload)]).await;
    }

    /// Publishes many events, in order per release.
    pub async fn publish_all<P: DomainEvent>(&self, events: Vec<(Uuid, i64, P)>) {
        let actor = Actor::System {
            name: "e2e".to_owned(),
        };
        let records: Vec<(String, String)> = events
            .into_iter()
            .map(|(release_id, version, payload)| {
                let envelope = Envelope::new(
                    release_id.to_string(),
                    version,
                    "e2e",
                    actor.clone(),
                    payload,
                );
                (
                    release_id.to_string(),
                    serde_json::to_string(&envelope).expect("an envelope serializes"),
                )
            })
            .collect();
        for chunk in records.chunks(2000) {
            let sends = chunk.iter().map(|(key, value)| {
                self.producer.send(
                    FutureRecord::to(&self.topic).key(key).payload(value),
                    Duration::from_secs(30),
                )
            });
            for result in join_all(sends).await {
                result
                    .map_err(|(error, _)| error)
                    .expect("Kafka accepts the event");
            }
        }
    }
}
