-- Completed multipart uploads (storage/completion.py), kept for a while after their
-- completion so that a CompleteMultipartUpload retried by an SDK (the first answer lost
-- on the way) answers 200 with the same result, as S3 does, rather than NoSuchUpload.
--
-- A row is written when a completion starts (completed_at NULL): it is the claim that
-- keeps two completions of one upload from assembling the same version at once. The
-- completion fills in its result and completed_at in the statement that deletes the
-- upload's row; a completion that fails removes its claim. `sweep` deletes rows older
-- than the retention (storage.completion.sweep_completed_uploads).
--
-- Only the server reads and writes it, as service_role; no request role may touch it.

CREATE TABLE IF NOT EXISTS storage.s3proxy_completed_uploads (
  upload_id text PRIMARY KEY,
  bucket_id text NOT NULL,
  key text COLLATE "C" NOT NULL,
  owner_id text,
  parts_digest text NOT NULL,          -- sha256 of the completion's part list
  etag text,                           -- the result, once completed
  checksum_algorithm text,
  checksum_value text,
  checksum_type text,
  started_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz
);

CREATE INDEX IF NOT EXISTS s3proxy_completed_uploads_started_idx
  ON storage.s3proxy_completed_uploads (started_at);

ALTER TABLE storage.s3proxy_completed_uploads ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON storage.s3proxy_completed_uploads FROM PUBLIC, anon, authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON storage.s3proxy_completed_uploads TO service_role;
DROP POLICY IF EXISTS s3proxy_completed_uploads_service ON storage.s3proxy_completed_uploads;
CREATE POLICY s3proxy_completed_uploads_service ON storage.s3proxy_completed_uploads
  FOR ALL TO service_role USING (true) WITH CHECK (true);
