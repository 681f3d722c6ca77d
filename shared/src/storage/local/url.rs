//! The local backend's signed-URL protocol, in one place: HMAC-SHA256 signed, expiring URLs,
//! so that local development behaves like S3 pre-signed URLs. Each URL is bound to its method,
//! key, expiry and, for uploads, the declared size, content type and checksum; for downloads,
//! the disposition and type served. [`super::LocalFileStorage`] signs them; the `local-media`
//! server checks them ([`UrlSigner::authorize`]) and serves the object.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::keys::{FileKey, InvalidInput};

type HmacSha256 = Hmac<Sha256>;

/// What a signed local URL allows, and on what terms. Every field is covered by the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// Create the object with exactly this size and type (and checksum, when given).
    Put {
        /// The object key.
        key: FileKey,
        /// Unix seconds after which the URL is refused.
        expires: i64,
        /// Exact body length.
        size: u64,
        /// The `Content-Type` the request must carry.
        content_type: String,
        /// Base64 SHA-256 the body must hash to.
        checksum_sha256: Option<String>,
    },
    /// One request of a multipart upload of the object (the local media server answers it as
    /// S3 does).
    Multipart {
        /// The object key.
        key: FileKey,
        /// Unix seconds after which the URL is refused.
        expires: i64,
        /// What it allows.
        op: LocalOp,
    },
    /// Read the object, served with this disposition and type.
    Get {
        /// The object key.
        key: FileKey,
        /// Unix seconds after which the URL is refused.
        expires: i64,
        /// The `Content-Disposition` to send.
        disposition: String,
        /// The `Content-Type` to send.
        content_type: String,
    },
}

impl Grant {
    /// The object key.
    pub fn key(&self) -> &FileKey {
        match self {
            Self::Put { key, .. } | Self::Get { key, .. } | Self::Multipart { key, .. } => key,
        }
    }

    /// Unix seconds after which the URL is refused.
    pub fn expires(&self) -> i64 {
        match self {
            Self::Put { expires, .. } | Self::Get { expires, .. } | Self::Multipart { expires, .. } => *expires,
        }
    }

    /// The canonical string that is signed: one field a line, each in a fixed position, so no
    /// two different grants share a string (fields cannot hold a newline: they are validated
    /// keys, numbers, media types, base64, or header values we built).
    fn canonical(&self) -> String {
        match self {
            Self::Put { key, expires, size, content_type, checksum_sha256 } => format!(
                "v1\nPUT\n{key}\n{expires}\n{size}\n{content_type}\n{}",
                checksum_sha256.as_deref().unwrap_or("")
            ),
            Self::Get { key, expires, disposition, content_type } => {
                format!("v1\nGET\n{key}\n{expires}\n{disposition}\n{content_type}")
            }
            Self::Multipart { key, expires, op } => {
                let (name, method) = op.name_and_method();
                let (number, size) = match op {
                    LocalOp::Part { number, size, .. } => (number.to_string(), size.to_string()),
                    _ => (String::new(), String::new()),
                };
                let content_type = match op {
                    LocalOp::Create { content_type } => content_type.as_str(),
                    _ => "",
                };
                format!(
                    "v1\nMPU\n{method}\n{key}\n{expires}\n{name}\n{}\n{number}\n{size}\n{content_type}",
                    op.upload_id().unwrap_or_default()
                )
            }
        }
    }

    /// The query parameters that carry the grant (without the signature).
    pub fn query_pairs(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::Put { expires, size, content_type, checksum_sha256, .. } => {
                let mut pairs = vec![
                    ("expires", expires.to_string()),
                    ("size", size.to_string()),
                    ("content_type", content_type.clone()),
                ];
                if let Some(c) = checksum_sha256 {
                    pairs.push(("checksum_sha256", c.clone()));
                }
                pairs
            }
            Self::Get { expires, disposition, content_type, .. } => vec![
                ("expires", expires.to_string()),
                ("disposition", disposition.clone()),
                ("content_type", content_type.clone()),
            ],
            Self::Multipart { expires, op, .. } => {
                let mut pairs = vec![("op", op.name_and_method().0.to_owned()), ("expires", expires.to_string())];
                if let Some(id) = op.upload_id() {
                    pairs.push(("upload_id", id.to_owned()));
                }
                match op {
                    LocalOp::Create { content_type } => pairs.push(("content_type", content_type.clone())),
                    LocalOp::Part { number, size, .. } => {
                        pairs.push(("part_number", number.to_string()));
                        pairs.push(("size", size.to_string()));
                    }
                    LocalOp::List { .. } | LocalOp::Complete { .. } | LocalOp::Abort { .. } => {}
                }
                pairs
            }
        }
    }
}

