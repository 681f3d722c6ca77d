//! `local-media`: the local backend's storage endpoint, and the one port `make dev` serves.
//!
//! On AWS, clients send and fetch file bytes from S3 through pre-signed URLs; nothing of ours
//! carries them. Locally this server is S3's stand-in: a plain streaming HTTP server (not a
//! Lambda function, so none of Lambda's limits) that answers the local backend's signed URLs
//! under `LOCAL_MEDIA_URL_PREFIX` ([`media`]):
//!
//! - `PUT`: streamed to disk, byte-exact whatever the content type, up to the signed size;
//!   never overwrites, and the signed content type, size and checksum are enforced.
//! - `GET` / `HEAD`: streamed from disk in constant memory, with the signed `Content-Type` and
//!   `Content-Disposition`, `ETag`, and single `Range` requests (206 / 416).
//!
//! Every other request is forwarded to the functions (`cargo lambda watch`, [`proxy`]), so the
//! API and its media share one host and port as API Gateway and S3 never could. One CORS
//! policy covers both ([`cors`]). With the S3 backend, every media request is 404 at once.

pub mod media;
pub mod proxy;
pub mod s3;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use files_core::config::{StorageSettings, DEFAULT_MEDIA_URL_PREFIX};
use files_core::http::problem_response;
use files_core::storage::local::LocalFileStorage;
use files_core::{ApiError, Settings};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::HeaderName;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer, ExposeHeaders};

/// Every response body this server sends: bytes from memory, a file, or the functions.
pub type ResponseBody = UnsyncBoxBody<Bytes, std::io::Error>;

/// What the server answers: the media store (local backend only) and the functions behind it.
#[derive(Debug)]
pub struct App {
    media: Option<LocalFileStorage>,
    prefix: String,
    upstream: Option<proxy::Upstream>,
    origins: Origins,
}

/// The origins allowed to read responses from another origin (`CORS_ALLOWED_ORIGINS`).
#[derive(Debug, Clone)]
pub enum Origins {
    /// Any origin (`*`): signed URLs and bearer tokens need no cookies, so none are allowed.
    Any,
    /// These, each `scheme://host[:port]`, or `scheme://host:*` for every port of the host.
    List(Vec<String>),
}

/// Local development origins, the default: any port of the loopback names.
pub const LOCAL_ORIGINS: &str = "http://localhost:*,http://127.0.0.1:*,http://[::1]:*";

impl Origins {
    /// `*` or a comma-separated list of origins (`scheme://host:*` for any port).
    pub fn parse(raw: &str) -> Self {
        let list: Vec<String> = raw
            .split(',')
            .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
            .filter(|o| !o.is_empty())
            .collect();
        if list.is_empty() || list.iter().any(|o| o == "*") {
            Self::Any
        } else {
            Self::List(list)
        }
    }

    /// Whether browser code from `origin` may read the answers.
    pub fn allows(&self, origin: &str) -> bool {
        match self {
            Self::Any => true,
            Self::List(list) => {
                let origin = origin.to_ascii_lowercase();
                list.iter().any(|allowed| match allowed.strip_suffix(":*") {
                    // The host, then a port of digits only (an origin's port, never more host).
                    Some(host) => origin
                        .strip_prefix(host)
                        .and_then(|rest| rest.strip_prefix(':'))
                        .is_some_and(|port| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())),
                    None => *allowed == origin,
                })
            }
        }
    }
}

impl App {
    /// The server for `settings`; `upstream` is the functions' base URL, if any (without one,
    /// every request outside the media prefix is 404).
    pub fn new(settings: &Settings, upstream: Option<String>, origins: Origins) -> Self {
        let (media, prefix) = match &settings.storage {
            StorageSettings::Local(local) => (Some(LocalFileStorage::from_settings(local)), local.url_prefix.clone()),
            // Where the local backend would serve: answered 404 at once rather than forwarded.
            StorageSettings::S3(_) => (None, DEFAULT_MEDIA_URL_PREFIX.to_owned()),
        };
        Self { media, prefix, upstream: upstream.map(proxy::Upstream::new), origins }
    }

    fn is_media_path(&self, path: &str) -> bool {
        path.strip_prefix(self.prefix.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    /// One request: a media request is answered here, anything else by the functions.
    pub async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Response<ResponseBody> {
        let path = request.uri().path().to_owned();
        if self.is_media_path(&path) {
            let response = match &self.media {
                Some(storage) => media::serve(storage, &self.prefix, request).await,
                None => Err(media::not_found()),
            };
            return response.unwrap_or_else(|err| problem(&err));
        }
        match &self.upstream {
            Some(upstream) => upstream.forward(request).await.unwrap_or_else(|err| problem(&err)),
            None => problem(&media::not_found()),
        }
    }

    /// The CORS policy of every route, as one layer: the HTTP API's and the bucket's rules of
    /// `template.yaml` together, since locally both are one origin. Preflights are answered
    /// here; requested headers are allowed as the bucket's `AllowedHeaders: ["*"]` does.
    fn cors(&self) -> CorsLayer {
        let origin = match &self.origins {
            Origins::Any => AllowOrigin::any(),
            Origins::List(_) => {
                let origins = self.origins.clone();
                AllowOrigin::predicate(move |origin, _| origin.to_str().is_ok_and(|o| origins.allows(o)))
            }
        };
        let exposed = ["etag", "content-disposition", "content-range", "content-length", "retry-after", "location"];
        CorsLayer::new()
            .allow_origin(origin)
            .allow_methods([Method::GET, Method::HEAD, Method::PUT, Method::POST, Method::DELETE])
            .allow_headers(AllowHeaders::mirror_request())
            .expose_headers(ExposeHeaders::list(
                exposed
                    .iter()
                    .map(|h| HeaderName::from_static(h))
                    .chain([HeaderName::from_static("x-amz-checksum-sha256")]),
            ))
            .max_age(std::time::Duration::from_secs(3600))
    }
}

/// A problem+json response for `err`, logged once (the functions' own rendering).
pub fn problem(err: &ApiError) -> Response<ResponseBody> {
    let (parts, body) = problem_response(err).into_parts();
    Response::from_parts(parts, full(Bytes::copy_from_slice(body.as_ref())))
}

/// A body from memory.
pub fn full(bytes: Bytes) -> ResponseBody {
    Full::new(bytes).map_err(|never: Infallible| match never {}).boxed_unsync()
}

/// An empty body.
pub fn empty() -> ResponseBody {
    full(Bytes::new())
}

/// Serves `app` on `listener` until the task is dropped; each connection on its own task.
///
/// # Errors
/// Never in practice: a failed accept is logged and the loop goes on.
pub async fn serve(listener: TcpListener, app: Arc<App>) -> std::io::Result<()> {
    let cors = app.cors();
    loop {
        let (stream, peer): (_, SocketAddr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let app = app.clone();
        let service = ServiceBuilder::new().layer(cors.clone()).service_fn(move |request: Request<Incoming>| {
            let app = app.clone();
            async move { Ok::<_, Infallible>(app.handle(request).await) }
        });
        tokio::spawn(async move {
            let service = hyper_util::service::TowerToHyperService::new(service);
            if let Err(err) =
                hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await
            {
                tracing::debug!(%peer, error = %err, "connection ended with an error");
            }
        });
    }
}
