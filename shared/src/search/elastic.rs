//! The Elasticsearch adapter: a versioned index (`<alias>-v<n>`) behind an alias, an explicit
//! mapping, bulk writes with external versions and backoff on 429/5xx, and
//! organization-filtered queries with highlights.

use std::time::Duration;

use async_trait::async_trait;
use elasticsearch::auth::Credentials;
use elasticsearch::http::headers::HeaderMap;
use elasticsearch::http::request::JsonBody;
use elasticsearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};
use elasticsearch::http::{Method, Url};
use elasticsearch::{BulkParts, Elasticsearch, SearchParts};
use serde_json::{json, Value};

use super::{
    document_id, IndexDocuments, IndexInventory, IndexedDocument, Removal, SearchError, SearchFiles, SearchPage,
    SearchQuery, Upsert,
};
use crate::config::{ConfigError, SearchSettings};
use crate::keys::FileKey;

/// Attempts of a bulk request whose items the server throttled or failed.
const ATTEMPTS: u32 = 4;

/// The index mapping: keyword organization, owner and type; the file name as text, keyword and
/// its words with their prefixes indexed (a `prefix*` query on names reads one term, not every
/// term it expands to); text content; date; size. Text fields use `analyzer`
/// (`ELASTICSEARCH_ANALYZER`).
pub fn mapping(analyzer: &str) -> Value {
    json!({
        "settings": { "number_of_shards": 1 },
        "mappings": {
            "dynamic": "strict",
            "properties": {
                "file_id": { "type": "keyword" },
                "file_key": { "type": "keyword" },
                "organization_id": { "type": "keyword" },
                "uploaded_by": { "type": "keyword" },
                "original_filename": {
                    "type": "text",
                    "analyzer": analyzer,
                    "fields": { "keyword": { "type": "keyword", "ignore_above": 512 } }
                },
                "filename_words": {
                    "type": "text",
                    "analyzer": analyzer,
                    "index_prefixes": { "min_chars": 1, "max_chars": 10 }
                },
                "content_type": { "type": "keyword" },
                "size": { "type": "long" },
                "created_at": { "type": "date" },
                "content": { "type": "text", "analyzer": analyzer },
                "extraction": { "type": "keyword" }
            }
        }
    })
}

/// [`SearchIndex`] on Elasticsearch (or an OpenSearch-compatible server).
#[derive(Clone)]
pub struct ElasticIndex {
    client: Elasticsearch,
    alias: String,
    /// Where writes go: the alias, or a fresh index while it is being rebuilt.
    target: String,
    /// The analyzer of new indexes' text fields.
    analyzer: String,
}

impl std::fmt::Debug for ElasticIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ElasticIndex").field("alias", &self.alias).field("target", &self.target).finish()
    }
}

