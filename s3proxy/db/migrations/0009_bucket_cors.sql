-- S3 bucket CORS configurations (PutBucketCors): the rules a bucket's browser
-- requests are answered from. Supabase's schema has no place for them, so they live in
-- a table of our own that dies with its bucket.
CREATE TABLE IF NOT EXISTS storage.s3proxy_bucket_cors (
  bucket_id text PRIMARY KEY REFERENCES storage.buckets (id) ON DELETE CASCADE,
  rules jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE storage.s3proxy_bucket_cors ENABLE ROW LEVEL SECURITY;
GRANT ALL ON storage.s3proxy_bucket_cors TO service_role;
