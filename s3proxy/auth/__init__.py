"""Who is calling: JWT verification, SigV4 verification, and the resulting Principal."""