fn unavailable(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> SearchError {
    SearchError::Unavailable(e.into())
}

fn backend(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> SearchError {
    SearchError::Backend(e.into())
}

impl ElasticIndex {
    /// A client for `ELASTICSEARCH_URL` with the configured credentials. Connects lazily.
    ///
    /// # Errors
    /// A [`ConfigError`] when the URL is missing or the client cannot be built.
    pub fn from_settings(settings: &SearchSettings) -> Result<Self, ConfigError> {
        let raw = settings
            .elasticsearch_url
            .as_deref()
            .ok_or_else(|| ConfigError::new("ELASTICSEARCH_URL", "is required for Elasticsearch"))?;
        let url = Url::parse(raw).map_err(|e| ConfigError::new("ELASTICSEARCH_URL", e.to_string()))?;
        let mut builder =
            TransportBuilder::new(SingleNodeConnectionPool::new(url)).timeout(Duration::from_secs(10)).disable_proxy();
        if let Some(key) = &settings.api_key {
            builder = builder.auth(Credentials::EncodedApiKey(key.expose().to_owned()));
        } else if let Some((user, password)) = &settings.basic {
            builder = builder.auth(Credentials::Basic(user.clone(), password.expose().to_owned()));
        }
        let transport = builder.build().map_err(|e| ConfigError::new("ELASTICSEARCH_URL", e.to_string()))?;
        Ok(Self {
            client: Elasticsearch::new(transport),
            alias: settings.index.clone(),
            target: settings.index.clone(),
            analyzer: settings.analyzer.clone(),
        })
    }

    /// The alias searched and written.
    pub fn alias(&self) -> &str {
        &self.alias
    }

    /// The same client writing to `index` instead of the alias (while rebuilding).
    pub fn writing_to(&self, index: &str) -> Self {
        Self { target: index.to_owned(), ..self.clone() }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<(u16, Value), SearchError> {
        let response = self
            .client
            .send(method, path, HeaderMap::new(), Option::<&()>::None, body.map(JsonBody::new), None)
            .await
            .map_err(unavailable)?;
        let status = response.status_code().as_u16();
        let value = response.json::<Value>().await.unwrap_or(Value::Null);
        if status == 429 || status >= 500 {
            return Err(unavailable(format!("{path} answered {status}")));
        }
        Ok((status, value))
    }

    /// The indexes the alias points at.
    ///
    /// # Errors
    /// `Unavailable` or `Backend`.
    pub async fn aliased_indexes(&self) -> Result<Vec<String>, SearchError> {
        let (status, body) = self.call(Method::Get, &format!("/_alias/{}", self.alias), None).await?;
        match status {
            404 => Ok(Vec::new()),
            200 => Ok(body.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()),
            other => Err(backend(format!("reading alias {} answered {other}: {body}", self.alias))),
        }
    }

    /// Creates `index` with the mapping.
    ///
    /// # Errors
    /// `Unavailable` or `Backend` (e.g. the index exists).
    pub async fn create_index(&self, index: &str) -> Result<(), SearchError> {
        let (status, body) = self.call(Method::Put, &format!("/{index}"), Some(mapping(&self.analyzer))).await?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(backend(format!("creating {index} answered {status}: {body}")))
        }
    }

    /// Creates `<alias>-v1` behind the alias unless the alias exists; `true` when it created it.
    /// Safe to repeat.
    ///
    /// # Errors
    /// `Unavailable` or `Backend`.
    pub async fn ensure_index(&self) -> Result<bool, SearchError> {
        if !self.aliased_indexes().await?.is_empty() {
            return Ok(false);
        }
        let index = format!("{}-v1", self.alias);
        self.create_index(&index).await?;
        self.point_alias_at(&index).await?;
        Ok(true)
    }

    /// Points the alias at `index` alone, atomically, and deletes the indexes it left.
    ///
    /// # Errors
    /// `Unavailable` or `Backend`.
    pub async fn point_alias_at(&self, index: &str) -> Result<(), SearchError> {
        let old = self.aliased_indexes().await?;
        let mut actions: Vec<Value> =
            old.iter().map(|i| json!({ "remove": { "index": i, "alias": self.alias } })).collect();
        actions.push(json!({ "add": { "index": index, "alias": self.alias } }));
        let (status, body) = self.call(Method::Post, "/_aliases", Some(json!({ "actions": actions }))).await?;
        if !(200..300).contains(&status) {
            return Err(backend(format!("moving alias {} answered {status}: {body}", self.alias)));
        }
        for stale in old.iter().filter(|i| i.as_str() != index) {
            let (status, body) = self.call(Method::Delete, &format!("/{stale}"), None).await?;
            if !(200..300).contains(&status) && status != 404 {
                return Err(backend(format!("deleting {stale} answered {status}: {body}")));
            }
        }
        Ok(())
    }

    /// Makes recent writes visible to search (tests, tools).
    ///
    /// # Errors
    /// `Unavailable` or `Backend`.
    pub async fn refresh(&self) -> Result<(), SearchError> {
        self.call(Method::Post, &format!("/{}/_refresh", self.target), None).await.map(|_| ())
    }

    async fn bulk_once(&self, lines: Vec<JsonBody<Value>>) -> Result<Vec<(usize, u16, Value)>, SearchError> {
        let response =
            self.client.bulk(BulkParts::Index(&self.target)).body(lines).send().await.map_err(unavailable)?;
        let status = response.status_code().as_u16();
        if status == 429 || status >= 500 {
            return Err(unavailable(format!("bulk answered {status}")));
        }
        let body: Value = response.json().await.map_err(unavailable)?;
        if !(200..300).contains(&status) {
            return Err(backend(format!("bulk answered {status}: {body}")));
        }
        let items = body["items"].as_array().cloned().unwrap_or_default();
        Ok(items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let result = item.as_object().and_then(|o| o.values().next()).cloned().unwrap_or(Value::Null);
                let status = result["status"].as_u64().and_then(|s| u16::try_from(s).ok()).unwrap_or(500);
                (i, status, result)
            })
            .collect())
    }
}

/// One bulk operation: its action line and optional source line.
fn operation(upserts: &[Upsert], removals: &[Removal], i: usize) -> Vec<JsonBody<Value>> {
    if let Some(upsert) = upserts.get(i) {
        let id = document_id(&upsert.document.file.file_key);
        let action = json!({ "index": { "_id": id, "version": upsert.version, "version_type": "external" } });
        let source = serde_json::to_value(&upsert.document).unwrap_or(Value::Null);
        vec![JsonBody::new(action), JsonBody::new(source)]
    } else {
        let removal = &removals[i - upserts.len()];
        let action = json!({
            "delete": { "_id": document_id(&removal.file_key), "version": removal.version, "version_type": "external" }
        });
        vec![JsonBody::new(action)]
    }
}

