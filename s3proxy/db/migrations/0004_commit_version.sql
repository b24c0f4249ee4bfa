-- The commit of every write in one round trip: set the scope, take the key's advisory
-- lock, check the current row against the write's conditions, then insert, upsert or
-- move the row. The same steps as a scoped transaction of five statements, but the
-- connection is held for one round trip instead of five (under load each round trip
-- waits for the event loop, so this multiplies the writes a pool can carry).
--
-- p_if_match: NULL for no If-Match, else the acceptable ETags without quotes or W/;
-- '*' accepts any existing object. p_object_id: move that row (keeping its id) rather
-- than insert. outcome: 'ok', or the error the caller raises: 'PreconditionFailed',
-- 'KeyAlreadyExists', 'NoSuchKey'. replaced: the superseded version, whose bytes the
-- caller deletes. obj: the committed row (NULL unless outcome is 'ok').

CREATE OR REPLACE FUNCTION storage.s3proxy_commit_version(
  scope_names text[], scope_values text[], p_lock bigint, p_bucket_id text, p_name text,
  p_version text, p_owner uuid, p_owner_id text, p_metadata jsonb, p_user_metadata jsonb,
  p_upsert boolean, p_if_none_match_star boolean, p_if_match text[], p_object_id uuid,
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
  IF p_object_id IS NOT NULL THEN
    UPDATE storage.objects o SET bucket_id = p_bucket_id, name = p_name, version = p_version,
           metadata = p_metadata, owner = p_owner, owner_id = p_owner_id, user_metadata = p_user_metadata
     WHERE o.id = p_object_id RETURNING o.* INTO obj;
    IF NOT FOUND THEN
      outcome := 'NoSuchKey';
      RETURN;
    END IF;
  ELSE
    INSERT INTO storage.objects AS o (bucket_id, name, version, owner, owner_id, metadata, user_metadata)
    VALUES (p_bucket_id, p_name, p_version, p_owner, p_owner_id, p_metadata, p_user_metadata)
    ON CONFLICT (name, bucket_id) DO UPDATE SET version = excluded.version, owner = excluded.owner,
       owner_id = excluded.owner_id, metadata = excluded.metadata, user_metadata = excluded.user_metadata,
       last_accessed_at = now()
    RETURNING o.* INTO obj;
  END IF;
  IF found_current AND cur_version IS DISTINCT FROM p_version THEN
    replaced := cur_version;
  END IF;
  outcome := 'ok';
END
$$;

GRANT EXECUTE ON FUNCTION storage.s3proxy_commit_version(text[], text[], bigint, text, text, text, uuid, text, jsonb,
  jsonb, boolean, boolean, text[], uuid) TO anon, authenticated, service_role;
