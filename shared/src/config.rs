//! One `Settings`, read once per cold start from the environment (or any lookup function, so
//! tests pass a map instead of mutating the process environment).
//!
//! Every name the service reads is listed in [`VARIABLES`]; `template.yaml` uses the same names.
//! A missing or malformed value is a [`ConfigError`] naming the variable.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::keys::ContentTypePolicy;

/// Every environment variable the service reads, in one place.
pub const VARIABLES: &[&str] = &[
    "FILE_STORAGE_BACKEND",
    "LOCAL_MEDIA_ROOT",
    "LOCAL_MEDIA_URL_PREFIX",
    "LOCAL_SIGNING_SECRET",
    "PUBLIC_BASE_URL",
    "DATABASE_URL",
    "DATABASE_POOL_SIZE",
    "DATABASE_TIMEOUT_SECONDS",
    "AUTH_MODE",
    "AUTH_LOCAL_JWT_SECRET",
    "AUTH_ORG_CLAIM",
    "UPLOAD_MAX_SIZE_BYTES",
    "UPLOAD_ALLOWED_CONTENT_TYPES",
    "AWS_S3_PRESIGNED_URL_EXPIRY_SECONDS",
    "DB_SECRET_ARN",
    "AWS_S3_BUCKET_NAME",
    "AWS_S3_REGION_NAME",
    "AWS_S3_ENDPOINT_URL",
    "AWS_S3_PUBLIC_ENDPOINT_URL",
    "AWS_S3_ADDRESSING_STYLE",
    "AWS_S3_SIGNATURE_VERSION",
    "AWS_S3_FILE_OVERWRITE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "ELASTICSEARCH_URL",
    "ELASTICSEARCH_INDEX",
    "ELASTICSEARCH_API_KEY",
    "ELASTICSEARCH_USERNAME",
    "ELASTICSEARCH_PASSWORD",
    "EXTRACT_MAX_BYTES",
    "EXTRACT_MAX_CHARS",
    "EXTRACT_TIMEOUT_SECONDS",
    "EXTRACT_MAX_MEMORY_BYTES",
    "EXTRACT_PROGRAM",
    "INDEXER_CONCURRENCY",
];

/// Variables that only make sense on a developer's machine or in tests; a deployment never sets
/// them (the cloud uses S3, the API Gateway authorizer, and `DB_SECRET_ARN`).
pub const LOCAL_ONLY_VARIABLES: &[&str] = &[
    "LOCAL_MEDIA_ROOT",
    "LOCAL_MEDIA_URL_PREFIX",
    "LOCAL_SIGNING_SECRET",
    "PUBLIC_BASE_URL",
    "AUTH_LOCAL_JWT_SECRET",
    "DATABASE_URL",
    "AWS_S3_ENDPOINT_URL",
    "AWS_S3_PUBLIC_ENDPOINT_URL",
    "EXTRACT_PROGRAM",
];

/// Variables the Lambda runtime sets itself (the execution role's temporary credentials); a
/// template must not set them.
pub const RUNTIME_PROVIDED_VARIABLES: &[&str] = &["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"];

/// The largest request body a Lambda function receives (API Gateway's 6 MB payload limit).
pub const LAMBDA_MAX_BODY_BYTES: u64 = 6 * 1024 * 1024;

/// A configuration value that is missing or malformed.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {variable}: {reason}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(variable: &'static str, reason: impl Into<String>) -> Self {
        Self { variable, reason: reason.into() }
    }
}

/// A value that must never reach a log: `Debug` prints `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is used, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where file bytes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageBackendKind {
    /// The local filesystem under `LOCAL_MEDIA_ROOT` (development).
    Local,
    /// Amazon S3 or an S3-compatible server.
    S3,
}

impl StorageBackendKind {
    /// The name stored in `stored_files.storage_backend`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::S3 => "s3",
        }
    }
}

/// How callers are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Claims from the API Gateway HTTP API JWT authorizer (the request context).
    ApiGateway,
    /// `Authorization: Bearer <JWT>` verified with HS256 and `AUTH_LOCAL_JWT_SECRET`.
    LocalJwt,
}

/// Settings for the local filesystem backend.
#[derive(Debug, Clone)]
pub struct LocalStorageSettings {
    /// `LOCAL_MEDIA_ROOT`: the folder that holds every object.
    pub media_root: PathBuf,
    /// `LOCAL_MEDIA_URL_PREFIX`: the path under which `local-media` serves signed URLs.
    pub url_prefix: String,
    /// `LOCAL_SIGNING_SECRET`: HMAC key of the signed local URLs (at least 32 bytes).
    pub signing_secret: Secret,
}

