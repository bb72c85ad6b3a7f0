"""Production checklist: the items, the facts gathered for them, the source scan, ticks and the report."""
