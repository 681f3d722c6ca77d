//! `S3FileStorage`: Amazon S3 or an S3-compatible server, over aws-sdk-s3.
//!
//! - Clients are built once per cold start; building them touches no network.
//! - Pre-signed PUTs bind the content type, the exact length, the SHA-256 checksum when
//!   declared, and `If-None-Match: *` unless `AWS_S3_FILE_OVERWRITE` is on; checksum calculation
//!   is pinned to "when required" so no empty-body checksum is ever baked into a URL.
//! - URLs handed to clients are signed for `AWS_S3_PUBLIC_ENDPOINT_URL` when it is set, since a
//!   signed host cannot be rewritten afterwards.
//! - Pre-signed PUT and GET URLs come from [`Presigner`], built once per cold start: the same
//!   bytes as aws-sdk-s3's presigner (its tests compare the two) at a small part of the cost,
//!   since it skips the SDK's request pipeline and keeps the day's signing key.
//! - URL lifetimes are clamped to the credentials' own expiry when they are temporary.
//! - Proxied saves stream: one PUT below [`MULTIPART_THRESHOLD`], a multipart upload above it,
//!   never more than one part in memory. The whole-object SHA-256 is computed on the way and
//!   returned (S3 keeps it for single PUTs; for multipart objects it keeps only a checksum of
//!   part checksums).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream as SdkByteStream;
use aws_sdk_s3::types::{ChecksumMode, CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::post_policy::{self, PostPolicyRequest, SigningIdentity};
use super::presign::{GetObject, PresignError, PresignTarget, Presigner, PutObject};
use super::{
    ByteStream, DownloadRequest, FileStorage, ObjectMeta, PutConstraints, SignedUrl, StorageError, UploadGrantRequest,
    UploadMethod, UploadTarget,
};
use crate::config::{AddressingStyle, ConfigError, S3Settings, Settings, StorageBackendKind};
use crate::disposition::content_disposition;
use crate::keys::{Checksum, FileKey};

/// Proxied saves at or above this size go through a multipart upload.
pub const MULTIPART_THRESHOLD: usize = 8 * 1024 * 1024;
/// Part size of multipart uploads (S3's minimum is 5 MiB).
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// Files in one S3 bucket.
#[derive(Debug, Clone)]
pub struct S3FileStorage {
    client: Client,
    signer: S3UrlSigner,
}

/// The signing half of [`S3FileStorage`]: pre-signed PUT, POST and GET for one bucket, with no
/// S3 client. The functions that only hand out URLs (initiate-upload, download-url, get-file)
/// use it alone ([`super::build_signing_storage`]), so their binaries leave the S3 operations
/// out; every object operation answers [`StorageError::Unsupported`].
#[derive(Debug, Clone)]
pub struct S3UrlSigner {
    presigner: Presigner,
    credentials: SharedCredentialsProvider,
    bucket: String,
    region: String,
    overwrite: bool,
    form_url: String,
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> StorageError {
    StorageError::Unavailable(Box::new(e))
}

/// A URL that cannot be signed (a lifetime over seven days, an empty key): a bug or a bad
/// configuration, not something a retry fixes.
fn signing(e: PresignError) -> StorageError {
    StorageError::Backend(Box::new(e))
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
fn classify_http<E>(err: SdkError<E, aws_smithy_runtime_api::http::Response>) -> StorageError
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
pub(crate) fn sdk_client_config(
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

impl S3UrlSigner {
    /// The signer for the settings' bucket. Touches no network.
    ///
    /// # Errors
    /// A [`ConfigError`] when the S3 backend is not configured or no region can be found.
    pub async fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let (sdk, s3, region, credentials) = sdk_parts(settings).await?;
        Ok(Self::with_config(&sdk, s3, region, credentials)?.0)
    }

    /// The signer, and whether the bucket is addressed path-style.
    fn with_config(
        sdk: &aws_config::SdkConfig,
        s3: &S3Settings,
        region: String,
        credentials: SharedCredentialsProvider,
    ) -> Result<(Self, bool), ConfigError> {
        let path_style = match s3.addressing_style {
            AddressingStyle::Path => true,
            AddressingStyle::Virtual => false,
            AddressingStyle::Auto => s3.endpoint_url.is_some(),
        };
        let public = s3.public_endpoint_url.as_deref().or(s3.endpoint_url.as_deref());
        let form_url = form_url(public, &s3.bucket, &region, path_style);
        // Signed for the endpoint the SDK client would use: the public one, else the SDK
        // configuration's own (`AWS_ENDPOINT_URL`), else AWS's for the region.
        let presigner = Presigner::new(&PresignTarget {
            endpoint_url: public.or(sdk.endpoint_url()),
            bucket: &s3.bucket,
            region: &region,
            force_path_style: path_style,
            use_fips: sdk.use_fips().unwrap_or(false),
            use_dual_stack: sdk.use_dual_stack().unwrap_or(false),
        })
        .map_err(|e| {
            let variable =
                if s3.public_endpoint_url.is_some() { "AWS_S3_PUBLIC_ENDPOINT_URL" } else { "AWS_S3_ENDPOINT_URL" };
            ConfigError::new(variable, e.to_string())
        })?;
        let signer =
            Self { presigner, credentials, bucket: s3.bucket.clone(), region, overwrite: s3.file_overwrite, form_url };
        Ok((signer, path_style))
    }

    /// The current credentials: from the provider's own cache where it has one.
    async fn current_credentials(&self) -> Result<Credentials, StorageError> {
        self.credentials.provide_credentials().await.map_err(unavailable)
    }

    /// The lifetime to sign for: the requested one, clamped to the credentials' expiry, since a
    /// URL signed with temporary credentials dies with them.
    fn lifetime(requested: Duration, credentials: &Credentials, now: SystemTime) -> Duration {
        match credentials.expiry().and_then(|e| e.duration_since(now).ok()) {
            Some(left) => requested.min(left),
            None => requested,
        }
    }

    /// The `X-Amz-Expires` to sign: at least a second, even for credentials about to expire.
    fn signed_lifetime(lifetime: Duration) -> Duration {
        lifetime.max(Duration::from_secs(1))
    }

    async fn download_url(&self, key: &FileKey, request: &DownloadRequest) -> Result<SignedUrl, StorageError> {
        let now = SystemTime::now();
        let credentials = self.current_credentials().await?;
        let lifetime = Self::lifetime(request.expires_in, &credentials, now);
        let disposition = content_disposition(request.disposition, &request.filename);
        let get = GetObject {
            key: key.as_str(),
            response_content_disposition: Some(&disposition),
            response_content_type: Some(&request.content_type),
        };
        let presigned =
            self.presigner.get_object(&get, &credentials, now, Self::signed_lifetime(lifetime)).map_err(signing)?;
        Ok(SignedUrl { url: presigned.url, expires_at: expires_at(now, lifetime) })
    }

    async fn upload_target(&self, key: &FileKey, request: &UploadGrantRequest) -> Result<UploadTarget, StorageError> {
        let now = SystemTime::now();
        let credentials = self.current_credentials().await?;
        let lifetime = Self::lifetime(request.expires_in, &credentials, now);
        let checksum = request.checksum_sha256.map(|c| c.to_base64());
        match request.method {
            UploadMethod::Put => {
                let put = PutObject {
                    key: key.as_str(),
                    content_type: request.content_type.as_str(),
                    content_length: request.size,
                    checksum_sha256: checksum.as_deref(),
                    if_none_match: (!self.overwrite).then_some("*"),
                };
                let presigned = self
                    .presigner
                    .put_object(&put, &credentials, now, Self::signed_lifetime(lifetime))
                    .map_err(signing)?;
                let headers: BTreeMap<String, String> = presigned
                    .headers
                    .iter()
                    .filter(|(name, _)| !name.eq_ignore_ascii_case("host"))
                    .map(|(name, value)| (canonical_header_name(name), value.clone()))
                    .collect();
                Ok(UploadTarget {
                    method: UploadMethod::Put,
                    url: presigned.url,
                    headers,
                    fields: BTreeMap::new(),
                    expires_at: expires_at(now, lifetime),
                })
            }
            UploadMethod::Post => {
                let identity = SigningIdentity {
                    access_key_id: credentials.access_key_id(),
                    secret_access_key: credentials.secret_access_key(),
                    session_token: credentials.session_token(),
                    region: &self.region,
                };
                let expires = expires_at(now, lifetime);
                let policy = PostPolicyRequest {
                    bucket: &self.bucket,
                    key: key.as_str(),
                    content_type: request.content_type.as_str(),
                    size: request.size,
                    checksum_sha256: checksum.as_deref(),
                    expires_at: expires,
                };
                Ok(UploadTarget {
                    method: UploadMethod::Post,
                    url: self.form_url.clone(),
                    headers: BTreeMap::new(),
                    fields: post_policy::form_fields(&policy, &identity, now),
                    expires_at: expires,
                })
            }
        }
    }
}

/// The SDK configuration, the S3 settings, the region and the credentials of `settings`.
async fn sdk_parts(
    settings: &Settings,
) -> Result<(aws_config::SdkConfig, &S3Settings, String, SharedCredentialsProvider), ConfigError> {
    let s3 = settings
        .s3
        .as_ref()
        .ok_or_else(|| ConfigError::new("AWS_S3_BUCKET_NAME", "is required when FILE_STORAGE_BACKEND=s3"))?;
    let sdk = crate::aws::sdk_config(settings, None).await;
    let region = sdk
        .region()
        .map(ToString::to_string)
        .ok_or_else(|| ConfigError::new("AWS_S3_REGION_NAME", "is required (or AWS_REGION) to sign for a region"))?;
    let credentials = sdk
        .credentials_provider()
        .ok_or_else(|| ConfigError::new("AWS_ACCESS_KEY_ID", "no AWS credentials provider is available"))?;
    Ok((sdk, s3, region, credentials))
}

impl S3FileStorage {
    /// Builds the clients for the settings' bucket. Touches no network.
    ///
    /// # Errors
    /// A [`ConfigError`] when the S3 backend is not configured or no region can be found.
    pub async fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let (sdk, s3, region, credentials) = sdk_parts(settings).await?;
        Self::with_config(&sdk, s3, region, credentials)
    }

    fn with_config(
        sdk: &aws_config::SdkConfig,
        s3: &S3Settings,
        region: String,
        credentials: SharedCredentialsProvider,
    ) -> Result<Self, ConfigError> {
        let (signer, path_style) = S3UrlSigner::with_config(sdk, s3, region, credentials)?;
        Ok(Self { client: Client::from_conf(sdk_client_config(sdk, path_style, s3.endpoint_url.as_deref())), signer })
    }

    /// The SDK client (for tools and tests that manage the bucket).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.signer.bucket
    }

    async fn put_single(
        &self,
        key: &FileKey,
        body: Bytes,
        constraints: &PutConstraints,
        checksum: &Checksum,
    ) -> Result<(), StorageError> {
        let mut request = self
            .client
            .put_object()
            .bucket(&self.signer.bucket)
            .key(key.as_str())
            .content_type(constraints.content_type.as_str())
            .content_length(i64::try_from(body.len()).unwrap_or(i64::MAX))
            .checksum_sha256(checksum.to_base64())
            .body(SdkByteStream::from(body));
        if !self.signer.overwrite {
            request = request.if_none_match("*");
        }
        request.send().await.map_err(classify_http)?;
        Ok(())
    }

    /// Streams `first` + the rest of `body` as a multipart upload; aborts it on any failure so
    /// nothing is left behind.
    async fn put_multipart(
        &self,
        key: &FileKey,
        first: BytesMut,
        body: &mut ByteStream,
        constraints: &PutConstraints,
        limit: u64,
    ) -> Result<(u64, Checksum), StorageError> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.signer.bucket)
            .key(key.as_str())
            .content_type(constraints.content_type.as_str())
            .send()
            .await
            .map_err(classify_http)?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| StorageError::Backend("the server returned no upload id".into()))?
            .to_owned();
        let result = self.upload_parts(key, &upload_id, first, body, constraints, limit).await;
        if result.is_err() {
            let abort = self
                .client
                .abort_multipart_upload()
                .bucket(&self.signer.bucket)
                .key(key.as_str())
                .upload_id(&upload_id)
                .send()
                .await;
            if let Err(e) = abort {
                tracing::warn!(error = %e, key = %key, "could not abort a failed multipart upload");
            }
        }
        result
    }

    async fn upload_parts(
        &self,
        key: &FileKey,
        upload_id: &str,
        mut buffer: BytesMut,
        body: &mut ByteStream,
        constraints: &PutConstraints,
        limit: u64,
    ) -> Result<(u64, Checksum), StorageError> {
        let mut hasher = Sha256::new();
        let mut total: u64 = 0;
        let mut parts = Vec::new();
        let mut done = false;
        while !done {
            while buffer.len() < PART_SIZE {
                match body.next().await {
                    Some(chunk) => {
                        let chunk = chunk.map_err(StorageError::Io)?;
                        if total + (buffer.len() + chunk.len()) as u64 > limit {
                            return Err(StorageError::TooLarge { limit });
                        }
                        buffer.extend_from_slice(&chunk);
                    }
                    None => {
                        done = true;
                        break;
                    }
                }
            }
            if buffer.is_empty() {
                break;
            }
            let part = buffer.split().freeze();
            total += part.len() as u64;
            hasher.update(&part);
            let number = i32::try_from(parts.len() + 1).unwrap_or(i32::MAX);
            let uploaded = self
                .client
                .upload_part()
                .bucket(&self.signer.bucket)
                .key(key.as_str())
                .upload_id(upload_id)
                .part_number(number)
                .content_length(i64::try_from(part.len()).unwrap_or(i64::MAX))
                .body(SdkByteStream::from(part))
                .send()
                .await
                .map_err(classify_http)?;
            parts.push(
                CompletedPart::builder().part_number(number).set_e_tag(uploaded.e_tag().map(str::to_owned)).build(),
            );
        }
        let checksum = Checksum::from_digest(hasher.finalize().into());
        check_body(total, &checksum, constraints)?;
        let mut complete = self
            .client
            .complete_multipart_upload()
            .bucket(&self.signer.bucket)
            .key(key.as_str())
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build());
        if !self.signer.overwrite {
            complete = complete.if_none_match("*");
        }
        complete.send().await.map_err(classify_http)?;
        Ok((total, checksum))
    }
}

