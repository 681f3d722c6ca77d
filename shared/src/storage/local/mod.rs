//! `LocalFileStorage`: objects as plain files under `LOCAL_MEDIA_ROOT`, for development.
//!
//! - Every write goes to a temporary file under `.tmp/`, is checked (size, checksum), and is then
//!   hard-linked into place, which fails if the key exists: a failed or partial write leaves
//!   nothing, and an object is never overwritten.
//! - What S3 keeps as object metadata (content type, SHA-256) lives in `.meta/<key>.json`,
//!   written after the bytes; an object is visible only once both exist.
//! - A deleted key leaves a tombstone, `.gone/<key>`: no write ever takes the key again, so a
//!   replayed upload URL cannot bring a deleted file's key back (keys are never reused).
//! - Keys are [`FileKey`]s, whose segments never start with a dot: no key reaches `.tmp/`,
//!   `.meta/` or `.gone/`, and none escapes the root.
//! - URLs handed to clients are HMAC-signed [`Grant`]s served by the `local-media` server.

use std::io;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use super::multipart::{MultipartOp, SignedRequest};
use super::{
    ByteStream, DownloadRequest, ObjectMeta, ObjectStore, PutConstraints, ReadObjects, SignDownloads, SignUrls,
    SignedUrl, StorageError, UploadGrantRequest, UploadMethod, UploadTarget,
};
use crate::config::LocalStorageSettings;
use crate::disposition::content_disposition;
use crate::keys::{Checksum, Crc64, FileKey};

mod listing;
mod multipart;
pub mod url;

use url::{Grant, UrlSigner};

const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug, Serialize, Deserialize)]
struct SidecarMeta {
    content_type: String,
    checksum_sha256: String,
    /// Absent in sidecars written before it was kept.
    #[serde(default)]
    checksum_crc64nvme: Option<String>,
}

impl SidecarMeta {
    fn crc64(&self) -> Option<Crc64> {
        self.checksum_crc64nvme.as_deref().and_then(|c| Crc64::parse_base64(c).ok())
    }
}

/// Files under a root folder, with signed URLs served under `PUBLIC_BASE_URL` +
/// `LOCAL_MEDIA_URL_PREFIX`: both an [`ObjectStore`] and a [`SignUrls`].
#[derive(Debug, Clone)]
pub struct LocalFileStorage {
    root: PathBuf,
    signer: UrlSigner,
    url_base: String,
}

impl LocalFileStorage {
    /// A store rooted at `root` whose URLs start with `url_base` (base URL + prefix).
    pub fn new(root: impl Into<PathBuf>, signing_secret: &[u8], url_base: impl Into<String>) -> Self {
        Self { root: root.into(), signer: UrlSigner::new(signing_secret), url_base: url_base.into() }
    }

