//! Any Unicode through the whole flow: generated file names, texts and queries go through
//! initiate, store, confirm, search with highlights and download URL on both search backends.
//! Every answer is a success or a 4xx problem; nothing panics and nothing is a 5xx.

use files_core::services::{ConfirmUploadRequest, InitiateUploadRequest, SearchRequest, ServiceError};
use files_core::ApiError;
use files_testkit::{caller, sha256_base64, TestApp};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Names and texts: any printable Unicode, strings of scripts whose case folding changes byte
/// lengths, markup, and format characters.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,40}",
        "[İẞßıi̇Σσςﬁŉǰΐΰẖẗẘẙẚ a-zA-Z0-9]{1,30}",
        "[<>&\"' a-z]{1,20}",
        "[\u{202E}\u{200B}\u{2066}\u{FEFF}a-z .]{1,12}",
        ".{0,300}",
    ]
}

/// The status a workflow's failure gets, which must be a 4xx.
fn status(e: ServiceError) -> u16 {
    ApiError::from(e).status()
}

/// One generated file through every workflow; `Err` describes a 5xx.
async fn one_file(app: &TestApp, name: String, body: String, query: String) -> Result<(), String> {
    let alice = caller("alice", "acme", &[]);
    let bytes = body.into_bytes();
    let request = InitiateUploadRequest {
        filename: name.clone(),
        content_type: "text/plain; charset=utf-8".into(),
        size: i64::try_from(bytes.len()).unwrap(),
        checksum_sha256: Some(sha256_base64(&bytes)),
        owner: None,
        upload_method: None,
        part_size: None,
        checksum_crc64nvme: None,
    };
    let fail = |what: &str, e: ServiceError| {
        let code = status(e);
        if code >= 500 {
            Err(format!("{what} of {name:?} answered {code}"))
        } else {
            Ok(())
        }
    };
    let upload = match app.initiate.files.initiate_upload(&alice, request).await {
        Ok(upload) => upload,
        Err(e) => return fail("initiate", e),
    };
    app.store(upload.file_key.as_str(), "text/plain; charset=utf-8", &bytes).await;
    let confirm = ConfirmUploadRequest { file_key: upload.file_key.to_string(), parts: None };
    let file = match app.confirm.files.confirm_upload(&alice, confirm).await {
        Ok(file) => file,
        Err(e) => return fail("confirm", e),
    };
    if let Err(e) = app.read.files.download_url(&alice, file.id, Default::default()).await {
        fail("download-url", e)?;
    }
    app.refresh_search().await;
    for q in [query, name.clone()] {
        match app.finder.files.search(&alice, SearchRequest { q, ..Default::default() }).await {
            Ok(results) => {
                for hit in results.files {
                    for fragment in hit.highlights {
                        let bare = fragment.replace("<em>", "").replace("</em>", "");
                        if bare.contains(['<', '>']) {
                            return Err(format!("markup in a highlight of {name:?}: {fragment:?}"));
                        }
                    }
                }
            }
            Err(e) => fail("search", e)?,
        }
    }
    Ok(())
}

fn run_cases(app: TestApp, cases: u32) {
    let runtime = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let result = runner.run(&(text(), text(), text()), |(name, body, query)| {
        let outcome = tokio::task::block_in_place(|| runtime.block_on(one_file(&app, name, body, query)));
        prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_unicode_through_the_postgresql_fallback_is_never_a_5xx() {
    run_cases(TestApp::with_env(&[("UPLOAD_ALLOWED_CONTENT_TYPES", "")]).await, 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_unicode_through_elasticsearch_is_never_a_5xx() {
    run_cases(TestApp::with_elasticsearch(&[("UPLOAD_ALLOWED_CONTENT_TYPES", "")]).await, 300);
}
