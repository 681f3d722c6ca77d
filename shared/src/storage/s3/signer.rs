//! [`S3UrlSigner`]: pre-signed PUT, POST and GET for one bucket, with no S3 client, so the
//! functions that only hand out URLs (initiate-upload, download-url, get-file, search-files)
//! leave the S3 operations out of their binaries.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use chrono::{DateTime, Utc};

use super::post_policy::{self, PostPolicyRequest, SigningIdentity};
use super::presign::{GetObject, PresignError, PresignTarget, Presigner, PutObject};
use super::presign_parts::{MultipartOperation, MultipartRequest};
use super::{region_and_credentials, unavailable};
use crate::config::{ConfigError, S3Settings};
use crate::disposition::content_disposition;
use crate::file::ObjectVersion;
use crate::keys::FileKey;
use crate::storage::multipart::{MultipartOp, SignedRequest};
use crate::storage::{
    DownloadRequest, SignDownloads, SignUrls, SignedUrl, StorageError, UploadGrantRequest, UploadMethod, UploadTarget,
};

/// Signs URLs for one bucket; built once per cold start.
#[derive(Debug, Clone)]
pub struct S3UrlSigner {
    presigner: Presigner,
    credentials: SharedCredentialsProvider,
    bucket: String,
    region: String,
    overwrite: bool,
    form_url: String,
}

/// A URL that cannot be signed (a lifetime over seven days, an empty key): a bug or a bad
/// configuration, not something a retry fixes.
fn signing(e: PresignError) -> StorageError {
    StorageError::Backend(Box::new(e))
}

impl S3UrlSigner {
    /// The signer for the settings' bucket. Touches no network.
    ///
    /// # Errors
    /// A [`ConfigError`] when no region can be found or the endpoint cannot be signed for.
    pub async fn new(s3: &S3Settings) -> Result<Self, ConfigError> {
        let sdk = crate::aws::sdk_config(Some(s3), None).await;
        let (region, credentials) = region_and_credentials(&sdk)?;
        Self::with_config(&sdk, s3, region, credentials)
    }

    pub(super) fn with_config(
        sdk: &aws_config::SdkConfig,
        s3: &S3Settings,
        region: String,
        credentials: SharedCredentialsProvider,
    ) -> Result<Self, ConfigError> {
        let path_style = s3.path_style();
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
        Ok(Self { presigner, credentials, bucket: s3.bucket.clone(), region, overwrite: s3.file_overwrite, form_url })
    }

    /// The current credentials: from the provider's own cache where it has one.
    async fn current_credentials(&self) -> Result<Credentials, StorageError> {
        self.credentials.provide_credentials().await.map_err(unavailable)
    }

    /// The lifetime to sign for: the requested one, clamped to the credentials' expiry, since a
    /// URL signed with temporary credentials dies with them.
    pub(super) fn lifetime(requested: Duration, credentials: &Credentials, now: SystemTime) -> Duration {
        match credentials.expiry().and_then(|e| e.duration_since(now).ok()) {
            Some(left) => requested.min(left),
            None => requested,
        }
    }

    /// The `X-Amz-Expires` to sign: at least a second, even for credentials about to expire.
    fn signed_lifetime(lifetime: Duration) -> Duration {
        lifetime.max(Duration::from_secs(1))
    }

