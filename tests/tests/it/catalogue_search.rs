//! The catalogue read side and search, end to end, over the real catalogue: releases
//! are created only through catalogue events published on the platform's topic, and
//! everything is observed through the query API.
//!
//! Loading 14k releases takes a while on a small machine, so one platform is loaded
//! once and every check runs against it, each under its own name: the numbered cases
//! of the search specification (`case_*`), filters and pagination, caching, bad input,
//! idempotency, reindexing, and the relevance suite. The search-engine outage gets a
//! second query-api pointed at a closed port, so the shared OpenSearch keeps running.

use std::time::Duration;

use reqwest::{StatusCode, header};
use schemas::releases::{
    AiringSeason, Episode, EpisodeSource, ReleaseDeleted, ReleaseKind, ReleaseSourcesUpserted,
    ReleaseStatus, ReleaseUpserted, Title, TitleKind, TitleLanguage, Translation, TranslationKind,
    TranslationSummary, YearSeason,
};
use serde_json::Value;
use uuid::Uuid;

use e2e::{
    catalogue::{CataloguePublisher, real_catalogue, release_id},
    harness::{Platform, eventually, free_port, stack_env},
};

use crate::search_relevance;

/// Ids of the releases this test creates itself, outside the real catalogue's range.
fn own_id(n: u64) -> Uuid {
    Uuid::from_u128(0x0191_0000_0000_7000_8000_0000_0000_0000 | u128::from(n))
}

fn title(text: &str, language: TitleLanguage, kind: TitleKind) -> Title {
    Title {
        text: text.to_owned(),
        language,
        kind,
    }
}

fn release(id: Uuid, titles: Vec<Title>) -> ReleaseUpserted {
    ReleaseUpserted {
        release_id: id,
        kind: ReleaseKind::Tv,
        status: ReleaseStatus::Released,
        titles,
        external_ids: Default::default(),
        year: Some(2016),
        airing_season: None,
        genres: vec!["drama".to_owned()],
        age_rating: None,
        description: None,
        poster_url: None,
        episodes_total: None,
        episodes_aired: None,
        next_episode_at: None,
        score: None,
        popularity: Some(10),
        episodes: Vec::new(),
        translations: Vec::new(),
        needs_review: false,
    }
}

/// The releases the cases need that the real catalogue lacks.
fn own_releases() -> Vec<ReleaseUpserted> {
    use TitleKind::*;
    use TitleLanguage::*;
    let mut with_episodes = release(
        own_id(1),
        vec![
            title("Звёздный Герб", Ru, Main),
            title("Hoshi no Monshou Kai", Romaji, Main),
        ],
    );
    let mut numbers: Vec<String> = (0..=10).map(|n| n.to_string()).collect();
    numbers.insert(7, "6.5".to_owned());
    // Published out of order: the read side sorts numerically, not as text.
    numbers.reverse();
    with_episodes.episodes = numbers
        .iter()
        .map(|number| Episode {
            season: 1,
            number: number.clone(),
            title: None,
            recap: number == "6.5",
            filler: false,
        })
        .collect();
    with_episodes.episodes_total = Some(12);
    with_episodes.airing_season = Some(AiringSeason {
        year: 2016,
        season: YearSeason::Winter,
    });
    with_episodes.genres = vec!["space".to_owned(), "drama".to_owned()];
    with_episodes.translations = vec![TranslationSummary {
        translation: Translation {
            id: 610,
            title: "AniLibria.TV".to_owned(),
            kind: TranslationKind::Voice,
        },
        team: Some("AniLibria.TV".to_owned()),
        episodes: 12,
    }];

    let mut many_synonyms = release(own_id(6), vec![title("Shichinin no Namae", Romaji, Main)]);
    for synonym in [
        "Alpha Zephyr",
        "Bravo Quokka",
        "Charlie Wombat",
        "Delta Narwhal",
        "Echo Axolotl",
        "Foxtrot Pangolin",
        "Golf Capybara",
        "Hotel Okapi Lastsynonym",
    ] {
        many_synonyms.titles.push(title(synonym, En, Synonym));
    }

    vec![
        with_episodes,
        release(own_id(2), vec![title("Зеленый слоненок", Ru, Main)]),
        release(
            own_id(3),
            vec![
                title("Fate/Apocrypha", Romaji, Main),
                title("Fate/Apocrypha", En, Official),
            ],
        ),
        // No Russian and no English name at all.
        release(own_id(5), vec![title("Kuuhaku no Yorimichi", Romaji, Main)]),
        many_synonyms,
        // Entities left in by a careless producer: the read side decodes them once.
        release(
            own_id(7),
            vec![title("Ginpachi&#039;s Class &amp; Co", Romaji, Main)],
        ),
    ]
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            // Another crate of the workspace turns on reqwest's gzip feature, which would
            // decompress answers and drop their Content-Encoding; the compression check
            // must see the wire as a client without it does.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .no_gzip()
                .no_brotli()
                .no_deflate()
                .build()
                .expect("an HTTP client"),
        }
    }

    async fn get(&self, path_and_query: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path_and_query}", self.base))
            .send()
            .await
            .expect("query-api answers")
    }

    async fn json(&self, path_and_query: &str) -> Value {
        let response = self.get(path_and_query).await;
        assert_eq!(response.status(), 200, "GET {path_and_query}");
        response.json().await.expect("a JSON body")
    }

    async fn search_ids(&self, query: &str, extra: &str) -> Vec<Uuid> {
        let body = self
            .json(&format!("/v1/search?q={}{extra}", encode(query)))
            .await;
        ids(&body)
    }
}

