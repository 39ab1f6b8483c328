//! `/v1/releases/*`: moderators' edits of the catalogue. Every change of an existing
//! release needs `If-Match` with the release version the client last saw (its
//! `ETag`); a stale version is refused with 412, never silently overwritten.

#![expect(
    clippy::result_large_err,
    reason = "Problem is the single error shape of the API, built only on the error path"
)]

use platform::{
    auth::Principal,
    http::{Problem, RequestId, read_json_body},
};
use salvo::{
    Depot, Request, Response, handler,
    http::{HeaderValue, StatusCode, header},
    writing::Json,
};
use schemas::releases::{
    EpisodeSource, ReleaseSourcesUpserted, SeasonBlock, Translation, TranslationKind,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use crate::{
    audit::AuditContext,
    commands::releases::{self as release_commands, ReleaseEditCommand, canonical_episode_number},
    domain::releases::EpisodeEdit,
};

/// A release's version after a change; also sent as the `ETag`.
#[derive(Serialize, ToSchema)]
pub struct ReleaseVersion {
    /// The release id.
    release_id: Uuid,
    /// The release's version now.
    version: i64,
}

/// The body of a release's create and patch: editable fields by name, checked
/// against the editable list and the event contract's types when the command runs.
/// Documented by [`ReleaseFieldsDoc`].
#[derive(Deserialize)]
pub struct ReleaseFields(Map<String, Value>);

/// Editable fields of a release, each optional, and no other field is accepted;
/// `null` clears one that may be empty. Values have the shapes of the
/// `release.upserted` event.
#[derive(ToSchema)]
#[schema(as = ReleaseFields, example = json!({
    "kind": "tv", "status": "ongoing",
    "titles": [{"text": "Sousou no Frieren", "language": "romaji", "kind": "main"},
               {"text": "Провожающая в последний путь Фрирен", "language": "ru", "kind": "main"}],
    "year": 2023, "genres": ["adventure", "drama", "fantasy"], "episodes_total": 28
}))]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "only describes the body in the OpenAPI document")]
pub struct ReleaseFieldsDoc {
    /// `tv`, `movie`, `ova`, `ona`, `special` or `music`.
    #[schema(required = false)]
    kind: String,
    /// `announced`, `ongoing` or `released`.
    #[schema(required = false)]
    status: String,
    /// Every name of the release: at least one, each once. Required on create.
    #[schema(required = false, min_items = 1)]
    titles: Vec<TitleDoc>,
    /// Start year.
    #[schema(minimum = 1900, maximum = 2100)]
    year: Option<i32>,
    /// The season it started airing.
    airing_season: Option<AiringSeasonDoc>,
    /// At most 50 names, distinct regardless of case, each 1 to 64 characters
    /// without surrounding spaces.
    #[schema(required = false, max_items = 50)]
    genres: Vec<String>,
    /// `g`, `pg`, `pg13`, `r`, `r_plus` or `rx`.
    age_rating: Option<String>,
    /// Synopsis.
    #[schema(max_length = 20000)]
    description: Option<String>,
    /// Poster: an absolute `https://` URL without whitespace.
    #[schema(max_length = 2048)]
    poster_url: Option<String>,
    /// Episodes planned. Setting either count must leave no more episodes aired
    /// than planned.
    #[schema(minimum = 0, maximum = 100_000)]
    episodes_total: Option<i32>,
    /// Episodes aired, not above `episodes_total` when this edit sets either.
    #[schema(minimum = 0, maximum = 100_000)]
    episodes_aired: Option<i32>,
    /// When the next episode airs.
    next_episode_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Average score.
    #[schema(minimum = 0, maximum = 10)]
    score: Option<f64>,
}

