//! The multipart requests [`Presigner`] signs: `CreateMultipartUpload`, `UploadPart`,
//! `ListParts`, `CompleteMultipartUpload` and `AbortMultipartUpload`, each with the headers it
//! binds.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;

use super::presign::{Presigned, Presigner};

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
}
