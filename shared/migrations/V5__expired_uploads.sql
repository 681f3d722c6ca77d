-- Uploads initiated and never confirmed are expired by the reconciler after
-- UPLOAD_PENDING_TTL_SECONDS: the row is kept as 'expired' (its key is never issued again) and
-- its object, if any, removed.
ALTER TABLE stored_files DROP CONSTRAINT stored_files_status_check;
ALTER TABLE stored_files ADD CONSTRAINT stored_files_status_check
    CHECK (status IN ('pending', 'available', 'expired'));
CREATE INDEX stored_files_pending_created_idx ON stored_files (created_at) WHERE status = 'pending';
