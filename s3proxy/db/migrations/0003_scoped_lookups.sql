-- One-round-trip lookups: set the request's scope (role last) and run the query in one
-- statement. SECURITY INVOKER, so after set_config('role', …) the query runs as the
-- caller's role and RLS applies exactly as in a scoped transaction; the settings are
-- transaction-local and vanish with the statement's implicit transaction.

CREATE OR REPLACE FUNCTION storage.s3proxy_scoped_object(scope_names text[], scope_values text[],
                                                         p_bucket_id text, p_name text)
RETURNS SETOF storage.objects LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
BEGIN
  PERFORM set_config(n, v, true) FROM unnest(scope_names, scope_values) WITH ORDINALITY AS t(n, v, i) ORDER BY i;
  RETURN QUERY SELECT o.* FROM storage.objects o WHERE o.bucket_id = p_bucket_id AND o.name = p_name;
END
$$;

CREATE OR REPLACE FUNCTION storage.s3proxy_scoped_bucket(scope_names text[], scope_values text[],
                                                         p_bucket_id text)
RETURNS SETOF storage.buckets LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
BEGIN
  PERFORM set_config(n, v, true) FROM unnest(scope_names, scope_values) WITH ORDINALITY AS t(n, v, i) ORDER BY i;
  RETURN QUERY SELECT b.* FROM storage.buckets b WHERE b.id = p_bucket_id;
END
$$;

GRANT EXECUTE ON FUNCTION storage.s3proxy_scoped_object(text[], text[], text, text) TO anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION storage.s3proxy_scoped_bucket(text[], text[], text) TO anon, authenticated, service_role;
