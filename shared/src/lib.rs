//! The core of the file-storage service, shared by every Lambda function.
//!
//! Layers, each using only those below it:
//! - the HTTP edge: [`http`] (requests and responses) and [`error`] (the one map from failures
//!   to statuses and problem codes); [`state`] builds what a function holds;
//! - the workflows: [`services`] (upload, download, delete, search), [`indexing`] and the
//!   [`outbox`] that feeds it, which speak the domain;
//! - the ports and their adapters: [`storage`] (URL signing, objects), [`db`] (PostgreSQL: file
//!   records, index versions, the search fallback), [`search`] (Elasticsearch, extraction);
//! - the domain types: [`file`] (the file record), [`keys`] (parsed newtypes), [`auth`]
//!   (callers), [`config`], [`disposition`], and [`aws`] / [`telemetry`] plumbing.

pub mod auth;
pub mod aws;
pub mod config;
pub mod db;
pub mod disposition;
pub mod error;
pub mod file;
pub mod http;
pub mod indexing;
pub mod keys;
pub mod outbox;
pub mod reconcile;
pub mod search;
pub mod services;
pub mod state;
pub mod storage;
pub mod telemetry;

pub use auth::{Authenticator, Caller};
pub use config::Settings;
pub use error::{ApiError, Code};
pub use state::AppState;