#[async_trait]
impl IndexDocuments for ElasticIndex {
    #[tracing::instrument(skip_all, fields(upserts = upserts.len(), removals = removals.len()))]
    async fn write(&self, upserts: &[Upsert], removals: &[Removal]) -> Result<(), SearchError> {
        let mut pending: Vec<usize> = (0..upserts.len() + removals.len()).collect();
        let mut delay = Duration::from_millis(100);
        for attempt in 1..=ATTEMPTS {
            if pending.is_empty() {
                return Ok(());
            }
            let lines: Vec<JsonBody<Value>> = pending.iter().flat_map(|&i| operation(upserts, removals, i)).collect();
            let outcome = self.bulk_once(lines).await;
            let mut retry = Vec::new();
            match outcome {
                Ok(items) => {
                    for (position, status, result) in items {
                        let Some(&i) = pending.get(position) else { continue };
                        match status {
                            // Written, or a removal of nothing, or older than what is indexed.
                            200..=299 | 404 | 409 => {}
                            429 | 500..=599 => retry.push(i),
                            _ => return Err(backend(format!("bulk item refused ({status}): {result}"))),
                        }
                    }
                }
                Err(SearchError::Unavailable(e)) if attempt < ATTEMPTS => {
                    tracing::warn!(attempt, error = %e, "bulk request failed; backing off");
                    retry = pending.clone();
                }
                Err(e) => return Err(e),
            }
            pending = retry;
            if !pending.is_empty() && attempt < ATTEMPTS {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
        if pending.is_empty() {
            Ok(())
        } else {
            Err(unavailable(format!("{} bulk items still throttled after {ATTEMPTS} attempts", pending.len())))
        }
    }
}

impl ElasticIndex {
    /// The documents a search for `body` finds, as keys and versions.
    async fn inventory(&self, mut body: Value) -> Result<Vec<IndexedDocument>, SearchError> {
        body["_source"] = json!(["file_key"]);
        body["version"] = json!(true);
        let (status, answer) = self.call(Method::Post, &format!("/{}/_search", self.alias), Some(body)).await?;
        match status {
            200..=299 => {}
            // No index yet: it holds nothing.
            404 => return Ok(Vec::new()),
            other => return Err(backend(format!("listing documents answered {other}: {answer}"))),
        }
        let hits = answer["hits"]["hits"].as_array().cloned().unwrap_or_default();
        Ok(hits
            .iter()
            .filter_map(|hit| {
                let file_key = FileKey::parse(hit["_source"]["file_key"].as_str()?).ok()?;
                Some(IndexedDocument { file_key, version: hit["_version"].as_i64()? })
            })
            .collect())
    }
}

#[async_trait]
impl IndexInventory for ElasticIndex {
    async fn documents_after(
        &self,
        after: Option<&FileKey>,
        limit: usize,
    ) -> Result<Vec<IndexedDocument>, SearchError> {
        let mut body = json!({ "query": { "match_all": {} }, "size": limit, "sort": [{ "file_key": "asc" }] });
        if let Some(after) = after {
            body["search_after"] = json!([after.as_str()]);
        }
        self.inventory(body).await
    }

    async fn documents_of(&self, keys: &[FileKey]) -> Result<Vec<IndexedDocument>, SearchError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<&str> = keys.iter().map(FileKey::as_str).collect();
        self.inventory(json!({ "query": { "terms": { "file_key": keys } }, "size": keys.len() })).await
    }
}

#[async_trait]
impl SearchFiles for ElasticIndex {
    #[tracing::instrument(skip_all, fields(org = %query.org_id))]
    async fn search(&self, query: &SearchQuery) -> Result<SearchPage, SearchError> {
        let response = self
            .client
            .search(SearchParts::Index(&[self.alias.as_str()]))
            .body(super::elastic_query::query_body(query))
            .send()
            .await
            .map_err(unavailable)?;
        let status = response.status_code().as_u16();
        let body: Value = response.json().await.map_err(unavailable)?;
        if status == 429 || status >= 500 {
            return Err(unavailable(format!("search answered {status}")));
        }
        if !(200..300).contains(&status) {
            return Err(backend(format!("search answered {status}: {body}")));
        }
        let hits =
            body["hits"]["hits"].as_array().map(|hits| hits.iter().filter_map(super::elastic_query::hit_of).collect());
        let total = body["hits"]["total"]["value"].as_u64().unwrap_or(0);
        Ok(SearchPage { hits: hits.unwrap_or_default(), total })
    }
}
