//! `reconcile`: the reconciler on an EventBridge schedule (see [`files_core::reconcile`]):
//! expires never-confirmed uploads and re-sends outbox entries left undelivered. The event's
//! content does not matter; a run that fails (a dependency down) is an error, and the next
//! scheduled run does the work, since every run is idempotent.

use files_core::reconcile::{Policy, Reconciler, Summary};
use lambda_runtime::{Error, LambdaEvent};

/// What the function holds: the reconciler and its policy.
#[derive(Debug)]
pub struct State {
    /// The reconciler.
    pub reconciler: Reconciler,
    /// Its limits.
    pub policy: Policy,
}

/// The function's handler: one run, its summary as the answer.
///
/// # Errors
/// When a dependency fails mid-run; what was done stays done.
#[tracing::instrument(skip_all)]
pub async fn handle(state: &State, _event: LambdaEvent<serde_json::Value>) -> Result<Summary, Error> {
    let progress = |what: &str, count: usize| tracing::info!(what, count, "reconcile page");
    let summary = state.reconciler.run(state.policy, &progress).await.inspect_err(|e| {
        tracing::error!(error = %files_core::telemetry::error_chain(e), "reconcile run failed");
    })?;
    Ok(summary)
}
