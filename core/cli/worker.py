"""``python -m core worker``: a Dramatiq worker for batch runs' now-mode rows, with the batch poller beside it."""

from __future__ import annotations

import signal
import sys
import threading


def add_parser(sub) -> None:
    from core.cli.support import bounded_int

    w = sub.add_parser("worker", help="run batch rows from TOLLGATE_BATCH_BROKER_URL (Dramatiq) until stopped")
    w.add_argument("--threads", type=bounded_int(1, 256, "--threads"), default=None,
                   help="rows in flight at once (default: TOLLGATE_BATCH_WORKERS)")
    w.set_defaults(handler=cmd_worker)


def cmd_worker(args) -> int:
    from core.config import load_settings

    settings = load_settings()
    if not settings.batch_broker_url:
        print("error: TOLLGATE_BATCH_BROKER_URL is unset, so rows run on threads inside the console; "
              "a worker needs a broker (redis://… or amqp://…)", file=sys.stderr)
        return 2
    from core.batches.broker import DramatiqQueue
    from core.batches.poller import Poller
    from core.batches.service import BatchRuns
    from core.factory import build_client

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with build_client(settings, source="batch") as client:
        queue = DramatiqQueue(settings.batch_broker_url, settings.batch_queue,
                              heartbeat_s=settings.batch_heartbeat_s)
        runs = BatchRuns(client, queue=queue, settings=settings)
        runs.open()  # migrate and store the journals of an ended process before the first row
        poller = Poller(runs, settings.batch_poll_s).start()
        worker = queue.worker(args.threads or settings.batch_workers)
        worker.start()
        print(f"Tollgate batch worker on queue {settings.batch_queue!r} "
              f"({args.threads or settings.batch_workers} threads; Ctrl-C to stop)", flush=True)
        try:
            stop.wait()
        finally:
            worker.stop()
            poller.stop()
            queue.close()
    return 0