/// One name of a release.
#[derive(ToSchema)]
#[schema(as = ReleaseTitle)]
#[expect(dead_code, reason = "only describes the body in the OpenAPI document")]
pub struct TitleDoc {
    /// The name, not blank.
    #[schema(min_length = 1, max_length = 500)]
    text: String,
    /// `ru`, `en`, `romaji`, `ja`, or another language code.
    language: String,
    /// `main`, `official`, `synonym` or `short`.
    kind: String,
}

/// The season a release started airing.
#[derive(ToSchema)]
#[schema(as = AiringSeason)]
#[expect(dead_code, reason = "only describes the body in the OpenAPI document")]
pub struct AiringSeasonDoc {
    /// Year.
    #[schema(minimum = 1900, maximum = 2100)]
    year: i32,
    /// `winter` (December to February), `spring`, `summer` or `fall`.
    season: String,
}

/// An episode's title and flags.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EpisodeRequest {
    /// Episode title.
    #[serde(default)]
    title: Option<String>,
    /// A recap episode.
    #[serde(default)]
    recap: bool,
    /// A filler episode.
    #[serde(default)]
    filler: bool,
}

/// One episode's player link.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceRequest {
    /// Season; 0 holds specials.
    season: i32,
    /// Episode number, e.g. `12` or `6.5`.
    episode: String,
    /// Absolute https player URL.
    player_link: String,
}

/// Every video source of one translation.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourcesRequest {
    /// Translation name, usually the team's.
    title: String,
    /// `voice` or `subtitles`.
    #[schema(value_type = String, example = "voice")]
    kind: TranslationKind,
    /// The team behind it.
    #[serde(default)]
    team: Option<String>,
    /// Quality label.
    #[serde(default)]
    quality: Option<String>,
    /// A cinema recording.
    #[serde(default)]
    camrip: bool,
    /// Country codes where playback is blocked.
    #[serde(default)]
    blocked_countries: Vec<String>,
    /// One link per episode.
    sources: Vec<SourceRequest>,
}

fn audit_context(depot: &Depot) -> Result<AuditContext, Problem> {
    let principal = Principal::of(depot).ok_or_else(Problem::internal)?;
    Ok(AuditContext {
        actor: Some(principal),
        request_id: RequestId::of(depot),
    })
}

fn state(depot: &Depot) -> Result<AppState, Problem> {
    depot
        .get_typed::<AppState>()
        .cloned()
        .map_err(|_| Problem::internal())
}

fn release_id(req: &Request) -> Result<Uuid, Problem> {
    let text = req.param::<String>("id").unwrap_or_default();
    Uuid::parse_str(&text)
        .map_err(|_| Problem::invalid_parameter("id", "the release id must be a UUID"))
}

/// The version in `If-Match` (`"3"`, `W/"3"` or `3`).
fn expected_version(req: &Request) -> Result<i64, Problem> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Err(Problem::new(
            StatusCode::PRECONDITION_REQUIRED,
            "precondition-required",
            "If-Match required",
        )
        .detail("send the release version you last saw as If-Match, e.g. If-Match: \"3\""));
    };
    value
        .to_str()
        .ok()
        .map(|text| {
            let text = text.trim();
            let text = text.strip_prefix("W/").unwrap_or(text);
            // Quoted on both sides or on neither: `"3` is not a version.
            text.strip_prefix('"')
                .and_then(|quoted| quoted.strip_suffix('"'))
                .unwrap_or(text)
        })
        .and_then(|text| text.parse::<i64>().ok())
        .filter(|version| *version >= 1)
        .ok_or_else(|| {
            Problem::invalid_parameter(
                "If-Match",
                "If-Match must be a release version such as \"3\"",
            )
        })
}

fn episode_address(req: &Request) -> Result<(i32, String), Problem> {
    let season = req
        .param::<String>("season")
        .and_then(|text| text.parse::<i32>().ok())
        .ok_or_else(|| Problem::invalid_parameter("season", "the season must be an integer"))?;
    let number = canonical_episode_number(&req.param::<String>("number").unwrap_or_default());
    Ok((season, number))
}

