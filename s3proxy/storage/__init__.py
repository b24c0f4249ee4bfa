"""Protocol-neutral storage operations: no tornado, no JSON or XML rendering here."""
