//! One `Settings`, read once per cold start from the environment (or any lookup function, so
//! tests pass a map instead of mutating the process environment).
//!
//! Every name the service reads is listed in [`VARIABLES`]; `template.yaml` uses the same names.
//! A missing or malformed value is a [`ConfigError`] naming the variable. Choices are enums
//! that carry their own settings (the storage backend, the auth mode, where the database
//! credentials come from), so whatever a builder is handed is already complete.

mod database;
mod search;
mod sections;

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

pub use database::{DatabaseSettings, DatabaseSource, DatabaseTls, RootCerts, SslMode};
pub use search::SearchSettings;
pub use sections::*;

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
    "DATABASE_SSL_MODE",
    "DATABASE_SSL_ROOT_CERT",
    "AUTH_MODE",
    "AUTH_LOCAL_JWT_SECRET",
    "AUTH_ORG_CLAIM",
    "UPLOAD_MAX_SIZE_BYTES",
    "UPLOAD_ALLOWED_CONTENT_TYPES",
    "UPLOAD_PENDING_TTL_SECONDS",
    "UPLOAD_ORPHAN_GRACE_SECONDS",
    "UPLOAD_MULTIPART_ABOVE_BYTES",
    "SEARCH_PG_TEXT_CONFIG",
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
    "ELASTICSEARCH_ANALYZER",
    "ELASTICSEARCH_API_KEY",
    "ELASTICSEARCH_USERNAME",
    "ELASTICSEARCH_PASSWORD",
    "EXTRACT_MAX_BYTES",
    "EXTRACT_MAX_CHARS",
    "EXTRACT_TIMEOUT_SECONDS",
    "EXTRACT_MAX_MEMORY_BYTES",
    "EXTRACT_PROGRAM",
    "INDEXER_CONCURRENCY",
    "INDEXER_QUEUE_URL",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
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

/// Variables the Lambda runtime sets itself (the execution role's temporary credentials, the
/// function's memory); a template must not set them.
pub const RUNTIME_PROVIDED_VARIABLES: &[&str] =
    &["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"];

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
    pub fn new(variable: &'static str, reason: impl Into<String>) -> Self {
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

/// The whole configuration, read once per cold start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `FILE_STORAGE_BACKEND` and that backend's settings.
    pub storage: StorageSettings,
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

/// How settings are read: the value of a variable, trimmed, `None` when unset or empty.
pub(crate) trait Lookup: Fn(&'static str) -> Option<String> {}
impl<F: Fn(&'static str) -> Option<String>> Lookup for F {}

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
        let expiry_seconds: u64 = parse_number(&get, "AWS_S3_PRESIGNED_URL_EXPIRY_SECONDS", 3600)?;
        // S3 refuses SigV4 pre-signed URLs valid for more than seven days; local URLs follow suit.
        if !(1..=604_800).contains(&expiry_seconds) {
            return Err(ConfigError::new(
                "AWS_S3_PRESIGNED_URL_EXPIRY_SECONDS",
                "must be between 1 and 604800 (seven days)",
            ));
        }
        Ok(Self {
            storage: StorageSettings::parse(&get)?,
            presigned_url_expiry: Duration::from_secs(expiry_seconds),
            database: DatabaseSettings::parse(&get)?,
            auth: AuthSettings::parse(&get)?,
            upload: UploadSettings::parse(&get)?,
            search: SearchSettings::parse(&get)?,
        })
    }
}

impl SearchSettings {
    /// Only the search settings, from the process environment (for tools that need no more).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first malformed variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::parse(&|name: &'static str| {
            std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
        })
    }
}

pub(crate) fn parse_number<T: std::str::FromStr>(
    get: &impl Lookup,
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

/// One of `choices` (the first is the default when unset), or an error naming them.
pub(crate) fn parse_choice<T: Copy>(
    get: &impl Lookup,
    name: &'static str,
    choices: &[(&str, T)],
) -> Result<T, ConfigError> {
    let raw = get(name);
    let wanted = raw.as_deref().unwrap_or(choices[0].0);
    choices.iter().find(|(n, _)| *n == wanted).map(|(_, v)| *v).ok_or_else(|| {
        let names: Vec<String> = choices.iter().map(|(n, _)| format!("`{n}`")).collect();
        ConfigError::new(name, format!("expected {}, got `{wanted}`", names.join(" or ")))
    })
}

/// An http(s) URL without a trailing slash, or an error naming `name`.
pub(crate) fn parse_url(raw: &str, name: &'static str) -> Result<String, ConfigError> {
    let trimmed = raw.trim_end_matches('/');
    let rest = trimmed.strip_prefix("http://").or_else(|| trimmed.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(['?', '#', ' ']) => Ok(trimmed.to_owned()),
        _ => {
            Err(ConfigError::new(name, format!("expected an http(s) URL such as `http://127.0.0.1:9000`, got `{raw}`")))
        }
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
        let StorageSettings::Local(local) = &s.storage else { panic!("local by default") };
        assert_eq!(local.public_base_url, "http://127.0.0.1:9000");
        assert_eq!(local.url_prefix, "/media");
        assert_eq!(s.presigned_url_expiry, Duration::from_secs(3600));
        assert!(matches!(s.auth.mode, AuthMode::ApiGateway));
        assert_eq!(s.auth.org_claim, "org_id");
        assert!(matches!(s.database.source, DatabaseSource::Unset));
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
        let StorageSettings::S3(s3_settings) = ok.storage else { panic!("the S3 backend") };
        assert_eq!(s3_settings.addressing_style, AddressingStyle::Path);
        assert!(s3_settings.file_overwrite);
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
    fn extractions_at_once_must_fit_in_the_functions_memory() {
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut all = LOCAL.to_vec();
            all.extend_from_slice(pairs);
            settings(&all).unwrap().search
        };
        let indexer = with(&[("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024"), ("EXTRACT_MAX_MEMORY_BYTES", "268435456")]);
        assert!(indexer.check_extraction_memory(4).is_ok(), "4 x 256 MiB fit in 1024 MiB");
        assert_eq!(indexer.check_extraction_memory(5).unwrap_err().variable, "EXTRACT_MAX_MEMORY_BYTES");
        assert_eq!(indexer.check_extraction_memory(8).unwrap_err().variable, "EXTRACT_MAX_MEMORY_BYTES");
        let small = with(&[("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")]);
        assert!(small.check_extraction_memory(1).is_err(), "256 MiB by default do not fit in 128");
        assert!(with(&[]).check_extraction_memory(64).is_ok(), "outside Lambda nothing is known");
        assert_eq!(
            settings(&[LOCAL, &[("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "lots")]].concat()).unwrap_err().variable,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"
        );
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
