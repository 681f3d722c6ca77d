//! [`IndexVersions`] on PostgreSQL (`index_state`).

use std::sync::Arc;

use async_trait::async_trait;

use super::files::{columns, record_of_at};
use super::pool::{classify, DbPool};
use super::{ClaimedVersion, IndexVersions, RepositoryError, VersionClaim};

// '' stands for "no sequencer" (confirm, delete, reindex): always a new version, and the stored
// sequencer kept. The column's own default is '' too. Sequencers are hex strings of varying
// length, compared as S3 documents: the shorter right-padded with zeros, then lexicographically
// (upper-cased, as hex digits of either case are the same digit; the indexer refuses anything
// but at most 64 hex digits). The file's columns come last, from the fourth on.
const CLAIM: &str = concat!(
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
            OR rpad(upper(s.sequencer), 64, '0') <= rpad(upper(EXCLUDED.sequencer), 64, '0') \
         RETURNING s.file_key, s.version) \
     SELECT input.ord, v.version, f.id IS NOT NULL AS found, ",
    columns!(f),
    " FROM input JOIN v ON v.file_key = input.file_key \
     LEFT JOIN stored_files f ON f.file_key = input.file_key"
);
const FILE_COLUMNS_AT: usize = 3;

/// [`IndexVersions`] on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgIndexVersions {
    pool: Arc<DbPool>,
}

impl PgIndexVersions {
    /// The version claims over `pool`.
    pub fn new(pool: Arc<DbPool>) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl IndexVersions for PgIndexVersions {
    #[tracing::instrument(skip_all, fields(claims = claims.len()))]
    async fn claim(&self, claims: &[VersionClaim<'_>]) -> Result<Vec<Option<ClaimedVersion>>, RepositoryError> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<&str> = claims.iter().map(|c| c.key.as_str()).collect();
        let sequencers: Vec<&str> = claims.iter().map(|c| c.sequencer.unwrap_or("")).collect();
        let client = self.pool.get().await?;
        let statement = client.prepare_cached(CLAIM).await.map_err(classify)?;
        let rows = client.query(&statement, &[&keys, &sequencers]).await.map_err(classify)?;
        let mut found: Vec<Option<ClaimedVersion>> = vec![None; claims.len()];
        for row in &rows {
            let ord: i64 = row.get("ord");
            let file = if row.get::<_, bool>("found") { Some(record_of_at(row, FILE_COLUMNS_AT)?) } else { None };
            if let Some(slot) = usize::try_from(ord - 1).ok().and_then(|i| found.get_mut(i)) {
                *slot = Some((row.get("version"), file));
            }
        }
        Ok(found)
    }
}
