-- A pending file sent as a multipart upload: the store's upload id (NULL until the client's own
-- CreateMultipartUpload, signed by the service, is first used), and how the file is cut. The
-- row goes with its file.
CREATE TABLE multipart_uploads (
    file_id     uuid PRIMARY KEY REFERENCES stored_files (id) ON DELETE CASCADE,
    upload_id   text,
    part_size   bigint  NOT NULL CHECK (part_size > 0),
    part_count  integer NOT NULL CHECK (part_count BETWEEN 1 AND 10000),
    created_at  timestamptz NOT NULL DEFAULT now()
);
