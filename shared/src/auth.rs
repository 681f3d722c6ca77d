//! Who is calling. In the cloud the API Gateway JWT authorizer has verified the token and put
//! its claims in the request context; locally a bearer JWT is verified with a shared secret.
//! No caller, no access.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde::{Deserialize, Serialize};

use crate::config::{AuthMode, AuthSettings};

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's `sub`.
    pub user_id: String,
    /// The organization the caller acts for (the `AUTH_ORG_CLAIM` claim).
    pub org_id: String,
    /// The token's `roles`.
    pub roles: Vec<String>,
}

impl Caller {
    /// Whether the caller has the `admin` role (may delete any file of its organization).
    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r == "admin")
    }
}

/// Why a request has no valid caller. Messages are safe to return.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// No credentials at all.
    #[error("Authentication is required.")]
    Missing,
    /// The token is malformed, badly signed or expired.
    #[error("The bearer token is invalid or expired.")]
    InvalidToken,
    /// A required claim is missing or empty.
    #[error("The token lacks the `{0}` claim.")]
    MissingClaim(String),
}

/// The claims of a development token.
#[derive(Debug, Serialize, Deserialize)]
pub struct LocalClaims {
    /// The user id.
    pub sub: String,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Roles such as `admin`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// The remaining claims, among them the organization claim.
    #[serde(flatten)]
    pub extra: HashMap<String, serde_json::Value>,
}

/// Clock skew allowed on `exp` and `nbf` of local tokens, in seconds.
pub const LEEWAY_SECONDS: u64 = 5;

/// Turns a request into a [`Caller`], per `AUTH_MODE`. Built once per cold start.
pub struct Authenticator {
    org_claim: String,
    local: Option<(DecodingKey, Validation)>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("org_claim", &self.org_claim)
            .field("local_jwt", &self.local.is_some())
            .finish()
    }
}

impl Authenticator {
    /// Builds the authenticator for `settings`.
    pub fn new(settings: &AuthSettings) -> Self {
        let local = match &settings.mode {
            AuthMode::ApiGateway => None,
            AuthMode::LocalJwt { secret } => {
                let mut validation = Validation::new(Algorithm::HS256);
                validation.set_required_spec_claims(&["exp", "sub"]);
                // `nbf` is checked when present, with the same leeway as `exp`.
                validation.validate_nbf = true;
                validation.leeway = LEEWAY_SECONDS;
                Some((DecodingKey::from_secret(secret.expose().as_bytes()), validation))
            }
        };
        Self { org_claim: settings.org_claim.clone(), local }
    }

    /// The caller of `request`.
    ///
    /// # Errors
    /// [`AuthError`] when there are no credentials, they are invalid, or a claim is missing.
    pub fn authenticate(&self, request: &Request) -> Result<Caller, AuthError> {
        match &self.local {
            Some((key, validation)) => self.caller_from_bearer(request, key, validation),
            None => self.caller_from_authorizer(request),
        }
    }

    fn caller_from_bearer(
        &self,
        request: &Request,
        key: &DecodingKey,
        validation: &Validation,
    ) -> Result<Caller, AuthError> {
        let header = request
            .headers()
            .get(http_header::AUTHORIZATION)
            .ok_or(AuthError::Missing)?
            .to_str()
            .map_err(|_| AuthError::InvalidToken)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or(AuthError::InvalidToken)?
            .trim();
        hs256::install();
        let data = jsonwebtoken::decode::<LocalClaims>(token, key, validation).map_err(|_| AuthError::InvalidToken)?;
        let claims = data.claims;
        let org_id = match claims.extra.get(&self.org_claim) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        caller(claims.sub, org_id, claims.roles, &self.org_claim)
    }

    fn caller_from_authorizer(&self, request: &Request) -> Result<Caller, AuthError> {
        let claims = match request.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(ctx)) => {
                ctx.authorizer.as_ref().and_then(|a| a.jwt.as_ref()).map(|jwt| jwt.claims.clone())
            }
            _ => None,
        }
        .ok_or(AuthError::Missing)?;
        let get = |name: &str| claims.get(name).cloned().unwrap_or_default();
        let roles = claims.get("roles").map(|r| parse_roles(r)).unwrap_or_default();
        caller(get("sub"), get(&self.org_claim), roles, &self.org_claim)
    }
}

