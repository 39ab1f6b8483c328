//! Deriving `material_data` (and the facts filters use) from a catalogue title.
//!
//! Genres come from the Kaggle (MyAnimeList) file and are translated into the Russian
//! names Shikimori and Kinopoisk use; ratings, dates, studios and descriptions are
//! generated deterministically. Every key is optional upstream, so a share of titles
//! lacks each one.

use rand::{Rng, rngs::StdRng};

use crate::{
    catalogue::{Kind, NameKind, Status, Title},
    model::{ExternalIds, Facts, MaterialData},
    timestamps,
};

/// MyAnimeList genre → Shikimori's Russian name (`anime_genres`).
const ANIME_GENRES: &[(&str, &str)] = &[
    ("Action", "Экшен"),
    ("Adventure", "Приключения"),
    ("Cars", "Машины"),
    ("Comedy", "Комедия"),
    ("Dementia", "Безумие"),
    ("Demons", "Демоны"),
    ("Drama", "Драма"),
    ("Ecchi", "Этти"),
    ("Fantasy", "Фэнтези"),
    ("Game", "Игры"),
    ("Harem", "Гарем"),
    ("Hentai", "Хентай"),
    ("Historical", "Исторический"),
    ("Horror", "Ужасы"),
    ("Josei", "Дзёсей"),
    ("Kids", "Детское"),
    ("Magic", "Магия"),
    ("Martial Arts", "Боевые искусства"),
    ("Mecha", "Меха"),
    ("Military", "Военное"),
    ("Music", "Музыка"),
    ("Mystery", "Детектив"),
    ("Parody", "Пародия"),
    ("Police", "Полиция"),
    ("Psychological", "Психологическое"),
    ("Romance", "Романтика"),
    ("Samurai", "Самураи"),
    ("School", "Школа"),
    ("Sci-Fi", "Фантастика"),
    ("Seinen", "Сэйнэн"),
    ("Shoujo", "Сёдзё"),
    ("Shoujo Ai", "Сёдзё-ай"),
    ("Shounen", "Сёнэн"),
    ("Shounen Ai", "Сёнэн-ай"),
    ("Slice of Life", "Повседневность"),
    ("Space", "Космос"),
    ("Sports", "Спорт"),
    ("Super Power", "Супер сила"),
    ("Supernatural", "Сверхъестественное"),
    ("Thriller", "Триллер"),
    ("Vampire", "Вампиры"),
    ("Yaoi", "Яой"),
    ("Yuri", "Юри"),
];

/// MyAnimeList genre → Kinopoisk's genre (`genres`), where one exists.
const KINOPOISK_GENRES: &[(&str, &str)] = &[
    ("Action", "боевик"),
    ("Adventure", "приключения"),
    ("Comedy", "комедия"),
    ("Drama", "драма"),
    ("Fantasy", "фэнтези"),
    ("Sci-Fi", "фантастика"),
    ("Romance", "мелодрама"),
    ("Horror", "ужасы"),
    ("Mystery", "детектив"),
    ("Thriller", "триллер"),
    ("Sports", "спорт"),
    ("Music", "музыка"),
    ("Kids", "детский"),
    ("Historical", "история"),
    ("Military", "военный"),
    ("Psychological", "драма"),
];

const STUDIOS: &[&str] = &[
    "Sunrise",
    "Madhouse",
    "Toei Animation",
    "Production I.G",
    "Bones",
    "J.C.Staff",
    "A-1 Pictures",
    "Studio Deen",
    "Shaft",
    "Kyoto Animation",
    "TMS Entertainment",
    "Pierrot",
    "Gonzo",
    "Xebec",
    "OLM",
    "Brain's Base",
    "Satelight",
    "Silver Link",
    "Doga Kobo",
    "Lerche",
    "P.A. Works",
    "White Fox",
    "Wit Studio",
    "ufotable",
    "Trigger",
    "Studio Ghibli",
    "Nippon Animation",
    "Tatsunoko Production",
    "Gainax",
    "Diomedéa",
];

/// What a work needs besides the title to describe itself.
pub struct Context<'a> {
    pub title: &'a str,
    pub year: u16,
    pub ids: &'a ExternalIds,
    /// Episodes the work has (films: 1).
    pub episodes: u32,
    /// The last moment any row may be dated at, in epoch milliseconds.
    pub now_ms: i64,
}

