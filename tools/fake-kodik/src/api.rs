//! What each Kodik endpoint answers, independent of HTTP: token check, `/list` keyset
//! pagination, `/search`, and the facet endpoints, each producing the JSON body.

use std::{collections::BTreeMap, fmt, time::Instant};

use serde::Serialize;

use crate::{
    cursor::Cursor,
    filters::Filters,
    model::{Material, parse_material_id},
    params::Params,
    render::{Content, Row},
    search::Criteria,
    store::{OrderKey, SortField, Store},
};

/// Most rows on a `/list` page and in a `/search` answer.
pub const MAX_LIMIT: usize = 100;
/// Rows on a `/list` page when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 50;

/// An error upstream reports as `{"error": "<message>"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiError {
    /// Missing or wrong `token`.
    Token,
    /// `/search` without any lookup parameter.
    NoSearchCriterion,
    /// An unknown `types` value.
    BadType,
    /// A `next` value this server did not write.
    BadCursor,
}

impl ApiError {
    /// The message, in upstream's words.
    pub fn message(self) -> &'static str {
        match self {
            Self::Token => "Отсутствует или неверный токен",
            Self::NoSearchCriterion => "Не указан хотя бы один параметр для поиска",
            Self::BadType => "Неправильный тип",
            Self::BadCursor => "Неправильный параметр next",
        }
    }

    /// The JSON body upstream sends.
    pub fn body(self) -> Vec<u8> {
        serde_json::json!({ "error": self.message() })
            .to_string()
            .into_bytes()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for ApiError {}

/// The endpoints this server implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    List,
    Search,
    Translations,
    Genres,
    Countries,
    Qualities,
    Years,
}

impl Endpoint {
    /// The endpoint at a request path (a trailing slash is tolerated).
    pub fn from_path(path: &str) -> Option<Self> {
        let path = path
            .strip_suffix('/')
            .filter(|p| !p.is_empty())
            .unwrap_or(path);
        Some(match path {
            "/list" => Self::List,
            "/search" => Self::Search,
            "/translations/v2" => Self::Translations,
            "/genres" => Self::Genres,
            "/countries" => Self::Countries,
            "/qualities/v2" => Self::Qualities,
            "/years" => Self::Years,
            _ => return None,
        })
    }
}

/// The catalogue plus what pages need to know about the deployment.
#[derive(Debug)]
pub struct Api {
    pub store: Store,
    token: String,
    /// Where `next_page` URLs point: upstream's own public host, not our listener.
    public_base_url: String,
}

#[derive(Serialize)]
struct ListPage<'a> {
    time: String,
    total: usize,
    prev_page: Option<String>,
    next_page: Option<String>,
    results: Vec<Row<'a>>,
}

#[derive(Serialize)]
struct Answer<T: Serialize> {
    time: String,
    total: usize,
    results: Vec<T>,
}

#[derive(Serialize)]
struct TranslationCount {
    id: u32,
    title: &'static str,
    count: usize,
}

#[derive(Serialize)]
struct TitleCount {
    title: String,
    count: usize,
}

#[derive(Serialize)]
struct YearCount {
    year: u16,
    count: usize,
}

fn elapsed(started: Instant) -> String {
    format!("{}ms", started.elapsed().as_millis())
}

fn to_json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("answers have string keys and finite numbers")
}

impl Api {
    pub fn new(store: Store, token: String, public_base_url: String) -> Self {
        let public_base_url = public_base_url.trim_end_matches('/').to_owned();
        Self {
            store,
            token,
            public_base_url,
        }
    }

    /// Whether `params` carry the configured token.
    pub fn token_ok(&self, params: &Params) -> bool {
        params.get("token") == Some(self.token.as_str())
    }

    /// The JSON body of a successful answer, or the error upstream would report.
    pub fn answer(&self, endpoint: Endpoint, params: &Params) -> Result<Vec<u8>, ApiError> {
        let started = Instant::now();
        if !self.token_ok(params) {
            return Err(ApiError::Token);
        }
        match endpoint {
            Endpoint::List => self.list(params, started),
            Endpoint::Search => self.search(params, started),
            Endpoint::Translations => self.translations(params, started),
            Endpoint::Genres => self.titles_facet(params, started, |m, store| {
                let data = &store.work_of(m).material_data;
                let list = if params.get("genres_type") == Some("shikimori") {
                    &data.anime_genres
                } else {
                    &data.genres
                };
                list.clone().unwrap_or_default()
            }),
            Endpoint::Countries => self.titles_facet(params, started, |m, store| {
                store
                    .work_of(m)
                    .material_data
                    .countries
                    .clone()
                    .unwrap_or_default()
            }),
            Endpoint::Qualities => {
                self.titles_facet(params, started, |m, _| vec![m.quality.to_owned()])
            }
            Endpoint::Years => self.years(params, started),
        }
    }

