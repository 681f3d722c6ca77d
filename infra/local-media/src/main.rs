use std::sync::Arc;

use clap::Parser;
use files_core::Settings;
use local_media::{App, Origins};

/// The local backend's storage endpoint, in front of the functions: see the crate's docs.
#[derive(Debug, Parser)]
#[command(name = "local-media", version)]
struct Args {
    /// Address to listen on (the host and port of PUBLIC_BASE_URL).
    #[arg(long, env = "LOCAL_MEDIA_LISTEN", default_value = "127.0.0.1:9000")]
    listen: String,
    /// Base URL of the functions (`cargo lambda watch`); every request outside the media prefix
    /// goes there. Without it, such requests are 404.
    #[arg(long, env = "LOCAL_API_UPSTREAM")]
    api_upstream: Option<String>,
    /// Origins allowed to read responses from browser code on another origin: `*`, or a
    /// comma-separated list where `scheme://host:*` allows every port of the host. By default
    /// the local development origins (any port of localhost, 127.0.0.1 and [::1]).
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", default_value = local_media::LOCAL_ORIGINS)]
    cors_allowed_origins: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    files_core::telemetry::init();
    let args = Args::parse();
    let settings = Settings::from_env()?;
    let app = Arc::new(App::new(&settings, args.api_upstream.clone(), Origins::parse(&args.cors_allowed_origins)));
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    tracing::info!(listen = %listener.local_addr()?, upstream = ?args.api_upstream, "local media server ready");
    local_media::serve(listener, app).await?;
    Ok(())
}
