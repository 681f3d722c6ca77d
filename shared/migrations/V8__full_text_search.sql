-- Full-text search on the PostgreSQL fallback: each document's file name (weight A) and text
-- (weight B) as a tsvector, written by the indexer with SEARCH_PG_TEXT_CONFIG and searched
-- through a GIN index, instead of substring scans over every row. Existing documents are
-- brought over with the `simple` configuration; `make reindex` rewrites them with another.
ALTER TABLE file_search_text ADD COLUMN document tsvector;
UPDATE file_search_text t
   SET document = setweight(to_tsvector('simple', f.original_filename || ' '
                   || regexp_replace(f.original_filename, '[^[:alnum:]]+', ' ', 'g')), 'A')
               || setweight(to_tsvector('simple', t.content), 'B')
  FROM stored_files f WHERE f.id = t.file_id;
UPDATE file_search_text SET document = ''::tsvector WHERE document IS NULL;
ALTER TABLE file_search_text ALTER COLUMN document SET NOT NULL;
CREATE INDEX file_search_text_document_idx ON file_search_text USING GIN (document);
