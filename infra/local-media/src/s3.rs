//! The multipart requests of the local backend's signed URLs, answered as S3 answers them (the
//! XML shapes S3 clients such as Uppy's `@uppy/aws-s3` parse), so the same client code works
//! against S3 and under `make dev`:
//!
//! - `POST ...?op=create`: `CreateMultipartUpload` → `InitiateMultipartUploadResult`;
//! - `PUT ...?op=part`: `UploadPart`, exactly the signed length → `ETag`;
//! - `GET ...?op=list`: `ListParts` → `ListPartsResult`;
//! - `POST ...?op=complete`: `CompleteMultipartUpload` (its XML body lists the parts) →
//!   `CompleteMultipartUploadResult`; the object is assembled by streaming, create-only;
//! - `DELETE ...?op=abort`: `AbortMultipartUpload` → 204.

use bytes::Bytes;
use files_core::keys::{ContentType, FileKey};
use files_core::storage::local::url::LocalOp;
use files_core::storage::local::LocalFileStorage;
use files_core::storage::multipart::{CompleteMultipart as _, CompletedPart, MultipartStore as _, UploadId, MAX_PARTS};
use files_core::storage::ReadObjects as _;
use files_core::{ApiError, Code};
use futures_util::TryStreamExt;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};

use crate::{empty, full, ResponseBody};

const S3_NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
/// The bucket name the answers carry (the local backend has none).
const BUCKET: &str = "local";
/// The largest completion body: 10,000 parts of about 100 bytes each, with room to spare.
const MAX_COMPLETE_BODY: usize = 4 * 1024 * 1024;

#[derive(Serialize)]
#[serde(rename = "InitiateMultipartUploadResult", rename_all = "PascalCase")]
struct Initiated<'a> {
    #[serde(rename = "@xmlns")]
    xmlns: &'a str,
    bucket: &'a str,
    key: &'a str,
    upload_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListedPart<'a> {
    part_number: u32,
    #[serde(rename = "ETag")]
    etag: &'a str,
    size: u64,
}

#[derive(Serialize)]
#[serde(rename = "ListPartsResult", rename_all = "PascalCase")]
struct Listed<'a> {
    #[serde(rename = "@xmlns")]
    xmlns: &'a str,
    bucket: &'a str,
    key: &'a str,
    upload_id: &'a str,
    max_parts: u64,
    is_truncated: bool,
    part: Vec<ListedPart<'a>>,
}

#[derive(Serialize)]
#[serde(rename = "CompleteMultipartUploadResult", rename_all = "PascalCase")]
struct Completed<'a> {
    #[serde(rename = "@xmlns")]
    xmlns: &'a str,
    location: &'a str,
    bucket: &'a str,
    key: &'a str,
    #[serde(rename = "ETag")]
    etag: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CompleteBody {
    #[serde(default)]
    part: Vec<CompletePart>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CompletePart {
    part_number: u32,
    #[serde(rename = "ETag")]
    etag: String,
}

fn xml(status: StatusCode, body: &impl Serialize) -> Result<Response<ResponseBody>, ApiError> {
    let mut text = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    quick_xml::se::to_writer(&mut text, body).map_err(ApiError::internal)?;
    let mut response = Response::new(full(Bytes::from(text)));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    Ok(response)
}

fn upload_id(raw: &str) -> Result<UploadId, ApiError> {
    UploadId::parse(raw).map_err(|e| ApiError::new(Code::InvalidUploadId, e.0))
}

fn header_mismatch(name: &str) -> ApiError {
    ApiError::new(Code::HeaderMismatch, format!("The {name} header differs from the one the URL was signed for."))
}

/// Answers one signed multipart request.
///
/// # Errors
/// The problem to answer: 404 for no such upload of the key, 400 for a malformed completion,
/// 422 for parts that do not make up the object, 409 when the key holds an object.
pub async fn serve(
    storage: &LocalFileStorage,
    object_url: &str,
    request: Request<Incoming>,
    key: &FileKey,
    op: LocalOp,
) -> Result<Response<ResponseBody>, ApiError> {
    match op {
        LocalOp::Create { content_type } => {
            let sent = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
            if !sent.trim().eq_ignore_ascii_case(&content_type) {
                return Err(header_mismatch("Content-Type"));
            }
            let content_type = ContentType::parse(&content_type).map_err(ApiError::internal)?;
            let id = storage.create_multipart(key, &content_type).await?;
            let body = Initiated { xmlns: S3_NAMESPACE, bucket: BUCKET, key: key.as_str(), upload_id: id.as_str() };
            xml(StatusCode::OK, &body)
        }
        LocalOp::Part { upload_id: id, number, size } => {
            let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok());
            if declared.and_then(|v| v.trim().parse::<u64>().ok()).is_some_and(|n| n != size) {
                return Err(ApiError::new(
                    Code::SizeMismatch,
                    format!("The URL was signed for a part of {size} bytes."),
                ));
            }
            let body = request.into_body().into_data_stream().map_err(std::io::Error::other);
            let etag = storage.save_part(key, &upload_id(&id)?, number, Box::pin(body), size).await?;
            let mut response = Response::new(empty());
            let value = HeaderValue::from_str(&etag).map_err(ApiError::internal)?;
            response.headers_mut().insert(header::ETAG, value);
            Ok(response)
        }
        LocalOp::List { upload_id: id } => {
            let parts = storage.list_parts(key, &upload_id(&id)?).await?;
            let part =
                parts.iter().map(|p| ListedPart { part_number: p.part_number, etag: &p.etag, size: p.size }).collect();
            let body = Listed {
                xmlns: S3_NAMESPACE,
                bucket: BUCKET,
                key: key.as_str(),
                upload_id: &id,
                max_parts: MAX_PARTS,
                is_truncated: false,
                part,
            };
            xml(StatusCode::OK, &body)
        }
        LocalOp::Complete { upload_id: id } => {
            let id = upload_id(&id)?;
            let raw = match Limited::new(request.into_body(), MAX_COMPLETE_BODY).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(_) => {
                    return Err(ApiError::new(Code::InvalidBody, "The completion body is too large or broke off."))
                }
            };
            let text = std::str::from_utf8(&raw).map_err(|_| malformed())?;
            let listed: CompleteBody = quick_xml::de::from_str(text).map_err(|_| malformed())?;
            let parts: Vec<CompletedPart> =
                listed.part.into_iter().map(|p| CompletedPart { part_number: p.part_number, etag: p.etag }).collect();
            storage.complete_multipart(key, &id, &parts).await?;
            let etag = storage.head(key).await?.and_then(|m| m.checksum_sha256).map(|c| format!("\"{}\"", c.to_hex()));
            let body = Completed {
                xmlns: S3_NAMESPACE,
                location: object_url,
                bucket: BUCKET,
                key: key.as_str(),
                etag: etag.as_deref().unwrap_or_default(),
            };
            xml(StatusCode::OK, &body)
        }
        LocalOp::Abort { upload_id: id } => {
            storage.abort_multipart(key, &upload_id(&id)?).await?;
            let mut response = Response::new(empty());
            *response.status_mut() = StatusCode::NO_CONTENT;
            Ok(response)
        }
    }
}

fn malformed() -> ApiError {
    ApiError::new(Code::InvalidBody, "The body is not a CompleteMultipartUpload document.")
}
