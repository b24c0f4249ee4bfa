"""Postgres access: the pool, Principal-scoped transactions and the migrations."""
