//! Reading a file: its record (get-file) and a signed download URL (download-url).

use std::sync::Arc;

use uuid::Uuid;

use super::{FileView, ServiceError, Views};
use crate::auth::Caller;
use crate::db::FileRepository;
use crate::disposition::DispositionKind;
use crate::file::FileRecord;
use crate::storage::{SignDownloads, SignedUrl};

/// get-file and download-url: reads records, signs downloads.
#[derive(Debug, Clone)]
pub struct ReadFile {
    views: Views<dyn SignDownloads>,
    repo: Arc<dyn FileRepository>,
}

/// The caller's organization's file with `id`.
pub(super) async fn find(repo: &dyn FileRepository, caller: &Caller, id: Uuid) -> Result<FileRecord, ServiceError> {
    repo.find_by_id(&caller.org_id, id).await?.ok_or(ServiceError::FileNotFound)
}

impl ReadFile {
    /// The workflow over its capabilities.
    pub fn new(views: Views<dyn SignDownloads>, repo: Arc<dyn FileRepository>) -> Self {
        Self { views, repo }
    }

    /// The caller's organization's file.
    ///
    /// # Errors
    /// `FileNotFound` when there is no such file in the caller's organization; `Repository`.
    #[tracing::instrument(skip_all, fields(org = %caller.org_id, file_id = %id))]
    pub async fn get_file(&self, caller: &Caller, id: Uuid) -> Result<FileView, ServiceError> {
        let file = find(self.repo.as_ref(), caller, id).await?;
        self.views.view(file).await
    }

    /// A signed download URL for an available file.
    ///
    /// # Errors
    /// As [`ReadFile::get_file`]; `NotAvailable` while the upload is pending.
    #[tracing::instrument(skip_all, fields(org = %caller.org_id, file_id = %id))]
    pub async fn download_url(
        &self,
        caller: &Caller,
        id: Uuid,
        disposition: DispositionKind,
    ) -> Result<SignedUrl, ServiceError> {
        let file = find(self.repo.as_ref(), caller, id).await?;
        if !file.is_available() {
            return Err(ServiceError::NotAvailable);
        }
        self.views.sign_download(&file, disposition).await
    }
}
