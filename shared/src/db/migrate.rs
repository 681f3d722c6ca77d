//! The embedded migrations, and creating the database they go into.

use std::str::FromStr;

use tokio_postgres::NoTls;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// Applies the embedded migrations to the database at `database_url`; safe to repeat.
/// Returns the names of the migrations applied by this call.
///
/// # Errors
/// Connection or migration failures, with their cause.
pub async fn run_migrations(database_url: &str) -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>> {
    let (mut client, connection) = tokio_postgres::connect(database_url, NoTls).await?;
    let driver = tokio::spawn(connection);
    let report = embedded::migrations::runner().run_async(&mut client).await;
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
pub async fn create_database_if_missing(database_url: &str) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    let target = tokio_postgres::Config::from_str(database_url)?;
    let name = target.get_dbname().unwrap_or("postgres").to_owned();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!("database name `{name}` must be letters, digits and underscores").into());
    }
    let mut admin = target.clone();
    admin.dbname("postgres");
    let (client, connection) = admin.connect(NoTls).await?;
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
