//! The AWS SDK configuration shared by the clients of one cold start. Loading it touches no
//! network when a region is known; credentials are resolved on first use.

use std::sync::OnceLock;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_s3::config::{Region, SharedHttpClient};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};

use crate::config::Settings;

/// The SDK configuration for `settings`: the S3 region (or `region`, or the default chain's),
/// and explicit credentials when the settings carry them (otherwise the default chain).
pub async fn sdk_config(settings: &Settings, region: Option<String>) -> SdkConfig {
    let s3 = settings.s3.as_ref();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http_client());
    if let Some(region) = region.or_else(|| s3.and_then(|s| s.region.clone())) {
        loader = loader.region(Region::new(region));
    }
    if let Some(c) = s3.and_then(|s| s.credentials.as_ref()) {
        loader = loader.credentials_provider(Credentials::new(
            c.access_key_id.clone(),
            c.secret_access_key.expose().to_owned(),
            c.session_token.as_ref().map(|t| t.expose().to_owned()),
            None,
            "settings",
        ));
    }
    loader.load().await
}

/// The HTTP client of every AWS SDK client in the process (built once): hyper 1 with rustls on
/// ring and the system's root certificates. The SDK's default client would link a second
/// cryptography library (aws-lc) beside the ring that reqwest already brings.
pub fn http_client() -> SharedHttpClient {
    static CLIENT: OnceLock<SharedHttpClient> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
        })
        .clone()
}

/// The region of an ARN (`arn:aws:secretsmanager:eu-west-1:123456789012:secret:db`).
pub fn region_of_arn(arn: &str) -> Option<String> {
    arn.split(':').nth(3).filter(|r| !r.is_empty()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_region_comes_from_the_arn() {
        assert_eq!(
            super::region_of_arn("arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(super::region_of_arn("db-secret"), None);
    }
}
