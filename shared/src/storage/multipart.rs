//! Multipart uploads: a file sent as numbered parts (5 MiB to 5 GiB each, up to 10,000), each
//! signed for its upload and number, listed to resume, assembled into the object at completion
//! (create-only) or aborted. Two capabilities, as for single uploads: signing the S3 requests a
//! client sends itself ([`super::SignUrls::sign_multipart`], no I/O) and the store's side
//! ([`MultipartStore`]: create, list, complete, abort). Both backends speak S3's protocol: the
//! local media server answers the same requests with the same XML.

use std::fmt;

use async_trait::async_trait;
use serde::Serialize;

use super::StorageError;
use crate::keys::{ContentType, FileKey, InvalidInput};

/// S3's smallest part (all but the last).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3's largest part.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// S3's most parts of one upload.
pub const MAX_PARTS: u64 = 10_000;
/// The most part URLs one call signs.
pub const MAX_PARTS_PER_SIGNING: usize = 1_000;

/// The id a store gave a multipart upload (S3's `UploadId`, or the local store's).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct UploadId(String);

impl UploadId {
    /// An upload id as a client sends it back: 1 to 1,024 characters of the URL-safe and base64
    /// alphabets S3 and the local store use.
    ///
    /// # Errors
    /// [`InvalidInput`] for anything else.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let ok = !raw.is_empty()
            && raw.len() <= 1024
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidInput("upload_id must be the id initiate-upload or the storage answered".to_owned()))
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a file of `size` bytes is cut: `part_size` bytes a part, `count` parts, the last one
/// holding the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PartPlan {
    /// Bytes in each part but the last.
    pub part_size: u64,
    /// Parts in all.
    pub count: u32,
    /// The file's size.
    #[serde(skip)]
    pub size: u64,
}

impl PartPlan {
    /// The plan for `size` bytes: `part_size` when given, else the smallest size S3 allows for
    /// this many bytes (5 MiB, or `size / 10,000` rounded up for files over 50,000 MiB), which
    /// is also what browser uploaders cut by default.
    ///
    /// # Errors
    /// A reason, safe to show, when the part size is outside S3's limits or the file would need
    /// more than 10,000 parts or is empty.
    pub fn new(size: u64, part_size: Option<u64>) -> Result<Self, String> {
        if size == 0 {
            return Err("an empty file has no parts; upload it with a single PUT".to_owned());
        }
        let part_size = part_size.unwrap_or_else(|| MIN_PART_SIZE.max(size.div_ceil(MAX_PARTS)));
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&part_size) {
            return Err(format!("part_size must be {MIN_PART_SIZE} to {MAX_PART_SIZE} bytes"));
        }
        let count = size.div_ceil(part_size);
        if count > MAX_PARTS {
            return Err(format!("{size} bytes in parts of {part_size} would be more than {MAX_PARTS} parts"));
        }
        Ok(Self { part_size, count: u32::try_from(count).unwrap_or(u32::MAX), size })
    }

    /// The plan of a recorded upload (its row holds a part size and count that [`PartPlan::new`]
    /// accepted).
    pub fn of_record(size: u64, part_size: u64, count: u32) -> Self {
        Self { part_size, count, size }
    }

    /// The exact size of part `number` (1-based), or `None` when the plan has no such part.
    pub fn part_len(&self, number: u32) -> Option<u64> {
        if number == 0 || number > self.count {
            return None;
        }
        let start = u64::from(number - 1) * self.part_size;
        Some(self.part_size.min(self.size - start))
    }
}

/// One part the store holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadedPart {
    /// Its number, from 1.
    pub part_number: u32,
    /// Its length.
    pub size: u64,
    /// Its entity tag, as the store answered the part's PUT.
    pub etag: String,
}

/// Whether two entity tags are the same: clients send them back with their quotes or without.
pub fn same_etag(a: &str, b: &str) -> bool {
    bare_etag(a) == bare_etag(b)
}

/// An entity tag without its quotes.
pub fn bare_etag(etag: &str) -> &str {
    etag.trim().trim_matches('"')
}

/// One part of a completion: its number and the entity tag its PUT answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    /// Its number.
    pub part_number: u32,
    /// Its entity tag.
    pub etag: String,
}

/// An S3 multipart request a client sends itself, signed by the service.
#[derive(Debug, Clone, Copy)]
pub enum MultipartOp<'a> {
    /// `CreateMultipartUpload` (`POST ?uploads`), with this `Content-Type`.
    Create {
        /// The object's content type.
        content_type: &'a ContentType,
    },
    /// `UploadPart` (`PUT ?partNumber&uploadId`) of exactly `size` bytes.
    Part {
        /// The upload.
        upload_id: &'a UploadId,
        /// The part's number.
        number: u32,
        /// Its exact length.
        size: u64,
    },
    /// `ListParts` (`GET ?uploadId`).
    List {
        /// The upload.
        upload_id: &'a UploadId,
    },
    /// `CompleteMultipartUpload` (`POST ?uploadId`), create-only.
    Complete {
        /// The upload.
        upload_id: &'a UploadId,
    },
    /// `AbortMultipartUpload` (`DELETE ?uploadId`).
    Abort {
        /// The upload.
        upload_id: &'a UploadId,
    },
}

