//! The SigV4 pieces of [`super::presign`]: the canonical request, timestamps, encodings, and
//! the URL's parameter order, as aws-sigv4 builds them for S3 presigning.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use aws_smithy_types::Document;
use chrono::{DateTime, Datelike, Timelike, Utc};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// The longest lifetime SigV4 accepts for a presigned URL: seven days.
pub const MAX_EXPIRES_IN: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Why a URL cannot be presigned, or a presigner cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum PresignError {
    /// The SDK's endpoint resolver refused the endpoint, bucket or region.
    #[error("cannot resolve the S3 endpoint: {0}")]
    Endpoint(String),
    /// The resolved endpoint asks for a signing scheme other than SigV4 (SigV4a, S3 Express).
    #[error("the S3 endpoint needs the {0} signing scheme, which this presigner does not implement")]
    UnsupportedAuthScheme(String),
    /// The object key is empty.
    #[error("the object key is empty")]
    EmptyKey,
    /// A header value the request must carry is not a valid HTTP header value.
    #[error("the {0} header value is not a valid HTTP header value")]
    InvalidHeaderValue(&'static str),
    /// The lifetime is longer than SigV4 allows ([`MAX_EXPIRES_IN`]).
    #[error("a presigned URL cannot live longer than seven days")]
    ExpiresTooLong,
    /// The signing time is before 1970.
    #[error("the signing time is before the Unix epoch")]
    TimeBeforeEpoch,
}

/// What SigV4 percent-encodes in query names and values: everything but `A-Z a-z 0-9 - . _ ~`
/// (non-ASCII as UTF-8 bytes).
pub(super) const QUERY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
/// What SigV4 percent-encodes in an S3 object key in the path: the same, but `/` stays.
pub(super) const PATH_ENCODE: &AsciiSet = &QUERY_ENCODE.remove(b'/');

pub(super) const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
pub(super) const SERVICE: &str = "s3";

/// Refuses what SigV4 or S3 would: an empty key, a lifetime over seven days, a header value
/// that is not a valid HTTP header value.
pub(super) fn check(key: &str, headers: &[(&'static str, String)], expires_in: Duration) -> Result<(), PresignError> {
    if key.is_empty() {
        return Err(PresignError::EmptyKey);
    }
    if expires_in > MAX_EXPIRES_IN {
        return Err(PresignError::ExpiresTooLong);
    }
    for (name, value) in headers {
        if !value.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)) {
            return Err(PresignError::InvalidHeaderValue(name));
        }
    }
    Ok(())
}

/// The canonical request SigV4 signs: method, path, the sorted encoded query, the signed
/// headers' canonical values, their names, and the unsigned payload.
pub(super) fn canonical_request(
    method: &str,
    path: &str,
    encoded: &[(String, String)],
    signed: &[(&str, &str)],
    signed_names: &str,
) -> String {
    let mut canonical_query: Vec<&(String, String)> = encoded.iter().collect();
    canonical_query.sort_unstable();
    let mut creq = String::with_capacity(512);
    creq.push_str(method);
    creq.push('\n');
    creq.push_str(path);
    creq.push('\n');
    for (i, (name, value)) in canonical_query.iter().enumerate() {
        if i > 0 {
            creq.push('&');
        }
        creq.push_str(name);
        creq.push('=');
        creq.push_str(value);
    }
    creq.push('\n');
    for (name, value) in signed {
        creq.push_str(name);
        creq.push(':');
        creq.push_str(&trim_all(value));
        creq.push('\n');
    }
    creq.push('\n');
    creq.push_str(signed_names);
    creq.push('\n');
    creq.push_str(UNSIGNED_PAYLOAD);
    creq
}

/// Appends the query to `url` in the SDK's order: the parameters before `signature_at`, the
/// signature, then the rest (the session token).
pub(super) fn push_query(url: &mut String, encoded: &[(String, String)], signature_at: usize, signature: &str) {
    let mut separator = '?';
    let mut push = |url: &mut String, name: &str, value: &str| {
        url.push(separator);
        separator = '&';
        url.push_str(name);
        url.push('=');
        url.push_str(value);
    };
    for (name, value) in &encoded[..signature_at] {
        push(url, name, value);
    }
    push(url, "X-Amz-Signature", signature);
    for (name, value) in &encoded[signature_at..] {
        push(url, name, value);
    }
}

/// The signing region the resolved endpoint asks for, if it names one; an error when its first
/// auth scheme is not SigV4.
pub(super) fn signing_region(auth_schemes: Option<&Document>) -> Result<Option<&str>, PresignError> {
    let Some(Document::Array(schemes)) = auth_schemes else { return Ok(None) };
    let Some(Document::Object(scheme)) = schemes.first() else { return Ok(None) };
    match scheme.get("name") {
        Some(Document::String(name)) if name == "sigv4" => {}
        Some(Document::String(name)) => return Err(PresignError::UnsupportedAuthScheme(name.clone())),
        _ => return Ok(None),
    }
    Ok(match scheme.get("signingRegion") {
        Some(Document::String(region)) => Some(region.as_str()),
        _ => None,
    })
}

/// The signing time as SigV4 writes it.
pub(super) struct Timestamp {
    /// `YYYYMMDD`.
    pub(super) date: String,
    /// `YYYYMMDDTHHMMSSZ`.
    pub(super) date_time: String,
}

impl Timestamp {
    pub(super) fn of(time: SystemTime) -> Result<Self, PresignError> {
        time.duration_since(SystemTime::UNIX_EPOCH).map_err(|_| PresignError::TimeBeforeEpoch)?;
        let utc: DateTime<Utc> = time.into();
        let mut date = String::with_capacity(8);
        let _ = write!(date, "{:04}{:02}{:02}", utc.year(), utc.month(), utc.day());
        let mut date_time = String::with_capacity(16);
        let _ = write!(date_time, "{date}T{:02}{:02}{:02}Z", utc.hour(), utc.minute(), utc.second());
        Ok(Self { date, date_time })
    }
}

pub(super) fn encode_query(value: &str) -> String {
    utf8_percent_encode(value, QUERY_ENCODE).to_string()
}

/// A header value as SigV4 canonicalizes it: spaces trimmed at both ends and runs of spaces
/// collapsed to one (other whitespace is kept, as S3 keeps it).
pub(super) fn trim_all(value: &str) -> Cow<'_, str> {
    let value = value.trim_matches(' ');
    if !value.contains("  ") {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    let mut previous_space = false;
    for c in value.chars() {
        if c == ' ' && previous_space {
            continue;
        }
        previous_space = c == ' ';
        out.push(c);
    }
    Cow::Owned(out)
}