fn check_body(total: u64, checksum: &Checksum, constraints: &PutConstraints) -> Result<(), StorageError> {
    if let Some(expected) = constraints.exact_size {
        if total != expected {
            return Err(StorageError::SizeMismatch { expected, actual: total });
        }
    }
    if constraints.checksum_sha256.is_some_and(|c| c != *checksum) {
        return Err(StorageError::ChecksumMismatch);
    }
    Ok(())
}

/// The URL a POST form is sent to.
fn form_url(endpoint: Option<&str>, bucket: &str, region: &str, path_style: bool) -> String {
    match (endpoint, path_style) {
        (Some(endpoint), true) => format!("{}/{bucket}", endpoint.trim_end_matches('/')),
        (Some(endpoint), false) => {
            let (scheme, host) = endpoint.split_once("://").unwrap_or(("https", endpoint));
            format!("{scheme}://{bucket}.{}", host.trim_end_matches('/'))
        }
        (None, true) => format!("https://s3.{region}.amazonaws.com/{bucket}"),
        (None, false) => format!("https://{bucket}.s3.{region}.amazonaws.com"),
    }
}

#[async_trait]
impl FileStorage for S3FileStorage {
    fn backend(&self) -> StorageBackendKind {
        StorageBackendKind::S3
    }

    fn bucket_name(&self) -> Option<&str> {
        Some(&self.signer.bucket)
    }

