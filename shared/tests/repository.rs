//! The PostgreSQL repository against a real database: organization scoping, uniqueness, and
//! the pending → available transition under concurrency.

use std::sync::Arc;

use files_core::config::DatabaseSettings;
use files_core::db::{
    ConfirmOutcome, DbPool, FileRepository, FileStatus, NewStoredFile, PgFileRepository, RepositoryError,
};
use files_testkit::TestDb;
use uuid::Uuid;

fn new_file(org: &str, key: &str) -> NewStoredFile {
    NewStoredFile {
        id: Uuid::new_v4(),
        file_key: key.to_owned(),
        original_filename: "a.txt".into(),
        content_type: "text/plain".into(),
        size: 5,
        checksum_sha256: None,
        status: FileStatus::Pending,
        storage_backend: "local".into(),
        bucket_name: None,
        uploaded_by: "alice".into(),
        organization_id: org.into(),
        owner: Some(files_core::db::OwnerEntity { entity_type: "product".into(), id: "42".into() }),
    }
}

fn repo(db: &TestDb) -> PgFileRepository {
    let settings = DatabaseSettings {
        url: Some(files_core::config::Secret::new(db.url.clone())),
        secret_arn: None,
        pool_size: 4,
        timeout: std::time::Duration::from_secs(2),
    };
    PgFileRepository::new(DbPool::from_url(&settings).unwrap())
}

#[tokio::test]
async fn rows_are_found_only_within_their_organization() {
    let db = TestDb::new().await;
    let repo = repo(&db);
    let row = repo.insert(&new_file("acme", "uploads/a.txt")).await.unwrap();

    assert_eq!(repo.find_by_id("acme", row.id).await.unwrap().as_ref(), Some(&row));
    assert_eq!(repo.find_by_key("acme", "uploads/a.txt").await.unwrap().as_ref(), Some(&row));
    assert_eq!(repo.find_by_id("other", row.id).await.unwrap(), None);
    assert_eq!(repo.find_by_key("other", "uploads/a.txt").await.unwrap(), None);
    assert!(!repo.delete("other", row.id).await.unwrap());
    assert_eq!(row.owner.as_ref().map(|o| o.id.as_str()), Some("42"));
    assert!(repo.delete("acme", row.id).await.unwrap());
    assert_eq!(repo.find_by_id("acme", row.id).await.unwrap(), None);
}

#[tokio::test]
async fn a_key_is_unique_across_organizations() {
    let db = TestDb::new().await;
    let repo = repo(&db);
    repo.insert(&new_file("acme", "uploads/a.txt")).await.unwrap();

    let duplicate = repo.insert(&new_file("other", "uploads/a.txt")).await;

    assert!(matches!(duplicate, Err(RepositoryError::Conflict(_))), "{duplicate:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_concurrent_confirm_moves_the_row() {
    let db = TestDb::new().await;
    let repo = Arc::new(repo(&db));
    let row = repo.insert(&new_file("acme", "uploads/a.txt")).await.unwrap();

    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let repo = repo.clone();
            tokio::spawn(async move { repo.mark_available("acme", row.id, 5, Some("c2hh")).await.unwrap().unwrap() })
        })
        .collect();
    let mut confirmed = 0;
    for task in tasks {
        match task.await.unwrap() {
            ConfirmOutcome::Confirmed(r) => {
                confirmed += 1;
                assert_eq!(r.status, FileStatus::Available);
            }
            ConfirmOutcome::AlreadyAvailable(r) => assert_eq!(r.status, FileStatus::Available),
        }
    }

    assert_eq!(confirmed, 1);
    let stored = repo.find_by_id("acme", row.id).await.unwrap().unwrap();
    assert_eq!(stored.checksum_sha256.as_deref(), Some("c2hh"));
    assert!(stored.confirmed_at.is_some());
    assert_eq!(repo.mark_available("other", row.id, 5, None).await.unwrap(), None);
}

#[tokio::test]
async fn an_unreachable_database_is_reported_as_unavailable() {
    let settings = DatabaseSettings {
        url: Some(files_core::config::Secret::new("postgres://postgres@127.0.0.1:1/nowhere")),
        secret_arn: None,
        pool_size: 1,
        timeout: std::time::Duration::from_secs(1),
    };
    let repo = PgFileRepository::new(DbPool::from_url(&settings).unwrap());

    let result = repo.find_by_id("acme", Uuid::new_v4()).await;

    assert!(matches!(result, Err(RepositoryError::Unavailable(_))), "{result:?}");
}

#[tokio::test]
async fn migrations_are_safe_to_repeat() {
    let db = TestDb::new().await;

    let applied = files_core::db::run_migrations(&db.url).await.unwrap();

    assert!(applied.is_empty());
}

/// The index-version claims the indexer makes: versions that grow, older sequencers refused, no
/// sequencer always accepted, and each key's row (any organization) joined.
#[tokio::test]
async fn index_claims_order_by_sequencer_and_join_rows() {
    let db = TestDb::new().await;
    let repo = repo(&db);
    let row = repo.insert(&new_file("acme", "uploads/a.txt")).await.unwrap();

    let first = repo
        .next_index_versions_and_rows(&[
            ("uploads/a.txt", Some("0A")),
            ("uploads/b.txt", None),
            ("uploads/c.txt", Some("05")),
        ])
        .await
        .unwrap();
    assert_eq!(first.len(), 3);
    let (version, found) = first[0].clone().expect("claimed");
    assert_eq!((version, found.as_ref()), (1, Some(&row)));
    assert_eq!(first[1], Some((1, None)));
    assert_eq!(first[2], Some((1, None)));

    // An older sequencer is refused, a newer one and no sequencer are not.
    let second = repo
        .next_index_versions_and_rows(&[
            ("uploads/a.txt", Some("009")),
            ("uploads/b.txt", Some("01")),
            ("uploads/c.txt", None),
        ])
        .await
        .unwrap();
    assert_eq!(second, vec![None, Some((2, None)), Some((2, None))]);
    // c kept its sequencer 05 through the claim without one; a newer one for a is accepted.
    assert_eq!(repo.next_index_versions_and_rows(&[("uploads/c.txt", Some("04"))]).await.unwrap(), vec![None]);
    assert_eq!(
        repo.next_index_versions_and_rows(&[("uploads/a.txt", Some("0B"))]).await.unwrap(),
        vec![Some((2, Some(row.clone())))]
    );
    assert_eq!(repo.next_index_versions_and_rows(&[]).await.unwrap(), Vec::new());
}
