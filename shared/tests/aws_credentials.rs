//! Where the AWS SDK clients find a region and credentials the settings leave open: the
//! environment only (the functions), or aws-config's default chain once a tool asks for it.
//! One test, because both halves change this process's environment and the second changes it
//! for good.

use aws_config::SdkConfig;
use aws_credential_types::provider::{error::CredentialsError, ProvideCredentials};
use aws_credential_types::Credentials;
use files_core::{aws, Settings};

/// The credentials `config` resolves, as an SDK client would on its first request.
async fn credentials(config: &SdkConfig) -> Result<Credentials, CredentialsError> {
    config.credentials_provider().expect("a credentials provider").provide_credentials().await
}

fn set(name: &str, value: &str) {
    // This test binary has one test on a current-thread runtime: nothing reads the environment
    // concurrently.
    std::env::set_var(name, value);
}

#[tokio::test(flavor = "current_thread")]
async fn functions_read_the_environment_and_tools_may_use_the_default_chain() {
    let settings = Settings::from_map(&files_testkit::function_env(
        std::path::Path::new("/srv/media"),
        "postgres://localhost/files",
    ))
    .expect("settings");
    for name in ["AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE"] {
        std::env::remove_var(name);
    }
    set("AWS_EC2_METADATA_DISABLED", "true");

    // What Lambda gives a function.
    set("AWS_REGION", "eu-north-1");
    set("AWS_ACCESS_KEY_ID", "AKIDFROMENVIRONMENT");
    set("AWS_SECRET_ACCESS_KEY", "environment-secret");
    set("AWS_SESSION_TOKEN", "environment-token");
    let config = aws::sdk_config(settings.storage.s3(), None).await;
    assert_eq!(config.region().map(ToString::to_string).as_deref(), Some("eu-north-1"));
    let from_environment = credentials(&config).await.expect("credentials from the environment");
    assert_eq!(from_environment.access_key_id(), "AKIDFROMENVIRONMENT");
    assert_eq!(from_environment.secret_access_key(), "environment-secret");
    assert_eq!(from_environment.session_token(), Some("environment-token"));

    // A named profile in the shared files, and nothing in the environment.
    let dir = tempfile::tempdir().expect("temp dir");
    let config_file = dir.path().join("config");
    let credentials_file = dir.path().join("credentials");
    std::fs::write(&config_file, "[profile files-test]\nregion = sa-east-1\n").expect("config file");
    std::fs::write(
        &credentials_file,
        "[files-test]\naws_access_key_id = AKIDFROMPROFILE\naws_secret_access_key = profile-secret\n",
    )
    .expect("credentials file");
    for name in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"] {
        std::env::remove_var(name);
    }
    set("AWS_CONFIG_FILE", config_file.to_str().expect("utf-8 path"));
    set("AWS_SHARED_CREDENTIALS_FILE", credentials_file.to_str().expect("utf-8 path"));
    set("AWS_PROFILE", "files-test");

    // A function does not read profiles: no region, and no credentials when asked.
    let config = aws::sdk_config(settings.storage.s3(), None).await;
    assert!(config.region().is_none(), "a function found a region in a profile: {:?}", config.region());
    assert!(credentials(&config).await.is_err(), "a function found credentials in a profile");

    // A tool that asks for the default chain does.
    aws::use_default_provider_chain();
    let config = aws::sdk_config(settings.storage.s3(), None).await;
    assert_eq!(config.region().map(ToString::to_string).as_deref(), Some("sa-east-1"));
    let from_profile = credentials(&config).await.expect("credentials from the profile");
    assert_eq!(from_profile.access_key_id(), "AKIDFROMPROFILE");
    assert_eq!(from_profile.secret_access_key(), "profile-secret");

    // The region asked for still wins.
    let config = aws::sdk_config(settings.storage.s3(), Some("ap-south-1".to_owned())).await;
    assert_eq!(config.region().map(ToString::to_string).as_deref(), Some("ap-south-1"));
}
