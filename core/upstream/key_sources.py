"""Where API keys come from: st.secrets, the environment, a mounted file, AWS Secrets Manager.

Each reader returns ``(label, raw_value, where)`` triples in its own order and raises
``NotConfigured`` with a message that names the variable, path or secret id, never a
value. ``core.upstream.keys.load_keys`` merges them, checks each value and dedupes. boto3 is
imported only when ``TOLLGATE_AWS_SECRET_ID`` is set.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path

from core.errors import NotConfigured, scrub

PRIMARY = "primary"  # the label of an unlabelled key
ENV_KEY = "ANTHROPIC_API_KEY"
ENV_FILE = "ANTHROPIC_API_KEY_FILE"
AWS_SECRET_ID = "TOLLGATE_AWS_SECRET_ID"
AWS_REGION = "TOLLGATE_AWS_REGION"
AWS_ENDPOINT = "TOLLGATE_AWS_ENDPOINT_URL"
KEY_CREATED = "TOLLGATE_KEY_CREATED"
DEFAULT_AWS_REGION = "us-east-1"

_LABEL = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")

Found = tuple[str, object, str]  # (label, raw value, where it was found: for messages)


def check_label(raw: str, where: str) -> str:
    """A label lowercased; letters, digits, '_', '-', '.' only (it shows on the health page)."""
    label = str(raw).strip().lower()
    if not _LABEL.match(label):
        raise NotConfigured(f"{where}: the key label must be 1-64 letters, digits, '_', '-' or '.' "
                            "(starting with a letter or digit).")
    return label


def _safe_items(mapping) -> list[tuple[str, object]]:
    """Items of a secrets mapping; st.secrets raises on access when no secrets file exists."""
    if mapping is None:
        return []
    try:
        return [(str(k), mapping[k]) for k in mapping]
    except Exception:  # any failure reading st.secrets means "no secrets"
        return []


def from_secrets(secrets: Mapping | None) -> list[Found]:
    """Keys in st.secrets: top-level ANTHROPIC_API_KEY, [anthropic] api_key, [anthropic.keys]."""
    items = dict(_safe_items(secrets))
    found: list[Found] = []
    if ENV_KEY in items:
        found.append((PRIMARY, items[ENV_KEY], f"st.secrets {ENV_KEY}"))
    section = items.get("anthropic")
    if isinstance(section, Mapping):
        inner = dict(_safe_items(section))
        if "api_key" in inner:
            found.append((PRIMARY, inner["api_key"], "st.secrets [anthropic] api_key"))
        labelled = inner.get("keys")
        if labelled is not None and not isinstance(labelled, Mapping):
            raise NotConfigured("st.secrets [anthropic.keys] must be a table of label = \"key\".")
        for name, value in _safe_items(labelled):
            where = f"st.secrets [anthropic.keys] {scrub(name)}"
            found.append((check_label(name, where), value, where))
    return found


def secrets_setting(secrets: Mapping | None, name: str) -> str | None:
    """A top-level string setting of st.secrets (e.g. TOLLGATE_AWS_SECRET_ID), or None."""
    value = dict(_safe_items(secrets)).get(name)
    return value if isinstance(value, str) else None


def from_env(env: Mapping[str, str]) -> list[Found]:
    """ANTHROPIC_API_KEY as 'primary', then ANTHROPIC_API_KEY_<LABEL> by label, alphabetically."""
    found: list[Found] = []
    # A blank variable (an unfilled line copied from .env.example) means "not set": demo mode.
    if (env.get(ENV_KEY) or "").strip():
        found.append((PRIMARY, env[ENV_KEY], ENV_KEY))
    labelled = []
    for name, value in env.items():
        if name.startswith(ENV_KEY + "_") and name != ENV_FILE and (value or "").strip():
            label = check_label(name[len(ENV_KEY) + 1:], scrub(name))
            labelled.append((label, value, name))
    found.extend(sorted(labelled))
    return found


def from_file(env: Mapping[str, str]) -> list[Found]:
    """The file named by ANTHROPIC_API_KEY_FILE: one key (whole file) or ``label=key`` lines."""
    raw_path = (env.get(ENV_FILE) or "").strip()
    if not raw_path:
        return []
    path = Path(raw_path).expanduser()
    where = f"{ENV_FILE} {str(path)!r}"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise NotConfigured(f"Cannot read the API key file {where}: {reason}.") from None
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1)]
    lines = [(n, line) for n, line in lines if line and not line.startswith("#")]
    if not any("=" in line for _, line in lines):
        # Anthropic keys never contain '=', so a file without one holds a single bare key.
        return [(PRIMARY, text, where)]
    found: list[Found] = []
    for n, line in lines:
        if "=" not in line:
            raise NotConfigured(f"{where}, line {n}: expected label=key.")
        name, value = line.split("=", 1)
        found.append((check_label(name, f"{where}, line {n}"), value, f"{where}, line {n}"))
    return found


def aws_settings(env: Mapping[str, str], secrets: Mapping | None) -> dict[str, str | None]:
    """The AWS settings, st.secrets over env: secret id, region, endpoint (None when unset)."""
    def get(name):
        value = secrets_setting(secrets, name) or env.get(name) or ""
        return value.strip() or None

    return {"secret_id": get(AWS_SECRET_ID), "region": get(AWS_REGION) or DEFAULT_AWS_REGION,
            "endpoint_url": get(AWS_ENDPOINT)}


def _aws_client(region: str, endpoint_url: str | None):
    import boto3  # only here: most deployments never touch AWS

    return boto3.client("secretsmanager", region_name=region, endpoint_url=endpoint_url)


def from_aws(env: Mapping[str, str], secrets: Mapping | None = None, client=None) -> list[Found]:
    """Keys in the AWS Secrets Manager secret TOLLGATE_AWS_SECRET_ID (``client`` replaces boto3's)."""
    cfg = aws_settings(env, secrets)
    secret_id = cfg["secret_id"]
    if not secret_id:
        return []
    where = f"AWS secret {scrub(secret_id)!r} (region {cfg['region']})"
    if client is None:
        try:
            import boto3  # noqa: F401 - only to tell a missing extra from an AWS failure
        except ImportError:
            raise NotConfigured(f"{AWS_SECRET_ID} is set but boto3 is not installed: "
                                "pip install 'tollgate[aws]' (or boto3).") from None
    try:
        if client is None:
            client = _aws_client(cfg["region"], cfg["endpoint_url"])
        reply = client.get_secret_value(SecretId=secret_id)
    except Exception as exc:  # botocore's errors; their text is not quoted
        code = _aws_error_code(exc)
        raise NotConfigured(f"Cannot read the {where}: {code}. Check the secret id, region, "
                            "endpoint and AWS credentials.") from None
    text = reply.get("SecretString")
    if not isinstance(text, str):
        raise NotConfigured(f"The {where} has no SecretString (binary secrets are not supported).")
    created = reply.get("CreatedDate")  # when this version of the secret was stored: the key's age
    if not isinstance(created, datetime):
        return parse_aws_secret(text, where)
    created = created if created.tzinfo else created.replace(tzinfo=UTC)
    return [(*found, created.astimezone(UTC)) for found in parse_aws_secret(text, where)]


def _aws_error_code(exc: BaseException) -> str:
    """A short, value-free reason: the AWS error code, or the exception's class name."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = (response.get("Error") or {}).get("Code")
        if code:
            return scrub(str(code))
    return type(exc).__name__


def parse_aws_secret(text: str, where: str) -> list[Found]:
    """A plain key, JSON {"ANTHROPIC_API_KEY": key}, or JSON {label: key}."""
    body = text.strip()
    if not body.startswith(("{", "[")):  # keys never start with either
        return [(PRIMARY, text, where)]
    try:
        data = json.loads(body)
    except ValueError:
        raise NotConfigured(f"The {where} looks like JSON but does not parse.") from None
    if not isinstance(data, dict) or not data:
        raise NotConfigured(f"The {where} must be a key, or a JSON object of label: key.")
    found: list[Found] = []
    for name, value in data.items():
        label = PRIMARY if name == ENV_KEY else check_label(name, f"{where}, entry {scrub(name)!r}")
        found.append((label, value, f"{where}, entry {label!r}"))
    return found


def created_dates(env: Mapping[str, str], secrets: Mapping | None = None) -> dict[str, datetime]:
    """TOLLGATE_KEY_CREATED as {label: midnight UTC}: 'YYYY-MM-DD' dates 'primary', or 'label=YYYY-MM-DD,…'."""
    raw = (secrets_setting(secrets, KEY_CREATED) or env.get(KEY_CREATED) or "").strip()
    dates: dict[str, datetime] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        label, _, day = part.rpartition("=")
        label = check_label(label, KEY_CREATED) if label else PRIMARY
        try:
            dates[label] = datetime.combine(date.fromisoformat(day.strip()), datetime.min.time(), UTC)
        except ValueError:
            raise NotConfigured(f"{KEY_CREATED}: expected YYYY-MM-DD or label=YYYY-MM-DD, "
                                f"got {scrub(part)!r}.") from None
    return dates
