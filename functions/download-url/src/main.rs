use files_core::{AppState, Settings};
use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let state = AppState::build_without_search(Settings::from_env()?).await?;
    run(service_fn(|request| download_url::handle(&state, request))).await
}
