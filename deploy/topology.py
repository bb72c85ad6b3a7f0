"""compose.yaml's topology from processes on one machine: N gateway replicas over one PostgreSQL schema and one Redis prefix.

``python deploy/topology.py --replicas 3`` starts the simulator as the upstream (or ``--upstream URL``),
a PostgreSQL schema of its own on the machine's server, a fresh key prefix in one Redis database, and N
``python -m core serve`` replicas on free ports in 18900-18999; it prints each replica's URL and a
Tollgate key, and on Ctrl-C stops what it started and drops its schema and keys. The tests drive the
same ``Topology`` class (tests/integration/test_topology.py). With ``--nginx``, Debian's nginx runs in
front with deploy/nginx.conf (compose.yaml's proxy); without it, callers spread their requests over the
replicas themselves.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORTS = range(18900, 19000)
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/13"
START_TIMEOUT_S = 30.0


def free_port(taken: set[int] = frozenset(), ports: range = PORTS) -> int:
    """A port in ``ports`` nobody listens on now (and not one in ``taken``, handed out already)."""
    for port in ports:
        if port in taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1}")


def wait_http(url: str, timeout_s: float = START_TIMEOUT_S, proc: subprocess.Popen | None = None) -> None:
    """Until ``url`` answers at all (any status), or RuntimeError; a dead ``proc`` ends the wait at once."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{' '.join(proc.args[1:4])} exited with {proc.returncode} before {url} answered")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return  # it answered (e.g. /readyz 503 while degraded)
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout_s:.0f} s")


def nginx_conf(ports: list[int], listen: int, workdir: Path) -> str:
    """deploy/nginx.conf (compose.yaml's proxy) pointed at these replicas and this folder, on 127.0.0.1:``listen``."""
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    servers = "".join(f"server 127.0.0.1:{p} max_fails=0;\n    " for p in ports).rstrip()
    conf = re.sub(r"server relay:8600[^;]*;", lambda _: servers, conf)
    conf = conf.replace("server console:8501;", f"server 127.0.0.1:{ports[0]};")  # no console here
    conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{listen};")
    return conf.replace("/tmp/", f"{workdir}/")


def with_schema(pg_url: str, schema: str) -> str:
    sep = "&" if "?" in pg_url else "?"
    return f"{pg_url}{sep}options=-csearch_path%3D{schema}"


