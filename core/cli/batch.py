"""``batch``: run a prompt template over a table (submit), follow it (status, list), fetch results, cancel."""

from __future__ import annotations

import contextlib
import getpass
import sys
import time
from pathlib import Path

from core.cli import support

AUTO_NOW_ROWS = 5  # a run of at most this many rows defaults to now mode; larger ones to batch mode


def add_parser(sub) -> None:
    from core.cli.support import bounded_int

    b = sub.add_parser("batch", help="batch runs: a prompt template over every row of a CSV, JSONL or Excel file")
    bs = b.add_subparsers(dest="batch_cmd", required=True)
    s = bs.add_parser("submit", help="check, reserve and start a run; prints its id and the amount held")
    s.add_argument("file", help=".csv, .jsonl or .xlsx with a header row")
    s.add_argument("--template", required=True, help="the prompt, with {{column}} for each row's values (@FILE: read it)")
    s.add_argument("--system", default=None)
    s.add_argument("--model", required=True, help="model id, alias or tier")
    s.add_argument("--max-tokens", type=bounded_int(1, 1_000_000, "--max-tokens"), default=None)
    s.add_argument("--temperature", type=float, default=None)
    s.add_argument("--mode", choices=("batch", "now"), default=None,
                   help=f"batch (half price, within 24 h) or now (guarded calls); default: now up to {AUTO_NOW_ROWS} rows")
    s.add_argument("--name", default=None)
    s.add_argument("--user", default=None, help="whose budget pays (default: your login name)")
    s.add_argument("--no-wait", action="store_true", help="now mode without a broker: return at once (the console "
                   "resumes the rows)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(handler=cmd_submit)
    for name, fn, text in (("status", cmd_status, "a run's state, counts and spend"),
                           ("cancel", cmd_cancel, "stop a run: unsent rows are canceled, their holds released")):
        p = bs.add_parser(name, help=text)
        p.add_argument("id")
        p.add_argument("--json", action="store_true")
        p.set_defaults(handler=fn)
    r = bs.add_parser("results", help="write a run's results joined to its input rows (.csv, .jsonl or .parquet)")
    r.add_argument("id")
    r.add_argument("--out", required=True, help="FILE.csv, FILE.jsonl or FILE.parquet")
    r.set_defaults(handler=cmd_results)
    ls = bs.add_parser("list", help="runs, newest first")
    ls.add_argument("--user", default=None, help="only this user's runs")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=cmd_list)


def _runs(settings, client):
    from core.batches.broker import queue_from_settings
    from core.batches.service import BatchRuns

    return BatchRuns(client, queue=queue_from_settings(settings), settings=settings)


def _session():
    from core.config import load_settings
    from core.factory import build_client

    settings = load_settings()
    return settings, build_client(settings, source="batch", warm_sdk=False)


@contextlib.contextmanager
def _opened():
    """The settings and this command's BatchRuns over a fresh client, both closed after."""
    settings, client = _session()
    with client:
        runs = _runs(settings, client)
        try:
            yield settings, runs
        finally:
            runs.close()


def line(st) -> str:
    c = st.counts
    return (f"run {st.id} ({st.mode}, {st.model}): {st.state}, {c['succeeded']} of {st.rows} succeeded, "
            f"{c['failed']} failed, {c['pending']} pending, {c['canceled']} canceled, {c['expired']} expired; "
            f"${support.plain(st.spent_usd)} spent, ${support.plain(st.reserved_usd)} reserved")


def _template(raw: str) -> str:
    if raw.startswith("@"):
        return Path(raw[1:]).read_text(encoding="utf-8")
    return raw


def cmd_submit(args) -> int:
    from core.batches.files import read_table
    from core.batches.model import RunSpec
    from core.config import load_settings

    path = Path(args.file)
    if not path.is_file():
        print(f"error: {args.file}: no such file", file=sys.stderr)
        return 2
    rows = read_table(path.name, path.read_bytes(), max_rows=load_settings(load_keys=False).batch_max_rows)
    mode = args.mode or ("now" if len(rows) <= AUTO_NOW_ROWS else "batch")
    with _opened() as (settings, runs):
        spec = RunSpec(user=args.user or getpass.getuser(), template=_template(args.template), rows=rows,
                       model=args.model, max_tokens=args.max_tokens or settings.default_max_tokens,
                       system=args.system, temperature=args.temperature, mode=mode, name=args.name, source="cli")
        st = runs.submit(spec)
        if mode == "now" and runs.queue.kind == "threads" and not args.no_wait:
            st = _wait(runs, st, quiet=args.json)
    support.emit(st.to_dict(), args.json, f"{st.id}\nreserved ${support.plain(st.reserved_usd)} for {st.rows} "
                 f"rows ({mode} mode)\n{line(st)}")
    return 0


def _wait(runs, st, *, quiet: bool):
    """Follow a run on this process's threads to its end, a progress line on stderr."""
    while not st.done:
        time.sleep(0.2)
        st = runs.status(st.id)
        if not quiet:
            print(f"\r{st.rows - st.counts['pending']} of {st.rows} rows done", end="", file=sys.stderr, flush=True)
    if not quiet:
        print(file=sys.stderr)
    return st


def cmd_status(args) -> int:
    with _opened() as (_, runs):
        st = runs.refresh(args.id)
    support.emit(st.to_dict(), args.json, line(st))
    return 0


def cmd_cancel(args) -> int:
    with _opened() as (_, runs):
        st = runs.cancel(args.id)
    support.emit(st.to_dict(), args.json, line(st))
    return 0


def cmd_list(args) -> int:
    with _opened() as (_, runs):
        found = runs.list(args.user)
    if args.json:
        support.emit([st.to_dict() for st in found], True)
    elif not found:
        print("no batch runs")
    else:
        for st in found:
            print(line(st))
    return 0


def cmd_results(args) -> int:
    from core.batches import export as exporting

    out = Path(args.out)
    kind = exporting.kind_of(out.name)  # refused before the ledger is opened
    with _opened() as (_, runs):
        rows = runs.results(args.id)
    out.write_bytes(exporting.export(rows, kind))
    print(f"wrote {len(rows)} rows to {out}", file=sys.stderr)
    return 0
