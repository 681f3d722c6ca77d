//! The multipart routes of an upload, in one function:
//!
//! - `POST /files/upload-parts`: signs up to 1,000 part URLs of the caller's pending multipart
//!   upload, each bound to its upload id, number and exact length;
//! - `GET /files/upload-parts?file_key=&upload_id=`: the parts stored so far (to resume);
//! - `POST /files/abort-upload`: abandons the caller's pending upload (its parts and its row go);
//! - `POST /files/sign-request`: signs any one S3 request of an upload for a client that sends
//!   it itself, as Uppy's `@uppy/aws-s3` does through its `signRequest` hook.

use files_core::http::{json_body, method_not_allowed, query_map, respond, Reply};
use files_core::services::UploadParts;
use files_core::{ApiError, AppState, Code};
use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, Response};

/// The function's handler; failures are problem+json responses, never runtime errors.
///
/// # Errors
/// None in practice: every failure is a response.
#[tracing::instrument(skip_all)]
pub async fn handle(state: &AppState<UploadParts>, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(route(state, &request).await))
}

async fn route(state: &AppState<UploadParts>, request: &Request) -> Result<Reply, ApiError> {
    let path = request.uri().path().trim_end_matches('/');
    let caller = state.auth.authenticate(request)?;
    if path.ends_with("/files/sign-request") {
        if request.method() != Method::POST {
            return Err(method_not_allowed());
        }
        return Reply::ok(&state.files.sign_request(&caller, json_body(request)?).await?);
    }
    if path.ends_with("/files/abort-upload") {
        if request.method() != Method::POST {
            return Err(method_not_allowed());
        }
        state.files.abort(&caller, json_body(request)?).await?;
        return Ok(Reply::Empty(lambda_http::http::StatusCode::NO_CONTENT));
    }
    match *request.method() {
        Method::POST => Reply::ok(&state.files.sign_parts(&caller, json_body(request)?).await?),
        Method::GET => {
            let query = query_map(request);
            let get = |name: &str, code: Code| {
                query.get(name).cloned().ok_or_else(|| ApiError::new(code, format!("{name} is required")))
            };
            let key = get("file_key", Code::InvalidFileKey)?;
            let upload_id = get("upload_id", Code::InvalidUploadId)?;
            Reply::ok(&state.files.list_parts(&caller, &key, &upload_id).await?)
        }
        _ => Err(method_not_allowed()),
    }
}
