-- TUS resumable uploads (storage/tus.py): the state of an upload in progress, so any
-- worker of any node can take its next request. No storage.objects row exists until
-- the upload completes, and then it is made by s3proxy_commit_version like any write.
--
-- An upload's bytes are, in order: parts of the backend's multipart upload (each at
-- least 5 MiB), then "segments" (small objects under __s3proxy_tus/, fewer than 5 MiB
-- in all) that the next request folds into a part. `upload_offset` counts only bytes in
-- committed pieces. Part and segment numbers are handed out once each (`next_part`,
-- `next_segment`), so a request that lost its lease can never overwrite what another
-- request committed. `lease` is the one request allowed to write: it expires unless
-- renewed, so a crashed worker releases it by itself.

CREATE TABLE IF NOT EXISTS storage.s3proxy_tus_uploads (
  id text PRIMARY KEY,                      -- the version of the object it will become
  bucket_id text NOT NULL,
  name text COLLATE "C" NOT NULL,
  owner_id text,
  upsert boolean NOT NULL DEFAULT false,
  upload_length bigint,                     -- NULL while the length is deferred
  upload_offset bigint NOT NULL DEFAULT 0,
  metadata jsonb NOT NULL DEFAULT '{}',     -- what describes the object (mimetype, cacheControl)
  user_metadata jsonb,
  tus_metadata text,                        -- the Upload-Metadata header as sent, for HEAD
  backend_upload text,                      -- the backend multipart upload, once a part exists
  next_part integer NOT NULL DEFAULT 0,
  next_segment integer NOT NULL DEFAULT 0,
  lease uuid,
  lease_expires timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz
);
CREATE INDEX IF NOT EXISTS s3proxy_tus_uploads_updated ON storage.s3proxy_tus_uploads (updated_at);

CREATE TABLE IF NOT EXISTS storage.s3proxy_tus_pieces (
  upload_id text NOT NULL REFERENCES storage.s3proxy_tus_uploads (id) ON DELETE CASCADE,
  start bigint NOT NULL,                    -- the offset of its first byte
  size bigint NOT NULL,
  part integer,                             -- a backend part number, or NULL for a segment
  segment integer,                          -- the segment's number (its key), or NULL for a part
  etag text,                                -- the backend's part ETag
  md5 text,                                 -- hex MD5 of a part, when the store keeps no ETag
  PRIMARY KEY (upload_id, start),
  CHECK ((part IS NULL) <> (segment IS NULL))
);

ALTER TABLE storage.s3proxy_tus_uploads ENABLE ROW LEVEL SECURITY;
ALTER TABLE storage.s3proxy_tus_pieces ENABLE ROW LEVEL SECURITY;
GRANT ALL ON storage.s3proxy_tus_uploads, storage.s3proxy_tus_pieces TO service_role;

-- The completion: the object's row is switched to the upload's version exactly as
-- s3proxy_commit_version does for every write, and the upload is marked complete in
-- the same transaction, but only while the caller still holds the upload's lease.
-- outcome: as s3proxy_commit_version's, or 'Locked' when the lease was lost.
CREATE OR REPLACE FUNCTION storage.s3proxy_tus_commit(
  scope_names text[], scope_values text[], p_upload_id text, p_lease uuid, p_lock bigint,
  p_bucket_id text, p_name text, p_owner uuid, p_owner_id text, p_metadata jsonb, p_user_metadata jsonb,
  p_upsert boolean, p_size bigint,
  OUT outcome text, OUT replaced text, OUT obj storage.objects)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
DECLARE
  c record;
BEGIN
  PERFORM set_config(n, v, true) FROM unnest(scope_names, scope_values) WITH ORDINALITY AS t(n, v, i) ORDER BY i;
  PERFORM 1 FROM storage.s3proxy_tus_uploads u
    WHERE u.id = p_upload_id AND u.lease = p_lease AND u.completed_at IS NULL FOR UPDATE;
  IF NOT FOUND THEN
    outcome := 'Locked';
    RETURN;
  END IF;
  SELECT * INTO c
    FROM storage.s3proxy_commit_version(scope_names, scope_values, p_lock, p_bucket_id, p_name, p_upload_id,
                                        p_owner, p_owner_id, p_metadata, p_user_metadata, p_upsert, false,
                                        NULL::text[]);
  outcome := c.outcome;
  replaced := c.replaced;
  obj := c.obj;
  IF outcome = 'ok' THEN
    UPDATE storage.s3proxy_tus_uploads SET completed_at = now(), updated_at = now(), upload_offset = p_size,
           upload_length = p_size, lease = NULL, lease_expires = NULL, backend_upload = NULL
     WHERE id = p_upload_id;
    DELETE FROM storage.s3proxy_tus_pieces WHERE upload_id = p_upload_id;
  END IF;
END
$$;

GRANT EXECUTE ON FUNCTION storage.s3proxy_tus_commit(text[], text[], text, uuid, bigint, text, text, uuid, text,
  jsonb, jsonb, boolean, bigint) TO service_role;
