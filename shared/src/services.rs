//! The upload, confirm, download, read and delete workflows, written once and called by every
//! function. They take a [`Caller`] and domain input and return serialisable views or an
//! [`ApiError`]; they know nothing of HTTP or Lambda.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Caller;
use crate::config::{Settings, UploadSettings, LAMBDA_MAX_BODY_BYTES};
use crate::db::{ConfirmOutcome, FileRepository, FileStatus, NewStoredFile, OwnerEntity, StoredFile};
use crate::disposition::DispositionKind;
use crate::error::{ApiError, ErrorKind};
use crate::indexing::{Change, Indexer};
use crate::keys::{Checksum, ContentType, FileKey, OriginalFilename};
use crate::search::{SearchError, SearchQuery};
use crate::storage::{
    ByteStream, DownloadRequest, FileStorage, PutConstraints, SignedUrl, UploadGrantRequest, UploadMethod,
};

/// `POST /files/initiate-upload` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitiateUploadRequest {
    /// The user's file name.
    pub filename: String,
    /// The content type the bytes will be sent with.
    pub content_type: String,
    /// The exact size in bytes.
    pub size: i64,
    /// Base64 SHA-256 of the bytes, binding the upload to them.
    #[serde(default)]
    pub checksum_sha256: Option<String>,
    /// The business entity the file belongs to.
    #[serde(default)]
    pub owner: Option<OwnerEntity>,
    /// `put` (default): a pre-signed PUT; `post`: a browser form POST with a signed policy.
    #[serde(default)]
    pub upload_method: RequestedUploadMethod,
}

/// The `upload_method` of initiate-upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestedUploadMethod {
    /// A pre-signed PUT.
    #[default]
    Put,
    /// A browser form POST.
    Post,
}

/// `POST /files/confirm-upload` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmUploadRequest {
    /// The key returned by initiate-upload.
    pub file_key: String,
}

/// The answer to initiate-upload: where and how to send the bytes.
#[derive(Debug, Clone, Serialize)]
pub struct InitiatedUpload {
    /// The new file's id.
    pub file_id: Uuid,
    /// The key to confirm afterwards.
    pub file_key: String,
    /// The HTTP method to send the bytes with.
    pub method: UploadMethod,
    /// The signed URL.
    pub url: String,
    /// Headers the request must carry, exactly (PUT).
    pub headers: BTreeMap<String, String>,
    /// Form fields to send before the file, which goes last in a field named `file` (POST).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
    /// When the URL stops working.
    pub expires_at: DateTime<Utc>,
}

/// A file as every route returns it.
#[derive(Debug, Clone, Serialize)]
pub struct FileView {
    /// Id.
    pub id: Uuid,
    /// Storage key.
    pub file_key: String,
    /// The user's file name.
    pub original_filename: String,
    /// Content type.
    pub content_type: String,
    /// Size in bytes.
    pub size: i64,
    /// Base64 SHA-256.
    pub checksum_sha256: Option<String>,
    /// `pending` or `available`.
    pub status: FileStatus,
    /// `local` or `s3`.
    pub storage_backend: String,
    /// Bucket, for S3.
    pub bucket_name: Option<String>,
    /// Uploader's user id.
    pub uploaded_by: String,
    /// Owning organization.
    pub organization_id: String,
    /// Owning business entity.
    pub owner: Option<OwnerEntity>,
    /// When the upload was initiated.
    pub created_at: DateTime<Utc>,
    /// When it was confirmed.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// A signed download URL, for available files.
    pub download_url: Option<String>,
    /// When `download_url` stops working.
    pub download_url_expires_at: Option<DateTime<Utc>>,
}

/// `GET /files/search` parameters.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SearchRequest {
    /// Words to find in file names and content.
    #[serde(default)]
    pub q: String,
    /// Only this `type/subtype`.
    pub content_type: Option<String>,
    /// Only this uploader.
    pub uploaded_by: Option<String>,
    /// Page size (1–100, default 20).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A file found by search.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    /// The file, as every route returns it.
    #[serde(flatten)]
    pub file: FileView,
    /// Matching fragments with `<em>` around the matches.
    pub highlights: Vec<String>,
}

/// One page of search results.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResults {
    /// The files, best first.
    pub files: Vec<SearchResult>,
    /// How many files match in all.
    pub total: u64,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// The workflows over one storage and one repository, built once per cold start.
#[derive(Debug, Clone)]
pub struct FileService {
    storage: Arc<dyn FileStorage>,
    repo: Arc<dyn FileRepository>,
    indexer: Option<Indexer>,
    upload: UploadSettings,
    url_expiry: Duration,
}

