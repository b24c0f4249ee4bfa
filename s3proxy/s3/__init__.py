"""The S3 wire protocol over the shared store."""
