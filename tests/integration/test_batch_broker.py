"""The Dramatiq queue on the machine's Redis and RabbitMQ: a worker killed mid-run, another one started,
every row billed exactly once (idempotency key per row; at-least-once redelivery)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.batches.broker import DramatiqQueue
from core.batches.plan import hold_id, idempotency_key
from core.batches.service import BatchRuns
from core.ledger.schema import budget_reservations, calls
from tests.conftest import require_service
from tests.integration.batch_support import spec, wait_done
from tests.integration.conftest import SIM_KEY

ROOT = Path(__file__).resolve().parents[2]
REDIS_DB_URL = "redis://127.0.0.1:6379/5"  # this suite's own database: nothing else flushes it
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_url(request):
    """A broker URL and a queue name of this test's own, removed afterwards."""
    queue = f"tollgate-test-{uuid.uuid4().hex[:10]}"
    if request.param == "redis":
        require_service("Redis", "127.0.0.1", 6379)
        yield REDIS_DB_URL, queue
        import redis

        r = redis.Redis.from_url(REDIS_DB_URL)
        for key in r.scan_iter(match=f"*{queue}*"):
            r.delete(key)
        r.close()
    else:
        require_service("RabbitMQ", "127.0.0.1", 5672)
        yield AMQP_URL, queue
        import pika

        conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        ch = conn.channel()
        for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
            ch.queue_delete(queue=name)
        conn.close()


def _worker(env: dict, log: Path) -> subprocess.Popen:
    """``python -m core worker`` in its own process group, once it says it is listening."""
    out = log.open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "core", "worker", "--threads", "2"], cwd=ROOT, env=env,
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while b"batch worker on queue" not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"the worker did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    return proc


@pytest.mark.postgres
@pytest.mark.slow
def test_a_worker_killed_mid_run_leaves_every_row_billed_exactly_once(broker_url, pg_url, make_client, fresh_sim,
                                                                      tmp_path):
    url, queue_name = broker_url
    fresh_sim.configure(ttft_s=0.15)  # rows take a while: the kill lands mid-run
    client = make_client(real_time=True, ledger_url=pg_url, spool_path=str(tmp_path / "spool"), cache="off")
    client.ledger.open()
    client.budgets.set_budget("ana", Decimal("5"))
    queue = DramatiqQueue(url, queue_name, heartbeat_s=2)
    runs = BatchRuns(client, queue=queue)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOLLGATE_", "ANTHROPIC_"))}
    env.update(PYTHONPATH=str(ROOT), ANTHROPIC_BASE_URL=fresh_sim.url, ANTHROPIC_API_KEY=SIM_KEY,
               TOLLGATE_LEDGER_URL=pg_url, TOLLGATE_SPOOL_PATH=str(tmp_path / "worker.spool"),
               TOLLGATE_DATA_DIR=str(tmp_path), TOLLGATE_CACHE="off", TOLLGATE_BATCH_BROKER_URL=url,
               TOLLGATE_BATCH_QUEUE=queue_name, TOLLGATE_BATCH_HEARTBEAT_S="2", TOLLGATE_BATCH_POLL_S="1",
               TOLLGATE_IDEMPOTENCY_STALE_S="4")  # a row in flight when the kill came is taken over soon
    log = tmp_path / "worker.log"
    first = _worker(env, log)
    second = None
    try:
        st = runs.submit(spec(40))
        deadline = time.monotonic() + 60
        while runs.status(st.id).counts["succeeded"] < 4:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.05)
        os.killpg(first.pid, signal.SIGKILL)  # mid-run: rows in flight, messages unacknowledged
        first.wait(10)
        assert runs.status(st.id).counts["pending"] > 0
        second = _worker(env, log)
        done = wait_done(runs, st.id, timeout_s=120)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    raise AssertionError(f"the worker did not stop:\n{log.read_text()[-3000:]}") from None
        runs.close()
    assert done.state == "ended" and done.counts["succeeded"] == 40, log.read_text()[-3000:]
    with client.ledger.engine.connect() as conn:
        keys = dict(conn.execute(sa.select(calls.c.idempotency_key, sa.func.count()).where(
            calls.c.run_id == st.id, calls.c.status == "ok").group_by(calls.c.idempotency_key)).all())
        cost = conn.execute(sa.select(sa.func.sum(calls.c.cost_usd)).where(calls.c.run_id == st.id)).scalar()
        lost = conn.execute(sa.select(calls.c.row_index).where(
            calls.c.run_id == st.id, calls.c.error_code == "outcome_unknown")).scalars().all()
        held = conn.execute(sa.select(sa.func.count()).select_from(budget_reservations).where(
            budget_reservations.c.id.in_([hold_id(st.id, i) for i in range(40)]))).scalar()
    assert keys == {idempotency_key(st.id, i): 1 for i in range(40)}  # each row billed once, none missing
    assert Decimal(str(cost)) == done.spent_usd and held == 0
    assert len(lost) <= 2 and set(lost) <= set(range(40))  # the killed worker's calls in flight (2 threads), flagged


def test_a_bad_broker_url_is_one_clear_line():
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="TOLLGATE_BATCH_BROKER_URL"):
        DramatiqQueue("http://127.0.0.1:1/", "q")
