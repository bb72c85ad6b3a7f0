"""The benchmarks' one way to run N threads side by side: start them together, join them, time it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def run_threads(target: Callable[[int], None], n: int) -> float:
    """Run ``target(i)`` for i in 0..n-1 on n threads at once; returns the wall time (s) until all ended."""
    workers = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.perf_counter() - start
