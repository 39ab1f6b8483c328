//! Hand-made materials that reproduce, exactly, each upstream quirk listed in the
//! project's Kodik case list. They own material numbers 1..=999 (generated rows start
//! at 1000), so `serial-1` … `serial-11` and `movie-8` are always these.
//!
//! | id | case |
//! | --- | --- |
//! | `serial-1`, `serial-2`, `serial-3` | one serial in three translations with the three link forms `//kodik.info/…`, `http://kodik.cc/…`, `https://kodikplayer.com/…`; `serial-2`/`serial-3` are two translations both titled `Субтитры`; `serial-1` carries string ids incl. `"shikimori_id": "20"` and `"mdl_id": "56743-mei-gui-qi-shi"` |
//! | `serial-4` | seasons `"0"` (titled specials) and `"1"` |
//! | `serial-5` | episode keys `"1"`, `"2"`, `"10"`, written in text order |
//! | `serial-6` | season `"1"` with keys 1..=170 minus 116..=127: 158 episodes |
//! | `serial-7` | one season mixing link strings and `{link,title,screenshots}` objects |
//! | `movie-8` | a film (no `seasons`) of the `serial-1` franchise with another shikimori_id |
//! | `serial-9` | no `shikimori_id`, but the `kinopoisk_id` of `serial-4` |
//! | `serial-10` | no external id at all |
//! | `serial-11` | only season `"4"`, and `blocked_seasons` `{"4": ["3", "4"]}` |

use crate::{
    catalogue::{Kind, Status},
    links::LinkHost,
    model::{
        BlockedSeasons, Episode, EpisodeStyle, ExternalIds, Facts, Material, MaterialData, Season,
        Serial, Work,
    },
    search, timestamps,
    translations::{self, Translation},
};

/// Shikimori ids the scenarios use; generated titles with these ids are left out when
/// both are served, so every id keeps one consistent set of external ids.
pub const SHIKIMORI_IDS: [u32; 7] = [20, 13667, 5114, 9253, 269, 1535, 40028];

struct WorkSpec {
    title: &'static str,
    title_orig: &'static str,
    other_title: Option<&'static str>,
    year: u16,
    kind: Kind,
    episodes: u32,
    rating: Option<f64>,
    ids: [Option<&'static str>; 5],
}

fn work(spec: WorkSpec) -> Work {
    let [shikimori_id, kinopoisk_id, imdb_id, mdl_id, worldart_link] =
        spec.ids.map(|id| id.map(str::to_owned));
    let anime_genres = vec!["Экшен".to_owned(), "Приключения".to_owned()];
    let genres = vec![
        "аниме".to_owned(),
        "мультфильм".to_owned(),
        "боевик".to_owned(),
    ];
    let material_data = MaterialData {
        title: Some(spec.title.to_owned()),
        anime_title: Some(spec.title.to_owned()),
        title_en: Some(spec.title_orig.to_owned()),
        anime_kind: Some(spec.kind.as_str().to_owned()),
        anime_status: Some(Status::Released.as_str()),
        all_status: Some(Status::Released.as_str()),
        description: Some(format!("«{}» — материал тестового сценария.", spec.title)),
        genres: Some(genres.clone()),
        anime_genres: Some(anime_genres.clone()),
        shikimori_rating: spec.rating.filter(|_| shikimori_id.is_some()),
        shikimori_votes: spec.rating.filter(|_| shikimori_id.is_some()).map(|_| 1000),
        episodes_total: Some(spec.episodes),
        episodes_aired: Some(spec.episodes),
        aired_at: Some(format!("{}-04-01", spec.year)),
        rating_mpaa: Some("PG-13"),
        minimal_age: Some(12),
        year: Some(spec.year),
        duration: Some(if spec.kind == Kind::Movie { 100 } else { 24 }),
        countries: Some(vec!["Япония".to_owned()]),
        ..MaterialData::default()
    };
    let mut search_names = vec![search::fold(spec.title), search::fold(spec.title_orig)];
    search_names.extend(
        spec.other_title
            .iter()
            .flat_map(|o| o.split(" / "))
            .map(search::fold),
    );
    Work {
        title: spec.title.to_owned(),
        title_orig: Some(spec.title_orig.to_owned()),
        other_title: spec.other_title.map(str::to_owned),
        year: spec.year,
        ids: ExternalIds {
            shikimori_id,
            kinopoisk_id,
            imdb_id,
            mdl_id,
            worldart_link,
        },
        facts: Facts {
            kind: spec.kind,
            status: Status::Released,
            genres: genres.iter().map(|g| g.to_lowercase()).collect(),
            anime_genres: anime_genres.iter().map(|g| g.to_lowercase()).collect(),
            rating_mpaa: material_data.rating_mpaa,
            minimal_age: material_data.minimal_age,
            shikimori_rating: material_data.shikimori_rating,
            kinopoisk_rating: None,
            imdb_rating: None,
        },
        material_data,
        search_names,
    }
}

fn team(id: u32) -> &'static Translation {
    translations::by_id(id).expect("scenario translations exist in the shared list")
}

