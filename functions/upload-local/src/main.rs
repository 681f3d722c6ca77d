use files_core::services::ProxiedUpload;
use files_core::{AppState, Settings};
use lambda_http::{run, service_fn, Error};

fn main() -> Result<(), Error> {
    // This executable is also the PDF text extractor its indexer starts.
    files_core::search::extract::run_or_extract(serve())
}

async fn serve() -> Result<(), Error> {
    files_core::telemetry::init();
    let state = AppState::<ProxiedUpload>::build(&Settings::from_env()?).await?;
    run(service_fn(|request| upload_local::handle(&state, request))).await
}
