use files_core::{AppState, Settings};
use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    files_core::telemetry::init();
    let state = AppState::build_for_search(Settings::from_env()?).await?;
    run(service_fn(|request| search_files::handle(&state, request))).await
}
