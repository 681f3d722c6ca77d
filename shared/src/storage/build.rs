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

/// The configured backend over one configuration, handed to `on_local` (one store that signs,
/// reads, writes and lists) or to `on_s3` (a signer and a client sharing one SDK
/// configuration): each builder below turns it into the trait objects its callers hold.
async fn over_one_configuration<T>(
    settings: &StorageSettings,
    on_local: impl FnOnce(Arc<local::LocalFileStorage>) -> T,
    on_s3: impl FnOnce(Arc<s3::S3UrlSigner>, Arc<s3::S3ObjectStore>) -> T,
) -> Result<T, ConfigError> {
    Ok(match settings {
        StorageSettings::Local(settings) => on_local(Arc::new(local::LocalFileStorage::from_settings(settings))),
        StorageSettings::S3(settings) => {
            let (signer, objects) = s3::both(settings).await?;
            on_s3(Arc::new(signer), Arc::new(objects))
        }
    })
}

/// The signer, the objects and the multipart side of the configured backend, over one
/// configuration (and one client on S3).
///
/// # Errors
/// A [`ConfigError`] when no region can be found for S3.
pub async fn build_uploads(
    settings: &StorageSettings,
) -> Result<(Arc<dyn SignUrls>, Arc<dyn ObjectStore>, Arc<dyn MultipartStore>), ConfigError> {
    type Built = (Arc<dyn SignUrls>, Arc<dyn ObjectStore>, Arc<dyn MultipartStore>);
    over_one_configuration::<Built>(settings, |s| (s.clone(), s.clone(), s), |signer, s| (signer, s.clone(), s)).await
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
    type Built = (Arc<dyn SignDownloads>, Arc<dyn ReadObjects>, Arc<dyn CompleteMultipart>);
    over_one_configuration::<Built>(settings, |s| (s.clone(), s.clone(), s), |signer, s| (signer, s.clone(), s)).await
}

/// What upload-local calls: download signing and the store, over one configuration.
///
/// # Errors
/// A [`ConfigError`] when no region can be found for S3.
pub async fn build_proxied(
    settings: &StorageSettings,
) -> Result<(Arc<dyn SignDownloads>, Arc<dyn ObjectStore>), ConfigError> {
    type Built = (Arc<dyn SignDownloads>, Arc<dyn ObjectStore>);
    over_one_configuration::<Built>(settings, |s| (s.clone(), s), |signer, s| (signer, s)).await
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
