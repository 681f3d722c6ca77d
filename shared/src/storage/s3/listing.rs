//! The listing of the upload prefix ([`ListUploads`]) on S3: every version and delete marker
//! page by page through ListObjectVersions, or, on a server without versions (s3s-fs answers
//! 501), every object through ListObjectsV2.

use aws_sdk_s3::error::{ProvideErrorMetadata as _, SdkError};
use futures_util::StreamExt as _;

use super::classify_http;
use super::objects::S3ObjectStore;
use crate::file::ObjectVersion;
use crate::keys::{FileKey, UPLOAD_PREFIX};
use crate::storage::{ListUploads, ListedObject, ObjectListing, StorageError};

/// Where a listing of the upload prefix goes on.
enum Cursor {
    /// ListObjectVersions from these markers.
    Versions {
        key: Option<String>,
        version: Option<String>,
    },
    /// ListObjectsV2 from this token (a server without versions).
    Objects {
        token: Option<String>,
    },
    Done,
}

type Page = Vec<Result<ListedObject, StorageError>>;

impl S3ObjectStore {
    /// One page of the upload prefix's versions and delete markers (1,000 at most, S3's page),
    /// and where the next starts.
    async fn versions_page(&self, key: Option<String>, version: Option<String>) -> (Page, Cursor) {
        let prefix = format!("{UPLOAD_PREFIX}/");
        let request = self.client().list_object_versions().bucket(self.bucket()).prefix(&prefix);
        let listed = match request.set_key_marker(key).set_version_id_marker(version).send().await {
            Ok(listed) => listed,
            Err(SdkError::ServiceError(e)) if e.err().code() == Some("NotImplemented") => {
                return (Vec::new(), Cursor::Objects { token: None });
            }
            Err(e) => return (vec![Err(classify_http(e))], Cursor::Done),
        };
        let versions = listed.versions().iter().map(|v| (v.key(), v.version_id(), v.last_modified()));
        let markers = listed.delete_markers().iter().map(|m| (m.key(), m.version_id(), m.last_modified()));
        let page =
            versions.chain(markers).filter_map(|(key, version, modified)| listed_of(key, version, modified)).collect();
        let next = match listed.next_key_marker() {
            Some(key) if listed.is_truncated().unwrap_or(false) => Cursor::Versions {
                key: Some(key.to_owned()),
                version: listed.next_version_id_marker().map(str::to_owned),
            },
            _ => Cursor::Done,
        };
        (page, next)
    }

    /// One page of the upload prefix's objects (a server without versions).
    async fn objects_page(&self, token: Option<String>) -> (Page, Cursor) {
        let prefix = format!("{UPLOAD_PREFIX}/");
        let request = self.client().list_objects_v2().bucket(self.bucket()).prefix(&prefix);
        let listed = match request.set_continuation_token(token).send().await {
            Ok(listed) => listed,
            Err(e) => return (vec![Err(classify_http(e))], Cursor::Done),
        };
        let page = listed.contents().iter().filter_map(|o| listed_of(o.key(), None, o.last_modified())).collect();
        let next = match listed.next_continuation_token() {
            Some(token) if listed.is_truncated().unwrap_or(false) => Cursor::Objects { token: Some(token.to_owned()) },
            _ => Cursor::Done,
        };
        (page, next)
    }
}

impl ListUploads for S3ObjectStore {
    fn list_uploads(&self) -> ObjectListing {
        let store = self.clone();
        let pages = futures_util::stream::unfold(Cursor::Versions { key: None, version: None }, move |cursor| {
            let store = store.clone();
            async move {
                let (page, next) = match cursor {
                    Cursor::Versions { key, version } => store.versions_page(key, version).await,
                    Cursor::Objects { token } => store.objects_page(token).await,
                    Cursor::Done => return None,
                };
                Some((futures_util::stream::iter(page), next))
            }
        });
        Box::pin(pages.flatten())
    }
}

/// The listing entry of an S3 key and version, or `None` (logged) when the key is no
/// [`FileKey`].
fn listed_of(
    key: Option<&str>,
    version: Option<&str>,
    modified: Option<&aws_sdk_s3::primitives::DateTime>,
) -> Option<Result<ListedObject, StorageError>> {
    let raw = key?;
    let Ok(key) = FileKey::parse(raw) else {
        tracing::warn!(key = raw, "an object under the upload prefix whose key is no file key; left alone");
        return None;
    };
    let modified = modified
        .and_then(|m| chrono::DateTime::from_timestamp(m.secs(), m.subsec_nanos()))
        .unwrap_or_else(chrono::Utc::now);
    Some(Ok(ListedObject { key, version: ObjectVersion::from_store(version), modified }))
}