impl FileService {
    /// The service over `storage` and `repo` with the limits in `settings`; with an `indexer`,
    /// confirms, proxied uploads and deletes update the search index too.
    pub fn new(
        storage: Arc<dyn FileStorage>,
        repo: Arc<dyn FileRepository>,
        indexer: Option<Indexer>,
        settings: &Settings,
    ) -> Self {
        Self { storage, repo, indexer, upload: settings.upload.clone(), url_expiry: settings.presigned_url_expiry }
    }

    /// The indexer, when search is configured.
    pub fn indexer(&self) -> Option<&Indexer> {
        self.indexer.as_ref()
    }

    /// Brings the search index up to date with a change. A failure is logged, not returned: the
    /// request succeeded, and the S3 event (or a reindex) applies the change later.
    async fn reindex(&self, change: Change) {
        if let Some(indexer) = &self.indexer {
            let key = change.key().to_owned();
            if let Err(e) = indexer.apply_one(change).await {
                tracing::warn!(key, error = %crate::error::error_chain(&e), "search index not updated");
            }
        }
    }

    /// The storage backend.
    pub fn storage(&self) -> &Arc<dyn FileStorage> {
        &self.storage
    }

    /// The metadata repository.
    pub fn repository(&self) -> &Arc<dyn FileRepository> {
        &self.repo
    }

    fn parse_name_and_type(
        &self,
        filename: &str,
        content_type: &str,
    ) -> Result<(OriginalFilename, ContentType), ApiError> {
        let filename = OriginalFilename::parse(filename).map_err(|e| ApiError::bad_request("invalid_filename", e.0))?;
        let content_type =
            ContentType::parse(content_type).map_err(|e| ApiError::bad_request("invalid_content_type", e.0))?;
        if !self.upload.allowed_content_types.allows(&content_type) {
            return Err(ApiError::new(
                ErrorKind::UnsupportedMediaType,
                "content_type_not_allowed",
                format!("Files of type `{}` may not be uploaded.", content_type.essence()),
            ));
        }
        Ok((filename, content_type))
    }

    fn too_large(&self, limit: u64) -> ApiError {
        ApiError::new(ErrorKind::PayloadTooLarge, "file_too_large", format!("Files may be at most {limit} bytes."))
    }

    /// Validates the request, records a `pending` file owned by the caller, and returns a
    /// signed upload bound to the declared type, size and checksum. Each call creates a new file.
    ///
    /// # Errors
    /// 400 for invalid input, 413 over the size limit, 415 for a disallowed type, 503 when the
    /// database or storage is down.
    #[tracing::instrument(skip_all, fields(org = %caller.org_id, user = %caller.user_id))]
    pub async fn initiate_upload(
        &self,
        caller: &Caller,
        request: InitiateUploadRequest,
    ) -> Result<InitiatedUpload, ApiError> {
        let (filename, content_type) = self.parse_name_and_type(&request.filename, &request.content_type)?;
        let size = u64::try_from(request.size)
            .map_err(|_| ApiError::bad_request("invalid_size", "size must not be negative"))?;
        if size > self.upload.max_size_bytes {
            return Err(self.too_large(self.upload.max_size_bytes));
        }
        let checksum = request
            .checksum_sha256
            .as_deref()
            .map(Checksum::parse_base64)
            .transpose()
            .map_err(|e| ApiError::bad_request("invalid_checksum", e.0))?;
        let owner = request.owner.map(validate_owner).transpose()?;

        let key = FileKey::generate(&filename);
        let target = self
            .storage
            .get_presigned_upload_url(
                &key,
                &UploadGrantRequest {
                    method: match request.upload_method {
                        RequestedUploadMethod::Put => UploadMethod::Put,
                        RequestedUploadMethod::Post => UploadMethod::Post,
                    },
                    content_type: content_type.clone(),
                    size,
                    checksum_sha256: checksum,
                    expires_in: self.url_expiry,
                },
            )
            .await?;
        let row = self
            .repo
            .insert(&NewStoredFile {
                id: Uuid::new_v4(),
                file_key: key.as_str().to_owned(),
                original_filename: filename.as_str().to_owned(),
                content_type: content_type.as_str().to_owned(),
                size: request.size,
                checksum_sha256: checksum.map(|c| c.to_base64()),
                status: FileStatus::Pending,
                storage_backend: self.storage.backend().as_str().to_owned(),
                bucket_name: self.storage.bucket_name().map(str::to_owned),
                uploaded_by: caller.user_id.clone(),
                organization_id: caller.org_id.clone(),
                owner,
            })
            .await?;
        tracing::info!(file_id = %row.id, "upload initiated");
        Ok(InitiatedUpload {
            file_id: row.id,
            file_key: row.file_key,
            method: target.method,
            url: target.url,
            headers: target.headers,
            fields: target.fields,
            expires_at: target.expires_at,
        })
    }

