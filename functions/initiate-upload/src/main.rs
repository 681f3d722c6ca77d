use files_core::services::InitiateUpload;
use files_core::{AppState, Settings};
use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    files_core::telemetry::init();
    let state = AppState::<InitiateUpload>::build(&Settings::from_env()?).await?;
    run(service_fn(|request| initiate_upload::handle(&state, request))).await
}
