"""An append-only JSONL file that holds ledger records while the database cannot take them.

Every append is one ``write`` on an ``O_APPEND`` descriptor under an exclusive
``flock`` (so threads and processes never interleave lines), followed by ``fsync``
before it returns: a record the ledger acknowledged survives a crash. ``drain``
hands every complete line to a handler under the same lock and empties the file
only after the handler succeeded; a crash in between leaves the lines in place, and
the handler's insert-if-absent makes the second pass harmless. A torn last line can
only come from a writer that died mid-``write``, i.e. a record never acknowledged.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from core.paths import data_files, default_data_dir

DEFAULT_SPOOL = Path(data_files(default_data_dir())["spool_path"])
log = logging.getLogger("tollgate.ledger")


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` (``os.write`` may write fewer); the spool and the journal both append so."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_all(fd: int) -> bytes:
    chunks, offset = [], 0
    while chunk := os.pread(fd, 1 << 20, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


class Spool:
    """A crash-safe line spool at ``path`` (default: spool/ledger.spool in the data directory)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else DEFAULT_SPOOL
        self.rejected_path = self.path.with_name(self.path.name + ".rejected")
        self._lock = threading.RLock()

    @contextmanager
    def _locked(self, path: Path | None = None) -> Iterator[int]:
        """An ``O_APPEND`` descriptor on the file, held under the thread lock and ``flock``."""
        path = path or self.path
        with self._lock:
            created = not path.exists()
            if created:
                path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if created:  # make the new directory entry durable too
                    dfd = os.open(path.parent, os.O_RDONLY)
                    try:
                        os.fsync(dfd)
                    finally:
                        os.close(dfd)
                yield fd
            finally:
                os.close(fd)  # also releases the flock

    def _append(self, fd: int, line: str) -> None:
        data = line.encode("utf-8") + b"\n"
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # a writer died mid-line: start ours on a fresh line
        write_all(fd, data)
        os.fsync(fd)

    def append(self, line: str, *, outage: bool = True) -> None:
        """Append one line (no newline inside) and make it durable before returning.

        ``outage=False``: the line was not refused by the database (a CLI refusal recorded
        without opening it), so no "spool used" event is raised.
        """
        if "\n" in line:
            raise ValueError("a spool line must not contain a newline")
        with self._locked() as fd:
            self._append(fd, line)
        if outage:
            from core.observability import events  # here: a CLI refusal spools without loading metrics

            events.spool_used(self.path)

    def reject(self, line: str) -> None:
        """Keep a line the database refused for good in ``<spool>.rejected`` for an operator."""
        with self._locked(self.rejected_path) as fd:
            self._append(fd, line)

    def pending(self) -> bool:
        """Whether anything waits (one ``stat``: cheap enough to ask after every write)."""
        try:
            return self.path.stat().st_size > 0
        except FileNotFoundError:
            return False

    def count(self) -> int:
        """Complete lines waiting, read in 1 MiB chunks without the lock (appends never wait for it)."""
        try:
            with open(self.path, "rb") as f:
                return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
        except FileNotFoundError:
            return 0

    def drain(self, handle: Callable[[list[str]], None]) -> int:
        """Give every complete line to ``handle``; empty the spool only if it returns.

        Returns the number of lines handed over. If ``handle`` raises, the spool is
        left exactly as it was and the exception propagates.
        """
        if not self.pending():
            return 0
        with self._locked() as fd:
            data = _read_all(fd)
            *complete, torn = data.split(b"\n")
            lines = []
            for raw in complete:
                if raw.strip():
                    lines.append(raw.decode("utf-8", errors="replace"))
            if torn.strip():
                log.warning("ledger spool %s: dropped a torn line (a writer died before "
                            "acknowledging it)", self.path)
            if lines:
                handle(lines)
            os.ftruncate(fd, 0)
            os.fsync(fd)
        if lines:
            from core.observability import events

            events.spool_replayed(self.path, len(lines))
        return len(lines)
