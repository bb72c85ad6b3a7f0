"""Alembic revisions of the ledger schema, one file per version from 4 on (a package so installs ship them)."""