fn render_version(res: &mut Response, status: StatusCode, release_id: Uuid, version: i64) {
    res.status_code(status);
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{version}\"")) {
        res.headers_mut().insert(header::ETAG, etag);
    }
    res.render(Json(ReleaseVersion {
        release_id,
        version,
    }));
}

async fn edit(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
    command: ReleaseEditCommand,
) -> Result<(), Problem> {
    let state = state(depot)?;
    let context = audit_context(depot)?;
    let release_id = release_id(req)?;
    let expected = expected_version(req)?;
    let version =
        release_commands::edit_release(&state.commands, &context, release_id, expected, command)
            .await?;
    render_version(res, StatusCode::OK, release_id, version);
    Ok(())
}

/// Creates a release by hand.
#[utoipa::path(
    post, path = "/v1/releases", tag = "releases", security(("bearer" = [])),
    request_body = ReleaseFieldsDoc,
    responses(
        (status = 201, description = "Created", body = ReleaseVersion, headers(
            ("Location" = String, description = "The release on the query API, when `QUERY_API_PUBLIC_URL` is set"),
            ("ETag" = String, description = "The release's version"),
        )),
        (status = 400, description = "Body is not a JSON object", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller is not a moderator", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json, or has a Content-Encoding", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is unknown, not editable or out of range; `titles` is required", body = Problem, content_type = "application/problem+json"),
    )
)]
#[handler]
pub async fn create(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), Problem> {
    let state = state(depot)?;
    let context = audit_context(depot)?;
    let ReleaseFields(fields) = read_json_body(req, state.max_body_bytes).await?;
    let (release_id, version) =
        release_commands::create_release(&state.commands, &context, fields).await?;
    if let Some(location) = state.query_api_location(&format!("/v1/releases/{release_id}")) {
        res.headers_mut().insert(header::LOCATION, location);
    }
    render_version(res, StatusCode::CREATED, release_id, version);
    Ok(())
}

/// Changes fields of a release.
#[utoipa::path(
    patch, path = "/v1/releases/{id}", tag = "releases", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Release id"),
        ("If-Match" = String, Header, description = "The release version last seen, e.g. `\"3\"`"),
    ),
    request_body = ReleaseFieldsDoc,
    responses(
        (status = 200, description = "Changed", body = ReleaseVersion),
        (status = 400, description = "Malformed id, If-Match or body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller is not a moderator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such release", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`stale-version`: the release changed since that version", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json, or has a Content-Encoding", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is unknown, not editable or out of range", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = Problem, content_type = "application/problem+json"),
    )
)]
#[handler]
pub async fn patch(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), Problem> {
    let max_body_bytes = state(depot)?.max_body_bytes;
    let ReleaseFields(fields) = read_json_body(req, max_body_bytes).await?;
    edit(req, depot, res, ReleaseEditCommand::Fields(fields)).await
}

/// Deletes a release; later imports do not bring it back.
#[utoipa::path(
    delete, path = "/v1/releases/{id}", tag = "releases", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Release id"),
        ("If-Match" = String, Header, description = "The release version last seen"),
    ),
    responses(
        (status = 200, description = "Deleted", body = ReleaseVersion),
        (status = 400, description = "Malformed id or If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller is not a moderator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such release", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`stale-version`", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = Problem, content_type = "application/problem+json"),
    )
)]
#[handler]
pub async fn delete(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), Problem> {
    let state = state(depot)?;
    let context = audit_context(depot)?;
    let release_id = release_id(req)?;
    let expected = expected_version(req)?;
    let version =
        release_commands::delete_release(&state.commands, &context, release_id, expected).await?;
    render_version(res, StatusCode::OK, release_id, version);
    Ok(())
}