/// Authentication settings.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// `AUTH_MODE`.
    pub mode: AuthMode,
    /// `AUTH_LOCAL_JWT_SECRET`, required with `local-jwt`.
    pub local_jwt_secret: Option<Secret>,
    /// `AUTH_ORG_CLAIM`: the claim holding the caller's organization.
    pub org_claim: String,
}

/// How S3 URLs name the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressingStyle {
    /// Virtual-hosted on AWS, path-style on a custom endpoint.
    Auto,
    /// `https://bucket.s3.region.amazonaws.com/key`.
    Virtual,
    /// `https://s3.region.amazonaws.com/bucket/key`.
    Path,
}

/// Settings for the S3 backend.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// `AWS_S3_BUCKET_NAME`.
    pub bucket: String,
    /// `AWS_S3_REGION_NAME`; `AWS_REGION` when unset (see `files_core::aws`).
    pub region: Option<String>,
    /// `AWS_S3_ENDPOINT_URL`: a custom endpoint (MinIO, LocalStack).
    pub endpoint_url: Option<String>,
    /// `AWS_S3_PUBLIC_ENDPOINT_URL`: the endpoint URLs handed to clients are signed for.
    pub public_endpoint_url: Option<String>,
    /// `AWS_S3_ADDRESSING_STYLE`: `auto`, `virtual` or `path`.
    pub addressing_style: AddressingStyle,
    /// `AWS_S3_FILE_OVERWRITE`: whether an upload may replace an existing object.
    pub file_overwrite: bool,
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, when given
    /// explicitly; otherwise the environment's, read when needed (see `files_core::aws`).
    pub credentials: Option<StaticCredentials>,
}

/// Explicit AWS credentials.
#[derive(Debug, Clone)]
pub struct StaticCredentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: Secret,
    /// Session token of temporary credentials.
    pub session_token: Option<Secret>,
}

/// Database settings.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `DATABASE_URL`; functions that use the database fail to start without it (or
    /// `DB_SECRET_ARN`).
    pub url: Option<Secret>,
    /// `DB_SECRET_ARN`: a Secrets Manager secret in the RDS JSON format; preferred over
    /// `DATABASE_URL` when both are set.
    pub secret_arn: Option<String>,
    /// `DATABASE_POOL_SIZE`: connections per instance (a Lambda instance serves one request at a time).
    pub pool_size: usize,
    /// `DATABASE_TIMEOUT_SECONDS`: connect and pool-wait timeout, after which the request gets 503.
    pub timeout: Duration,
}

/// Search and indexing settings.
#[derive(Debug, Clone)]
pub struct SearchSettings {
    /// `ELASTICSEARCH_URL`; without it search and indexing use PostgreSQL.
    pub elasticsearch_url: Option<String>,
    /// `ELASTICSEARCH_INDEX`: the alias searched and written (default `files`); the versioned
    /// indexes behind it are `<alias>-v<n>`.
    pub index: String,
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
    pub extract_program: Option<std::path::PathBuf>,
    /// `INDEXER_CONCURRENCY`: records of one batch processed at once.
    pub indexer_concurrency: usize,
}

/// Limits on what may be uploaded.
#[derive(Debug, Clone)]
pub struct UploadSettings {
    /// `UPLOAD_MAX_SIZE_BYTES`.
    pub max_size_bytes: u64,
    /// `UPLOAD_ALLOWED_CONTENT_TYPES`.
    pub allowed_content_types: ContentTypePolicy,
}

/// The whole configuration, read once per cold start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `FILE_STORAGE_BACKEND`.
    pub storage_backend: StorageBackendKind,
    /// Present when the backend is local.
    pub local: Option<LocalStorageSettings>,
    /// Present when the backend is S3.
    pub s3: Option<S3Settings>,
    /// `PUBLIC_BASE_URL`: scheme and host clients use to reach this service (no trailing slash).
    pub public_base_url: String,
    /// `AWS_S3_PRESIGNED_URL_EXPIRY_SECONDS`: lifetime of every signed URL (local ones too).
    pub presigned_url_expiry: Duration,
    /// Database settings.
    pub database: DatabaseSettings,
    /// Authentication settings.
    pub auth: AuthSettings,
    /// Upload limits.
    pub upload: UploadSettings,
    /// Search and indexing.
    pub search: SearchSettings,
}

