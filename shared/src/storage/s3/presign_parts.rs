//! The multipart requests [`Presigner`] signs: `CreateMultipartUpload`, `UploadPart`,
//! `ListParts`, `CompleteMultipartUpload` and `AbortMultipartUpload`, each with the headers it
//! binds.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;

use sha2::{Digest as _, Sha256};

use super::presign::{Presigned, PresignedRequest, Presigner, SIGNATURE_MARK};
use super::sigv4::PresignError;

/// One of the multipart operations [`Presigner::multipart`] signs.
#[derive(Debug, Clone, Copy)]
pub enum MultipartOperation<'a> {
    /// `CreateMultipartUpload` of an object of this `Content-Type`.
    Create {
        /// `Content-Type`.
        content_type: &'a str,
    },
    /// `UploadPart` of exactly `content_length` bytes.
    Part {
        /// `uploadId`.
        upload_id: &'a str,
        /// `partNumber`.
        part_number: u32,
        /// `Content-Length`.
        content_length: u64,
    },
    /// `ListParts`.
    List {
        /// `uploadId`.
        upload_id: &'a str,
    },
    /// `CompleteMultipartUpload`; `If-None-Match: *` makes it create-only.
    Complete {
        /// `uploadId`.
        upload_id: &'a str,
        /// `If-None-Match`.
        if_none_match: Option<&'a str>,
    },
    /// `AbortMultipartUpload`.
    Abort {
        /// `uploadId`.
        upload_id: &'a str,
    },
}

/// A presigned multipart request on one key.
#[derive(Debug, Clone, Copy)]
pub struct MultipartRequest<'a> {
    /// The object key.
    pub key: &'a str,
    /// The operation.
    pub operation: MultipartOperation<'a>,
}

