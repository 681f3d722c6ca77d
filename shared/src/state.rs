//! What a function holds for its lifetime, built once per cold start from [`Settings`]: its
//! authenticator and its workflow, which holds only the capabilities it calls ([`FromSettings`]
//! builds each from its own sections). A function's `main` names its workflow, and the linker
//! leaves out whatever that workflow never reaches: the S3 client, the search client, the PDF
//! extractor (only the indexer reads documents; the API functions hand changes to it through
//! the outbox). Nothing here touches the network.

use std::sync::Arc;

use async_trait::async_trait;

use crate::auth::Authenticator;
use crate::config::{ConfigError, DatabaseSettings, SearchSettings, Settings};
use crate::db::{DbPool, FileRepository, Outbox, PgFileRepository, PgIndexVersions, PgOutbox, PgSearchIndex};
use crate::file::StorageLocation;
use crate::indexing::{IndexWriter, Indexer};
use crate::outbox::{build_batch_queue, build_queue};
use crate::search::elastic::ElasticIndex;
use crate::search::extract::{Extractor, Limits};
use crate::search::{IndexDocuments, SearchFiles as SearchPort};
use crate::services::{
    Availability, ConfirmUpload, DeleteFile, InitiateUpload, Multipart, ProxiedUpload, ReadFile, SearchFiles,
    UploadParts, Views,
};
use crate::storage::{
    build_confirmation, build_download_signer, build_objects, build_proxied, build_uploads, ObjectStore, SignDownloads,
};

/// The state of an API function: who is calling, and the workflow it serves.
#[derive(Debug)]
pub struct AppState<W> {
    /// Turns requests into callers.
    pub auth: Authenticator,
    /// The workflow.
    pub files: W,
}

impl<W: FromSettings> AppState<W> {
    /// The authenticator and the workflow of `settings`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the variable that stops start-up.
    pub async fn build(settings: &Settings) -> Result<Self, ConfigError> {
        Ok(Self { auth: Authenticator::new(&settings.auth), files: W::from_settings(settings).await? })
    }
}

/// Something a function builds from its settings at cold start.
#[async_trait]
pub trait FromSettings: Sized {
    /// Builds it: clients and lazy pools only, no network.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the variable that stops start-up.
    async fn from_settings(settings: &Settings) -> Result<Self, ConfigError>;
}

/// The database pool of `settings` (`DB_SECRET_ARN` when set, else `DATABASE_URL`), sized as
/// `database` says.
///
/// # Errors
/// A [`ConfigError`] when neither is set.
pub async fn build_pool(settings: &Settings, database: &DatabaseSettings) -> Result<Arc<DbPool>, ConfigError> {
    DbPool::new(database, settings.storage.s3()).await
}

/// The configured search backend: Elasticsearch when `ELASTICSEARCH_URL` is set, PostgreSQL
/// over `pool` otherwise.
enum Backend {
    Elastic(ElasticIndex),
    Postgres(PgSearchIndex),
}

fn backend(settings: &SearchSettings, pool: Arc<DbPool>) -> Result<Backend, ConfigError> {
    Ok(match &settings.elasticsearch_url {
        Some(_) => Backend::Elastic(ElasticIndex::from_settings(settings)?),
        None => Backend::Postgres(PgSearchIndex::new(pool, &settings.pg_text_config)),
    })
}

/// The query side of the configured search.
///
/// # Errors
/// A [`ConfigError`] naming `ELASTICSEARCH_URL` when the client cannot be built.
pub fn build_search(settings: &SearchSettings, pool: Arc<DbPool>) -> Result<Arc<dyn SearchPort>, ConfigError> {
    Ok(match backend(settings, pool)? {
        Backend::Elastic(index) => Arc::new(index),
        Backend::Postgres(index) => Arc::new(index),
    })
}

/// The write side of the configured search.
///
/// # Errors
/// As [`build_search`].
pub fn build_index(settings: &SearchSettings, pool: Arc<DbPool>) -> Result<Arc<dyn IndexDocuments>, ConfigError> {
    Ok(match backend(settings, pool)? {
        Backend::Elastic(index) => Arc::new(index),
        Backend::Postgres(index) => Arc::new(index),
    })
}

/// What the configured search holds, for the reconciler.
///
/// # Errors
/// As [`build_search`].
pub fn build_inventory(
    settings: &SearchSettings,
    pool: Arc<DbPool>,
) -> Result<Arc<dyn crate::search::IndexInventory>, ConfigError> {
    Ok(match backend(settings, pool)? {
        Backend::Elastic(index) => Arc::new(index),
        Backend::Postgres(index) => Arc::new(index),
    })
}

async fn views(settings: &Settings) -> Result<Views<dyn SignDownloads>, ConfigError> {
    Ok(Views::new(build_download_signer(&settings.storage).await?, settings.presigned_url_expiry))
}

async fn repository(settings: &Settings) -> Result<(Arc<DbPool>, Arc<dyn FileRepository>), ConfigError> {
    let pool = build_pool(settings, &settings.database).await?;
    Ok((pool.clone(), Arc::new(PgFileRepository::new(pool))))
}

/// The index writer of `settings` over `pool`.
///
/// # Errors
/// A [`ConfigError`] naming `ELASTICSEARCH_URL` when its client cannot be built.
pub fn build_index_writer(settings: &Settings, pool: Arc<DbPool>) -> Result<IndexWriter, ConfigError> {
    let index = build_index(&settings.search, pool.clone())?;
    Ok(IndexWriter::new(Arc::new(PgIndexVersions::new(pool)), index))
}

