// The run's future nests deeply (pool, storage and queue clients); the default limit is too low for its layout.
#![recursion_limit = "256"]

use files_core::reconcile::Reconciler;
use files_core::state::FromSettings as _;
use files_core::Settings;
use lambda_runtime::{run, service_fn, Error};
use reconcile::State;

#[tokio::main]
async fn main() -> Result<(), Error> {
    files_core::telemetry::init();
    let settings = Settings::from_env()?;
    let policy = files_core::reconcile::Policy {
        pending_ttl: settings.upload.pending_ttl,
        orphan_grace: settings.upload.orphan_grace,
        ..Default::default()
    };
    let state = State { reconciler: Reconciler::from_settings(&settings).await?, policy };
    run(service_fn(|event| reconcile::handle(&state, event))).await
}
