-- The PostgreSQL fallback's search reads a document's organization and age from the document
-- itself: a common word matches tens of thousands of documents, and filtering and ordering
-- them through a join to stored_files cost a probe each. Both are copied from the file when
-- the document is written and never change.
ALTER TABLE file_search_text ADD COLUMN organization_id text, ADD COLUMN created_at timestamptz;
UPDATE file_search_text t SET organization_id = f.organization_id, created_at = f.created_at
  FROM stored_files f WHERE f.id = t.file_id;
ALTER TABLE file_search_text ALTER COLUMN organization_id SET NOT NULL, ALTER COLUMN created_at SET NOT NULL;
CREATE INDEX file_search_text_org_created_idx ON file_search_text (organization_id, created_at DESC);
