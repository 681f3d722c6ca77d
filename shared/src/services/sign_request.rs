//! `POST /files/sign-request`: one S3 request of an upload signed for a client that sends it to
//! the store itself (Uppy's `@uppy/aws-s3` through its `signRequest` hook), scoped as every
//! multipart route is to the caller's own pending upload.

use super::declaration::declaration;
use super::multipart::{browser_headers, part_number, AbortUploadRequest, SignRequest, SignedAnswer, UploadParts};
use super::upload::{InitiateUploadRequest, RequestedUploadMethod};
use super::{Field, ServiceError};
use crate::auth::Caller;
use crate::db::MultipartRecord;
use crate::file::{FileRecord, FileStatus};
use crate::storage::multipart::MultipartOp;
use crate::storage::{StorageError, UploadGrantRequest, UploadMethod};

impl UploadParts {
    /// Signs one S3 request of an upload for a client that sends it itself. Starting an upload
    /// (`PUT` or `POST` without an upload id) records a pending file for the caller, as
    /// initiate-upload does, and answers the key it is stored under; a `DELETE` aborts the
    /// upload here (as `abort-upload`) and answers the signed abort the client will send.
    ///
    /// # Errors
    /// `Invalid` for a malformed request; `UploadNotFound` for another caller's key or upload
    /// id; what initiate-upload answers for a bad declaration; `Storage`/`Repository`.
    #[tracing::instrument(skip_all, fields(org = %caller.org_id, user = %caller.user_id))]
    pub async fn sign_request(&self, caller: &Caller, request: SignRequest) -> Result<SignedAnswer, ServiceError> {
        let method = request.method.to_ascii_uppercase();
        match (method.as_str(), request.upload_id.as_deref(), request.part_number) {
            ("PUT", None, None) => self.start(caller, request, RequestedUploadMethod::Put).await,
            ("POST", None, None) => self.start(caller, request, RequestedUploadMethod::Multipart).await,
            ("PUT", Some(upload_id), Some(number)) => {
                let owned = self.owned(caller, &request.key, upload_id).await?;
                let number = part_number(&owned.plan, number)?;
                let size = owned.plan.part_len(number).unwrap_or_default();
                let op = MultipartOp::Part { upload_id: &owned.upload_id, number, size };
                self.answer(&owned.file, op).await
            }
            ("GET" | "POST", Some(upload_id), None) => {
                let owned = self.owned(caller, &request.key, upload_id).await?;
                let op = if method == "GET" {
                    MultipartOp::List { upload_id: &owned.upload_id }
                } else {
                    MultipartOp::Complete { upload_id: &owned.upload_id }
                };
                self.answer(&owned.file, op).await
            }
            ("DELETE", Some(upload_id), None) => {
                let owned = self.owned(caller, &request.key, upload_id).await?;
                let answer = self.answer(&owned.file, MultipartOp::Abort { upload_id: &owned.upload_id }).await?;
                let abort = AbortUploadRequest { file_key: request.key, upload_id: Some(upload_id.to_owned()) };
                self.abort(caller, abort).await?;
                Ok(answer)
            }
            _ => Err(ServiceError::invalid(
                Field::Method,
                "sign PUT or POST without an upload id (a new upload), PUT with upload id and part number, \
                 or GET, POST or DELETE with an upload id",
            )),
        }
    }

    /// One signed request for `file`, without the headers a browser sets itself.
    async fn answer(&self, file: &FileRecord, op: MultipartOp<'_>) -> Result<SignedAnswer, ServiceError> {
        let (mut signed, expires_at) =
            self.views.signer().sign_multipart(&file.file_key, &[op], self.views.expiry()).await?;
        let signed = signed.pop().ok_or_else(|| StorageError::Backend("nothing was signed".into()))?;
        Ok(SignedAnswer {
            url: signed.url,
            headers: browser_headers(signed.headers),
            key: file.file_key.clone(),
            file_id: file.id,
            expires_at,
        })
    }

    /// A new upload for `sign-request`: a pending file, and its single PUT or its signed
    /// `CreateMultipartUpload` (the client creates the upload; its id is recorded when it is
    /// first used).
    async fn start(
        &self,
        caller: &Caller,
        request: SignRequest,
        method: RequestedUploadMethod,
    ) -> Result<SignedAnswer, ServiceError> {
        let declared = InitiateUploadRequest {
            filename: request.filename.ok_or_else(|| ServiceError::invalid(Field::Filename, "filename is required"))?,
            content_type: request
                .content_type
                .ok_or_else(|| ServiceError::invalid(Field::ContentType, "contentType is required"))?,
            size: request.size.ok_or_else(|| ServiceError::invalid(Field::Size, "size is required"))?,
            checksum_sha256: request.checksum_sha256,
            owner: request.owner,
            upload_method: Some(method),
            part_size: None,
            checksum_crc64nvme: request.checksum_crc64nvme,
        };
        let (file, method, plan) = declaration(&self.limits, declared)?;
        let record = FileRecord::new(caller, &self.location, file, FileStatus::Pending);
        match (method, plan) {
            (RequestedUploadMethod::Multipart, Some(planned)) => {
                let op = MultipartOp::Create { content_type: &record.content_type };
                let answer = self.answer(&record, op).await?;
                let upload = MultipartRecord {
                    file_id: record.id,
                    upload_id: None,
                    plan: planned.plan,
                    checksum_crc64nvme: planned.crc,
                };
                self.multipart.repo.insert_multipart(&record, &upload).await?;
                tracing::info!(file_id = %record.id, parts = planned.plan.count, "multipart upload signed for the client");
                Ok(answer)
            }
            _ => {
                let grant = UploadGrantRequest {
                    method: UploadMethod::Put,
                    content_type: record.content_type.clone(),
                    size: record.size,
                    checksum_sha256: record.checksum_sha256,
                    expires_in: self.views.expiry(),
                };
                let target = self.views.signer().get_presigned_upload_url(&record.file_key, &grant).await?;
                self.repo.insert(&record).await?;
                tracing::info!(file_id = %record.id, "upload signed for the client");
                Ok(SignedAnswer {
                    url: target.url,
                    headers: browser_headers(target.headers),
                    key: record.file_key,
                    file_id: record.id,
                    expires_at: target.expires_at,
                })
            }
        }
    }
}
