//! TLS to PostgreSQL: libpq's `sslmode` values over rustls (on ring), through
//! tokio-postgres-rustls. tokio-postgres itself knows `disable`, `prefer` and `require` and
//! leaves the certificate to the connector; `verify-ca`, `verify-full` and `sslrootcert` are
//! taken off the connection string here and become the connector's certificate verifier:
//!
//! | mode | encrypted | certificate |
//! |---|---|---|
//! | `disable` | no | - |
//! | `prefer` | when the server offers it | not checked |
//! | `require` | always | not checked (checked as `verify-ca` when root certificates are named) |
//! | `verify-ca` | always | chains to a trusted root |
//! | `verify-full` | always | chains to a trusted root and names the host |

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::config::{ConfigError, DatabaseTls, RootCerts, SslMode};

include!(concat!(env!("OUT_DIR"), "/rds_ca.rs"));

/// The TLS a connection is made with, resolved from the connection string and the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// The effective mode.
    pub mode: SslMode,
    /// The roots a certificate must chain to (unused by the modes that do not check).
    pub roots: RootCerts,
}

impl Tls {
    /// What `url_params` (the connection string's own, which win) and `settings` ask for.
    fn resolve(url_params: Params, settings: &DatabaseTls) -> Self {
        let named = url_params.root_cert.or_else(|| settings.root_cert.clone());
        let mode = url_params.mode.or(settings.mode).unwrap_or(SslMode::Prefer);
        // libpq: `require` with a root certificate named behaves as `verify-ca`.
        let mode = if mode == SslMode::Require && named.is_some() { SslMode::VerifyCa } else { mode };
        Self { mode, roots: named.unwrap_or(RootCerts::Bundled) }
    }

    /// The connector for this mode. Only the checking modes read root certificates.
    ///
    /// # Errors
    /// A [`TlsSetupError`] when the root certificates cannot be read or hold none.
    pub fn connector(&self) -> Result<MakeRustlsConnect, TlsSetupError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> = match self.mode {
            SslMode::Disable | SslMode::Prefer | SslMode::Require => {
                Arc::new(Verifier { chain: None, provider: provider.clone() })
            }
            SslMode::VerifyCa | SslMode::VerifyFull => {
                let roots = Arc::new(self.root_store()?);
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                    .build()
                    .map_err(|e| self.setup_error(e.to_string()))?;
                if self.mode == SslMode::VerifyFull {
                    webpki
                } else {
                    Arc::new(Verifier { chain: Some(webpki), provider: provider.clone() })
                }
            }
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| self.setup_error(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }

    fn root_store(&self) -> Result<RootCertStore, TlsSetupError> {
        let certs: Vec<CertificateDer<'static>> = match &self.roots {
            RootCerts::Bundled => RDS_CA.iter().map(|der| CertificateDer::from(*der)).collect(),
            RootCerts::System => {
                let found = rustls_native_certs::load_native_certs();
                if found.certs.is_empty() {
                    let why = found.errors.first().map_or_else(|| "none found".to_owned(), ToString::to_string);
                    return Err(self.setup_error(format!("the system trust store: {why}")));
                }
                found.certs
            }
            RootCerts::File(path) => CertificateDer::pem_file_iter(path)
                .and_then(Iterator::collect)
                .map_err(|e| self.setup_error(format!("{} is not a readable PEM file: {e}", path.display())))?,
        };
        let mut store = RootCertStore::empty();
        let (added, _ignored) = store.add_parsable_certificates(certs);
        if added == 0 {
            return Err(self.setup_error("no usable certificate among the root certificates".to_owned()));
        }
        Ok(store)
    }

    fn setup_error(&self, reason: String) -> TlsSetupError {
        TlsSetupError { tls: self.clone(), reason }
    }

    /// The failed connection `source` with the TLS it was made with, when it failed in the TLS
    /// handshake (a refused or unverifiable certificate, a server without TLS); `None` for any
    /// other failure.
    pub(super) fn failure(&self, source: &tokio_postgres::Error) -> Option<TlsFailure> {
        // tokio-postgres does not expose its error kinds; the kind's own message is stable.
        (source.to_string() == "error performing TLS handshake")
            .then(|| TlsFailure { tls: self.clone(), cause: crate::telemetry::error_chain(source) })
    }
}

impl fmt::Display for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sslmode={}", self.mode.as_str())?;
        if matches!(self.mode, SslMode::VerifyCa | SslMode::VerifyFull) {
            match &self.roots {
                RootCerts::Bundled => f.write_str(", root certificates: the built-in Amazon RDS CA bundle"),
                RootCerts::System => f.write_str(", root certificates: the system trust store"),
                RootCerts::File(path) => write!(f, ", root certificates: {}", path.display()),
            }?;
        }
        Ok(())
    }
}

