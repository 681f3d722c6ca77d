//! `POST /files/upload-local`: a proxied `multipart/form-data` upload (the seed's local flow).
//! The `file` part streams from the request into storage; the file is recorded as available
//! and returned with 201. Bodies over the Lambda payload limit are refused with 413 before
//! they are parsed; large files go through initiate-upload's signed URL instead.

use std::convert::Infallible;

use bytes::Bytes;
use files_core::http::{body_bytes, respond, Reply};
use files_core::services::ProxiedUpload;
use files_core::{ApiError, AppState, Code};
use futures_util::TryStreamExt;
use lambda_http::http::header;
use lambda_http::{Body, Error, Request, Response};

/// The function's handler; failures are problem+json responses, never runtime errors.
///
/// # Errors
/// None in practice: every failure is a response.
#[tracing::instrument(skip_all)]
pub async fn handle(state: &AppState<ProxiedUpload>, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(upload(state, request).await))
}

fn invalid_multipart(err: multer::Error) -> ApiError {
    ApiError::new(Code::InvalidMultipart, format!("The multipart body is malformed: {err}"))
}

async fn upload(state: &AppState<ProxiedUpload>, request: Request) -> Result<Reply, ApiError> {
    let caller = state.auth.authenticate(&request)?;
    body_bytes(&request)?;
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let boundary = multer::parse_boundary(content_type).map_err(|_| {
        ApiError::new(Code::MultipartRequired, "The request body must be multipart/form-data with a `file` part.")
    })?;
    let body = match request.into_body() {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        _ => return Err(ApiError::new(Code::InvalidMultipart, "The request body could not be read.")),
    };
    let mut multipart =
        multer::Multipart::new(futures_util::stream::once(async { Ok::<_, Infallible>(body) }), boundary);
    while let Some(field) = multipart.next_field().await.map_err(invalid_multipart)? {
        if field.name() != Some("file") {
            continue;
        }
        let filename = field
            .file_name()
            .map(str::to_owned)
            .ok_or_else(|| ApiError::new(Code::InvalidFilename, "The `file` part must carry a filename."))?;
        let part_type =
            field.content_type().map(ToString::to_string).unwrap_or_else(|| "application/octet-stream".to_owned());
        let stream = Box::pin(field.map_err(std::io::Error::other));
        let file = state.files.upload_proxied(&caller, &filename, &part_type, stream).await?;
        return Reply::created(&file);
    }
    Err(ApiError::new(Code::MissingFile, "The form has no `file` part."))
}
