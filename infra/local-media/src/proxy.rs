//! Everything outside the media prefix goes to the functions (`cargo lambda watch`), streamed
//! both ways, headers kept but for the hop-by-hop ones.
//!
//! One thing is answered here instead: the local router hands a body declared as text (a
//! `text/*` or `application/json` type, or none at all) to the function as a string and fails
//! with a bare 500 when it is not UTF-8. No route takes such a body (the JSON routes need UTF-8
//! JSON, upload-local needs `multipart/form-data`), so it is a 400 problem here, before the
//! router sees it; a text body over the functions' payload limit is a 413, as each function
//! answers one.

use files_core::config::LAMBDA_MAX_BODY_BYTES;
use files_core::{ApiError, Code};
use futures_util::TryStreamExt;
use http_body_util::{BodyExt, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderMap};
use hyper::{Request, Response};

use crate::ResponseBody;

/// Headers that belong to one connection, not to the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The functions' base URL and a client for it.
#[derive(Debug)]
pub struct Upstream {
    base: String,
    client: reqwest::Client,
}

/// Whether the local router would read this body as a string (its rule, to the letter).
fn read_as_text(headers: &HeaderMap) -> bool {
    match headers.get(header::CONTENT_TYPE) {
        None => true,
        Some(value) => {
            let value = value.to_str().unwrap_or_default();
            value.starts_with("text/") || value.starts_with("application/json")
        }
    }
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            to.append(name.clone(), value.clone());
        }
    }
}

impl Upstream {
    /// The functions at `base` (`http://127.0.0.1:9002`, no trailing slash needed).
    pub fn new(base: String) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // The first request to a function builds it, which takes a while.
            .connect_timeout(std::time::Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Self { base: base.trim_end_matches('/').to_owned(), client }
    }

    /// Forwards `request` and streams the answer back.
    ///
    /// # Errors
    /// 400 / 413 for a text body the router cannot take (see the module), 503 when the
    /// functions cannot be reached.
    pub async fn forward(&self, request: Request<Incoming>) -> Result<Response<ResponseBody>, ApiError> {
        let (parts, body) = request.into_parts();
        let target = format!("{}{}", self.base, parts.uri.path_and_query().map_or("/", |pq| pq.as_str()));
        let body = if read_as_text(&parts.headers) {
            let limit = usize::try_from(LAMBDA_MAX_BODY_BYTES).unwrap_or(usize::MAX);
            let bytes = match Limited::new(body, limit).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(err) if err.is::<http_body_util::LengthLimitError>() => {
                    return Err(ApiError::new(
                        Code::PayloadTooLarge,
                        format!("Request bodies are limited to {LAMBDA_MAX_BODY_BYTES} bytes."),
                    ))
                }
                Err(_) => return Err(ApiError::new(Code::InvalidBody, "The request body broke off before its end.")),
            };
            if std::str::from_utf8(&bytes).is_err() {
                return Err(ApiError::new(
                    Code::InvalidBody,
                    "The body is declared as text (or has no Content-Type) but is not UTF-8; no route takes such a body.",
                ));
            }
            reqwest::Body::from(bytes)
        } else {
            reqwest::Body::wrap_stream(body.into_data_stream())
        };
        let mut headers = HeaderMap::new();
        copy_headers(&parts.headers, &mut headers);
        let sent = self.client.request(parts.method, target).headers(headers).body(body).send().await;
        let answer = sent.map_err(|e| ApiError::unavailable("local functions (cargo lambda watch)", e))?;
        let status = answer.status();
        let mut headers = HeaderMap::new();
        copy_headers(answer.headers(), &mut headers);
        let stream = answer.bytes_stream().map_ok(Frame::data).map_err(std::io::Error::other);
        let mut response = Response::new(StreamBody::new(stream).boxed_unsync());
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Ok(response)
    }
}
