//! `files-admin`: operator commands that must not run on every cold start.
//!
//! - `migrate`: apply the embedded migrations to `DATABASE_URL` (safe to repeat).
//! - `token`: print a development bearer token for `AUTH_MODE=local-jwt`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "files-admin", about = "Operator commands for the file-storage service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply the database migrations (safe to repeat).
    Migrate {
        /// The database to migrate.
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: String,
        /// Create the database first when it does not exist.
        #[arg(long)]
        create_database: bool,
    },
    /// Print a development bearer token (HS256) for AUTH_MODE=local-jwt.
    Token {
        /// The user id (`sub`).
        #[arg(long)]
        user: String,
        /// The organization id.
        #[arg(long)]
        org: String,
        /// Roles, comma-separated (e.g. `admin`).
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 86_400)]
        ttl: i64,
        /// The signing secret.
        #[arg(long, env = "AUTH_LOCAL_JWT_SECRET", hide_env_values = true)]
        secret: String,
        /// The claim that carries the organization.
        #[arg(long, env = "AUTH_ORG_CLAIM", default_value = "org_id")]
        org_claim: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Migrate { database_url, create_database } => {
            if create_database {
                match files_core::db::create_database_if_missing(&database_url).await {
                    Ok(true) => println!("migrations: created the database"),
                    Ok(false) => {}
                    Err(e) => {
                        eprintln!("cannot create the database: {}", files_core::error::error_chain(e.as_ref()));
                        return ExitCode::FAILURE;
                    }
                }
            }
            migrate(&database_url).await
        }
        Command::Token { user, org, roles, ttl, secret, org_claim } => {
            match files_core::auth::issue_local_token(&secret, &org_claim, &user, &org, &roles, ttl) {
                Ok(token) => {
                    println!("{token}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("cannot sign the token: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn migrate(database_url: &str) -> ExitCode {
    match files_core::db::run_migrations(database_url).await {
        Ok(applied) if applied.is_empty() => {
            println!("migrations: database is up to date");
            ExitCode::SUCCESS
        }
        Ok(applied) => {
            for name in applied {
                println!("migrations: applied {name}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("migrations failed: {}", files_core::error::error_chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}