    /// The store the local settings describe. Touches nothing on disk.
    pub fn from_settings(settings: &LocalStorageSettings) -> Self {
        Self::new(&settings.media_root, settings.signing_secret.expose().as_bytes(), settings.url_base())
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where this store's URLs start (`PUBLIC_BASE_URL` + `LOCAL_MEDIA_URL_PREFIX`).
    pub fn url_base(&self) -> &str {
        &self.url_base
    }

    /// The signer of this store's URLs (the `local-media` server checks requests with it).
    pub fn url_signer(&self) -> &UrlSigner {
        &self.signer
    }

    /// The object as an open file with its metadata (size from the open file itself), for a
    /// server that answers ranges. Local backend only.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] when there is no object (or only half of one) under `key`.
    pub async fn open(&self, key: &FileKey) -> Result<(tokio::fs::File, ObjectMeta), StorageError> {
        let Some(meta) = self.read_meta(key).await? else {
            return Err(StorageError::NotFound);
        };
        let file = match tokio::fs::File::open(self.data_path(key)).await {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(StorageError::NotFound),
            Err(e) => return Err(StorageError::Io(e)),
        };
        let size = file.metadata().await.map_err(StorageError::Io)?.len();
        let crc = meta.crc64();
        let object = ObjectMeta {
            size,
            content_type: Some(meta.content_type),
            checksum_sha256: Checksum::parse_base64(&meta.checksum_sha256).ok(),
            checksum_crc64nvme: crc,
            version: None,
        };
        Ok((file, object))
    }

    fn data_path(&self, key: &FileKey) -> PathBuf {
        self.root.join(key.as_str())
    }

    fn meta_path(&self, key: &FileKey) -> PathBuf {
        self.root.join(".meta").join(format!("{}.json", key.as_str()))
    }

    fn tombstone_path(&self, key: &FileKey) -> PathBuf {
        self.root.join(".gone").join(key.as_str())
    }

    async fn is_gone(&self, key: &FileKey) -> Result<bool, StorageError> {
        tokio::fs::try_exists(self.tombstone_path(key)).await.map_err(StorageError::Io)
    }

    async fn remove_object(&self, key: &FileKey) -> Result<(), StorageError> {
        for path in [self.meta_path(key), self.data_path(key)] {
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::Io(e)),
            }
        }
        Ok(())
    }

    async fn read_meta(&self, key: &FileKey) -> Result<Option<SidecarMeta>, StorageError> {
        match tokio::fs::read(self.meta_path(key)).await {
            Ok(raw) => serde_json::from_slice(&raw).map(Some).map_err(|e| StorageError::Io(io::Error::other(e))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StorageError::Io(e)),
        }
    }

    async fn write_body(
        &self,
        temp: &Path,
        mut body: ByteStream,
        constraints: &PutConstraints,
    ) -> Result<(u64, Checksum, Crc64), StorageError> {
        let limit = constraints.exact_size.unwrap_or(constraints.max_size).min(constraints.max_size);
        let mut file =
            tokio::fs::OpenOptions::new().write(true).create_new(true).open(temp).await.map_err(StorageError::Io)?;
        let (mut hasher, mut crc) = (Sha256::new(), crc64fast_nvme::Digest::new());
        let mut written: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(StorageError::Body)?;
            written += chunk.len() as u64;
            if written > limit {
                return Err(StorageError::TooLarge { limit });
            }
            hasher.update(&chunk);
            crc.write(&chunk);
            file.write_all(&chunk).await.map_err(StorageError::Io)?;
        }
        file.flush().await.map_err(StorageError::Io)?;
        file.sync_all().await.map_err(StorageError::Io)?;
        if let Some(expected) = constraints.exact_size {
            if written != expected {
                return Err(StorageError::SizeMismatch { expected, actual: written });
            }
        }
        let checksum = Checksum::from_digest(hasher.finalize().into());
        if constraints.checksum_sha256.is_some_and(|c| c != checksum) {
            return Err(StorageError::ChecksumMismatch);
        }
        Ok((written, checksum, Crc64::from_value(crc.sum64())))
    }
}

/// Removes a temporary file when dropped, whatever happened to the write.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        // The file may already be gone (renamed or never created); nothing else to do.
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn ensure_parent(path: &Path) -> Result<(), StorageError> {
    match path.parent() {
        Some(parent) => tokio::fs::create_dir_all(parent).await.map_err(StorageError::Io),
        None => Ok(()),
    }
}

#[async_trait]
impl SignDownloads for LocalFileStorage {
    async fn get_download_url(&self, key: &FileKey, request: &DownloadRequest<'_>) -> Result<SignedUrl, StorageError> {
        let expires_at = expiry(request.expires_in);
        let grant = Grant::Get {
            key: key.clone(),
            expires: expires_at.timestamp(),
            disposition: content_disposition(request.disposition, request.filename.as_str()),
            content_type: request.content_type.as_str().to_owned(),
        };
        Ok(SignedUrl { url: self.signer.signed_url(&self.url_base, &grant), expires_at })
    }
}

#[async_trait]
impl SignUrls for LocalFileStorage {
    async fn get_presigned_upload_url(
        &self,
        key: &FileKey,
        request: &UploadGrantRequest,
    ) -> Result<UploadTarget, StorageError> {
        if request.method != UploadMethod::Put {
            return Err(StorageError::MethodNotSupported("the local backend takes uploads by PUT only"));
        }
        let expires_at = expiry(request.expires_in);
        let checksum = request.checksum_sha256.map(|c| c.to_base64());
        let grant = Grant::Put {
            key: key.clone(),
            expires: expires_at.timestamp(),
            size: request.size,
            content_type: request.content_type.as_str().to_owned(),
            checksum_sha256: checksum.clone(),
        };
        let mut headers = std::collections::BTreeMap::new();
        headers.insert("Content-Type".to_owned(), request.content_type.as_str().to_owned());
        if let Some(c) = checksum {
            headers.insert("x-amz-checksum-sha256".to_owned(), c);
        }
        Ok(UploadTarget {
            method: UploadMethod::Put,
            url: self.signer.signed_url(&self.url_base, &grant),
            headers,
            fields: std::collections::BTreeMap::new(),
            expires_at,
        })
    }

