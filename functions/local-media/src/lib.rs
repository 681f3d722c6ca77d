//! `PUT|GET|HEAD {LOCAL_MEDIA_URL_PREFIX}/{key}`: the target of the local backend's signed
//! URLs, so local development behaves like S3 pre-signed URLs. Local backend only.
//!
//! A PUT must carry the signed content type and exactly the signed number of bytes (and hash
//! to the signed checksum); it never overwrites. A GET serves the bytes with the signed
//! `Content-Type` and `Content-Disposition`. A bad, tampered or expired signature is 403.

use bytes::Bytes;
use chrono::Utc;
use files_core::config::Settings;
use files_core::config::StorageSettings;
use files_core::http::{body_bytes, method_not_allowed, query_map, respond, Reply};
use files_core::keys::{Checksum, ContentType, FileKey};
use files_core::storage::local::url::{decode_key_path, Grant, UrlError};
use files_core::storage::local::LocalFileStorage;
use files_core::storage::{ObjectStore, PutConstraints, StorageError};
use files_core::{ApiError, Code};
use futures_util::TryStreamExt;
use lambda_http::http::{header, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Error, Request, RequestExt, Response};

/// The local store and the path prefix it is served under; `None` when the backend is S3,
/// where there is nothing to serve (every request is answered 404 at once).
#[derive(Debug)]
pub struct MediaState {
    local: Option<(LocalFileStorage, String)>,
}

impl MediaState {
    /// The state for `settings`: the local store for the local backend, nothing for S3.
    pub fn new(settings: &Settings) -> Self {
        let local = match &settings.storage {
            StorageSettings::Local(local) => Some((LocalFileStorage::from_settings(local), local.url_prefix.clone())),
            StorageSettings::S3(_) => None,
        };
        Self { local }
    }
}

/// The function's handler; failures are problem+json responses, never runtime errors.
///
/// # Errors
/// None in practice: every failure is a response.
#[tracing::instrument(skip_all, fields(method = %request.method()))]
pub async fn handle(state: &MediaState, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(serve(state, &request).await))
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

async fn serve(state: &MediaState, request: &Request) -> Result<Reply, ApiError> {
    let not_found = || ApiError::new(Code::ObjectNotFound, "No such object.");
    let (storage, url_prefix) = state.local.as_ref().ok_or_else(not_found)?;
    let path = request.raw_http_path();
    let raw_key =
        path.strip_prefix(url_prefix.as_str()).and_then(|rest| rest.strip_prefix('/')).ok_or_else(not_found)?;
    let key = decode_key_path(raw_key).map_err(|e| ApiError::new(Code::InvalidKey, e.0))?;
    let method = request.method().as_str();
    let grant = storage.url_signer().authorize(method, &key, &query_map(request), Utc::now()).map_err(forbidden)?;
    match grant {
        Grant::Put { size, content_type, checksum_sha256, .. } => {
            put(storage, request, &key, size, &content_type, checksum_sha256.as_deref()).await
        }
        Grant::Get { disposition, content_type, .. } => {
            get(storage, &key, &disposition, &content_type, request.method() == Method::HEAD).await
        }
    }
}

async fn put(
    storage: &LocalFileStorage,
    request: &Request,
    key: &FileKey,
    size: u64,
    content_type: &str,
    checksum: Option<&str>,
) -> Result<Reply, ApiError> {
    let header_value = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
    if !header_value("content-type").is_some_and(|sent| sent.trim().eq_ignore_ascii_case(content_type)) {
        return Err(header_mismatch("Content-Type"));
    }
    if let Some(sent) = header_value("x-amz-checksum-sha256") {
        if Some(sent.trim()) != checksum {
            return Err(header_mismatch("x-amz-checksum-sha256"));
        }
    }
    let body = body_bytes(request)?;
    if body.len() as u64 > size {
        return Err(ApiError::new(
            Code::PayloadTooLarge,
            format!("The URL was signed for {size} bytes; the body is larger."),
        ));
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
    let bytes = Bytes::copy_from_slice(body);
    let stream = Box::pin(futures_util::stream::once(async move { Ok::<_, std::io::Error>(bytes) }));
    let meta = storage.save_proxied_file(key, stream, &constraints).await?;
    let mut response = Response::new(Body::Empty);
    if let Some(checksum) = meta.checksum_sha256 {
        if let Ok(value) = HeaderValue::from_str(&checksum.to_base64()) {
            response.headers_mut().insert("x-amz-checksum-sha256", value);
        }
    }
    Ok(Reply::Raw(response))
}

async fn get(
    storage: &LocalFileStorage,
    key: &FileKey,
    disposition: &str,
    content_type: &str,
    head_only: bool,
) -> Result<Reply, ApiError> {
    let stream = storage.get_file_stream(key).await?;
    // A Lambda response is buffered whole (6 MB on AWS); objects that arrive over HTTP are
    // capped at that size, so the local backend can afford to collect them here.
    let chunks: Vec<Bytes> = stream.try_collect().await.map_err(|e| ApiError::from(StorageError::Io(e)))?;
    let body: Vec<u8> = chunks.concat();
    let length = body.len();
    let mut response = Response::new(if head_only { Body::Empty } else { Body::Binary(body) });
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    let value = |v: &str| HeaderValue::from_str(v).map_err(ApiError::internal);
    headers.insert(header::CONTENT_TYPE, value(content_type)?);
    headers.insert(header::CONTENT_DISPOSITION, value(disposition)?);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Whatever the bytes are, they run nothing from this origin.
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));
    Ok(Reply::Raw(response))
}
