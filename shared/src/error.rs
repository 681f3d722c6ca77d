//! The one error type that reaches callers. Every failure becomes an RFC 9457
//! `application/problem+json` response with a stable `code`; internal causes are logged with
//! their chain and never sent out.

use std::error::Error as StdError;

use serde::Serialize;

use crate::auth::AuthError;
use crate::db::RepositoryError;
use crate::keys::InvalidInput;
use crate::storage::StorageError;

/// The kinds of failure a caller can see, each with its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400: the request is malformed.
    BadRequest,
    /// 401: no valid caller.
    Unauthorized,
    /// 403: the caller may not do this (or a signed URL is invalid or expired).
    Forbidden,
    /// 404: no such file for this caller.
    NotFound,
    /// 405: the route does not take this method.
    MethodNotAllowed,
    /// 409: the file is not in a state that allows this.
    Conflict,
    /// 413: the body or declared size is over a limit.
    PayloadTooLarge,
    /// 415: the content type is not allowed.
    UnsupportedMediaType,
    /// 422: the stored object differs from what was declared.
    Unprocessable,
    /// 503: a dependency is down; retry later.
    Unavailable,
    /// 500: a fault of ours.
    Internal,
}

impl ErrorKind {
    /// The HTTP status code.
    pub fn status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Conflict => 409,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::Unprocessable => 422,
            Self::Unavailable => 503,
            Self::Internal => 500,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::BadRequest => "Bad Request",
            Self::Unauthorized => "Unauthorized",
            Self::Forbidden => "Forbidden",
            Self::NotFound => "Not Found",
            Self::MethodNotAllowed => "Method Not Allowed",
            Self::Conflict => "Conflict",
            Self::PayloadTooLarge => "Content Too Large",
            Self::UnsupportedMediaType => "Unsupported Media Type",
            Self::Unprocessable => "Unprocessable Content",
            Self::Unavailable => "Service Unavailable",
            Self::Internal => "Internal Server Error",
        }
    }
}

type Source = Box<dyn StdError + Send + Sync>;

/// A failure as the caller sees it: kind, stable code, a safe detail, and (kept private) the
/// cause.
#[derive(Debug)]
pub struct ApiError {
    kind: ErrorKind,
    code: &'static str,
    detail: String,
    retry_after: Option<u32>,
    source: Option<Source>,
}

/// The body of a problem+json response.
#[derive(Debug, Serialize)]
pub struct Problem<'a> {
    /// A URI naming the problem type.
    #[serde(rename = "type")]
    pub type_: String,
    /// The status's title.
    pub title: &'a str,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, safe to show.
    pub detail: &'a str,
    /// A stable, machine-readable code.
    pub code: &'a str,
}

impl ApiError {
    /// An error of `kind` with a stable `code` and a detail that is safe to show.
    pub fn new(kind: ErrorKind, code: &'static str, detail: impl Into<String>) -> Self {
        Self { kind, code, detail: detail.into(), retry_after: None, source: None }
    }

    /// 400 with `code`.
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, code, detail)
    }

    /// 404 `file_not_found`: the same answer whether the file does not exist or belongs to
    /// another organization, so existence does not leak.
    pub fn file_not_found() -> Self {
        Self::new(ErrorKind::NotFound, "file_not_found", "No such file.")
    }

    /// 503 `dependency_unavailable`, with `Retry-After` and the cause kept for the log.
    pub fn unavailable(dependency: &str, source: impl Into<Source>) -> Self {
        Self::new(
            ErrorKind::Unavailable,
            "dependency_unavailable",
            format!("The {dependency} is unavailable; retry shortly."),
        )
        .with_retry_after(2)
        .with_source(source)
    }

    /// 500 `internal_error`; the cause is logged, never sent.
    pub fn internal(source: impl Into<Source>) -> Self {
        Self::new(ErrorKind::Internal, "internal_error", "An internal error occurred.").with_source(source)
    }

    /// Keeps `source` for the log.
    pub fn with_source(mut self, source: impl Into<Source>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Adds a `Retry-After` header (seconds).
    pub fn with_retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    /// Seconds to wait before retrying, if any.
    pub fn retry_after(&self) -> Option<u32> {
        self.retry_after
    }

    /// The problem+json body.
    pub fn problem(&self) -> Problem<'_> {
        Problem {
            type_: format!("urn:files:problem:{}", self.code.replace('_', "-")),
            title: self.kind.title(),
            status: self.kind.status(),
            detail: &self.detail,
            code: self.code,
        }
    }

    /// Logs the failure: server faults at error level with the cause chain, the rest at info.
    pub fn log(&self) {
        let chain = self.source.as_deref().map(|s| error_chain(s as &(dyn StdError + 'static))).unwrap_or_default();
        match self.kind {
            ErrorKind::Internal => {
                tracing::error!(code = self.code, cause = %chain, "request failed")
            }
            ErrorKind::Unavailable => {
                tracing::warn!(code = self.code, cause = %chain, "dependency unavailable")
            }
            _ => tracing::info!(code = self.code, status = self.status(), "request refused"),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status(), self.code, self.detail)
    }
}

impl StdError for ApiError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_deref().map(|s| s as &(dyn StdError + 'static))
    }
}

/// `outer: inner: innermost`, for logs.
pub fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        out.push_str(": ");
        out.push_str(&e.to_string());
        next = e.source();
    }
    out
}

impl From<InvalidInput> for ApiError {
    fn from(e: InvalidInput) -> Self {
        Self::bad_request("invalid_request", e.0)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        Self::new(ErrorKind::Unauthorized, "unauthorized", e.to_string())
    }
}

impl From<RepositoryError> for ApiError {
    fn from(e: RepositoryError) -> Self {
        match e {
            RepositoryError::Unavailable(_) => Self::unavailable("database", e),
            RepositoryError::Conflict(_) => {
                Self::new(ErrorKind::Conflict, "conflict", "The file was changed concurrently; retry.").with_source(e)
            }
            RepositoryError::Query(_) => Self::internal(e),
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match &e {
            StorageError::NotFound => Self::new(ErrorKind::NotFound, "object_not_found", "No such object."),
            StorageError::AlreadyExists => Self::new(
                ErrorKind::Conflict,
                "object_exists",
                "An object already exists under this key; it is never overwritten.",
            ),
            StorageError::TooLarge { limit } => Self::new(
                ErrorKind::PayloadTooLarge,
                "payload_too_large",
                format!("The body is larger than {limit} bytes."),
            ),
            StorageError::SizeMismatch { expected, actual } => {
                Self::bad_request("size_mismatch", format!("The body is {actual} bytes but {expected} were declared."))
            }
            StorageError::ChecksumMismatch => {
                Self::bad_request("checksum_mismatch", "The body does not match the declared SHA-256 checksum.")
            }
            StorageError::Unavailable(_) => Self::unavailable("storage service", e),
            StorageError::Unsupported(what) => Self::bad_request("upload_method_not_supported", format!("{what}.")),
            StorageError::Io(_) | StorageError::Backend(_) => Self::internal(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_carry_status_code_and_detail_but_never_the_cause() {
        let err = ApiError::unavailable("database", std::io::Error::other("password=hunter2 refused"));
        let body = serde_json::to_value(err.problem()).unwrap();
        assert_eq!(body["status"], 503);
        assert_eq!(body["code"], "dependency_unavailable");
        assert_eq!(body["title"], "Service Unavailable");
        assert_eq!(body["type"], "urn:files:problem:dependency-unavailable");
        assert!(!body.to_string().contains("hunter2"));
        assert_eq!(err.retry_after(), Some(2));
    }
}
