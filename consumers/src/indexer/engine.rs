//! The search engine calls of the indexer: creating a versioned index from the
//! checked-in mapping, pointing the alias at it, and bulk writes with external
//! versioning. Only API common to Elasticsearch 8/9 and OpenSearch 2/3 is used.

use elasticsearch::{
    BulkParts, Elasticsearch,
    http::{
        Method, StatusCode,
        headers::{ACCEPT_ENCODING, HeaderMap, HeaderValue},
        request::JsonBody,
        transport::{SingleNodeConnectionPool, TransportBuilder},
    },
    indices::{IndicesCreateParts, IndicesDeleteParts, IndicesGetAliasParts, IndicesRefreshParts},
};
use serde_json::{Value, json};

/// The mapping and analyzers, checked in next to the code that relies on them.
pub const MAPPING: &str = include_str!("../../search/releases.json");

/// Why a call to the search engine failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The engine could not be reached or answered 5xx/429: worth waiting for.
    #[error("search engine unavailable: {0}")]
    Unavailable(String),
    /// The engine rejected the request.
    #[error("search engine rejected the request: {0}")]
    Rejected(String),
}

impl From<elasticsearch::Error> for EngineError {
    fn from(error: elasticsearch::Error) -> Self {
        Self::Unavailable(error.to_string())
    }
}

/// One bulk write.
pub enum BulkWrite {
    /// Index `document` as `id` at external `version`.
    Index {
        id: String,
        version: i64,
        document: Value,
    },
}

impl BulkWrite {
    /// The document id.
    pub fn id(&self) -> &str {
        match self {
            Self::Index { id, .. } => id,
        }
    }

    /// The external version written.
    pub fn version(&self) -> i64 {
        match self {
            Self::Index { version, .. } => *version,
        }
    }
}

/// A client bound to one deployment's index names.
#[derive(Clone)]
pub struct Engine {
    client: Elasticsearch,
    alias: String,
}

