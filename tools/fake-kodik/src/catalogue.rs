//! The committed catalogue fixture (`catalogue.jsonl.gz`, built by
//! `build-catalogue.py`): reading it, and choosing the subset of titles a run serves.
//!
//! The fixture is embedded in the binary so the server is self-contained; `--catalogue`
//! can point at another file with the same format.

use std::{
    fmt,
    io::{BufRead, BufReader, Read},
    path::Path,
};

use flate2::read::GzDecoder;
use serde::Deserialize;

/// The fixture as committed next to this crate.
pub static EMBEDDED: &[u8] = include_bytes!("../catalogue.jsonl.gz");

/// The anime kind of a title, as the fixture and `material_data.anime_kind` spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Tv,
    Movie,
    Ova,
    Ona,
    Special,
    Music,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tv => "tv",
            Self::Movie => "movie",
            Self::Ova => "ova",
            Self::Ona => "ona",
            Self::Special => "special",
            Self::Music => "music",
        }
    }
}

/// Airing status, as `material_data.anime_status` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Anons,
    Ongoing,
    #[default]
    Released,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Anons => "anons",
            Self::Ongoing => "ongoing",
            Self::Released => "released",
        }
    }
}

/// What a name is to its title.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NameKind {
    Main,
    Official,
    Synonym,
    Short,
}

/// One name of a title. `lang` is `romaji` for AniDB's `x-jat`, else the dump's code.
#[derive(Debug, Clone, Deserialize)]
pub struct Name {
    pub lang: String,
    pub kind: NameKind,
    pub text: String,
}

/// One line of the fixture: a title before it is expanded into Kodik materials.
#[derive(Debug, Clone, Deserialize)]
pub struct Title {
    pub kodik_id: u32,
    #[serde(default)]
    pub shikimori_id: Option<u32>,
    pub kind: Kind,
    #[serde(default)]
    pub status: Status,
    #[serde(default)]
    pub year: Option<u16>,
    #[serde(default)]
    pub genres: Vec<String>,
    #[serde(default)]
    pub episodes: Option<u32>,
    #[serde(default)]
    pub rating: Option<f64>,
    #[serde(default)]
    pub members: u32,
    pub titles: Vec<Name>,
}

impl Title {
    /// The first name in `lang` (names are ordered main, official, synonym, short).
    pub fn name_in(&self, lang: &str) -> Option<&str> {
        self.titles
            .iter()
            .find(|n| n.lang == lang)
            .map(|n| n.text.as_str())
    }

    /// The romaji main name; every title has one, but fall back to any name.
    pub fn romaji(&self) -> &str {
        self.name_in("romaji")
            .or_else(|| self.titles.first().map(|n| n.text.as_str()))
            .unwrap_or("Untitled")
    }
}

/// Why the fixture could not be read.
#[derive(Debug)]
pub enum LoadError {
    Io(std::io::Error),
    Line {
        line: usize,
        source: serde_json::Error,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "reading the catalogue: {e}"),
            Self::Line { line, source } => write!(f, "catalogue line {line}: {source}"),
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            Self::Line { source, .. } => Some(source),
        }
    }
}

/// Parses gzip-compressed JSON lines.
pub fn parse(gz: impl Read) -> Result<Vec<Title>, LoadError> {
    let mut titles = Vec::new();
    for (index, line) in BufReader::new(GzDecoder::new(gz)).lines().enumerate() {
        let line = line.map_err(LoadError::Io)?;
        if line.trim().is_empty() {
            continue;
        }
        let title = serde_json::from_str(&line).map_err(|source| LoadError::Line {
            line: index + 1,
            source,
        })?;
        titles.push(title);
    }
    Ok(titles)
}

/// The embedded fixture, or the file at `path`.
pub fn load(path: Option<&Path>) -> Result<Vec<Title>, LoadError> {
    match path {
        None => parse(EMBEDDED),
        Some(path) => parse(std::fs::File::open(path).map_err(LoadError::Io)?),
    }
}

/// Which titles a run serves.
#[derive(Debug, Clone, Default)]
pub enum Subset {
    #[default]
    All,
    /// `n` titles spread evenly over the kodik_id order, so a small catalogue still mixes
    /// joined, Kaggle-only and AniDB-only titles of every kind.
    Size(usize),
    /// Exactly these kodik_ids (unknown ids are ignored).
    Only(Vec<u32>),
}

impl Subset {
    /// Keeps the chosen titles, in kodik_id order.
    pub fn apply(&self, mut titles: Vec<Title>) -> Vec<Title> {
        titles.sort_by_key(|t| t.kodik_id);
        match self {
            Self::All => titles,
            Self::Size(n) if *n >= titles.len() => titles,
            Self::Size(0) => Vec::new(),
            Self::Size(n) => {
                let len = titles.len();
                let picks: Vec<usize> = (0..*n).map(|i| i * len / n).collect();
                titles
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| picks.binary_search(i).is_ok())
                    .map(|(_, t)| t)
                    .collect()
            }
            Self::Only(ids) => titles
                .into_iter()
                .filter(|t| ids.contains(&t.kodik_id))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_fixture_is_large_and_keeps_html_entities() {
        let titles = load(None).expect("the embedded fixture parses");
        assert!(titles.len() >= 9_000, "only {} titles", titles.len());
        assert!(titles.iter().any(|t| t.romaji() == "Gintama&#039;"));
        assert!(titles.iter().any(|t| t.shikimori_id.is_none()));
    }

    #[test]
    fn subsets_are_deterministic() {
        let titles = load(None).expect("the embedded fixture parses");
        let a = Subset::Size(50).apply(titles.clone());
        let b = Subset::Size(50).apply(titles.clone());
        assert_eq!(a.len(), 50);
        let ids = |v: &[Title]| v.iter().map(|t| t.kodik_id).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b));
        let only = Subset::Only(vec![239, 8126]).apply(titles);
        assert_eq!(ids(&only), [239, 8126]);
    }
}