impl Settings {
    /// Reads the process environment.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first variable that is missing or malformed.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings from a map (tests, tools).
    ///
    /// # Errors
    /// As [`Settings::from_env`].
    pub fn from_map(map: &HashMap<String, String>) -> Result<Self, ConfigError> {
        Self::from_lookup(|name| map.get(name).cloned())
    }

    /// Reads settings through `lookup`; an empty value counts as unset.
    ///
    /// # Errors
    /// As [`Settings::from_env`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| -> Option<String> {
            debug_assert!(VARIABLES.contains(&name), "{name} missing from VARIABLES");
            lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
        };

        let storage_backend = match get("FILE_STORAGE_BACKEND").as_deref() {
            None | Some("local") => StorageBackendKind::Local,
            Some("s3") => StorageBackendKind::S3,
            Some(other) => {
                return Err(ConfigError::new(
                    "FILE_STORAGE_BACKEND",
                    format!("expected `local` or `s3`, got `{other}`"),
                ))
            }
        };

        let url_prefix = parse_url_prefix(get("LOCAL_MEDIA_URL_PREFIX"))?;
        let local = match storage_backend {
            StorageBackendKind::Local => {
                let media_root = get("LOCAL_MEDIA_ROOT").map(PathBuf::from).ok_or_else(|| {
                    ConfigError::new("LOCAL_MEDIA_ROOT", "is required when FILE_STORAGE_BACKEND=local")
                })?;
                let signing_secret = get("LOCAL_SIGNING_SECRET").ok_or_else(|| {
                    ConfigError::new("LOCAL_SIGNING_SECRET", "is required when FILE_STORAGE_BACKEND=local")
                })?;
                if signing_secret.len() < 32 {
                    return Err(ConfigError::new("LOCAL_SIGNING_SECRET", "must be at least 32 bytes long"));
                }
                Some(LocalStorageSettings { media_root, url_prefix, signing_secret: Secret::new(signing_secret) })
            }
            StorageBackendKind::S3 => None,
        };

        let s3 = match storage_backend {
            StorageBackendKind::S3 => Some(parse_s3(&get)?),
            StorageBackendKind::Local => None,
        };

        let public_base_url = parse_base_url(get("PUBLIC_BASE_URL"))?;
        let expiry_seconds: u64 = parse_number(&get, "AWS_S3_PRESIGNED_URL_EXPIRY_SECONDS", 3600)?;
        // S3 refuses SigV4 pre-signed URLs valid for more than seven days; local URLs follow suit.
        if !(1..=604_800).contains(&expiry_seconds) {
            return Err(ConfigError::new(
                "AWS_S3_PRESIGNED_URL_EXPIRY_SECONDS",
                "must be between 1 and 604800 (seven days)",
            ));
        }

        let database = DatabaseSettings {
            url: get("DATABASE_URL").map(Secret::new),
            secret_arn: get("DB_SECRET_ARN"),
            pool_size: parse_number(&get, "DATABASE_POOL_SIZE", 2)?,
            timeout: Duration::from_secs(parse_number(&get, "DATABASE_TIMEOUT_SECONDS", 5)?),
        };
        if database.pool_size == 0 {
            return Err(ConfigError::new("DATABASE_POOL_SIZE", "must be at least 1"));
        }

        let mode = match get("AUTH_MODE").as_deref() {
            None | Some("apigateway") => AuthMode::ApiGateway,
            Some("local-jwt") => AuthMode::LocalJwt,
            Some(other) => {
                return Err(ConfigError::new(
                    "AUTH_MODE",
                    format!("expected `apigateway` or `local-jwt`, got `{other}`"),
                ))
            }
        };
        let local_jwt_secret = get("AUTH_LOCAL_JWT_SECRET").map(Secret::new);
        if mode == AuthMode::LocalJwt {
            match &local_jwt_secret {
                None => return Err(ConfigError::new("AUTH_LOCAL_JWT_SECRET", "is required when AUTH_MODE=local-jwt")),
                Some(s) if s.expose().len() < 32 => {
                    return Err(ConfigError::new("AUTH_LOCAL_JWT_SECRET", "must be at least 32 bytes long"))
                }
                Some(_) => {}
            }
        }
        let org_claim = get("AUTH_ORG_CLAIM").unwrap_or_else(|| "org_id".to_owned());

        let max_size_bytes: u64 = parse_number(&get, "UPLOAD_MAX_SIZE_BYTES", 100 * 1024 * 1024)?;
        if max_size_bytes == 0 {
            return Err(ConfigError::new("UPLOAD_MAX_SIZE_BYTES", "must be at least 1"));
        }
        let allowed_content_types = ContentTypePolicy::parse(&get("UPLOAD_ALLOWED_CONTENT_TYPES").unwrap_or_default())
            .map_err(|reason| ConfigError::new("UPLOAD_ALLOWED_CONTENT_TYPES", reason))?;

        let search = parse_search(&get)?;

        Ok(Self {
            search,
            storage_backend,
            local,
            s3,
            public_base_url,
            presigned_url_expiry: Duration::from_secs(expiry_seconds),
            database,
            auth: AuthSettings { mode, local_jwt_secret, org_claim },
            upload: UploadSettings { max_size_bytes, allowed_content_types },
        })
    }
}