/// Sets an episode's title and flags, creating the episode if needed.
#[utoipa::path(
    put, path = "/v1/releases/{id}/episodes/{season}/{number}", tag = "releases", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Release id"),
        ("season" = i32, Path, description = "Season; 0 holds specials"),
        ("number" = String, Path, description = "Episode number, e.g. `12` or `6.5`; leading and trailing zeros are dropped (`06.50` is `6.5`)"),
        ("If-Match" = String, Header, description = "The release version last seen"),
    ),
    request_body = EpisodeRequest,
    responses(
        (status = 200, description = "Saved", body = ReleaseVersion),
        (status = 400, description = "Malformed path, If-Match or body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller is not a moderator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such release", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`stale-version`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json, or has a Content-Encoding", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid season or number", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = Problem, content_type = "application/problem+json"),
    )
)]
#[handler]
pub async fn put_episode(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), Problem> {
    let max_body_bytes = state(depot)?.max_body_bytes;
    let (season, number) = episode_address(req)?;
    let body: EpisodeRequest = read_json_body(req, max_body_bytes).await?;
    let edit_command = ReleaseEditCommand::PutEpisode {
        season,
        number,
        edit: EpisodeEdit {
            title: body.title,
            recap: body.recap,
            filler: body.filler,
        },
    };
    edit(req, depot, res, edit_command).await
}

/// Deletes an episode.
#[utoipa::path(
    delete, path = "/v1/releases/{id}/episodes/{season}/{number}", tag = "releases", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Release id"),
        ("season" = i32, Path, description = "Season"),
        ("number" = String, Path, description = "Episode number; leading and trailing zeros are dropped (`06.50` is `6.5`)"),
        ("If-Match" = String, Header, description = "The release version last seen"),
    ),
    responses(
        (status = 200, description = "Deleted", body = ReleaseVersion),
        (status = 400, description = "Malformed path or If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller is not a moderator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such release, or it has no such episode", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`stale-version`", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = Problem, content_type = "application/problem+json"),
    )
)]
#[handler]
pub async fn delete_episode(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), Problem> {
    let (season, number) = episode_address(req)?;
    edit(
        req,
        depot,
        res,
        ReleaseEditCommand::DeleteEpisode { season, number },
    )
    .await
}

fn translation_id(req: &Request) -> Result<i64, Problem> {
    req.param::<String>("translation_id")
        .and_then(|text| text.parse::<i64>().ok())
        .filter(|id| *id >= 0)
        .ok_or_else(|| {
            Problem::invalid_parameter(
                "translation_id",
                "the translation id must be a non-negative integer",
            )
        })
}

/// Replaces every video source of one translation of a release.
#[utoipa::path(
    put, path = "/v1/releases/{id}/sources/{translation_id}", tag = "releases", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Release id"),
        ("translation_id" = i64, Path, description = "Translation id"),
        ("If-Match" = String, Header, description = "The release version last seen"),
    ),
    request_body = SourcesRequest,
    responses(
        (status = 200, description = "Saved", body = ReleaseVersion),
        (status = 400, description = "Malformed path, If-Match or body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller is not a moderator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such release", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`stale-version`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json, or has a Content-Encoding", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A link is not https, or an episode address is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = Problem, content_type = "application/problem+json"),
    )
)]
#[handler]
pub async fn put_sources(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), Problem> {
    let max_body_bytes = state(depot)?.max_body_bytes;
    let release_id = release_id(req)?;
    let translation_id = translation_id(req)?;
    let body: SourcesRequest = read_json_body(req, max_body_bytes).await?;
    let sources = ReleaseSourcesUpserted {
        release_id,
        translation: Translation {
            id: translation_id,
            title: body.title,
            kind: body.kind,
        },
        team: body.team,
        quality: body.quality,
        camrip: body.camrip,
        blocked_countries: body.blocked_countries,
        blocked_seasons: Vec::<SeasonBlock>::new(),
        upstream_material_id: None,
        upstream_updated_at: None,
        sources: body
            .sources
            .into_iter()
            .map(|source| EpisodeSource {
                season: source.season,
                episode: source.episode,
                player_link: source.player_link,
            })
            .collect(),
    };
    edit(
        req,
        depot,
        res,
        ReleaseEditCommand::PutSources(Box::new(sources)),
    )
    .await
}

