//! What reaches the log: a full flow (authenticate, initiate, store, confirm, download URL,
//! search) logged at TRACE through the service's own filter leaves no bearer token, no URL
//! signature and no database password in the output.

use files_core::services::{
    ConfirmUpload, ConfirmUploadRequest, InitiateUpload, InitiateUploadRequest, ReadFile, SearchFiles, SearchRequest,
};
use files_core::{AppState, Settings};
use files_testkit::{sha256_base64, token, ApiEvent, LogCapture, TestApp};
use lambda_http::tracing::subscriber::filter::LevelFilter;

const PASSWORD: &str = "hunter2-database-password";

/// `url` with a password for its user (the test server trusts every connection, so any works).
fn with_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (user, host) = rest.split_once('@').unwrap();
    let user = user.split(':').next().unwrap();
    format!("{scheme}://{user}:{PASSWORD}@{host}")
}

/// The values of every `signature`-like query parameter of `url`.
fn signatures(url: &str) -> Vec<String> {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    form_urlencoded::parse(query.as_bytes())
        .filter(|(name, _)| name.to_ascii_lowercase().contains("signature"))
        .map(|(_, value)| value.into_owned())
        .collect()
}

#[tokio::test]
async fn a_full_flow_logged_at_trace_holds_no_token_signature_or_password() {
    let app = TestApp::new().await;
    let mut env = files_testkit::test_env(app.media.path(), &with_password(&app.db.url));
    env.insert("ELASTICSEARCH_URL".into(), String::new());
    let settings = Settings::from_map(&env).unwrap();
    let captured = LogCapture::start(LevelFilter::TRACE);
    let bearer = token("alice", "acme", &[]);

    let initiate: AppState<InitiateUpload> = AppState::build(&settings).await.unwrap();
    let confirm: AppState<ConfirmUpload> = AppState::build(&settings).await.unwrap();
    let read: AppState<ReadFile> = AppState::build(&settings).await.unwrap();
    let search: AppState<SearchFiles> = AppState::build(&settings).await.unwrap();
    let request = ApiEvent::new("GET", "/files/search", "/files/search").bearer(&bearer).request();
    let caller = initiate.auth.authenticate(&request).unwrap();
    let refused = initiate.auth.authenticate(&ApiEvent::new("GET", "/x", "/x").bearer("not.a.token").request());
    let upload = InitiateUploadRequest {
        filename: "wombat notes.txt".into(),
        content_type: "text/plain".into(),
        size: 6,
        checksum_sha256: Some(sha256_base64(b"wombat")),
        owner: None,
        upload_method: None,
        part_size: None,
        checksum_crc64nvme: None,
    };
    let upload = initiate.files.initiate_upload(&caller, upload).await.unwrap();
    app.store(upload.file_key.as_str(), "text/plain", b"wombat").await;
    let file_key = upload.file_key.to_string();
    let view = confirm.files.confirm_upload(&caller, ConfirmUploadRequest { file_key, parts: None }).await.unwrap();
    let download = read.files.download_url(&caller, view.id, Default::default()).await.unwrap();
    app.drain_outbox().await;
    let query = SearchRequest { q: "wombat".into(), ..Default::default() };
    let found = search.files.search(&caller, query).await.unwrap();

    let log = captured.text();
    assert!(refused.is_err());
    assert_eq!(found.files.len(), 1);
    assert!(log.contains("upload confirmed"), "the flow was logged: {log}");
    let mut secrets = vec![bearer.clone(), PASSWORD.to_owned()];
    for url in [
        &upload.url,
        view.download_url.as_ref().unwrap(),
        &download.url,
        found.files[0].file.download_url.as_ref().unwrap(),
    ] {
        let found = signatures(url);
        assert!(!found.is_empty(), "{url} is signed");
        secrets.extend(found);
    }
    for secret in secrets {
        assert!(!log.contains(&secret), "{secret} reached the log:\n{log}");
    }
    let token_parts: Vec<&str> = bearer.split('.').collect();
    assert!(!log.contains(token_parts[2]), "the token's signature reached the log");
}
