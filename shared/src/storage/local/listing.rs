//! The local store's listing of the upload prefix, for the reconciler's sweep.

use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::LocalFileStorage;
use crate::keys::{FileKey, UPLOAD_PREFIX};
use crate::storage::{ListUploads, ListedObject, ObjectListing, StorageError};

impl ListUploads for LocalFileStorage {
    fn list_uploads(&self) -> ObjectListing {
        walk_uploads(self.root.clone())
    }
}

/// Listed objects handed from the walking thread to the stream at a time.
const LISTING_BUFFER: usize = 256;

/// Walks `root/uploads` on a blocking thread, sending each data file as it is found (the
/// channel's bound keeps memory flat; dropping the stream stops the walk). Sidecars, temporary
/// files and tombstones live outside `uploads/`, so everything found is an object's bytes.
fn walk_uploads(root: PathBuf) -> ObjectListing {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<ListedObject, StorageError>>(LISTING_BUFFER);
    tokio::task::spawn_blocking(move || {
        let top = root.join(UPLOAD_PREFIX);
        if !top.exists() {
            return;
        }
        for entry in walkdir::WalkDir::new(&top).follow_links(false) {
            let listed = match entry {
                Ok(entry) if entry.file_type().is_file() => match listed_of(&root, &entry) {
                    Some(listed) => listed,
                    None => continue,
                },
                Ok(_) => continue,
                Err(e) => Err(StorageError::Io(e.into())),
            };
            if tx.blocking_send(listed).is_err() {
                return; // the reader went away
            }
        }
    });
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }))
}

/// The listing entry of a data file under `root`, or `None` (logged) when its path is no key.
fn listed_of(root: &Path, entry: &walkdir::DirEntry) -> Option<Result<ListedObject, StorageError>> {
    let relative = entry.path().strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = relative.components().map(|c| c.as_os_str().to_str()).collect();
    let Some(key) = parts.map(|p| p.join("/")).and_then(|raw| FileKey::parse(&raw).ok()) else {
        tracing::warn!(path = %relative.display(), "a file under the upload folder whose path is no key; left alone");
        return None;
    };
    let modified = match entry.metadata().map_err(io::Error::from).and_then(|m| m.modified()) {
        Ok(time) => DateTime::<Utc>::from(time),
        Err(e) => return Some(Err(StorageError::Io(e))),
    };
    Some(Ok(ListedObject { key, version: None, modified }))
}
