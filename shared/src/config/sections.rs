//! The sections of [`super::Settings`], each parsed from its own variables.

use std::path::PathBuf;

use serde::Serialize;

use super::{parse_choice, parse_number, parse_url, ConfigError, Lookup, Secret};
use crate::keys::ContentTypePolicy;

/// Where file bytes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
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

    /// The backend a stored name stands for.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "local" => Some(Self::Local),
            "s3" => Some(Self::S3),
            _ => None,
        }
    }
}

/// `FILE_STORAGE_BACKEND`, with the chosen backend's settings.
#[derive(Debug, Clone)]
pub enum StorageSettings {
    /// The local filesystem (development).
    Local(LocalStorageSettings),
    /// Amazon S3 or an S3-compatible server.
    S3(S3Settings),
}

impl StorageSettings {
    pub(super) fn parse(get: &impl Lookup) -> Result<Self, ConfigError> {
        let kind = parse_choice(
            get,
            "FILE_STORAGE_BACKEND",
            &[("local", StorageBackendKind::Local), ("s3", StorageBackendKind::S3)],
        )?;
        // Validated whatever the backend, as before: a malformed prefix is a mistake either way.
        let url_prefix = parse_url_prefix(get("LOCAL_MEDIA_URL_PREFIX"))?;
        let public_base_url =
            parse_url(&get("PUBLIC_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()), "PUBLIC_BASE_URL")?;
        Ok(match kind {
            StorageBackendKind::Local => Self::Local(LocalStorageSettings::parse(get, url_prefix, public_base_url)?),
            StorageBackendKind::S3 => Self::S3(S3Settings::parse(get)?),
        })
    }

    /// Which backend.
    pub fn kind(&self) -> StorageBackendKind {
        match self {
            Self::Local(_) => StorageBackendKind::Local,
            Self::S3(_) => StorageBackendKind::S3,
        }
    }

    /// The S3 settings, when the backend is S3.
    pub fn s3(&self) -> Option<&S3Settings> {
        match self {
            Self::S3(s3) => Some(s3),
            Self::Local(_) => None,
        }
    }
}

const DEFAULT_BASE_URL: &str = "http://127.0.0.1:9000";

/// Settings for the local filesystem backend.
#[derive(Debug, Clone)]
pub struct LocalStorageSettings {
    /// `LOCAL_MEDIA_ROOT`: the folder that holds every object.
    pub media_root: PathBuf,
    /// `LOCAL_MEDIA_URL_PREFIX`: the path under which the `local-media` server answers signed URLs.
    pub url_prefix: String,
    /// `LOCAL_SIGNING_SECRET`: HMAC key of the signed local URLs (at least 32 bytes).
    pub signing_secret: Secret,
    /// `PUBLIC_BASE_URL`: scheme and host clients reach the service at (no trailing slash).
    pub public_base_url: String,
}

impl LocalStorageSettings {
    fn parse(get: &impl Lookup, url_prefix: String, public_base_url: String) -> Result<Self, ConfigError> {
        let required = |name: &'static str| {
            get(name).ok_or_else(|| ConfigError::new(name, "is required when FILE_STORAGE_BACKEND=local"))
        };
        let media_root = PathBuf::from(required("LOCAL_MEDIA_ROOT")?);
        let signing_secret = required("LOCAL_SIGNING_SECRET")?;
        if signing_secret.len() < 32 {
            return Err(ConfigError::new("LOCAL_SIGNING_SECRET", "must be at least 32 bytes long"));
        }
        Ok(Self { media_root, url_prefix, signing_secret: Secret::new(signing_secret), public_base_url })
    }

    /// Where signed URLs start: the public base URL and the prefix.
    pub fn url_base(&self) -> String {
        format!("{}{}", self.public_base_url, self.url_prefix)
    }
}

/// `LOCAL_MEDIA_URL_PREFIX`'s default.
pub const DEFAULT_MEDIA_URL_PREFIX: &str = "/media";

fn parse_url_prefix(raw: Option<String>) -> Result<String, ConfigError> {
    let raw = raw.unwrap_or_else(|| DEFAULT_MEDIA_URL_PREFIX.to_owned());
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

impl S3Settings {
    pub(super) fn parse(get: &impl Lookup) -> Result<Self, ConfigError> {
        let bucket = get("AWS_S3_BUCKET_NAME")
            .ok_or_else(|| ConfigError::new("AWS_S3_BUCKET_NAME", "is required when FILE_STORAGE_BACKEND=s3"))?;
        if !valid_bucket(&bucket) {
            return Err(ConfigError::new("AWS_S3_BUCKET_NAME", format!("`{bucket}` is not a valid bucket name")));
        }
        if let Some(other) = get("AWS_S3_SIGNATURE_VERSION").filter(|v| v != "s3v4") {
            return Err(ConfigError::new(
                "AWS_S3_SIGNATURE_VERSION",
                format!("only `s3v4` is supported (SigV2 is deprecated by AWS), got `{other}`"),
            ));
        }
        let addressing_style = parse_choice(
            get,
            "AWS_S3_ADDRESSING_STYLE",
            &[("auto", AddressingStyle::Auto), ("virtual", AddressingStyle::Virtual), ("path", AddressingStyle::Path)],
        )?;
        let overwrite = get("AWS_S3_FILE_OVERWRITE").map(|v| v.to_ascii_lowercase());
        let file_overwrite = match overwrite.as_deref() {
            None | Some("false" | "0" | "no") => false,
            Some("true" | "1" | "yes") => true,
            Some(other) => {
                return Err(ConfigError::new(
                    "AWS_S3_FILE_OVERWRITE",
                    format!("expected `true` or `false`, got `{other}`"),
                ))
            }
        };
        let endpoint = |name: &'static str| get(name).map(|raw| parse_url(&raw, name)).transpose();
        Ok(Self {
            bucket,
            region: get("AWS_S3_REGION_NAME"),
            endpoint_url: endpoint("AWS_S3_ENDPOINT_URL")?,
            public_endpoint_url: endpoint("AWS_S3_PUBLIC_ENDPOINT_URL")?,
            addressing_style,
            file_overwrite,
            credentials: StaticCredentials::parse(get)?,
        })
    }

    /// Whether the bucket is addressed path-style: as configured, and for `auto` whenever a
    /// custom endpoint is set.
    pub fn path_style(&self) -> bool {
        match self.addressing_style {
            AddressingStyle::Path => true,
            AddressingStyle::Virtual => false,
            AddressingStyle::Auto => self.endpoint_url.is_some(),
        }
    }
}

fn valid_bucket(bucket: &str) -> bool {
    (3..=63).contains(&bucket.len())
        && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && bucket.as_bytes()[0].is_ascii_alphanumeric()
        && bucket.as_bytes()[bucket.len() - 1].is_ascii_alphanumeric()
}

impl StaticCredentials {
    fn parse(get: &impl Lookup) -> Result<Option<Self>, ConfigError> {
        match (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
            (Some(access_key_id), Some(secret)) => Ok(Some(Self {
                access_key_id,
                secret_access_key: Secret::new(secret),
                session_token: get("AWS_SESSION_TOKEN").map(Secret::new),
            })),
            (None, None) => Ok(None),
            (Some(_), None) => {
                Err(ConfigError::new("AWS_SECRET_ACCESS_KEY", "is required when AWS_ACCESS_KEY_ID is set"))
            }
            (None, Some(_)) => {
                Err(ConfigError::new("AWS_ACCESS_KEY_ID", "is required when AWS_SECRET_ACCESS_KEY is set"))
            }
        }
    }
}

/// How callers are authenticated.
#[derive(Debug, Clone)]
pub enum AuthMode {
    /// Claims from the API Gateway HTTP API JWT authorizer (the request context).
    ApiGateway,
    /// `Authorization: Bearer <JWT>` verified with HS256 and this key (`AUTH_LOCAL_JWT_SECRET`).
    LocalJwt {
        /// The HS256 key, at least 32 bytes.
        secret: Secret,
    },
}

/// Authentication settings.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// `AUTH_MODE`, with its key for `local-jwt`.
    pub mode: AuthMode,
    /// `AUTH_ORG_CLAIM`: the claim holding the caller's organization.
    pub org_claim: String,
}

impl AuthSettings {
    pub(super) fn parse(get: &impl Lookup) -> Result<Self, ConfigError> {
        let local = parse_choice(get, "AUTH_MODE", &[("apigateway", false), ("local-jwt", true)])?;
        let mode = if local {
            let secret = get("AUTH_LOCAL_JWT_SECRET")
                .ok_or_else(|| ConfigError::new("AUTH_LOCAL_JWT_SECRET", "is required when AUTH_MODE=local-jwt"))?;
            if secret.len() < 32 {
                return Err(ConfigError::new("AUTH_LOCAL_JWT_SECRET", "must be at least 32 bytes long"));
            }
            AuthMode::LocalJwt { secret: Secret::new(secret) }
        } else {
            AuthMode::ApiGateway
        };
        Ok(Self { mode, org_claim: get("AUTH_ORG_CLAIM").unwrap_or_else(|| "org_id".to_owned()) })
    }
}

/// Limits on what may be uploaded.
#[derive(Debug, Clone)]
pub struct UploadSettings {
    /// `UPLOAD_MAX_SIZE_BYTES`.
    pub max_size_bytes: u64,
    /// `UPLOAD_ALLOWED_CONTENT_TYPES`.
    pub allowed_content_types: ContentTypePolicy,
    /// `UPLOAD_PENDING_TTL_SECONDS` (default a day): how long an upload may stay unconfirmed
    /// before the reconciler expires it.
    pub pending_ttl: std::time::Duration,
    /// `UPLOAD_ORPHAN_GRACE_SECONDS` (default an hour): how old an object under the upload
    /// prefix that no live file has must be before the reconciler removes it.
    pub orphan_grace: std::time::Duration,
    /// `UPLOAD_MULTIPART_ABOVE_BYTES` (default 5 GiB, S3's largest single PUT): uploads larger
    /// than this are multipart when initiate-upload is not told a method.
    pub multipart_above: u64,
}

impl UploadSettings {
    pub(super) fn parse(get: &impl Lookup) -> Result<Self, ConfigError> {
        let max_size_bytes: u64 = parse_number(get, "UPLOAD_MAX_SIZE_BYTES", 100 * 1024 * 1024)?;
        if max_size_bytes == 0 {
            return Err(ConfigError::new("UPLOAD_MAX_SIZE_BYTES", "must be at least 1"));
        }
        let allowed_content_types = ContentTypePolicy::parse(&get("UPLOAD_ALLOWED_CONTENT_TYPES").unwrap_or_default())
            .map_err(|reason| ConfigError::new("UPLOAD_ALLOWED_CONTENT_TYPES", reason))?;
        let pending_ttl: u64 = parse_number(get, "UPLOAD_PENDING_TTL_SECONDS", 24 * 3600)?;
        if pending_ttl == 0 {
            return Err(ConfigError::new("UPLOAD_PENDING_TTL_SECONDS", "must be at least 1"));
        }
        let pending_ttl = std::time::Duration::from_secs(pending_ttl);
        let orphan_grace = std::time::Duration::from_secs(parse_number(get, "UPLOAD_ORPHAN_GRACE_SECONDS", 3600)?);
        let multipart_above = parse_number(get, "UPLOAD_MULTIPART_ABOVE_BYTES", 5 * 1024 * 1024 * 1024)?;
        Ok(Self { max_size_bytes, allowed_content_types, pending_ttl, orphan_grace, multipart_above })
    }
}
