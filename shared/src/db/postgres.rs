//! The PostgreSQL adapter of [`FileRepository`], the connection pool, and the embedded
//! migrations.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use tokio_postgres::error::SqlState;
use tokio_postgres::{NoTls, Row};
use uuid::Uuid;

use super::pool::DbPool;
use super::{ConfirmOutcome, FileRepository, NewStoredFile, OwnerEntity, RepositoryError, StoredFile};

mod embedded {
    refinery::embed_migrations!("migrations");
}

const COLUMNS: &str = "id, file_key, original_filename, content_type, size, checksum_sha256, status, \
     storage_backend, bucket_name, uploaded_by, organization_id, owner_entity_type, owner_entity_id, \
     created_at, updated_at, confirmed_at";

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

/// [`FileRepository`] on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgFileRepository {
    pool: Arc<DbPool>,
}

impl PgFileRepository {
    /// A repository over `pool`.
    pub fn new(pool: Arc<DbPool>) -> Self {
        Self { pool }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, RepositoryError> {
        self.pool.get().await
    }
}

pub(super) fn classify(e: tokio_postgres::Error) -> RepositoryError {
    let Some(code) = e.code() else {
        // No SQLSTATE: the connection itself failed (refused, reset, closed, timed out).
        return RepositoryError::Unavailable(Box::new(e));
    };
    if *code == SqlState::UNIQUE_VIOLATION || *code == SqlState::T_R_SERIALIZATION_FAILURE {
        RepositoryError::Conflict(Box::new(e))
    } else if code.code().starts_with("08")
        || code.code().starts_with("57P")
        || code.code().starts_with("53")
        || code.code().starts_with("28")
    {
        // Connection exceptions, shutdown, resource exhaustion, rejected credentials.
        RepositoryError::Unavailable(Box::new(e))
    } else {
        RepositoryError::Query(Box::new(e))
    }
}

fn from_row(row: &Row) -> StoredFile {
    let owner =
        match (row.get::<_, Option<String>>("owner_entity_type"), row.get::<_, Option<String>>("owner_entity_id")) {
            (Some(entity_type), Some(id)) => Some(OwnerEntity { entity_type, id }),
            _ => None,
        };
    StoredFile {
        id: row.get("id"),
        file_key: row.get("file_key"),
        original_filename: row.get("original_filename"),
        content_type: row.get("content_type"),
        size: row.get("size"),
        checksum_sha256: row.get("checksum_sha256"),
        status: StoredFile::status_from(row.get("status")),
        storage_backend: row.get("storage_backend"),
        bucket_name: row.get("bucket_name"),
        uploaded_by: row.get("uploaded_by"),
        organization_id: row.get("organization_id"),
        owner,
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
        confirmed_at: row.get("confirmed_at"),
    }
}

#[async_trait]
impl FileRepository for PgFileRepository {
    #[tracing::instrument(skip(self, file), fields(file_id = %file.id))]
    async fn insert(&self, file: &NewStoredFile) -> Result<StoredFile, RepositoryError> {
        let client = self.client().await?;
        let sql = format!(
            "INSERT INTO stored_files (id, file_key, original_filename, content_type, size, checksum_sha256, \
             status, storage_backend, bucket_name, uploaded_by, organization_id, owner_entity_type, owner_entity_id, \
             confirmed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
             CASE WHEN $7 = 'available' THEN now() END) RETURNING {COLUMNS}"
        );
        let row = client
            .query_one(
                &sql,
                &[
                    &file.id,
                    &file.file_key,
                    &file.original_filename,
                    &file.content_type,
                    &file.size,
                    &file.checksum_sha256,
                    &file.status.as_str(),
                    &file.storage_backend,
                    &file.bucket_name,
                    &file.uploaded_by,
                    &file.organization_id,
                    &file.owner.as_ref().map(|o| o.entity_type.as_str()),
                    &file.owner.as_ref().map(|o| o.id.as_str()),
                ],
            )
            .await
            .map_err(classify)?;
        Ok(from_row(&row))
    }

    #[tracing::instrument(skip(self))]
    async fn find_by_id(&self, org_id: &str, id: Uuid) -> Result<Option<StoredFile>, RepositoryError> {
        let client = self.client().await?;
        let sql = format!("SELECT {COLUMNS} FROM stored_files WHERE id = $1 AND organization_id = $2");
        let row = client.query_opt(&sql, &[&id, &org_id]).await.map_err(classify)?;
        Ok(row.as_ref().map(from_row))
    }

    #[tracing::instrument(skip(self))]
    async fn find_by_key(&self, org_id: &str, file_key: &str) -> Result<Option<StoredFile>, RepositoryError> {
        let client = self.client().await?;
        let sql = format!("SELECT {COLUMNS} FROM stored_files WHERE file_key = $1 AND organization_id = $2");
        let row = client.query_opt(&sql, &[&file_key, &org_id]).await.map_err(classify)?;
        Ok(row.as_ref().map(from_row))
    }

