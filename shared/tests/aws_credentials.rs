//! Where the AWS SDK clients find a region and credentials the settings leave open: the
//! environment only (the functions), or aws-config's default chain once a tool asks for it.
//! One test, because both halves change this process's environment and the second changes it
//! for good.

use std::collections::HashMap;

use aws_credential_types::provider::ProvideCredentials;
use files_core::{aws, Settings};

fn local_settings() -> Settings {
    let map: HashMap<String, String> = [
        ("DATABASE_URL", "postgres://localhost/files"),
        ("AUTH_MODE", "local-jwt"),
        ("AUTH_LOCAL_JWT_SECRET", "a-local-jwt-secret-of-at-least-32-bytes"),
        ("LOCAL_MEDIA_ROOT", "/srv/media"),
        ("LOCAL_SIGNING_SECRET", "a-local-signing-secret-of-at-least-32-bytes"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    Settings::from_map(&map).expect("settings")
}

fn set(name: &str, value: &str) {
    // This test binary has one test on a current-thread runtime: nothing reads the environment
    // concurrently.
    std::env::set_var(name, value);
}

#[tokio::test(flavor = "current_thread")]
async fn functions_read_the_environment_and_tools_may_use_the_default_chain() {
    let settings = local_settings();
    for name in ["AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE"] {
        std::env::remove_var(name);
    }
    set("AWS_EC2_METADATA_DISABLED", "true");

    // What Lambda gives a function.
    set("AWS_REGION", "eu-north-1");
    set("AWS_ACCESS_KEY_ID", "AKIDFROMENVIRONMENT");
    set("AWS_SECRET_ACCESS_KEY", "environment-secret");
    set("AWS_SESSION_TOKEN", "environment-token");
    let config = aws::sdk_config(&settings, None).await;
    assert_eq!(config.region().map(ToString::to_string).as_deref(), Some("eu-north-1"));
    let provider = config.credentials_provider().expect("a credentials provider");
    let credentials = provider.provide_credentials().await.expect("credentials from the environment");
    assert_eq!(credentials.access_key_id(), "AKIDFROMENVIRONMENT");
    assert_eq!(credentials.secret_access_key(), "environment-secret");
    assert_eq!(credentials.session_token(), Some("environment-token"));

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
    let config = aws::sdk_config(&settings, None).await;
    assert!(config.region().is_none(), "a function found a region in a profile: {:?}", config.region());
    let provider = config.credentials_provider().expect("a credentials provider");
    assert!(provider.provide_credentials().await.is_err(), "a function found credentials in a profile");

    // A tool that asks for the default chain does.
    aws::use_default_provider_chain();
    let config = aws::sdk_config(&settings, None).await;
    assert_eq!(config.region().map(ToString::to_string).as_deref(), Some("sa-east-1"));
    let provider = config.credentials_provider().expect("a credentials provider");
    let credentials = provider.provide_credentials().await.expect("credentials from the profile");
    assert_eq!(credentials.access_key_id(), "AKIDFROMPROFILE");
    assert_eq!(credentials.secret_access_key(), "profile-secret");

    // The region asked for still wins.
    let config = aws::sdk_config(&settings, Some("ap-south-1".to_owned())).await;
    assert_eq!(config.region().map(ToString::to_string).as_deref(), Some("ap-south-1"));
}
