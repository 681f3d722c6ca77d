//! A fast SigV4 query-string presigner for S3 `GetObject` and `PutObject` URLs.
//!
//! aws-sdk-s3 presigns through its whole request pipeline (serializers, interceptors, endpoint
//! resolution, identity resolution) and derives the SigV4 signing key again for every URL, which
//! costs tens of microseconds per URL. It offers no cheaper presigner, so this one is written by
//! hand on the SDK's own primitives and produces the same URLs, byte for byte:
//!
//! - the endpoint is resolved once, when the [`Presigner`] is built, by the SDK's own S3
//!   endpoint resolver (`aws_sdk_s3::config::endpoint::DefaultResolver`), so addressing style,
//!   custom endpoints, IP-address hosts and partitions come out as the SDK would have them;
//! - the signing key comes from `aws_sigv4::sign::v4::generate_signing_key` and is kept for the
//!   rest of the day (it depends only on the secret, the date and the region), and the signature
//!   from `aws_sigv4::sign::v4::calculate_signature`;
//! - the canonical request is the one aws-sigv4 builds for S3 presigning: the path is the key
//!   percent-encoded once (`/` kept, no normalization), the query carries every parameter
//!   (the operation's `x-id`, response overrides, `X-Amz-*` including the session token) encoded
//!   per SigV4 and sorted, the signed headers are `host` and the request's headers, and the
//!   payload is `UNSIGNED-PAYLOAD`;
//! - the URL lists the operation's parameters first, then `X-Amz-Algorithm`, `-Credential`,
//!   `-Date`, `-Expires`, `-SignedHeaders`, `-Signature` and `-Security-Token`, as the SDK does.
//!
//! The tests compare its output with the SDK's for many combinations of addressing style,
//! endpoint, credentials, headers and times.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sdk_s3::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
use futures_util::FutureExt as _;
use percent_encoding::utf8_percent_encode;
use sha2::{Digest, Sha256};

use super::sigv4::{
    canonical_request, check, encode_query, push_query, signing_region, Timestamp, ALGORITHM, PATH_ENCODE, SERVICE,
};
pub use super::sigv4::{PresignError, MAX_EXPIRES_IN};

/// Where the presigned URLs point: the same inputs the SDK's S3 endpoint resolver takes.
#[derive(Debug, Clone, Copy, Default)]
pub struct PresignTarget<'a> {
    /// A custom endpoint (scheme, host, optional port and path), e.g. `http://127.0.0.1:4566`;
    /// `None` for AWS's own endpoint of the region.
    pub endpoint_url: Option<&'a str>,
    /// The bucket.
    pub bucket: &'a str,
    /// The bucket's region.
    pub region: &'a str,
    /// Path-style addressing (`host/bucket/key`) rather than virtual-hosted (`bucket.host/key`).
    pub force_path_style: bool,
    /// AWS's FIPS endpoints.
    pub use_fips: bool,
    /// AWS's dual-stack (IPv6) endpoints.
    pub use_dual_stack: bool,
}

/// A presigned `GetObject`.
#[derive(Debug, Clone, Copy)]
pub struct GetObject<'a> {
    /// The object key.
    pub key: &'a str,
    /// `response-content-disposition`: the `Content-Disposition` S3 answers with.
    pub response_content_disposition: Option<&'a str>,
    /// `response-content-type`: the `Content-Type` S3 answers with.
    pub response_content_type: Option<&'a str>,
    /// `versionId`: this version of the object and no other.
    pub version_id: Option<&'a str>,
}

/// A presigned `PutObject`; every field given is a signed header the client must send.
#[derive(Debug, Clone, Copy)]
pub struct PutObject<'a> {
    /// The object key.
    pub key: &'a str,
    /// `Content-Type`.
    pub content_type: &'a str,
    /// `Content-Length`: the exact body length.
    pub content_length: u64,
    /// `x-amz-checksum-sha256`: the base64 SHA-256 of the body, which S3 then verifies.
    pub checksum_sha256: Option<&'a str>,
    /// `If-None-Match` (`*` makes the upload create-only).
    pub if_none_match: Option<&'a str>,
}

