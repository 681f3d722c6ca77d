//! The connection pool and where its credentials come from: a `DATABASE_URL`, or a Secrets
//! Manager secret in the RDS JSON format (`DB_SECRET_ARN`), read on first use, cached for the
//! instance's life, and read again when the database rejects the password (rotation), after
//! which the pool is rebuilt once.

use std::sync::Arc;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime};
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};
use tokio_postgres::error::SqlState;

use super::tls::{self, Tls};
use super::RepositoryError;
use crate::config::{ConfigError, DatabaseSettings, DatabaseSource, S3Settings};

/// The RDS secret JSON (`username`, `password`, `host`, `port`, `dbname`).
#[derive(Deserialize)]
struct RdsSecret {
    username: String,
    password: String,
    host: String,
    #[serde(default)]
    port: Option<serde_json::Value>,
    #[serde(default)]
    dbname: Option<String>,
}

enum Source {
    Url(Box<tokio_postgres::Config>),
    SecretsManager { client: aws_sdk_secretsmanager::Client, arn: String },
}

/// A lazily built pool; nothing connects before the first query, so a cold start never waits
/// on the database or on Secrets Manager.
pub struct DbPool {
    settings: DatabaseSettings,
    source: Source,
    tls: Tls,
    current: RwLock<Option<Pool>>,
    rebuild: Mutex<()>,
}

impl std::fmt::Debug for DbPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.source {
            Source::Url(_) => "DATABASE_URL",
            Source::SecretsManager { .. } => "DB_SECRET_ARN",
        };
        f.debug_struct("DbPool").field("source", &source).field("tls", &self.tls).finish_non_exhaustive()
    }
}

fn unavailable(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> RepositoryError {
    RepositoryError::Unavailable(e.into())
}

fn is_rejected_password(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| *c == SqlState::INVALID_PASSWORD || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION)
}

impl DbPool {
    /// The pool `settings` describe: over `DATABASE_URL`, or with credentials from the Secrets
    /// Manager secret (whose client takes `s3`'s explicit AWS credentials, when the backend has
    /// them). Connects to nothing.
    ///
    /// # Errors
    /// A [`ConfigError`] naming `DATABASE_URL` when neither source is set or the URL is not a
    /// PostgreSQL connection string.
    pub async fn new(settings: &DatabaseSettings, s3: Option<&S3Settings>) -> Result<Arc<Self>, ConfigError> {
        let (source, tls) = match &settings.source {
            DatabaseSource::Url(url) => {
                let (config, tls) = tls::parse(url.expose(), &settings.tls)?;
                (Source::Url(Box::new(config)), tls)
            }
            DatabaseSource::SecretsManager { arn } => {
                let sdk = crate::aws::sdk_config(s3, crate::aws::region_of_arn(arn)).await;
                let client = aws_sdk_secretsmanager::Client::new(&sdk);
                (Source::SecretsManager { client, arn: arn.clone() }, tls::from_settings(&settings.tls))
            }
            DatabaseSource::Unset => return Err(ConfigError::new("DATABASE_URL", "is required")),
        };
        Ok(Self::with_source(settings, source, tls))
    }

    /// A pool whose credentials come from the Secrets Manager secret `arn`, read with `client`.
    pub fn from_secret(settings: &DatabaseSettings, client: aws_sdk_secretsmanager::Client, arn: &str) -> Arc<Self> {
        let tls = tls::from_settings(&settings.tls);
        Self::with_source(settings, Source::SecretsManager { client, arn: arn.to_owned() }, tls)
    }

    fn with_source(settings: &DatabaseSettings, source: Source, tls: Tls) -> Arc<Self> {
        let current = RwLock::new(None);
        Arc::new(Self { settings: settings.clone(), source, tls, current, rebuild: Mutex::new(()) })
    }

    /// The TLS connections are made with.
    #[must_use]
    pub fn tls(&self) -> &Tls {
        &self.tls
    }

    async fn config(&self) -> Result<tokio_postgres::Config, RepositoryError> {
        let mut config = match &self.source {
            Source::Url(config) => config.as_ref().clone(),
            Source::SecretsManager { client, arn } => {
                let output = client.get_secret_value().secret_id(arn).send().await.map_err(unavailable)?;
                let raw =
                    output.secret_string().ok_or_else(|| unavailable("the database secret has no string value"))?;
                let secret: RdsSecret = serde_json::from_str(raw)
                    .map_err(|_| unavailable("the database secret is not RDS JSON (username, password, host, ...)"))?;
                let port = match secret.port {
                    Some(serde_json::Value::Number(n)) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
                    Some(serde_json::Value::String(s)) => s.parse().ok(),
                    _ => Some(5432),
                }
                .ok_or_else(|| unavailable("the database secret's port is not a port number"))?;
                let mut config = tokio_postgres::Config::new();
                config
                    .host(&secret.host)
                    .port(port)
                    .user(&secret.username)
                    .password(secret.password)
                    .dbname(secret.dbname.as_deref().unwrap_or("postgres"));
                tls::apply(&mut config, &self.tls);
                config
            }
        };
        config.connect_timeout(self.settings.timeout);
        if config.get_application_name().is_none() {
            config.application_name("files-service");
        }
        Ok(config)
    }

