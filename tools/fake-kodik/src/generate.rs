//! Expanding catalogue titles into Kodik works and materials, deterministically.
//!
//! Every title gets its own RNG seeded from the run seed and its kodik_id, so a title
//! expands to the same rows whether the whole catalogue or a subset is served, and on
//! every run. Material numbers are `1000 + 10 * kodik_id + row`, which keeps them
//! unique, stable under subsetting, and clear of the hand-made scenarios (1..=999).

use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::{
    catalogue::{Kind, NameKind, Title},
    links::{self, LinkHost, LinkKind},
    material_data::{self, Context},
    model::{BlockedSeasons, Episode, EpisodeStyle, ExternalIds, Material, Season, Serial, Work},
    search, timestamps,
    translations::{TRANSLATIONS, Translation},
};

/// The seed used unless `--seed` says otherwise.
pub const DEFAULT_SEED: u64 = 2015;

/// Rows per title never exceed this, so `10 * kodik_id + row` stays unique.
const MAX_ROWS: u32 = 9;
/// Longest season served; longer series are split into several seasons.
const MAX_SEASON_EPISODES: u32 = 200;
/// Most seasons a generated serial has (besides specials).
const MAX_SEASONS: u32 = 3;

/// The earliest `created_at` of a generated row.
pub fn window_start_ms() -> i64 {
    timestamps::millis_of_date(2014, 1, 1)
}

/// "Now" for the generated catalogue: no row is dated later.
pub fn window_end_ms() -> i64 {
    timestamps::millis_of_date(2025, 6, 30)
}

/// Qualities with their relative frequency.
const QUALITIES: &[(&str, u32)] = &[
    ("WEB-DLRip 720p", 35),
    ("BDRip 720p", 20),
    ("HDTVRip 720p", 12),
    ("DVDRip", 10),
    ("WEB-DL 1080p", 8),
    ("BDRip 1080p", 8),
    ("HDRip", 5),
    ("TVRip", 2),
];

const BLOCKED_COUNTRIES: &[&[&str]] = &[&["UA"], &["RU"], &["UA", "KZ"], &["BY", "RU"]];

/// A bijection on `0..1_000_003` (a prime), so derived external ids never collide.
fn permute(id: u32, factor: u64) -> u64 {
    u64::from(id) * factor % 1_000_003
}

fn slug(text: &str) -> String {
    let mut out = String::new();
    for word in text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(&word.to_ascii_lowercase());
    }
    if out.is_empty() { "anime".into() } else { out }
}

fn pick_weighted<'a, T>(items: &'a [(T, u32)], rng: &mut StdRng) -> &'a T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total);
    for (item, weight) in items {
        if roll < *weight {
            return item;
        }
        roll -= weight;
    }
    &items[items.len() - 1].0
}

/// `n` distinct translations, favouring popular teams (Efraimidis–Spirakis sampling).
fn pick_translations(n: usize, rng: &mut StdRng) -> Vec<&'static Translation> {
    let mut keyed: Vec<(f64, &'static Translation)> = TRANSLATIONS
        .iter()
        .map(|t| (rng.random::<f64>().powf(1.0 / f64::from(t.weight)), t))
        .collect();
    keyed.sort_by(|a, b| b.0.total_cmp(&a.0));
    keyed.into_iter().take(n).map(|(_, t)| t).collect()
}

/// How many translations a title has: popular titles attract more teams.
fn row_count(members: u32, rng: &mut StdRng) -> u32 {
    let (low, high) = match members {
        0 => (1, 2),
        1..1_000 => (1, 2),
        1_000..10_000 => (1, 3),
        10_000..50_000 => (2, 5),
        50_000..200_000 => (3, 7),
        _ => (5, MAX_ROWS),
    };
    rng.random_range(low..=high)
}

