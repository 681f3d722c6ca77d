//! [`S3ObjectStore`]: the objects of one bucket through aws-sdk-s3. Proxied saves stream: one
//! PUT below [`MULTIPART_THRESHOLD`], a multipart upload above it, never more than one part in
//! memory. The whole-object SHA-256 is computed on the way and returned (S3 keeps it for single
//! PUTs; for multipart objects it keeps only a checksum of part checksums).

use async_trait::async_trait;
use aws_sdk_s3::error::{ProvideErrorMetadata as _, SdkError};
use aws_sdk_s3::primitives::ByteStream as SdkByteStream;
use aws_sdk_s3::types::{ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::{classify_http, region_and_credentials, sdk_client_config};
use crate::config::{ConfigError, S3Settings};
use crate::file::ObjectVersion;
use crate::keys::{Checksum, Crc64, FileKey};
use crate::storage::{ByteStream, ObjectMeta, ObjectStore, PutConstraints, ReadObjects, StorageError};

/// Proxied saves at or above this size go through a multipart upload.
pub const MULTIPART_THRESHOLD: usize = 8 * 1024 * 1024;
/// Part size of multipart uploads (S3's minimum is 5 MiB).
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// Objects in one S3 bucket.
#[derive(Debug, Clone)]
pub struct S3ObjectStore {
    client: Client,
    bucket: String,
    overwrite: bool,
}

/// Pages of versions [`S3ObjectStore::delete_file`] goes through for one key.
const MAX_VERSION_PAGES: usize = 10;

/// What a multipart save stored: size, SHA-256 and version.
type Stored = (u64, Checksum, Option<ObjectVersion>);

impl S3ObjectStore {
    /// The client for the settings' bucket. Touches no network.
    ///
    /// # Errors
    /// A [`ConfigError`] when no region can be found.
    pub async fn new(s3: &S3Settings) -> Result<Self, ConfigError> {
        let sdk = crate::aws::sdk_config(Some(s3), None).await;
        region_and_credentials(&sdk)?;
        Ok(Self::with_config(&sdk, s3))
    }

    pub(super) fn with_config(sdk: &aws_config::SdkConfig, s3: &S3Settings) -> Self {
        let client = Client::from_conf(sdk_client_config(sdk, s3.path_style(), s3.endpoint_url.as_deref()));
        Self { client, bucket: s3.bucket.clone(), overwrite: s3.file_overwrite }
    }

    /// The SDK client (for tools and tests that manage the bucket).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Whether writes may replace an object (`AWS_S3_FILE_OVERWRITE`).
    pub fn overwrite(&self) -> bool {
        self.overwrite
    }

    async fn put_single(
        &self,
        key: &FileKey,
        body: Bytes,
        constraints: &PutConstraints,
        checksum: &Checksum,
    ) -> Result<Option<ObjectVersion>, StorageError> {
        let mut request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(constraints.content_type.as_str())
            .content_length(i64::try_from(body.len()).unwrap_or(i64::MAX))
            .checksum_sha256(checksum.to_base64())
            .body(SdkByteStream::from(body));
        if !self.overwrite {
            request = request.if_none_match("*");
        }
        let put = request.send().await.map_err(classify_http)?;
        Ok(ObjectVersion::from_store(put.version_id()))
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
    ) -> Result<Stored, StorageError> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
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
                .bucket(&self.bucket)
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
    ) -> Result<Stored, StorageError> {
        let mut hasher = Sha256::new();
        let mut total: u64 = 0;
        let mut parts = Vec::new();
        let mut ended = false;
        while !ended {
            ended = fill(&mut buffer, body, PART_SIZE, total, limit).await?;
            if buffer.is_empty() {
                break;
            }
            let part = buffer.split().freeze();
            total += part.len() as u64;
            hasher.update(&part);
            let number = i32::try_from(parts.len() + 1).unwrap_or(i32::MAX);
            parts.push(self.upload_part(key, upload_id, number, part).await?);
        }
        let checksum = Checksum::from_digest(hasher.finalize().into());
        check_body(total, &checksum, constraints)?;
        let mut complete = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build());
        if !self.overwrite {
            complete = complete.if_none_match("*");
        }
        let completed = complete.send().await.map_err(classify_http)?;
        Ok((total, checksum, ObjectVersion::from_store(completed.version_id())))
    }

    async fn upload_part(
        &self,
        key: &FileKey,
        upload_id: &str,
        number: i32,
        part: Bytes,
    ) -> Result<CompletedPart, StorageError> {
        let uploaded = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(upload_id)
            .part_number(number)
            .content_length(i64::try_from(part.len()).unwrap_or(i64::MAX))
            .body(SdkByteStream::from(part))
            .send()
            .await
            .map_err(classify_http)?;
        Ok(CompletedPart::builder().part_number(number).set_e_tag(uploaded.e_tag().map(str::to_owned)).build())
    }
}