class Topology:
    """N ``python -m core serve`` replicas sharing one ledger URL, one Redis prefix and one upstream."""

    def __init__(self, *, ledger_url: str, redis_url: str, redis_prefix: str, data_dir: str | Path,
                 upstream_url: str | None = None, replicas: int = 3, settings: dict[str, object] | None = None,
                 log_dir: str | Path | None = None, own_keys: bool = False, proxy: bool = False) -> None:
        """``own_keys``: pass this shell's ANTHROPIC_API_KEY* on (a real upstream), else a fake key.

        ``proxy``: Debian's nginx in front with deploy/nginx.conf (``proxy_url``), as in compose.yaml.
        """
        self.ledger_url, self.redis_url, self.redis_prefix = ledger_url, redis_url, redis_prefix
        self.data_dir, self.upstream_url, self.n = Path(data_dir), upstream_url, replicas
        self.settings = {k: str(v) for k, v in (settings or {}).items()}
        self.log_dir = Path(log_dir) if log_dir else self.data_dir
        self.procs: list[subprocess.Popen | None] = [None] * replicas
        self.ports: list[int] = []
        self.sim_proc: subprocess.Popen | None = None
        self.own_keys, self.proxy = own_keys, proxy
        self.proxy_proc: subprocess.Popen | None = None
        self.proxy_url: str | None = None

    def env(self, i: int | None = None) -> dict[str, str]:
        """A replica's environment: none of this shell's Tollgate or Anthropic settings, only the topology's."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TOLLGATE_", "ANTHROPIC_"))}
        data = self.data_dir / (f"replica-{i}" if i is not None else "cli")
        data.mkdir(parents=True, exist_ok=True)
        if self.own_keys:
            env.update({k: v for k, v in os.environ.items() if k.startswith("ANTHROPIC_API_KEY")})
        else:
            env["ANTHROPIC_API_KEY"] = "sk-ant-test-fake-topology-0000"  # the simulator accepts any key
        env.update({
            "ANTHROPIC_BASE_URL": self.upstream_url or "",
            "TOLLGATE_LEDGER_URL": self.ledger_url, "TOLLGATE_LIMITS": "redis",
            "TOLLGATE_REDIS_URL": self.redis_url, "TOLLGATE_REDIS_PREFIX": self.redis_prefix,
            "TOLLGATE_REPLICAS": str(self.n), "TOLLGATE_DATA_DIR": str(data),
            "TOLLGATE_SPOOL_PATH": str(data / "spool"), "TOLLGATE_USERS_FILE": str(self.data_dir / "users.yaml"),
            "TOLLGATE_CACHE": "off", "TOLLGATE_LOG_LEVEL": "WARNING"})
        env.update(self.settings)
        return env

    def cli(self, *args: str) -> str:
        """``python -m core ARGS`` with the replicas' settings (same ledger, same Redis); its stdout."""
        out = subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=self.env(), text=True,
                             capture_output=True, timeout=60)
        if out.returncode:
            said = (out.stderr.strip() or out.stdout.strip())[-500:]
            raise RuntimeError(f"core {args[0]} failed ({out.returncode}): {said}")
        return out.stdout

    def create_key(self, user: str) -> str:
        """A Tollgate key for ``user`` (this also creates the ledger's tables before any replica starts)."""
        return json.loads(self.cli("key", "create", "--user", user, "--json"))["key"]

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.ports]

    def start(self) -> Topology:
        if self.upstream_url is None:
            port = free_port()
            self.sim_proc = subprocess.Popen([sys.executable, "-m", "core", "simulate", "--port", str(port)],
                                             cwd=ROOT, env=self.env(), stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL)
            self.upstream_url = f"http://127.0.0.1:{port}"
            wait_http(self.upstream_url + "/_sim/stats", proc=self.sim_proc)
        for _ in range(self.n):
            self.ports.append(free_port(set(self.ports)))
        for i in range(self.n):
            self.start_replica(i, wait=False)
        for i in range(self.n):
            wait_http(self.urls[i] + "/healthz", proc=self.procs[i])
        if self.proxy:
            self._start_proxy()
        return self

    def _start_proxy(self) -> None:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        work = self.data_dir / "nginx"
        work.mkdir(parents=True, exist_ok=True)
        port = free_port(set(self.ports))
        (work / "nginx.conf").write_text(nginx_conf(self.ports, port, work))
        self.proxy_proc = subprocess.Popen(
            [binary, "-p", str(work), "-c", str(work / "nginx.conf"), "-e", str(work / "error.log"),
             "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.proxy_url = f"http://127.0.0.1:{port}"
        wait_http(self.proxy_url + "/nginx-health", proc=self.proxy_proc)

    def start_replica(self, i: int, *, wait: bool = True) -> None:
        """(Re)start replica ``i`` on its port; its output goes to replica-I.log in the log folder."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"replica-{i}.log", "ab") as log:
            self.procs[i] = subprocess.Popen(
                [sys.executable, "-m", "core", "serve", "--host", "127.0.0.1", "--port", str(self.ports[i])],
                cwd=ROOT, env=self.env(i), stdout=log, stderr=subprocess.STDOUT)
        if wait:
            wait_http(self.urls[i] + "/healthz", proc=self.procs[i])

    def kill(self, i: int, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to replica ``i`` (our own child, by its pid) and reap it."""
        proc = self.procs[i]
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)
            proc.wait(15)
        self.procs[i] = None

    def stop(self) -> None:
        if self.proxy_proc is not None and self.proxy_proc.poll() is None:
            self.proxy_proc.terminate()  # our own nginx master, by its pid; its workers follow it
            self.proxy_proc.wait(15)
        for i in range(self.n):
            self.kill(i, signal.SIGTERM)
        if self.sim_proc is not None and self.sim_proc.poll() is None:
            self.sim_proc.terminate()
            self.sim_proc.wait(15)

    def __enter__(self) -> Topology:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


def _own_schema(pg_url: str) -> tuple[str, Callable[[], None]]:
    """A fresh schema on ``pg_url``'s database: (URL that uses it, function that drops it)."""
    import sqlalchemy as sa

    schema = "topology_" + uuid.uuid4().hex[:10]
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return with_schema(pg_url, schema), drop


def drop_prefix(url: str, prefix: str) -> None:
    """Delete the keys under ``prefix`` only (SCAN, never FLUSHDB: other work shares the database)."""
    import redis

    r = redis.Redis.from_url(url)
    try:
        for key in r.scan_iter(match=prefix + "*", count=500):
            r.delete(key)
    finally:
        r.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--replicas", type=int, default=3)
    p.add_argument("--pg-url", default=PG_URL, help="the machine's PostgreSQL; a schema of its own is made in it")
    p.add_argument("--redis-url", default=REDIS_URL, help="the machine's Redis and database number")
    p.add_argument("--upstream", default=None,
                   help="Anthropic-compatible upstream, with this shell's ANTHROPIC_API_KEY* (default: the simulator)")
    p.add_argument("--user", default="ana", help="who the printed Tollgate key belongs to")
    p.add_argument("--nginx", action="store_true", help="Debian's nginx in front, with deploy/nginx.conf")
    p.add_argument("--set", action="append", default=[], metavar="VAR=VALUE",
                   help="a Tollgate setting for every replica, e.g. TOLLGATE_USER_RPM=60 (repeatable)")
    args = p.parse_args(argv)
    if not 1 <= args.replicas <= 50:
        print("--replicas must be 1 to 50", file=sys.stderr)
        return 2
    bad = [s for s in args.set if "=" not in s]
    if bad:
        print(f"--set takes VAR=VALUE, not {bad[0]!r}", file=sys.stderr)
        return 2
    try:
        return _run(args)
    except RuntimeError as exc:  # a replica, the simulator or the CLI did not start: one line, its log named
        print(f"topology: {exc}", file=sys.stderr)
        return 1


def _run(args) -> int:
    import tempfile

    from sqlalchemy.exc import SQLAlchemyError

    try:
        ledger_url, drop = _own_schema(args.pg_url)
    except SQLAlchemyError as exc:
        raise RuntimeError(f"PostgreSQL at --pg-url cannot be used ({type(exc).__name__})") from None
    prefix = f"tollgate-topology-{uuid.uuid4().hex[:8]}:"
    with tempfile.TemporaryDirectory(prefix="tollgate-topology-") as tmp:
        topo = Topology(ledger_url=ledger_url, redis_url=args.redis_url, redis_prefix=prefix, data_dir=tmp,
                        upstream_url=args.upstream, replicas=args.replicas,
                        settings=dict(s.split("=", 1) for s in args.set), own_keys=args.upstream is not None, proxy=args.nginx)
        try:
            key = topo.create_key(args.user)
            with topo:
                print(f"upstream {topo.upstream_url}")
                for url in topo.urls:
                    print(f"replica  {url}")
                if topo.proxy_url:
                    print(f"nginx    {topo.proxy_url}")
                print(f"key for {args.user}: {key}  (logs in {tmp})", flush=True)
                signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
                while all(p is not None and p.poll() is None for p in topo.procs):
                    time.sleep(0.5)
                print("a replica exited; stopping", file=sys.stderr)
                return 1
        except KeyboardInterrupt:
            return 0
        finally:
            drop()
            drop_prefix(args.redis_url, prefix)


if __name__ == "__main__":
    sys.exit(main())
