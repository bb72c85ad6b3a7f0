"""Latency percentiles (p50, p95) from log-spaced histograms, the way the rollups keep them.

Bucket b holds latencies in [2^(b/16), 2^((b+1)/16)) ms (core.ledger.schema.BUCKETS_PER_OCTAVE), so a
percentile is read within one bucket of the exact (interpolated, like ``percentile_cont``) value: less
than 4.4 % off, whatever the period or the number of calls. A NULL latency counts as a call, not a value.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from core.ledger import latency_read, rollup_read
from core.ledger.schema import BUCKETS_PER_OCTAVE, LATENCY, NULL_BUCKET, TTFT

FRACTIONS = (0.5, 0.95)
PRECISION = 2 ** (1 / BUCKETS_PER_OCTAVE) - 1  # the widest a percentile can be off, relative (0.044)


def from_histogram(buckets: np.ndarray, counts: np.ndarray, fraction: float) -> float | None:
    """The ``fraction`` percentile of values counted per bucket (NULL_BUCKET ignored); None when there is none."""
    keep = buckets != NULL_BUCKET
    b, n = buckets[keep], counts[keep]
    total = int(n.sum())
    if not total:
        return None
    order = np.argsort(b)
    b, n = b[order], n[order]
    ends = np.cumsum(n)

    def value(j: int) -> float:  # the j-th smallest value (0-based), placed evenly within its bucket
        i = int(np.searchsorted(ends, j, side="right"))
        within = (j - (ends[i] - n[i]) + 0.5) / n[i]
        return float(2 ** ((b[i] + within) / BUCKETS_PER_OCTAVE))

    rank = fraction * (total - 1)  # percentile_cont: interpolate between the values either side of this rank
    low = math.floor(rank)
    if low + 1 >= total:
        return value(low)
    return value(low) + (value(low + 1) - value(low)) * (rank - low)


def _rows(df: pd.DataFrame, groups: list[str]) -> list[dict]:
    """One row per group, every (group, metric) histogram at once: ``from_histogram``'s arithmetic on whole arrays.

    A year of local days is about 1,500 histograms; read one slice at a time their numpy calls cost ~0.1 ms each
    (0.14 s of a 10 M-call page, measured), on whole arrays a few ms. The figures are the same floats: only
    integer and +, -, *, / steps are vectorised, and each power of two is taken per value as from_histogram does.
    """
    df = df.sort_values([*groups, "metric", "bucket_no"], kind="stable")
    gid = (df.groupby(groups, sort=False).ngroup().to_numpy() if groups else np.zeros(len(df), dtype=np.int64))
    metric, bucket, count = (df[c].to_numpy(dtype=np.int64) for c in ("metric", "bucket_no", "n"))
    first = np.flatnonzero(np.r_[True, gid[1:] != gid[:-1]])
    keys = df[groups].iloc[first].itertuples(index=False, name=None) if groups else [()]
    return _figures(groups, list(keys), gid, metric, bucket, count)


def _figures(groups: list[str], keys: list[tuple], gid: np.ndarray, metric: np.ndarray, bucket: np.ndarray,
             count: np.ndarray) -> list[dict]:
    """``_rows``' figures from its arrays: rows sorted by (group id, metric, bucket), one per bucket, ``keys`` the
    groups' values by id."""
    out = [dict(zip(groups, key, strict=True)) for key in keys]
    lat = metric == LATENCY
    calls = _sums(gid[lat], count[lat], len(out))
    for g in np.unique(gid[lat]).tolist():
        out[g]["calls"] = int(calls[g])
    for code, name in ((LATENCY, "latency"), (TTFT, "ttft")):
        sel = metric == code
        present = np.unique(gid[sel]).tolist()
        sel &= bucket != NULL_BUCKET
        figures = _percentiles(gid[sel], bucket[sel], count[sel], len(out))
        for f, values in figures.items():
            column = f"p{round(f * 100)}_{name}_ms"
            for g in present:
                out[g][column] = values[g]
    return out


def _percentiles(gid: np.ndarray, b: np.ndarray, n: np.ndarray, groups: int) -> dict[float, list]:
    """Each FRACTIONS percentile per group id (None for a group with no value) of rows sorted by (gid, bucket)."""
    ends = np.cumsum(n)  # over every group: a group's own running count is ends minus what came before it
    total = _sums(gid, n, groups)
    before = np.r_[0, np.cumsum(total)[:-1]]
    live = np.flatnonzero(total > 0)
    out = {}
    for f in FRACTIONS:
        rank = f * (total[live] - 1)  # percentile_cont's rank, as from_histogram computes it
        low = np.floor(rank).astype(np.int64)
        high = np.minimum(low + 1, total[live] - 1)
        v_low, v_high = _value(before[live] + low, ends, b, n), _value(before[live] + high, ends, b, n)
        values = np.where(low + 1 >= total[live], v_low, v_low + (v_high - v_low) * (rank - low))
        column: list = [None] * groups
        for g, v in zip(live.tolist(), values.tolist(), strict=True):
            column[g] = v
        out[f] = column
    return out


def _sums(gid: np.ndarray, n: np.ndarray, groups: int) -> np.ndarray:
    """``n`` summed per group id, as exact integers."""
    out = np.zeros(groups, dtype=np.int64)
    np.add.at(out, gid, n)
    return out