/// Root certificates that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("TLS to the database cannot be set up ({tls}): {reason}")]
pub struct TlsSetupError {
    tls: Tls,
    reason: String,
}

/// A connection that failed in its TLS handshake.
#[derive(Debug, thiserror::Error)]
#[error("TLS to the database failed ({tls}): {cause}")]
pub struct TlsFailure {
    tls: Tls,
    cause: String,
}

/// A connection string split into what tokio-postgres parses and the TLS it asks for.
///
/// # Errors
/// A [`ConfigError`] naming `DATABASE_URL` when the string (without its TLS parameters) is not
/// a PostgreSQL connection string or its `sslmode` is not one of libpq's.
pub fn parse(url: &str, settings: &DatabaseTls) -> Result<(tokio_postgres::Config, Tls), ConfigError> {
    let (rest, params) = split_tls_params(url)?;
    let mut config: tokio_postgres::Config =
        rest.parse().map_err(|_| ConfigError::new("DATABASE_URL", "is not a valid PostgreSQL connection string"))?;
    let tls = Tls::resolve(params, settings);
    apply(&mut config, &tls);
    Ok((config, tls))
}

/// Sets tokio-postgres's own mode for `tls` (the checking modes are `require` to it).
pub(super) fn apply(config: &mut tokio_postgres::Config, tls: &Tls) {
    config.ssl_mode(match tls.mode {
        SslMode::Disable => tokio_postgres::config::SslMode::Disable,
        SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => tokio_postgres::config::SslMode::Require,
    });
}

/// The TLS that a settings-only connection (Secrets Manager) is made with.
#[must_use]
pub fn from_settings(settings: &DatabaseTls) -> Tls {
    Tls::resolve(Params::default(), settings)
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Params {
    mode: Option<SslMode>,
    root_cert: Option<RootCerts>,
}

impl Params {
    /// Takes `key=value` when it is a TLS parameter; false for any other key.
    fn take(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
        match key {
            "sslmode" => {
                self.mode =
                    Some(SslMode::parse(value).ok_or_else(|| {
                        ConfigError::new("DATABASE_URL", format!("has an unknown sslmode `{value}`"))
                    })?);
            }
            "sslrootcert" => self.root_cert = Some(RootCerts::parse(value)),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// The connection string without `sslmode` and `sslrootcert`, and their values. Both of
/// libpq's forms: a URI (`postgres://…?sslmode=verify-full`) and `key=value` pairs. Written
/// here because no maintained crate parses libpq connection strings apart from connecting.
fn split_tls_params(url: &str) -> Result<(String, Params), ConfigError> {
    let mut params = Params::default();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else { return Ok((url.to_owned(), params)) };
        let mut kept = Vec::new();
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
            if !params.take(key, &value)? {
                kept.push(pair);
            }
        }
        let rest = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
        return Ok((rest, params));
    }
    let mut kept = Vec::new();
    for (key, value, raw) in key_values(url) {
        if !params.take(key, &value)? {
            kept.push(raw);
        }
    }
    Ok((kept.join(" "), params))
}

/// The `key=value` pairs of a libpq key/value connection string: (key, unescaped value, the
/// pair as written). Values may be single-quoted, with `\'` and `\\` escapes.
fn key_values(s: &str) -> Vec<(&str, String, &str)> {
    let mut pairs = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let start = rest;
        let key_end = rest.find(|c: char| c == '=' || c.is_whitespace()).unwrap_or(rest.len());
        let key = &rest[..key_end];
        let after_key = rest[key_end..].trim_start();
        let Some(after_eq) = after_key.strip_prefix('=') else {
            // A word that is not a pair: kept as written, for the parser to refuse.
            pairs.push((key, String::new(), key));
            rest = after_key;
            continue;
        };
        rest = after_eq.trim_start();
        let (value, used) = value_of(rest);
        rest = &rest[used..];
        let raw_len = start.len() - rest.len();
        pairs.push((key, value, &start[..raw_len]));
        rest = rest.trim_start();
    }
    pairs
}

/// One value at the start of `s` and the bytes it spans.
fn value_of(s: &str) -> (String, usize) {
    let mut value = String::new();
    let quoted = s.starts_with('\'');
    let mut chars = s.char_indices().skip(usize::from(quoted));
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    value.push(escaped);
                }
            }
            '\'' if quoted => return (value, i + 1),
            c if c.is_whitespace() && !quoted => return (value, i),
            c => value.push(c),
        }
    }
    (value, s.len())
}

