"""Now-mode rows on Dramatiq, over the machine's Redis or RabbitMQ (``TOLLGATE_BATCH_BROKER_URL``).

Why Dramatiq: a message is acknowledged only after its actor has finished, so the rows of a worker killed
mid-run are delivered again (at-least-once); each row's idempotency key makes that second delivery free.
It speaks both Redis and RabbitMQ, and it is small. A message is a chunk of rows of one run; workers are
``python -m core worker``. RabbitMQ redelivers a dead worker's messages when its connection drops; Redis
when the worker has been silent for ``TOLLGATE_BATCH_HEARTBEAT_S``.
"""

from __future__ import annotations

import logging

from core.errors import ConfigError

log = logging.getLogger("tollgate.batches")
CHUNK_ROWS = 10  # rows per message: a redelivery repeats at most this many replays
TIME_LIMIT_MS = 24 * 3600 * 1000  # a chunk waits on the limiter, never on Dramatiq's 10-minute default
_BOUND: dict[str, object] = {}  # queue name -> this process's BatchRuns (what the actor runs rows with)
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
AMQP_SCHEMES = ("amqp://", "amqps://")


REDIS_MAINTENANCE = 100_000  # in a million commands: a dead worker's rows are requeued within seconds, not minutes


def make_broker(url: str, *, heartbeat_s: float = 60.0, maintenance_chance: int | None = None):
    """A Dramatiq broker for a redis:// or amqp:// URL (ConfigError naming the variable otherwise)."""
    if url.startswith(REDIS_SCHEMES):
        from dramatiq.brokers.redis import RedisBroker

        return RedisBroker(url=url, heartbeat_timeout=max(1000, int(heartbeat_s * 1000)),
                           maintenance_chance=maintenance_chance or REDIS_MAINTENANCE)
    if url.startswith(AMQP_SCHEMES):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=url)
    raise ConfigError("TOLLGATE_BATCH_BROKER_URL", "must be a redis://, rediss://, unix://, amqp:// or amqps:// URL")


def _run_rows(queue_name: str, run_id: str, rows: list[int]) -> None:
    """The actor: send these rows of the run with this process's BatchRuns (a worker's)."""
    runs = _BOUND.get(queue_name)
    if runs is None:
        raise RuntimeError(f"no batch runs bound to queue {queue_name!r} in this process")
    runs.work(run_id, rows)


class DramatiqQueue:
    """Rows as Dramatiq messages on ``queue_name``; ``worker()`` consumes them in this process."""

    kind = "dramatiq"

    def __init__(self, url: str, queue_name: str = "tollgate-batch", *, heartbeat_s: float = 60.0,
                 chunk: int = CHUNK_ROWS, maintenance_chance: int | None = None) -> None:
        import dramatiq

        self.queue_name, self.chunk = queue_name, max(1, chunk)
        self.broker = make_broker(url, heartbeat_s=heartbeat_s, maintenance_chance=maintenance_chance)
        self.actor = dramatiq.actor(_run_rows, broker=self.broker, queue_name=queue_name,
                                    actor_name="tollgate_batch_rows", max_retries=5, min_backoff=500,
                                    max_backoff=30_000, time_limit=TIME_LIMIT_MS)

    def bind(self, runs) -> None:
        _BOUND[self.queue_name] = runs

    def enqueue(self, run_id: str, rows: list[int]) -> None:
        for i in range(0, len(rows), self.chunk):
            self.actor.send(self.queue_name, run_id, [int(r) for r in rows[i:i + self.chunk]])

    def worker(self, threads: int):
        """A Dramatiq worker over this queue (``start()`` it; ``stop()`` waits for the rows in hand)."""
        import dramatiq

        return dramatiq.Worker(self.broker, queues={self.queue_name}, worker_threads=max(1, threads),
                               worker_timeout=200)

    def close(self) -> None:
        if _BOUND.get(self.queue_name) is not None:
            _BOUND.pop(self.queue_name, None)
        self.broker.close()


def queue_from_settings(settings):
    """The queue the settings ask for: Dramatiq when a broker URL is set, else this process's threads."""
    url = getattr(settings, "batch_broker_url", None)
    if url:
        return DramatiqQueue(url, settings.batch_queue, heartbeat_s=settings.batch_heartbeat_s)
    from core.batches.queue import ThreadQueue

    return ThreadQueue(getattr(settings, "batch_workers", 4))
