//! The core of the file-storage service, shared by every Lambda function: configuration,
//! storage backends, file metadata in PostgreSQL, authentication, problem+json errors, and the
//! upload / confirm / download / delete workflows.

pub mod auth;
pub mod aws;
pub mod config;
pub mod db;
pub mod disposition;
pub mod error;
pub mod http;
pub mod indexing;
pub mod keys;
pub mod search;
pub mod services;
pub mod signing;
pub mod state;
pub mod storage;
pub mod telemetry;

pub use auth::{Authenticator, Caller};
pub use config::Settings;
pub use error::{ApiError, ErrorKind};
pub use services::FileService;
pub use state::AppState;