fn ids(body: &Value) -> Vec<Uuid> {
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|item| item["id"].as_str()?.parse().ok())
        .collect()
}

fn encode(text: &str) -> String {
    let mut encoded = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Polls `check` for up to ten minutes: loading 14k releases on a busy 2-core
/// machine can take longer than the harness's usual deadline.
async fn eventually_slow<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn search_url() -> String {
    std::env::var("SEARCH_URL").unwrap_or_else(|_| "http://127.0.0.1:59200".to_owned())
}

async fn index_count(api: &Api, platform: &Platform) -> i64 {
    let alias = format!("{}releases", platform.topic_prefix.to_lowercase());
    let response = api
        .http
        .get(format!("{}/{alias}/_count", search_url()))
        .send()
        .await;
    let Ok(response) = response else { return 0 };
    let body: Value = response.json().await.unwrap_or_default();
    body["count"].as_i64().unwrap_or_default()
}

/// Runs `consumers reindex` against the platform; returns what it printed.
async fn reindex(platform: &Platform, api: &Api) -> String {
    let mut command = tokio::process::Command::new(e2e::harness::binary("consumers"));
    command.arg("reindex");
    for (key, value) in platform.service_env() {
        command.env(key, value);
    }
    let running = command.output();
    tokio::pin!(running);
    // Queries keep answering while the new index is built.
    let output = loop {
        tokio::select! {
            output = &mut running => break output.expect("running consumers reindex"),
            _ = tokio::time::sleep(Duration::from_millis(300)) => {
                let response = api.get("/v1/search?q=death%20note").await;
                assert_eq!(response.status(), 200, "search answers during a reindex");
            }
        }
    };
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "reindex failed: {printed} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(printed.contains("now points at"), "{printed}");
    printed
}

/// The indexer applies one event at a time (about 50–100 a second on this machine),
/// so after the read model holds the whole catalogue, a reindex copies it in bulk;
/// the indexer's later writes of the same versions are harmless conflicts.
async fn wait_loaded(platform: &Platform, api: &Api, expected: i64) {
    eventually_slow("the read model to hold every release", || async {
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM read.releases")
            .fetch_one(&platform.db)
            .await
            .unwrap_or_default();
        count >= expected
    })
    .await;
    let printed = reindex(platform, api).await;
    assert!(printed.contains("releases-v2"), "{printed}");
    eventually_slow("the search index to hold every release", || async {
        index_count(api, platform).await >= expected
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogue_and_search_over_the_real_catalogue() {
    // Alone on the machine: it loads and reindexes the whole catalogue, and its
    // assertions about caching, compression and reindexing must not depend on how
    // busy two cores are with other tests.
    let platform = Platform::start_exclusive("catalogue_search").await;
    let api = Api::new(&platform.query_url);
    let publisher = CataloguePublisher::new(
        &stack_env().kafka_brokers,
        &platform.topic("catalog.events"),
    );

    let own = own_releases();
    let real = real_catalogue();
    let expected = (own.len() + real.len()) as i64;
    publisher
        .publish_all(
            own.into_iter()
                .map(|event| (event.release_id, 1, event))
                .collect(),
        )
        .await;
    publisher
        .publish(
            own_id(1),
            2,
            ReleaseSourcesUpserted {
                release_id: own_id(1),
                translation: Translation {
                    id: 610,
                    title: "AniLibria.TV".to_owned(),
                    kind: TranslationKind::Voice,
                },
                team: Some("AniLibria.TV".to_owned()),
                quality: Some("WEB-DLRip 720p".to_owned()),
                camrip: false,
                blocked_countries: Vec::new(),
                blocked_seasons: Vec::new(),
                upstream_material_id: None,
                upstream_updated_at: None,
                sources: vec![EpisodeSource {
                    season: 1,
                    episode: "6.5".to_owned(),
                    player_link: "https://player.example.org/610/6.5".to_owned(),
                }],
            },
        )
        .await;
    publisher
        .publish_all(
            real.into_iter()
                .map(|(_, event)| (event.release_id, 1, event))
                .collect(),
        )
        .await;
    wait_loaded(&platform, &api, expected).await;

    case_01_yo_and_ye_are_one_letter(&api).await;
    case_02_russian_title_with_punctuation(&api).await;
    case_03_file_name_separators(&api).await;
    case_04_spaces_change_nothing(&api).await;
    case_05_punctuation_inside_names_is_optional(&api).await;
    case_06_decorative_symbols(&api).await;
    case_07_missing_languages_never_drop_a_document(&api).await;
    case_08_last_of_many_synonyms(&api).await;
    case_09_exact_title_first(&api).await;
    case_10_html_entities_decoded_once(&api).await;
    case_11_cross_language(&api).await;
    case_12_relevance_unless_sorted(&api).await;
    latin_lookalikes_in_cyrillic_names(&api).await;
    case_13_and_14_episode_numbering(&api).await;
    search_facets_highlights_and_filters(&api).await;
    catalogue_filters_sorting_and_keyset_pages(&api).await;
    detail_sources_grouped_by_translation(&api).await;
    genres_and_teams_with_counts(&api).await;
    suggest_names_what_matched(&api).await;
    bad_input_is_a_400_never_a_500(&api).await;
    caching_etag_and_compression(&api).await;
    newer_versions_win_and_invalidate(&api, &publisher).await;
    search_engine_down_degrades_search_only(&platform, &api).await;

    let (top1, top3) = search_relevance::evaluate(|query| {
        let api = &api;
        async move { api.search_ids(&query, "&limit=3").await }
    })
    .await;
    assert!(
        top3 >= 0.95,
        "top-3 hit rate {top3:.3} (top-1 {top1:.3}) is below 95 %"
    );

    reindex_swaps_the_alias_while_search_answers(&platform, &api).await;
    drop_indexes(&platform, &api).await;
}

async fn assert_first(api: &Api, query: &str, expected: Uuid) {
    let found = api.search_ids(query, "").await;
    assert_eq!(
        found.first(),
        Some(&expected),
        "{query:?} puts {expected} first; got {:?}",
        &found[..found.len().min(3)]
    );
}

async fn assert_found(api: &Api, query: &str, expected: Uuid) {
    let found = api.search_ids(query, "&limit=10").await;
    assert!(
        found.contains(&expected),
        "{query:?} finds {expected}; got {found:?}"
    );
}

async fn case_01_yo_and_ye_are_one_letter(api: &Api) {
    assert_first(api, "звездный герб", own_id(1)).await;
    assert_first(api, "Звёздный герб", own_id(1)).await;
    assert_first(api, "зелёный слонёнок", own_id(2)).await;
}

async fn case_02_russian_title_with_punctuation(api: &Api) {
    assert_first(api, "Звёздный, Герб.", own_id(1)).await;
    assert_first(api, "Наруто: Ураганные хроники.", release_id(4880)).await;
    assert_first(api, "Стальной алхимик: Братство!", release_id(6107)).await;
}

async fn case_03_file_name_separators(api: &Api) {
    assert_first(api, "full_metal_panic", release_id(17)).await;
    assert_first(api, "full.metal.panic", release_id(17)).await;
}

async fn case_04_spaces_change_nothing(api: &Api) {
    let plain = api.search_ids("full metal panic", "").await;
    let spaced = api.search_ids("   full    metal  panic  ", "").await;
    assert_eq!(plain, spaced, "extra spaces change nothing");
    assert_eq!(plain.first(), Some(&release_id(17)));
}

async fn case_05_punctuation_inside_names_is_optional(api: &Api) {
    for query in ["d gray man", "dgrayman", "D.Gray-man", "D Gray Man"] {
        assert_first(api, query, release_id(4549)).await;
    }
    assert_first(api, "rezero", release_id(11370)).await;
    assert_first(api, "fate apocrypha", own_id(3)).await;
    assert_first(api, "fateapocrypha", own_id(3)).await;
}

async fn case_06_decorative_symbols(api: &Api) {
    // The real catalogue's `Classroom☆Crisis` (its English name has no star).
    assert_first(api, "classroom crisis", release_id(11147)).await;
    assert_first(api, "Classroom☆Crisis", release_id(11147)).await;
    assert_first(api, "classroomcrisis", release_id(11147)).await;
}

async fn case_07_missing_languages_never_drop_a_document(api: &Api) {
    assert_first(api, "kuuhaku no yorimichi", own_id(5)).await;
    let suggestions = api.json("/v1/suggest?q=kuuhaku%20no%20yori").await;
    assert!(
        ids(&suggestions).contains(&own_id(5)),
        "suggested: {suggestions}"
    );
    // A real title that only has a romaji name.
    assert_found(api, "mirai nikki", release_id(30620)).await;
}

async fn case_08_last_of_many_synonyms(api: &Api) {
    assert_first(api, "hotel okapi lastsynonym", own_id(6)).await;
    assert_first(api, "golf capybara", own_id(6)).await;
}

async fn case_09_exact_title_first(api: &Api) {
    // Hundreds of titles contain "naruto", "another" or "one".
    assert_first(api, "Naruto", release_id(239)).await;
    assert_first(api, "Another", release_id(8556)).await;
    assert_first(api, "One Piece", release_id(69)).await;
    assert_first(api, "Monster", release_id(1539)).await;
    let hits = api.json("/v1/search?q=naruto").await;
    assert!(
        hits["total"].as_i64().unwrap_or_default() > 20,
        "many naruto titles"
    );
}

async fn case_10_html_entities_decoded_once(api: &Api) {
    // Kaggle's `Gintama&#039;`, decoded by the producer (the fixture), and a title a
    // careless producer left encoded, decoded by the read side.
    let detail = api
        .json(&format!("/v1/releases/{}", release_id(8126)))
        .await;
    assert_eq!(detail["title"], "Gintama'");
    assert_found(api, "gintama", release_id(8126)).await;
    let detail = api.json(&format!("/v1/releases/{}", own_id(7))).await;
    assert_eq!(detail["title"], "Ginpachi's Class & Co");
    assert_first(api, "ginpachi's class", own_id(7)).await;
    let hits = api.json("/v1/search?q=ginpachi").await;
    assert_eq!(hits["items"][0]["title"], "Ginpachi's Class & Co");
}

async fn case_11_cross_language(api: &Api) {
    assert_first(api, "стальная тревога", release_id(17)).await;
    let hits = api.json("/v1/search?q=%D1%81%D1%82%D0%B0%D0%BB%D1%8C%D0%BD%D0%B0%D1%8F%20%D1%82%D1%80%D0%B5%D0%B2%D0%BE%D0%B3%D0%B0").await;
    assert_eq!(hits["items"][0]["title"], "Full Metal Panic!");
}

/// Real names with one Latin letter in a Cyrillic word (`Тетрадь cмерти` with a Latin
/// `c`) are found by their correct spelling, and by the same slip in a query.
async fn latin_lookalikes_in_cyrillic_names(api: &Api) {
    assert_first(api, "тетрадь смерти", release_id(4563)).await;
    assert_first(api, "Тетрадь cмерти", release_id(4563)).await;
    assert_first(api, "эксель сага", release_id(25)).await;
    let suggested = api
        .json("/v1/suggest?q=%D1%8D%D0%BA%D1%81%D0%B5%D0%BB%D1%8C%20%D1%81%D0%B0")
        .await;
    assert_eq!(
        suggested["items"][0]["id"],
        release_id(25).to_string(),
        "{suggested}"
    );
}

async fn case_12_relevance_unless_sorted(api: &Api) {
    let relevance = api.json("/v1/search?q=naruto&limit=50").await;
    assert_eq!(ids(&relevance).first(), Some(&release_id(239)));
    let by_year = api
        .json("/v1/search?q=naruto&limit=50&sort=year&order=asc")
        .await;
    let years: Vec<i64> = by_year["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|item| item["year"].as_i64())
        .collect();
    assert!(years.len() > 5);
    assert!(
        years.windows(2).all(|pair| pair[0] <= pair[1]),
        "sorted by year: {years:?}"
    );
    assert_ne!(
        ids(&by_year),
        ids(&relevance),
        "an explicit sort wins over relevance"
    );
    let by_popularity = api
        .json("/v1/search?q=naruto&limit=50&sort=popularity")
        .await;
    let popularity: Vec<i64> = by_popularity["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["popularity"].as_i64().unwrap_or(-1))
        .collect();
    assert!(popularity.windows(2).all(|pair| pair[0] >= pair[1]));
}

async fn case_13_and_14_episode_numbering(api: &Api) {
    let detail = api.json(&format!("/v1/releases/{}", own_id(1))).await;
    let numbers: Vec<&str> = detail["episodes"]
        .as_array()
        .expect("episodes")
        .iter()
        .filter_map(|episode| episode["number"].as_str())
        .collect();
    assert_eq!(
        numbers,
        [
            "0", "1", "2", "3", "4", "5", "6", "6.5", "7", "8", "9", "10"
        ],
        "episode 0 and 6.5 kept, numeric order"
    );
    // Case 14: twelve episodes whose highest number is 10.
    assert_eq!(detail["seasons"][0]["episodes"], 12);
    assert_eq!(detail["episodes_total"], 12);
    let page = api
        .json(&format!("/v1/releases/{}/episodes?limit=5", own_id(1)))
        .await;
    let first: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|episode| episode["number"].as_str())
        .collect();
    assert_eq!(first, ["0", "1", "2", "3", "4"]);
    let next = page["next"].as_str().expect("a next cursor");
    let page = api
        .json(&format!(
            "/v1/releases/{}/episodes?limit=5&cursor={}",
            own_id(1),
            encode(next)
        ))
        .await;
    assert_eq!(page["items"][2]["number"], "6.5");
    assert_eq!(page["items"][2]["recap"], true);
}

async fn search_facets_highlights_and_filters(api: &Api) {
    let hits = api.json("/v1/search?q=naruto").await;
    for facet in ["genres", "kinds", "years", "statuses"] {
        assert!(
            !hits["facets"][facet].as_array().expect("facet").is_empty(),
            "facet {facet}"
        );
    }
    let highlights = &hits["items"][0]["highlights"];
    assert!(
        highlights.to_string().contains("<em>"),
        "highlights: {highlights}"
    );
    let movies = api.json("/v1/search?q=naruto&kind=movie&limit=50").await;
    assert!(
        movies["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|item| item["kind"] == "movie")
    );
    assert!(movies["total"].as_i64() < hits["total"].as_i64());
    let filtered = api
        .json("/v1/search?q=hoshi&season=winter_2016&genres=space,drama&translation_type=voice&team=AniLibria.TV")
        .await;
    assert_eq!(ids(&filtered), vec![own_id(1)]);
    assert_eq!(filtered["items"][0]["season"], "winter_2016", "{filtered}");
    let excluded = api
        .json("/v1/search?q=hoshi%20no%20monshou&exclude_genres=space")
        .await;
    assert!(!ids(&excluded).contains(&own_id(1)));
}

async fn catalogue_filters_sorting_and_keyset_pages(api: &Api) {
    let response = api.get("/v1/releases?kind=movie&sort=score&limit=30").await;
    assert_eq!(response.status(), 200);
    let link = response
        .headers()
        .get(header::LINK)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .expect("a Link header");
    assert!(
        link.contains("rel=\"next\"") && link.contains("cursor="),
        "{link}"
    );
    let first: Value = response.json().await.expect("JSON");
    let next = first["next"].as_str().expect("next").to_owned();
    let second = api
        .json(&format!(
            "/v1/releases?kind=movie&sort=score&limit=30&cursor={next}"
        ))
        .await;
    let mut scores: Vec<f64> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for page in [&first, &second] {
        for item in page["items"].as_array().expect("items") {
            assert_eq!(item["kind"], "movie");
            scores.push(item["score"].as_f64().unwrap_or(-1.0));
            assert!(
                seen.insert(item["id"].as_str().unwrap_or_default().to_owned()),
                "no repeats"
            );
        }
    }
    assert_eq!(scores.len(), 60);
    assert!(
        scores.windows(2).all(|pair| pair[0] >= pair[1]),
        "descending scores"
    );

    let default = api.json("/v1/releases").await;
    assert_eq!(default["items"].as_array().expect("items").len(), 20);
    assert_eq!(
        default["items"][0]["id"],
        release_id(4563).to_string(),
        "most popular first"
    );

    let by_title = api
        .json("/v1/releases?sort=title&limit=100&year_from=2015&year_to=2016")
        .await;
    let titles: Vec<String> = by_title["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["title"].as_str().unwrap_or_default().to_lowercase())
        .collect();
    assert!(
        titles
            .windows(2)
            .all(|pair| pair[0].as_bytes() <= pair[1].as_bytes())
    );
    for item in by_title["items"].as_array().expect("items") {
        let year = item["year"].as_i64().expect("year");
        assert!((2015..=2016).contains(&year));
    }

    let winter = api
        .json("/v1/releases?season=winter_2016&genres=space,drama&translation_type=voice&team=AniLibria.TV")
        .await;
    assert_eq!(ids(&winter), vec![own_id(1)]);
    let all_genres = api
        .json("/v1/releases?genres=action,comedy,mecha&limit=100")
        .await;
    for item in all_genres["items"].as_array().expect("items") {
        let genres = item["genres"].to_string();
        assert!(genres.contains("action") && genres.contains("comedy") && genres.contains("mecha"));
    }
    let no_comedy = api
        .json("/v1/releases?genres=action&exclude_genres=comedy&limit=100")
        .await;
    for item in no_comedy["items"].as_array().expect("items") {
        assert!(!item["genres"].to_string().contains("\"comedy\""));
    }
    let announced = api.json("/v1/releases?status=announced&limit=100").await;
    assert!(
        announced["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|item| item["status"] == "announced")
    );
}

async fn detail_sources_grouped_by_translation(api: &Api) {
    let detail = api.json(&format!("/v1/releases/{}", own_id(1))).await;
    assert_eq!(detail["titles"]["ru"][0]["text"], "Звёздный Герб");
    assert_eq!(
        detail["titles"]["romaji"][0]["text"],
        "Hoshi no Monshou Kai"
    );
    assert_eq!(detail["season"], "winter_2016");
    assert_eq!(detail["sources"][0]["translation"]["id"], 610);
    assert_eq!(detail["sources"][0]["quality"], "WEB-DLRip 720p");
    assert_eq!(detail["sources"][0]["sources"][0]["episode"], "6.5");
    let missing = api.get(&format!("/v1/releases/{}", own_id(999))).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
}

async fn genres_and_teams_with_counts(api: &Api) {
    let genres = api.json("/v1/genres").await;
    let comedy = genres["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|item| item["name"] == "comedy")
        .expect("comedy is a genre");
    assert!(comedy["releases"].as_i64().unwrap_or_default() > 1000);
    let teams = api.json("/v1/teams").await;
    assert_eq!(teams["items"][0]["name"], "AniLibria.TV");
    assert_eq!(teams["items"][0]["releases"], 1);
}

async fn suggest_names_what_matched(api: &Api) {
    let suggestions = api.json("/v1/suggest?q=shingek&limit=5").await;
    let first = &suggestions["items"][0];
    assert_eq!(first["id"], release_id(9541).to_string());
    assert_eq!(first["matched_language"], "romaji");
    assert!(
        first["matched_title"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Shingeki")
    );
    assert_eq!(first["kind"], "tv");
    assert!(first["poster_url"].as_str().is_some());
    let russian = api
        .json(&format!("/v1/suggest?q={}", encode("стальная тре")))
        .await;
    assert_eq!(russian["items"][0]["id"], release_id(17).to_string());
    assert_eq!(russian["items"][0]["matched_title"], "Стальная тревога");
    assert_eq!(russian["items"][0]["matched_language"], "ru");
    assert_eq!(russian["items"][0]["title"], "Full Metal Panic!");
    let limited = api.json("/v1/suggest?q=naru&limit=3").await;
    assert_eq!(limited["items"].as_array().expect("items").len(), 3);
}

async fn bad_input_is_a_400_never_a_500(api: &Api) {
    let long = "a".repeat(201);
    let bad = [
        "/v1/search".to_owned(),
        "/v1/search?q=".to_owned(),
        "/v1/search?q=%20%20%20".to_owned(),
        format!("/v1/search?q={long}"),
        "/v1/search?q=naruto&kind=cartoon".to_owned(),
        "/v1/search?q=naruto&limit=101".to_owned(),
        "/v1/search?q=naruto&limit=-1".to_owned(),
        "/v1/search?q=naruto&offset=-5".to_owned(),
        "/v1/search?q=naruto&sort=random".to_owned(),
        "/v1/search?q=naruto&order=sideways".to_owned(),
        "/v1/suggest?q=".to_owned(),
        "/v1/suggest?q=naru&limit=21".to_owned(),
        "/v1/releases?limit=101".to_owned(),
        "/v1/releases?limit=0".to_owned(),
        "/v1/releases?limit=abc".to_owned(),
        "/v1/releases?year_from=-2000".to_owned(),
        "/v1/releases?year_from=2010&year_to=2000".to_owned(),
        "/v1/releases?status=finished".to_owned(),
        "/v1/releases?age_rating=nc17".to_owned(),
        "/v1/releases?season=autumn_2016".to_owned(),
        "/v1/releases?translation_type=dub".to_owned(),
        "/v1/releases?cursor=zz".to_owned(),
        "/v1/releases?cursor=7b7d".to_owned(),
        "/v1/releases/not-a-uuid".to_owned(),
        format!("/v1/releases/{}/episodes?cursor=x:y", own_id(1)),
        format!("/v1/releases/{}/episodes?limit=-3", own_id(1)),
    ];
    for path in &bad {
        let response = api.get(path).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "GET {path}");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json",
            "GET {path}"
        );
    }
    // A cursor made for another sort order.
    let page = api.json("/v1/releases?sort=score").await;
    let cursor = page["next"].as_str().expect("next");
    let response = api
        .get(&format!("/v1/releases?sort=year&cursor={cursor}"))
        .await;
    assert_eq!(response.status(), 400);

    let syntax = [
        "\"",
        "(",
        ")",
        ":",
        "/",
        "\\",
        "*",
        "?",
        "~",
        "^",
        "[",
        "]",
        "{",
        "}",
        "%",
        "!",
        "naruto\"",
        "(naruto",
        "title:naruto",
        "naruto OR bleach",
        "naruto AND",
        "a/b\\c",
        "*naruto*",
        "naru?o",
        "naruto~2",
        "naruto^10",
        "[1 TO 5]",
        "{a TO b}",
        "100%",
        "!!!",
        "\" ( ) : / \\ * ? ~ ^ [ ] { } % !",
        "&&",
        "||",
        "-",
        "+",
        "<>",
        "=",
        "NOT",
        "@#$",
    ];
    for text in syntax {
        for route in ["search", "suggest"] {
            let response = api.get(&format!("/v1/{route}?q={}", encode(text))).await;
            assert_eq!(response.status(), 200, "/v1/{route} with q={text:?}");
        }
    }
    let found = api.search_ids("naruto\"", "").await;
    assert_eq!(
        found.first(),
        Some(&release_id(239)),
        "syntax characters are text"
    );
}

async fn caching_etag_and_compression(api: &Api) {
    for path in [
        format!("/v1/releases/{}", release_id(4563)),
        "/v1/releases?kind=tv".to_owned(),
        "/v1/search?q=naruto".to_owned(),
    ] {
        let first = api.get(&path).await;
        assert_eq!(first.status(), 200);
        assert!(
            first.headers().contains_key(header::CACHE_CONTROL),
            "{path}"
        );
        let etag = first.headers()[header::ETAG].clone();
        let body = first.text().await.expect("body");
        let again = api.get(&path).await;
        assert_eq!(again.headers()[header::ETAG], etag, "{path}: stable ETag");
        assert_eq!(again.text().await.expect("body"), body);
        let not_modified = api
            .http
            .get(format!("{}{path}", api.base))
            .header(header::IF_NONE_MATCH, etag)
            .send()
            .await
            .expect("answers");
        assert_eq!(not_modified.status(), 304, "{path}");
    }
    for (encoding, limit) in [("br", 50), ("gzip", 49)] {
        let response = api
            .http
            .get(format!("{}/v1/releases?limit={limit}", api.base))
            .header(header::ACCEPT_ENCODING, encoding)
            .send()
            .await
            .expect("answers");
        assert_eq!(response.status(), 200);
        let content_encoding = response.headers().get(header::CONTENT_ENCODING).cloned();
        let body_length = response
            .bytes()
            .await
            .map(|body| body.len())
            .unwrap_or_default();
        assert_eq!(
            content_encoding
                .as_ref()
                .and_then(|value| value.to_str().ok()),
            Some(encoding),
            "a page of {limit} cards ({body_length} bytes on the wire) is compressed"
        );
    }
}

async fn newer_versions_win_and_invalidate(api: &Api, publisher: &CataloguePublisher) {
    let id = own_id(2);
    // Warm the caches first, so the change must invalidate them.
    let before = api.json(&format!("/v1/releases/{id}")).await;
    assert_eq!(before["title"], "Зеленый слоненок");
    let _ = api
        .json("/v1/releases?genres=drama&sort=title&order=desc&limit=100")
        .await;

    let renamed = release(
        id,
        vec![title("Синий кит", TitleLanguage::Ru, TitleKind::Main)],
    );
    publisher.publish(id, 3, renamed).await;
    // A late, older event must not regress anything.
    let stale = release(
        id,
        vec![title("Старое имя", TitleLanguage::Ru, TitleKind::Main)],
    );
    publisher.publish(id, 2, stale).await;
    // The indexer may still be working through the catalogue load, one event at a
    // time, before it reaches these events: hence the long deadline.
    eventually_slow("the renamed release in detail, list and search", || async {
        let detail = api.json(&format!("/v1/releases/{id}")).await;
        let list = api
            .json("/v1/releases?genres=drama&sort=title&order=desc&limit=100")
            .await;
        let found = api.search_ids("синий кит", "").await;
        let listed = list.to_string().contains("Синий кит");
        detail["title"] == "Синий кит" && listed && found.first() == Some(&id)
    })
    .await;
    // The stale event came after; a sentinel published later proves the stale one was
    // handled before nothing-regressed is checked.
    let sentinel = own_id(8);
    let sentinel_release = release(
        sentinel,
        vec![title(
            "Sentinel Yamato",
            TitleLanguage::Romaji,
            TitleKind::Main,
        )],
    );
    publisher.publish(sentinel, 1, sentinel_release).await;
    eventually_slow("the sentinel", || async {
        api.search_ids("sentinel yamato", "").await.first() == Some(&sentinel)
    })
    .await;
    let detail = api.json(&format!("/v1/releases/{id}")).await;
    assert_eq!(detail["title"], "Синий кит");
    assert_eq!(detail["version"], 3);
    assert!(api.search_ids("старое имя", "").await.first() != Some(&id));

    publisher
        .publish(id, 4, ReleaseDeleted { release_id: id })
        .await;
    eventually_slow("the deleted release to disappear", || async {
        let gone = api.get(&format!("/v1/releases/{id}")).await.status() == 404;
        let unsearchable = !api.search_ids("синий кит", "").await.contains(&id);
        gone && unsearchable
    })
    .await;
}

async fn search_engine_down_degrades_search_only(platform: &Platform, api: &Api) {
    let port = free_port();
    let closed = free_port();
    let _degraded = platform.spawn_service(
        "query-api",
        &[
            ("SEARCH_URL", &format!("http://127.0.0.1:{closed}")),
            ("QUERY_API_LISTEN", &format!("127.0.0.1:{port}")),
        ],
    );
    let degraded = Api::new(&format!("http://127.0.0.1:{port}"));
    eventually("the degraded query-api to answer", || async {
        let response = degraded
            .http
            .get(format!("{}/health/live", degraded.base))
            .send()
            .await
            .ok()?;
        response.status().is_success().then_some(())
    })
    .await;
    for path in ["/v1/search?q=naruto", "/v1/suggest?q=naru"] {
        let response = degraded.get(path).await;
        assert_eq!(response.status(), 503, "{path}");
        assert!(
            response.headers().contains_key(header::RETRY_AFTER),
            "{path}"
        );
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let problem: Value = response.json().await.expect("a problem");
        assert_eq!(problem["type"], "urn:anidex:problem:search-unavailable");
    }
    let list = degraded.json("/v1/releases?kind=tv").await;
    assert_eq!(list["items"].as_array().expect("items").len(), 20);
    let detail = degraded
        .json(&format!("/v1/releases/{}", release_id(239)))
        .await;
    assert_eq!(detail["title"], "Naruto");
    let ready = degraded.get("/health/ready").await;
    assert_eq!(ready.status(), 503);
    let report: Value = ready.json().await.expect("a report");
    assert_eq!(report["checks"]["search"], "down");
    assert_eq!(report["checks"]["postgres"], "up");

    let healthy: Value = api
        .get("/health/ready")
        .await
        .json()
        .await
        .expect("a report");
    assert_eq!(healthy["checks"]["search"], "up");
}

async fn reindex_swaps_the_alias_while_search_answers(platform: &Platform, api: &Api) {
    let before = index_count(api, platform).await;
    let printed = reindex(platform, api).await;
    assert!(printed.contains("releases-v3"), "{printed}");
    assert!(
        printed.contains("deleted"),
        "the previous version is dropped: {printed}"
    );
    assert_first(api, "death note", release_id(4563)).await;
    assert_first(api, "стальная тревога", release_id(17)).await;
    assert_eq!(index_count(api, platform).await, before);
}

async fn drop_indexes(platform: &Platform, api: &Api) {
    let alias = format!("{}releases", platform.topic_prefix.to_lowercase());
    let Ok(response) = api
        .http
        .get(format!("{}/_alias/{alias}", search_url()))
        .send()
        .await
    else {
        return;
    };
    let targets: Value = response.json().await.unwrap_or_default();
    for index in targets
        .as_object()
        .into_iter()
        .flat_map(|indexes| indexes.keys())
    {
        let _ = api
            .http
            .delete(format!("{}/{index}", search_url()))
            .send()
            .await;
    }
}
