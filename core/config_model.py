"""Helpers of the pydantic-settings ``Settings`` model: the st.secrets source, field listing, secrets, copies.

Kept apart from ``core.config`` (which declares every setting) so that file stays a list of
variables. ``fields``, ``reveal`` and ``replace`` are re-exported there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from pydantic import SecretStr, ValidationError
from pydantic_settings import PydanticBaseSettingsSource

from core.errors import ConfigError


class MappingSource(PydanticBaseSettingsSource):
    """A settings source over one mapping of variable -> value (st.secrets' top-level entries)."""

    def __init__(self, settings_cls, values: Mapping[str, Any]) -> None:
        super().__init__(settings_cls)
        self.values = values

    def get_field_value(self, field, field_name):  # unused: __call__ answers for every field at once
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        names = {f.validation_alias for f in self.settings_cls.model_fields.values() if f.validation_alias}
        return {k: v for k, v in self.values.items() if k in names}


class SettingField(NamedTuple):
    """One declared setting: its field name, default and metadata (env, doc, parse, secret)."""

    name: str
    default: Any
    metadata: dict


def fields(cls) -> list[SettingField]:
    """Every field of a settings class in declaration order (``core.config.fields`` defaults it to Settings)."""
    return [SettingField(n, f.default, dict(f.json_schema_extra or {})) for n, f in cls.model_fields.items()]


def reveal(value: SecretStr | str | None) -> str | None:
    """The text of a secret setting (a plain string, as a test or host may pass, is returned as is)."""
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def replace(settings, **changes):
    """A checked copy of ``settings`` with ``changes`` (what ``dataclasses.replace`` did for the dataclass)."""
    cls = type(settings)
    return cls(**{**{n: getattr(settings, n) for n in cls.model_fields}, **changes})


def config_error(exc: ValidationError, cls) -> ConfigError:
    """The ConfigError a check raised, or one for pydantic's own type error (its value not quoted)."""
    for err in exc.errors():
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, ConfigError):
            return cause
    first = exc.errors()[0]
    field_name = str(first["loc"][0]) if first["loc"] else ""
    info = cls.model_fields.get(field_name)
    variable = (info.validation_alias if info else None) or field_name or "settings"
    return ConfigError(str(variable), f"{first['msg'][:1].lower()}{first['msg'][1:]}")


def secrets_flat(secrets: Mapping | None) -> dict[str, str]:
    """Top-level string entries of st.secrets (``TOLLGATE_*`` and ``ANTHROPIC_*`` names)."""
    if not secrets:
        return {}
    out = {}
    try:
        for k in secrets:
            v = secrets[k]
            if isinstance(v, (str, int, float, bool)):
                out[str(k)] = str(v)
    except Exception:  # st.secrets raises when no secrets file exists
        return {}
    return out
