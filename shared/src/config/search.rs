//! The search and extraction section of [`super::Settings`].

use std::path::PathBuf;
use std::time::Duration;

use super::{parse_number, parse_url, ConfigError, Lookup, Secret};

/// Search and indexing settings.
#[derive(Debug, Clone)]
pub struct SearchSettings {
    /// `ELASTICSEARCH_URL`; without it search and indexing use PostgreSQL.
    pub elasticsearch_url: Option<String>,
    /// `ELASTICSEARCH_INDEX`: the alias searched and written (default `files`); the versioned
    /// indexes behind it are `<alias>-v<n>`.
    pub index: String,
    /// `ELASTICSEARCH_ANALYZER` (default `standard`): the analyzer of the file name and text
    /// fields in the mapping of new indexes (a built-in one: `english`, `german`, ...);
    /// `make reindex` brings existing documents to a changed one.
    pub analyzer: String,
    /// `ELASTICSEARCH_API_KEY` (base64 `id:key`), preferred over basic credentials.
    pub api_key: Option<Secret>,
    /// `ELASTICSEARCH_USERNAME` / `ELASTICSEARCH_PASSWORD`: basic credentials.
    pub basic: Option<(String, Secret)>,
    /// `EXTRACT_MAX_BYTES`: objects larger than this are indexed with metadata only.
    pub extract_max_bytes: u64,
    /// `EXTRACT_MAX_CHARS`: extracted text is cut at this many characters.
    pub extract_max_chars: usize,
    /// `EXTRACT_TIMEOUT_SECONDS`: a PDF whose text takes longer is indexed with metadata only.
    pub extract_timeout: Duration,
    /// `EXTRACT_MAX_MEMORY_BYTES`: the address space a PDF extraction may use.
    pub extract_max_memory: u64,
    /// `EXTRACT_PROGRAM`: the executable that extracts PDF text in a child process; by default
    /// the running one (every function that extracts serves it, see
    /// [`crate::search::extract::serve_if_asked`]). Tests and tools point it at `files-extract`.
    pub extract_program: Option<PathBuf>,
    /// `INDEXER_CONCURRENCY`: records of one batch processed at once.
    pub indexer_concurrency: usize,
    /// `INDEXER_QUEUE_URL`: the SQS queue the indexer reads, where the API functions send
    /// their committed outbox entries; without it (`make dev`) the outbox is polled.
    pub indexer_queue_url: Option<String>,
    /// `SEARCH_PG_TEXT_CONFIG` (default `simple`): the PostgreSQL text search configuration of
    /// the fallback's documents and queries (`english`, `german`, ...: stemming and stop words).
    pub pg_text_config: String,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` (MiB, set by Lambda): the function's memory, which the
    /// extractions it runs at once must fit in ([`SearchSettings::check_extraction_memory`]).
    pub function_memory_mib: Option<u64>,
}

impl SearchSettings {
    pub(super) fn parse(get: &impl Lookup) -> Result<Self, ConfigError> {
        let elasticsearch_url = get("ELASTICSEARCH_URL").map(|raw| parse_url(&raw, "ELASTICSEARCH_URL")).transpose()?;
        let index = get("ELASTICSEARCH_INDEX").unwrap_or_else(|| "files".to_owned());
        if !valid_index(&index) {
            return Err(ConfigError::new(
                "ELASTICSEARCH_INDEX",
                format!("`{index}` is not a valid lower-case index name"),
            ));
        }
        let settings = Self {
            elasticsearch_url,
            index,
            analyzer: get("ELASTICSEARCH_ANALYZER").unwrap_or_else(|| "standard".to_owned()),
            api_key: get("ELASTICSEARCH_API_KEY").map(Secret::new),
            basic: parse_basic(get)?,
            extract_max_bytes: parse_number(get, "EXTRACT_MAX_BYTES", 32 * 1024 * 1024)?,
            extract_max_chars: parse_number(get, "EXTRACT_MAX_CHARS", 100_000)?,
            extract_timeout: Duration::from_secs(parse_number(get, "EXTRACT_TIMEOUT_SECONDS", 30)?),
            extract_max_memory: parse_number(get, "EXTRACT_MAX_MEMORY_BYTES", 256 * 1024 * 1024)?,
            extract_program: get("EXTRACT_PROGRAM").map(PathBuf::from),
            indexer_concurrency: parse_number(get, "INDEXER_CONCURRENCY", 8)?,
            indexer_queue_url: get("INDEXER_QUEUE_URL").map(|raw| parse_url(&raw, "INDEXER_QUEUE_URL")).transpose()?,
            pg_text_config: get("SEARCH_PG_TEXT_CONFIG").unwrap_or_else(|| "simple".to_owned()),
            function_memory_mib: get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
                .map(|_| parse_number(get, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", 0))
                .transpose()?,
        };
        if !language_name(&settings.pg_text_config) {
            return Err(ConfigError::new(
                "SEARCH_PG_TEXT_CONFIG",
                "must name a PostgreSQL text search configuration (lower-case letters and _, e.g. simple, english)",
            ));
        }
        if !language_name(&settings.analyzer) {
            return Err(ConfigError::new(
                "ELASTICSEARCH_ANALYZER",
                "must name a built-in Elasticsearch analyzer (lower-case letters and _, e.g. standard, german)",
            ));
        }
        if settings.extract_timeout.is_zero() {
            return Err(ConfigError::new("EXTRACT_TIMEOUT_SECONDS", "must be at least 1"));
        }
        if settings.extract_max_memory < 16 * 1024 * 1024 {
            return Err(ConfigError::new("EXTRACT_MAX_MEMORY_BYTES", "must be at least 16 MiB (16777216)"));
        }
        if settings.indexer_concurrency == 0 {
            return Err(ConfigError::new("INDEXER_CONCURRENCY", "must be at least 1"));
        }
        Ok(settings)
    }
}

/// Whether `name` can name a text search configuration or an analyzer: 1 to 63 lower-case
/// letters and `_` (what the template's parameters allow too).
fn language_name(name: &str) -> bool {
    (1..=63).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

impl SearchSettings {
    /// Whether `at_once` extractions, each allowed `EXTRACT_MAX_MEMORY_BYTES` of address space,
    /// fit in the function's memory (when Lambda says what it is). Checked at start-up by the
    /// functions that extract: the indexer runs `INDEXER_CONCURRENCY` at once, the API
    /// functions one.
    ///
    /// # Errors
    /// A [`ConfigError`] naming `EXTRACT_MAX_MEMORY_BYTES` when they do not fit.
    pub fn check_extraction_memory(&self, at_once: usize) -> Result<(), ConfigError> {
        let Some(mib) = self.function_memory_mib else { return Ok(()) };
        let needed = u64::try_from(at_once).unwrap_or(u64::MAX).saturating_mul(self.extract_max_memory);
        if needed > mib.saturating_mul(1024 * 1024) {
            return Err(ConfigError::new(
                "EXTRACT_MAX_MEMORY_BYTES",
                format!(
                    "{at_once} extraction(s) at once of up to {} bytes each exceed the function's {mib} MiB \
                     (AWS_LAMBDA_FUNCTION_MEMORY_SIZE): lower EXTRACT_MAX_MEMORY_BYTES or INDEXER_CONCURRENCY",
                    self.extract_max_memory
                ),
            ));
        }
        Ok(())
    }
}

fn valid_index(index: &str) -> bool {
    !index.is_empty()
        && index.len() <= 200
        && !index.starts_with(['-', '_', '+'])
        && index.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
}

fn parse_basic(get: &impl Lookup) -> Result<Option<(String, Secret)>, ConfigError> {
    match (get("ELASTICSEARCH_USERNAME"), get("ELASTICSEARCH_PASSWORD")) {
        (Some(user), Some(password)) => Ok(Some((user, Secret::new(password)))),
        (None, None) => Ok(None),
        (Some(_), None) => {
            Err(ConfigError::new("ELASTICSEARCH_PASSWORD", "is required when ELASTICSEARCH_USERNAME is set"))
        }
        (None, Some(_)) => {
            Err(ConfigError::new("ELASTICSEARCH_USERNAME", "is required when ELASTICSEARCH_PASSWORD is set"))
        }
    }
}