/// A multipart request of the local backend, with everything its signature binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalOp {
    /// Start an upload of an object of this content type (`POST`).
    Create {
        /// The `Content-Type` the request must carry.
        content_type: String,
    },
    /// Send part `number` of `upload_id`, exactly `size` bytes (`PUT`).
    Part {
        /// The upload.
        upload_id: String,
        /// The part's number.
        number: u32,
        /// Its exact length.
        size: u64,
    },
    /// List the parts of `upload_id` (`GET`).
    List {
        /// The upload.
        upload_id: String,
    },
    /// Complete `upload_id` (`POST`).
    Complete {
        /// The upload.
        upload_id: String,
    },
    /// Abort `upload_id` (`DELETE`).
    Abort {
        /// The upload.
        upload_id: String,
    },
}

impl LocalOp {
    /// Its name in the URL and the method it is sent with.
    pub fn name_and_method(&self) -> (&'static str, &'static str) {
        match self {
            Self::Create { .. } => ("create", "POST"),
            Self::Part { .. } => ("part", "PUT"),
            Self::List { .. } => ("list", "GET"),
            Self::Complete { .. } => ("complete", "POST"),
            Self::Abort { .. } => ("abort", "DELETE"),
        }
    }

    /// The upload it works on (none for a create).
    pub fn upload_id(&self) -> Option<&str> {
        match self {
            Self::Create { .. } => None,
            Self::Part { upload_id, .. }
            | Self::List { upload_id }
            | Self::Complete { upload_id }
            | Self::Abort { upload_id } => Some(upload_id),
        }
    }

    fn parse(query: &HashMap<String, String>) -> Option<Self> {
        let get = |name: &str| query.get(name).cloned();
        let upload_id = || get("upload_id");
        Some(match query.get("op")?.as_str() {
            "create" => Self::Create { content_type: get("content_type")? },
            "part" => Self::Part {
                upload_id: upload_id()?,
                number: get("part_number")?.parse().ok()?,
                size: get("size")?.parse().ok()?,
            },
            "list" => Self::List { upload_id: upload_id()? },
            "complete" => Self::Complete { upload_id: upload_id()? },
            "abort" => Self::Abort { upload_id: upload_id()? },
            _ => return None,
        })
    }
}

/// Why a request to a signed local URL is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    /// The signature is missing or does not match the grant.
    #[error("the URL signature is invalid")]
    BadSignature,
    /// The URL has expired.
    #[error("the URL has expired")]
    Expired,
    /// The method is neither GET nor PUT.
    #[error("the method is not allowed on a signed URL")]
    Method,
}

/// Signs and verifies [`Grant`]s with one secret, built once per cold start.
#[derive(Clone)]
pub struct UrlSigner {
    mac: HmacSha256,
}

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UrlSigner([redacted])")
    }
}

impl UrlSigner {
    /// A signer keyed with `secret`.
    pub fn new(secret: &[u8]) -> Self {
        // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
        let mac = HmacSha256::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        Self { mac }
    }