    #[tracing::instrument(skip(self, checksum_sha256))]
    async fn mark_available(
        &self,
        org_id: &str,
        id: Uuid,
        size: i64,
        checksum_sha256: Option<&str>,
    ) -> Result<Option<ConfirmOutcome>, RepositoryError> {
        let client = self.client().await?;
        // The row lock taken by UPDATE serialises concurrent confirms: one moves the row, the
        // others find it no longer pending and read it back.
        let update = format!(
            "UPDATE stored_files SET status = 'available', size = $3, \
             checksum_sha256 = COALESCE($4, checksum_sha256), confirmed_at = now(), updated_at = now() \
             WHERE id = $1 AND organization_id = $2 AND status = 'pending' RETURNING {COLUMNS}"
        );
        if let Some(row) =
            client.query_opt(&update, &[&id, &org_id, &size, &checksum_sha256]).await.map_err(classify)?
        {
            return Ok(Some(ConfirmOutcome::Confirmed(from_row(&row))));
        }
        let select = format!("SELECT {COLUMNS} FROM stored_files WHERE id = $1 AND organization_id = $2");
        let row = client.query_opt(&select, &[&id, &org_id]).await.map_err(classify)?;
        Ok(row.as_ref().map(|r| ConfirmOutcome::AlreadyAvailable(from_row(r))))
    }

    #[tracing::instrument(skip(self))]
    async fn delete(&self, org_id: &str, id: Uuid) -> Result<bool, RepositoryError> {
        let client = self.client().await?;
        let n = client
            .execute("DELETE FROM stored_files WHERE id = $1 AND organization_id = $2", &[&id, &org_id])
            .await
            .map_err(classify)?;
        Ok(n > 0)
    }

    #[tracing::instrument(skip(self, ids), fields(count = ids.len()))]
    async fn find_many(&self, org_id: &str, ids: &[Uuid]) -> Result<Vec<StoredFile>, RepositoryError> {
        let client = self.client().await?;
        let sql = format!("SELECT {COLUMNS} FROM stored_files WHERE id = ANY($1) AND organization_id = $2");
        let rows = client.query(&sql, &[&ids, &org_id]).await.map_err(classify)?;
        Ok(rows.iter().map(from_row).collect())
    }

    #[tracing::instrument(skip(self))]
    async fn list_available(&self, after: Option<Uuid>, limit: i64) -> Result<Vec<StoredFile>, RepositoryError> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM stored_files WHERE status = 'available' AND ($1::uuid IS NULL OR id > $1) \
             ORDER BY id LIMIT $2"
        );
        let rows = client.query(&sql, &[&after, &limit]).await.map_err(classify)?;
        Ok(rows.iter().map(from_row).collect())
    }

    async fn count_available(&self) -> Result<i64, RepositoryError> {
        let client = self.client().await?;
        let row = client
            .query_one("SELECT count(*) FROM stored_files WHERE status = 'available'", &[])
            .await
            .map_err(classify)?;
        Ok(row.get(0))
    }

    #[tracing::instrument(skip_all, fields(claims = claims.len()))]
    async fn next_index_versions_and_rows(
        &self,
        claims: &[(&str, Option<&str>)],
    ) -> Result<Vec<Option<(i64, Option<StoredFile>)>>, RepositoryError> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<&str> = claims.iter().map(|(key, _)| *key).collect();
        // '' stands for "no sequencer" (confirm, delete, reindex): always a new version, and the
        // stored sequencer kept. The column's own default is '' too. Sequencers are hex strings
        // of varying length: compared left-padded.
        let sequencers: Vec<&str> = claims.iter().map(|(_, sequencer)| sequencer.unwrap_or("")).collect();
        let columns: Vec<String> = COLUMNS.split(',').map(|c| format!("f.{}", c.trim())).collect();
        let sql = format!(
            "WITH input AS ( \
                 SELECT t.file_key, t.sequencer, t.ord \
                 FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(file_key, sequencer, ord)), \
             v AS ( \
                 INSERT INTO index_state AS s (file_key, sequencer, version) \
                 SELECT file_key, sequencer, 1 FROM input \
                 ON CONFLICT (file_key) DO UPDATE SET \
                   sequencer = CASE WHEN EXCLUDED.sequencer = '' THEN s.sequencer ELSE EXCLUDED.sequencer END, \
                   version = s.version + 1, updated_at = now() \
                 WHERE EXCLUDED.sequencer = '' \
                    OR lpad(upper(s.sequencer), 64, '0') <= lpad(upper(EXCLUDED.sequencer), 64, '0') \
                 RETURNING s.file_key, s.version) \
             SELECT input.ord, v.version, f.id IS NOT NULL AS found, {} \
             FROM input JOIN v ON v.file_key = input.file_key \
             LEFT JOIN stored_files f ON f.file_key = input.file_key",
            columns.join(", ")
        );
        let client = self.client().await?;
        let rows = client.query(&sql, &[&keys, &sequencers]).await.map_err(classify)?;
        let mut found: Vec<Option<(i64, Option<StoredFile>)>> = vec![None; claims.len()];
        for row in &rows {
            let ord: i64 = row.get("ord");
            let slot = usize::try_from(ord - 1).ok().and_then(|i| found.get_mut(i));
            if let Some(slot) = slot {
                *slot = Some((row.get("version"), row.get::<_, bool>("found").then(|| from_row(row))));
            }
        }
        Ok(found)
    }
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