fn parse_number<T: std::str::FromStr>(
    get: &impl Fn(&'static str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match get(name) {
        None => Ok(default),
        Some(raw) => raw
            .parse()
            .map_err(|_| ConfigError::new(name, format!("expected a non-negative whole number, got `{raw}`"))),
    }
}

fn parse_s3(get: &impl Fn(&'static str) -> Option<String>) -> Result<S3Settings, ConfigError> {
    let bucket = get("AWS_S3_BUCKET_NAME")
        .ok_or_else(|| ConfigError::new("AWS_S3_BUCKET_NAME", "is required when FILE_STORAGE_BACKEND=s3"))?;
    let valid_bucket = (3..=63).contains(&bucket.len())
        && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && bucket.as_bytes()[0].is_ascii_alphanumeric()
        && bucket.as_bytes()[bucket.len() - 1].is_ascii_alphanumeric();
    if !valid_bucket {
        return Err(ConfigError::new("AWS_S3_BUCKET_NAME", format!("`{bucket}` is not a valid bucket name")));
    }
    match get("AWS_S3_SIGNATURE_VERSION").as_deref() {
        None | Some("s3v4") => {}
        Some(other) => {
            return Err(ConfigError::new(
                "AWS_S3_SIGNATURE_VERSION",
                format!("only `s3v4` is supported (SigV2 is deprecated by AWS), got `{other}`"),
            ))
        }
    }
    let addressing_style = match get("AWS_S3_ADDRESSING_STYLE").as_deref() {
        None | Some("auto") => AddressingStyle::Auto,
        Some("virtual") => AddressingStyle::Virtual,
        Some("path") => AddressingStyle::Path,
        Some(other) => {
            return Err(ConfigError::new(
                "AWS_S3_ADDRESSING_STYLE",
                format!("expected `auto`, `virtual` or `path`, got `{other}`"),
            ))
        }
    };
    let file_overwrite = match get("AWS_S3_FILE_OVERWRITE").map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("false" | "0" | "no") => false,
        Some("true" | "1" | "yes") => true,
        Some(other) => {
            return Err(ConfigError::new("AWS_S3_FILE_OVERWRITE", format!("expected `true` or `false`, got `{other}`")))
        }
    };
    let endpoint = |name: &'static str| -> Result<Option<String>, ConfigError> {
        get(name)
            .map(|raw| {
                parse_base_url(Some(raw.clone()))
                    .map_err(|_| ConfigError::new(name, format!("expected an http(s) URL, got `{raw}`")))
            })
            .transpose()
    };
    let credentials = match (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
        (Some(access_key_id), Some(secret)) => Some(StaticCredentials {
            access_key_id,
            secret_access_key: Secret::new(secret),
            session_token: get("AWS_SESSION_TOKEN").map(Secret::new),
        }),
        (None, None) => None,
        (Some(_), None) => {
            return Err(ConfigError::new("AWS_SECRET_ACCESS_KEY", "is required when AWS_ACCESS_KEY_ID is set"))
        }
        (None, Some(_)) => {
            return Err(ConfigError::new("AWS_ACCESS_KEY_ID", "is required when AWS_SECRET_ACCESS_KEY is set"))
        }
    };
    Ok(S3Settings {
        bucket,
        region: get("AWS_S3_REGION_NAME"),
        endpoint_url: endpoint("AWS_S3_ENDPOINT_URL")?,
        public_endpoint_url: endpoint("AWS_S3_PUBLIC_ENDPOINT_URL")?,
        addressing_style,
        file_overwrite,
        credentials,
    })
}

