//! `POST /files/initiate-upload`: validates the declared file, records it as pending for the
//! caller, and answers 201 with the signed URL and headers to send its bytes with.

use files_core::http::{json_body, respond, Reply};
use files_core::services::InitiateUpload;
use files_core::{ApiError, AppState};
use lambda_http::{Body, Error, Request, Response};

/// The function's handler; failures are problem+json responses, never runtime errors.
///
/// # Errors
/// None in practice: every failure is a response.
#[tracing::instrument(skip_all)]
pub async fn handle(state: &AppState<InitiateUpload>, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(initiate(state, &request).await))
}

async fn initiate(state: &AppState<InitiateUpload>, request: &Request) -> Result<Reply, ApiError> {
    let caller = state.auth.authenticate(request)?;
    let body = json_body(request)?;
    let upload = state.files.initiate_upload(&caller, body).await?;
    Reply::created(&upload)
}
