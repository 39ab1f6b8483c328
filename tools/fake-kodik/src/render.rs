//! Writing a material as one row of `results`, in upstream's key order and with the
//! content the request's `with_*` flags ask for.
//!
//! Rows are serialised straight from the model (no intermediate `serde_json::Value`),
//! because a full crawl with episodes renders hundreds of megabytes.

use serde::{
    Serialize, Serializer,
    ser::{SerializeMap, SerializeSeq},
};

use crate::{
    links::{self, LinkKind},
    model::{BlockedSeasons, Episode, EpisodeStyle, Material, Season, Serial},
    params::Params,
    store::Store,
    timestamps,
};

/// How much of the episode structure a request wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Depth {
    None,
    /// `with_seasons`: seasons with their link and title.
    Seasons,
    /// `with_episodes`: episodes as link strings.
    Episodes,
    /// `with_episodes_data`: episodes as objects.
    EpisodesData,
}

/// The content flags of a request; each `with_*` flag implies the previous ones.
#[derive(Debug, Clone, Copy)]
pub struct Content {
    pub depth: Depth,
    pub material_data: bool,
}

impl Content {
    pub fn from_params(p: &Params) -> Self {
        let depth = if p.flag("with_episodes_data") {
            Depth::EpisodesData
        } else if p.flag("with_episodes") {
            Depth::Episodes
        } else if p.flag("with_seasons") {
            Depth::Seasons
        } else {
            Depth::None
        };
        Self {
            depth,
            material_data: p.flag("with_material_data"),
        }
    }
}

/// One row of `results`.
pub struct Row<'a> {
    pub store: &'a Store,
    pub material: &'a Material,
    pub content: Content,
}

/// Season links are numbered after the material, episode links after the material
/// and the episode's position, so both are unique and stable.
fn season_link_id(m: &Material, index: usize) -> u64 {
    m.number * 16 + index as u64
}

fn seria_id(m: &Material, ordinal: usize) -> u64 {
    m.number * 1024 + ordinal as u64
}

impl Serialize for Row<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let m = self.material;
        let w = self.store.work_of(m);
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("id", &m.id())?;
        map.serialize_entry("type", m.kind())?;
        map.serialize_entry("link", &m.link)?;
        map.serialize_entry("title", &w.title)?;
        if let Some(orig) = &w.title_orig {
            map.serialize_entry("title_orig", orig)?;
        }
        if let Some(other) = &w.other_title {
            map.serialize_entry("other_title", other)?;
        }
        map.serialize_entry("translation", m.translation)?;
        map.serialize_entry("year", &w.year)?;
        if let Some(serial) = &m.serial {
            map.serialize_entry("last_season", &serial.last_season)?;
            map.serialize_entry("last_episode", &serial.last_episode)?;
            map.serialize_entry("episodes_count", &serial.episodes_count)?;
        }
        let ids = [
            ("kinopoisk_id", w.ids.kinopoisk_id.as_deref()),
            ("imdb_id", w.ids.imdb_id.as_deref()),
            ("mdl_id", w.ids.mdl_id.as_deref()),
            ("worldart_link", w.ids.worldart_link.as_deref()),
            ("shikimori_id", m.shikimori_id(w)),
        ];
        for (key, value) in ids {
            if let Some(value) = value {
                map.serialize_entry(key, value)?;
            }
        }
        map.serialize_entry("quality", m.quality)?;
        map.serialize_entry("camrip", &m.camrip)?;
        map.serialize_entry("lgbt", &m.lgbt)?;
        map.serialize_entry("blocked_countries", m.blocked_countries)?;
        if let Some(serial) = &m.serial {
            map.serialize_entry("blocked_seasons", &Blocked(&serial.blocked_seasons))?;
        }
        map.serialize_entry("created_at", &timestamps::rfc3339(m.created_ms))?;
        map.serialize_entry("updated_at", &timestamps::rfc3339(m.updated_ms))?;
        if let Some(serial) = m
            .serial
            .as_deref()
            .filter(|_| self.content.depth > Depth::None)
        {
            map.serialize_entry(
                "seasons",
                &Seasons {
                    m,
                    serial,
                    depth: self.content.depth,
                },
            )?;
        }
        if self.content.material_data {
            map.serialize_entry("material_data", &w.material_data)?;
        }
        map.serialize_entry("screenshots", &Screenshots(m))?;
        map.end()
    }
}

struct Screenshots<'a>(&'a Material);