    async fn sign_multipart(
        &self,
        key: &FileKey,
        ops: &[MultipartOp<'_>],
        expires_in: std::time::Duration,
    ) -> Result<(Vec<SignedRequest>, DateTime<Utc>), StorageError> {
        let expires_at = expiry(expires_in);
        Ok((self.signed_multipart(key, ops, expires_at), expires_at))
    }
}

#[async_trait]
impl ObjectStore for LocalFileStorage {
    #[tracing::instrument(skip(self, body, constraints), fields(key = %key))]
    async fn save_proxied_file(
        &self,
        key: &FileKey,
        body: ByteStream,
        constraints: &PutConstraints,
    ) -> Result<ObjectMeta, StorageError> {
        let data_path = self.data_path(key);
        if self.is_gone(key).await? || tokio::fs::try_exists(&data_path).await.map_err(StorageError::Io)? {
            return Err(StorageError::AlreadyExists);
        }
        let tmp_dir = self.root.join(".tmp");
        tokio::fs::create_dir_all(&tmp_dir).await.map_err(StorageError::Io)?;
        let temp = TempFile(tmp_dir.join(Uuid::new_v4().to_string()));
        let (size, checksum, crc) = self.write_body(&temp.0, body, constraints).await?;

        let meta = SidecarMeta {
            content_type: constraints.content_type.as_str().to_owned(),
            checksum_sha256: checksum.to_base64(),
            checksum_crc64nvme: Some(crc.to_base64()),
        };
        let meta_temp = TempFile(tmp_dir.join(format!("{}.json", Uuid::new_v4())));
        let meta_json = serde_json::to_vec(&meta).map_err(|e| StorageError::Io(io::Error::other(e)))?;
        tokio::fs::write(&meta_temp.0, meta_json).await.map_err(StorageError::Io)?;

        ensure_parent(&data_path).await?;
        // A hard link is an atomic create-only rename: it fails if the key was taken meanwhile.
        match tokio::fs::hard_link(&temp.0, &data_path).await {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(StorageError::AlreadyExists),
            Err(e) => return Err(StorageError::Io(e)),
        }
        let meta_path = self.meta_path(key);
        let published = async {
            ensure_parent(&meta_path).await?;
            tokio::fs::rename(&meta_temp.0, &meta_path).await.map_err(StorageError::Io)
        }
        .await;
        if let Err(e) = published {
            // Without its metadata the object is invisible; take the bytes back out too.
            let _ = tokio::fs::remove_file(&data_path).await;
            return Err(e);
        }
        if self.is_gone(key).await? {
            // Deleted while this write ran: the delete wins.
            self.remove_object(key).await?;
            return Err(StorageError::AlreadyExists);
        }
        let checksum_crc64nvme = Some(crc);
        Ok(ObjectMeta {
            size,
            content_type: Some(meta.content_type),
            checksum_sha256: Some(checksum),
            checksum_crc64nvme,
            version: None,
        })
    }

    #[tracing::instrument(skip(self), fields(key = %key))]
    async fn delete_file(&self, key: &FileKey) -> Result<(), StorageError> {
        // The tombstone first: a write that starts or finishes after it finds the key gone.
        let tombstone = self.tombstone_path(key);
        ensure_parent(&tombstone).await?;
        tokio::fs::write(&tombstone, b"").await.map_err(StorageError::Io)?;
        self.remove_object(key).await
    }
}

#[async_trait]
impl ReadObjects for LocalFileStorage {
    async fn get_file_stream(&self, key: &FileKey) -> Result<ByteStream, StorageError> {
        let (file, _) = self.open(key).await?;
        Ok(Box::pin(tokio_util::io::ReaderStream::with_capacity(file, READ_CHUNK)))
    }

    async fn head(&self, key: &FileKey) -> Result<Option<ObjectMeta>, StorageError> {
        let Some(meta) = self.read_meta(key).await? else {
            return Ok(None);
        };
        let crc = meta.crc64();
        match tokio::fs::metadata(self.data_path(key)).await {
            Ok(m) if m.is_file() => Ok(Some(ObjectMeta {
                size: m.len(),
                content_type: Some(meta.content_type),
                // A sidecar is written by this store only; one that does not parse is no checksum.
                checksum_sha256: Checksum::parse_base64(&meta.checksum_sha256).ok(),
                checksum_crc64nvme: crc,
                version: None,
            })),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StorageError::Io(e)),
        }
    }
}

fn expiry(expires_in: std::time::Duration) -> DateTime<Utc> {
    let seconds = i64::try_from(expires_in.as_secs()).unwrap_or(i64::MAX / 2);
    Utc::now() + chrono::Duration::seconds(seconds)
}
