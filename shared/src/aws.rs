//! The AWS SDK configuration shared by the clients of one cold start. Building it touches no
//! network; credentials are resolved on first use.
//!
//! A Lambda function finds everything it needs in its environment: `AWS_REGION` and the
//! execution role's `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, valid for
//! the life of the instance. So the functions read the environment only
//! ([`environment_config`]) and never link aws-config's default provider chain (shared config
//! and credential files, `role_arn` through STS, web identity, the ECS and EC2 metadata
//! endpoints): that chain is about 0.5 MB of every binary. Tools run by people and pipelines
//! (files-admin) call [`use_default_provider_chain`] first and get the whole chain, profiles
//! included.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_s3::config::{Region, SharedHttpClient};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};

use crate::config::S3Settings;

type Loader =
    for<'a> fn(Option<&'a S3Settings>, Option<String>) -> Pin<Box<dyn Future<Output = SdkConfig> + Send + 'a>>;

/// Set by [`use_default_provider_chain`]; a function pointer, so that only the executables that
/// call it link the chain.
static DEFAULT_CHAIN: OnceLock<Loader> = OnceLock::new();

/// From now on, [`sdk_config`] looks for the region and credentials the settings do not give
/// with aws-config's default chain (environment, `AWS_PROFILE` and the shared files, web
/// identity, container and instance metadata) instead of the environment only. For tools, once
/// at start-up; the functions never call it.
pub fn use_default_provider_chain() {
    fn load<'a>(
        settings: Option<&'a S3Settings>,
        region: Option<String>,
    ) -> Pin<Box<dyn Future<Output = SdkConfig> + Send + 'a>> {
        Box::pin(default_chain_config(settings, region))
    }
    // A second call finds the same loader in place.
    let _ = DEFAULT_CHAIN.set(load);
}

/// The SDK configuration for the S3 settings (when the backend is S3): the region is `region`,
/// else the S3 region of the settings, else the environment's (or the default chain's); the
/// credentials are the explicit ones of the settings, else the environment's (or the default
/// chain's).
pub async fn sdk_config(settings: Option<&S3Settings>, region: Option<String>) -> SdkConfig {
    match DEFAULT_CHAIN.get() {
        Some(load) => load(settings, region).await,
        None => environment_config(settings, region, |name| std::env::var(name).ok()),
    }
}

/// The configuration of a Lambda function, from `settings` and the environment read through
/// `env`: region from `AWS_REGION` or `AWS_DEFAULT_REGION`, credentials from `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` (read when first needed), and the endpoint
/// switches `AWS_ENDPOINT_URL`, `AWS_USE_FIPS_ENDPOINT` and `AWS_USE_DUALSTACK_ENDPOINT`.
pub fn environment_config(
    settings: Option<&S3Settings>,
    region: Option<String>,
    env: impl Fn(&str) -> Option<String>,
) -> SdkConfig {
    let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let flag = |name: &str| set(name).map(|v| v.trim().eq_ignore_ascii_case("true"));
    let region = settings_region(settings, region).or_else(|| set("AWS_REGION")).or_else(|| set("AWS_DEFAULT_REGION"));
    let credentials = explicit_credentials(settings).unwrap_or_else(|| {
        SharedCredentialsProvider::new(aws_config::environment::EnvironmentVariableCredentialsProvider::new())
    });
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(http_client())
        .region(region.map(Region::new))
        .credentials_provider(credentials);
    builder.set_endpoint_url(set("AWS_ENDPOINT_URL"));
    builder.set_use_fips(flag("AWS_USE_FIPS_ENDPOINT"));
    builder.set_use_dual_stack(flag("AWS_USE_DUALSTACK_ENDPOINT"));
    builder.build()
}

/// The configuration with aws-config's default chain for what `settings` leave open.
async fn default_chain_config(settings: Option<&S3Settings>, region: Option<String>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http_client());
    if let Some(region) = settings_region(settings, region) {
        loader = loader.region(Region::new(region));
    }
    if let Some(credentials) = explicit_credentials(settings) {
        loader = loader.credentials_provider(credentials);
    }
    loader.load().await
}