    /// Verifies that the caller's pending upload is really stored as declared (size, type,
    /// checksum) and marks it available. Safe to repeat and to race: every call answers with the
    /// same file.
    ///
    /// # Errors
    /// 400 for a malformed key; 404 when the caller's organization has no such upload; 409 when
    /// the bytes are not there yet; 422 when they differ from what was declared (the row stays
    /// pending); 503 when a dependency is down.
    #[tracing::instrument(skip_all, fields(org = %caller.org_id, user = %caller.user_id))]
    pub async fn confirm_upload(&self, caller: &Caller, request: ConfirmUploadRequest) -> Result<FileView, ApiError> {
        let key = FileKey::parse(&request.file_key).map_err(|e| ApiError::bad_request("invalid_file_key", e.0))?;
        let row = self
            .repo
            .find_by_key(&caller.org_id, key.as_str())
            .await?
            .ok_or_else(|| ApiError::new(ErrorKind::NotFound, "upload_not_found", "No such upload."))?;
        if row.status == FileStatus::Available {
            return self.view(row).await;
        }
        let meta = self.storage.head(&key).await?.ok_or_else(|| {
            ApiError::new(ErrorKind::Conflict, "upload_incomplete", "The file's bytes have not been uploaded yet.")
        })?;
        let mismatch = |what: &str| {
            ApiError::new(
                ErrorKind::Unprocessable,
                "upload_mismatch",
                format!("The uploaded {what} differs from what was declared."),
            )
        };
        if i64::try_from(meta.size).ok() != Some(row.size) {
            return Err(mismatch("size"));
        }
        let stored_type = meta.content_type.as_deref().unwrap_or_default();
        if !stored_type.trim().eq_ignore_ascii_case(row.content_type.trim()) {
            return Err(mismatch("content type"));
        }
        let stored_checksum = match (&row.checksum_sha256, meta.checksum_sha256) {
            (Some(_), None) => Some(self.hash_object(&key).await?),
            (_, stored) => stored,
        };
        if let Some(declared) = &row.checksum_sha256 {
            if stored_checksum.as_deref() != Some(declared.as_str()) {
                return Err(mismatch("checksum"));
            }
        }
        let size = row.size;
        match self.repo.mark_available(&caller.org_id, row.id, size, stored_checksum.as_deref()).await? {
            Some(ConfirmOutcome::Confirmed(row)) => {
                tracing::info!(file_id = %row.id, "upload confirmed");
                self.reindex(Change::Created { key: row.file_key.clone(), sequencer: None }).await;
                self.view(row).await
            }
            Some(ConfirmOutcome::AlreadyAvailable(row)) => self.view(row).await,
            None => Err(ApiError::new(ErrorKind::NotFound, "upload_not_found", "No such upload.")),
        }
    }

    /// Stores a proxied upload (the seed's local flow) and records it as available.
    ///
    /// # Errors
    /// 400/413/415 for bad input or an oversized body (nothing is stored); 503 when a
    /// dependency is down.
    #[tracing::instrument(skip_all, fields(org = %caller.org_id, user = %caller.user_id))]
    pub async fn upload_proxied(
        &self,
        caller: &Caller,
        filename: &str,
        content_type: &str,
        body: ByteStream,
    ) -> Result<FileView, ApiError> {
        let (filename, content_type) = self.parse_name_and_type(filename, content_type)?;
        let key = FileKey::generate(&filename);
        let limit = self.upload.max_size_bytes.min(LAMBDA_MAX_BODY_BYTES);
        let meta = self
            .storage
            .save_proxied_file(
                &key,
                body,
                &PutConstraints {
                    content_type: content_type.clone(),
                    exact_size: None,
                    max_size: limit,
                    checksum_sha256: None,
                },
            )
            .await
            .map_err(|e| match e {
                crate::storage::StorageError::TooLarge { limit } => self.too_large(limit),
                other => other.into(),
            })?;
        let inserted = self
            .repo
            .insert(&NewStoredFile {
                id: Uuid::new_v4(),
                file_key: key.as_str().to_owned(),
                original_filename: filename.as_str().to_owned(),
                content_type: content_type.as_str().to_owned(),
                size: i64::try_from(meta.size).map_err(ApiError::internal)?,
                checksum_sha256: meta.checksum_sha256.clone(),
                status: FileStatus::Available,
                storage_backend: self.storage.backend().as_str().to_owned(),
                bucket_name: self.storage.bucket_name().map(str::to_owned),
                uploaded_by: caller.user_id.clone(),
                organization_id: caller.org_id.clone(),
                owner: None,
            })
            .await;
        match inserted {
            Ok(row) => {
                tracing::info!(file_id = %row.id, size = row.size, "proxied upload stored");
                self.reindex(Change::Created { key: row.file_key.clone(), sequencer: None }).await;
                self.view(row).await
            }
            Err(e) => {
                // No row, no object: take the bytes back out so nothing is orphaned.
                if let Err(cleanup) = self.storage.delete_file(&key).await {
                    tracing::warn!(error = %cleanup, key = %key, "could not remove the object of a failed upload");
                }
                Err(e.into())
            }
        }
    }