fn season(number: u32, title: Option<&str>, numbers: impl IntoIterator<Item = u32>) -> Season {
    Season {
        number,
        title: title.map(str::to_owned),
        episodes: numbers.into_iter().map(Episode::plain).collect(),
    }
}

struct Row {
    number: u64,
    work: usize,
    translation: u32,
    link: &'static str,
    host: LinkHost,
    serial: Option<Serial>,
    hide_shikimori: bool,
}

fn material(row: Row, work_offset: usize) -> Material {
    // Distinct, well-spread stamps: created on day N of 2024, updated N hours later.
    let created_ms = timestamps::millis_of_date(2024, 3, 1) + row.number as i64 * 86_400_000;
    Material {
        number: row.number,
        film: row.serial.is_none(),
        work: work_offset + row.work,
        translation: team(row.translation),
        link: row.link.to_owned(),
        host: row.host,
        quality: if row.serial.is_none() {
            "BDRip 720p"
        } else {
            "WEB-DLRip 720p"
        },
        camrip: false,
        lgbt: false,
        blocked_countries: &[],
        created_ms,
        updated_ms: created_ms + row.number as i64 * 3_600_000,
        screenshots: 5,
        hide_shikimori: row.hide_shikimori,
        serial: row.serial.map(Box::new),
    }
}

