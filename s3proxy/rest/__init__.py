"""The Supabase Storage REST API: handlers that translate JSON/HTTP to storage calls."""
