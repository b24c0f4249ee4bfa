-- S3 access keys that belong to a user (auth/credentials.py): a request signed with one
-- runs as that user (role, sub, claims), under RLS, like the user's JWT over REST.
--
-- Only the server reads this table, as the login user (the owner). The secret is stored
-- encrypted (AES-256-GCM, key derived from the server's AUTH_JWT_SECRET), so a reader of
-- the database cannot sign with it; still, no request role may read the rows at all:
-- the schema's default privileges grant every new table to anon, authenticated and
-- service_role, which is revoked here, and RLS without policies is a second fence.

CREATE TABLE IF NOT EXISTS storage.s3proxy_credentials (
  access_key_id text PRIMARY KEY,
  secret_encrypted text NOT NULL,
  sub text NOT NULL,
  role text NOT NULL DEFAULT 'authenticated',
  claims jsonb NOT NULL DEFAULT '{}'::jsonb,
  description text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);

CREATE INDEX IF NOT EXISTS s3proxy_credentials_sub_idx ON storage.s3proxy_credentials (sub);

ALTER TABLE storage.s3proxy_credentials ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON storage.s3proxy_credentials FROM PUBLIC, anon, authenticated, service_role;