    fn selected<'a>(&'a self, filters: &'a Filters) -> impl Iterator<Item = &'a Material> + 'a {
        self.store
            .materials
            .iter()
            .filter(|m| filters.matches(m, self.store.work_of(m)))
    }

    fn list(&self, p: &Params, started: Instant) -> Result<Vec<u8>, ApiError> {
        let filters = Filters::parse(p)?;
        let field = p
            .get("sort")
            .and_then(SortField::parse)
            .unwrap_or(SortField::UpdatedAt);
        let ascending = p.get("order") == Some("asc");
        let limit = p
            .get("limit")
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|l| *l > 0)
            .unwrap_or(DEFAULT_LIMIT)
            .min(MAX_LIMIT);
        let after: Option<OrderKey> = match p.get("next") {
            None => None,
            Some(next) => {
                let cursor = Cursor::decode(next).map_err(|_| ApiError::BadCursor)?;
                let number = parse_material_id(&cursor.id).ok_or(ApiError::BadCursor)?;
                Some((cursor.key, number))
            }
        };

        let store = &self.store;
        let order = store.order(field);
        let key = |i: u32| store.key(&store.materials[i as usize], field);
        // Keyset pagination: continue strictly after the cursor in the requested direction.
        let candidates: Box<dyn Iterator<Item = u32>> = if ascending {
            let start = after.map_or(0, |a| order.partition_point(|&i| key(i) <= a));
            Box::new(order[start..].iter().copied())
        } else {
            let end = after.map_or(order.len(), |a| order.partition_point(|&i| key(i) < a));
            Box::new(order[..end].iter().rev().copied())
        };
        let mut rows: Vec<&Material> = Vec::with_capacity(limit);
        let mut more = false;
        for i in candidates {
            let m = &store.materials[i as usize];
            if filters.matches(m, store.work_of(m)) {
                if rows.len() == limit {
                    more = true;
                    break;
                }
                rows.push(m);
            }
        }
        let total = self.selected(&filters).count();
        let next_page = match rows.last() {
            Some(last) if more => {
                let cursor = Cursor {
                    key: store.key(last, field).0,
                    id: last.id(),
                };
                Some(self.next_page_url(p, &cursor))
            }
            _ => None,
        };
        let content = Content::from_params(p);
        let page = ListPage {
            time: elapsed(started),
            total,
            prev_page: None,
            next_page,
            results: rows
                .into_iter()
                .map(|material| Row {
                    store,
                    material,
                    content,
                })
                .collect(),
        };
        Ok(to_json(&page))
    }

    /// `next_page`: upstream's own host, the token, the cursor, and the original filters.
    fn next_page_url(&self, p: &Params, cursor: &Cursor) -> String {
        let mut url = format!(
            "{}/list?token={}&next={}",
            self.public_base_url,
            crate::params::percent_encode(&self.token),
            crate::params::percent_encode(&cursor.encode())
        );
        let rest = p.encode_without(&["token", "next"]);
        if !rest.is_empty() {
            url.push('&');
            url.push_str(&rest);
        }
        url
    }

    fn search(&self, p: &Params, started: Instant) -> Result<Vec<u8>, ApiError> {
        let criteria = Criteria::parse(p).ok_or(ApiError::NoSearchCriterion)?;
        let filters = Filters::parse(p)?;
        let store = &self.store;
        let mut found: Vec<&Material> = self
            .selected(&filters)
            .filter(|m| criteria.matches(m, store.work_of(m)))
            .collect();
        // Exact title matches first, then the most recently updated.
        found.sort_by_key(|m| {
            (
                !criteria.exact_title(store.work_of(m)),
                std::cmp::Reverse((m.updated_ms, m.number)),
            )
        });
        found.truncate(MAX_LIMIT);
        let content = Content::from_params(p);
        let results: Vec<Row<'_>> = found
            .into_iter()
            .map(|material| Row {
                store,
                material,
                content,
            })
            .collect();
        Ok(to_json(&Answer {
            time: elapsed(started),
            total: results.len(),
            results,
        }))
    }

    fn translations(&self, p: &Params, started: Instant) -> Result<Vec<u8>, ApiError> {
        let filters = Filters::parse(p)?;
        let mut counts: BTreeMap<u32, (&'static str, usize)> = BTreeMap::new();
        for m in self.selected(&filters) {
            counts
                .entry(m.translation.id)
                .or_insert((m.translation.title, 0))
                .1 += 1;
        }
        let mut results: Vec<TranslationCount> = counts
            .into_iter()
            .map(|(id, (title, count))| TranslationCount { id, title, count })
            .collect();
        results.sort_by(|a, b| b.count.cmp(&a.count).then(a.id.cmp(&b.id)));
        Ok(to_json(&Answer {
            time: elapsed(started),
            total: results.len(),
            results,
        }))
    }

    fn titles_facet(
        &self,
        p: &Params,
        started: Instant,
        values: impl Fn(&Material, &Store) -> Vec<String>,
    ) -> Result<Vec<u8>, ApiError> {
        let filters = Filters::parse(p)?;
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for m in self.selected(&filters) {
            for value in values(m, &self.store) {
                *counts.entry(value).or_default() += 1;
            }
        }
        let mut results: Vec<TitleCount> = counts
            .into_iter()
            .map(|(title, count)| TitleCount { title, count })
            .collect();
        results.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.title.cmp(&b.title)));
        Ok(to_json(&Answer {
            time: elapsed(started),
            total: results.len(),
            results,
        }))
    }

    fn years(&self, p: &Params, started: Instant) -> Result<Vec<u8>, ApiError> {
        let filters = Filters::parse(p)?;
        let mut counts: BTreeMap<u16, usize> = BTreeMap::new();
        for m in self.selected(&filters) {
            *counts.entry(self.store.work_of(m).year).or_default() += 1;
        }
        let results: Vec<YearCount> = counts
            .into_iter()
            .rev()
            .map(|(year, count)| YearCount { year, count })
            .collect();
        Ok(to_json(&Answer {
            time: elapsed(started),
            total: results.len(),
            results,
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use serde_json::Value;

    use super::*;
    use crate::{Scenario, assemble, catalogue, generate::DEFAULT_SEED};

    const TOKEN: &str = "test-token";

    fn small_api(titles: usize) -> Api {
        let titles = catalogue::Subset::Size(titles)
            .apply(catalogue::load(None).expect("the embedded fixture parses"));
        let store = assemble(titles, Scenario::Catalogue, DEFAULT_SEED);
        Api::new(store, TOKEN.into(), "https://kodik-api.com/".into())
    }

    fn call(api: &Api, endpoint: Endpoint, query: &str) -> Result<Value, ApiError> {
        let body = api.answer(endpoint, &Params::parse(query))?;
        Ok(serde_json::from_slice(&body).expect("answers are JSON"))
    }

    /// Follows `next_page` the way a client should: only the `next` value is taken from
    /// the URL and sent back with the original filters.
    fn walk(api: &Api, filters: &str) -> (Vec<String>, u64) {
        let mut ids = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..10_000 {
            let mut query = format!("token={TOKEN}&{filters}");
            if let Some(cursor) = &next {
                query.push_str(&format!("&next={}", crate::params::percent_encode(cursor)));
            }
            let page = call(api, Endpoint::List, &query).expect("pages load");
            assert!(page["prev_page"].is_null());
            assert!(page["time"].as_str().is_some_and(|t| t.ends_with("ms")));
            let total = page["total"].as_u64().expect("total is a number");
            for row in page["results"].as_array().expect("results is an array") {
                ids.push(row["id"].as_str().expect("ids are strings").to_owned());
            }
            let Some(url) = page["next_page"].as_str() else {
                return (ids, total);
            };
            let query = url
                .strip_prefix(&format!("https://kodik-api.com/list?token={TOKEN}&next="))
                .expect("next_page is on the public host and carries the token first");
            let p = Params::parse(&format!("next={query}"));
            for pair in filters.split('&').filter(|p| !p.is_empty()) {
                assert!(url.contains(pair), "{url} keeps the filter {pair}");
            }
            next = Some(p.get("next").expect("the URL has a cursor").to_owned());
        }
        panic!("pagination did not stop");
    }

    #[test]
    fn pagination_visits_every_row_once_and_stops_at_null() {
        let api = small_api(60);
        let expected = api.store.materials.len();
        for filters in [
            "limit=7",
            "limit=5&sort=year&order=asc",
            "limit=100&sort=created_at",
        ] {
            let (ids, total) = walk(&api, filters);
            assert_eq!(ids.len(), expected, "{filters}");
            assert_eq!(total as usize, expected);
            assert_eq!(
                ids.iter().collect::<HashSet<_>>().len(),
                ids.len(),
                "no duplicates"
            );
        }
    }

    #[test]
    fn pagination_keeps_filters() {
        let api = small_api(80);
        let (ids, total) = walk(&api, "limit=3&types=anime&with_material_data=true");
        assert_eq!(ids.len() as u64, total);
        assert!(ids.iter().all(|id| id.starts_with("movie-")));
        let serials = api.store.materials.iter().filter(|m| !m.film).count();
        let (ids, _) = walk(&api, "limit=4&types=anime-serial&order=asc");
        assert_eq!(ids.len(), serials);
    }

    #[test]
    fn pages_are_sorted_by_updated_at_desc_by_default() {
        let api = small_api(30);
        let page = call(&api, Endpoint::List, &format!("token={TOKEN}&limit=100")).expect("ok");
        let stamps: Vec<&str> = page["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| r["updated_at"].as_str().expect("updated_at"))
            .collect();
        assert!(stamps.windows(2).all(|w| w[0] >= w[1]));
        assert!(stamps.iter().all(|s| s.ends_with('Z') && s.len() == 20));
    }

    #[test]
    fn limit_is_capped_at_100() {
        let api = small_api(200);
        let page = call(&api, Endpoint::List, &format!("token={TOKEN}&limit=500")).expect("ok");
        assert_eq!(page["results"].as_array().map(Vec::len), Some(100));
    }

    #[test]
    fn token_is_required_everywhere() {
        let api = small_api(5);
        let endpoints = [
            Endpoint::List,
            Endpoint::Search,
            Endpoint::Translations,
            Endpoint::Genres,
            Endpoint::Years,
        ];
        for endpoint in endpoints {
            assert_eq!(call(&api, endpoint, "limit=1").err(), Some(ApiError::Token));
            assert_eq!(
                call(&api, endpoint, "token=wrong").err(),
                Some(ApiError::Token)
            );
            assert_eq!(call(&api, endpoint, "token=").err(), Some(ApiError::Token));
        }
        let body: Value = serde_json::from_slice(&ApiError::Token.body()).expect("JSON");
        assert_eq!(
            body,
            serde_json::json!({"error": "Отсутствует или неверный токен"})
        );
    }

    #[test]
    fn upstream_errors_use_upstream_words() {
        let api = small_api(5);
        let search = call(&api, Endpoint::Search, &format!("token={TOKEN}&limit=5"));
        assert_eq!(search.err(), Some(ApiError::NoSearchCriterion));
        let list = call(
            &api,
            Endpoint::List,
            &format!("token={TOKEN}&types=anime,cartoonz"),
        );
        assert_eq!(list.err(), Some(ApiError::BadType));
        let list = call(
            &api,
            Endpoint::List,
            &format!("token={TOKEN}&next=garbage!"),
        );
        assert_eq!(list.err(), Some(ApiError::BadCursor));
        // A known but empty type is not an error: it selects nothing.
        let empty = call(
            &api,
            Endpoint::List,
            &format!("token={TOKEN}&types=russian-movie"),
        )
        .expect("valid type");
        assert_eq!(empty["total"], 0);
        assert_eq!(empty["results"], serde_json::json!([]));
        assert!(empty["next_page"].is_null());
    }

    #[test]
    fn facets_count_rows() {
        let api = small_api(100);
        let rows = api.store.materials.len() as u64;
        let translations =
            call(&api, Endpoint::Translations, &format!("token={TOKEN}")).expect("ok");
        let sum: u64 = translations["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| {
                assert!(r["id"].is_u64() && r["title"].is_string());
                r["count"].as_u64().expect("count")
            })
            .sum();
        assert_eq!(sum, rows);
        let years = call(&api, Endpoint::Years, &format!("token={TOKEN}")).expect("ok");
        let sum: u64 = years["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| r["count"].as_u64().expect("count"))
            .sum();
        assert_eq!(sum, rows);
    }
}