    #[tracing::instrument(skip(self, body, constraints), fields(key = %key))]
    async fn save_proxied_file(
        &self,
        key: &FileKey,
        mut body: ByteStream,
        constraints: &PutConstraints,
    ) -> Result<ObjectMeta, StorageError> {
        let limit = constraints.exact_size.unwrap_or(constraints.max_size).min(constraints.max_size);
        let mut buffer = BytesMut::new();
        while buffer.len() < MULTIPART_THRESHOLD {
            match body.next().await {
                Some(chunk) => {
                    let chunk = chunk.map_err(StorageError::Io)?;
                    if (buffer.len() + chunk.len()) as u64 > limit {
                        return Err(StorageError::TooLarge { limit });
                    }
                    buffer.extend_from_slice(&chunk);
                }
                None => {
                    let size = buffer.len() as u64;
                    let checksum = Checksum::from_digest(Sha256::digest(&buffer).into());
                    check_body(size, &checksum, constraints)?;
                    self.put_single(key, buffer.freeze(), constraints, &checksum).await?;
                    return Ok(ObjectMeta {
                        size,
                        content_type: Some(constraints.content_type.as_str().to_owned()),
                        checksum_sha256: Some(checksum.to_base64()),
                    });
                }
            }
        }
        if !self.signer.overwrite && self.head(key).await?.is_some() {
            return Err(StorageError::AlreadyExists);
        }
        let (size, checksum) = self.put_multipart(key, buffer, &mut body, constraints, limit).await?;
        Ok(ObjectMeta {
            size,
            content_type: Some(constraints.content_type.as_str().to_owned()),
            checksum_sha256: Some(checksum.to_base64()),
        })
    }

