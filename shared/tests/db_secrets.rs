//! Database credentials from Secrets Manager (RDS secret JSON), against an emulated Secrets
//! Manager on loopback (LocalStack) and a PostgreSQL that checks passwords (SCRAM), both
//! started by `make test` (`TEST_S3_ENDPOINT`, `TEST_AUTH_DATABASE_URL`).

use std::time::Duration;

use files_core::config::{DatabaseSettings, DatabaseSource, DatabaseTls, RootCerts, SslMode};
use files_core::db::{DbPool, FileRepository, PgFileRepository, RepositoryError};
use serde_json::json;
use tokio_postgres::NoTls;

fn auth_server() -> String {
    std::env::var("TEST_AUTH_DATABASE_URL").expect(
        "TEST_AUTH_DATABASE_URL is not set: run through `make test`, which starts a password-checking PostgreSQL",
    )
}

async fn admin() -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&auth_server(), NoTls).await.expect("the password cluster answers");
    tokio::spawn(conn);
    client
}

fn secrets_client() -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&files_testkit::localstack_config())
}

/// A login role owning a fresh, migrated database; returns (role, database).
async fn app_database(password: &str) -> (String, String) {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let (role, db) = (format!("app_{}", &suffix[..12]), format!("d_{}", &suffix[..12]));
    let admin = admin().await;
    admin.batch_execute(&format!("CREATE ROLE {role} LOGIN PASSWORD '{password}'")).await.unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {db} OWNER {role}")).await.unwrap();
    let url = format!("postgres://{role}:{password}@127.0.0.1:{}/{db}", port());
    files_core::db::run_migrations(&url, &Default::default()).await.unwrap();
    (role, db)
}

fn port() -> u16 {
    auth_server().rsplit_once(':').and_then(|(_, rest)| rest.split('/').next()?.parse().ok()).expect("port in URL")
}

fn secret_json(role: &str, password: &str, db: &str) -> String {
    json!({"engine": "postgres", "host": "127.0.0.1", "port": port(), "username": role, "password": password, "dbname": db})
        .to_string()
}

fn settings() -> DatabaseSettings {
    DatabaseSettings {
        source: DatabaseSource::Unset,
        tls: Default::default(),
        pool_size: 2,
        timeout: Duration::from_secs(2),
    }
}

#[tokio::test]
async fn credentials_are_read_from_the_secret_and_a_rotated_password_is_picked_up_without_a_restart() {
    let (role, db) = app_database("first-password").await;
    let secrets = secrets_client();
    let created = secrets
        .create_secret()
        .name(format!("db/{role}"))
        .secret_string(secret_json(&role, "first-password", &db))
        .send()
        .await
        .expect("the emulated Secrets Manager answers");
    let arn = created.arn().unwrap().to_owned();
    let repo = PgFileRepository::new(DbPool::from_secret(&settings(), secrets.clone(), &arn));
    let id = uuid::Uuid::new_v4();
    assert_eq!(repo.find_by_id("acme", id).await.unwrap(), None, "connects with the secret's credentials");

    // Rotation: the password changes in the database and in the secret; open connections end.
    let admin = admin().await;
    admin.batch_execute(&format!("ALTER ROLE {role} PASSWORD 'second-password'")).await.unwrap();
    secrets
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(secret_json(&role, "second-password", &db))
        .send()
        .await
        .unwrap();
    admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", &[&role]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut last = None;
    for _ in 0..3 {
        // A connection cut by the rotation may surface once as unavailable; the next call recovers.
        match repo.find_by_id("acme", id).await {
            Ok(found) => {
                last = Some(Ok(found));
                break;
            }
            Err(e) => last = Some(Err(e)),
        }
    }
    assert!(matches!(last, Some(Ok(None))), "{last:?}");
}

#[tokio::test]
async fn a_secret_with_a_wrong_password_is_a_database_outage_not_a_crash() {
    let (role, db) = app_database("right-password").await;
    let secrets = secrets_client();
    let created = secrets
        .create_secret()
        .name(format!("db/{role}"))
        .secret_string(secret_json(&role, "wrong-password", &db))
        .send()
        .await
        .unwrap();
    let repo = PgFileRepository::new(DbPool::from_secret(&settings(), secrets, created.arn().unwrap()));

    let result = repo.find_by_id("acme", uuid::Uuid::new_v4()).await;

    assert!(matches!(result, Err(RepositoryError::Unavailable(_))), "{result:?}");
}

#[tokio::test]
async fn a_missing_secret_is_a_database_outage() {
    let repo = PgFileRepository::new(DbPool::from_secret(
        &settings(),
        secrets_client(),
        "arn:aws:secretsmanager:us-east-1:000000000000:secret:does-not-exist",
    ));

    let result = repo.find_by_id("acme", uuid::Uuid::new_v4()).await;

    assert!(matches!(result, Err(RepositoryError::Unavailable(_))), "{result:?}");
}

/// The server with TLS on that `make test` starts (certificate for `localhost`, issued by `TEST_TLS_CA`).
fn tls_secret() -> String {
    let url =
        std::env::var("TEST_TLS_DATABASE_URL").expect("TEST_TLS_DATABASE_URL is not set: run through `make test`");
    let port: u16 = url.rsplit_once(':').and_then(|(_, rest)| rest.split('/').next()?.parse().ok()).expect("port");
    json!({"engine": "postgres", "host": "localhost", "port": port, "username": "postgres", "password": "unused", "dbname": "files_tls"})
        .to_string()
}

#[tokio::test]
async fn credentials_from_a_secret_connect_with_the_tls_the_settings_ask_for() {
    let secrets = secrets_client();
    let name = format!("db/tls-{}", uuid::Uuid::new_v4().simple());
    let created = secrets.create_secret().name(name).secret_string(tls_secret()).send().await.unwrap();
    let arn = created.arn().unwrap();
    let tls = |ca: &str| DatabaseSettings {
        tls: DatabaseTls { mode: Some(SslMode::VerifyFull), root_cert: Some(RootCerts::File(ca.into())) },
        ..settings()
    };
    let ca = std::env::var("TEST_TLS_CA").expect("TEST_TLS_CA");
    let wrong = std::env::var("TEST_TLS_WRONG_CA").expect("TEST_TLS_WRONG_CA");

    let pool = DbPool::from_secret(&tls(&ca), secrets.clone(), arn);
    let client = pool.get().await.expect("verify-full with the right CA connects");
    let row = client.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await.unwrap();
    assert!(row.get::<_, bool>(0));

    let repo = PgFileRepository::new(DbPool::from_secret(&tls(&wrong), secrets.clone(), arn));
    let result = repo.find_by_id("acme", uuid::Uuid::new_v4()).await;
    let Err(RepositoryError::Unavailable(cause)) = result else { panic!("{result:?}") };
    assert!(cause.to_string().contains("sslmode=verify-full"), "{cause}");

    // Plain, as `disable` asks.
    let disable = DatabaseSettings { tls: DatabaseTls { mode: Some(SslMode::Disable), root_cert: None }, ..settings() };
    let client = DbPool::from_secret(&disable, secrets, arn).get().await.unwrap();
    let row = client.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await.unwrap();
    assert!(!row.get::<_, bool>(0));
}