/// Reads `body` into `buffer` until it holds `target` bytes or the body ends (`true`), refusing
/// to go over `limit` bytes in all (`already` were read before).
async fn fill(
    buffer: &mut BytesMut,
    body: &mut ByteStream,
    target: usize,
    already: u64,
    limit: u64,
) -> Result<bool, StorageError> {
    while buffer.len() < target {
        let Some(chunk) = body.next().await else { return Ok(true) };
        let chunk = chunk.map_err(StorageError::Body)?;
        if already + (buffer.len() + chunk.len()) as u64 > limit {
            return Err(StorageError::TooLarge { limit });
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(false)
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

#[async_trait]
impl ObjectStore for S3ObjectStore {
    #[tracing::instrument(skip(self, body, constraints), fields(key = %key))]
    async fn save_proxied_file(
        &self,
        key: &FileKey,
        mut body: ByteStream,
        constraints: &PutConstraints,
    ) -> Result<ObjectMeta, StorageError> {
        let limit = constraints.exact_size.unwrap_or(constraints.max_size).min(constraints.max_size);
        let mut buffer = BytesMut::new();
        let (size, checksum, version) = if fill(&mut buffer, &mut body, MULTIPART_THRESHOLD, 0, limit).await? {
            let size = buffer.len() as u64;
            let checksum = Checksum::of(&buffer);
            check_body(size, &checksum, constraints)?;
            let version = self.put_single(key, buffer.freeze(), constraints, &checksum).await?;
            (size, checksum, version)
        } else {
            if !self.overwrite && self.head(key).await?.is_some() {
                return Err(StorageError::AlreadyExists);
            }
            self.put_multipart(key, buffer, &mut body, constraints, limit).await?
        };
        Ok(ObjectMeta {
            size,
            content_type: Some(constraints.content_type.as_str().to_owned()),
            checksum_sha256: Some(checksum),
            checksum_crc64nvme: None,
            version,
        })
    }

    /// Every version and delete marker of the key (a versioned bucket keeps the bytes
    /// otherwise, and a download URL signed for a version would still serve them), each by its
    /// id so that no new delete marker is made; on a bucket or server without versions, the
    /// object itself.
    #[tracing::instrument(skip(self), fields(key = %key))]
    async fn delete_file(&self, key: &FileKey) -> Result<(), StorageError> {
        // `versioned`: some version was deleted by id; `null`: an object without a version id
        // (a bucket without versioning, or with it suspended), which the plain delete takes.
        let (mut versioned, mut null) = (false, false);
        // A key has a handful of versions at most (its upload, and replays); pages bound the rest.
        for _ in 0..MAX_VERSION_PAGES {
            let listed = match self.client.list_object_versions().bucket(&self.bucket).prefix(key.as_str()).send().await
            {
                Ok(listed) => listed,
                // An S3-compatible server without versions (s3s-fs answers 501).
                Err(SdkError::ServiceError(e)) if e.err().code() == Some("NotImplemented") => break,
                Err(e) => return Err(classify_http(e)),
            };
            let versions = listed.versions().iter().filter(|v| v.key() == Some(key.as_str())).map(|v| v.version_id());
            let markers =
                listed.delete_markers().iter().filter(|m| m.key() == Some(key.as_str())).map(|m| m.version_id());
            let all: Vec<Option<&str>> = versions.chain(markers).collect();
            null |= all.iter().any(|v| ObjectVersion::from_store(*v).is_none());
            let ids: Vec<ObjectVersion> = all.into_iter().filter_map(ObjectVersion::from_store).collect();
            for version in &ids {
                self.delete_version(key, version).await?;
            }
            versioned |= !ids.is_empty();
            if ids.is_empty() || !listed.is_truncated().unwrap_or(false) {
                break;
            }
        }
        if !versioned || null {
            self.client.delete_object().bucket(&self.bucket).key(key.as_str()).send().await.map_err(classify_http)?;
        }
        Ok(())
    }

    #[tracing::instrument(skip(self), fields(key = %key, version = %version))]
    async fn delete_version(&self, key: &FileKey, version: &ObjectVersion) -> Result<(), StorageError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .version_id(version.as_str())
            .send()
            .await
            .map_err(classify_http)?;
        Ok(())
    }
}

#[async_trait]
impl ReadObjects for S3ObjectStore {
    async fn get_file_stream(&self, key: &FileKey) -> Result<ByteStream, StorageError> {
        self.get_version_stream(key, None).await
    }

    async fn get_version_stream(
        &self,
        key: &FileKey,
        version: Option<&ObjectVersion>,
    ) -> Result<ByteStream, StorageError> {
        let request = self.client.get_object().bucket(&self.bucket).key(key.as_str());
        let object =
            request.set_version_id(version.map(|v| v.as_str().to_owned())).send().await.map_err(classify_http)?;
        Ok(Box::pin(tokio_util::io::ReaderStream::with_capacity(object.body.into_async_read(), 64 * 1024)))
    }

    async fn head(&self, key: &FileKey) -> Result<Option<ObjectMeta>, StorageError> {
        let head = match self
            .client
            .head_object()
            .bucket(&self.bucket)
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
        let checksum = head.checksum_sha256().filter(|c| !c.contains('-')).and_then(|c| Checksum::parse_base64(c).ok());
        // The CRC-64/NVME S3 keeps of every object is of the whole object unless S3 says it is a
        // checksum of part checksums (COMPOSITE).
        let whole = !matches!(head.checksum_type(), Some(ChecksumType::Composite));
        let crc = head.checksum_crc64_nvme().filter(|_| whole).and_then(|c| Crc64::parse_base64(c).ok());
        Ok(Some(ObjectMeta {
            size: u64::try_from(head.content_length().unwrap_or(0)).unwrap_or(0),
            content_type: head.content_type().map(str::to_owned),
            checksum_sha256: checksum,
            checksum_crc64nvme: crc,
            version: ObjectVersion::from_store(head.version_id()),
        }))
    }
}

/// For tests: whether the storage's client reaches `endpoint` and the bucket exists.
pub async fn ensure_bucket(storage: &S3ObjectStore) -> Result<(), StorageError> {
    match storage.client.head_bucket().bucket(storage.bucket()).send().await {
        Ok(_) => Ok(()),
        Err(_) => {
            storage.client.create_bucket().bucket(storage.bucket()).send().await.map_err(classify_http)?;
            Ok(())
        }
    }
}