/// A signed request: its method, URL, and the headers it must carry.
#[derive(Debug, Clone, Serialize)]
pub struct SignedRequest {
    /// `GET`, `PUT`, `POST` or `DELETE`.
    pub method: &'static str,
    /// The URL; it grants access, so never log it.
    pub url: String,
    /// Headers the request must carry, exactly (never one a browser sets itself).
    pub headers: std::collections::BTreeMap<String, String>,
}

impl MultipartOp<'_> {
    /// The HTTP method of the request.
    pub fn method(&self) -> &'static str {
        match self {
            Self::Create { .. } | Self::Complete { .. } => "POST",
            Self::Part { .. } => "PUT",
            Self::List { .. } => "GET",
            Self::Abort { .. } => "DELETE",
        }
    }
}

/// Completing a multipart upload: all that confirm-upload holds of the store's multipart side
/// (a trait object keeps every method it has).
#[async_trait]
pub trait CompleteMultipart: Send + Sync + fmt::Debug {
    /// The parts uploaded so far, by number.
    ///
    /// # Errors
    /// `NotFound` when `key` has no such upload (never begun, completed, aborted, or another
    /// key's); `Unavailable`, `Io`.
    async fn list_parts(&self, key: &FileKey, upload_id: &UploadId) -> Result<Vec<UploadedPart>, StorageError>;

    /// Assembles `parts` (ascending numbers, each with the entity tag its PUT answered) into the
    /// object, create-only.
    ///
    /// # Errors
    /// `NotFound` for no such upload; `InvalidParts` when a part is missing, another than
    /// listed, or too small; `AlreadyExists` when the key holds an object; `Unavailable`, `Io`.
    async fn complete_multipart(
        &self,
        key: &FileKey,
        upload_id: &UploadId,
        parts: &[CompletedPart],
    ) -> Result<(), StorageError>;
}

/// The store's side of multipart uploads. Built once per cold start and shared.
#[async_trait]
pub trait MultipartStore: CompleteMultipart {
    /// Starts a multipart upload of an object of `content_type` under `key`.
    ///
    /// # Errors
    /// `Unavailable`, `Io`, `Backend`.
    async fn create_multipart(&self, key: &FileKey, content_type: &ContentType) -> Result<UploadId, StorageError>;

    /// Aborts the upload and drops its parts; an upload that is gone already is no error.
    ///
    /// # Errors
    /// `Unavailable`, `Io`.
    async fn abort_multipart(&self, key: &FileKey, upload_id: &UploadId) -> Result<(), StorageError>;

    /// Aborts every multipart upload under the upload prefix begun before `before` (the
    /// reconciler's sweep: uploads never completed, whatever their row says), and answers how
    /// many went. Bounded: at most 10,000 uploads a call.
    ///
    /// # Errors
    /// `Unavailable`, `Io`.
    async fn abort_stale(&self, before: chrono::DateTime<chrono::Utc>) -> Result<usize, StorageError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_default_plan_is_the_smallest_s3_allows() {
        let plan = PartPlan::new(50 * 1024 * 1024, None).unwrap();
        assert_eq!((plan.part_size, plan.count), (MIN_PART_SIZE, 10));
        let huge = 5 * 1024 * 1024 * 1024 * 1024u64;
        let plan = PartPlan::new(huge, None).unwrap();
        assert!(u64::from(plan.count) <= MAX_PARTS && plan.part_size <= MAX_PART_SIZE, "{plan:?}");
        assert!(PartPlan::new(0, None).is_err());
        assert!(PartPlan::new(10, Some(MIN_PART_SIZE - 1)).is_err());
        assert!(PartPlan::new(MIN_PART_SIZE * (MAX_PARTS + 1), Some(MIN_PART_SIZE)).is_err());
    }

    proptest! {
        /// Whatever the size and part size, the parts of a plan cover the file exactly, every
        /// part but the last is `part_size` long, and none is empty.
        #[test]
        fn a_plan_covers_the_file_exactly(size in 1u64..=6 * 1024 * 1024 * 1024 * 1024, part in proptest::option::of(MIN_PART_SIZE..=MAX_PART_SIZE)) {
            if let Ok(plan) = PartPlan::new(size, part) {
                let mut total = 0;
                for n in 1..=plan.count {
                    let len = plan.part_len(n).unwrap();
                    prop_assert!(len > 0 && len <= plan.part_size);
                    if n < plan.count { prop_assert_eq!(len, plan.part_size); }
                    total += len;
                }
                prop_assert_eq!(total, size);
                prop_assert!(plan.part_len(0).is_none() && plan.part_len(plan.count + 1).is_none());
            } else {
                prop_assert!(part.is_some() || size > MAX_PART_SIZE * MAX_PARTS);
            }
        }

        /// Upload ids round-trip when valid and are refused when they hold anything a URL or a
        /// header would have to escape.
        #[test]
        fn upload_ids_hold_only_safe_characters(raw in "\\PC{0,40}") {
            match UploadId::parse(&raw) {
                Ok(id) => prop_assert_eq!(id.as_str(), raw.as_str()),
                Err(_) => prop_assert!(raw.is_empty() || raw.bytes().any(|b| !(b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b)))),
            }
        }
    }
}
