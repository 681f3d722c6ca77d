//! What an API function holds for its lifetime: settings, the authenticator and the file
//! service, built once per cold start. Nothing here touches the network.

use std::sync::Arc;

use crate::auth::Authenticator;
use crate::config::{ConfigError, Settings};
use crate::db::{DbPool, PgFileRepository};
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
        let pool = match &settings.database.secret_arn {
            Some(arn) => {
                let sdk = crate::aws::sdk_config(&settings, crate::aws::region_of_arn(arn)).await;
                DbPool::from_secret(&settings.database, aws_sdk_secretsmanager::Client::new(&sdk), arn)
            }
            None => DbPool::from_url(&settings.database)?,
        };
        let repo = Arc::new(PgFileRepository::new(pool));
        let auth = Authenticator::new(&settings.auth)?;
        let files = FileService::new(storage, repo, &settings);
        Ok(Self { settings: Arc::new(settings), auth, files })
    }
}
