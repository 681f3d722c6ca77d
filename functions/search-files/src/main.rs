use files_core::services::SearchFiles;
use files_core::{AppState, Settings};
use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    files_core::telemetry::init();
    let state = AppState::<SearchFiles>::build(&Settings::from_env()?).await?;
    run(service_fn(|request| search_files::handle(&state, request))).await
}