fn has_genre(t: &Title, genre: &str) -> bool {
    t.genres.iter().any(|g| g == genre)
}

/// The age rating a title's genres suggest.
fn age_rating(t: &Title) -> Option<(&'static str, u8)> {
    if has_genre(t, "Hentai") {
        Some(("Rx", 18))
    } else if ["Ecchi", "Harem", "Yaoi", "Yuri"]
        .iter()
        .any(|g| has_genre(t, g))
    {
        Some(("R+", 16))
    } else if ["Horror", "Dementia", "Thriller", "Psychological"]
        .iter()
        .any(|g| has_genre(t, g))
    {
        Some(("R", 16))
    } else if has_genre(t, "Kids") {
        Some(("G", 0))
    } else if t.genres.is_empty() {
        None
    } else if has_genre(t, "Shounen") || has_genre(t, "Action") {
        Some(("PG-13", 12))
    } else {
        Some(("PG", 6))
    }
}

fn round_to(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

fn names(t: &Title, lang: &str, skip: &str) -> Option<Vec<String>> {
    let list: Vec<String> = t
        .titles
        .iter()
        .filter(|n| n.lang == lang && n.kind != NameKind::Short && n.text != skip)
        .map(|n| n.text.clone())
        .collect();
    (!list.is_empty()).then_some(list)
}

/// The shikimori-style kind; long TV series sometimes carry their length class.
fn anime_kind(kind: Kind, episodes: u32, rng: &mut StdRng) -> String {
    if kind == Kind::Tv && rng.random_ratio(1, 5) {
        match episodes {
            10..=16 => return "tv_13".into(),
            20..=28 => return "tv_24".into(),
            40..=60 => return "tv_48".into(),
            _ => {}
        }
    }
    kind.as_str().into()
}

/// `material_data` and the filterable facts of one title.
pub fn describe(t: &Title, cx: &Context<'_>, rng: &mut StdRng) -> (MaterialData, Facts) {
    let anime_genres: Vec<String> = t
        .genres
        .iter()
        .map(|g| {
            ANIME_GENRES
                .iter()
                .find(|(mal, _)| mal == g)
                .map_or(g.as_str(), |(_, ru)| ru)
        })
        .map(str::to_owned)
        .collect();
    let mut genres = vec!["аниме".to_owned(), "мультфильм".to_owned()];
    for g in &t.genres {
        if let Some((_, kp)) = KINOPOISK_GENRES.iter().find(|(mal, _)| mal == g)
            && !genres.iter().any(|x| x == kp)
        {
            genres.push((*kp).to_owned());
        }
    }

    let shikimori_rating = t.rating.map(|r| round_to(r, 2));
    let kinopoisk_rating = match (&cx.ids.kinopoisk_id, t.rating) {
        (Some(_), Some(r)) => Some(round_to(
            (r + rng.random_range(-0.6..0.4)).clamp(1.0, 10.0),
            3,
        )),
        _ => None,
    };
    let imdb_rating = match (&cx.ids.imdb_id, t.rating) {
        (Some(_), Some(r)) => Some(round_to(
            (r + rng.random_range(-0.5..0.3)).clamp(1.0, 10.0),
            1,
        )),
        _ => None,
    };
    let age = age_rating(t);
    let age = if rng.random_ratio(1, 10) { None } else { age };

    let aired_ms = timestamps::millis_of_date(
        i32::from(cx.year),
        rng.random_range(1..=12),
        rng.random_range(1..=28),
    );
    let film = t.kind == Kind::Movie;
    let released_ms = aired_ms
        + if film {
            0
        } else {
            i64::from(cx.episodes) * 7 * 86_400_000
        };
    let (episodes_total, episodes_aired) = match t.status {
        Status::Released => (Some(cx.episodes), Some(cx.episodes)),
        // Ongoing titles: the total is often unknown (0) and the aired count lags what
        // the rows already carry.
        Status::Ongoing => (
            Some(if rng.random_bool(0.5) {
                0
            } else {
                cx.episodes + 12
            }),
            Some(cx.episodes.saturating_sub(rng.random_range(0..=2))),
        ),
        Status::Anons => (None, Some(0)),
    };
    let duration = match t.kind {
        Kind::Tv => 24,
        Kind::Movie => rng.random_range(70..=130),
        Kind::Ova => rng.random_range(25..=45),
        Kind::Ona => rng.random_range(3..=24),
        Kind::Special => rng.random_range(5..=25),
        Kind::Music => rng.random_range(3..=5),
    };
    let studio_count = if rng.random_ratio(1, 6) { 2 } else { 1 };
    let studios: Vec<String> = (0..studio_count)
        .map(|_| STUDIOS[rng.random_range(0..STUDIOS.len())].to_owned())
        .collect();
    let poster = cx.ids.shikimori_id.as_ref().map_or_else(
        || format!("https://st.kodik.biz/posters/{}.jpg", t.kodik_id),
        |sid| format!("https://shikimori.one/system/animes/original/{sid}.jpg"),
    );
    let romaji = t.romaji();
    let description = format!(
        "«{}» ({romaji}) — аниме, {}, {} год.{} Описание создано для тестового сервера.",
        cx.title,
        t.kind.as_str(),
        cx.year,
        if anime_genres.is_empty() {
            String::new()
        } else {
            format!(" Жанры: {}.", anime_genres.join(", ").to_lowercase())
        }
    );

    let served_kind = anime_kind(t.kind, cx.episodes, rng);

    // Each optional key is dropped for a share of titles: importers must cope.
    let mut keep = |percent: u32| rng.random_range(0..100) >= percent;
    let data = MaterialData {
        title: Some(cx.title.to_owned()),
        anime_title: keep(5).then(|| t.name_in("ru").unwrap_or(romaji).to_owned()),
        title_en: t.name_in("en").map(str::to_owned),
        other_titles: names(t, "ru", cx.title),
        other_titles_en: names(t, "en", ""),
        other_titles_jp: names(t, "ja", ""),
        anime_kind: keep(3).then_some(served_kind),
        anime_status: keep(3).then_some(t.status.as_str()),
        all_status: Some(t.status.as_str()),
        description: keep(15).then(|| description.clone()),
        anime_description: keep(40).then_some(description),
        poster_url: keep(5).then(|| poster.clone()),
        anime_poster_url: cx.ids.shikimori_id.as_ref().map(|_| poster),
        genres: Some(genres.clone()),
        anime_genres: (!anime_genres.is_empty()).then(|| anime_genres.clone()),
        all_genres: (!anime_genres.is_empty()).then(|| {
            let mut all = genres.clone();
            all.extend(anime_genres.iter().map(|g| g.to_lowercase()));
            all
        }),
        anime_studios: (!t.genres.is_empty() || keep(40)).then_some(studios),
        shikimori_rating,
        shikimori_votes: shikimori_rating.map(|_| t.members / 8 + 1),
        kinopoisk_rating,
        kinopoisk_votes: kinopoisk_rating.map(|_| t.members / 20 + 1),
        imdb_rating,
        imdb_votes: imdb_rating.map(|_| t.members / 30 + 1),
        episodes_total,
        episodes_aired,
        aired_at: (t.status != Status::Anons && keep(5)).then(|| timestamps::date(aired_ms)),
        released_at: (t.status == Status::Released && keep(10))
            .then(|| timestamps::date(released_ms)),
        next_episode_at: (t.status == Status::Ongoing)
            .then(|| timestamps::rfc3339(cx.now_ms + 5 * 86_400_000)),
        rating_mpaa: age.map(|(mpaa, _)| mpaa),
        minimal_age: age.map(|(_, min)| min),
        year: Some(cx.year),
        duration: keep(8).then_some(duration),
        countries: keep(5).then(|| vec!["Япония".to_owned()]),
    };
    let facts = Facts {
        kind: t.kind,
        status: t.status,
        genres: genres.iter().map(|g| g.to_lowercase()).collect(),
        anime_genres: anime_genres.iter().map(|g| g.to_lowercase()).collect(),
        rating_mpaa: data.rating_mpaa,
        minimal_age: data.minimal_age,
        shikimori_rating,
        kinopoisk_rating,
        imdb_rating,
    };
    (data, facts)
}

/// Whether a title's genres mark it as LGBT content, as upstream's `lgbt` flag does.
pub fn is_lgbt(t: &Title) -> bool {
    ["Yaoi", "Yuri", "Shounen Ai", "Shoujo Ai"]
        .iter()
        .any(|g| has_genre(t, g))
}
