use files_core::Settings;
use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let (indexer, _, _) = files_core::state::build_parts(&Settings::from_env()?).await?;
    run(service_fn(|event| s3_indexer::handle(&indexer, event))).await
}
