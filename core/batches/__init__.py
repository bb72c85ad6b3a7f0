"""Batch runs: an analyst's prompt over a whole spreadsheet (issue 15)."""
