"""compose.yaml and deploy/nginx.conf hold together: no Docker engine runs here, so their structure is checked."""

from __future__ import annotations

import re

import pytest
import yaml

from core.paths import SOURCE_ROOT

COMPOSE = SOURCE_ROOT / "compose.yaml"
NGINX = SOURCE_ROOT / "deploy" / "nginx.conf"
APP_SERVICES = ("relay", "console")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_the_topology_has_its_services_each_with_a_health_check(compose):
    services = compose["services"]
    assert set(services) == {"relay", "console", "proxy", "postgres", "redis"}
    for name, svc in services.items():
        test = svc["healthcheck"]["test"]
        assert test[0] == "CMD" and len(test) > 1, name


def test_relays_are_replicated_and_run_the_headless_gateway(compose):
    relay = compose["services"]["relay"]
    assert str(relay["deploy"]["replicas"]) in ("3", "${TOLLGATE_RELAYS:-3}")
    assert "python -m core serve --host 0.0.0.0 --port 8600" in relay["command"][-1]
    assert "/readyz" in relay["healthcheck"]["test"][-1]  # traffic only to a replica that can serve it
    assert "streamlit run server.py" in compose["services"]["console"]["command"][-1]


def test_every_container_runs_as_a_non_root_user(compose):
    dockerfile = (SOURCE_ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER tollgate$", dockerfile, re.M)
    for name, svc in compose["services"].items():
        assert svc.get("user") not in (None, "root", "0"), name
    for name in APP_SERVICES:
        assert compose["services"][name]["user"] == "tollgate"
        assert compose["services"][name]["cap_drop"] == ["ALL"]


def test_replicas_share_postgres_and_redis_and_wait_for_them_to_be_healthy(compose):
    for name in APP_SERVICES:
        svc = compose["services"][name]
        env = svc["environment"]
        assert env["TOLLGATE_LEDGER_URL"].startswith("postgresql+psycopg://tollgate@postgres:5432/")
        assert env["TOLLGATE_LIMITS"] == "redis" and env["TOLLGATE_REDIS_URL"].startswith("redis://redis:6379/")
        assert env["TOLLGATE_SHARED_STATE_FAILURE"] in ("closed", "open")
        assert svc["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                     "redis": {"condition": "service_healthy"}}


def test_data_lives_in_named_volumes(compose):
    assert set(compose["volumes"]) == {"pg-data", "redis-data", "console-data"}
    assert compose["services"]["console"]["volumes"] == ["console-data:/app/data"]  # the image's own folder
    assert "pg-data:/var/lib/postgresql/data" in compose["services"]["postgres"]["volumes"]
    assert "redis-data:/data" in compose["services"]["redis"]["volumes"]
    assert "--appendonly" in compose["services"]["redis"]["command"]


def test_secrets_come_from_files_never_from_values_in_the_file(compose):
    assert {s: v["file"] for s, v in compose["secrets"].items()} == {
        "anthropic_api_key": "./deploy/secrets/anthropic_api_key", "pg_password": "./deploy/secrets/pg_password",
        "cookie_key": "./deploy/secrets/cookie_key"}
    for name in APP_SERVICES:
        svc = compose["services"][name]
        assert set(svc["secrets"]) == set(compose["secrets"])
        assert svc["environment"]["ANTHROPIC_API_KEY_FILE"] == "/run/secrets/anthropic_api_key"
        assert ":@" not in svc["environment"]["TOLLGATE_LEDGER_URL"]  # no password in the URL
        assert 'PGPASSWORD="$$(cat /run/secrets/pg_password)"' in svc["command"][-1]
    pg = compose["services"]["postgres"]
    assert pg["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/pg_password"
    for name, svc in compose["services"].items():  # a secret variable names a file, never holds a value
        secret_vars = [k for k in svc.get("environment", {}) if re.search(r"PASSWORD|API_KEY|SECRET|COOKIE", k)]
        assert all(k.endswith("_FILE") for k in secret_vars), (name, secret_vars)
    assert "sk-ant-" not in COMPOSE.read_text()
    ignore = (SOURCE_ROOT / "deploy" / "secrets" / ".gitignore").read_text().split()
    assert ignore[-2:] == ["*", "!.gitignore"]  # the secret files themselves are never committed


def test_nginx_sends_the_api_to_the_relays_unbuffered_and_the_console_sticky(compose):
    conf = NGINX.read_text()
    assert re.search(r"upstream relays \{[^}]*server relay:8600", conf)
    assert re.search(r"upstream console \{[^}]*ip_hash;[^}]*server console:8501", conf)
    api = re.search(r"location ~ \^/\(v1\|api\)/ \{(.*?)\n    \}", conf, re.S).group(1)
    assert "proxy_pass http://relays;" in api and "proxy_buffering off;" in api  # SSE as it arrives
    assert "proxy_set_header Upgrade $http_upgrade;" in conf  # Streamlit's websocket
    assert "listen 8080;" in conf and "pid /tmp/nginx.pid;" in conf  # the unprivileged image's port and paths
    proxy = compose["services"]["proxy"]
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in proxy["volumes"]
    assert proxy["image"].startswith("nginxinc/nginx-unprivileged:")
    assert conf.count("{") == conf.count("}")
