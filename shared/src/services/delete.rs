//! Deleting a file: its object, its record and its search document.

use std::sync::Arc;

use uuid::Uuid;

use super::download::find;
use super::ServiceError;
use crate::auth::Caller;
use crate::db::FileRepository;
use crate::indexing::IndexWriter;
use crate::storage::ObjectStore;
use crate::telemetry::error_chain;

/// delete-file.
#[derive(Debug, Clone)]
pub struct DeleteFile {
    objects: Arc<dyn ObjectStore>,
    repo: Arc<dyn FileRepository>,
    index: IndexWriter,
}

impl DeleteFile {
    /// The workflow over its capabilities.
    pub fn new(objects: Arc<dyn ObjectStore>, repo: Arc<dyn FileRepository>, index: IndexWriter) -> Self {
        Self { objects, repo, index }
    }

    /// Deletes the file's object, record and search document. The uploader or an `admin` of
    /// the organization may. Safe to repeat until it succeeds: the object goes first, then the
    /// record; the document's removal is logged when it fails (the S3 event or a reindex
    /// removes it later).
    ///
    /// # Errors
    /// `FileNotFound` as [`super::ReadFile::get_file`]; `NotPermitted` for another user's file
    /// without `admin`; `Storage`/`Repository`.
    #[tracing::instrument(skip_all, fields(org = %caller.org_id, file_id = %id))]
    pub async fn delete_file(&self, caller: &Caller, id: Uuid) -> Result<(), ServiceError> {
        let file = find(self.repo.as_ref(), caller, id).await?;
        if file.uploaded_by != caller.user_id && !caller.is_admin() {
            return Err(ServiceError::NotPermitted);
        }
        self.objects.delete_file(&file.file_key).await?;
        self.repo.delete(&caller.org_id, id).await?;
        if let Err(e) = self.index.remove(&file.file_key).await {
            tracing::warn!(key = %file.file_key, error = %error_chain(&e), "search index not updated");
        }
        tracing::info!("file deleted");
        Ok(())
    }
}
