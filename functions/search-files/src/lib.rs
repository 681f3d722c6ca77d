//! `GET /files/search?q=&content_type=&uploaded_by=&limit=&cursor=`: the caller's
//! organization's files whose name or content match, with highlights, best first, and a
//! cursor for the next page. Elasticsearch when configured, PostgreSQL otherwise.

use files_core::http::{query_map, respond, Reply};
use files_core::services::SearchFiles;
use files_core::services::SearchRequest;
use files_core::{ApiError, AppState, Code};
use lambda_http::{Body, Error, Request, Response};

/// The function's handler; failures are problem+json responses, never runtime errors.
///
/// # Errors
/// None in practice: every failure is a response.
#[tracing::instrument(skip_all)]
pub async fn handle(state: &AppState<SearchFiles>, request: Request) -> Result<Response<Body>, Error> {
    Ok(respond(search(state, &request).await))
}

async fn search(state: &AppState<SearchFiles>, request: &Request) -> Result<Reply, ApiError> {
    let caller = state.auth.authenticate(request)?;
    let mut query = query_map(request);
    let limit = query
        .get("limit")
        .map(|raw| raw.parse::<u32>())
        .transpose()
        .map_err(|_| ApiError::new(Code::InvalidLimit, "limit must be between 1 and 100"))?;
    let request = SearchRequest {
        q: query.remove("q").unwrap_or_default(),
        content_type: query.remove("content_type"),
        uploaded_by: query.remove("uploaded_by"),
        limit,
        cursor: query.remove("cursor"),
    };
    let results = state.files.search(&caller, request).await?;
    Reply::ok(&results)
}
