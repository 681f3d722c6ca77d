-- The metadata of every file the service knows, pending or available.
CREATE TABLE stored_files (
    id                 uuid PRIMARY KEY,
    file_key           varchar(1024) NOT NULL UNIQUE,
    original_filename  varchar(255)  NOT NULL,
    content_type       varchar(100)  NOT NULL,
    size               bigint        NOT NULL CHECK (size >= 0),
    checksum_sha256    text,
    status             text          NOT NULL CHECK (status IN ('pending', 'available')),
    storage_backend    varchar(50)   NOT NULL,
    bucket_name        varchar(255),
    uploaded_by        text          NOT NULL,
    organization_id    text          NOT NULL,
    owner_entity_type  text,
    owner_entity_id    text,
    created_at         timestamptz   NOT NULL DEFAULT now(),
    updated_at         timestamptz   NOT NULL DEFAULT now(),
    confirmed_at       timestamptz,
    CHECK ((owner_entity_type IS NULL) = (owner_entity_id IS NULL)),
    CHECK ((status = 'available') = (confirmed_at IS NOT NULL))
);

CREATE INDEX stored_files_org_created_idx ON stored_files (organization_id, created_at DESC);
CREATE INDEX stored_files_owner_entity_idx ON stored_files (organization_id, owner_entity_type, owner_entity_id)
    WHERE owner_entity_type IS NOT NULL;
