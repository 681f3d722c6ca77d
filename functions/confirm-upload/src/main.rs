use files_core::services::ConfirmUpload;
use files_core::{AppState, Settings};
use lambda_http::{run, service_fn, Error};

// No document parser in this binary: the indexer extracts text, apart from the request.
#[tokio::main]
async fn main() -> Result<(), Error> {
    files_core::telemetry::init();
    let state = AppState::<ConfirmUpload>::build(&Settings::from_env()?).await?;
    run(service_fn(|request| confirm_upload::handle(&state, request))).await
}
