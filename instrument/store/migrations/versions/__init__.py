"""Alembic revisions, one module per schema change (Alembic skips this file)."""
