//! Multipart uploads on the local backend, laid out as S3 keeps them apart from objects:
//! `.parts/<upload id>/upload.json` names the upload's key and content type, and each part is
//! `.parts/<upload id>/<number>.<etag>`, written to a temporary file first and renamed into
//! place (a part sent again replaces the earlier one). Completion streams the parts, in order,
//! through the same create-only write as any object, then drops them.

use std::io;
use std::path::PathBuf;

use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use super::url::{Grant, LocalOp};
use super::{LocalFileStorage, TempFile};
use crate::keys::{ContentType, Crc64, FileKey};
use crate::storage::multipart::{
    bare_etag, same_etag, CompleteMultipart, CompletedPart, MultipartOp, MultipartStore, SignedRequest, UploadId,
    UploadedPart, MIN_PART_SIZE,
};
use crate::storage::{ByteStream, ObjectStore, PutConstraints, StorageError};

#[derive(Debug, Serialize, Deserialize)]
struct UploadRecord {
    key: String,
    content_type: String,
}

fn io_err(e: io::Error) -> StorageError {
    StorageError::Io(e)
}

/// The entity tag of a part: its CRC-64/NVME in hex, quoted (opaque to clients, as S3's MD5 is;
/// it tells a part sent again with other bytes from the one listed, at a small part of a
/// cryptographic hash's cost, and the whole file's SHA-256 is computed at completion).
fn etag_of(crc: Crc64) -> String {
    format!("\"{}\"", crc.to_hex())
}

impl LocalFileStorage {
    fn upload_dir(&self, upload_id: &UploadId) -> Result<PathBuf, StorageError> {
        // Local ids are 32 hex digits; anything else (a path, another store's id) names nothing.
        let id = upload_id.as_str();
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StorageError::NotFound);
        }
        Ok(self.root().join(".parts").join(id))
    }

    /// The upload's record, when `upload_id` is an upload of `key`.
    async fn upload_of(&self, key: &FileKey, upload_id: &UploadId) -> Result<(PathBuf, UploadRecord), StorageError> {
        let dir = self.upload_dir(upload_id)?;
        let raw = match tokio::fs::read(dir.join("upload.json")).await {
            Ok(raw) => raw,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(StorageError::NotFound),
            Err(e) => return Err(io_err(e)),
        };
        let record: UploadRecord = serde_json::from_slice(&raw).map_err(|e| io_err(io::Error::other(e)))?;
        if record.key != key.as_str() {
            return Err(StorageError::NotFound);
        }
        Ok((dir, record))
    }

    /// Stores part `number` of the upload, exactly `size` bytes, and answers its entity tag.
    ///
    /// # Errors
    /// `NotFound` for no such upload of `key`; `TooLarge`/`SizeMismatch` for a body of another
    /// length; `Body`, `Io`.
    pub async fn save_part(
        &self,
        key: &FileKey,
        upload_id: &UploadId,
        number: u32,
        mut body: ByteStream,
        size: u64,
    ) -> Result<String, StorageError> {
        let (dir, _) = self.upload_of(key, upload_id).await?;
        let temp = TempFile(dir.join(format!(".{}", Uuid::new_v4().simple())));
        let mut file =
            tokio::fs::OpenOptions::new().write(true).create_new(true).open(&temp.0).await.map_err(io_err)?;
        let mut hasher = crc64fast_nvme::Digest::new();
        let mut written: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(StorageError::Body)?;
            written += chunk.len() as u64;
            if written > size {
                return Err(StorageError::TooLarge { limit: size });
            }
            hasher.write(&chunk);
            file.write_all(&chunk).await.map_err(io_err)?;
        }
        file.flush().await.map_err(io_err)?;
        if written != size {
            return Err(StorageError::SizeMismatch { expected: size, actual: written });
        }
        let etag = etag_of(Crc64::from_value(hasher.sum64()));
        let earlier = self.part_files(&dir).await?;
        tokio::fs::rename(&temp.0, dir.join(format!("{number}.{}", bare_etag(&etag)))).await.map_err(io_err)?;
        for (n, path, _) in earlier {
            if n == number && !path.ends_with(format!("{number}.{}", bare_etag(&etag))) {
                let _ = tokio::fs::remove_file(path).await;
            }
        }
        Ok(etag)
    }

    /// Every part file of the upload in `dir`: number, path and entity tag.
    async fn part_files(&self, dir: &std::path::Path) -> Result<Vec<(u32, PathBuf, String)>, StorageError> {
        let mut entries = match tokio::fs::read_dir(dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(StorageError::NotFound),
            Err(e) => return Err(io_err(e)),
        };
        let mut parts = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(io_err)? {
            let name = entry.file_name();
            let Some((number, etag)) = name.to_str().and_then(|n| n.split_once('.')) else { continue };
            if let Ok(number) = number.parse::<u32>() {
                parts.push((number, entry.path(), format!("\"{etag}\"")));
            }
        }
        parts.sort_by_key(|p| p.0);
        Ok(parts)
    }
}

