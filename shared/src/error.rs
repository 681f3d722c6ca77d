//! The HTTP meaning of every failure, in one place. Workflows, storage, the database and search
//! return semantic errors; this module alone turns them into an RFC 9457
//! `application/problem+json` answer with a status and a stable `code` ([`Code`], the one list
//! of codes). Internal causes are logged with their chain and never sent out.

use std::error::Error as StdError;

use serde::Serialize;

use crate::auth::AuthError;
use crate::db::RepositoryError;
use crate::search::SearchError;
use crate::services::{Field, Mismatch, ServiceError};
use crate::storage::StorageError;
use crate::telemetry::error_chain;

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
    /// 500: a fault of ours.
    Internal,
    /// 503: a dependency is down; retry later.
    Unavailable,
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
            Self::Internal => 500,
            Self::Unavailable => 503,
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
            Self::Internal => "Internal Server Error",
            Self::Unavailable => "Service Unavailable",
        }
    }
}

/// Declares [`Code`]: each variant with its string and its kind, and the list of all.
macro_rules! codes {
    ($($variant:ident => $code:literal, $kind:ident;)*) => {
        /// Every problem `code` the service answers with, and its status.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Code {
            $(#[doc = concat!("`", $code, "`")] $variant,)*
        }

        impl Code {
            /// All of them, in the order of the README's error table.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The stable, machine-readable string.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            /// The kind of failure, hence the status.
            pub fn kind(self) -> ErrorKind {
                match self { $(Code::$variant => ErrorKind::$kind,)* }
            }
        }
    };
}

codes! {
    InvalidJson => "invalid_json", BadRequest;
    InvalidFilename => "invalid_filename", BadRequest;
    InvalidContentType => "invalid_content_type", BadRequest;
    InvalidSize => "invalid_size", BadRequest;
    InvalidChecksum => "invalid_checksum", BadRequest;
    InvalidFileKey => "invalid_file_key", BadRequest;
    InvalidFileId => "invalid_file_id", BadRequest;
    InvalidOwner => "invalid_owner", BadRequest;
    InvalidDisposition => "invalid_disposition", BadRequest;
    InvalidQuery => "invalid_query", BadRequest;
    InvalidLimit => "invalid_limit", BadRequest;
    InvalidCursor => "invalid_cursor", BadRequest;
    InvalidUploadId => "invalid_upload_id", BadRequest;
    InvalidPartNumber => "invalid_part_number", BadRequest;
    InvalidPartSize => "invalid_part_size", BadRequest;
    InvalidMethod => "invalid_method", BadRequest;
    InvalidMultipart => "invalid_multipart", BadRequest;
    InvalidBody => "invalid_body", BadRequest;
    MissingFile => "missing_file", BadRequest;
    SizeMismatch => "size_mismatch", BadRequest;
    ChecksumMismatch => "checksum_mismatch", BadRequest;
    InvalidKey => "invalid_key", BadRequest;
    UploadMethodNotSupported => "upload_method_not_supported", BadRequest;
    Unauthorized => "unauthorized", Unauthorized;
    Forbidden => "forbidden", Forbidden;
    InvalidSignature => "invalid_signature", Forbidden;
    UrlExpired => "url_expired", Forbidden;
    HeaderMismatch => "header_mismatch", Forbidden;
    FileNotFound => "file_not_found", NotFound;
    UploadNotFound => "upload_not_found", NotFound;
    ObjectNotFound => "object_not_found", NotFound;
    MethodNotAllowed => "method_not_allowed", MethodNotAllowed;
    UploadIncomplete => "upload_incomplete", Conflict;
    FileNotAvailable => "file_not_available", Conflict;
    ObjectExists => "object_exists", Conflict;
    Conflict => "conflict", Conflict;
    FileTooLarge => "file_too_large", PayloadTooLarge;
    PayloadTooLarge => "payload_too_large", PayloadTooLarge;
    ContentTypeNotAllowed => "content_type_not_allowed", UnsupportedMediaType;
    UnsupportedMediaType => "unsupported_media_type", UnsupportedMediaType;
    MultipartRequired => "multipart_required", UnsupportedMediaType;
    UploadMismatch => "upload_mismatch", Unprocessable;
    InternalError => "internal_error", Internal;
    DependencyUnavailable => "dependency_unavailable", Unavailable;
}

type Source = Box<dyn StdError + Send + Sync>;