impl Serialize for Screenshots<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let m = self.0;
        let (kind, id) = if m.film {
            (LinkKind::Video, m.number)
        } else {
            (LinkKind::Seria, seria_id(m, 0))
        };
        let mut seq = serializer.serialize_seq(Some(usize::from(m.screenshots)))?;
        for n in 1..=m.screenshots {
            seq.serialize_element(&links::screenshot(kind, id, n))?;
        }
        seq.end()
    }
}

struct Blocked<'a>(&'a BlockedSeasons);

impl Serialize for Blocked<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            BlockedSeasons::All => serializer.serialize_str("all"),
            BlockedSeasons::None => serializer.serialize_map(Some(0))?.end(),
            BlockedSeasons::Season(n) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry(&n.to_string(), "all")?;
                map.end()
            }
            BlockedSeasons::Episodes(n, episodes) => {
                let mut map = serializer.serialize_map(Some(1))?;
                let list: Vec<String> = episodes.iter().map(u32::to_string).collect();
                map.serialize_entry(&n.to_string(), &list)?;
                map.end()
            }
        }
    }
}

/// Indices of `items` in the order their keys are written: numeric, or as text when
/// the serial says so.
fn key_order<T>(items: &[T], number: impl Fn(&T) -> u32, text_order: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    if text_order {
        order.sort_by_key(|&i| number(&items[i]).to_string());
    } else {
        order.sort_by_key(|&i| number(&items[i]));
    }
    order
}

struct Seasons<'a> {
    m: &'a Material,
    serial: &'a Serial,
    depth: Depth,
}

impl Serialize for Seasons<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let seasons = &self.serial.seasons;
        // Episode ordinals follow the stored order, whatever order keys are written in.
        let mut first_ordinal = Vec::with_capacity(seasons.len());
        let mut ordinal = 0;
        for season in seasons {
            first_ordinal.push(ordinal);
            ordinal += season.episodes.len();
        }
        let mut map = serializer.serialize_map(Some(seasons.len()))?;
        for index in key_order(seasons, |s| s.number, self.serial.text_order) {
            let season = SeasonView {
                m: self.m,
                season: &seasons[index],
                index,
                first_ordinal: first_ordinal[index],
                depth: self.depth,
                text_order: self.serial.text_order,
            };
            map.serialize_entry(&seasons[index].number.to_string(), &season)?;
        }
        map.end()
    }
}

struct SeasonView<'a> {
    m: &'a Material,
    season: &'a Season,
    index: usize,
    first_ordinal: usize,
    depth: Depth,
    text_order: bool,
}

impl Serialize for SeasonView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        let link = links::player_link(
            self.m.host,
            LinkKind::Season,
            season_link_id(self.m, self.index),
        );
        map.serialize_entry("link", &link)?;
        if let Some(title) = &self.season.title {
            map.serialize_entry("title", title)?;
        }
        if self.depth >= Depth::Episodes {
            map.serialize_entry("episodes", &Episodes(self))?;
        }
        map.end()
    }
}

struct Episodes<'a>(&'a SeasonView<'a>);

impl Serialize for Episodes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let view = self.0;
        let episodes = &view.season.episodes;
        let mut map = serializer.serialize_map(Some(episodes.len()))?;
        for i in key_order(episodes, |e| e.number, view.text_order) {
            let episode = &episodes[i];
            let id = seria_id(view.m, view.first_ordinal + i);
            let link = links::player_link(view.m.host, LinkKind::Seria, id);
            let object = match episode.style {
                EpisodeStyle::Link => false,
                EpisodeStyle::Object => true,
                EpisodeStyle::Auto => view.depth == Depth::EpisodesData,
            };
            let key = episode.number.to_string();
            if object {
                map.serialize_entry(&key, &EpisodeObject { episode, link, id })?;
            } else {
                map.serialize_entry(&key, &link)?;
            }
        }
        map.end()
    }
}

struct EpisodeObject<'a> {
    episode: &'a Episode,
    link: String,
    id: u64,
}

impl Serialize for EpisodeObject<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("link", &self.link)?;
        if self.episode.titled {
            map.serialize_entry("title", &format!("Серия {}", self.episode.number))?;
        }
        if self.episode.screenshots > 0 {
            let shots: Vec<String> = (1..=self.episode.screenshots)
                .map(|n| links::screenshot(LinkKind::Seria, self.id, n))
                .collect();
            map.serialize_entry("screenshots", &shots)?;
        }
        map.end()
    }
}