def _value(j: np.ndarray, ends: np.ndarray, b: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The j-th smallest values (0-based over all groups' rows), each placed evenly within its bucket."""
    i = np.searchsorted(ends, j, side="right")
    within = (j - (ends[i] - n[i]) + 0.5) / n[i]
    # numpy's array power may differ from the scalar's in the last bit (SIMD): one scalar power per value instead.
    return np.array([float(2 ** x) for x in (b[i] + within) / BUCKETS_PER_OCTAVE], dtype=np.float64)


COLUMNS = ("calls", "p50_latency_ms", "p95_latency_ms", "p50_ttft_ms", "p95_ttft_ms")


def histograms(engine: Engine, groups: list[str], start, end, tz: str = "UTC", users=None,
               models=None) -> pd.DataFrame:
    """``groups``, metric, bucket_no and n: the histograms of successful calls per group (one query)."""
    stmt = latency_read.latency_select(engine.dialect.name, groups, start, end, tz, users, models)
    with rollup_read.reading(engine) as conn:
        result = conn.execute(stmt)
        return pd.DataFrame([tuple(r) for r in result], columns=list(result.keys()))  # tuples: Rows are slow to read


def from_histograms(df: pd.DataFrame, groups: list[str]) -> pd.DataFrame:
    """Calls and p50/p95 (ms) per ``groups`` from ``histograms``' rows, grouped as finely or more (summed here)."""
    cols = [*groups, *COLUMNS]
    if df.empty:
        return pd.DataFrame([] if groups else [dict.fromkeys(cols) | {"calls": 0}], columns=cols)
    df = df.groupby([*groups, "metric", "bucket_no"], as_index=False, sort=False)["n"].sum()
    return pd.DataFrame(_rows(df, groups), columns=cols)


def _frame(rows: list[dict], groups: list[str]) -> pd.DataFrame:
    cols = [*groups, *COLUMNS]
    return pd.DataFrame(rows or ([] if groups else [dict.fromkeys(cols) | {"calls": 0}]), columns=cols)


def _read_arrays(engine: Engine, groups: list[str], start, end, tz, users, models) -> list[tuple]:
    stmt = latency_read.arrays_select(engine.dialect.name, groups, start, end, tz, users, models)
    with rollup_read.reading(engine) as conn:
        return [tuple(r) for r in conn.execute(stmt)]


def _arrays(engine: Engine, groups: list[str], start, end, tz, users, models, cuts=(),
            run=None) -> tuple[list[tuple], np.ndarray, ...]:
    """``latency_read.arrays_select``'s histograms as ``_figures``' arrays: (keys, gid, metric, bucket, count).
    ``cuts`` (instants inside the period, ascending) split it into periods read apart, by ``run`` (a dict of reads
    to their results, e.g. at once): groups must then never straddle a cut (local days cut at local midnights)."""
    edges = [start, *cuts, end]
    reads = {i: (lambda lo=lo, hi=hi: _read_arrays(engine, groups, lo, hi, tz, users, models))
             for i, (lo, hi) in enumerate(zip(edges, edges[1:], strict=False))}
    got = run(reads) if run is not None and len(reads) > 1 else {i: r() for i, r in reads.items()}
    rows = [r for i in sorted(got) for r in got[i]]
    k = len(groups)
    rows.sort(key=lambda r: r[:k + 1])  # by groups, then metric, as _rows sorts (in Python, not the SQL collation)
    sizes = np.array([len(r[k + 1]) for r in rows], dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, [rows[i][:k] != rows[i - 1][:k] for i in range(1, len(rows))]]) \
        if rows else np.zeros(0, dtype=np.int64)
    ids = np.cumsum(np.isin(np.arange(len(rows)), starts)) - 1
    keys = [rows[i][:k] for i in starts.tolist()]

    def flat(column: int) -> np.ndarray:
        return np.array([v for r in rows for v in r[column]], dtype=np.int64)

    metric = np.repeat(np.array([r[k] for r in rows], dtype=np.int64), sizes)
    return keys, np.repeat(ids, sizes), metric, flat(k + 1), flat(k + 2)


def _whole(gid: np.ndarray, metric: np.ndarray, bucket: np.ndarray, count: np.ndarray) -> list[dict]:
    """The figures of every group's histograms summed (the whole period), as ``_rows`` gives them for ``[]``."""
    if not len(gid):
        return []
    key = metric * 2**16 + (bucket - NULL_BUCKET)  # buckets are SMALLINT: sorts as (metric, bucket)
    uniq, at = np.unique(key, return_inverse=True)
    summed = np.zeros(len(uniq), dtype=np.int64)
    np.add.at(summed, at, count)
    return _figures([], [()], np.zeros(len(uniq), dtype=np.int64), uniq // 2**16, uniq % 2**16 + NULL_BUCKET,
                    summed)


def percentiles(engine: Engine, groups: list[str], start, end, tz: str = "UTC", users=None,
                models=None) -> pd.DataFrame:
    """Calls, p50/p95 latency and time to first token (ms) of successful calls per ``groups`` (day, model): what
    ``from_histograms`` gives for ``histograms``' rows, read as one row of arrays per histogram."""
    keys, gid, metric, bucket, count = _arrays(engine, groups, start, end, tz, users, models)
    return _frame(_figures(groups, keys, gid, metric, bucket, count) if keys else [], groups)


def percentiles_and_whole(engine: Engine, groups: list[str], start, end, tz: str = "UTC", users=None,
                          models=None, *, cuts=(), run=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``percentiles`` per ``groups`` and over the whole period (one row: their histograms summed), in one read (or
    one per piece between ``cuts``, see ``_arrays``: the same histograms, hence the same figures)."""
    keys, gid, metric, bucket, count = _arrays(engine, groups, start, end, tz, users, models, cuts, run)
    per = _figures(groups, keys, gid, metric, bucket, count) if keys else []
    return _frame(per, groups), _frame(_whole(gid, metric, bucket, count), [])