    /// The base64 SHA-256 of a stored object, read as a stream (for objects whose store kept
    /// no whole-object checksum).
    async fn hash_object(&self, key: &FileKey) -> Result<String, ApiError> {
        use futures_util::TryStreamExt as _;
        use sha2::Digest as _;
        let mut stream = self.storage.get_file_stream(key).await?;
        let mut hasher = sha2::Sha256::new();
        while let Some(chunk) = stream.try_next().await.map_err(crate::storage::StorageError::Io)? {
            hasher.update(&chunk);
        }
        Ok(Checksum::from_digest(hasher.finalize().into()).to_base64())
    }

    async fn find(&self, caller: &Caller, id: Uuid) -> Result<StoredFile, ApiError> {
        self.repo.find_by_id(&caller.org_id, id).await?.ok_or_else(ApiError::file_not_found)
    }

    /// The caller's organization's file.
    ///
    /// # Errors
    /// 404 when there is no such file in the caller's organization; 503.
    #[tracing::instrument(skip_all, fields(org = %caller.org_id, file_id = %id))]
    pub async fn get_file(&self, caller: &Caller, id: Uuid) -> Result<FileView, ApiError> {
        let row = self.find(caller, id).await?;
        self.view(row).await
    }

    /// A signed download URL for an available file.
    ///
    /// # Errors
    /// 404 as [`FileService::get_file`]; 409 while the upload is pending; 503.
    #[tracing::instrument(skip_all, fields(org = %caller.org_id, file_id = %id))]
    pub async fn download_url(
        &self,
        caller: &Caller,
        id: Uuid,
        disposition: DispositionKind,
    ) -> Result<SignedUrl, ApiError> {
        let row = self.find(caller, id).await?;
        if row.status != FileStatus::Available {
            return Err(ApiError::new(
                ErrorKind::Conflict,
                "file_not_available",
                "The file's upload has not been confirmed yet.",
            ));
        }
        self.sign_download(&row, disposition).await
    }

    /// Deletes the file's object and row. The uploader or an `admin` of the organization may.
    /// Safe to repeat until it succeeds: the object goes first, then the row.
    ///
    /// # Errors
    /// 404 as [`FileService::get_file`]; 403 for another user's file without `admin`; 503.
    #[tracing::instrument(skip_all, fields(org = %caller.org_id, file_id = %id))]
    pub async fn delete_file(&self, caller: &Caller, id: Uuid) -> Result<(), ApiError> {
        let row = self.find(caller, id).await?;
        if row.uploaded_by != caller.user_id && !caller.is_admin() {
            return Err(ApiError::new(
                ErrorKind::Forbidden,
                "forbidden",
                "Only the uploader or an administrator may delete this file.",
            ));
        }
        let key = FileKey::parse(&row.file_key).map_err(ApiError::internal)?;
        self.storage.delete_file(&key).await?;
        self.repo.delete(&caller.org_id, id).await?;
        self.reindex(Change::Removed { key: row.file_key, sequencer: None }).await;
        tracing::info!("file deleted");
        Ok(())
    }