fn caller(user_id: String, org_id: String, roles: Vec<String>, org_claim: &str) -> Result<Caller, AuthError> {
    if user_id.trim().is_empty() {
        return Err(AuthError::MissingClaim("sub".to_owned()));
    }
    if org_id.trim().is_empty() {
        return Err(AuthError::MissingClaim(org_claim.to_owned()));
    }
    Ok(Caller { user_id, org_id, roles })
}

/// API Gateway flattens array claims to a string: `[admin editor]` from a JWT array, or a JSON
/// array when the issuer put one in a string claim. Both are accepted.
fn parse_roles(raw: &str) -> Vec<String> {
    if let Ok(list) = serde_json::from_str::<Vec<String>>(raw) {
        return list;
    }
    raw.trim_start_matches('[')
        .trim_end_matches(']')
        .split([' ', ','])
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Signs a development token (HS256) for `make token`.
///
/// # Errors
/// Only if the JWT library fails to encode, which it does not for these claims.
pub fn issue_local_token(
    secret: &str,
    org_claim: &str,
    user_id: &str,
    org_id: &str,
    roles: &[String],
    ttl_seconds: i64,
) -> Result<String, jsonwebtoken::errors::Error> {
    let mut extra = HashMap::new();
    extra.insert(org_claim.to_owned(), serde_json::Value::String(org_id.to_owned()));
    let claims = LocalClaims {
        sub: user_id.to_owned(),
        exp: chrono::Utc::now().timestamp() + ttl_seconds,
        roles: roles.to_vec(),
        extra,
    };
    hs256::install();
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes()))
}

/// jsonwebtoken's cryptography, HS256 only. The crate's own providers (`rust_crypto`,
/// `aws_lc_rs`) bring every algorithm, RSA and elliptic curves included, into every function
/// binary because the algorithm is picked at run time; development tokens only ever use HS256
/// (production tokens are verified by API Gateway). This plugs HMAC-SHA-256 from the `hmac` and
/// `sha2` crates into the crate's documented `CryptoProvider` hook: parsing, claims validation
/// and constant-time comparison stay the crate's and `hmac`'s. Any other algorithm is refused
/// (and `Validation` only admits HS256 anyway).
mod hs256 {
    use hmac::{Hmac, Mac};
    use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
    use jsonwebtoken::errors::{ErrorKind, Result};
    use jsonwebtoken::signature::{self, Signer, Verifier};
    use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
    use sha2::Sha256;

    type HmacSha256 = Hmac<Sha256>;

    struct Hs256(HmacSha256);

    impl Hs256 {
        fn new(secret: &[u8]) -> Result<Self> {
            HmacSha256::new_from_slice(secret).map(Self).map_err(|_| ErrorKind::InvalidKeyFormat.into())
        }
    }

    impl Signer<Vec<u8>> for Hs256 {
        fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
            let mut mac = self.0.clone();
            mac.update(msg);
            Ok(mac.finalize().into_bytes().to_vec())
        }
    }

    impl Verifier<Vec<u8>> for Hs256 {
        fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> std::result::Result<(), signature::Error> {
            let mut mac = self.0.clone();
            mac.update(msg);
            mac.verify_slice(signature).map_err(signature::Error::from_source)
        }
    }

    impl JwtSigner for Hs256 {
        fn algorithm(&self) -> Algorithm {
            Algorithm::HS256
        }
    }

    impl JwtVerifier for Hs256 {
        fn algorithm(&self) -> Algorithm {
            Algorithm::HS256
        }
    }

    fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
        match algorithm {
            Algorithm::HS256 => Ok(Box::new(Hs256::new(key.try_get_hmac_secret()?)?)),
            _ => Err(ErrorKind::InvalidAlgorithm.into()),
        }
    }

    fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
        match algorithm {
            Algorithm::HS256 => Ok(Box::new(Hs256::new(key.try_get_hmac_secret()?)?)),
            _ => Err(ErrorKind::InvalidAlgorithm.into()),
        }
    }

    static PROVIDER: CryptoProvider =
        CryptoProvider { signer_factory: signer, verifier_factory: verifier, jwk_utils: JwkUtils::new_unimplemented() };

    /// Makes HS256 the process's provider; safe to call again.
    pub(super) fn install() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // Err only when a provider is already installed, which is as good.
            let _ = PROVIDER.install_default();
        });
    }
}

