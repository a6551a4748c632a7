"""Alembic migration scripts for the store (a package only so that it ships with the wheel)."""
