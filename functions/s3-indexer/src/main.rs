use files_core::Settings;
use lambda_runtime::{run, service_fn, Error};
use s3_indexer::State;

fn main() -> Result<(), Error> {
    // This executable is also the PDF text extractor its indexer starts.
    files_core::search::extract::run_or_extract(serve())
}

async fn serve() -> Result<(), Error> {
    files_core::telemetry::init();
    let (indexer, outbox) = files_core::state::build_indexer_and_outbox(&Settings::from_env()?).await?;
    let state = State { indexer, outbox };
    run(service_fn(|event| s3_indexer::handle(&state, event))).await
}