fn external_ids(t: &Title, romaji: &str, rng: &mut StdRng) -> ExternalIds {
    let known = t.shikimori_id.is_some();
    // A few titles have no external id at all; more of them among AniDB-only titles.
    if rng.random_ratio(if known { 1 } else { 4 }, 100) {
        return ExternalIds::default();
    }
    // A few percent of titles lack shikimori_id but keep a kinopoisk_id.
    let shikimori = t.shikimori_id.filter(|_| !rng.random_ratio(2, 100));
    let kinopoisk = shikimori.is_none() || rng.random_ratio(7, 10);
    let id = t.kodik_id;
    ExternalIds {
        shikimori_id: shikimori.map(|s| s.to_string()),
        kinopoisk_id: kinopoisk.then(|| (2_000_000 + permute(id, 7_919)).to_string()),
        imdb_id: rng
            .random_bool(0.5)
            .then(|| format!("tt{:07}", 3_000_000 + permute(id, 104_729))),
        mdl_id: rng
            .random_ratio(2, 100)
            .then(|| format!("{}-{}", 10_000 + permute(id, 3_571), slug(romaji))),
        worldart_link: rng.random_bool(0.6).then(|| {
            format!(
                "http://www.world-art.ru/animation/animation.php?id={}",
                10_000 + permute(id, 6_151)
            )
        }),
    }
}

/// Names for `other_title`: English and Japanese first, then other Russian and romaji
/// names; short forms and other languages are left out.
fn other_title(t: &Title, title: &str, title_orig: Option<&str>) -> Option<String> {
    let rank = |lang: &str, kind: NameKind| match (lang, kind) {
        (_, NameKind::Short) => None,
        ("en", NameKind::Main | NameKind::Official) => Some(0),
        ("ja", NameKind::Main | NameKind::Official) => Some(1),
        ("ru", _) => Some(2),
        ("romaji", _) => Some(3),
        ("en", _) => Some(4),
        ("ja", _) => Some(5),
        _ => None,
    };
    let mut ranked: Vec<(u8, &str)> = t
        .titles
        .iter()
        .filter_map(|n| rank(&n.lang, n.kind).map(|r| (r, n.text.as_str())))
        .filter(|(_, text)| *text != title && Some(*text) != title_orig)
        .collect();
    ranked.sort_by_key(|(r, _)| *r);
    let mut names: Vec<&str> = Vec::new();
    for (_, text) in ranked {
        if !names.contains(&text) {
            names.push(text);
        }
    }
    names.truncate(5);
    (!names.is_empty()).then(|| names.join(" / "))
}

/// Builds the shared part of a title.
pub fn work(t: &Title, rng: &mut StdRng) -> (Work, u32) {
    let romaji = t.romaji().to_owned();
    let russian = t.name_in("ru").map(str::to_owned);
    let title = russian.clone().unwrap_or_else(|| romaji.clone());
    let title_orig = (!rng.random_ratio(3, 100)).then(|| romaji.clone());
    let other_title =
        other_title(t, &title, title_orig.as_deref()).filter(|_| !rng.random_ratio(5, 100));
    let year = t.year.unwrap_or(2010);
    let ids = external_ids(t, &romaji, rng);
    let episodes = match (t.kind, t.episodes.filter(|e| *e > 0)) {
        (Kind::Movie, _) => 1,
        (_, Some(e)) => e.min(MAX_SEASON_EPISODES * MAX_SEASONS),
        // Unknown length (ongoing, or AniDB-only): a small number.
        (Kind::Tv | Kind::Ona, None) => rng.random_range(1..=13),
        (Kind::Ova, None) => rng.random_range(1..=4),
        (Kind::Special | Kind::Music, None) => rng.random_range(1..=3),
    };
    let cx = Context {
        title: &title,
        year,
        ids: &ids,
        episodes,
        now_ms: window_end_ms(),
    };
    let (material_data, facts) = material_data::describe(t, &cx, rng);
    let mut search_names = vec![search::fold(&title)];
    search_names.extend(title_orig.iter().map(|n| search::fold(n)));
    if let Some(other) = &other_title {
        search_names.extend(other.split(" / ").map(search::fold));
    }
    let work = Work {
        title,
        title_orig,
        other_title,
        year,
        ids,
        material_data,
        facts,
        search_names,
    };
    (work, episodes)
}

