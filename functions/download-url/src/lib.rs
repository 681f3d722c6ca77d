//! `GET /files/{id}/download-url[?disposition=inline|attachment]`: a short-lived signed URL
//! that serves the file under its original name.

use files_core::disposition::DispositionKind;
use files_core::http::{path_id, query_map, respond, Reply};
use files_core::services::ReadFile;
use files_core::{ApiError, AppState, Code};
use lambda_http::{Body, Error, Request, Response};

/// The function's handler; failures are problem+json responses, never runtime errors.
///
/// # Errors
/// None in practice: every failure is a response.
#[tracing::instrument(skip_all)]
pub async fn handle(state: &AppState<ReadFile>, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(download_url(state, &request).await))
}

async fn download_url(state: &AppState<ReadFile>, request: &Request) -> Result<Reply, ApiError> {
    let caller = state.auth.authenticate(request)?;
    let id = path_id(request)?;
    let disposition = match query_map(request).get("disposition") {
        None => DispositionKind::Attachment,
        Some(raw) => DispositionKind::parse(raw)
            .ok_or_else(|| ApiError::new(Code::InvalidDisposition, "disposition must be `attachment` or `inline`"))?,
    };
    let signed = state.files.download_url(&caller, id, disposition).await?;
    Reply::ok(&signed)
}
