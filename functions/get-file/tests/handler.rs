//! get-file through real API Gateway v2 event JSON.

use files_testkit::{caller, json_of, token, ApiEvent, TestApp};
use get_file::handle;

fn get(user: &str, org: &str, id: &str) -> ApiEvent {
    ApiEvent::new("GET", "/files/{id}", &format!("/files/{id}")).path_param("id", id).bearer(&token(user, org, &[]))
}

#[tokio::test]
async fn a_member_of_the_organization_reads_the_file_with_a_download_url() {
    let app = TestApp::new().await;
    let file = app.upload(&caller("alice", "acme", &[]), "a.txt", "text/plain", b"abc").await;

    let response = handle(&app.read, get("bob", "acme", &file.id.to_string()).request()).await.unwrap();

    assert_eq!(response.status(), 200);
    let body = json_of(&response);
    assert_eq!(body["id"], file.id.to_string());
    assert_eq!(body["uploaded_by"], "alice");
    assert_eq!(body["organization_id"], "acme");
    assert_eq!(body["status"], "available");
    assert!(body["download_url"].is_string());
}

#[tokio::test]
async fn a_pending_file_has_no_download_url() {
    let app = TestApp::new().await;
    let upload = app.initiate(&caller("alice", "acme", &[]), "a.txt", "text/plain", b"abc", false).await;

    let body = json_of(&handle(&app.read, get("alice", "acme", &upload.file_id.to_string()).request()).await.unwrap());

    assert_eq!(body["status"], "pending");
    assert!(body["download_url"].is_null());
}

#[tokio::test]
async fn another_organizations_file_is_404() {
    let app = TestApp::new().await;
    let file = app.upload(&caller("alice", "acme", &[]), "a.txt", "text/plain", b"abc").await;

    let response = handle(&app.read, get("mallory", "evil-corp", &file.id.to_string()).request()).await.unwrap();

    assert_eq!(response.status(), 404);
    assert_eq!(json_of(&response)["code"], "file_not_found");
}
