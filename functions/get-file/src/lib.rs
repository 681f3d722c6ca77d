//! `GET /files/{id}`: the caller's organization's file, with a download URL when available.

use files_core::http::{path_id, respond, Reply};
use files_core::services::ReadFile;
use files_core::{ApiError, AppState};
use lambda_http::{Body, Error, Request, Response};

/// The function's handler; failures are problem+json responses, never runtime errors.
///
/// # Errors
/// None in practice: every failure is a response.
#[tracing::instrument(skip_all)]
pub async fn handle(state: &AppState<ReadFile>, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(get_file(state, &request).await))
}

async fn get_file(state: &AppState<ReadFile>, request: &Request) -> Result<Reply, ApiError> {
    let caller = state.auth.authenticate(request)?;
    let id = path_id(request)?;
    let file = state.files.get_file(&caller, id).await?;
    Reply::ok(&file)
}
