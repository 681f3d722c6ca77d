use files_core::indexing::Indexer;
use files_core::state::FromSettings as _;
use files_core::Settings;
use lambda_runtime::{run, service_fn, Error};

fn main() -> Result<(), Error> {
    // This executable is also the PDF text extractor its indexer starts.
    files_core::search::extract::run_or_extract(serve())
}

async fn serve() -> Result<(), Error> {
    files_core::telemetry::init();
    let indexer = Indexer::from_settings(&Settings::from_env()?).await?;
    run(service_fn(|event| s3_indexer::handle(&indexer, event))).await
}