impl SearchSettings {
    /// Only the search settings, from the process environment (for tools that need no more).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first malformed variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        parse_search(&|name| std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()))
    }
}

fn parse_search(get: &impl Fn(&'static str) -> Option<String>) -> Result<SearchSettings, ConfigError> {
    let elasticsearch_url = get("ELASTICSEARCH_URL")
        .map(|raw| {
            parse_base_url(Some(raw.clone()))
                .map_err(|_| ConfigError::new("ELASTICSEARCH_URL", format!("expected an http(s) URL, got `{raw}`")))
        })
        .transpose()?;
    let index = get("ELASTICSEARCH_INDEX").unwrap_or_else(|| "files".to_owned());
    let valid_index = !index.is_empty()
        && index.len() <= 200
        && !index.starts_with(['-', '_', '+'])
        && index.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    if !valid_index {
        return Err(ConfigError::new("ELASTICSEARCH_INDEX", format!("`{index}` is not a valid lower-case index name")));
    }
    let basic = match (get("ELASTICSEARCH_USERNAME"), get("ELASTICSEARCH_PASSWORD")) {
        (Some(user), Some(password)) => Some((user, Secret::new(password))),
        (None, None) => None,
        (Some(_), None) => {
            return Err(ConfigError::new("ELASTICSEARCH_PASSWORD", "is required when ELASTICSEARCH_USERNAME is set"))
        }
        (None, Some(_)) => {
            return Err(ConfigError::new("ELASTICSEARCH_USERNAME", "is required when ELASTICSEARCH_PASSWORD is set"))
        }
    };
    let settings = SearchSettings {
        elasticsearch_url,
        index,
        api_key: get("ELASTICSEARCH_API_KEY").map(Secret::new),
        basic,
        extract_max_bytes: parse_number(get, "EXTRACT_MAX_BYTES", 32 * 1024 * 1024)?,
        extract_max_chars: parse_number(get, "EXTRACT_MAX_CHARS", 100_000)?,
        extract_timeout: Duration::from_secs(parse_number(get, "EXTRACT_TIMEOUT_SECONDS", 30)?),
        extract_max_memory: parse_number(get, "EXTRACT_MAX_MEMORY_BYTES", 256 * 1024 * 1024)?,
        extract_program: get("EXTRACT_PROGRAM").filter(|p| !p.is_empty()).map(std::path::PathBuf::from),
        indexer_concurrency: parse_number(get, "INDEXER_CONCURRENCY", 8)?,
    };
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

fn parse_url_prefix(raw: Option<String>) -> Result<String, ConfigError> {
    let raw = raw.unwrap_or_else(|| "/media".to_owned());
    let trimmed = raw.trim_end_matches('/');
    let valid = trimmed.starts_with('/')
        && trimmed.len() > 1
        && trimmed.split('/').skip(1).all(|seg| {
            !seg.is_empty()
                && !seg.starts_with('.')
                && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        });
    if valid {
        Ok(trimmed.to_owned())
    } else {
        Err(ConfigError::new("LOCAL_MEDIA_URL_PREFIX", format!("expected a path such as `/media`, got `{raw}`")))
    }
}

fn parse_base_url(raw: Option<String>) -> Result<String, ConfigError> {
    let raw = raw.unwrap_or_else(|| "http://127.0.0.1:9000".to_owned());
    let trimmed = raw.trim_end_matches('/');
    let rest = trimmed.strip_prefix("http://").or_else(|| trimmed.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(['?', '#', ' ']) => Ok(trimmed.to_owned()),
        _ => Err(ConfigError::new(
            "PUBLIC_BASE_URL",
            format!("expected an http(s) URL such as `http://127.0.0.1:9000`, got `{raw}`"),
        )),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Settings from exactly these variables (also used by the other modules' tests).
    pub(crate) fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_map(&map)
    }

    /// The variables the local backend requires, and nothing else.
    pub(crate) const LOCAL: &[(&str, &str)] =
        &[("LOCAL_MEDIA_ROOT", "/tmp/media"), ("LOCAL_SIGNING_SECRET", "0123456789abcdef0123456789abcdef")];

    #[test]
    fn defaults_apply_when_only_the_required_local_values_are_set() {
        let s = settings(LOCAL).expect("valid");
        assert_eq!(s.storage_backend, StorageBackendKind::Local);
        assert_eq!(s.public_base_url, "http://127.0.0.1:9000");
        assert_eq!(s.local.as_ref().map(|l| l.url_prefix.as_str()), Some("/media"));
        assert_eq!(s.presigned_url_expiry, Duration::from_secs(3600));
        assert_eq!(s.auth.mode, AuthMode::ApiGateway);
        assert_eq!(s.auth.org_claim, "org_id");
        assert!(s.database.url.is_none());
    }

    #[test]
    fn a_missing_local_root_names_the_variable() {
        let err = settings(&[("LOCAL_SIGNING_SECRET", "0123456789abcdef0123456789abcdef")]).unwrap_err();
        assert_eq!(err.variable, "LOCAL_MEDIA_ROOT");
    }

    #[test]
    fn malformed_values_name_their_variable() {
        for (name, value) in [
            ("FILE_STORAGE_BACKEND", "ftp"),
            ("AUTH_MODE", "none"),
            ("UPLOAD_MAX_SIZE_BYTES", "-5"),
            ("UPLOAD_MAX_SIZE_BYTES", "lots"),
            ("AWS_S3_PRESIGNED_URL_EXPIRY_SECONDS", "0"),
            ("AWS_S3_PRESIGNED_URL_EXPIRY_SECONDS", "604801"),
            ("PUBLIC_BASE_URL", "ftp://x"),
            ("LOCAL_MEDIA_URL_PREFIX", "media"),
            ("LOCAL_MEDIA_URL_PREFIX", "/../x"),
            ("LOCAL_SIGNING_SECRET", "short"),
            ("UPLOAD_ALLOWED_CONTENT_TYPES", "image"),
        ] {
            let mut pairs = LOCAL.to_vec();
            pairs.retain(|(k, _)| *k != name);
            pairs.push((name, value));
            let err = settings(&pairs).expect_err(name);
            assert_eq!(err.variable, name, "{value}");
        }
    }

    #[test]
    fn the_s3_backend_needs_a_valid_bucket_and_only_signs_with_sigv4() {
        let s3 = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = vec![("FILE_STORAGE_BACKEND", "s3"), ("AWS_S3_BUCKET_NAME", "my-files")];
            pairs.extend_from_slice(extra);
            settings(&pairs)
        };
        let ok = s3(&[("AWS_S3_ADDRESSING_STYLE", "path"), ("AWS_S3_FILE_OVERWRITE", "true")]).unwrap();
        let s3_settings = ok.s3.unwrap();
        assert_eq!(s3_settings.addressing_style, AddressingStyle::Path);
        assert!(s3_settings.file_overwrite);
        assert!(ok.local.is_none());
        for (name, value) in [
            ("AWS_S3_SIGNATURE_VERSION", "s3"),
            ("AWS_S3_ADDRESSING_STYLE", "sideways"),
            ("AWS_S3_FILE_OVERWRITE", "maybe"),
            ("AWS_S3_ENDPOINT_URL", "localhost:9000"),
            ("AWS_S3_BUCKET_NAME", "Bad_Bucket"),
            ("AWS_ACCESS_KEY_ID", "AKIA"),
        ] {
            assert_eq!(
                s3(&[(name, value)]).unwrap_err().variable,
                if name == "AWS_ACCESS_KEY_ID" { "AWS_SECRET_ACCESS_KEY" } else { name }
            );
        }
        let mut missing = vec![("FILE_STORAGE_BACKEND", "s3")];
        missing.extend_from_slice(LOCAL);
        assert_eq!(settings(&missing).unwrap_err().variable, "AWS_S3_BUCKET_NAME");
    }

    #[test]
    fn every_classified_variable_is_a_known_one() {
        for name in LOCAL_ONLY_VARIABLES.iter().chain(RUNTIME_PROVIDED_VARIABLES) {
            assert!(VARIABLES.contains(name), "{name}");
        }
    }

    #[test]
    fn local_jwt_mode_requires_its_secret() {
        let mut pairs = LOCAL.to_vec();
        pairs.push(("AUTH_MODE", "local-jwt"));
        assert_eq!(settings(&pairs).unwrap_err().variable, "AUTH_LOCAL_JWT_SECRET");
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let mut pairs = LOCAL.to_vec();
        pairs.push(("DATABASE_URL", "postgres://u:hunter2@db/x"));
        let s = settings(&pairs).expect("valid");
        let printed = format!("{s:?}");
        assert!(!printed.contains("hunter2"));
        assert!(!printed.contains("0123456789abcdef"));
    }
}
