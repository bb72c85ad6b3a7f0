"""The model catalogue (core/data/models.toml): ids, aliases, limits and the tier mapping."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from core.catalog.toml_schema import PositiveInt, Strict, Text, check, read_toml
from core.paths import PACKAGE_DATA

DATA_DIR = PACKAGE_DATA  # shipped inside the package: an installed wheel finds it from any directory
DEFAULT_CATALOGUE = DATA_DIR / "models.toml"


@dataclass(frozen=True)
class ModelInfo:
    """What validation needs to know about one model (limits in tokens)."""

    id: str
    family: str
    context_window: int
    max_output_tokens: int
    tokenizer: str
    status: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Catalogue:
    models: dict[str, ModelInfo]
    aliases: dict[str, str]
    tiers: dict[str, str]

    def resolve(self, model_or_tier: str) -> str:
        """Canonical id for a model id, alias or tier name; unchanged if unknown."""
        name = self.tiers.get(model_or_tier, model_or_tier)
        return self.aliases.get(name, name)

    def get(self, model: str) -> ModelInfo | None:
        return self.models.get(self.resolve(model))

    def offered(self, *, legacy: bool = False) -> list[str]:
        """Models a picker offers: current ones (tier order first), plus legacy and older ones when
        ``legacy``; retired ones never, since the API answers 404 for them."""
        allowed = {"current"} | ({"legacy", "older"} if legacy else set())
        tiered = [m for m in dict.fromkeys(self.tiers.values()) if m in self.models]
        rank = {"current": 0, "legacy": 1, "older": 2}
        rest = sorted((m for m in self.models if m not in tiered), key=lambda m: (rank.get(self.models[m].status, 3), m))
        return [m for m in [*tiered, *rest] if self.models[m].status in allowed]

    def defaults_for_compare(self, n: int = 2) -> list[str]:
        """``n`` current models of different tiers (cheapest tier first) for a first comparison."""
        picks = [m for m in dict.fromkeys(self.tiers.values())
                 if m in self.models and self.models[m].status == "current"]
        return (picks + [m for m in self.offered() if m not in picks])[:n]

    def known(self) -> list[str]:
        """Every name a caller may use: ids and aliases."""
        return sorted([*self.models, *self.aliases])


class ModelRowModel(Strict):
    """One [models.<id>] table of the catalogue file (limits in tokens)."""

    family: Text
    context_window: PositiveInt
    max_output_tokens: PositiveInt
    tokenizer: Literal["v1", "v2"] = "v1"
    status: Literal["current", "legacy", "older", "retired"] = "current"
    aliases: list[Text] = []


class CatalogueFileModel(Strict):
    """The catalogue file: models by canonical id, and the tier names mapped to ids."""

    models: dict[str, ModelRowModel] = {}
    tiers: dict[str, Text] = {}


def load_catalogue(path: Path | str = DEFAULT_CATALOGUE, tiers: dict[str, str] | None = None) -> Catalogue:
    """Read and strictly validate the catalogue; ``tiers`` overrides the file's tier mapping entry by entry.

    An unknown or missing field, a wrong type or an unknown status is a DataFileError naming
    the file and the field (e.g. ``data/models.toml: models.claude-x.context_window: ...``).
    """
    origin = str(path)
    raw = check(CatalogueFileModel, read_toml(Path(path).read_text(encoding="utf-8"), origin), origin)
    models, aliases = {}, {}
    for mid, row in raw.models.items():
        info = ModelInfo(id=mid, aliases=tuple(row.aliases),
                         **row.model_dump(include={"family", "context_window", "max_output_tokens",
                                                   "tokenizer", "status"}))
        models[mid] = info
        for alias in info.aliases:
            aliases[alias] = mid
    merged = {**raw.tiers, **(tiers or {})}
    return Catalogue(models=models, aliases=aliases, tiers=merged)


@lru_cache(maxsize=1)
def default_catalogue() -> Catalogue:
    return load_catalogue()