impl LocalFileStorage {
    /// The signed multipart requests `ops` of `key`, valid until `expires_at`.
    pub(super) fn signed_multipart(
        &self,
        key: &FileKey,
        ops: &[MultipartOp<'_>],
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> Vec<SignedRequest> {
        ops.iter()
            .map(|op| {
                let mut headers = std::collections::BTreeMap::new();
                let local = match *op {
                    MultipartOp::Create { content_type } => {
                        headers.insert("Content-Type".to_owned(), content_type.as_str().to_owned());
                        LocalOp::Create { content_type: content_type.as_str().to_owned() }
                    }
                    MultipartOp::Part { upload_id, number, size } => {
                        headers.insert("Content-Length".to_owned(), size.to_string());
                        LocalOp::Part { upload_id: upload_id.as_str().to_owned(), number, size }
                    }
                    MultipartOp::List { upload_id } => LocalOp::List { upload_id: upload_id.as_str().to_owned() },
                    MultipartOp::Complete { upload_id } => {
                        LocalOp::Complete { upload_id: upload_id.as_str().to_owned() }
                    }
                    MultipartOp::Abort { upload_id } => LocalOp::Abort { upload_id: upload_id.as_str().to_owned() },
                };
                let grant = Grant::Multipart { key: key.clone(), expires: expires_at.timestamp(), op: local };
                SignedRequest {
                    method: op.method(),
                    url: self.url_signer().signed_url(self.url_base(), &grant),
                    headers,
                }
            })
            .collect()
    }
}

#[async_trait]
impl CompleteMultipart for LocalFileStorage {
    async fn list_parts(&self, key: &FileKey, upload_id: &UploadId) -> Result<Vec<UploadedPart>, StorageError> {
        let (dir, _) = self.upload_of(key, upload_id).await?;
        let mut parts = Vec::new();
        for (part_number, path, etag) in self.part_files(&dir).await? {
            let size = match tokio::fs::metadata(&path).await {
                Ok(m) => m.len(),
                // Replaced by a newer copy of the part meanwhile.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(e)),
            };
            parts.push(UploadedPart { part_number, size, etag });
        }
        Ok(parts)
    }

    async fn complete_multipart(
        &self,
        key: &FileKey,
        upload_id: &UploadId,
        parts: &[CompletedPart],
    ) -> Result<(), StorageError> {
        let (dir, record) = self.upload_of(key, upload_id).await?;
        let stored = self.part_files(&dir).await?;
        if parts.is_empty() {
            return Err(StorageError::InvalidParts("a completion needs at least one part".into()));
        }
        let mut paths = Vec::with_capacity(parts.len());
        let mut previous = 0;
        for (i, part) in parts.iter().enumerate() {
            if part.part_number <= previous {
                return Err(StorageError::InvalidParts("the parts are not in ascending order".into()));
            }
            previous = part.part_number;
            let found = stored.iter().find(|(n, _, etag)| *n == part.part_number && same_etag(etag, &part.etag));
            let Some((_, path, _)) = found else {
                return Err(StorageError::InvalidParts("a part is missing or differs from the one listed".into()));
            };
            let len = tokio::fs::metadata(path).await.map_err(io_err)?.len();
            if i + 1 < parts.len() && len < MIN_PART_SIZE {
                return Err(StorageError::InvalidParts("a part other than the last is under 5 MiB".into()));
            }
            paths.push(path.clone());
        }
        let content_type = ContentType::parse(&record.content_type).map_err(|e| StorageError::Backend(e.0.into()))?;
        let body = futures_util::stream::iter(paths)
            .then(|path| async move {
                tokio::fs::File::open(path)
                    .await
                    .map(|file| tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024))
            })
            .try_flatten();
        let constraints = PutConstraints { content_type, exact_size: None, max_size: u64::MAX, checksum_sha256: None };
        self.save_proxied_file(key, Box::pin(body), &constraints).await?;
        let _ = tokio::fs::remove_dir_all(&dir).await;
        Ok(())
    }
}

#[async_trait]
impl MultipartStore for LocalFileStorage {
    async fn create_multipart(&self, key: &FileKey, content_type: &ContentType) -> Result<UploadId, StorageError> {
        let id =
            UploadId::parse(&Uuid::new_v4().simple().to_string()).map_err(|e| StorageError::Backend(e.0.into()))?;
        let dir = self.upload_dir(&id)?;
        tokio::fs::create_dir_all(&dir).await.map_err(io_err)?;
        let record = UploadRecord { key: key.as_str().to_owned(), content_type: content_type.as_str().to_owned() };
        let json = serde_json::to_vec(&record).map_err(|e| io_err(io::Error::other(e)))?;
        tokio::fs::write(dir.join("upload.json"), json).await.map_err(io_err)?;
        Ok(id)
    }

    async fn abort_multipart(&self, key: &FileKey, upload_id: &UploadId) -> Result<(), StorageError> {
        match self.upload_of(key, upload_id).await {
            Ok((dir, _)) => match tokio::fs::remove_dir_all(&dir).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(io_err(e)),
            },
            Err(StorageError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn abort_stale(&self, before: chrono::DateTime<chrono::Utc>) -> Result<usize, StorageError> {
        let mut entries = match tokio::fs::read_dir(self.root().join(".parts")).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io_err(e)),
        };
        let mut aborted = 0;
        while let Some(entry) = entries.next_entry().await.map_err(io_err)? {
            // The upload's record is written once, when it begins.
            let begun = match tokio::fs::metadata(entry.path().join("upload.json")).await {
                Ok(meta) => meta.modified().map(chrono::DateTime::<chrono::Utc>::from).map_err(io_err)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => entry
                    .metadata()
                    .await
                    .and_then(|m| m.modified())
                    .map(chrono::DateTime::<chrono::Utc>::from)
                    .map_err(io_err)?,
                Err(e) => return Err(io_err(e)),
            };
            if begun < before {
                match tokio::fs::remove_dir_all(entry.path()).await {
                    Ok(()) => aborted += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(e)),
                }
            }
        }
        Ok(aborted)
    }
}
