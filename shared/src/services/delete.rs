//! Deleting a file: its object, its record and (through the outbox) its search document.

use std::sync::Arc;

use uuid::Uuid;

use super::download::find;
use super::ServiceError;
use crate::auth::Caller;
use crate::db::FileRepository;
use crate::outbox::{hand_over, IndexQueue};
use crate::storage::ObjectStore;

/// delete-file.
#[derive(Debug, Clone)]
pub struct DeleteFile {
    objects: Arc<dyn ObjectStore>,
    repo: Arc<dyn FileRepository>,
    queue: Arc<dyn IndexQueue>,
}

impl DeleteFile {
    /// The workflow over its capabilities.
    pub fn new(objects: Arc<dyn ObjectStore>, repo: Arc<dyn FileRepository>, queue: Arc<dyn IndexQueue>) -> Self {
        Self { objects, repo, queue }
    }

    /// Deletes the file's object and record; the record's deletion queues the removal of its
    /// search document in the same statement (the outbox), handed to the indexer afterwards.
    /// The uploader or an `admin` of the organization may. Safe to repeat until it succeeds:
    /// the object goes first, then the record.
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
        if let Some(queued) = self.repo.delete(&caller.org_id, id).await? {
            hand_over(self.queue.as_ref(), &queued).await;
        }
        tracing::info!("file deleted");
        Ok(())
    }
}