/// The scenario works and materials; material `work` indices start at `work_offset`.
pub fn build(work_offset: usize) -> (Vec<Work>, Vec<Material>) {
    let works = vec![
        // 0: Naruto, in three translations with the three link forms.
        work(WorkSpec {
            title: "Наруто",
            title_orig: "Naruto",
            other_title: Some("ナルト / NARUTO"),
            year: 2002,
            kind: Kind::Tv,
            episodes: 220,
            rating: Some(7.81),
            ids: [
                Some("20"),
                Some("283290"),
                Some("tt0409591"),
                Some("56743-mei-gui-qi-shi"),
                Some("http://www.world-art.ru/animation/animation.php?id=262"),
            ],
        }),
        // 1: a film of the same franchise, another shikimori_id.
        work(WorkSpec {
            title: "Наруто 9: Путь ниндзя",
            title_orig: "Road to Ninja: Naruto the Movie",
            other_title: Some("Наруто (фильм девятый) - Становление ниндзя"),
            year: 2012,
            kind: Kind::Movie,
            episodes: 1,
            rating: Some(7.7),
            ids: [
                Some("13667"),
                Some("678323"),
                Some("tt2290828"),
                None,
                Some("http://www.world-art.ru/animation/animation.php?id=837"),
            ],
        }),
        // 2: specials in season "0"; serial-9 is another translation without shikimori_id.
        work(WorkSpec {
            title: "Стальной алхимик: Братство",
            title_orig: "Hagane no Renkinjutsushi: Fullmetal Alchemist",
            other_title: Some(
                "Fullmetal Alchemist: Brotherhood / 鋼の錬金術師 FULLMETAL ALCHEMIST",
            ),
            year: 2009,
            kind: Kind::Tv,
            episodes: 64,
            rating: Some(9.26),
            ids: [Some("5114"), Some("397667"), Some("tt1355642"), None, None],
        }),
        // 3: episode keys 1, 2, 10.
        work(WorkSpec {
            title: "Врата Штейна",
            title_orig: "Steins;Gate",
            other_title: Some("シュタインズ・ゲート"),
            year: 2011,
            kind: Kind::Tv,
            episodes: 24,
            rating: Some(9.17),
            ids: [Some("9253"), Some("582358"), None, None, None],
        }),
        // 4: 170 keys with 116..=127 missing.
        work(WorkSpec {
            title: "Блич",
            title_orig: "Bleach",
            other_title: Some("ブリーチ"),
            year: 2004,
            kind: Kind::Tv,
            episodes: 366,
            rating: Some(7.95),
            ids: [Some("269"), Some("284136"), None, None, None],
        }),
        // 5: mixed episode value forms.
        work(WorkSpec {
            title: "Тетрадь смерти",
            title_orig: "Death Note",
            other_title: Some("デスノート"),
            year: 2006,
            kind: Kind::Tv,
            episodes: 37,
            rating: Some(8.71),
            ids: [Some("1535"), Some("406148"), None, None, None],
        }),
        // 6: no external id at all.
        work(WorkSpec {
            title: "Тайна старого маяка",
            title_orig: "Furui Toudai no Himitsu",
            other_title: None,
            year: 2013,
            kind: Kind::Tv,
            episodes: 12,
            rating: None,
            ids: [None; 5],
        }),
        // 7: a later season on its own.
        work(WorkSpec {
            title: "Атака титанов: Финал",
            title_orig: "Shingeki no Kyojin: The Final Season",
            other_title: Some("Attack on Titan Final Season / 進撃の巨人 The Final Season"),
            year: 2020,
            kind: Kind::Tv,
            episodes: 16,
            rating: Some(8.8),
            ids: [Some("40028"), Some("1304543"), None, None, None],
        }),
    ];

    let naruto_season = |text_order| {
        Serial::new(
            vec![season(1, None, 1..=5)],
            BlockedSeasons::None,
            text_order,
        )
    };
    let mixed: Vec<Episode> = (1..=6)
        .map(|n| {
            if n % 2 == 1 {
                Episode {
                    number: n,
                    style: EpisodeStyle::Link,
                    titled: false,
                    screenshots: 0,
                }
            } else {
                Episode {
                    number: n,
                    style: EpisodeStyle::Object,
                    titled: true,
                    screenshots: 3,
                }
            }
        })
        .collect();
    let rows = vec![
        Row {
            number: 1,
            work: 0,
            translation: 609,
            link: "//kodik.info/serial/1/h/720p",
            host: LinkHost::KodikInfo,
            serial: Some(naruto_season(false)),
            hide_shikimori: false,
        },
        Row {
            number: 2,
            work: 0,
            translation: 869,
            link: "http://kodik.cc/serial/1/h/720p",
            host: LinkHost::KodikCcHttp,
            serial: Some(naruto_season(false)),
            hide_shikimori: false,
        },
        Row {
            number: 3,
            work: 0,
            translation: 1291,
            link: "https://kodikplayer.com/serial/1/h/720p",
            host: LinkHost::KodikPlayer,
            serial: Some(naruto_season(false)),
            hide_shikimori: false,
        },
        Row {
            number: 4,
            work: 2,
            translation: 610,
            link: "//kodik.info/serial/4/h/720p",
            host: LinkHost::KodikInfo,
            serial: Some(Serial::new(
                vec![
                    season(0, Some("Спецвыпуски"), 1..=4),
                    season(1, None, 1..=64),
                ],
                BlockedSeasons::None,
                false,
            )),
            hide_shikimori: false,
        },
        Row {
            number: 5,
            work: 3,
            translation: 609,
            link: "//kodik.info/serial/5/h/720p",
            host: LinkHost::KodikInfo,
            serial: Some(Serial::new(
                vec![season(1, None, [1, 2, 10])],
                BlockedSeasons::None,
                true,
            )),
            hide_shikimori: false,
        },
        Row {
            number: 6,
            work: 4,
            translation: 609,
            link: "//kodik.info/serial/6/h/720p",
            host: LinkHost::KodikInfo,
            serial: Some(Serial::new(
                vec![season(
                    1,
                    None,
                    (1..=170).filter(|n| !(116..=127).contains(n)),
                )],
                BlockedSeasons::None,
                false,
            )),
            hide_shikimori: false,
        },
        Row {
            number: 7,
            work: 5,
            translation: 767,
            link: "//kodik.info/serial/7/h/720p",
            host: LinkHost::KodikInfo,
            serial: Some(Serial::new(
                vec![Season {
                    number: 1,
                    title: None,
                    episodes: mixed,
                }],
                BlockedSeasons::None,
                false,
            )),
            hide_shikimori: false,
        },
        Row {
            number: 8,
            work: 1,
            translation: 1002,
            link: "//kodik.info/video/8/h/720p",
            host: LinkHost::KodikInfo,
            serial: None,
            hide_shikimori: false,
        },
        Row {
            number: 9,
            work: 2,
            translation: 609,
            link: "//kodik.info/serial/9/h/720p",
            host: LinkHost::KodikInfo,
            serial: Some(Serial::new(
                vec![season(1, None, 1..=64)],
                BlockedSeasons::None,
                false,
            )),
            hide_shikimori: true,
        },
        Row {
            number: 10,
            work: 6,
            translation: 616,
            link: "//kodik.info/serial/10/h/720p",
            host: LinkHost::KodikInfo,
            serial: Some(Serial::new(
                vec![season(1, None, 1..=12)],
                BlockedSeasons::None,
                false,
            )),
            hide_shikimori: false,
        },
        Row {
            number: 11,
            work: 7,
            translation: 610,
            link: "https://kodikplayer.com/serial/11/h/720p",
            host: LinkHost::KodikPlayer,
            serial: Some(Serial::new(
                vec![season(4, None, 1..=16)],
                BlockedSeasons::Episodes(4, vec![3, 4]),
                false,
            )),
            hide_shikimori: false,
        },
    ];
    let materials = rows
        .into_iter()
        .map(|row| material(row, work_offset))
        .collect();
    (works, materials)
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value};

    use crate::{
        Scenario,
        api::{Api, Endpoint},
        assemble,
        params::Params,
    };

    const TOKEN: &str = "t";

    fn api() -> Api {
        Api::new(
            assemble(Vec::new(), Scenario::KodikCases, 1),
            TOKEN.into(),
            "https://x".into(),
        )
    }

    fn rows(api: &Api, endpoint: Endpoint, query: &str) -> Vec<Value> {
        let body = api
            .answer(endpoint, &Params::parse(&format!("token={TOKEN}&{query}")))
            .expect("scenario requests succeed");
        let page: Value = serde_json::from_slice(&body).expect("JSON");
        page["results"].as_array().expect("results").clone()
    }

    fn row(api: &Api, id: &str, flags: &str) -> Map<String, Value> {
        let found = rows(api, Endpoint::Search, &format!("id={id}&{flags}"));
        assert_eq!(found.len(), 1, "{id}");
        found[0].as_object().expect("rows are objects").clone()
    }

    fn episodes<'a>(row: &'a Map<String, Value>, season: &str) -> &'a Map<String, Value> {
        row["seasons"][season]["episodes"]
            .as_object()
            .expect("episodes is an object")
    }

    const DATA: &str = "with_episodes_data=true&with_material_data=true";

    #[test]
    fn lists_only_the_scenarios() {
        let ids: Vec<String> = rows(&api(), Endpoint::List, "limit=100")
            .iter()
            .map(|r| r["id"].as_str().expect("id").to_owned())
            .collect();
        assert_eq!(ids.len(), 11);
        for n in [1, 2, 3, 4, 5, 6, 7, 9, 10, 11] {
            assert!(ids.contains(&format!("serial-{n}")), "serial-{n}");
        }
        assert!(ids.contains(&"movie-8".to_owned()));
    }

    #[test]
    fn case_1_three_link_forms() {
        let api = api();
        let links: Vec<String> = ["serial-1", "serial-2", "serial-3"]
            .iter()
            .map(|id| row(&api, id, "")["link"].as_str().expect("link").to_owned())
            .collect();
        assert_eq!(
            links,
            [
                "//kodik.info/serial/1/h/720p",
                "http://kodik.cc/serial/1/h/720p",
                "https://kodikplayer.com/serial/1/h/720p",
            ]
        );
        // Two different translations share the title "Субтитры".
        let t2 = &row(&api, "serial-2", "")["translation"];
        let t3 = &row(&api, "serial-3", "")["translation"];
        assert_eq!(t2["title"], t3["title"]);
        assert_ne!(t2["id"], t3["id"]);
        // Season and episode links follow the material's form.
        let s3 = row(&api, "serial-3", DATA);
        assert!(
            episodes(&s3, "1")["1"]["link"]
                .as_str()
                .is_some_and(|l| l.starts_with("https://kodikplayer.com/seria/"))
        );
    }

    #[test]
    fn case_3_specials_season_zero_and_season_one() {
        let r = row(&api(), "serial-4", "with_seasons=true");
        let seasons = r["seasons"].as_object().expect("seasons");
        assert_eq!(seasons.keys().collect::<Vec<_>>(), ["0", "1"]);
        assert_eq!(seasons["0"]["title"], "Спецвыпуски");
        assert!(seasons["1"].get("title").is_none());
        assert!(seasons["0"]["link"].is_string());
        assert!(
            seasons["0"].get("episodes").is_none(),
            "with_seasons alone has no episodes"
        );
        let r = row(&api(), "serial-4", "with_episodes=true");
        assert_eq!(episodes(&r, "0").len(), 4);
        assert_eq!(episodes(&r, "1").len(), 64);
        assert_eq!(
            (r["last_season"].clone(), r["episodes_count"].clone()),
            (1.into(), 64.into())
        );
    }

    #[test]
    fn case_4_numeric_keys_and_a_gap() {
        let api = api();
        let r = row(&api, "serial-5", "with_episodes=true");
        let keys: Vec<&String> = episodes(&r, "1").keys().collect();
        // Written in text order on purpose; numerically they are 1, 2, 10.
        assert_eq!(keys, ["1", "10", "2"]);
        assert_eq!(r["last_episode"], 10);
        let r = row(&api, "serial-6", "with_episodes_data=true");
        let mut numbers: Vec<u32> = episodes(&r, "1")
            .keys()
            .map(|k| k.parse().expect("numeric key"))
            .collect();
        numbers.sort_unstable();
        let expected: Vec<u32> = (1..=170).filter(|n| !(116..=127).contains(n)).collect();
        assert_eq!(numbers, expected);
        assert_eq!(numbers.len(), 158);
        assert_eq!(r["episodes_count"], 158);
        assert_eq!(r["last_episode"], 170);
    }

    #[test]
    fn case_5_mixed_episode_forms_in_one_season() {
        for flags in ["with_episodes=true", "with_episodes_data=true"] {
            let r = row(&api(), "serial-7", flags);
            let eps = episodes(&r, "1");
            assert!(eps["1"].is_string(), "{flags}");
            let object = eps["2"].as_object().expect("episode 2 is an object");
            assert!(object["link"].is_string());
            assert_eq!(object["title"], "Серия 2");
            assert_eq!(object["screenshots"].as_array().map(Vec::len), Some(3));
        }
    }

    #[test]
    fn case_6_film_has_no_seasons() {
        let r = row(&api(), "movie-8", DATA);
        assert_eq!(r["type"], "anime");
        assert_eq!(r["link"], "//kodik.info/video/8/h/720p");
        for key in [
            "seasons",
            "last_season",
            "last_episode",
            "episodes_count",
            "blocked_seasons",
        ] {
            assert!(r.get(key).is_none(), "{key}");
        }
    }

    #[test]
    fn case_7_title_search_returns_serial_and_film_of_a_franchise() {
        let found = rows(&api(), Endpoint::Search, "title=Наруто");
        let mut pairs: Vec<(String, String)> = found
            .iter()
            .map(|r| {
                (
                    r["type"].as_str().expect("type").into(),
                    r["shikimori_id"].as_str().expect("sid").into(),
                )
            })
            .collect();
        pairs.sort();
        pairs.dedup();
        assert_eq!(
            pairs,
            [
                ("anime".into(), "13667".into()),
                ("anime-serial".into(), "20".into())
            ]
        );
    }

    #[test]
    fn case_8_kinopoisk_only_and_no_ids() {
        let api = api();
        let with_shikimori = row(&api, "serial-4", "");
        let without = row(&api, "serial-9", "");
        assert!(without.get("shikimori_id").is_none());
        assert_eq!(without["kinopoisk_id"], with_shikimori["kinopoisk_id"]);
        assert_eq!(with_shikimori["shikimori_id"], "5114");
        let bare = row(&api, "serial-10", DATA);
        for key in [
            "shikimori_id",
            "kinopoisk_id",
            "imdb_id",
            "mdl_id",
            "worldart_link",
        ] {
            assert!(bare.get(key).is_none(), "{key}");
        }
    }

    #[test]
    fn case_11_ids_are_strings() {
        let r = row(&api(), "serial-1", "");
        assert_eq!(r["id"], "serial-1");
        assert_eq!(r["shikimori_id"], "20");
        assert_eq!(r["mdl_id"], "56743-mei-gui-qi-shi");
        assert_eq!(r["kinopoisk_id"], "283290");
        let by_mdl = rows(&api(), Endpoint::Search, "mdl_id=56743-mei-gui-qi-shi");
        assert_eq!(by_mdl.len(), 3);
    }

    #[test]
    fn later_season_alone_and_blocked_episodes() {
        let r = row(&api(), "serial-11", "with_episodes=true");
        assert_eq!(
            r["seasons"]
                .as_object()
                .map(|s| s.keys().cloned().collect::<Vec<_>>()),
            Some(vec!["4".to_owned()])
        );
        assert_eq!(r["last_season"], 4);
        assert_eq!(r["blocked_seasons"], serde_json::json!({"4": ["3", "4"]}));
    }

    #[test]
    fn generated_titles_with_scenario_ids_are_replaced() {
        let titles = crate::catalogue::load(None).expect("fixture");
        let store = assemble(titles, Scenario::Full, 1);
        let naruto: Vec<&crate::model::Material> = store
            .materials
            .iter()
            .filter(|m| m.shikimori_id(store.work_of(m)) == Some("20"))
            .collect();
        assert_eq!(
            naruto.iter().map(|m| m.number).collect::<Vec<_>>(),
            [1, 2, 3]
        );
    }
}