impl Presigner {
    /// A presigned multipart request (`CreateMultipartUpload`, `UploadPart`, `ListParts`,
    /// `CompleteMultipartUpload`, `AbortMultipartUpload`) and the headers it must carry: the
    /// content type of a create, the exact length of a part, `If-None-Match` of a completion.
    ///
    /// # Errors
    /// As [`Presigner::put_object`].
    pub fn multipart(
        &self,
        request: &MultipartRequest<'_>,
        creds: &Credentials,
        start: SystemTime,
        ttl: Duration,
    ) -> Presigned {
        let number;
        let mut headers: Vec<(&'static str, String)> = Vec::with_capacity(2);
        let (method, query): (&str, Vec<(&str, &str)>) = match request.operation {
            MultipartOperation::Create { content_type } => {
                headers.push(("content-type", content_type.to_owned()));
                ("POST", vec![("uploads", ""), ("x-id", "CreateMultipartUpload")])
            }
            MultipartOperation::Part { upload_id, part_number, content_length } => {
                number = part_number.to_string();
                headers.push(("content-length", content_length.to_string()));
                ("PUT", vec![("x-id", "UploadPart"), ("partNumber", &number), ("uploadId", upload_id)])
            }
            MultipartOperation::List { upload_id } => ("GET", vec![("x-id", "ListParts"), ("uploadId", upload_id)]),
            MultipartOperation::Complete { upload_id, if_none_match } => {
                if let Some(value) = if_none_match {
                    headers.push(("if-none-match", value.to_owned()));
                }
                ("POST", vec![("x-id", "CompleteMultipartUpload"), ("uploadId", upload_id)])
            }
            MultipartOperation::Abort { upload_id } => {
                ("DELETE", vec![("x-id", "AbortMultipartUpload"), ("uploadId", upload_id)])
            }
        };
        self.presign(method, request.key, &query, headers, creds, start, ttl)
    }

    /// `UploadPart` URLs of one upload, one per `(part number, exact length)`, byte for byte as
    /// [`Presigner::multipart`] signs each, with what they share done once: the timestamp,
    /// scope, query and URL, and the SHA-256 of the canonical request's common prefix (all of it
    /// up to the part number). A thousand parts cost about half of a thousand single signings.
    ///
    /// # Errors
    /// As [`Presigner::multipart`].
    pub fn upload_parts(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, u64)],
        creds: &Credentials,
        start: SystemTime,
        ttl: Duration,
    ) -> Result<Vec<PresignedRequest>, PresignError> {
        const PART: &str = "{part}";
        const LENGTH: &str = "{length}";
        // `{part}` as a query value is percent-encoded; `{length}`, a header value, is not.
        const PART_ENCODED: &str = "%7Bpart%7D";
        let operation = [("x-id", "UploadPart"), ("partNumber", PART), ("uploadId", upload_id)];
        let prepared =
            self.prepare("PUT", key, &operation, vec![("content-length", LENGTH.to_owned())], creds, start, ttl)?;
        let pieces = |text: &'_ str, first: &str, second: &str| -> Option<(usize, usize)> {
            let a = text.find(first)?;
            let b = text.find(second)?;
            (a < b && text.matches(first).count() == 1 && text.matches(second).count() == 1).then_some((a, b))
        };
        let (Some((n_at, len_at)), Some((url_n, url_sig))) =
            (pieces(&prepared.creq, PART_ENCODED, LENGTH), pieces(&prepared.url, PART_ENCODED, SIGNATURE_MARK))
        else {
            // Never with the keys and ids this service makes; signed one by one all the same.
            return parts
                .iter()
                .map(|&(number, length)| self.one_part(key, upload_id, number, length, creds, start, ttl))
                .collect();
        };
        let creq = prepared.creq.as_bytes();
        let (mid, suffix) = (&creq[n_at + PART_ENCODED.len()..len_at], &creq[len_at + LENGTH.len()..]);
        let mut prefix = Sha256::new();
        prefix.update(&creq[..n_at]);
        let url = &prepared.url;
        let (url_head, url_mid, url_tail) =
            (&url[..url_n], &url[url_n + PART_ENCODED.len()..url_sig], &url[url_sig + SIGNATURE_MARK.len()..]);
        let mut signed = Vec::with_capacity(parts.len());
        for &(number, length) in parts {
            let (number, length) = (number.to_string(), length.to_string());
            let mut hasher = prefix.clone();
            hasher.update(number.as_bytes());
            hasher.update(mid);
            hasher.update(length.as_bytes());
            hasher.update(suffix);
            let signature = prepared.sign_hash(&hex::encode(hasher.finalize()));
            let mut url = String::with_capacity(prepared.url.len() + 64);
            for piece in [url_head, &number, url_mid, &signature, url_tail] {
                url.push_str(piece);
            }
            signed.push(PresignedRequest { url, headers: vec![("content-length", length)] });
        }
        Ok(signed)
    }

    #[allow(clippy::too_many_arguments)]
    fn one_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        content_length: u64,
        creds: &Credentials,
        start: SystemTime,
        ttl: Duration,
    ) -> Presigned {
        let operation = MultipartOperation::Part { upload_id, part_number, content_length };
        self.multipart(&MultipartRequest { key, operation }, creds, start, ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::s3::presign::PresignTarget;
    use proptest::prelude::*;

    fn presigner(endpoint: Option<&str>, path_style: bool) -> Presigner {
        let target = PresignTarget {
            endpoint_url: endpoint,
            bucket: "files",
            region: "eu-west-1",
            force_path_style: path_style,
            ..Default::default()
        };
        Presigner::new(&target).unwrap()
    }

    proptest! {
        /// A batch signs every part exactly as signing it alone does, whatever the endpoint,
        /// credentials, upload id, numbers, lengths and time.
        #[test]
        fn a_batch_signs_each_part_as_signing_it_alone_does(
            parts in proptest::collection::vec((1u32..=10_000, 1u64..=5 * 1024 * 1024 * 1024), 1..20),
            upload_id in "[A-Za-z0-9._~-]{1,80}",
            token in proptest::option::of("[A-Za-z0-9/+=]{1,60}"),
            path_style in any::<bool>(),
            seconds in 1_600_000_000u64..2_000_000_000,
        ) {
            let endpoint = if path_style { Some("http://127.0.0.1:4566") } else { None };
            let signer = presigner(endpoint, path_style);
            let creds = Credentials::new("AKIDEXAMPLE", "secret", token, None, "test");
            let start = SystemTime::UNIX_EPOCH + Duration::from_secs(seconds);
            let ttl = Duration::from_secs(900);
            let key = "uploads/0b5e2c1e-7d8e-4c4c-9a53-0f7c8b1d2e3f.bin";
            let batch = signer.upload_parts(key, &upload_id, &parts, &creds, start, ttl).unwrap();
            prop_assert_eq!(batch.len(), parts.len());
            for (signed, &(number, length)) in batch.iter().zip(&parts) {
                let alone = signer.one_part(key, &upload_id, number, length, &creds, start, ttl).unwrap();
                prop_assert_eq!(signed, &alone);
            }
        }
    }
}