    fn build(&self, config: tokio_postgres::Config) -> Result<Pool, RepositoryError> {
        let connector = self.tls.connector().map_err(unavailable)?;
        let manager =
            Manager::from_config(config, connector, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        Pool::builder(manager)
            .max_size(self.settings.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(self.settings.timeout))
            .create_timeout(Some(self.settings.timeout))
            .recycle_timeout(Some(self.settings.timeout))
            .build()
            .map_err(|e| RepositoryError::Query(Box::new(e)))
    }

    /// The pool, built on first use; when `stale` is given and is still the current pool, a
    /// fresh one with re-read credentials replaces it.
    async fn pool(&self, stale: Option<&Pool>) -> Result<Pool, RepositoryError> {
        if stale.is_none() {
            if let Some(pool) = self.current.read().await.as_ref() {
                return Ok(pool.clone());
            }
        }
        let _rebuilding = self.rebuild.lock().await;
        {
            let current = self.current.read().await;
            match (current.as_ref(), stale) {
                (Some(pool), None) => return Ok(pool.clone()),
                // Someone else already replaced the stale pool.
                (Some(pool), Some(stale)) if !same_pool(pool, stale) => return Ok(pool.clone()),
                _ => {}
            }
        }
        let pool = self.build(self.config().await?)?;
        if let Some(old) = self.current.write().await.replace(pool.clone()) {
            old.close();
        }
        Ok(pool)
    }

    /// A connection. When a secret's password is rejected, the secret is read again and the
    /// pool rebuilt, once.
    ///
    /// # Errors
    /// `Unavailable` when the database or Secrets Manager cannot be reached or the credentials
    /// are refused; `Query` for a pool that cannot be built.
    pub async fn get(&self) -> Result<Object, RepositoryError> {
        let pool = self.pool(None).await?;
        match pool.get().await {
            Ok(client) => Ok(client),
            Err(PoolError::Backend(e))
                if is_rejected_password(&e) && matches!(self.source, Source::SecretsManager { .. }) =>
            {
                tracing::warn!("the database refused the secret's password; reading the secret again");
                let fresh = self.pool(Some(&pool)).await?;
                fresh.get().await.map_err(|e| self.map_pool_error(e))
            }
            Err(e) => Err(self.map_pool_error(e)),
        }
    }
}

/// Whether two handles share one pool (a handle is a reference to shared state).
fn same_pool(a: &Pool, b: &Pool) -> bool {
    std::ptr::eq(a.manager(), b.manager())
}

impl DbPool {
    /// A pool failure as a repository error; a failed TLS handshake says which TLS was asked for.
    fn map_pool_error(&self, e: PoolError) -> RepositoryError {
        match e {
            PoolError::Backend(e) => match self.tls.failure(&e) {
                Some(failure) => {
                    tracing::error!(error = %failure, "the database connection failed in its TLS handshake");
                    RepositoryError::Unavailable(Box::new(failure))
                }
                None => classify(e),
            },
            other => RepositoryError::Unavailable(Box::new(other)),
        }
    }
}

/// A database error as a repository error: no SQLSTATE, or a connection, shutdown, resource or
/// credential state, is `Unavailable`; a uniqueness or serialization failure `Conflict`; the
/// rest `Query`.
pub(super) fn classify(e: tokio_postgres::Error) -> RepositoryError {
    let Some(code) = e.code() else {
        // No SQLSTATE: the connection itself failed (refused, reset, closed, timed out).
        return RepositoryError::Unavailable(Box::new(e));
    };
    if *code == SqlState::UNIQUE_VIOLATION || *code == SqlState::T_R_SERIALIZATION_FAILURE {
        RepositoryError::Conflict(Box::new(e))
    } else if ["08", "57P", "53", "28"].iter().any(|class| code.code().starts_with(class)) {
        // Connection exceptions, shutdown, resource exhaustion, rejected credentials.
        RepositoryError::Unavailable(Box::new(e))
    } else {
        RepositoryError::Query(Box::new(e))
    }
}

/// A PostgreSQL advisory lock held by this process, on a connection of its own taken out of
/// the pool: dropped (or the process gone), the connection closes and the lock is released.
/// Two runs of a job that must not overlap (the reconciler) take it first.
pub struct RunLock {
    _client: deadpool_postgres::ClientWrapper,
}

impl std::fmt::Debug for RunLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunLock")
    }
}

impl DbPool {
    /// Takes the advisory lock `key` unless another session holds it (`None` then).
    ///
    /// # Errors
    /// `Unavailable` when the database cannot be reached.
    pub async fn try_lock(&self, key: i64) -> Result<Option<RunLock>, RepositoryError> {
        let client = deadpool_postgres::Object::take(self.get().await?);
        let row = client.query_one("SELECT pg_try_advisory_lock($1)", &[&key]).await.map_err(classify)?;
        let held: bool = row.try_get(0).map_err(classify)?;
        Ok(held.then_some(RunLock { _client: client }))
    }
}
