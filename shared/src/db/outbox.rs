//! [`Outbox`] on PostgreSQL (`index_outbox`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::pool::{classify, DbPool};
use super::RepositoryError;
use super::{Outbox, Queued};
use crate::keys::FileKey;

// SKIP LOCKED: concurrent pollers each take other entries; the lease keeps them apart after
// the statement too.
const LEASE: &str = "UPDATE index_outbox SET leased_until = now() + make_interval(secs => $3), \
     attempts = attempts + 1 \
     WHERE id IN (SELECT id FROM index_outbox \
                  WHERE created_at <= now() - make_interval(secs => $2) \
                    AND (leased_until IS NULL OR leased_until < now()) \
                  ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) \
     RETURNING id, file_key";
const RETRY_LATER: &str = "UPDATE index_outbox \
     SET leased_until = now() + make_interval(secs => least(power(2, greatest(attempts - 1, 0)), 300)) \
     WHERE id = ANY($1)";
const COMPLETE: &str = "DELETE FROM index_outbox WHERE id = ANY($1)";
const PENDING: &str = "SELECT count(*) FROM index_outbox";
const ENQUEUE: &str = "INSERT INTO index_outbox (file_key, leased_until, attempts) \
     SELECT k, now() + make_interval(secs => $2), 1 FROM unnest($1::text[]) AS k RETURNING id, file_key";

/// [`Outbox`] on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgOutbox {
    pool: Arc<DbPool>,
}

impl PgOutbox {
    /// The outbox over `pool`.
    pub fn new(pool: Arc<DbPool>) -> Self {
        Self { pool }
    }
}

impl PgOutbox {
    /// Runs `sql`, whose one parameter is the entries' ids; nothing to do for none.
    async fn execute_on(&self, sql: &str, ids: &[i64]) -> Result<(), RepositoryError> {
        if ids.is_empty() {
            return Ok(());
        }
        let client = self.pool.get().await?;
        let statement = client.prepare_cached(sql).await.map_err(classify)?;
        client.execute(&statement, &[&ids]).await.map_err(classify)?;
        Ok(())
    }
}

/// The entry of a row `(id, file_key)`.
pub(super) fn queued_of(row: &tokio_postgres::Row, at: usize) -> Result<Queued, RepositoryError> {
    let raw: String = row.try_get(at + 1).map_err(classify)?;
    let file_key = FileKey::parse(&raw)
        .map_err(|e| RepositoryError::Query(format!("index_outbox.file_key `{raw}`: {}", e.0).into()))?;
    Ok(Queued { id: row.try_get(at).map_err(classify)?, file_key })
}

#[async_trait]
impl Outbox for PgOutbox {
    async fn lease(&self, limit: i64, older_than: Duration, lease: Duration) -> Result<Vec<Queued>, RepositoryError> {
        let client = self.pool.get().await?;
        let statement = client.prepare_cached(LEASE).await.map_err(classify)?;
        let (older, held) = (older_than.as_secs_f64(), lease.as_secs_f64());
        let rows = client.query(&statement, &[&limit, &older, &held]).await.map_err(classify)?;
        let mut entries = rows.iter().map(|row| queued_of(row, 0)).collect::<Result<Vec<_>, _>>()?;
        entries.sort_by_key(|e| e.id);
        Ok(entries)
    }

    async fn retry_later(&self, ids: &[i64]) -> Result<(), RepositoryError> {
        self.execute_on(RETRY_LATER, ids).await
    }

    async fn complete(&self, ids: &[i64]) -> Result<(), RepositoryError> {
        self.execute_on(COMPLETE, ids).await
    }

    async fn enqueue(&self, keys: &[FileKey], lease: Duration) -> Result<Vec<Queued>, RepositoryError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<&str> = keys.iter().map(FileKey::as_str).collect();
        let client = self.pool.get().await?;
        let statement = client.prepare_cached(ENQUEUE).await.map_err(classify)?;
        let rows = client.query(&statement, &[&keys, &lease.as_secs_f64()]).await.map_err(classify)?;
        let mut entries = rows.iter().map(|row| queued_of(row, 0)).collect::<Result<Vec<_>, _>>()?;
        entries.sort_by_key(|e| e.id);
        Ok(entries)
    }

    async fn pending(&self) -> Result<i64, RepositoryError> {
        let client = self.pool.get().await?;
        let statement = client.prepare_cached(PENDING).await.map_err(classify)?;
        client.query_one(&statement, &[]).await.map_err(classify)?.try_get(0).map_err(classify)
    }
}
