//! The builders of the configured backend's capabilities (the seed's `get_storage_service`):
//! each function takes what it calls, over one configuration (one client on S3). Building
//! touches no network.

use std::sync::Arc;

use super::multipart::{CompleteMultipart, MultipartStore};
use super::{local, s3, ListUploads, ObjectStore, ReadObjects, SignDownloads, SignUrls};
use crate::config::{ConfigError, StorageSettings};

/// The objects, the listing and the multipart uploads of the configured backend, over one
/// client: what the reconciler sweeps.
///
/// # Errors
/// A [`ConfigError`] when no region can be found for S3.
pub async fn build_objects_and_listing(
    settings: &StorageSettings,
) -> Result<(Arc<dyn ObjectStore>, Arc<dyn ListUploads>, Arc<dyn MultipartStore>), ConfigError> {
    match settings {
        StorageSettings::Local(local) => {
            let storage = Arc::new(local::LocalFileStorage::from_settings(local));
            Ok((storage.clone(), storage.clone(), storage))
        }
        StorageSettings::S3(s3) => {
            let storage = Arc::new(s3::S3ObjectStore::new(s3).await?);
            Ok((storage.clone(), storage.clone(), storage))
        }
    }
}

/// The multipart side of the configured backend's store.
///
/// # Errors
/// A [`ConfigError`] when no region can be found for S3.
pub async fn build_multipart(settings: &StorageSettings) -> Result<Arc<dyn MultipartStore>, ConfigError> {
    match settings {
        StorageSettings::Local(local) => Ok(Arc::new(local::LocalFileStorage::from_settings(local))),
        StorageSettings::S3(s3) => Ok(Arc::new(s3::S3ObjectStore::new(s3).await?)),
    }
}

/// The signer, the objects and the multipart side of the configured backend, over one
/// configuration (and one client on S3).
///
/// # Errors
/// A [`ConfigError`] when no region can be found for S3.
pub async fn build_uploads(
    settings: &StorageSettings,
) -> Result<(Arc<dyn SignUrls>, Arc<dyn ObjectStore>, Arc<dyn MultipartStore>), ConfigError> {
    match settings {
        StorageSettings::Local(local) => {
            let storage = Arc::new(local::LocalFileStorage::from_settings(local));
            Ok((storage.clone(), storage.clone(), storage))
        }
        StorageSettings::S3(s3) => {
            let (signer, objects) = s3::both(s3).await?;
            let objects = Arc::new(objects);
            Ok((Arc::new(signer), objects.clone(), objects))
        }
    }
}

/// The URL signer of the configured backend (the seed's `get_storage_service`, signing half).
/// Builds no client and touches no network.
///
/// # Errors
/// A [`ConfigError`] when no region can be found for S3.
pub async fn build_signer(settings: &StorageSettings) -> Result<Arc<dyn SignUrls>, ConfigError> {
    match settings {
        StorageSettings::Local(local) => Ok(Arc::new(local::LocalFileStorage::from_settings(local))),
        StorageSettings::S3(s3) => Ok(Arc::new(s3::S3UrlSigner::new(s3).await?)),
    }
}

/// The object store of the configured backend. Builds clients only; nothing here waits on the
/// network.
///
/// # Errors
/// A [`ConfigError`] when no region can be found for S3.
pub async fn build_objects(settings: &StorageSettings) -> Result<Arc<dyn ObjectStore>, ConfigError> {
    match settings {
        StorageSettings::Local(local) => Ok(Arc::new(local::LocalFileStorage::from_settings(local))),
        StorageSettings::S3(s3) => Ok(Arc::new(s3::S3ObjectStore::new(s3).await?)),
    }
}

/// What confirm-upload calls, over one configuration (and one client on S3): download signing,
/// object reads and multipart completion, each a trait object of its own, so that the binary
/// holds none of the writes, upload signing or multipart creation its stores could do.
///
/// # Errors
/// A [`ConfigError`] when no region can be found for S3.
pub async fn build_confirmation(
    settings: &StorageSettings,
) -> Result<(Arc<dyn SignDownloads>, Arc<dyn ReadObjects>, Arc<dyn CompleteMultipart>), ConfigError> {
    match settings {
        StorageSettings::Local(local) => {
            let storage = Arc::new(local::LocalFileStorage::from_settings(local));
            Ok((storage.clone(), storage.clone(), storage))
        }
        StorageSettings::S3(s3) => {
            let (signer, objects) = s3::both(s3).await?;
            let objects = Arc::new(objects);
            Ok((Arc::new(signer), objects.clone(), objects))
        }
    }
}

/// What upload-local calls: download signing and the store, over one configuration.
///
/// # Errors
/// A [`ConfigError`] when no region can be found for S3.
pub async fn build_proxied(
    settings: &StorageSettings,
) -> Result<(Arc<dyn SignDownloads>, Arc<dyn ObjectStore>), ConfigError> {
    match settings {
        StorageSettings::Local(local) => {
            let storage = Arc::new(local::LocalFileStorage::from_settings(local));
            Ok((storage.clone(), storage))
        }
        StorageSettings::S3(s3) => {
            let (signer, objects) = s3::both(s3).await?;
            Ok((Arc::new(signer), Arc::new(objects)))
        }
    }
}

/// The download signer of the configured backend (get-file, download-url, search-files).
/// Builds no client and touches no network.
///
/// # Errors
/// A [`ConfigError`] when no region can be found for S3.
pub async fn build_download_signer(settings: &StorageSettings) -> Result<Arc<dyn SignDownloads>, ConfigError> {
    match settings {
        StorageSettings::Local(local) => Ok(Arc::new(local::LocalFileStorage::from_settings(local))),
        StorageSettings::S3(s3) => Ok(Arc::new(s3::S3UrlSigner::new(s3).await?)),
    }
}
