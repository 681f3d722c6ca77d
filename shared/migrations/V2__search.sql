-- Ordering of indexing work per object key: S3 delivers events at least once and out of order.
-- `sequencer` is the newest S3 event applied (hex, compared left-padded); `version` grows with
-- every accepted change and is the search document's external version, so an older write can
-- never overwrite a newer one in the index either.
CREATE TABLE index_state (
    file_key    varchar(1024) PRIMARY KEY,
    sequencer   text          NOT NULL DEFAULT '',
    version     bigint        NOT NULL,
    updated_at  timestamptz   NOT NULL DEFAULT now()
);

-- Extracted text, for searching without Elasticsearch (the PostgreSQL fallback).
CREATE TABLE file_search_text (
    file_id     uuid PRIMARY KEY REFERENCES stored_files (id) ON DELETE CASCADE,
    content     text NOT NULL,
    version     bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX stored_files_org_type_idx ON stored_files (organization_id, content_type);
CREATE INDEX stored_files_org_uploader_idx ON stored_files (organization_id, uploaded_by);
