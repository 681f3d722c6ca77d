//! What a new upload declares (name, type, size, checksums, owner, method and parts), checked
//! against the upload settings: one place for initiate-upload and sign-request.

use super::upload::{InitiateUploadRequest, RequestedUploadMethod};
use super::{Field, ServiceError};
use crate::config::UploadSettings;
use crate::file::{NewFile, OwnerEntity};
use crate::keys::{Checksum, ContentType, Crc64, FileKey, OriginalFilename};
use crate::storage::multipart::PartPlan;

/// The name and type of an upload, parsed and checked against the allowed types.
pub(super) fn name_and_type(
    limits: &UploadSettings,
    filename: &str,
    content_type: &str,
) -> Result<(OriginalFilename, ContentType), ServiceError> {
    let filename = OriginalFilename::parse(filename).map_err(|e| ServiceError::invalid(Field::Filename, e))?;
    let content_type = ContentType::parse(content_type).map_err(|e| ServiceError::invalid(Field::ContentType, e))?;
    if !limits.allowed_content_types.allows(&content_type) {
        return Err(ServiceError::TypeNotAllowed { essence: content_type.essence().to_owned() });
    }
    Ok((filename, content_type))
}

fn validate_owner(owner: OwnerEntity) -> Result<OwnerEntity, ServiceError> {
    let ok = |s: &str| !s.trim().is_empty() && s.len() <= 255 && !s.chars().any(char::is_control);
    if ok(&owner.entity_type) && ok(&owner.id) {
        Ok(owner)
    } else {
        Err(ServiceError::invalid(
            Field::Owner,
            "owner.type and owner.id must be 1 to 255 bytes without control characters",
        ))
    }
}

/// How a multipart upload is cut, and the whole file's declared CRC-64/NVME.
#[derive(Debug, Clone, Copy)]
pub(super) struct Planned {
    /// The parts.
    pub(super) plan: PartPlan,
    /// The declared full-object checksum.
    pub(super) crc: Option<Crc64>,
}

/// The checked declaration of a new upload: its file (with a new key) and how it is sent.
pub(super) fn declaration(
    limits: &UploadSettings,
    request: InitiateUploadRequest,
) -> Result<(NewFile, RequestedUploadMethod, Option<Planned>), ServiceError> {
    let (filename, content_type) = name_and_type(limits, &request.filename, &request.content_type)?;
    let size =
        u64::try_from(request.size).map_err(|_| ServiceError::invalid(Field::Size, "size must not be negative"))?;
    if size > limits.max_size_bytes {
        return Err(ServiceError::TooLarge { limit: limits.max_size_bytes });
    }
    let checksum = request
        .checksum_sha256
        .as_deref()
        .map(Checksum::parse_base64)
        .transpose()
        .map_err(|e| ServiceError::invalid(Field::Checksum, e))?;
    let owner = request.owner.map(validate_owner).transpose()?;
    let method = request.upload_method.unwrap_or(if size > limits.multipart_above || request.part_size.is_some() {
        RequestedUploadMethod::Multipart
    } else {
        RequestedUploadMethod::Put
    });
    let plan = match method {
        RequestedUploadMethod::Multipart => {
            let part_size = request
                .part_size
                .map(u64::try_from)
                .transpose()
                .map_err(|_| ServiceError::invalid(Field::PartSize, "part_size must not be negative"))?;
            let plan =
                PartPlan::new(size, part_size).map_err(|reason| ServiceError::invalid(Field::PartSize, reason))?;
            let crc = request.checksum_crc64nvme.as_deref().map(Crc64::parse_base64).transpose();
            Some(Planned { plan, crc: crc.map_err(|e| ServiceError::invalid(Field::Checksum, e))? })
        }
        _ if request.part_size.is_some() => {
            return Err(ServiceError::invalid(Field::PartSize, "part_size is for multipart uploads only"))
        }
        _ if request.checksum_crc64nvme.is_some() => {
            let reason = "checksum_crc64nvme is for multipart uploads (a single upload declares checksum_sha256)";
            return Err(ServiceError::invalid(Field::Checksum, reason));
        }
        _ => None,
    };
    let key = FileKey::generate(&filename);
    Ok((NewFile { key, filename, content_type, size, checksum, owner }, method, plan))
}
