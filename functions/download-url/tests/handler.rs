//! download-url through real API Gateway v2 event JSON.

use download_url::handle;
use files_testkit::{caller, json_of, token, ApiEvent, TestApp};

fn download(user: &str, org: &str, id: &str) -> ApiEvent {
    let path = format!("/files/{id}/download-url");
    ApiEvent::new("GET", "/files/{id}/download-url", &path).path_param("id", id).bearer(&token(user, org, &[]))
}

#[tokio::test]
async fn an_available_file_gets_a_signed_attachment_url_by_default_and_inline_on_request() {
    let app = TestApp::new().await;
    let file = app.upload(&caller("alice", "acme", &[]), "Größe.txt", "text/plain", b"data").await;
    let id = file.id.to_string();

    let attachment = handle(&app.read, download("bob", "acme", &id).request()).await.unwrap();
    let inline = handle(&app.read, download("bob", "acme", &id).query("disposition=inline").request()).await.unwrap();

    assert_eq!(attachment.status(), 200);
    let body = json_of(&attachment);
    let url = body["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("http://127.0.0.1:9000/media/{}?", file.file_key)), "{url}");
    assert!(url.contains("disposition=attachment") && url.contains("signature="));
    assert!(body["expires_at"].is_string());
    assert!(json_of(&inline)["url"].as_str().unwrap().contains("disposition=inline"));
}

#[tokio::test]
async fn active_content_asked_for_inline_is_signed_as_an_attachment() {
    let app = TestApp::with_env(&[("UPLOAD_ALLOWED_CONTENT_TYPES", "")]).await;
    let alice = caller("alice", "acme", &[]);
    for (name, content_type) in [
        ("page.html", "text/html"),
        ("drawing.svg", "image/svg+xml"),
        ("page.xhtml", "application/xhtml+xml"),
        ("feed.xml", "application/xml"),
    ] {
        let file = app.upload(&alice, name, content_type, b"<script>alert(1)</script>").await;
        let id = file.id.to_string();

        let inline =
            handle(&app.read, download("alice", "acme", &id).query("disposition=inline").request()).await.unwrap();

        let url = json_of(&inline)["url"].as_str().unwrap().to_owned();
        assert!(url.contains("disposition=attachment") && !url.contains("disposition=inline"), "{content_type}: {url}");
    }
}

#[tokio::test]
async fn on_s3_the_signed_get_of_active_content_fixes_an_attachment_and_its_type() {
    let app = TestApp::with_backend(files_testkit::Backend::S3, &[("UPLOAD_ALLOWED_CONTENT_TYPES", "")]).await;
    let alice = caller("alice", "acme", &[]);
    let html = app.upload(&alice, "page.html", "text/html", b"<script>alert(1)</script>").await;
    let png = app.upload(&alice, "pixel.png", "image/png", b"\x89PNG").await;

    let html_url =
        handle(&app.read, download("alice", "acme", &html.id.to_string()).query("disposition=inline").request());
    let png_url =
        handle(&app.read, download("alice", "acme", &png.id.to_string()).query("disposition=inline").request());
    let (html_url, png_url) = (json_of(&html_url.await.unwrap()), json_of(&png_url.await.unwrap()));

    let html_url = html_url["url"].as_str().unwrap();
    assert!(html_url.contains("response-content-disposition=attachment"), "{html_url}");
    assert!(html_url.contains("response-content-type=text%2Fhtml"), "{html_url}");
    let response = reqwest::get(html_url).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-disposition"].to_str().unwrap().starts_with("attachment;"));
    assert!(png_url["url"].as_str().unwrap().contains("response-content-disposition=inline"));
}

#[tokio::test]
async fn a_pending_file_is_409_and_a_bad_disposition_or_id_is_400() {
    let app = TestApp::new().await;
    let upload = app.initiate(&caller("alice", "acme", &[]), "a.txt", "text/plain", b"x", false).await;
    let id = upload.file_id.to_string();

    let pending = handle(&app.read, download("alice", "acme", &id).request()).await.unwrap();
    let bad_disposition =
        handle(&app.read, download("alice", "acme", &id).query("disposition=evil").request()).await.unwrap();
    let bad_id = handle(&app.read, download("alice", "acme", "not-a-uuid").request()).await.unwrap();

    assert_eq!((pending.status().as_u16(), json_of(&pending)["code"].as_str()), (409, Some("file_not_available")));
    assert_eq!(
        (bad_disposition.status().as_u16(), json_of(&bad_disposition)["code"].as_str()),
        (400, Some("invalid_disposition"))
    );
    assert_eq!((bad_id.status().as_u16(), json_of(&bad_id)["code"].as_str()), (400, Some("invalid_file_id")));
}

#[tokio::test]
async fn another_organizations_file_is_404_as_is_a_file_that_does_not_exist() {
    let app = TestApp::new().await;
    let file = app.upload(&caller("alice", "acme", &[]), "a.txt", "text/plain", b"x").await;

    let foreign = handle(&app.read, download("mallory", "evil-corp", &file.id.to_string()).request()).await.unwrap();
    let missing = handle(&app.read, download("alice", "acme", &uuid_v4()).request()).await.unwrap();

    assert_eq!(foreign.status(), 404);
    assert_eq!(json_of(&foreign), json_of(&missing), "the two answers must not tell each other apart");
}

fn uuid_v4() -> String {
    "7b0e3f6a-9a34-4c1e-8f7e-1f2d3c4b5a69".to_owned()
}