use lambda_http::http::header as http_header;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    const SECRET: &str = "test-secret-test-secret-test-secret!";

    fn local() -> Authenticator {
        Authenticator::new(&AuthSettings {
            mode: AuthMode::LocalJwt { secret: Secret::new(SECRET) },
            org_claim: "org_id".into(),
        })
    }

    fn with_bearer(token: &str) -> Request {
        lambda_http::http::Request::builder()
            .header("authorization", format!("Bearer {token}"))
            .body(lambda_http::Body::Empty)
            .unwrap()
    }

    #[test]
    fn a_valid_local_token_yields_the_caller() {
        let token = issue_local_token(SECRET, "org_id", "u1", "o1", &["admin".into()], 60).unwrap();
        let caller = local().authenticate(&with_bearer(&token)).unwrap();
        assert_eq!(caller, Caller { user_id: "u1".into(), org_id: "o1".into(), roles: vec!["admin".into()] });
        assert!(caller.is_admin());
    }

    #[test]
    fn expired_forged_or_missing_tokens_are_refused() {
        let expired = issue_local_token(SECRET, "org_id", "u1", "o1", &[], -60).unwrap();
        assert_eq!(local().authenticate(&with_bearer(&expired)), Err(AuthError::InvalidToken));
        let forged = issue_local_token("another-secret-another-secret-another", "org_id", "u1", "o1", &[], 60).unwrap();
        assert_eq!(local().authenticate(&with_bearer(&forged)), Err(AuthError::InvalidToken));
        let no_org = issue_local_token(SECRET, "tenant", "u1", "o1", &[], 60).unwrap();
        assert_eq!(local().authenticate(&with_bearer(&no_org)), Err(AuthError::MissingClaim("org_id".into())));
        let bare = lambda_http::http::Request::builder().body(lambda_http::Body::Empty).unwrap();
        assert_eq!(local().authenticate(&bare), Err(AuthError::Missing));
        assert_eq!(local().authenticate(&with_bearer("a.b.c")), Err(AuthError::InvalidToken));
    }

    fn token_not_before(offset_seconds: i64) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut extra = HashMap::new();
        extra.insert("org_id".to_owned(), serde_json::Value::from("o1"));
        extra.insert("nbf".to_owned(), serde_json::Value::from(now + offset_seconds));
        let claims = LocalClaims { sub: "u1".into(), exp: now + 600, roles: Vec::new(), extra };
        hs256::install();
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(SECRET.as_bytes()))
            .unwrap()
    }

    #[test]
    fn a_token_is_refused_before_its_nbf_beyond_the_leeway() {
        let leeway = i64::try_from(LEEWAY_SECONDS).unwrap();
        for future in [leeway + 2, 60, 3600, 365 * 86400] {
            let token = token_not_before(future);
            assert_eq!(local().authenticate(&with_bearer(&token)), Err(AuthError::InvalidToken), "nbf +{future}s");
        }
        for past_or_near in [-3600, -1, 0, leeway - 2] {
            let token = token_not_before(past_or_near);
            assert!(local().authenticate(&with_bearer(&token)).is_ok(), "nbf {past_or_near:+}s");
        }
    }

    #[test]
    fn roles_parse_from_both_api_gateway_shapes() {
        assert_eq!(parse_roles("[admin editor]"), vec!["admin", "editor"]);
        assert_eq!(parse_roles(r#"["admin","editor"]"#), vec!["admin", "editor"]);
        assert!(parse_roles("[]").is_empty());
    }
}
