//! TLS to PostgreSQL, through initiate-upload's handler (real API Gateway v2 event JSON):
//! against the PostgreSQL with TLS on that `make test` starts with a certificate for `localhost`
//! issued by a CA it makes (`TEST_TLS_DATABASE_URL`, `TEST_TLS_CA`, `TEST_TLS_WRONG_CA`), and
//! against plain servers (the machine's, and the password cluster with TLS off).

use files_core::services::InitiateUpload;
use files_core::{AppState, Settings};
use files_testkit::{json_of, token, ApiEvent, LogCapture};
use initiate_upload::handle;
use lambda_http::tracing::subscriber::filter::LevelFilter;
use serde_json::json;

fn var(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run through `make test`, which starts a PostgreSQL with TLS on"))
}

/// The TLS server's database, `host` for `localhost`, with `params` as its query.
fn tls_url(host: &str, params: &str) -> String {
    let url = var("TEST_TLS_DATABASE_URL").replacen("@localhost:", &format!("@{host}:"), 1);
    if params.is_empty() {
        url
    } else {
        format!("{url}?{params}")
    }
}

/// What one initiate-upload answers with `env` over the service's defaults, and what was
/// logged meanwhile.
async fn initiate_with(database_url: &str, env: &[(&str, &str)]) -> (u16, serde_json::Value, String) {
    let media = tempfile::tempdir().unwrap();
    let mut vars = files_testkit::test_env(media.path(), database_url);
    vars.insert("DATABASE_TIMEOUT_SECONDS".into(), "3".into());
    for (k, v) in env {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    let log = LogCapture::start(LevelFilter::INFO);
    let state: AppState<InitiateUpload> = AppState::build(&Settings::from_map(&vars).unwrap()).await.unwrap();
    let event = ApiEvent::new("POST", "/files/initiate-upload", "/files/initiate-upload")
        .bearer(&token("alice", "acme", &[]))
        .json(&json!({"filename": "tls.txt", "content_type": "text/plain", "size": 1}));
    let response = handle(&state, event.request()).await.unwrap();
    (response.status().as_u16(), json_of(&response), log.text())
}

#[tokio::test]
async fn verify_full_with_the_right_ca_and_host_name_connects() {
    let ca = var("TEST_TLS_CA");
    let (status, body, _) =
        initiate_with(&tls_url("localhost", &format!("sslmode=verify-full&sslrootcert={ca}")), &[]).await;
    assert_eq!(status, 201, "{body}");

    // The same from the settings alone (the Secrets Manager path has no URL to carry them).
    let env = [("DATABASE_SSL_MODE", "verify-full"), ("DATABASE_SSL_ROOT_CERT", ca.as_str())];
    let (status, body, _) = initiate_with(&tls_url("localhost", ""), &env).await;
    assert_eq!(status, 201, "{body}");
}

/// Whether the connection `url` asks for is encrypted (`pg_stat_ssl`).
async fn encrypted(url: &str) -> bool {
    let settings = files_core::config::DatabaseSettings {
        source: files_core::config::DatabaseSource::Url(files_core::config::Secret::new(url)),
        tls: Default::default(),
        pool_size: 1,
        timeout: std::time::Duration::from_secs(3),
    };
    let pool = files_core::db::DbPool::new(&settings, None).await.unwrap();
    let client = pool.get().await.unwrap();
    let row = client
        .query_one("SELECT ssl, coalesce(version, '') FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, bool>(0), row.get::<_, String>(1).starts_with("TLSv1."));
    row.get(0)
}

#[tokio::test]
async fn the_checking_modes_and_prefer_encrypt_and_disable_does_not() {
    let ca = var("TEST_TLS_CA");
    assert!(encrypted(&tls_url("localhost", &format!("sslmode=verify-full&sslrootcert={ca}"))).await);
    assert!(encrypted(&tls_url("127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={ca}"))).await);
    assert!(encrypted(&tls_url("127.0.0.1", "sslmode=require")).await);
    assert!(encrypted(&tls_url("127.0.0.1", "")).await, "prefer is the default");
    assert!(!encrypted(&tls_url("localhost", "sslmode=disable")).await);
}

#[tokio::test]
async fn verify_ca_accepts_the_right_ca_under_another_host_name() {
    let ca = var("TEST_TLS_CA");
    let (status, body, _) =
        initiate_with(&tls_url("127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={ca}")), &[]).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn a_certificate_that_is_not_trusted_or_not_for_the_host_is_a_503_with_a_clear_log_line() {
    let (ca, wrong) = (var("TEST_TLS_CA"), var("TEST_TLS_WRONG_CA"));
    let cases = [
        (tls_url("localhost", &format!("sslmode=verify-full&sslrootcert={wrong}")), vec![], "UnknownIssuer"),
        // The certificate names `localhost`, not the address.
        (tls_url("127.0.0.1", &format!("sslmode=verify-full&sslrootcert={ca}")), vec![], "not valid for name"),
        // The default roots are the Amazon RDS CAs, which did not issue the test certificate.
        (tls_url("localhost", ""), vec![("DATABASE_SSL_MODE", "verify-full")], "UnknownIssuer"),
        (tls_url("localhost", "sslmode=verify-ca&sslrootcert=rds"), vec![], "UnknownIssuer"),
        // `require` with a root certificate named checks it, as in libpq.
        (tls_url("localhost", &format!("sslmode=require&sslrootcert={wrong}")), vec![], "UnknownIssuer"),
    ];
    for (url, env, reason) in cases {
        let (status, body, log) = initiate_with(&url, &env).await;
        assert_eq!(status, 503, "{url}: {body}");
        assert_eq!(body["code"], "dependency_unavailable");
        let line = log.lines().find(|l| l.contains("TLS handshake")).unwrap_or_else(|| panic!("{url}: {log}"));
        assert!(line.contains("ERROR") && line.contains("sslmode=verify-"), "{line}");
        assert!(line.contains(reason), "{url}: {line}");
    }
}

#[tokio::test]
async fn require_against_a_server_without_tls_is_a_503_never_a_plain_connection() {
    let plain = var("TEST_AUTH_DATABASE_URL");
    let (status, body, log) = initiate_with(&format!("{plain}?sslmode=require"), &[]).await;
    assert_eq!(status, 503, "{body}");
    assert!(log.contains("sslmode=require") && log.contains("server does not support TLS"), "{log}");
}

#[tokio::test]
async fn disable_and_prefer_connect_as_libpq_does() {
    // The machine's server answers plain connections.
    let db = files_testkit::TestDb::new().await;
    let (status, body, _) = initiate_with(&format!("{}?sslmode=disable", db.url), &[]).await;
    assert_eq!(status, 201, "{body}");
    // `prefer` takes TLS from a server that offers it, without checking the certificate.
    let (status, body, _) = initiate_with(&tls_url("127.0.0.1", "sslmode=prefer"), &[]).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn an_unreadable_root_certificate_file_is_a_503_that_names_it() {
    let (status, body, log) =
        initiate_with(&tls_url("localhost", "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem"), &[]).await;
    assert_eq!(status, 503, "{body}");
    assert!(log.contains("/nonexistent/ca.pem"), "{log}");
}

#[test]
fn an_unknown_sslmode_stops_the_function_at_start_up() {
    let media = tempfile::tempdir().unwrap();
    let mut vars = files_testkit::test_env(media.path(), "postgres://h/db");
    vars.insert("DATABASE_SSL_MODE".into(), "verify".into());
    let err = Settings::from_map(&vars).unwrap_err().to_string();
    assert!(err.contains("DATABASE_SSL_MODE") && err.contains("verify-full"), "{err}");
}
