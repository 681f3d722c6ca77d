-- The transactional outbox: every change that affects the search index (a confirm, a proxied
-- upload, a delete) adds an entry in the same statement as the row change, so once that
-- commits the change reaches the index eventually, whatever fails afterwards. An entry names
-- only the key: the indexer reads the file's state as it is then (available: index it; gone
-- or pending: remove its document). The indexer deletes an entry once applied.
CREATE TABLE index_outbox (
    id          bigserial PRIMARY KEY,
    file_key    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- A poller holds an entry until then (a lease), so two never work on it at once.
    leased_until timestamptz,
    attempts    integer NOT NULL DEFAULT 0
);

CREATE INDEX index_outbox_created_at ON index_outbox (created_at);
