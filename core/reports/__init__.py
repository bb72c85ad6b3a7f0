"""Reports: ledger queries, usage reports per viewer, repricing and demo data."""
