//! delete-file through real API Gateway v2 event JSON: row and object go together.

use delete_file::handle;
use files_core::keys::FileKey;
use files_testkit::{caller, json_of, token, ApiEvent, TestApp};

fn delete(user: &str, org: &str, roles: &[&str], id: &str) -> ApiEvent {
    ApiEvent::new("DELETE", "/files/{id}", &format!("/files/{id}"))
        .path_param("id", id)
        .bearer(&token(user, org, roles))
}

async fn object_exists(app: &TestApp, key: &str) -> bool {
    app.objects.file_exists(&FileKey::parse(key).unwrap()).await.unwrap()
}

#[tokio::test]
async fn the_uploader_deletes_the_row_and_the_object() {
    let app = TestApp::new().await;
    let file = app.upload(&caller("alice", "acme", &[]), "a.txt", "text/plain", b"abc").await;
    assert!(object_exists(&app, file.file_key.as_str()).await);

    let response = handle(&app.delete, delete("alice", "acme", &[], &file.id.to_string()).request()).await.unwrap();

    assert_eq!(response.status(), 204);
    assert_eq!(app.status_of(file.id).await, None);
    assert!(!object_exists(&app, file.file_key.as_str()).await);
    assert!(app.stored_paths().is_empty(), "{:?}", app.stored_paths());
    let again = handle(&app.delete, delete("alice", "acme", &[], &file.id.to_string()).request()).await.unwrap();
    assert_eq!(again.status(), 404);
}

#[tokio::test]
async fn another_member_needs_the_admin_role() {
    let app = TestApp::new().await;
    let file = app.upload(&caller("alice", "acme", &[]), "a.txt", "text/plain", b"abc").await;
    let id = file.id.to_string();

    let member = handle(&app.delete, delete("bob", "acme", &[], &id).request()).await.unwrap();
    assert_eq!((member.status().as_u16(), json_of(&member)["code"].as_str()), (403, Some("forbidden")));
    assert!(object_exists(&app, file.file_key.as_str()).await);

    let admin = handle(&app.delete, delete("carol", "acme", &["admin"], &id).request()).await.unwrap();
    assert_eq!(admin.status(), 204);
    assert_eq!(app.status_of(file.id).await, None);
}

#[tokio::test]
async fn another_organization_cannot_delete_even_as_admin() {
    let app = TestApp::new().await;
    let file = app.upload(&caller("alice", "acme", &[]), "a.txt", "text/plain", b"abc").await;

    let response =
        handle(&app.delete, delete("mallory", "evil-corp", &["admin"], &file.id.to_string()).request()).await.unwrap();

    assert_eq!(response.status(), 404);
    assert_eq!(app.status_of(file.id).await.as_deref(), Some("available"));
    assert!(object_exists(&app, file.file_key.as_str()).await);
}
