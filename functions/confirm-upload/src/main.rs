use files_core::{AppState, Settings};
use lambda_http::{run, service_fn, Error};

fn main() -> Result<(), Error> {
    // This executable is also the PDF text extractor the indexer starts (first, before any thread).
    files_core::search::extract::serve_if_asked();
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(serve())
}

async fn serve() -> Result<(), Error> {
    files_core::telemetry::init();
    let state = AppState::build(Settings::from_env()?).await?;
    run(service_fn(|request| confirm_upload::handle(&state, request))).await
}
