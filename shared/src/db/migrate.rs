//! The embedded migrations, and creating the database they go into.

use super::tls;
use crate::config::DatabaseTls;

mod embedded {
    refinery::embed_migrations!("migrations");
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A connection to `config` over `tls`; a failed handshake says which TLS was asked for.
async fn connect(
    config: &tokio_postgres::Config,
    tls: &tls::Tls,
) -> Result<
    (tokio_postgres::Client, tokio_postgres::Connection<tokio_postgres::Socket, impl tokio_postgres::tls::TlsStream>),
    BoxError,
> {
    config.connect(tls.connector()?).await.map_err(|e| match tls.failure(&e) {
        Some(failure) => failure.into(),
        None => e.into(),
    })
}

/// Applies the embedded migrations to the database at `database_url` (over the TLS it and
/// `tls` ask for); safe to repeat. Returns the names of the migrations applied by this call.
///
/// # Errors
/// Connection or migration failures, with their cause.
pub async fn run_migrations(database_url: &str, tls: &DatabaseTls) -> Result<Vec<String>, BoxError> {
    migrate(database_url, tls, refinery::Target::Latest).await
}

/// As [`run_migrations`], up to migration `version` only: how a test gives a database an older
/// schema, and rows in it, before checking that the later migrations bring them over.
///
/// # Errors
/// As [`run_migrations`].
#[doc(hidden)]
pub async fn run_migrations_to(database_url: &str, tls: &DatabaseTls, version: i32) -> Result<Vec<String>, BoxError> {
    migrate(database_url, tls, refinery::Target::Version(version)).await
}

async fn migrate(database_url: &str, tls: &DatabaseTls, target: refinery::Target) -> Result<Vec<String>, BoxError> {
    let (config, tls) = tls::parse(database_url, tls)?;
    let (mut client, connection) = connect(&config, &tls).await?;
    let driver = tokio::spawn(connection);
    let report = embedded::migrations::runner().set_target(target).run_async(&mut client).await;
    drop(client);
    // The connection task ends once the client is dropped; its own error is irrelevant now.
    let _ = driver.await;
    Ok(report?.applied_migrations().iter().map(|m| format!("V{}__{}", m.version(), m.name())).collect())
}

/// Creates the database named in `database_url` when it does not exist, connecting to the
/// server's `postgres` database to do so. Safe to repeat.
///
/// # Errors
/// Connection failures, or a database name that is not a plain identifier.
pub async fn create_database_if_missing(database_url: &str, tls: &DatabaseTls) -> Result<bool, BoxError> {
    let (target, tls) = tls::parse(database_url, tls)?;
    let name = target.get_dbname().unwrap_or("postgres").to_owned();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!("database name `{name}` must be letters, digits and underscores").into());
    }
    let mut admin = target.clone();
    admin.dbname("postgres");
    let (client, connection) = connect(&admin, &tls).await?;
    let driver = tokio::spawn(connection);
    let exists = client.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name]).await?.is_some();
    if !exists {
        // Identifiers cannot be bound as parameters; the name was checked above.
        client.batch_execute(&format!("CREATE DATABASE \"{name}\"")).await?;
    }
    drop(client);
    let _ = driver.await;
    Ok(!exists)
}