    #[tracing::instrument(skip(self), fields(key = %key))]
    async fn delete_file(&self, key: &FileKey) -> Result<(), StorageError> {
        self.client
            .delete_object()
            .bucket(&self.signer.bucket)
            .key(key.as_str())
            .send()
            .await
            .map_err(classify_http)?;
        Ok(())
    }

    async fn get_download_url(&self, key: &FileKey, request: &DownloadRequest) -> Result<SignedUrl, StorageError> {
        self.signer.download_url(key, request).await
    }

    async fn get_presigned_upload_url(
        &self,
        key: &FileKey,
        request: &UploadGrantRequest,
    ) -> Result<UploadTarget, StorageError> {
        self.signer.upload_target(key, request).await
    }

    async fn get_file_stream(&self, key: &FileKey) -> Result<ByteStream, StorageError> {
        let object = self
            .client
            .get_object()
            .bucket(&self.signer.bucket)
            .key(key.as_str())
            .send()
            .await
            .map_err(classify_http)?;
        Ok(Box::pin(tokio_util::io::ReaderStream::with_capacity(object.body.into_async_read(), 64 * 1024)))
    }

    async fn head(&self, key: &FileKey) -> Result<Option<ObjectMeta>, StorageError> {
        let head = match self
            .client
            .head_object()
            .bucket(&self.signer.bucket)
            .key(key.as_str())
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .map_err(classify_http)
        {
            Ok(head) => head,
            Err(StorageError::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        // S3's checksum of a multipart object ends in `-<parts>`: not a whole-object digest, so
        // it is not reported (callers that must know hash the bytes).
        let checksum = head.checksum_sha256().filter(|c| !c.contains('-')).map(str::to_owned);
        Ok(Some(ObjectMeta {
            size: u64::try_from(head.content_length().unwrap_or(0)).unwrap_or(0),
            content_type: head.content_type().map(str::to_owned),
            checksum_sha256: checksum,
        }))
    }
}

/// URLs only: see [`S3UrlSigner`].
#[async_trait]
impl FileStorage for S3UrlSigner {
    fn backend(&self) -> StorageBackendKind {
        StorageBackendKind::S3
    }

    fn bucket_name(&self) -> Option<&str> {
        Some(&self.bucket)
    }

    async fn save_proxied_file(
        &self,
        _key: &FileKey,
        _body: ByteStream,
        _constraints: &PutConstraints,
    ) -> Result<ObjectMeta, StorageError> {
        Err(StorageError::Unsupported(URLS_ONLY))
    }

    async fn delete_file(&self, _key: &FileKey) -> Result<(), StorageError> {
        Err(StorageError::Unsupported(URLS_ONLY))
    }

    async fn get_download_url(&self, key: &FileKey, request: &DownloadRequest) -> Result<SignedUrl, StorageError> {
        self.download_url(key, request).await
    }

    async fn get_presigned_upload_url(
        &self,
        key: &FileKey,
        request: &UploadGrantRequest,
    ) -> Result<UploadTarget, StorageError> {
        self.upload_target(key, request).await
    }

    async fn get_file_stream(&self, _key: &FileKey) -> Result<ByteStream, StorageError> {
        Err(StorageError::Unsupported(URLS_ONLY))
    }

    async fn head(&self, _key: &FileKey) -> Result<Option<ObjectMeta>, StorageError> {
        Err(StorageError::Unsupported(URLS_ONLY))
    }
}

const URLS_ONLY: &str = "object operations (this function only signs URLs)";

fn expires_at(now: SystemTime, lifetime: Duration) -> DateTime<Utc> {
    DateTime::<Utc>::from(now + lifetime)
}

/// `content-type` → `Content-Type` for standard headers; `x-amz-*` names stay as S3 writes them.
fn canonical_header_name(name: &str) -> String {
    if name.starts_with("x-amz-") {
        return name.to_owned();
    }
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|first| first.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// For tests: whether the storage's client reaches `endpoint` and the bucket exists.
pub async fn ensure_bucket(storage: &S3FileStorage) -> Result<(), StorageError> {
    match storage.client.head_bucket().bucket(storage.bucket()).send().await {
        Ok(_) => Ok(()),
        Err(_) => {
            storage.client.create_bucket().bucket(storage.bucket()).send().await.map_err(classify_http)?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn storage(style: AddressingStyle, endpoint: Option<&str>, public: Option<&str>) -> S3FileStorage {
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
        S3FileStorage::with_config(&sdk, &settings, "eu-west-1".into(), sdk.credentials_provider().unwrap()).unwrap()
    }

    async fn put_url(storage: &S3FileStorage) -> UploadTarget {
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
