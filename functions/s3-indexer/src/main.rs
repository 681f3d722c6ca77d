use files_core::Settings;
use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    files_core::telemetry::init();
    let (indexer, _, _) = files_core::state::build_parts(&Settings::from_env()?).await?;
    run(service_fn(|event| s3_indexer::handle(&indexer, event))).await
}
