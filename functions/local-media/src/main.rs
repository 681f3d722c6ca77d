use files_core::Settings;
use lambda_http::{run, service_fn, Error};
use local_media::MediaState;

#[tokio::main]
async fn main() -> Result<(), Error> {
    files_core::telemetry::init();
    let state = MediaState::new(&Settings::from_env()?);
    run(service_fn(|request| local_media::handle(&state, request))).await
}