/// A failure as the caller sees it: a stable code (hence kind and status), a safe detail, and
/// (kept private) the cause.
#[derive(Debug)]
pub struct ApiError {
    code: Code,
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
    /// An error with a stable `code` and a detail that is safe to show.
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        Self { code, detail: detail.into(), retry_after: None, source: None }
    }

    /// 503 `dependency_unavailable`, with `Retry-After` and the cause kept for the log.
    pub fn unavailable(dependency: &str, source: impl Into<Source>) -> Self {
        Self::new(Code::DependencyUnavailable, format!("The {dependency} is unavailable; retry shortly."))
            .with_retry_after(2)
            .with_source(source)
    }

    /// 500 `internal_error`; the cause is logged, never sent.
    pub fn internal(source: impl Into<Source>) -> Self {
        Self::new(Code::InternalError, "An internal error occurred.").with_source(source)
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
        self.code.kind()
    }

    /// The stable code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.kind().status()
    }

    /// Seconds to wait before retrying, if any.
    pub fn retry_after(&self) -> Option<u32> {
        self.retry_after
    }

    /// The problem+json body.
    pub fn problem(&self) -> Problem<'_> {
        let code = self.code.as_str();
        Problem {
            type_: format!("urn:files:problem:{}", code.replace('_', "-")),
            title: self.kind().title(),
            status: self.status(),
            detail: &self.detail,
            code,
        }
    }

    /// Logs the failure: server faults at error level with the cause chain, the rest at info.
    pub fn log(&self) {
        let chain = self.source.as_deref().map(|s| error_chain(s as &(dyn StdError + 'static))).unwrap_or_default();
        let code = self.code.as_str();
        match self.kind() {
            ErrorKind::Internal => tracing::error!(code, cause = %chain, "request failed"),
            ErrorKind::Unavailable => tracing::warn!(code, cause = %chain, "dependency unavailable"),
            _ => tracing::info!(code, status = self.status(), "request refused"),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status(), self.code.as_str(), self.detail)
    }
}

impl StdError for ApiError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_deref().map(|s| s as &(dyn StdError + 'static))
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        Self::new(Code::Unauthorized, e.to_string())
    }
}

impl From<RepositoryError> for ApiError {
    fn from(e: RepositoryError) -> Self {
        match e {
            RepositoryError::Unavailable(_) => Self::unavailable("database", e),
            RepositoryError::Conflict(_) => {
                Self::new(Code::Conflict, "The file was changed concurrently; retry.").with_source(e)
            }
            RepositoryError::Query(_) => Self::internal(e),
        }
    }
}

impl From<SearchError> for ApiError {
    fn from(e: SearchError) -> Self {
        match e {
            SearchError::Unavailable(_) => Self::unavailable("search service", e),
            SearchError::Backend(_) => Self::internal(e),
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match &e {
            StorageError::NotFound => Self::new(Code::ObjectNotFound, "No such object."),
            StorageError::AlreadyExists => {
                Self::new(Code::ObjectExists, "An object already exists under this key; it is never overwritten.")
            }
            StorageError::TooLarge { limit } => {
                Self::new(Code::PayloadTooLarge, format!("The body is larger than {limit} bytes."))
            }
            StorageError::SizeMismatch { expected, actual } => {
                Self::new(Code::SizeMismatch, format!("The body is {actual} bytes but {expected} were declared."))
            }
            StorageError::ChecksumMismatch => {
                Self::new(Code::ChecksumMismatch, "The body does not match the declared SHA-256 checksum.")
            }
            StorageError::Body(_) => {
                Self::new(Code::InvalidBody, "The request body broke off or is malformed; nothing was stored.")
                    .with_source(e)
            }
            StorageError::Unavailable(_) => Self::unavailable("storage service", e),
            StorageError::InvalidParts(why) => {
                Self::new(Code::UploadMismatch, format!("The parts do not make up the file: {why}."))
            }
            StorageError::MethodNotSupported(what) => Self::new(Code::UploadMethodNotSupported, format!("{what}.")),
            StorageError::Io(_) | StorageError::Backend(_) => Self::internal(e),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid { field, reason } => Self::new(invalid_code(field), reason),
            ServiceError::TypeNotAllowed { essence } => {
                Self::new(Code::ContentTypeNotAllowed, format!("Files of type `{essence}` may not be uploaded."))
            }
            ServiceError::TooLarge { limit } => {
                Self::new(Code::FileTooLarge, format!("Files may be at most {limit} bytes."))
            }
            ServiceError::FileNotFound => Self::new(Code::FileNotFound, "No such file."),
            ServiceError::UploadNotFound => Self::new(Code::UploadNotFound, "No such upload."),
            ServiceError::UploadIncomplete => {
                Self::new(Code::UploadIncomplete, "The file's bytes have not been uploaded yet.")
            }
            ServiceError::NotAvailable => {
                Self::new(Code::FileNotAvailable, "The file's upload has not been confirmed yet.")
            }
            ServiceError::Mismatch(what) => Self::new(
                Code::UploadMismatch,
                format!("The uploaded {} differs from what was declared.", mismatch_name(what)),
            ),
            ServiceError::NotPermitted => {
                Self::new(Code::Forbidden, "Only the uploader or an administrator may delete this file.")
            }
            ServiceError::Storage(e) => e.into(),
            ServiceError::Repository(e) => e.into(),
            ServiceError::Search(e) => e.into(),
        }
    }
}

fn invalid_code(field: Field) -> Code {
    match field {
        Field::Filename => Code::InvalidFilename,
        Field::ContentType => Code::InvalidContentType,
        Field::Size => Code::InvalidSize,
        Field::Checksum => Code::InvalidChecksum,
        Field::FileKey => Code::InvalidFileKey,
        Field::Owner => Code::InvalidOwner,
        Field::Query => Code::InvalidQuery,
        Field::Limit => Code::InvalidLimit,
        Field::Cursor => Code::InvalidCursor,
        Field::UploadId => Code::InvalidUploadId,
        Field::PartNumber => Code::InvalidPartNumber,
        Field::PartSize => Code::InvalidPartSize,
        Field::Method => Code::InvalidMethod,
    }
}

fn mismatch_name(what: Mismatch) -> &'static str {
    match what {
        Mismatch::Size => "size",
        Mismatch::ContentType => "content type",
        Mismatch::Checksum => "checksum",
        Mismatch::Parts => "parts (one is missing, of another size than planned, or not the one listed)",
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

    #[test]
    fn every_code_is_listed_once_and_named_in_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            assert!(seen.insert(code.as_str()), "{code:?} twice");
            assert!(code.as_str().bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{code:?}");
        }
    }
}