/// A presigned request: the URL, and the headers the client must send with it (the signed
/// headers other than `host`), lower-case names in the order the SDK lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedRequest {
    /// The presigned URL; it grants access, so never log it.
    pub url: String,
    /// `(name, value)` of each header the request must carry, exactly.
    pub headers: Vec<(&'static str, String)>,
}

/// A presigned request, or why it cannot be.
pub type Presigned = Result<PresignedRequest, PresignError>;

/// The derived SigV4 key of one day, and whose it is.
struct CachedKey {
    access_key_id: String,
    secret_access_key: String,
    date: String,
    key: Vec<u8>,
}

/// Where a prepared URL's signature goes: braces never appear in a presigned URL otherwise (SigV4
/// percent-encodes them in every query value, and keys and ids hold none).
pub(super) const SIGNATURE_MARK: &str = "{signature}";

/// A request ready to sign (see [`Presigner::prepare`]).
pub(super) struct Prepared {
    /// The canonical request.
    pub(super) creq: String,
    /// The URL, with [`SIGNATURE_MARK`] for the signature.
    pub(super) url: String,
    /// The string to sign up to the canonical request's hash.
    pub(super) scope: String,
    /// The day's signing key.
    pub(super) key: Vec<u8>,
    /// The headers the request must carry.
    pub(super) headers: Vec<(&'static str, String)>,
}

impl Prepared {
    /// The signature of a canonical request hashed as `creq_hash` (hex SHA-256).
    pub(super) fn sign_hash(&self, creq_hash: &str) -> String {
        let mut string_to_sign = String::with_capacity(self.scope.len() + creq_hash.len());
        string_to_sign.push_str(&self.scope);
        string_to_sign.push_str(creq_hash);
        aws_sigv4::sign::v4::calculate_signature(&self.key, string_to_sign.as_bytes())
    }

