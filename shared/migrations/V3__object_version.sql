-- The S3 version id of the bytes confirm (or a proxied save) verified, on a bucket with
-- versioning: every download URL is signed for that version, so bytes written later under the
-- same key (a replayed upload URL or POST form) are never served. NULL on the local backend and
-- on buckets without versioning.
ALTER TABLE stored_files ADD COLUMN object_version text;
