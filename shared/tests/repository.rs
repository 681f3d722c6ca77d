//! The PostgreSQL repository against a real database: organization scoping, uniqueness, and
//! the pending → available transition under concurrency.

use std::sync::Arc;

use files_core::config::StorageBackendKind;
use files_core::db::{
    ConfirmOutcome, FileRepository, IndexVersions, PgFileRepository, PgIndexVersions, PgOutbox, RepositoryError,
    Verified, VersionClaim,
};
use files_core::file::{FileRecord, FileStatus, NewFile, OwnerEntity, StorageLocation};
use files_core::keys::{Checksum, ContentType, FileKey, OriginalFilename};
use files_core::outbox::Outbox;
use files_testkit::{caller, pool, TestDb};
use uuid::Uuid;

fn key(raw: &str) -> FileKey {
    FileKey::parse(raw).unwrap()
}

fn new_file(org: &str, raw_key: &str) -> FileRecord {
    let file = NewFile {
        key: key(raw_key),
        filename: OriginalFilename::parse("a.txt").unwrap(),
        content_type: ContentType::parse("text/plain").unwrap(),
        size: 5,
        checksum: None,
        owner: Some(OwnerEntity { entity_type: "product".into(), id: "42".into() }),
    };
    let location = StorageLocation { backend: StorageBackendKind::Local, bucket: None };
    FileRecord::new(&caller("alice", org, &[]), &location, file, FileStatus::Pending)
}

async fn repo(db: &TestDb) -> PgFileRepository {
    PgFileRepository::new(pool(&db.url, 4, 2).await)
}

/// Inserts `file` and returns it as stored.
async fn inserted(repo: &PgFileRepository, file: FileRecord) -> FileRecord {
    repo.insert(&file).await.unwrap();
    file
}

#[tokio::test]
async fn rows_are_found_only_within_their_organization() {
    let db = TestDb::new().await;
    let repo = repo(&db).await;
    let row = inserted(&repo, new_file("acme", "uploads/a.txt")).await;

    assert_eq!(repo.find_by_id("acme", row.id).await.unwrap().as_ref(), Some(&row));
    assert_eq!(repo.find_by_key("acme", &key("uploads/a.txt")).await.unwrap().as_ref(), Some(&row));
    assert_eq!(repo.find_by_id("other", row.id).await.unwrap(), None);
    assert_eq!(repo.find_by_key("other", &key("uploads/a.txt")).await.unwrap(), None);
    assert_eq!(repo.delete("other", row.id).await.unwrap(), None);
    assert_eq!(row.owner.as_ref().map(|o| o.id.as_str()), Some("42"));
    let queued = repo.delete("acme", row.id).await.unwrap().expect("deleted, with its outbox entry");
    assert_eq!(queued.file_key, row.file_key);
    assert_eq!(repo.delete("acme", row.id).await.unwrap(), None);
    assert_eq!(repo.find_by_id("acme", row.id).await.unwrap(), None);
}