/// Removes every video source of one translation of a release.
#[utoipa::path(
    delete, path = "/v1/releases/{id}/sources/{translation_id}", tag = "releases", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Release id"),
        ("translation_id" = i64, Path, description = "Translation id"),
        ("If-Match" = String, Header, description = "The release version last seen"),
    ),
    responses(
        (status = 200, description = "Removed", body = ReleaseVersion),
        (status = 400, description = "Malformed path or If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller is not a moderator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such release, or it has no sources of this translation", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`stale-version`", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = Problem, content_type = "application/problem+json"),
    )
)]
#[handler]
pub async fn delete_sources(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), Problem> {
    let translation_id = translation_id(req)?;
    edit(
        req,
        depot,
        res,
        ReleaseEditCommand::DeleteSources { translation_id },
    )
    .await
}

#[cfg(test)]
mod tests {
    use schemars::JsonSchema;
    use schemas::releases::{
        AgeRating, ReleaseKind, ReleaseStatus, TitleKind, TitleLanguage, YearSeason,
    };
    use serde_json::{Map, Value};
    use utoipa::PartialSchema;

    use super::{AiringSeasonDoc, ReleaseFieldsDoc, TitleDoc};
    use crate::domain::releases::EDITABLE_FIELDS;

    fn properties<T: PartialSchema>() -> Map<String, Value> {
        let schema = serde_json::to_value(T::schema()).expect("a schema serializes");
        schema["properties"]
            .as_object()
            .cloned()
            .expect("an object schema")
    }

    /// The strings the event contract allows for `T`.
    fn contract_values<T: JsonSchema>() -> Vec<String> {
        fn collect(value: &Value, into: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(constant)) = map.get("const") {
                        into.push(constant.clone());
                    }
                    if let Some(Value::Array(values)) = map.get("enum") {
                        into.extend(values.iter().filter_map(Value::as_str).map(str::to_owned));
                    }
                    map.values().for_each(|value| collect(value, into));
                }
                Value::Array(items) => items.iter().for_each(|value| collect(value, into)),
                _ => {}
            }
        }
        let schema = serde_json::to_value(schemars::schema_for!(T)).expect("a JSON schema");
        let mut values = Vec::new();
        collect(&schema, &mut values);
        assert!(!values.is_empty(), "no values in {schema}");
        values
    }

    fn assert_names_every_value(properties: &Map<String, Value>, field: &str, values: &[String]) {
        let description = properties[field]["description"]
            .as_str()
            .unwrap_or_default();
        for value in values {
            assert!(
                description.contains(&format!("`{value}`")),
                "the description of {field} does not name `{value}`: {description}"
            );
        }
    }

    #[test]
    fn the_documented_release_fields_are_the_editable_ones_with_the_contracts_values() {
        let fields = properties::<ReleaseFieldsDoc>();
        let mut documented: Vec<&str> = fields.keys().map(String::as_str).collect();
        let mut editable = EDITABLE_FIELDS.to_vec();
        documented.sort_unstable();
        editable.sort_unstable();
        assert_eq!(documented, editable);

        assert_names_every_value(&fields, "kind", &contract_values::<ReleaseKind>());
        assert_names_every_value(&fields, "status", &contract_values::<ReleaseStatus>());
        assert_names_every_value(&fields, "age_rating", &contract_values::<AgeRating>());
        let title = properties::<TitleDoc>();
        assert_names_every_value(&title, "language", &contract_values::<TitleLanguage>());
        assert_names_every_value(&title, "kind", &contract_values::<TitleKind>());
        let season = properties::<AiringSeasonDoc>();
        assert_names_every_value(&season, "season", &contract_values::<YearSeason>());
    }
}
