//! The HTTP edge shared by every API function: reading JSON bodies, path and query
//! parameters, and turning `Result<Reply, ApiError>` into a Lambda HTTP response. Expected
//! failures are responses, never an `Err` handed to the runtime.

use std::collections::HashMap;

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use crate::config::LAMBDA_MAX_BODY_BYTES;
use crate::error::{ApiError, Code};

/// A successful answer.
#[derive(Debug)]
pub enum Reply {
    /// A JSON body with this status.
    Json(StatusCode, serde_json::Value),
    /// No body.
    Empty(StatusCode),
    /// A response built by the handler (e.g. file bytes).
    Raw(Response<Body>),
}

impl Reply {
    /// 200 with `body` as JSON.
    ///
    /// # Errors
    /// 500 if `body` cannot be serialised (a bug).
    pub fn ok<T: Serialize>(body: &T) -> Result<Self, ApiError> {
        Self::json(StatusCode::OK, body)
    }

    /// 201 with `body` as JSON.
    ///
    /// # Errors
    /// As [`Reply::ok`].
    pub fn created<T: Serialize>(body: &T) -> Result<Self, ApiError> {
        Self::json(StatusCode::CREATED, body)
    }

    fn json<T: Serialize>(status: StatusCode, body: &T) -> Result<Self, ApiError> {
        Ok(Self::Json(status, serde_json::to_value(body).map_err(ApiError::internal)?))
    }
}

fn with_body(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response<Body> {
    let mut response = Response::new(Body::Binary(body));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The response for a handler's result; errors are logged and rendered as problem+json.
pub fn respond(result: Result<Reply, ApiError>) -> Response<Body> {
    match result {
        Ok(Reply::Json(status, value)) => with_body(status, "application/json", value.to_string().into_bytes()),
        Ok(Reply::Empty(status)) => {
            let mut response = Response::new(Body::Empty);
            *response.status_mut() = status;
            response
        }
        Ok(Reply::Raw(response)) => response,
        Err(err) => problem_response(&err),
    }
}

/// The problem+json response for `err` (logged here, once).
pub fn problem_response(err: &ApiError) -> Response<Body> {
    err.log();
    let body = serde_json::to_vec(&err.problem()).unwrap_or_default();
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = with_body(status, "application/problem+json", body);
    if let Some(seconds) = err.retry_after() {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// The request body as bytes, refusing one over the Lambda payload limit.
///
/// # Errors
/// 413 when the body is over [`LAMBDA_MAX_BODY_BYTES`].
pub fn body_bytes(request: &Request) -> Result<&[u8], ApiError> {
    let declared =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let body: &[u8] = request.body().as_ref();
    if declared.unwrap_or(0) > LAMBDA_MAX_BODY_BYTES || body.len() as u64 > LAMBDA_MAX_BODY_BYTES {
        return Err(ApiError::new(
            Code::PayloadTooLarge,
            format!(
                "Request bodies are limited to {LAMBDA_MAX_BODY_BYTES} bytes; send large files to the signed upload URL from initiate-upload."
            ),
        ));
    }
    Ok(body)
}

/// The JSON body, parsed into `T`.
///
/// # Errors
/// 415 for a non-JSON content type; 400 `invalid_json` for an empty, malformed or mistyped body
/// (the detail names the field); 413 for an oversized one.
pub fn json_body<T: DeserializeOwned>(request: &Request) -> Result<T, ApiError> {
    if let Some(ct) = request.headers().get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or_default().trim();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(ApiError::new(Code::UnsupportedMediaType, "The request body must be application/json."));
        }
    }
    let body = body_bytes(request)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(Code::InvalidJson, "A JSON body is required."));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::new(Code::InvalidJson, format!("Invalid JSON body: {e}")))
}

/// The `id` path parameter as a UUID.
///
/// # Errors
/// 400 `invalid_file_id` when it is missing or not a UUID.
pub fn path_id(request: &Request) -> Result<Uuid, ApiError> {
    let params = request.path_parameters();
    let raw = params.first("id").unwrap_or_default();
    Uuid::parse_str(raw).map_err(|_| ApiError::new(Code::InvalidFileId, "The file id must be a UUID."))
}

/// The query string as a map (the first value of each name).
pub fn query_map(request: &Request) -> HashMap<String, String> {
    let params = request.query_string_parameters();
    params.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

/// A 405 for a method the route does not take.
pub fn method_not_allowed() -> ApiError {
    ApiError::new(Code::MethodNotAllowed, "This route does not accept that method.")
}
