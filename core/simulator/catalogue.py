"""The simulator's own model list, read from the catalogue file the guard reads (core/data/models.toml).

The simulator shares no code with the guard it tests: it parses the file itself, leniently
(the guard's loader is the one that validates it), and keeps only what the API exposes.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files


@dataclass(frozen=True)
class ModelInfo:
    """One model as the simulated API knows it (limits in tokens)."""

    id: str
    family: str
    context_window: int
    max_output_tokens: int
    tokenizer: str = "v1"
    status: str = "current"
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Catalogue:
    """Models by id (file order, which /v1/models lists) and aliases -> id."""

    models: dict[str, ModelInfo]
    aliases: dict[str, str]


def load_catalogue(text: str) -> Catalogue:
    """The models of a catalogue file's text (its [models.<id>] tables; tiers are the guard's concern)."""
    models, aliases = {}, {}
    for mid, row in tomllib.loads(text).get("models", {}).items():
        info = ModelInfo(id=mid, family=row["family"], context_window=row["context_window"],
                         max_output_tokens=row["max_output_tokens"], tokenizer=row.get("tokenizer", "v1"),
                         status=row.get("status", "current"), aliases=tuple(row.get("aliases", ())))
        models[mid] = info
        aliases.update(dict.fromkeys(info.aliases, mid))
    return Catalogue(models=models, aliases=aliases)


@lru_cache(maxsize=1)
def default_catalogue() -> Catalogue:
    """The shipped catalogue, found with importlib.resources as the guard finds it."""
    return load_catalogue(files("core").joinpath("data", "models.toml").read_text(encoding="utf-8"))
