"""Alembic revisions of the ledger schema, one file per version from 5 on (a package so installs ship them)."""
