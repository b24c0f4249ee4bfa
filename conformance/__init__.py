"""Black-box conformance suite: judge any storage endpoint (Supabase Storage REST, S3) with real clients.

Run `python -m conformance --help`.
"""
