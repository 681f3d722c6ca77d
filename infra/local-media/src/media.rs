//! `PUT|GET|HEAD {LOCAL_MEDIA_URL_PREFIX}/{key}`: the target of the local backend's signed URLs.
//!
//! A PUT must carry the signed content type and exactly the signed number of bytes (and hash
//! to the signed checksum); it streams to disk and never overwrites. A GET streams the bytes
//! with the signed `Content-Type` and `Content-Disposition`, honouring one `Range`. A bad,
//! tampered or expired signature is 403; nothing is read from the body before the signature
//! and the declared length are checked.

use std::collections::HashMap;
use std::io::SeekFrom;

use chrono::Utc;
use files_core::http::method_not_allowed;
use files_core::keys::{Checksum, ContentType, FileKey};
use files_core::storage::local::url::{decode_key_path, encode_key_path, Grant, UrlError};
use files_core::storage::local::LocalFileStorage;
use files_core::storage::{ObjectStore, PutConstraints, StorageError};
use files_core::{ApiError, Code};
use futures_util::TryStreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::{empty, ResponseBody};

const READ_CHUNK: usize = 64 * 1024;

/// 404 `object_not_found`.
pub fn not_found() -> ApiError {
    ApiError::new(Code::ObjectNotFound, "No such object.")
}

fn forbidden(err: UrlError) -> ApiError {
    match err {
        UrlError::Expired => ApiError::new(Code::UrlExpired, "The signed URL has expired."),
        UrlError::BadSignature => ApiError::new(Code::InvalidSignature, "The URL signature is invalid."),
        UrlError::Method => method_not_allowed(),
    }
}

fn header_mismatch(name: &str) -> ApiError {
    ApiError::new(Code::HeaderMismatch, format!("The {name} header differs from the one the URL was signed for."))
}

/// The query string's pairs, percent-decoded (the first value of each name).
fn query_map(query: Option<&str>) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        map.entry(name.into_owned()).or_insert_with(|| value.into_owned());
    }
    map
}