/// The region asked for, else the S3 region of the settings.
fn settings_region(settings: Option<&S3Settings>, asked: Option<String>) -> Option<String> {
    asked.or_else(|| settings.and_then(|s| s.region.clone()))
}

/// The credentials the settings carry (`AWS_ACCESS_KEY_ID` and friends with the S3 backend).
fn explicit_credentials(settings: Option<&S3Settings>) -> Option<SharedCredentialsProvider> {
    let c = settings?.credentials.as_ref()?;
    Some(SharedCredentialsProvider::new(Credentials::new(
        c.access_key_id.clone(),
        c.secret_access_key.expose().to_owned(),
        c.session_token.as_ref().map(|t| t.expose().to_owned()),
        None,
        "settings",
    )))
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
    use aws_credential_types::provider::ProvideCredentials;

    use super::environment_config;
    use crate::config::tests::{settings, LOCAL};
    use crate::config::Settings;

    fn s3(pairs: &[(&str, &str)]) -> Settings {
        let mut all = vec![("FILE_STORAGE_BACKEND", "s3"), ("AWS_S3_BUCKET_NAME", "files")];
        all.extend_from_slice(pairs);
        settings(&all).expect("s3 settings")
    }

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn a_function_takes_region_and_endpoint_switches_from_its_environment() {
        let local = settings(LOCAL).expect("local settings");
        let config = environment_config(
            local.storage.s3(),
            None,
            env(&[
                ("AWS_REGION", "eu-north-1"),
                ("AWS_DEFAULT_REGION", "us-west-2"),
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
                ("AWS_USE_FIPS_ENDPOINT", "true"),
                ("AWS_USE_DUALSTACK_ENDPOINT", "false"),
            ]),
        );
        assert_eq!(config.region().map(ToString::to_string).as_deref(), Some("eu-north-1"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:4566"));
        assert_eq!(config.use_fips(), Some(true));
        assert_eq!(config.use_dual_stack(), Some(false));

        let config = environment_config(
            local.storage.s3(),
            None,
            env(&[("AWS_REGION", " "), ("AWS_DEFAULT_REGION", "us-west-2")]),
        );
        assert_eq!(config.region().map(ToString::to_string).as_deref(), Some("us-west-2"), "blank AWS_REGION");
        assert_eq!((config.endpoint_url(), config.use_fips()), (None, None));

        assert!(environment_config(local.storage.s3(), None, env(&[])).region().is_none(), "no region anywhere");
    }

    #[test]
    fn the_region_asked_for_wins_then_the_buckets_then_the_environments() {
        let s3 = s3(&[("AWS_S3_REGION_NAME", "ap-south-1")]);
        let environment = env(&[("AWS_REGION", "eu-north-1")]);
        let region = |asked: Option<&str>| {
            environment_config(s3.storage.s3(), asked.map(str::to_owned), &environment)
                .region()
                .map(ToString::to_string)
        };
        assert_eq!(region(Some("eu-west-1")).as_deref(), Some("eu-west-1"));
        assert_eq!(region(None).as_deref(), Some("ap-south-1"));
    }

    #[tokio::test]
    async fn credentials_in_the_settings_are_used_as_given() {
        let s3 = s3(&[
            ("AWS_ACCESS_KEY_ID", "AKIDSETTINGS"),
            ("AWS_SECRET_ACCESS_KEY", "settings-secret"),
            ("AWS_SESSION_TOKEN", "settings-token"),
        ]);
        let config = environment_config(s3.storage.s3(), None, env(&[("AWS_REGION", "eu-north-1")]));
        let provider = config.credentials_provider().expect("a credentials provider");
        let credentials = provider.provide_credentials().await.expect("credentials");
        assert_eq!(credentials.access_key_id(), "AKIDSETTINGS");
        assert_eq!(credentials.secret_access_key(), "settings-secret");
        assert_eq!(credentials.session_token(), Some("settings-token"));
    }

    #[test]
    fn the_region_comes_from_the_arn() {
        assert_eq!(
            super::region_of_arn("arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(super::region_of_arn("db-secret"), None);
    }
}