    /// The signature of canonical request `creq`.
    pub(super) fn sign(&self, creq: &[u8]) -> String {
        self.sign_hash(&hex::encode(Sha256::digest(creq)))
    }
}

/// Presigns S3 URLs for one bucket on one endpoint. Build it once; it is cheap to clone and
/// clones share the signing-key cache.
#[derive(Clone)]
pub struct Presigner {
    /// `scheme://authority` as it starts every URL.
    origin: String,
    /// The `host` header the URL is signed for: the authority without a default port.
    host: String,
    /// The endpoint's path without its trailing `/` (`/bucket` in path style, else usually empty).
    base_path: String,
    /// The signing region.
    region: String,
    /// The last derived signing key (the region is fixed, so access key, secret and date
    /// identify it).
    key_cache: Arc<RwLock<Option<CachedKey>>>,
}

impl fmt::Debug for Presigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Presigner")
            .field("origin", &self.origin)
            .field("host", &self.host)
            .field("base_path", &self.base_path)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl Presigner {
    /// Resolves the endpoint for `target` with the SDK's S3 endpoint resolver. Touches no
    /// network.
    ///
    /// # Errors
    /// [`PresignError::Endpoint`] when the SDK refuses the endpoint, bucket or region, and
    /// [`PresignError::UnsupportedAuthScheme`] when the endpoint is not signed with SigV4.
    pub fn new(target: &PresignTarget<'_>) -> Result<Self, PresignError> {
        let params = Params::builder()
            .region(target.region)
            .bucket(target.bucket)
            .set_endpoint(target.endpoint_url.map(str::to_owned))
            .force_path_style(target.force_path_style)
            .use_fips(target.use_fips)
            .use_dual_stack(target.use_dual_stack)
            .build()
            .map_err(|e| PresignError::Endpoint(e.to_string()))?;
        let endpoint = DefaultResolver::new()
            .resolve_endpoint(&params)
            .now_or_never()
            .ok_or_else(|| PresignError::Endpoint("the endpoint resolver did not answer at once".into()))?
            .map_err(|e| PresignError::Endpoint(e.to_string()))?;
        let region = signing_region(endpoint.properties().get("authSchemes"))?.unwrap_or(target.region).to_owned();
        Self::from_resolved(endpoint.url(), &region)
    }

    /// Splits a resolved endpoint URL (`https://bucket.s3.region.amazonaws.com`,
    /// `http://127.0.0.1:4566/bucket`) into what every URL repeats.
    fn from_resolved(url: &str, region: &str) -> Result<Self, PresignError> {
        let bad = || PresignError::Endpoint(format!("{url} is not an absolute http(s) URL"));
        let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
        let scheme = scheme.to_ascii_lowercase();
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.contains('@') || !matches!(scheme.as_str(), "http" | "https") {
            return Err(bad());
        }
        // A query or fragment in an endpoint is ignored by the SDK.
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let default_port = if scheme == "https" { ":443" } else { ":80" };
        let host = authority.strip_suffix(default_port).unwrap_or(authority);
        Ok(Self {
            origin: format!("{scheme}://{authority}"),
            host: host.to_owned(),
            base_path: path.strip_suffix('/').unwrap_or(path).to_owned(),
            region: region.to_owned(),
            key_cache: Arc::new(RwLock::new(None)),
        })
    }

    /// The base every object URL starts with (`https://s3.eu-west-1.amazonaws.com/bucket`).
    pub fn base_url(&self) -> String {
        format!("{}{}", self.origin, self.base_path)
    }

    /// A presigned `GetObject` URL signed with `creds`, valid `ttl` from `start`.
    ///
    /// # Errors
    /// [`PresignError::EmptyKey`], [`PresignError::ExpiresTooLong`] or
    /// [`PresignError::TimeBeforeEpoch`].
    pub fn get_object(
        &self,
        request: &GetObject<'_>,
        creds: &Credentials,
        start: SystemTime,
        ttl: Duration,
    ) -> Presigned {
        // In the order the SDK's serializer writes them.
        let mut query: Vec<(&str, &str)> = Vec::with_capacity(4);
        query.push(("x-id", "GetObject"));
        if let Some(disposition) = request.response_content_disposition {
            query.push(("response-content-disposition", disposition));
        }
        if let Some(content_type) = request.response_content_type {
            query.push(("response-content-type", content_type));
        }
        if let Some(version) = request.version_id {
            query.push(("versionId", version));
        }
        self.presign("GET", request.key, &query, Vec::new(), creds, start, ttl)
    }

    /// A presigned `PutObject` URL signed with `creds`, valid `ttl` from `start`, and the headers the upload
    /// must carry.
    ///
    /// # Errors
    /// [`PresignError::EmptyKey`], [`PresignError::InvalidHeaderValue`],
    /// [`PresignError::ExpiresTooLong`] or [`PresignError::TimeBeforeEpoch`].
    pub fn put_object(
        &self,
        request: &PutObject<'_>,
        creds: &Credentials,
        start: SystemTime,
        ttl: Duration,
    ) -> Presigned {
        // In the order the SDK's serializer adds them.
        let mut headers: Vec<(&'static str, String)> = Vec::with_capacity(4);
        headers.push(("content-length", request.content_length.to_string()));
        headers.push(("content-type", request.content_type.to_owned()));
        if let Some(value) = request.checksum_sha256 {
            headers.push(("x-amz-checksum-sha256", value.to_owned()));
        }
        if let Some(value) = request.if_none_match {
            headers.push(("if-none-match", value.to_owned()));
        }
        self.presign("PUT", request.key, &[("x-id", "PutObject")], headers, creds, start, ttl)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn presign(
        &self,
        method: &str,
        key: &str,
        operation: &[(&str, &str)],
        headers: Vec<(&'static str, String)>,
        credentials: &Credentials,
        start: SystemTime,
        expires_in: Duration,
    ) -> Result<PresignedRequest, PresignError> {
        let prepared = self.prepare(method, key, operation, headers, credentials, start, expires_in)?;
        let signature = prepared.sign(prepared.creq.as_bytes());
        let url = prepared.url.replacen(SIGNATURE_MARK, &signature, 1);
        Ok(PresignedRequest { url, headers: prepared.headers })
    }

    /// Everything of a presigned request but its signature: the canonical request, the URL with
    /// [`SIGNATURE_MARK`] where the signature goes, the credential scope, and the signing key.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn prepare(
        &self,
        method: &str,
        key: &str,
        operation: &[(&str, &str)],
        headers: Vec<(&'static str, String)>,
        credentials: &Credentials,
        start: SystemTime,
        expires_in: Duration,
    ) -> Result<Prepared, PresignError> {
        check(key, &headers, expires_in)?;
        let time = Timestamp::of(start)?;
        let path = format!("{}/{}", self.base_path, utf8_percent_encode(key, PATH_ENCODE));
        let credential =
            format!("{}/{}/{}/{SERVICE}/aws4_request", credentials.access_key_id(), time.date, self.region);
        let mut signed: Vec<(&str, &str)> = Vec::with_capacity(headers.len() + 1);
        signed.push(("host", &self.host));
        signed.extend(headers.iter().map(|(name, value)| (*name, value.as_str())));
        signed.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let signed_names = signed.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(";");
        let expires = expires_in.as_secs().to_string();

        // The operation's own parameters lead the URL; the signing ones follow.
        let mut query: Vec<(&str, &str)> = Vec::with_capacity(operation.len() + 6);
        query.extend_from_slice(operation);
        query.push(("X-Amz-Algorithm", ALGORITHM));
        query.push(("X-Amz-Credential", &credential));
        query.push(("X-Amz-Date", &time.date_time));
        query.push(("X-Amz-Expires", &expires));
        query.push(("X-Amz-SignedHeaders", &signed_names));
        if let Some(token) = credentials.session_token() {
            query.push(("X-Amz-Security-Token", token));
        }
        let encoded: Vec<(String, String)> =
            query.iter().map(|(name, value)| (encode_query(name), encode_query(value))).collect::<Vec<_>>();

        let creq = canonical_request(method, &path, &encoded, &signed, &signed_names);
        let scope = format!("{ALGORITHM}\n{}\n{}/{}/{SERVICE}/aws4_request\n", time.date_time, time.date, self.region);
        let mut url = String::with_capacity(self.origin.len() + creq.len() + 128);
        url.push_str(&self.origin);
        url.push_str(&path);
        push_query(&mut url, &encoded, operation.len() + 5, SIGNATURE_MARK);
        let key = self.signing_key(credentials, start, &time.date);
        Ok(Prepared { creq, url, scope, key, headers })
    }

    /// The day's signing key, derived once per access key, secret and day.
    fn signing_key(&self, credentials: &Credentials, time: SystemTime, date: &str) -> Vec<u8> {
        let matches = |cached: &CachedKey| {
            cached.date == date
                && cached.access_key_id == credentials.access_key_id()
                && cached.secret_access_key == credentials.secret_access_key()
        };
        if let Some(cached) = self.key_cache.read().unwrap_or_else(PoisonError::into_inner).as_ref() {
            if matches(cached) {
                return cached.key.clone();
            }
        }
        let key =
            aws_sigv4::sign::v4::generate_signing_key(credentials.secret_access_key(), time, &self.region, SERVICE)
                .as_ref()
                .to_vec();
        *self.key_cache.write().unwrap_or_else(PoisonError::into_inner) = Some(CachedKey {
            access_key_id: credentials.access_key_id().to_owned(),
            secret_access_key: credentials.secret_access_key().to_owned(),
            date: date.to_owned(),
            key: key.clone(),
        });
        key
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use chrono::{DateTime, Utc};

    use super::super::sigv4::trim_all;
    use super::*;
    use aws_credential_types::provider::SharedCredentialsProvider;
    use aws_sdk_s3::config::Region;
    use aws_sdk_s3::presigning::{PresignedRequest as SdkPresigned, PresigningConfig};
    use aws_sdk_s3::Client;

    use crate::disposition::{content_disposition, DispositionKind};
    use crate::storage::s3::sdk_client_config;

    fn at(rfc3339: &str) -> SystemTime {
        rfc3339.parse::<DateTime<Utc>>().unwrap().into()
    }

    fn target<'a>(endpoint_url: Option<&'a str>, region: &'a str, force_path_style: bool) -> PresignTarget<'a> {
        PresignTarget { endpoint_url, bucket: "files", region, force_path_style, ..PresignTarget::default() }
    }

    /// A client built the way `S3FileStorage` builds its own, with fixed credentials.
    fn sdk_client(target: &PresignTarget<'_>, credentials: &Credentials) -> Client {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .http_client(crate::aws::http_client())
            .region(Region::new(target.region.to_owned()))
            .credentials_provider(SharedCredentialsProvider::new(credentials.clone()))
            .use_fips(target.use_fips)
            .use_dual_stack(target.use_dual_stack)
            .build();
        Client::from_conf(sdk_client_config(&sdk, target.force_path_style, target.endpoint_url))
    }

    fn presigning(start: SystemTime, expires_in: Duration) -> PresigningConfig {
        PresigningConfig::builder().start_time(start).expires_in(expires_in).build().unwrap()
    }

    async fn sdk_get(
        client: &Client,
        bucket: &str,
        get: &GetObject<'_>,
        start: SystemTime,
        expires_in: Duration,
    ) -> SdkPresigned {
        let request = client
            .get_object()
            .bucket(bucket)
            .key(get.key)
            .set_response_content_disposition(get.response_content_disposition.map(str::to_owned))
            .set_response_content_type(get.response_content_type.map(str::to_owned))
            .set_version_id(get.version_id.map(str::to_owned))
            .presigned(presigning(start, expires_in));
        request.await.unwrap()
    }

    async fn sdk_put(
        client: &Client,
        bucket: &str,
        put: &PutObject<'_>,
        start: SystemTime,
        expires_in: Duration,
    ) -> SdkPresigned {
        let mut request = client
            .put_object()
            .bucket(bucket)
            .key(put.key)
            .content_type(put.content_type)
            .content_length(i64::try_from(put.content_length).unwrap());
        if let Some(checksum) = put.checksum_sha256 {
            request = request.checksum_sha256(checksum);
        }
        if let Some(value) = put.if_none_match {
            request = request.if_none_match(value);
        }
        request.presigned(presigning(start, expires_in)).await.unwrap()
    }

    fn sdk_headers(presigned: &SdkPresigned) -> Vec<(String, String)> {
        presigned
            .headers()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("host"))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect()
    }

    fn our_headers(presigned: &PresignedRequest) -> Vec<(String, String)> {
        presigned.headers.iter().map(|(name, value)| ((*name).to_owned(), value.clone())).collect()
    }

    fn targets() -> Vec<PresignTarget<'static>> {
        vec![
            target(None, "eu-west-1", true),
            target(None, "eu-west-1", false),
            target(None, "us-east-1", false),
            target(None, "cn-north-1", true),
            target(Some("http://127.0.0.1:4566"), "us-east-1", true),
            // An IP-address host cannot carry the bucket: the SDK falls back to path style.
            target(Some("http://127.0.0.1:4566"), "us-east-1", false),
            target(Some("http://minio.internal:9000"), "eu-west-1", false),
            target(Some("https://storage.example.com:443/s3/"), "eu-west-1", true),
            target(Some("http://localhost:80"), "eu-west-1", true),
            PresignTarget { use_fips: true, use_dual_stack: true, ..target(None, "us-west-2", false) },
            // Dots cannot go into a TLS host name; over plain HTTP they can.
            PresignTarget { bucket: "my.files", ..target(None, "eu-west-1", false) },
            PresignTarget { bucket: "my.files", ..target(Some("http://minio.internal:9000"), "eu-west-1", false) },
        ]
    }

    fn credentials() -> Vec<Credentials> {
        vec![
            Credentials::new("AKID", "secret", None, None, "test"),
            Credentials::new("ASIATEMP", "other/secret+key", Some("tok".into()), None, "test"),
            Credentials::new(
                "ASIATEMP2",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                Some("IQoJb3JpZ2luX2VjE/+a long=session&token".into()),
                None,
                "test",
            ),
        ]
    }

    /// Times on both sides of midnight, so the cached signing key must change with the day, and
    /// one with a fraction of a second, which SigV4 drops.
    fn times() -> Vec<SystemTime> {
        vec![
            at("2027-01-15T08:00:00Z"),
            at("2027-01-15T23:59:59.999Z"),
            at("2027-01-16T00:00:00Z"),
            at("2027-01-15T12:34:56Z"),
            at("2028-02-29T07:08:09.5Z"),
        ]
    }

    /// One comparison setting: a target with its presigner, credentials with the SDK's client
    /// for them, and a signing time (with its index, which picks the other inputs).
    struct Case {
        target: PresignTarget<'static>,
        presigner: Presigner,
        credentials: Credentials,
        client: Client,
        i: usize,
        start: SystemTime,
    }

    /// Every target × credentials × time.
    fn cases() -> Vec<Case> {
        let mut out = Vec::new();
        for target in targets() {
            let presigner = Presigner::new(&target).unwrap();
            for credentials in credentials() {
                let client = sdk_client(&target, &credentials);
                for (i, start) in times().into_iter().enumerate() {
                    let (presigner, credentials, client) = (presigner.clone(), credentials.clone(), client.clone());
                    out.push(Case { target, presigner, credentials, client, i, start });
                }
            }
        }
        out
    }

    const LIFETIMES: [Duration; 3] = [Duration::from_secs(1), Duration::from_secs(3600), MAX_EXPIRES_IN];

    #[test]
    fn the_observed_sdk_urls_are_reproduced_exactly() {
        let presigner = Presigner::new(&target(None, "eu-west-1", true)).unwrap();
        let credentials = Credentials::new("AKID", "secret", Some("tok".into()), None, "test");
        let start = at("2027-01-15T08:00:00Z");
        let hour = Duration::from_secs(3600);

        let get = GetObject {
            key: "uploads/a b+ü.txt",
            response_content_disposition: Some("attachment; filename=\"a b.txt\"; filename*=UTF-8''a%20b.txt"),
            response_content_type: Some("text/plain"),
            version_id: None,
        };
        let get = presigner.get_object(&get, &credentials, start, hour).unwrap();
        let put = PutObject {
            key: "uploads/x.txt",
            content_type: "text/plain",
            content_length: 5,
            checksum_sha256: Some("abc="),
            if_none_match: Some("*"),
        };
        let put = presigner.put_object(&put, &credentials, start, hour).unwrap();

        assert_eq!(
            get.url,
            "https://s3.eu-west-1.amazonaws.com/files/uploads/a%20b%2B%C3%BC.txt?x-id=GetObject\
             &response-content-disposition=attachment%3B%20filename%3D%22a%20b.txt%22%3B%20filename%2A%3DUTF-8%27%27a%2520b.txt\
             &response-content-type=text%2Fplain&X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKID%2F20270115%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Date=20270115T080000Z\
             &X-Amz-Expires=3600&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=371b1512960921d528b8bd041649b604a432951336ade34672ea8cc0b33bc1f7&X-Amz-Security-Token=tok"
        );
        assert!(get.headers.is_empty());
        assert_eq!(
            put.url,
            "https://s3.eu-west-1.amazonaws.com/files/uploads/x.txt?x-id=PutObject&X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKID%2F20270115%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Date=20270115T080000Z\
             &X-Amz-Expires=3600\
             &X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost%3Bif-none-match%3Bx-amz-checksum-sha256\
             &X-Amz-Signature=900306ffdfa8b0c38fa96231a5880c017d6f7375a57dcdbfa75e62ee23cbefc1&X-Amz-Security-Token=tok"
        );
        let headers: Vec<(&str, &str)> = put.headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        assert_eq!(
            headers,
            [
                ("content-length", "5"),
                ("content-type", "text/plain"),
                ("x-amz-checksum-sha256", "abc="),
                ("if-none-match", "*")
            ]
        );
    }

    #[tokio::test]
    async fn get_urls_equal_the_sdks_for_every_style_endpoint_credential_time_and_override() {
        let dispositions = [
            Some(content_disposition(DispositionKind::Attachment, "a b.txt")),
            Some(content_disposition(DispositionKind::Inline, "Übersicht 2027 (final) + Anhang;&=.pdf")),
            Some(content_disposition(DispositionKind::Attachment, "日本語 ファイル.txt")),
            None,
        ];
        let keys = ["uploads/a b+ü.txt", "uploads/x.txt", "a/b/c~d_e-f.G", "we!rd*(key)'$&=;:@,?#[]%^`{}|<>\\\".txt"];
        let content_types = [Some("text/plain"), Some("application/pdf; name=\"a b\""), None];
        let mut compared = 0;
        for Case { target, presigner, credentials, client, i, start } in cases() {
            let disposition = dispositions[i % dispositions.len()].as_deref();
            for (j, key) in keys.iter().enumerate() {
                let get = GetObject {
                    key,
                    response_content_disposition: disposition,
                    response_content_type: content_types[(i + j) % content_types.len()],
                    // S3 version ids are URL-safe; one with characters to encode checks the escaping.
                    version_id: [
                        None,
                        Some("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo"),
                        Some("null"),
                    ][(i + 2 * j) % 3],
                };
                let lifetime = LIFETIMES[(i + j) % LIFETIMES.len()];

                let ours = presigner.get_object(&get, &credentials, start, lifetime).unwrap();
                let sdk = sdk_get(&client, target.bucket, &get, start, lifetime).await;

                assert_eq!(ours.url, sdk.uri(), "{target:?} {get:?}");
                assert_eq!(our_headers(&ours), sdk_headers(&sdk), "{target:?} {get:?}");
                compared += 1;
            }
        }
        assert_eq!(compared, targets().len() * credentials().len() * times().len() * keys.len());
    }

    #[tokio::test]
    async fn put_urls_and_headers_equal_the_sdks_with_and_without_checksum_and_create_only() {
        let content_types = ["text/plain", "text/plain;  charset=utf-8 ", "application/octet-stream"];
        let keys = ["uploads/x.txt", "uploads/a b+ü.txt", "deep/ly/nested/k=v&w.bin"];
        let mut compared = 0;
        for Case { target, presigner, credentials, client, i, start } in cases() {
            for checksum in [None, Some("LCa0a2j/xo/5m0U8HTBBNBNCLXBkg7+g+YpeiGJm564=")] {
                for if_none_match in [None, Some("*")] {
                    let put = PutObject {
                        key: keys[i % keys.len()],
                        content_type: content_types[i % content_types.len()],
                        content_length: [0, 5, 10 * 1024 * 1024 * 1024][i % 3],
                        checksum_sha256: checksum,
                        if_none_match,
                    };
                    let lifetime = LIFETIMES[i % LIFETIMES.len()];

                    let ours = presigner.put_object(&put, &credentials, start, lifetime).unwrap();
                    let sdk = sdk_put(&client, target.bucket, &put, start, lifetime).await;

                    assert_eq!(ours.url, sdk.uri(), "{target:?} {put:?}");
                    assert_eq!(our_headers(&ours), sdk_headers(&sdk), "{target:?} {put:?}");
                    compared += 1;
                }
            }
        }
        assert_eq!(compared, targets().len() * credentials().len() * times().len() * 4);
    }

    #[tokio::test]
    async fn the_signing_key_is_reused_within_a_day_and_derived_again_for_a_new_day_or_credentials() {
        let presigner = Presigner::new(&target(None, "eu-west-1", true)).unwrap();
        let first = Credentials::new("AKID", "secret", None, None, "test");
        let rotated = Credentials::new("AKID", "rotated", None, None, "test");
        let cached = || {
            let guard = presigner.key_cache.read().unwrap();
            guard.as_ref().map(|c| (c.access_key_id.clone(), c.date.clone(), c.key.clone()))
        };
        let get =
            GetObject { key: "k", response_content_disposition: None, response_content_type: None, version_id: None };
        let hour = Duration::from_secs(3600);

        presigner.get_object(&get, &first, at("2027-01-15T08:00:00Z"), hour).unwrap();
        let morning = cached().unwrap();
        presigner.get_object(&get, &first, at("2027-01-15T23:59:59Z"), hour).unwrap();
        assert_eq!(cached().unwrap(), morning);
        presigner.get_object(&get, &first, at("2027-01-16T00:00:00Z"), hour).unwrap();
        let next_day = cached().unwrap();
        let rotated_url = presigner.get_object(&get, &rotated, at("2027-01-16T00:00:01Z"), hour).unwrap();
        let after_rotation = cached().unwrap();

        assert_eq!(morning.1, "20270115");
        assert_eq!(next_day.1, "20270116");
        assert_ne!(next_day.2, morning.2);
        assert_ne!(after_rotation.2, next_day.2, "a new secret must not reuse the old key");
        let sdk = sdk_get(
            &sdk_client(&target(None, "eu-west-1", true), &rotated),
            "files",
            &get,
            at("2027-01-16T00:00:01Z"),
            hour,
        )
        .await;
        assert_eq!(rotated_url.url, sdk.uri());
    }

    #[test]
    fn clones_share_the_signing_key_cache() {
        let presigner = Presigner::new(&target(None, "eu-west-1", false)).unwrap();
        let clone = presigner.clone();
        let get =
            GetObject { key: "k", response_content_disposition: None, response_content_type: None, version_id: None };
        let credentials = Credentials::new("AKID", "secret", None, None, "test");

        clone.get_object(&get, &credentials, at("2027-01-15T08:00:00Z"), Duration::from_secs(60)).unwrap();

        assert!(presigner.key_cache.read().unwrap().is_some());
    }

    #[test]
    fn lifetimes_over_seven_days_empty_keys_and_bad_header_values_are_refused() {
        let presigner = Presigner::new(&target(None, "eu-west-1", true)).unwrap();
        let credentials = Credentials::new("AKID", "secret", None, None, "test");
        let now = at("2027-01-15T08:00:00Z");
        let get =
            |key| GetObject { key, response_content_disposition: None, response_content_type: None, version_id: None };
        let put = PutObject {
            key: "k",
            content_type: "text/plain\r\nx-evil: 1",
            content_length: 1,
            checksum_sha256: None,
            if_none_match: None,
        };

        let too_long = presigner.get_object(&get("k"), &credentials, now, MAX_EXPIRES_IN + Duration::from_secs(1));
        let empty = presigner.get_object(&get(""), &credentials, now, Duration::from_secs(60));
        let bad_header = presigner.put_object(&put, &credentials, now, Duration::from_secs(60));

        assert!(matches!(too_long, Err(PresignError::ExpiresTooLong)));
        assert!(matches!(empty, Err(PresignError::EmptyKey)));
        assert!(matches!(bad_header, Err(PresignError::InvalidHeaderValue("content-type"))));
    }

    #[test]
    fn an_endpoint_the_sdk_refuses_is_refused_when_building() {
        let bad_region = Presigner::new(&target(None, "not a region!", false));
        let bad_url = Presigner::new(&target(Some("not a url"), "eu-west-1", true));

        assert!(matches!(bad_region, Err(PresignError::Endpoint(_))), "{bad_region:?}");
        assert!(matches!(bad_url, Err(PresignError::Endpoint(_))), "{bad_url:?}");
    }

    #[test]
    fn base_urls_follow_the_addressing_style() {
        let base =
            |endpoint, path_style| Presigner::new(&target(endpoint, "eu-west-1", path_style)).unwrap().base_url();

        assert_eq!(base(None, true), "https://s3.eu-west-1.amazonaws.com/files");
        assert_eq!(base(None, false), "https://files.s3.eu-west-1.amazonaws.com");
        assert_eq!(base(Some("http://127.0.0.1:4566"), true), "http://127.0.0.1:4566/files");
        assert_eq!(base(Some("http://minio:9000"), false), "http://files.minio:9000");
    }

    #[test]
    fn header_values_are_canonicalized_by_trimming_and_collapsing_spaces() {
        assert_eq!(trim_all("  text/plain;   charset=utf-8  "), "text/plain; charset=utf-8");
        assert_eq!(trim_all("a\t\tb"), "a\t\tb");
        assert!(matches!(trim_all("text/plain"), Cow::Borrowed(_)));
    }
}