/// For `verify-ca` (`chain`: the chain must verify, the name need not match) and for `prefer`
/// and `require` (no `chain`: the certificate is taken as it comes, libpq's meaning of those
/// modes). The handshake's signatures are verified either way.
#[derive(Debug)]
struct Verifier {
    chain: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else { return Ok(ServerCertVerified::assertion()) };
        // The name is checked after the chain, so a name error means the chain verified.
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn settings(mode: Option<SslMode>, root_cert: Option<RootCerts>) -> DatabaseTls {
        DatabaseTls { mode, root_cert }
    }

    #[test]
    fn the_url_wins_over_the_settings_and_prefer_is_the_default() {
        let (_, tls) = parse("postgres://u@h/db?sslmode=verify-full", &settings(Some(SslMode::Disable), None)).unwrap();
        assert_eq!(tls, Tls { mode: SslMode::VerifyFull, roots: RootCerts::Bundled });
        let (_, tls) = parse("postgres://u@h/db", &settings(Some(SslMode::VerifyCa), None)).unwrap();
        assert_eq!(tls.mode, SslMode::VerifyCa);
        let (_, tls) = parse("postgres://u@h/db", &DatabaseTls::default()).unwrap();
        assert_eq!(tls.mode, SslMode::Prefer);
        let (_, tls) = parse("host=h sslrootcert='/a b/ca.pem' sslmode=require", &DatabaseTls::default()).unwrap();
        assert_eq!(tls, Tls { mode: SslMode::VerifyCa, roots: RootCerts::File("/a b/ca.pem".into()) });
        let (_, tls) =
            parse("postgres://h/db?sslrootcert=system&sslmode=verify-full", &DatabaseTls::default()).unwrap();
        assert_eq!(tls.roots, RootCerts::System);
    }

    #[test]
    fn the_other_parameters_reach_tokio_postgres() {
        let (config, _) = parse(
            "postgres://app:pw@db.example:6432/files?sslmode=verify-full&application_name=x%20y&connect_timeout=3",
            &DatabaseTls::default(),
        )
        .unwrap();
        assert_eq!(config.get_dbname(), Some("files"));
        assert_eq!(config.get_application_name(), Some("x y"));
        assert_eq!(config.get_ports(), &[6432]);
        assert_eq!(config.get_ssl_mode(), tokio_postgres::config::SslMode::Require);
        let (config, _) =
            parse("host=db port=6432 sslmode=disable password='it\\'s' dbname = files", &DatabaseTls::default())
                .unwrap();
        assert_eq!(config.get_dbname(), Some("files"));
        assert_eq!(config.get_ssl_mode(), tokio_postgres::config::SslMode::Disable);
    }

    #[test]
    fn an_unknown_sslmode_is_a_configuration_error() {
        for url in ["postgres://h/db?sslmode=allow-all", "host=h sslmode=strict"] {
            let err = parse(url, &DatabaseTls::default()).unwrap_err();
            assert!(err.to_string().contains("sslmode"), "{err}");
        }
    }

    #[test]
    fn the_bundled_roots_parse() {
        let store = Tls { mode: SslMode::VerifyFull, roots: RootCerts::Bundled }.root_store().unwrap();
        assert_eq!(store.len(), RDS_CA.len());
        assert!(RDS_CA.len() > 100, "every region's roots and intermediates");
    }

    #[test]
    fn a_missing_root_file_is_a_setup_error_that_names_it() {
        let tls = Tls { mode: SslMode::VerifyFull, roots: RootCerts::File("/nonexistent/ca.pem".into()) };
        let err = tls.connector().err().unwrap().to_string();
        assert!(err.contains("/nonexistent/ca.pem") && err.contains("sslmode=verify-full"), "{err}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Any string: no panic; a key/value string's other pairs survive as written.
        #[test]
        fn splitting_never_panics(s in any::<String>()) {
            let _ = split_tls_params(&s);
        }

        /// (An empty unquoted value would take the next word, as in libpq, so values are not empty.)
        #[test]
        fn key_value_pairs_survive(
            pairs in proptest::collection::vec(("[a-z_]{1,12}", "[^'\\\\\\s]{1,12}|'[^'\\\\]{0,12}'"), 0..6),
            mode in proptest::sample::select(SslMode::ALL.to_vec()),
        ) {
            let kept: Vec<String> = pairs.iter()
                .filter(|(k, _)| k != "sslmode" && k != "sslrootcert")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let with_tls = format!("{} sslmode={}", kept.join(" "), mode.0);
            let (rest, params) = split_tls_params(&with_tls).unwrap();
            prop_assert_eq!(rest, kept.join(" "));
            prop_assert_eq!(params.mode, Some(mode.1));
        }
    }
}