    /// The URL-safe base64 signature of `grant`.
    pub fn sign(&self, grant: &Grant) -> String {
        let mut mac = self.mac.clone();
        mac.update(grant.canonical().as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// The URL under `url_base` that carries `grant` and its signature.
    pub fn signed_url(&self, url_base: &str, grant: &Grant) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in grant.query_pairs() {
            query.append_pair(name, &value);
        }
        query.append_pair("signature", &self.sign(grant));
        format!("{url_base}/{}?{}", encode_key_path(grant.key()), query.finish())
    }

    /// Checks a request to a signed URL: the query must carry a grant for this `method` and
    /// `key` with a valid signature, not expired at `now`. Returns the grant, whose terms the
    /// caller then enforces on the request.
    ///
    /// # Errors
    /// [`UrlError`] for a wrong method, a bad or missing signature, or an expired URL.
    pub fn authorize(
        &self,
        method: &str,
        key: &FileKey,
        query: &HashMap<String, String>,
        now: DateTime<Utc>,
    ) -> Result<Grant, UrlError> {
        let get = |name: &str| query.get(name).cloned();
        let expires: i64 = get("expires").and_then(|e| e.parse().ok()).ok_or(UrlError::BadSignature)?;
        let grant = match method {
            _ if query.contains_key("op") => {
                let op = LocalOp::parse(query).ok_or(UrlError::BadSignature)?;
                if op.name_and_method().1 != method {
                    return Err(UrlError::Method);
                }
                Grant::Multipart { key: key.clone(), expires, op }
            }
            "PUT" => Grant::Put {
                key: key.clone(),
                expires,
                size: get("size").and_then(|s| s.parse().ok()).ok_or(UrlError::BadSignature)?,
                content_type: get("content_type").ok_or(UrlError::BadSignature)?,
                checksum_sha256: get("checksum_sha256"),
            },
            "GET" | "HEAD" => Grant::Get {
                key: key.clone(),
                expires,
                disposition: get("disposition").ok_or(UrlError::BadSignature)?,
                content_type: get("content_type").ok_or(UrlError::BadSignature)?,
            },
            _ => return Err(UrlError::Method),
        };
        let signature = get("signature").ok_or(UrlError::BadSignature)?;
        if !self.verify(&grant, &signature) {
            return Err(UrlError::BadSignature);
        }
        if now.timestamp() > expires {
            return Err(UrlError::Expired);
        }
        Ok(grant)
    }

    /// Whether `signature` is this signer's for `grant`, compared in constant time.
    pub fn verify(&self, grant: &Grant, signature: &str) -> bool {
        let Ok(raw) = URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        let mut mac = self.mac.clone();
        mac.update(grant.canonical().as_bytes());
        mac.verify_slice(&raw).is_ok()
    }
}

/// Characters left as they are in a URL path segment (RFC 3986 unreserved).
const PATH_SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// The key as a URL path: each segment percent-encoded, `/` kept.
pub fn encode_key_path(key: &FileKey) -> String {
    key.as_str()
        .split('/')
        .map(|segment| percent_encoding::utf8_percent_encode(segment, PATH_SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// The key a URL path names (the inverse of [`encode_key_path`]).
///
/// # Errors
/// [`InvalidInput`] when the path does not decode to a valid key.
pub fn decode_key_path(path: &str) -> Result<FileKey, InvalidInput> {
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| InvalidInput("the key is not UTF-8".to_owned()))?;
    FileKey::parse(&decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put() -> Grant {
        Grant::Put {
            key: FileKey::parse("uploads/a.txt").unwrap(),
            expires: 1_900_000_000,
            size: 5,
            content_type: "text/plain".into(),
            checksum_sha256: None,
        }
    }

    #[test]
    fn a_signature_verifies_only_for_the_grant_it_was_made_for() {
        let signer = UrlSigner::new(b"0123456789abcdef0123456789abcdef");
        let sig = signer.sign(&put());
        assert!(signer.verify(&put(), &sig));
        let Grant::Put { key, expires, size, content_type, checksum_sha256 } = put() else { unreachable!() };
        let variants = [
            Grant::Put {
                key: FileKey::parse("uploads/b.txt").unwrap(),
                expires,
                size,
                content_type: content_type.clone(),
                checksum_sha256: checksum_sha256.clone(),
            },
            Grant::Put {
                key: key.clone(),
                expires: expires + 1,
                size,
                content_type: content_type.clone(),
                checksum_sha256: checksum_sha256.clone(),
            },
            Grant::Put {
                key: key.clone(),
                expires,
                size: size + 1,
                content_type: content_type.clone(),
                checksum_sha256: checksum_sha256.clone(),
            },
            Grant::Put {
                key: key.clone(),
                expires,
                size,
                content_type: "text/html".into(),
                checksum_sha256: checksum_sha256.clone(),
            },
            Grant::Put {
                key: key.clone(),
                expires,
                size,
                content_type: content_type.clone(),
                checksum_sha256: Some("x".into()),
            },
            Grant::Get { key, expires, disposition: "attachment".into(), content_type },
        ];
        for other in variants {
            assert!(!signer.verify(&other, &sig), "{other:?}");
        }
        assert!(!UrlSigner::new(b"another secret, another signature").verify(&put(), &sig));
        assert!(!signer.verify(&put(), "garbage!"));
    }
}
