use files_core::services::UploadParts;
use files_core::{AppState, Settings};
use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    files_core::telemetry::init();
    let state = AppState::<UploadParts>::build(&Settings::from_env()?).await?;
    run(service_fn(|request| upload_parts::handle(&state, request))).await
}