/// How a title's seasons are laid out; shared by all its translations.
struct Plan {
    first_season: u32,
    episodes: u32,
    specials: Option<(u32, &'static str)>,
}

impl Plan {
    fn new(t: &Title, episodes: u32, rng: &mut StdRng) -> Self {
        // Some titles carry only a later season ("4"), as sequels upstream do.
        let first_season = if rng.random_ratio(4, 100) {
            rng.random_range(2..=5)
        } else {
            1
        };
        let specials = (t.kind == Kind::Tv && rng.random_ratio(6, 100)).then(|| {
            let titles = ["Спецвыпуски", "OVA", "Рекапы"];
            (
                rng.random_range(1..=3),
                titles[rng.random_range(0..titles.len())],
            )
        });
        Self {
            first_season,
            episodes,
            specials,
        }
    }
}

fn seasons(plan: &Plan, rng: &mut StdRng) -> Vec<Season> {
    // Most dubs are complete; some are still catching up with the title.
    let present = if rng.random_ratio(8, 10) {
        plan.episodes
    } else {
        rng.random_range(1..=plan.episodes)
    };
    let mixed = rng.random_ratio(3, 100);
    let titled = rng.random_ratio(15, 100);
    let max_shots: u8 = if rng.random_ratio(3, 10) { 0 } else { 5 };
    let episode = |number: u32, rng: &mut StdRng| Episode {
        number,
        style: if mixed && rng.random_bool(0.5) {
            EpisodeStyle::Link
        } else {
            EpisodeStyle::Auto
        },
        titled,
        screenshots: if max_shots == 0 {
            0
        } else {
            rng.random_range(0..=max_shots)
        },
    };
    let mut out = Vec::new();
    if let Some((count, title)) = plan.specials.filter(|_| rng.random_ratio(7, 10)) {
        out.push(Season {
            number: 0,
            title: Some(title.to_owned()),
            episodes: (1..=count).map(|n| episode(n, rng)).collect(),
        });
    }
    let mut start = 1;
    let mut number = plan.first_season;
    while start <= present {
        let end = (start + MAX_SEASON_EPISODES - 1).min(present);
        // Episodes keep counting across split seasons, as long-runners do upstream.
        let mut episodes: Vec<Episode> = (start..=end).map(|n| episode(n, rng)).collect();
        if episodes.len() > 8 && rng.random_ratio(4, 100) {
            let len = episodes.len();
            let gap = rng.random_range(1..=(len / 4).min(12));
            let at = rng.random_range(1..len - gap);
            episodes.drain(at..at + gap);
        }
        out.push(Season {
            number,
            title: None,
            episodes,
        });
        start = end + 1;
        number += 1;
    }
    out
}

fn blocked_seasons(seasons: &[Season], rng: &mut StdRng) -> BlockedSeasons {
    let main: Vec<&Season> = seasons.iter().filter(|s| s.number > 0).collect();
    match rng.random_range(0..100) {
        0..92 => BlockedSeasons::None,
        92..95 => BlockedSeasons::All,
        95..98 => main
            .first()
            .map_or(BlockedSeasons::All, |s| BlockedSeasons::Season(s.number)),
        _ => match main.last() {
            Some(s) if s.episodes.len() >= 2 => BlockedSeasons::Episodes(
                s.number,
                s.episodes.iter().take(2).map(|e| e.number).collect(),
            ),
            _ => BlockedSeasons::None,
        },
    }
}

/// The rows of one title, one per translation.
pub fn materials(
    t: &Title,
    work: &Work,
    work_index: usize,
    episodes: u32,
    rng: &mut StdRng,
) -> Vec<Material> {
    let film = t.kind == Kind::Movie || (t.kind == Kind::Music && t.episodes == Some(1));
    let plan = Plan::new(t, episodes, rng);
    let rows = row_count(t.members, rng);
    let teams = pick_translations(rows as usize, rng);
    // In a few titles some rows lack shikimori_id while their siblings carry it; those
    // titles always keep a kinopoisk_id to join on.
    let hide_some = work.ids.shikimori_id.is_some()
        && work.ids.kinopoisk_id.is_some()
        && rng.random_ratio(6, 100);
    let start = window_start_ms().max(timestamps::millis_of_date(i32::from(work.year), 1, 1));
    let end = window_end_ms();
    let start = start.min(end - 30 * 86_400_000);

    teams
        .into_iter()
        .enumerate()
        .map(|(row, translation)| {
            let number = 1000 + 10 * u64::from(t.kodik_id) + row as u64;
            let host = LinkHost::from_roll(rng.random_range(0..100));
            let kind = if film {
                LinkKind::Video
            } else {
                LinkKind::Serial
            };
            let quality = if film && work.year >= 2015 && rng.random_ratio(5, 100) {
                "TS 720p"
            } else {
                pick_weighted(QUALITIES, rng)
            };
            let created_ms = rng.random_range(start / 1000..end / 1000) * 1000;
            let updated_ms = if rng.random_ratio(35, 100) {
                created_ms
            } else {
                rng.random_range(created_ms / 1000..=end / 1000) * 1000
            };
            let serial = (!film).then(|| {
                let seasons = seasons(&plan, rng);
                let blocked = blocked_seasons(&seasons, rng);
                Box::new(Serial::new(seasons, blocked, rng.random_ratio(1, 10)))
            });
            Material {
                number,
                film,
                work: work_index,
                translation,
                link: links::player_link(host, kind, number),
                host,
                quality,
                camrip: quality.starts_with("TS"),
                lgbt: material_data::is_lgbt(t),
                blocked_countries: if rng.random_ratio(92, 100) {
                    &[]
                } else {
                    BLOCKED_COUNTRIES[rng.random_range(0..BLOCKED_COUNTRIES.len())]
                },
                created_ms,
                updated_ms,
                screenshots: if rng.random_ratio(3, 100) { 0 } else { 5 },
                hide_shikimori: hide_some && row > 0 && rng.random_bool(0.5),
                serial,
            }
        })
        .collect()
}

/// Expands every title; works and materials come back in kodik_id order.
pub fn expand(titles: &[Title], seed: u64) -> (Vec<Work>, Vec<Material>) {
    let mut works = Vec::with_capacity(titles.len());
    let mut rows = Vec::with_capacity(titles.len() * 3);
    for t in titles {
        let mut rng = StdRng::seed_from_u64(links::mix(seed ^ (u64::from(t.kodik_id) << 20)));
        let (work, episodes) = work(t, &mut rng);
        rows.extend(materials(t, &work, works.len(), episodes, &mut rng));
        works.push(work);
    }
    (works, rows)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::{
        catalogue::{self, Subset},
        render::{Content, Depth, Row},
        store::Store,
    };

    fn full() -> (Vec<Title>, Store) {
        let titles = catalogue::load(None).expect("the embedded fixture parses");
        let (works, materials) = expand(&titles, DEFAULT_SEED);
        (titles, Store::new(works, materials))
    }

    fn json(store: &Store, m: &Material) -> serde_json::Value {
        let content = Content {
            depth: Depth::EpisodesData,
            material_data: true,
        };
        serde_json::to_value(Row {
            store,
            material: m,
            content,
        })
        .expect("rows serialise")
    }

    #[test]
    fn expansion_is_deterministic_and_stable_under_subsetting() {
        let (titles, store) = full();
        let subset = Subset::Only(vec![239, 8126, 20_000 + 5114]).apply(titles);
        let (works, materials) = expand(&subset, DEFAULT_SEED);
        let small = Store::new(works, materials);
        assert!(!small.materials.is_empty());
        for m in &small.materials {
            let same = store
                .materials
                .iter()
                .find(|x| x.number == m.number)
                .expect("the subset's rows exist in the full catalogue");
            assert_eq!(json(&small, m), json(&store, same));
        }
    }

    #[test]
    fn catalogue_has_every_upstream_quirk() {
        let (_, store) = full();
        let rows: Vec<serde_json::Value> =
            store.materials.iter().map(|m| json(&store, m)).collect();
        let count =
            |pred: &dyn Fn(&serde_json::Value) -> bool| rows.iter().filter(|r| pred(r)).count();
        let link =
            |r: &serde_json::Value, p: &str| r["link"].as_str().is_some_and(|l| l.starts_with(p));
        assert!(store.materials.len() > 25_000);
        assert!(count(&|r| link(r, "//kodik.info/")) > 1000);
        assert!(count(&|r| link(r, "//aniqit.com/")) > 100);
        assert!(count(&|r| link(r, "http://kodik.cc/")) > 100);
        assert!(count(&|r| link(r, "https://kodikplayer.com/")) > 1000);
        // Ids are strings or absent, never null.
        for key in [
            "shikimori_id",
            "kinopoisk_id",
            "imdb_id",
            "mdl_id",
            "worldart_link",
        ] {
            assert!(
                rows.iter()
                    .all(|r| r.get(key).is_none_or(serde_json::Value::is_string))
            );
        }
        let no_shikimori_with_kp =
            count(&|r| r.get("shikimori_id").is_none() && r.get("kinopoisk_id").is_some());
        assert!(no_shikimori_with_kp > 300, "{no_shikimori_with_kp}");
        let no_ids = count(&|r| {
            [
                "shikimori_id",
                "kinopoisk_id",
                "imdb_id",
                "mdl_id",
                "worldart_link",
            ]
            .iter()
            .all(|k| r.get(*k).is_none())
        });
        assert!(no_ids > 50, "{no_ids}");
        assert!(count(&|r| r["mdl_id"].as_str().is_some_and(|m| m.contains('-'))) > 50);
        assert!(count(&|r| r.get("title_orig").is_none()) > 100);
        assert!(count(&|r| r.get("other_title").is_none()) > 100);
        assert!(count(&|r| r["other_title"].as_str().is_some_and(|t| t.contains(" / "))) > 1000);
        assert!(
            count(&|r| r["title_orig"]
                .as_str()
                .is_some_and(|t| t.contains("&#039;")))
                > 50
        );
        // Seasons: not always from 1, specials in "0", gaps, mixed forms.
        let seasons = |r: &serde_json::Value| -> Vec<String> {
            r["seasons"]
                .as_object()
                .map(|s| s.keys().cloned().collect())
                .unwrap_or_default()
        };
        assert!(count(&|r| seasons(r).first().is_some_and(|k| k == "4")) > 20);
        assert!(count(&|r| seasons(r).first().is_some_and(|k| k == "0")) > 20);
        assert!(count(&|r| seasons(r).len() > 1 && seasons(r)[0] != "0") > 5);
        let mixed = count(&|r| {
            r["seasons"].as_object().is_some_and(|s| {
                s.values().any(|season| {
                    let eps = season["episodes"].as_object().expect("episodes");
                    eps.values().any(|e| e.is_string()) && eps.values().any(|e| e.is_object())
                })
            })
        });
        assert!(mixed > 50, "{mixed}");
        let gaps = count(&|r| {
            r["seasons"].as_object().is_some_and(|s| {
                s.values().any(|season| {
                    let mut n: Vec<u32> = season["episodes"]
                        .as_object()
                        .expect("episodes")
                        .keys()
                        .map(|k| k.parse().expect("numeric"))
                        .collect();
                    n.sort_unstable();
                    n.windows(2).any(|w| w[1] - w[0] > 1)
                })
            })
        });
        assert!(gaps > 50, "{gaps}");
        // blocked_seasons in every shape.
        let blocked: HashSet<String> = rows
            .iter()
            .filter_map(|r| r.get("blocked_seasons"))
            .map(|b| match b {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Object(o) if o.is_empty() => "{}".into(),
                serde_json::Value::Object(o) => {
                    if o.values().all(serde_json::Value::is_string) {
                        "season".into()
                    } else {
                        "episodes".into()
                    }
                }
                other => panic!("unexpected blocked_seasons {other}"),
            })
            .collect();
        assert_eq!(blocked.len(), 4, "{blocked:?}");
        // Films never have seasons; serials always do with a with_* flag.
        assert!(
            rows.iter()
                .all(|r| (r["type"] == "anime") == r.get("seasons").is_none())
        );
        assert!(rows.iter().all(|r| r["material_data"].is_object()));
    }

    #[test]
    fn material_numbers_are_unique_and_clear_of_scenarios() {
        let (_, store) = full();
        let numbers: HashSet<u64> = store.materials.iter().map(|m| m.number).collect();
        assert_eq!(numbers.len(), store.materials.len());
        assert!(numbers.iter().all(|n| *n >= 1000));
    }
}
