-- Moves commit like writes do, and only the version they copied.
--
-- A move copies the source's current version to a fresh version of the destination,
-- then switches the row. Between the two, a writer may overwrite the source (or
-- another move may take it): switching the row regardless would carry the copied
-- (older) bytes to the destination and drop the newer write, which was acknowledged.
-- So the switch happens under both keys' advisory locks (the same locks every write
-- commit takes, taken in a fixed order), and only while the source row still holds
-- the copied version. outcome: 'ok'; 'NoSuchKey' when the source is gone;
-- 'VersionChanged' when it was overwritten (the caller copies again);
-- 'KeyAlreadyExists' when the destination exists (moves never overwrite).

CREATE OR REPLACE FUNCTION storage.s3proxy_commit_move(
  scope_names text[], scope_values text[], p_locks bigint[], p_src_bucket text, p_src_name text,
  p_src_version text, p_dst_bucket text, p_dst_name text, p_version text, p_owner uuid,
  p_owner_id text, p_metadata jsonb,
  OUT outcome text, OUT obj storage.objects)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
DECLARE
  cur_version text;
BEGIN
  PERFORM set_config(n, v, true) FROM unnest(scope_names, scope_values) WITH ORDINALITY AS t(n, v, i) ORDER BY i;
  PERFORM pg_advisory_xact_lock(l) FROM (SELECT DISTINCT unnest(p_locks) AS l ORDER BY 1) AS locks;
  SELECT o.version INTO cur_version
    FROM storage.objects o WHERE o.bucket_id = p_src_bucket AND o.name = p_src_name FOR UPDATE;
  IF NOT FOUND THEN
    outcome := 'NoSuchKey';
    RETURN;
  END IF;
  IF cur_version IS DISTINCT FROM p_src_version THEN
    outcome := 'VersionChanged';
    RETURN;
  END IF;
  PERFORM 1 FROM storage.objects o WHERE o.bucket_id = p_dst_bucket AND o.name = p_dst_name;
  IF FOUND THEN
    outcome := 'KeyAlreadyExists';
    RETURN;
  END IF;
  UPDATE storage.objects o SET bucket_id = p_dst_bucket, name = p_dst_name, version = p_version,
         metadata = p_metadata, owner = p_owner, owner_id = p_owner_id
   WHERE o.bucket_id = p_src_bucket AND o.name = p_src_name RETURNING o.* INTO obj;
  outcome := 'ok';
END
$$;

GRANT EXECUTE ON FUNCTION storage.s3proxy_commit_move(text[], text[], bigint[], text, text, text, text, text, text,
  uuid, text, jsonb) TO anon, authenticated, service_role;

-- Moves no longer go through s3proxy_commit_version, so it loses its row-id argument.
DROP FUNCTION IF EXISTS storage.s3proxy_commit_version(text[], text[], bigint, text, text, text, uuid, text, jsonb,
  jsonb, boolean, boolean, text[], uuid);

CREATE OR REPLACE FUNCTION storage.s3proxy_commit_version(
  scope_names text[], scope_values text[], p_lock bigint, p_bucket_id text, p_name text,
  p_version text, p_owner uuid, p_owner_id text, p_metadata jsonb, p_user_metadata jsonb,
  p_upsert boolean, p_if_none_match_star boolean, p_if_match text[],
  OUT outcome text, OUT replaced text, OUT obj storage.objects)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
DECLARE
  cur_version text;
  cur_etag text;
  found_current boolean;
BEGIN
  PERFORM set_config(n, v, true) FROM unnest(scope_names, scope_values) WITH ORDINALITY AS t(n, v, i) ORDER BY i;
  PERFORM pg_advisory_xact_lock(p_lock);
  SELECT o.version, o.metadata->>'eTag' INTO cur_version, cur_etag
    FROM storage.objects o WHERE o.bucket_id = p_bucket_id AND o.name = p_name FOR UPDATE;
  found_current := FOUND;
  IF found_current AND p_if_none_match_star THEN
    outcome := 'PreconditionFailed';
    RETURN;
  END IF;
  IF found_current AND NOT p_upsert THEN
    outcome := 'KeyAlreadyExists';
    RETURN;
  END IF;
  IF p_if_match IS NOT NULL THEN
    IF NOT found_current THEN
      outcome := 'NoSuchKey';
      RETURN;
    END IF;
    IF NOT ('*' = ANY (p_if_match) OR btrim(coalesce(cur_etag, ''), ' "') = ANY (p_if_match)) THEN
      outcome := 'PreconditionFailed';
      RETURN;
    END IF;
  END IF;
  INSERT INTO storage.objects AS o (bucket_id, name, version, owner, owner_id, metadata, user_metadata)
  VALUES (p_bucket_id, p_name, p_version, p_owner, p_owner_id, p_metadata, p_user_metadata)
  ON CONFLICT (name, bucket_id) DO UPDATE SET version = excluded.version, owner = excluded.owner,
     owner_id = excluded.owner_id, metadata = excluded.metadata, user_metadata = excluded.user_metadata,
     last_accessed_at = now()
  RETURNING o.* INTO obj;
  IF found_current AND cur_version IS DISTINCT FROM p_version THEN
    replaced := cur_version;
  END IF;
  outcome := 'ok';
END
$$;

GRANT EXECUTE ON FUNCTION storage.s3proxy_commit_version(text[], text[], bigint, text, text, text, uuid, text, jsonb,
  jsonb, boolean, boolean, text[]) TO anon, authenticated, service_role;
