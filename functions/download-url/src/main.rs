use files_core::services::ReadFile;
use files_core::{AppState, Settings};
use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    files_core::telemetry::init();
    let state = AppState::<ReadFile>::build(&Settings::from_env()?).await?;
    run(service_fn(|request| download_url::handle(&state, request))).await
}