/// Answers one request under the media prefix.
///
/// # Errors
/// The problem to answer: 403 for a bad signature, 404 for no object, 4xx for a body that is
/// not the signed one, 503 when the disk fails.
pub async fn serve(
    storage: &LocalFileStorage,
    prefix: &str,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, ApiError> {
    let path = request.uri().path();
    let raw_key = path.strip_prefix(prefix).and_then(|rest| rest.strip_prefix('/')).ok_or_else(not_found)?;
    let key = decode_key_path(raw_key).map_err(|e| ApiError::new(Code::InvalidKey, e.0))?;
    let query = query_map(request.uri().query());
    let grant =
        storage.url_signer().authorize(request.method().as_str(), &key, &query, Utc::now()).map_err(forbidden)?;
    match grant {
        Grant::Put { size, content_type, checksum_sha256, .. } => {
            put(storage, request, &key, size, &content_type, checksum_sha256.as_deref()).await
        }
        Grant::Multipart { op, .. } => {
            let object_url = format!("{}/{}", storage.url_base(), encode_key_path(&key));
            crate::s3::serve(storage, &object_url, request, &key, op).await
        }
        Grant::Get { disposition, content_type, .. } => {
            let head_only = request.method() == Method::HEAD;
            get(storage, request.headers(), &key, &disposition, &content_type, head_only).await
        }
    }
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn put(
    storage: &LocalFileStorage,
    request: Request<Incoming>,
    key: &FileKey,
    size: u64,
    content_type: &str,
    checksum: Option<&str>,
) -> Result<Response<ResponseBody>, ApiError> {
    let headers = request.headers();
    if !header_str(headers, header::CONTENT_TYPE).is_some_and(|sent| sent.trim().eq_ignore_ascii_case(content_type)) {
        return Err(header_mismatch("Content-Type"));
    }
    if let Some(sent) = headers.get("x-amz-checksum-sha256").map(|v| v.to_str().unwrap_or_default()) {
        if Some(sent.trim()) != checksum {
            return Err(header_mismatch("x-amz-checksum-sha256"));
        }
    }
    // A declared length over the signed one is refused before a byte is read.
    if header_str(headers, header::CONTENT_LENGTH).and_then(|v| v.trim().parse::<u64>().ok()).is_some_and(|n| n > size)
    {
        return Err(too_large(size));
    }
    let constraints = PutConstraints {
        content_type: ContentType::parse(content_type).map_err(ApiError::internal)?,
        exact_size: Some(size),
        max_size: size,
        checksum_sha256: checksum
            .map(Checksum::parse_base64)
            .transpose()
            .map_err(|e| ApiError::new(Code::InvalidChecksum, e.0))?,
    };
    let body = request.into_body().into_data_stream().map_err(std::io::Error::other);
    let meta = storage.save_proxied_file(key, Box::pin(body), &constraints).await.map_err(|e| match e {
        StorageError::TooLarge { .. } => too_large(size),
        other => ApiError::from(other),
    })?;
    let mut response = Response::new(empty());
    if let Some(checksum) = meta.checksum_sha256 {
        let headers = response.headers_mut();
        insert(headers, "x-amz-checksum-sha256", &checksum.to_base64());
        insert(headers, header::ETAG.as_str(), &etag(&checksum));
    }
    Ok(response)
}

fn too_large(size: u64) -> ApiError {
    ApiError::new(Code::PayloadTooLarge, format!("The URL was signed for {size} bytes; the body is larger."))
}

/// The entity tag of an object: its SHA-256 in hex, quoted (S3's is an MD5 or a multipart
/// digest; clients treat it as opaque).
fn etag(checksum: &Checksum) -> String {
    format!("\"{}\"", checksum.to_hex())
}

fn insert(headers: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (header::HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
        headers.insert(name, value);
    }
}

/// What a `Range` header asks of an object of `len` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeAnswer {
    /// The whole object (no `Range`, one that does not parse, or several ranges: RFC 9110
    /// lets a server ignore a `Range` it does not serve).
    Whole,
    /// Bytes `start..=end`.
    Part {
        /// First byte.
        start: u64,
        /// Last byte (inclusive).
        end: u64,
    },
    /// Nothing of the object lies in the range: 416.
    Unsatisfiable,
}

/// Reads a `Range` header against an object of `len` bytes.
pub fn range_answer(header: Option<&str>, len: u64) -> RangeAnswer {
    let Some(raw) = header else { return RangeAnswer::Whole };
    let Ok(parsed) = http_range_header::parse_range_header(raw) else { return RangeAnswer::Whole };
    match parsed.validate(len) {
        Ok(ranges) => match ranges.as_slice() {
            [one] => RangeAnswer::Part { start: *one.start(), end: *one.end() },
            _ => RangeAnswer::Whole,
        },
        Err(_) => RangeAnswer::Unsatisfiable,
    }
}

async fn get(
    storage: &LocalFileStorage,
    headers: &HeaderMap,
    key: &FileKey,
    disposition: &str,
    content_type: &str,
    head_only: bool,
) -> Result<Response<ResponseBody>, ApiError> {
    let (mut file, meta) = storage.open(key).await?;
    let len = meta.size;
    let (status, start, count) = match range_answer(header_str(headers, header::RANGE), len) {
        RangeAnswer::Whole => (StatusCode::OK, 0, len),
        RangeAnswer::Part { start, end } => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        RangeAnswer::Unsatisfiable => {
            let mut response = Response::new(empty());
            *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            insert(response.headers_mut(), header::CONTENT_RANGE.as_str(), &format!("bytes */{len}"));
            return Ok(response);
        }
    };
    let body = if head_only || count == 0 {
        empty()
    } else {
        file.seek(SeekFrom::Start(start)).await.map_err(|e| ApiError::from(StorageError::Io(e)))?;
        let stream = tokio_util::io::ReaderStream::with_capacity(file.take(count), READ_CHUNK);
        StreamBody::new(stream.map_ok(Frame::data)).boxed_unsync()
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let out = response.headers_mut();
    let value = |v: &str| HeaderValue::from_str(v).map_err(ApiError::internal);
    out.insert(header::CONTENT_TYPE, value(content_type)?);
    out.insert(header::CONTENT_DISPOSITION, value(disposition)?);
    out.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if status == StatusCode::PARTIAL_CONTENT {
        insert(out, header::CONTENT_RANGE.as_str(), &format!("bytes {start}-{}/{len}", start + count - 1));
    }
    if let Some(checksum) = &meta.checksum_sha256 {
        insert(out, header::ETAG.as_str(), &etag(checksum));
    }
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    out.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Whatever the bytes are, they run nothing from this origin.
    out.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        assert_eq!(range_answer(None, 10), RangeAnswer::Whole);
        assert_eq!(range_answer(Some("bytes=0-3"), 10), RangeAnswer::Part { start: 0, end: 3 });
        assert_eq!(range_answer(Some("bytes=7-"), 10), RangeAnswer::Part { start: 7, end: 9 });
        assert_eq!(range_answer(Some("bytes=-4"), 10), RangeAnswer::Part { start: 6, end: 9 });
        assert_eq!(range_answer(Some("bytes=5-100"), 10), RangeAnswer::Part { start: 5, end: 9 });
        assert_eq!(range_answer(Some("bytes=10-"), 10), RangeAnswer::Unsatisfiable);
        assert_eq!(range_answer(Some("bytes=0-1,4-5"), 10), RangeAnswer::Whole);
        assert_eq!(range_answer(Some("items=0-1"), 10), RangeAnswer::Whole);
        assert_eq!(range_answer(Some("bytes=x"), 10), RangeAnswer::Whole);
    }

    proptest! {
        /// Whatever the header, a part lies inside the object and is never empty.
        #[test]
        fn any_range_header_gives_a_part_inside_the_object(raw in "\\PC{0,40}|bytes=[0-9,\\- ]{0,30}", len in 0u64..10_000) {
            if let RangeAnswer::Part { start, end } = range_answer(Some(&raw), len) {
                prop_assert!(start <= end && end < len, "{raw} on {len}: {start}-{end}");
            }
        }
    }
}
