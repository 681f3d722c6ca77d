//! search-files through real API Gateway v2 event JSON, against PostgreSQL and the search
//! server.

use files_testkit::{caller, json_of, token, ApiEvent, CutProxy, TestApp};
use search_files::handle;

fn search(user: &str, org: &str, query: &str) -> ApiEvent {
    ApiEvent::new("GET", "/files/search", "/files/search").query(query).bearer(&token(user, org, &[]))
}

#[tokio::test]
async fn a_search_returns_the_organizations_matching_files_with_highlights() {
    let app = TestApp::with_elasticsearch(&[]).await;
    let mine = app
        .upload(&caller("alice", "acme", &[]), "minutes.txt", "text/plain", b"we discussed the pangolin budget")
        .await;
    app.upload(&caller("mallory", "evil-corp", &[]), "pangolin.txt", "text/plain", b"pangolin").await;
    app.refresh_search().await;

    let response = handle(&app.finder, search("bob", "acme", "q=pangolin&limit=10").request()).await.unwrap();

    assert_eq!(response.status(), 200);
    let body = json_of(&response);
    let files = body["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{body}");
    assert_eq!(files[0]["id"], mine.id.to_string());
    assert_eq!(files[0]["organization_id"], "acme");
    assert!(files[0]["download_url"].is_string());
    assert!(files[0]["highlights"][0].as_str().unwrap().contains("<em>pangolin</em>"));
    assert_eq!(body["total"], 1);
    assert!(body["next_cursor"].is_null());
}

#[tokio::test]
async fn bad_parameters_and_missing_callers_get_problems() {
    let app = TestApp::new().await;
    let cases = [
        (search("bob", "acme", "q=x&limit=0"), 400, "invalid_limit"),
        (search("bob", "acme", "q=x&limit=1000"), 400, "invalid_limit"),
        (search("bob", "acme", "q=x&limit=ten"), 400, "invalid_limit"),
        (search("bob", "acme", "q=x&cursor=bm9wZQ"), 400, "invalid_cursor"),
        (ApiEvent::new("GET", "/files/search", "/files/search").query("q=x"), 401, "unauthorized"),
    ];

    for (event, status, code) in cases {
        let response = handle(&app.finder, event.request()).await.unwrap();
        assert_eq!(response.status(), status);
        assert_eq!(json_of(&response)["code"], code);
    }
}

#[tokio::test]
async fn a_search_outage_is_a_503_and_search_answers_again_once_it_is_back() {
    let proxy = CutProxy::start(&files_testkit::host_port(&files_testkit::elasticsearch_url())).await;
    let url = format!("http://{}", proxy.addr);
    let app = TestApp::with_elasticsearch(&[("ELASTICSEARCH_URL", &url)]).await;

    proxy.down();
    let down = handle(&app.finder, search("bob", "acme", "q=anything").request()).await.unwrap();
    proxy.up();
    let up = handle(&app.finder, search("bob", "acme", "q=anything").request()).await.unwrap();

    assert_eq!(down.status(), 503);
    assert_eq!(down.headers()["retry-after"], "2");
    assert_eq!(up.status(), 200);
}
