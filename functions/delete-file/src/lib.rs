//! `DELETE /files/{id}`: removes the file's object and row; answers 204.

use files_core::http::{path_id, respond, Reply};
use files_core::services::DeleteFile;
use files_core::{ApiError, AppState};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};

/// The function's handler; failures are problem+json responses, never runtime errors.
///
/// # Errors
/// None in practice: every failure is a response.
#[tracing::instrument(skip_all)]
pub async fn handle(state: &AppState<DeleteFile>, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(delete_file(state, &request).await))
}

async fn delete_file(state: &AppState<DeleteFile>, request: &Request) -> Result<Reply, ApiError> {
    let caller = state.auth.authenticate(request)?;
    let id = path_id(request)?;
    state.files.delete_file(&caller, id).await?;
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}