    async fn download_url(&self, key: &FileKey, request: &DownloadRequest<'_>) -> Result<SignedUrl, StorageError> {
        let now = SystemTime::now();
        let credentials = self.current_credentials().await?;
        let lifetime = Self::lifetime(request.expires_in, &credentials, now);
        let disposition = content_disposition(request.disposition, request.filename.as_str());
        let get = GetObject {
            key: key.as_str(),
            response_content_disposition: Some(&disposition),
            response_content_type: Some(request.content_type.as_str()),
            version_id: request.version.map(ObjectVersion::as_str),
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
            UploadMethod::Multipart => Err(StorageError::MethodNotSupported("a multipart upload has no one URL")),
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

#[async_trait]
impl SignDownloads for S3UrlSigner {
    async fn get_download_url(&self, key: &FileKey, request: &DownloadRequest<'_>) -> Result<SignedUrl, StorageError> {
        self.download_url(key, request).await
    }
}

#[async_trait]
impl SignUrls for S3UrlSigner {
    async fn get_presigned_upload_url(
        &self,
        key: &FileKey,
        request: &UploadGrantRequest,
    ) -> Result<UploadTarget, StorageError> {
        self.upload_target(key, request).await
    }

    async fn sign_multipart(
        &self,
        key: &FileKey,
        ops: &[MultipartOp<'_>],
        expires_in: Duration,
    ) -> Result<(Vec<SignedRequest>, DateTime<Utc>), StorageError> {
        let now = SystemTime::now();
        let credentials = self.current_credentials().await?;
        let lifetime = Self::lifetime(expires_in, &credentials, now);
        let signed_lifetime = Self::signed_lifetime(lifetime);
        let if_none_match = (!self.overwrite).then_some("*");
        if let Some((upload_id, parts)) = parts_of_one_upload(ops) {
            let batch = self
                .presigner
                .upload_parts(key.as_str(), upload_id, &parts, &credentials, now, signed_lifetime)
                .map_err(signing)?;
            let signed = batch
                .into_iter()
                .map(|p| SignedRequest {
                    method: "PUT",
                    url: p.url,
                    headers: p
                        .headers
                        .iter()
                        .map(|(name, value)| (canonical_header_name(name), value.clone()))
                        .collect(),
                })
                .collect();
            return Ok((signed, expires_at(now, lifetime)));
        }
        let mut signed = Vec::with_capacity(ops.len());
        for op in ops {
            let content_type;
            let operation = match *op {
                MultipartOp::Create { content_type: ct } => {
                    content_type = ct.as_str();
                    MultipartOperation::Create { content_type }
                }
                MultipartOp::Part { upload_id, number, size } => MultipartOperation::Part {
                    upload_id: upload_id.as_str(),
                    part_number: number,
                    content_length: size,
                },
                MultipartOp::List { upload_id } => MultipartOperation::List { upload_id: upload_id.as_str() },
                MultipartOp::Complete { upload_id } => {
                    MultipartOperation::Complete { upload_id: upload_id.as_str(), if_none_match }
                }
                MultipartOp::Abort { upload_id } => MultipartOperation::Abort { upload_id: upload_id.as_str() },
            };
            let request = MultipartRequest { key: key.as_str(), operation };
            let presigned = self.presigner.multipart(&request, &credentials, now, signed_lifetime).map_err(signing)?;
            let headers =
                presigned.headers.iter().map(|(name, value)| (canonical_header_name(name), value.clone())).collect();
            signed.push(SignedRequest { method: op.method(), url: presigned.url, headers });
        }
        Ok((signed, expires_at(now, lifetime)))
    }
}

/// The upload id and `(number, length)` of each op when every one is a part of one upload (a
/// batch the presigner signs sharing what the parts have in common).
fn parts_of_one_upload<'a>(ops: &[MultipartOp<'a>]) -> Option<(&'a str, Vec<(u32, u64)>)> {
    let mut upload: Option<&str> = None;
    let mut parts = Vec::with_capacity(ops.len());
    for op in ops {
        let MultipartOp::Part { upload_id, number, size } = *op else { return None };
        if upload.is_some_and(|u| u != upload_id.as_str()) {
            return None;
        }
        upload = Some(upload_id.as_str());
        parts.push((number, size));
    }
    upload.map(|u| (u, parts))
}

/// The URL a POST form is sent to.
pub(super) fn form_url(endpoint: Option<&str>, bucket: &str, region: &str, path_style: bool) -> String {
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

fn expires_at(now: SystemTime, lifetime: Duration) -> DateTime<Utc> {
    DateTime::<Utc>::from(now + lifetime)
}

/// `content-type` → `Content-Type` for standard headers; `x-amz-*` names stay as S3 writes them.
pub(super) fn canonical_header_name(name: &str) -> String {
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