impl Engine {
    /// A client for `url` writing through `alias`.
    pub fn new(url: &str, alias: String) -> Result<Self, EngineError> {
        let url = url
            .parse()
            .map_err(|error| EngineError::Rejected(format!("search url: {error}")))?;
        // No compressed answers: they cross loopback or a LAN.
        let transport = TransportBuilder::new(SingleNodeConnectionPool::new(url))
            .header(ACCEPT_ENCODING, HeaderValue::from_static("identity"))
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|error| EngineError::Rejected(format!("search client: {error}")))?;
        Ok(Self {
            client: Elasticsearch::new(transport),
            alias,
        })
    }

    /// The alias name.
    pub fn alias(&self) -> &str {
        &self.alias
    }

    /// The name of version `version` of the index.
    pub fn index_name(&self, version: u32) -> String {
        format!("{}-v{version}", self.alias)
    }

    /// The indexes the alias points at now (none before the first start).
    pub async fn alias_targets(&self) -> Result<Vec<String>, EngineError> {
        let response = self
            .client
            .indices()
            .get_alias(IndicesGetAliasParts::Name(&[&self.alias]))
            .allow_no_indices(true)
            .send()
            .await?;
        if response.status_code() == StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        let body: Value = checked(response).await?;
        Ok(body
            .as_object()
            .map(|indexes| indexes.keys().cloned().collect())
            .unwrap_or_default())
    }

    /// Creates index `name` with the checked-in mapping; an existing index is kept.
    pub async fn create_index(&self, name: &str) -> Result<(), EngineError> {
        let mapping: Value = serde_json::from_str(MAPPING)
            .map_err(|error| EngineError::Rejected(format!("mapping file: {error}")))?;
        let response = self
            .client
            .indices()
            .create(IndicesCreateParts::Index(name))
            .body(mapping)
            .send()
            .await?;
        if response.status_code() == StatusCode::BAD_REQUEST {
            let body: Value = response.json().await?;
            let kind = body["error"]["type"].as_str().unwrap_or_default();
            if kind == "resource_already_exists_exception" {
                return Ok(());
            }
            return Err(EngineError::Rejected(body["error"].to_string()));
        }
        checked(response).await.map(drop)
    }

    /// Points the alias at `index` only, in one atomic `_aliases` call.
    pub async fn swap_alias(&self, index: &str, previous: &[String]) -> Result<(), EngineError> {
        let mut actions: Vec<Value> = previous
            .iter()
            .filter(|old| old.as_str() != index)
            .map(|old| json!({ "remove": { "index": old, "alias": self.alias } }))
            .collect();
        actions.push(json!({ "add": { "index": index, "alias": self.alias } }));
        let response = self
            .client
            .send(
                Method::Post,
                "/_aliases",
                HeaderMap::new(),
                Option::<&()>::None,
                Some(JsonBody::new(json!({ "actions": actions }))),
                None,
            )
            .await?;
        checked(response).await.map(drop)
    }

    /// Makes everything written to `index` searchable now, rather than at the next
    /// periodic refresh; a reindex does this before it moves the alias.
    pub async fn refresh(&self, index: &str) -> Result<(), EngineError> {
        let response = self
            .client
            .indices()
            .refresh(IndicesRefreshParts::Index(&[index]))
            .send()
            .await?;
        checked(response).await.map(drop)
    }

    /// Deletes an index that is no longer behind the alias.
    pub async fn delete_index(&self, index: &str) -> Result<(), EngineError> {
        let response = self
            .client
            .indices()
            .delete(IndicesDeleteParts::Index(&[index]))
            .send()
            .await?;
        checked(response).await.map(drop)
    }

    /// Makes the alias exist: on the first start, creates version `version` of the
    /// index and points the alias at it.
    pub async fn ensure_alias(&self, version: u32) -> Result<(), EngineError> {
        if !self.alias_targets().await?.is_empty() {
            return Ok(());
        }
        let index = self.index_name(version);
        self.create_index(&index).await?;
        self.swap_alias(&index, &[]).await?;
        tracing::info!(search.index = %index, search.alias = %self.alias, "search index created");
        Ok(())
    }

    /// Writes `writes` to `index` in one bulk request. A version conflict means the
    /// index already holds a newer (or the same) version: success for an idempotent
    /// writer. Returns how many documents changed.
    pub async fn bulk(&self, index: &str, writes: Vec<BulkWrite>) -> Result<usize, EngineError> {
        if writes.is_empty() {
            return Ok(0);
        }
        let mut body: Vec<JsonBody<Value>> = Vec::with_capacity(writes.len() * 2);
        for write in writes {
            match write {
                BulkWrite::Index {
                    id,
                    version,
                    document,
                } => {
                    body.push(JsonBody::new(json!({ "index": {
                        "_id": id, "version": version, "version_type": "external"
                    } })));
                    body.push(JsonBody::new(document));
                }
            }
        }
        let response = self
            .client
            .bulk(BulkParts::Index(index))
            .body(body)
            .send()
            .await?;
        let answer: Value = checked(response).await?;
        let mut changed = 0;
        for item in answer["items"].as_array().into_iter().flatten() {
            let result = &item["index"];
            match result["status"].as_u64().unwrap_or_default() {
                200 | 201 => changed += 1,
                409 => {}
                429 | 500..=599 => {
                    return Err(EngineError::Unavailable(result["error"].to_string()));
                }
                _ => return Err(EngineError::Rejected(result["error"].to_string())),
            }
        }
        Ok(changed)
    }
}

async fn checked(response: elasticsearch::http::response::Response) -> Result<Value, EngineError> {
    let status = response.status_code();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(body);
    }
    let detail = format!("{status}: {}", body["error"]);
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        Err(EngineError::Unavailable(detail))
    } else {
        Err(EngineError::Rejected(detail))
    }
}
