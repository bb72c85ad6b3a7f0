"""Catalogue: models, prices, the price file, its TOML schema and money formatting (pure data)."""