#[tokio::test]
async fn a_key_is_unique_across_organizations() {
    let db = TestDb::new().await;
    let repo = repo(&db).await;
    repo.insert(&new_file("acme", "uploads/a.txt")).await.unwrap();

    let duplicate = repo.insert(&new_file("other", "uploads/a.txt")).await;

    assert!(matches!(duplicate, Err(RepositoryError::Conflict(_))), "{duplicate:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_concurrent_confirm_moves_the_row() {
    let db = TestDb::new().await;
    let repo = Arc::new(repo(&db).await);
    let row = inserted(&repo, new_file("acme", "uploads/a.txt")).await;

    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let repo = repo.clone();
            tokio::spawn(async move {
                repo.mark_available(
                    "acme",
                    row.id,
                    &Verified { size: 5, checksum: Some(Checksum::from_digest([7; 32])), version: None },
                )
                .await
                .unwrap()
                .unwrap()
            })
        })
        .collect();
    let mut confirmed = 0;
    for task in tasks {
        match task.await.unwrap() {
            ConfirmOutcome::Confirmed { file, queued } => {
                confirmed += 1;
                assert_eq!(file.status, FileStatus::Available);
                assert_eq!(queued.file_key, file.file_key);
            }
            ConfirmOutcome::AlreadyAvailable(r) => assert_eq!(r.status, FileStatus::Available),
        }
    }

    assert_eq!(confirmed, 1);
    // One outbox entry, written with the one confirm that moved the row.
    let outbox = PgOutbox::new(pool(&db.url, 2, 2).await);
    assert_eq!(outbox.pending().await.unwrap(), 1);
    let stored = repo.find_by_id("acme", row.id).await.unwrap().unwrap();
    assert_eq!(stored.checksum_sha256, Some(Checksum::from_digest([7; 32])));
    assert!(stored.confirmed_at.is_some());
    assert_eq!(
        repo.mark_available("other", row.id, &Verified { size: 5, checksum: None, version: None }).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn an_unreachable_database_is_reported_as_unavailable() {
    let repo = PgFileRepository::new(pool("postgres://postgres@127.0.0.1:1/nowhere", 1, 1).await);

    let result = repo.find_by_id("acme", Uuid::new_v4()).await;

    assert!(matches!(result, Err(RepositoryError::Unavailable(_))), "{result:?}");
}

#[tokio::test]
async fn migrations_are_safe_to_repeat() {
    let db = TestDb::new().await;

    let applied = files_core::db::run_migrations(&db.url, &Default::default()).await.unwrap();

    assert!(applied.is_empty());
}

/// The index-version claims the indexer makes: versions that grow, older sequencers refused, no
/// sequencer always accepted, and each key's row (any organization) joined.
#[tokio::test]
async fn index_claims_order_by_sequencer_and_join_rows() {
    let db = TestDb::new().await;
    let repo = repo(&db).await;
    let row = inserted(&repo, new_file("acme", "uploads/a.txt")).await;
    let versions = PgIndexVersions::new(pool(&db.url, 2, 2).await);
    let (a, b, c) = (key("uploads/a.txt"), key("uploads/b.txt"), key("uploads/c.txt"));
    let claim = |key, sequencer| VersionClaim { key, sequencer };

    let first = versions.claim(&[claim(&a, Some("0A")), claim(&b, None), claim(&c, Some("05"))]).await.unwrap();
    assert_eq!(first.len(), 3);
    let (version, found) = first[0].clone().expect("claimed");
    assert_eq!((version, found.as_ref()), (1, Some(&row)));
    assert_eq!(first[1], Some((1, None)));
    assert_eq!(first[2], Some((1, None)));

    // An older sequencer is refused, a newer one and no sequencer are not.
    let second = versions.claim(&[claim(&a, Some("009")), claim(&b, Some("01")), claim(&c, None)]).await.unwrap();
    assert_eq!(second, vec![None, Some((2, None)), Some((2, None))]);
    // c kept its sequencer 05 through the claim without one; a newer one for a is accepted.
    assert_eq!(versions.claim(&[claim(&c, Some("04"))]).await.unwrap(), vec![None]);
    assert_eq!(versions.claim(&[claim(&a, Some("0B"))]).await.unwrap(), vec![Some((2, Some(row.clone())))]);
    assert_eq!(versions.claim(&[]).await.unwrap(), Vec::new());

    // Sequencers of different lengths compare right-padded, as S3 documents: `1` is `10`, newer
    // than `0F`; `0F` is older than `0F1`.
    let d = key("uploads/d.txt");
    assert_eq!(versions.claim(&[claim(&d, Some("0F"))]).await.unwrap(), vec![Some((1, None))]);
    assert_eq!(versions.claim(&[claim(&d, Some("1"))]).await.unwrap(), vec![Some((2, None))]);
    assert_eq!(versions.claim(&[claim(&d, Some("0f1"))]).await.unwrap(), vec![None]);
    assert_eq!(versions.claim(&[claim(&d, Some("10"))]).await.unwrap(), vec![Some((3, None))], "equal: applied again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outbox_entries_are_leased_to_one_poller_at_a_time_and_come_back_when_the_lease_ends() {
    let db = TestDb::new().await;
    let repo = repo(&db).await;
    let outbox = Arc::new(PgOutbox::new(pool(&db.url, 8, 2).await));
    let verified = Verified { size: 5, checksum: None, version: None };
    for i in 0..40 {
        let row = inserted(&repo, new_file("acme", &format!("uploads/{i}.txt"))).await;
        repo.mark_available("acme", row.id, &verified).await.unwrap();
    }
    let young = outbox.lease(100, std::time::Duration::from_secs(3600), std::time::Duration::from_secs(60)).await;
    assert!(young.unwrap().is_empty(), "no entry is an hour old");

    let pollers: Vec<_> = (0..4)
        .map(|_| {
            let outbox = outbox.clone();
            tokio::spawn(async move {
                outbox.lease(15, std::time::Duration::ZERO, std::time::Duration::from_secs(1)).await.unwrap()
            })
        })
        .collect();
    let mut leased = Vec::new();
    for poller in pollers {
        leased.extend(poller.await.unwrap().into_iter().map(|e| e.id));
    }
    let distinct: std::collections::BTreeSet<_> = leased.iter().collect();
    assert_eq!(distinct.len(), leased.len(), "an entry was leased twice");
    assert_eq!(leased.len(), 40);
    assert!(outbox.lease(100, std::time::Duration::ZERO, std::time::Duration::from_secs(1)).await.unwrap().is_empty());

    outbox.complete(&leased[..30]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let back = outbox.lease(100, std::time::Duration::ZERO, std::time::Duration::from_secs(60)).await.unwrap();
    assert_eq!(back.len(), 10, "the uncompleted entries come back once their lease ends");
    assert_eq!(outbox.pending().await.unwrap(), 10);
}
