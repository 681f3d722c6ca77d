//! Amazon S3 or an S3-compatible server: [`S3UrlSigner`] signs URLs with no S3 client,
//! [`S3ObjectStore`] reads and writes objects over aws-sdk-s3.
//!
//! - Clients are built once per cold start; building them touches no network.
//! - Pre-signed PUTs bind the content type, the exact length, the SHA-256 checksum when
//!   declared, and `If-None-Match: *` unless `AWS_S3_FILE_OVERWRITE` is on; checksum calculation
//!   is pinned to "when required" so no empty-body checksum is ever baked into a URL.
//! - URLs handed to clients are signed for `AWS_S3_PUBLIC_ENDPOINT_URL` when it is set, since a
//!   signed host cannot be rewritten afterwards.
//! - Pre-signed PUT and GET URLs come from [`presign::Presigner`], built once per cold start: the
//!   same bytes as aws-sdk-s3's presigner (its tests compare the two) at a small part of the
//!   cost, since it skips the SDK's request pipeline and keeps the day's signing key.
//! - URL lifetimes are clamped to the credentials' own expiry when they are temporary.

mod listing;
mod multipart;
mod objects;
pub mod post_policy;
pub mod presign;
pub mod presign_parts;
mod signer;
mod sigv4;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

pub use objects::{ensure_bucket, S3ObjectStore, MULTIPART_THRESHOLD, PART_SIZE};
pub use signer::S3UrlSigner;

use crate::config::{ConfigError, S3Settings};
use crate::storage::StorageError;

/// The signer and the object store of one bucket, over one SDK configuration.
///
/// # Errors
/// A [`ConfigError`] when no region can be found or the endpoint cannot be signed for.
pub async fn both(s3: &S3Settings) -> Result<(S3UrlSigner, S3ObjectStore), ConfigError> {
    let sdk = crate::aws::sdk_config(Some(s3), None).await;
    let (region, credentials) = region_and_credentials(&sdk)?;
    Ok((S3UrlSigner::with_config(&sdk, s3, region, credentials)?, S3ObjectStore::with_config(&sdk, s3)))
}

/// The region and credentials provider of an SDK configuration, both required to sign.
fn region_and_credentials(sdk: &aws_config::SdkConfig) -> Result<(String, SharedCredentialsProvider), ConfigError> {
    let region = sdk
        .region()
        .map(ToString::to_string)
        .ok_or_else(|| ConfigError::new("AWS_S3_REGION_NAME", "is required (or AWS_REGION) to sign for a region"))?;
    let credentials = sdk
        .credentials_provider()
        .ok_or_else(|| ConfigError::new("AWS_ACCESS_KEY_ID", "no AWS credentials provider is available"))?;
    Ok((region, credentials))
}

pub(super) fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> StorageError {
    StorageError::Unavailable(Box::new(e))
}

/// Maps an SDK failure to a semantic one: throttling, timeouts, connection failures and 5xx are
/// `Unavailable` (503, retry); a missing object `NotFound`; a failed `If-None-Match`
/// `AlreadyExists`; anything else (access denied, bad configuration) `Backend` (500, logged).
fn classify<E, R>(err: SdkError<E, R>) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
    SdkError<E, R>: std::error::Error + Send + Sync + 'static,
{
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            return unavailable(err)
        }
        SdkError::ServiceError(service) => match service.err().code().unwrap_or_default() {
            "SlowDown"
            | "Throttling"
            | "ThrottlingException"
            | "RequestTimeout"
            | "ServiceUnavailable"
            | "InternalError" => return unavailable(err),
            "NoSuchKey" | "NotFound" => return StorageError::NotFound,
            "PreconditionFailed" => return StorageError::AlreadyExists,
            _ => {}
        },
        _ => {}
    }
    StorageError::Backend(Box::new(err))
}

/// As [`classify`], also reading the raw HTTP status (HEAD answers carry no error code).
pub(super) fn classify_http<E>(err: SdkError<E, aws_smithy_runtime_api::http::Response>) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let SdkError::ServiceError(service) = &err {
        match service.raw().status().as_u16() {
            404 => return StorageError::NotFound,
            412 => return StorageError::AlreadyExists,
            429 | 500..=599 => return unavailable(err),
            _ => {}
        }
    }
    classify(err)
}

