"""The tornado side shared by every protocol: how request bodies reach operations."""
