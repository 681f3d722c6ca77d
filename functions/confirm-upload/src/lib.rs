//! `POST /files/confirm-upload`: checks that the caller's pending upload is stored exactly as
//! declared and marks it available; answers 200 with the file. Idempotent.

use files_core::http::{json_body, respond, Reply};
use files_core::services::ConfirmUpload;
use files_core::{ApiError, AppState};
use lambda_http::{Body, Error, Request, Response};

/// The function's handler; failures are problem+json responses, never runtime errors.
///
/// # Errors
/// None in practice: every failure is a response.
#[tracing::instrument(skip_all)]
pub async fn handle(state: &AppState<ConfirmUpload>, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(confirm(state, &request).await))
}

async fn confirm(state: &AppState<ConfirmUpload>, request: &Request) -> Result<Reply, ApiError> {
    let caller = state.auth.authenticate(request)?;
    let body = json_body(request)?;
    let file = state.files.confirm_upload(&caller, body).await?;
    Reply::ok(&file)
}