/// The SDK client configuration for `endpoint` (the SDK's own when `None`): addressing style as
/// given, checksums only where S3 requires them, so no empty-body checksum is ever signed.
pub(super) fn sdk_client_config(
    sdk: &aws_config::SdkConfig,
    path_style: bool,
    endpoint: Option<&str>,
) -> aws_sdk_s3::Config {
    let mut builder = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(path_style)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use aws_credential_types::provider::SharedCredentialsProvider;
    use aws_credential_types::Credentials;

    use super::signer::{canonical_header_name, form_url};
    use super::*;
    use crate::config::{AddressingStyle, S3Settings};
    use crate::keys::{Checksum, FileKey};
    use crate::storage::{SignUrls, UploadGrantRequest, UploadMethod, UploadTarget};

    #[test]
    fn form_urls_follow_the_addressing_style() {
        assert_eq!(form_url(None, "files", "eu-west-1", false), "https://files.s3.eu-west-1.amazonaws.com");
        assert_eq!(form_url(None, "files", "eu-west-1", true), "https://s3.eu-west-1.amazonaws.com/files");
        assert_eq!(form_url(Some("http://127.0.0.1:4566"), "files", "us-east-1", true), "http://127.0.0.1:4566/files");
        assert_eq!(form_url(Some("http://minio:9000/"), "files", "us-east-1", false), "http://files.minio:9000");
    }

    #[test]
    fn header_names_are_given_in_their_usual_case() {
        assert_eq!(canonical_header_name("content-type"), "Content-Type");
        assert_eq!(canonical_header_name("if-none-match"), "If-None-Match");
        assert_eq!(canonical_header_name("x-amz-checksum-sha256"), "x-amz-checksum-sha256");
    }

    #[test]
    fn lifetimes_are_clamped_to_expiring_credentials() {
        let now = SystemTime::now();
        let temporary = Credentials::new("a", "b", Some("t".into()), Some(now + Duration::from_secs(600)), "test");
        let permanent = Credentials::new("a", "b", None, None, "test");
        assert_eq!(S3UrlSigner::lifetime(Duration::from_secs(3600), &temporary, now), Duration::from_secs(600));
        assert_eq!(S3UrlSigner::lifetime(Duration::from_secs(3600), &permanent, now), Duration::from_secs(3600));
    }

    fn storage(style: AddressingStyle, endpoint: Option<&str>, public: Option<&str>) -> S3UrlSigner {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .http_client(crate::aws::http_client())
            .region(aws_sdk_s3::config::Region::new("eu-west-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new("AKID", "secret", None, None, "t")))
            .build();
        let settings = S3Settings {
            bucket: "files".into(),
            region: Some("eu-west-1".into()),
            endpoint_url: endpoint.map(str::to_owned),
            public_endpoint_url: public.map(str::to_owned),
            addressing_style: style,
            file_overwrite: false,
            credentials: None,
        };
        S3UrlSigner::with_config(&sdk, &settings, "eu-west-1".into(), sdk.credentials_provider().unwrap()).unwrap()
    }

    async fn put_url(storage: &S3UrlSigner) -> UploadTarget {
        let request = UploadGrantRequest {
            method: UploadMethod::Put,
            content_type: crate::keys::ContentType::parse("text/plain").unwrap(),
            size: 5,
            checksum_sha256: Some(Checksum::from_digest([1; 32])),
            expires_in: Duration::from_secs(60),
        };
        storage.get_presigned_upload_url(&FileKey::parse("uploads/a_b.txt").unwrap(), &request).await.unwrap()
    }

    #[tokio::test]
    async fn urls_are_virtual_hosted_or_path_style_as_configured() {
        let virtual_url = put_url(&storage(AddressingStyle::Virtual, None, None)).await.url;
        let path_url = put_url(&storage(AddressingStyle::Path, None, None)).await.url;
        let auto_custom = put_url(&storage(AddressingStyle::Auto, Some("http://127.0.0.1:4566"), None)).await.url;
        let public = put_url(&storage(AddressingStyle::Path, Some("http://minio:9000"), Some("http://localhost:9000")))
            .await
            .url;

        assert!(virtual_url.starts_with("https://files.s3.eu-west-1.amazonaws.com/uploads/a_b.txt?"), "{virtual_url}");
        assert!(path_url.starts_with("https://s3.eu-west-1.amazonaws.com/files/uploads/a_b.txt?"), "{path_url}");
        assert!(auto_custom.starts_with("http://127.0.0.1:4566/files/uploads/a_b.txt?"), "{auto_custom}");
        assert!(public.starts_with("http://localhost:9000/files/uploads/a_b.txt?"), "{public}");
    }

    #[tokio::test]
    async fn a_presigned_put_binds_type_length_checksum_and_create_only() {
        let target = put_url(&storage(AddressingStyle::Path, None, None)).await;

        let signed = target.url.split("X-Amz-SignedHeaders=").nth(1).unwrap().split('&').next().unwrap().to_owned();
        for header in ["content-length", "content-type", "if-none-match", "x-amz-checksum-sha256"] {
            assert!(signed.contains(header), "{header} not signed: {signed}");
        }
        assert_eq!(target.headers.get("Content-Type").map(String::as_str), Some("text/plain"));
        assert_eq!(target.headers.get("If-None-Match").map(String::as_str), Some("*"));
        assert!(!target.url.contains("x-amz-sdk-checksum-algorithm"), "{}", target.url);
        assert!(!target.url.to_ascii_lowercase().contains("crc32"), "{}", target.url);
    }
}
