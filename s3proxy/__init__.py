"""s3proxy: the Supabase Storage REST API and the S3 protocol over one store."""

__version__ = "0.1.0"