    /// The caller's organization's files matching `request`, with highlights, best first.
    ///
    /// # Errors
    /// 400 for a bad limit or cursor; 503 when search or the database is down.
    #[tracing::instrument(skip_all, fields(org = %caller.org_id))]
    pub async fn search(&self, caller: &Caller, request: SearchRequest) -> Result<SearchResults, ApiError> {
        let index = self.indexer.as_ref().map(|i| i.index().clone()).ok_or_else(|| {
            ApiError::new(ErrorKind::Unavailable, "search_not_configured", "Search is not configured here.")
        })?;
        let limit = request.limit.unwrap_or(20);
        if !(1..=100).contains(&limit) {
            return Err(ApiError::bad_request("invalid_limit", "limit must be between 1 and 100"));
        }
        let offset = match &request.cursor {
            None => 0,
            Some(cursor) => decode_cursor(cursor)
                .ok_or_else(|| ApiError::bad_request("invalid_cursor", "cursor is not one this service issued"))?,
        };
        if request.q.len() > 512 || request.q.chars().any(char::is_control) {
            return Err(ApiError::bad_request(
                "invalid_query",
                "q must be at most 512 bytes without control characters",
            ));
        }
        let query = SearchQuery {
            org_id: caller.org_id.clone(),
            text: request.q,
            content_type: request.content_type.filter(|c| !c.is_empty()),
            uploaded_by: request.uploaded_by.filter(|u| !u.is_empty()),
            limit,
            offset,
        };
        let page = index.search(&query).await.map_err(|e| match e {
            SearchError::Unavailable(_) => ApiError::unavailable("search service", e),
            SearchError::Backend(_) => ApiError::internal(e),
        })?;
        let ids: Vec<Uuid> = page.hits.iter().map(|h| h.file_id).collect();
        // Rows come from the caller's organization only: a document can never leak a file.
        let mut rows: std::collections::HashMap<Uuid, StoredFile> =
            self.repo.find_many(&caller.org_id, &ids).await?.into_iter().map(|r| (r.id, r)).collect();
        let mut files = Vec::with_capacity(page.hits.len());
        for hit in page.hits {
            if let Some(row) = rows.remove(&hit.file_id).filter(|r| r.status == FileStatus::Available) {
                files.push(SearchResult { file: self.view(row).await?, highlights: hit.highlights });
            }
        }
        let next = u64::from(offset) + u64::from(limit);
        let next_cursor = (next < page.total).then(|| encode_cursor(u32::try_from(next).unwrap_or(u32::MAX)));
        Ok(SearchResults { files, total: page.total, next_cursor })
    }

    async fn sign_download(&self, row: &StoredFile, disposition: DispositionKind) -> Result<SignedUrl, ApiError> {
        let key = FileKey::parse(&row.file_key).map_err(ApiError::internal)?;
        Ok(self
            .storage
            .get_download_url(
                &key,
                &DownloadRequest {
                    filename: row.original_filename.clone(),
                    disposition,
                    content_type: row.content_type.clone(),
                    expires_in: self.url_expiry,
                },
            )
            .await?)
    }

    /// The view of a row, with a download URL when the file is available.
    ///
    /// # Errors
    /// 503 when signing needs credentials that cannot be had.
    pub async fn view(&self, row: StoredFile) -> Result<FileView, ApiError> {
        let signed = match row.status {
            FileStatus::Available => Some(self.sign_download(&row, DispositionKind::Attachment).await?),
            FileStatus::Pending => None,
        };
        Ok(FileView {
            id: row.id,
            file_key: row.file_key,
            original_filename: row.original_filename,
            content_type: row.content_type,
            size: row.size,
            checksum_sha256: row.checksum_sha256,
            status: row.status,
            storage_backend: row.storage_backend,
            bucket_name: row.bucket_name,
            uploaded_by: row.uploaded_by,
            organization_id: row.organization_id,
            owner: row.owner,
            created_at: row.created_at,
            confirmed_at: row.confirmed_at,
            download_url_expires_at: signed.as_ref().map(|s| s.expires_at),
            download_url: signed.map(|s| s.url),
        })
    }
}

fn encode_cursor(offset: u32) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("o:{offset}"))
}

fn decode_cursor(cursor: &str) -> Option<u32> {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).ok()?;
    String::from_utf8(raw).ok()?.strip_prefix("o:")?.parse().ok()
}

fn validate_owner(owner: OwnerEntity) -> Result<OwnerEntity, ApiError> {
    let ok = |s: &str| !s.trim().is_empty() && s.len() <= 255 && !s.chars().any(char::is_control);
    if ok(&owner.entity_type) && ok(&owner.id) {
        Ok(owner)
    } else {
        Err(ApiError::bad_request(
            "invalid_owner",
            "owner.type and owner.id must be 1 to 255 bytes without control characters",
        ))
    }
}
