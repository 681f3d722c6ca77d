//! What an API function holds for its lifetime: settings, the authenticator and the file
//! service, built once per cold start. Nothing here touches the network.

use std::sync::Arc;

use crate::auth::Authenticator;
use crate::config::{ConfigError, DatabaseSettings, Settings};
use crate::db::{DbPool, FileRepository, PgFileRepository};
use crate::indexing::Indexer;
use crate::services::FileService;
use crate::storage::FileStorage;
use crate::storage::{build_signing_storage, build_storage};

/// Shared state of the API functions.
#[derive(Debug)]
pub struct AppState {
    /// The configuration.
    pub settings: Arc<Settings>,
    /// Turns requests into callers.
    pub auth: Authenticator,
    /// The workflows.
    pub files: FileService,
}

impl AppState {
    /// Everything: storage, the (lazy) database pool, the authenticator, and an indexer that
    /// extracts text, so that confirms and proxied uploads update the search index.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the variable that stops start-up.
    pub async fn build(settings: Settings) -> Result<Self, ConfigError> {
        // One request at a time per instance: the configured pool, not the indexer's.
        let (indexer, repo, storage) = parts_with(&settings, &settings.database).await?;
        Self::assemble(settings, storage, repo, Some(indexer))
    }

    /// For the functions that only hand out URLs and read rows (initiate-upload, download-url,
    /// get-file): no search, and storage that signs URLs without an S3 client
    /// ([`build_signing_storage`]).
    ///
    /// Each function's `main` calls the narrowest constructor it can: whatever no constructor
    /// it calls reaches (the Elasticsearch client, the PDF parser) is left out of its binary by
    /// the linker. That is most of the difference in size between the functions.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the variable that stops start-up.
    pub async fn build_without_search(settings: Settings) -> Result<Self, ConfigError> {
        let storage = build_signing_storage(&settings).await?;
        let repo: Arc<dyn FileRepository> = Arc::new(PgFileRepository::new(build_pool(&settings).await?));
        Self::assemble(settings, storage, repo, None)
    }

    /// As [`AppState::build`] with an indexer that never extracts text: for delete-file, which
    /// only removes documents.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the variable that stops start-up.
    pub async fn build_without_extraction(settings: Settings) -> Result<Self, ConfigError> {
        let storage = build_storage(&settings).await?;
        Self::with_query_only_search(settings, storage).await
    }

    /// For search-files, which queries the index and signs download URLs: storage that only
    /// signs ([`build_signing_storage`]) and an indexer that never extracts text.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the variable that stops start-up.
    pub async fn build_for_search(settings: Settings) -> Result<Self, ConfigError> {
        let storage = build_signing_storage(&settings).await?;
        Self::with_query_only_search(settings, storage).await
    }

    async fn with_query_only_search(settings: Settings, storage: Arc<dyn FileStorage>) -> Result<Self, ConfigError> {
        let pool = build_pool(&settings).await?;
        let repo: Arc<dyn FileRepository> = Arc::new(PgFileRepository::new(pool.clone()));
        let search = crate::search::build_search(&settings.search, pool)?;
        let indexer = Indexer::metadata_only(repo.clone(), storage.clone(), search, &settings.search);
        Self::assemble(settings, storage, repo, Some(indexer))
    }

    fn assemble(
        settings: Settings,
        storage: Arc<dyn FileStorage>,
        repo: Arc<dyn FileRepository>,
        indexer: Option<Indexer>,
    ) -> Result<Self, ConfigError> {
        let auth = Authenticator::new(&settings.auth)?;
        let files = FileService::new(storage, repo, indexer, &settings);
        Ok(Self { settings: Arc::new(settings), auth, files })
    }
}

/// The database pool of `settings`: `DB_SECRET_ARN` when set, else `DATABASE_URL`.
///
/// # Errors
/// A [`ConfigError`] when neither is usable.
pub async fn build_pool(settings: &Settings) -> Result<Arc<DbPool>, ConfigError> {
    pool_of(settings, &settings.database).await
}

async fn pool_of(settings: &Settings, database: &DatabaseSettings) -> Result<Arc<DbPool>, ConfigError> {
    match &database.secret_arn {
        Some(arn) => {
            let sdk = crate::aws::sdk_config(settings, crate::aws::region_of_arn(arn)).await;
            Ok(DbPool::from_secret(database, aws_sdk_secretsmanager::Client::new(&sdk), arn))
        }
        None => DbPool::from_url(database),
    }
}

/// The indexer of `settings` (for the `s3-indexer` function and tools), with the repository and
/// storage it works over.
///
/// # Errors
/// A [`ConfigError`] naming the variable that stops start-up.
pub async fn build_parts(
    settings: &Settings,
) -> Result<(Indexer, Arc<dyn FileRepository>, Arc<dyn FileStorage>), ConfigError> {
    // The indexer plans up to `INDEXER_CONCURRENCY` records at once, each with its own queries:
    // a smaller pool would queue them. Connections open only as they are needed.
    let mut database = settings.database.clone();
    database.pool_size = database.pool_size.max(settings.search.indexer_concurrency);
    parts_with(settings, &database).await
}

/// The indexer, repository and storage of `settings`, over a pool of `database`.
async fn parts_with(
    settings: &Settings,
    database: &DatabaseSettings,
) -> Result<(Indexer, Arc<dyn FileRepository>, Arc<dyn FileStorage>), ConfigError> {
    let storage = build_storage(settings).await?;
    let pool = pool_of(settings, database).await?;
    let repo: Arc<dyn FileRepository> = Arc::new(PgFileRepository::new(pool.clone()));
    let search = crate::search::build_search(&settings.search, pool)?;
    Ok((Indexer::new(repo.clone(), storage.clone(), search, &settings.search), repo, storage))
}
