//! The database section: where the connection comes from, TLS, pool size and timeout.

use std::path::PathBuf;
use std::time::Duration;

use super::{parse_number, ConfigError, Lookup, Secret};

/// Where the database's address and credentials come from.
#[derive(Clone)]
pub enum DatabaseSource {
    /// `DB_SECRET_ARN`: a Secrets Manager secret in the RDS JSON format, read on first use;
    /// preferred over `DATABASE_URL` when both are set.
    SecretsManager {
        /// The secret's ARN.
        arn: String,
    },
    /// `DATABASE_URL` (parsed by the pool that uses it, so functions without a database never
    /// link the parser).
    Url(Secret),
    /// Neither: the functions that use the database refuse to start.
    Unset,
}

impl std::fmt::Debug for DatabaseSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SecretsManager { arn } => f.debug_struct("SecretsManager").field("arn", arn).finish(),
            Self::Url(_) => f.write_str("Url([redacted])"),
            Self::Unset => f.write_str("Unset"),
        }
    }
}

/// libpq's `sslmode`: whether the connection to PostgreSQL is encrypted, and what of the
/// server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, plain otherwise; the certificate is not checked.
    Prefer,
    /// TLS or no connection; the certificate is not checked (unless root certificates are
    /// named, when it is `VerifyCa`, as in libpq).
    Require,
    /// TLS, and the certificate chains to a trusted root.
    VerifyCa,
    /// TLS, the certificate chains to a trusted root and names the host connected to.
    VerifyFull,
}

impl SslMode {
    /// Every mode with its libpq name.
    pub const ALL: [(&'static str, Self); 5] = [
        ("disable", Self::Disable),
        ("prefer", Self::Prefer),
        ("require", Self::Require),
        ("verify-ca", Self::VerifyCa),
        ("verify-full", Self::VerifyFull),
    ];

    /// The mode named `name` (libpq's spelling).
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, m)| *m)
    }

    /// libpq's name of the mode.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(_, m)| *m == self).map_or("prefer", |(n, _)| n)
    }
}

/// The certificates a PostgreSQL server's certificate must chain to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCerts {
    /// The Amazon RDS CA bundle built into the binary (every region's roots and intermediates).
    Bundled,
    /// The operating system's trust store (`system`, as libpq's `sslrootcert=system`).
    System,
    /// A PEM file of one or more certificates.
    File(PathBuf),
}

impl RootCerts {
    /// `system`, `rds` (the bundled Amazon RDS CAs), or a path to a PEM file.
    #[must_use]
    pub fn parse(raw: &str) -> Self {
        match raw {
            "system" => Self::System,
            "rds" => Self::Bundled,
            path => Self::File(path.into()),
        }
    }
}

/// TLS to PostgreSQL: settings that apply to both database sources. A `DATABASE_URL`'s own
/// `sslmode` and `sslrootcert` parameters take precedence, as in libpq.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatabaseTls {
    /// `DATABASE_SSL_MODE`; `prefer` (libpq's default) when neither it nor the URL says.
    pub mode: Option<SslMode>,
    /// `DATABASE_SSL_ROOT_CERT`; the bundled Amazon RDS CAs when neither it nor the URL says.
    pub root_cert: Option<RootCerts>,
}

impl DatabaseTls {
    pub(super) fn parse(get: &impl Lookup) -> Result<Self, ConfigError> {
        let mode = match get("DATABASE_SSL_MODE") {
            None => None,
            Some(raw) => Some(SslMode::parse(&raw).ok_or_else(|| {
                ConfigError::new(
                    "DATABASE_SSL_MODE",
                    format!("expected disable, prefer, require, verify-ca or verify-full, got `{raw}`"),
                )
            })?),
        };
        let root_cert = get("DATABASE_SSL_ROOT_CERT").filter(|v| !v.is_empty()).map(|v| RootCerts::parse(&v));
        Ok(Self { mode, root_cert })
    }

    /// Reads `DATABASE_SSL_MODE` and `DATABASE_SSL_ROOT_CERT` from the process environment
    /// (tools that take a database URL of their own).
    ///
    /// # Errors
    /// A [`ConfigError`] for a mode that is not one of libpq's.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::parse(&|name: &'static str| std::env::var(name).ok())
    }
}

/// Database settings.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// Where the connection comes from.
    pub source: DatabaseSource,
    /// TLS to the server.
    pub tls: DatabaseTls,
    /// `DATABASE_POOL_SIZE`: connections per instance (a Lambda instance serves one request at a time).
    pub pool_size: usize,
    /// `DATABASE_TIMEOUT_SECONDS`: connect and pool-wait timeout, after which the request gets 503.
    pub timeout: Duration,
}

impl DatabaseSettings {
    pub(super) fn parse(get: &impl Lookup) -> Result<Self, ConfigError> {
        let source = match (get("DB_SECRET_ARN"), get("DATABASE_URL")) {
            (Some(arn), _) => DatabaseSource::SecretsManager { arn },
            (None, Some(url)) => DatabaseSource::Url(Secret::new(url)),
            (None, None) => DatabaseSource::Unset,
        };
        let settings = Self {
            source,
            tls: DatabaseTls::parse(get)?,
            pool_size: parse_number(get, "DATABASE_POOL_SIZE", 2)?,
            timeout: Duration::from_secs(parse_number(get, "DATABASE_TIMEOUT_SECONDS", 5)?),
        };
        if settings.pool_size == 0 {
            return Err(ConfigError::new("DATABASE_POOL_SIZE", "must be at least 1"));
        }
        Ok(settings)
    }
}
