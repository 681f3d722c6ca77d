//! SigV4 POST policies for browser form uploads to S3.
//!
//! aws-sdk-s3 has no POST presigner, so this small signer is written by hand on the SDK's own
//! signing primitives (`aws_sigv4::sign::v4`): the policy document is JSON, its base64 is the
//! string to sign, and the signature is HMAC-SHA256 of it under the day's derived signing key
//! (<https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-authentication-HTTPPOST.html>).

use std::collections::BTreeMap;
use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// What the form may upload.
#[derive(Debug, Clone)]
pub struct PostPolicyRequest<'a> {
    /// The bucket.
    pub bucket: &'a str,
    /// The exact key.
    pub key: &'a str,
    /// The exact `Content-Type` field.
    pub content_type: &'a str,
    /// The largest body accepted (`content-length-range`), also the smallest: the declared size.
    pub size: u64,
    /// The `x-amz-checksum-sha256` field, when the client declared one.
    pub checksum_sha256: Option<&'a str>,
    /// When the policy stops being accepted.
    pub expires_at: DateTime<Utc>,
}

/// The signing identity.
#[derive(Debug, Clone)]
pub struct SigningIdentity<'a> {
    /// Access key id.
    pub access_key_id: &'a str,
    /// Secret access key.
    pub secret_access_key: &'a str,
    /// Session token of temporary credentials.
    pub session_token: Option<&'a str>,
    /// The bucket's region.
    pub region: &'a str,
}

/// Signs `policy_base64` (the string to sign) with the signing key of `now`'s day.
pub fn sign(policy_base64: &str, identity: &SigningIdentity<'_>, now: SystemTime) -> String {
    let key = aws_sigv4::sign::v4::generate_signing_key(identity.secret_access_key, now, identity.region, "s3");
    aws_sigv4::sign::v4::calculate_signature(key, policy_base64.as_bytes())
}

/// The form fields of a signed POST upload, in the order a form sends them (the file last).
pub fn form_fields(
    request: &PostPolicyRequest<'_>,
    identity: &SigningIdentity<'_>,
    now: SystemTime,
) -> BTreeMap<String, String> {
    let now_utc: DateTime<Utc> = now.into();
    let amz_date = now_utc.format("%Y%m%dT%H%M%SZ").to_string();
    let credential =
        format!("{}/{}/{}/s3/aws4_request", identity.access_key_id, now_utc.format("%Y%m%d"), identity.region);

    let mut fields = BTreeMap::new();
    fields.insert("key".to_owned(), request.key.to_owned());
    fields.insert("Content-Type".to_owned(), request.content_type.to_owned());
    fields.insert("x-amz-algorithm".to_owned(), "AWS4-HMAC-SHA256".to_owned());
    fields.insert("x-amz-credential".to_owned(), credential);
    fields.insert("x-amz-date".to_owned(), amz_date);
    if let Some(token) = identity.session_token {
        fields.insert("x-amz-security-token".to_owned(), token.to_owned());
    }
    if let Some(checksum) = request.checksum_sha256 {
        fields.insert("x-amz-checksum-sha256".to_owned(), checksum.to_owned());
    }

    let mut conditions: Vec<Value> =
        vec![json!({ "bucket": request.bucket }), json!(["content-length-range", request.size, request.size])];
    conditions.extend(fields.iter().map(|(name, value)| json!({ name: value })));
    let policy = json!({
        "expiration": request.expires_at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "conditions": conditions,
    });
    let policy_base64 = STANDARD.encode(policy.to_string());
    fields.insert("x-amz-signature".to_owned(), sign(&policy_base64, identity, now));
    fields.insert("policy".to_owned(), policy_base64);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of "Browser-Based Upload using HTTP POST (Using AWS Signature Version 4)" in
    /// the Amazon S3 API reference: its policy (CRLF line ends), credentials, date and the
    /// signature it publishes.
    #[test]
    fn signing_reproduces_the_published_sigv4_post_example() {
        let policy = [
            r#"{ "expiration": "2015-12-30T12:00:00.000Z","#,
            r#"  "conditions": ["#,
            r#"    {"bucket": "sigv4examplebucket"},"#,
            r#"    ["starts-with", "$key", "user/user1/"],"#,
            r#"    {"acl": "public-read"},"#,
            r#"    {"success_action_redirect": "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html"},"#,
            r#"    ["starts-with", "$Content-Type", "image/"],"#,
            r#"    {"x-amz-meta-uuid": "14365123651274"},"#,
            r#"    {"x-amz-server-side-encryption": "AES256"},"#,
            r#"    ["starts-with", "$x-amz-meta-tag", ""],"#,
            "",
            r#"    {"x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"},"#,
            r#"    {"x-amz-algorithm": "AWS4-HMAC-SHA256"},"#,
            r#"    {"x-amz-date": "20151229T000000Z" }"#,
            r#"  ]"#,
            r#"}"#,
        ]
        .join("\r\n");
        let identity = SigningIdentity {
            access_key_id: "AKIAIOSFODNN7EXAMPLE",
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            session_token: None,
            region: "us-east-1",
        };
        let day: SystemTime = "2015-12-29T00:00:00Z".parse::<DateTime<Utc>>().unwrap().into();

        let signature = sign(&STANDARD.encode(policy), &identity, day);

        assert_eq!(signature, "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e");
    }

    #[test]
    fn the_policy_binds_bucket_key_type_size_checksum_expiry_and_credential() {
        let identity = SigningIdentity {
            access_key_id: "AKID",
            secret_access_key: "secret",
            session_token: Some("token"),
            region: "eu-west-1",
        };
        let now: SystemTime = "2026-11-28T10:00:00Z".parse::<DateTime<Utc>>().unwrap().into();
        let request = PostPolicyRequest {
            bucket: "files",
            key: "uploads/a.pdf",
            content_type: "application/pdf",
            size: 1024,
            checksum_sha256: Some("Zm9v"),
            expires_at: "2026-11-28T11:00:00Z".parse().unwrap(),
        };

        let fields = form_fields(&request, &identity, now);

        let policy: Value = serde_json::from_slice(&STANDARD.decode(&fields["policy"]).unwrap()).unwrap();
        assert_eq!(policy["expiration"], "2026-11-28T11:00:00.000Z");
        let conditions = policy["conditions"].as_array().unwrap();
        for expected in [
            json!({"bucket": "files"}),
            json!(["content-length-range", 1024, 1024]),
            json!({"key": "uploads/a.pdf"}),
            json!({"Content-Type": "application/pdf"}),
            json!({"x-amz-checksum-sha256": "Zm9v"}),
            json!({"x-amz-credential": "AKID/20261128/eu-west-1/s3/aws4_request"}),
            json!({"x-amz-date": "20261128T100000Z"}),
            json!({"x-amz-security-token": "token"}),
            json!({"x-amz-algorithm": "AWS4-HMAC-SHA256"}),
        ] {
            assert!(conditions.contains(&expected), "missing {expected}");
        }
        assert_eq!(fields["x-amz-signature"], sign(&fields["policy"], &identity, now));
    }
}
