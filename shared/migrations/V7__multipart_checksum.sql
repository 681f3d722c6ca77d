-- The CRC-64/NVME a client declared for a multipart upload: the full-object checksum S3 keeps
-- of a multipart object (it keeps no whole-file SHA-256 of one), checked at confirm-upload.
ALTER TABLE multipart_uploads ADD COLUMN checksum_crc64nvme text;