/// The indexer of `settings`, reading text from `objects`, over `pool`.
///
/// # Errors
/// As [`build_index_writer`].
pub fn build_indexer(
    settings: &Settings,
    pool: Arc<DbPool>,
    objects: Arc<dyn ObjectStore>,
) -> Result<Indexer, ConfigError> {
    let text = Arc::new(Extractor::new(objects.clone(), Limits::of(&settings.search)));
    Ok(Indexer::new(build_index_writer(settings, pool)?, text, objects, settings.search.indexer_concurrency))
}

async fn pg_repository(settings: &Settings) -> Result<Arc<PgFileRepository>, ConfigError> {
    Ok(Arc::new(PgFileRepository::new(build_pool(settings, &settings.database).await?)))
}

#[async_trait]
impl FromSettings for InitiateUpload {
    async fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let repo = pg_repository(settings).await?;
        let (signer, _, store) = build_uploads(&settings.storage).await?;
        let views = Views::new(signer, settings.presigned_url_expiry);
        let multipart = Multipart { repo: repo.clone(), store };
        Ok(Self::new(views, repo, multipart, StorageLocation::of(&settings.storage), settings.upload.clone()))
    }
}

#[async_trait]
impl FromSettings for UploadParts {
    async fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let repo = pg_repository(settings).await?;
        let (signer, objects, store) = build_uploads(&settings.storage).await?;
        let views = Views::new(signer, settings.presigned_url_expiry);
        let multipart = Multipart { repo: repo.clone(), store };
        let queue = build_queue(settings).await;
        let location = StorageLocation::of(&settings.storage);
        Ok(Self::new(views, repo, objects, multipart, queue, location, settings.upload.clone()))
    }
}

#[async_trait]
impl FromSettings for ConfirmUpload {
    async fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let repo = pg_repository(settings).await?;
        let (signer, objects, store) = build_confirmation(&settings.storage).await?;
        let queue = build_queue(settings).await;
        let views = Views::new(signer, settings.presigned_url_expiry);
        let parts = Availability { views, repo: repo.clone(), queue };
        Ok(Self::new(parts, objects, Multipart { repo, store }))
    }
}

#[async_trait]
impl FromSettings for ProxiedUpload {
    async fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let (_, repo) = repository(settings).await?;
        let (signer, objects) = build_proxied(&settings.storage).await?;
        let queue = build_queue(settings).await;
        let parts = Availability { views: Views::new(signer, settings.presigned_url_expiry), repo, queue };
        Ok(Self::new(parts, objects, StorageLocation::of(&settings.storage), settings.upload.clone()))
    }
}

#[async_trait]
impl FromSettings for ReadFile {
    async fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let (_, repo) = repository(settings).await?;
        Ok(Self::new(views(settings).await?, repo))
    }
}

#[async_trait]
impl FromSettings for DeleteFile {
    async fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let (_, repo) = repository(settings).await?;
        let objects = build_objects(&settings.storage).await?;
        Ok(Self::new(objects, repo, build_queue(settings).await))
    }
}

#[async_trait]
impl FromSettings for SearchFiles {
    async fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let (pool, repo) = repository(settings).await?;
        let index = build_search(&settings.search, pool)?;
        Ok(Self::new(views(settings).await?, repo, index))
    }
}

/// The `s3-indexer` function's indexer: it plans up to `INDEXER_CONCURRENCY` records at once,
/// each with its own queries, so its pool is at least that large (connections open only as
/// needed).
#[async_trait]
impl FromSettings for Indexer {
    async fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        Ok(build_indexer_and_outbox(settings).await?.0)
    }
}

/// The `s3-indexer` function's indexer and the outbox whose entries it deletes once applied, on
/// one pool.
///
/// # Errors
/// A [`ConfigError`] naming the variable that stops start-up (extraction memory included).
pub async fn build_indexer_and_outbox(settings: &Settings) -> Result<(Indexer, Arc<dyn Outbox>), ConfigError> {
    settings.search.check_extraction_memory(settings.search.indexer_concurrency)?;
    let mut database = settings.database.clone();
    database.pool_size = database.pool_size.max(settings.search.indexer_concurrency);
    let pool = build_pool(settings, &database).await?;
    let indexer = build_indexer(settings, pool.clone(), build_objects(&settings.storage).await?)?;
    Ok((indexer, Arc::new(PgOutbox::new(pool))))
}

/// The `reconcile` function's: on AWS the outbox's entries (and its repairs) go to the index
/// queue; the function extracts nothing. Without `INDEXER_QUEUE_URL` and without an indexer
/// (`files-admin reconcile` adds one) entries stay in the outbox for the next poller.
#[async_trait]
impl FromSettings for crate::reconcile::Reconciler {
    async fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let pool = build_pool(settings, &settings.database).await?;
        let (objects, listing, uploads) = crate::storage::build_objects_and_listing(&settings.storage).await?;
        let queue = build_batch_queue(settings).await;
        Ok(Self {
            pool: pool.clone(),
            repo: Arc::new(PgFileRepository::new(pool.clone())),
            objects,
            uploads,
            listing,
            inventory: build_inventory(&settings.search, pool.clone())?,
            outbox: Arc::new(PgOutbox::new(pool)),
            queue,
            indexer: None,
        })
    }
}
