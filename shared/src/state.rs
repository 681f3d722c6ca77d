//! What an API function holds for its lifetime: settings, the authenticator and the file
//! service, built once per cold start. Nothing here touches the network.

use std::sync::Arc;

use crate::auth::Authenticator;
use crate::config::{ConfigError, Settings};
use crate::db::{build_pool, PgFileRepository};
use crate::services::FileService;
use crate::storage::build_storage;

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
    /// Builds storage, the (lazy) database pool, and the authenticator from `settings`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the variable that stops start-up.
    pub async fn build(settings: Settings) -> Result<Self, ConfigError> {
        let storage = build_storage(&settings).await?;
        let repo = Arc::new(PgFileRepository::new(build_pool(&settings.database)?));
        let auth = Authenticator::new(&settings.auth)?;
        let files = FileService::new(storage, repo, &settings);
        Ok(Self { settings: Arc::new(settings), auth, files })
    }
}
