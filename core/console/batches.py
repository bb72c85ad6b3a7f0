"""The console door's batch section (``door.batches``): batch runs for a principal, roles checked here.

Analysts read, cancel, export and compare only their own runs; admins every run. A run
someone may not see is refused the same way as one that does not exist (``RunNotFound``), so
run ids cannot be probed. Every run is submitted as the principal asking: a page cannot name another user.
Pages never touch ``core.batches.service.BatchRuns``; they call this. No Streamlit in here.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.accounts.users import Principal
from core.batches import compare as comparing
from core.batches import export as exporting
from core.errors import NotAuthorised, RunNotFound

FEW_ROWS = 5  # above this many rows batch mode (half price, minutes to hours) is the default; at or below, now
DRY_RUN_MAX = 20  # a dry run is a quick look: at most this many rows, in now mode
ACTIVE = ("queued", "in_progress", "canceling")  # a run in these states is still moving: its page refreshes


class BatchDoor:
    """``BatchRuns`` behind role checks: every call takes the ``Principal`` asking."""

    def __init__(self, runs, *, refresh_s: float = 2.0, owned: bool = False) -> None:
        self._runs = runs  # core.batches.service.BatchRuns
        self.refresh_s = refresh_s  # how often the page redraws a run that is still moving (s)
        self._owned = owned  # close the runs with the door (else the client that shares them does)

    @classmethod
    def open(cls, client, settings) -> BatchDoor:
        """The section over this process's one ``BatchRuns`` for the client (shared with the gateway), whose
        poller advances batch-mode runs every ``TOLLGATE_BATCH_POLL_S`` and resumes unfinished now-mode rows."""
        from core.batches.poller import shared_runs

        poll_s = float(settings.batch_poll_s)
        return cls(shared_runs(client, settings), refresh_s=min(2.0, max(0.5, poll_s)))

    def close(self) -> None:
        if self._owned:
            self._runs.close()

    # --- a new run: file, template, preview, quote ----------------------------------------

    @staticmethod
    def read_file(name: str, data: bytes) -> list[dict[str, str]]:
        """The uploaded table's rows (.csv, .jsonl or .xlsx); a typed error for a file that cannot be used."""
        from core.batches.files import read_table

        return read_table(name, data)

    @staticmethod
    def columns(rows: list[Mapping]) -> list[str]:
        """The file's columns, in order (the variables a template may use as ``{{column}}``)."""
        names: dict[str, None] = {}
        for r in rows:
            names.update(dict.fromkeys(r))
        return list(names)

    @staticmethod
    def template_columns(template: str) -> list[str]:
        from core.batches.template import columns

        return columns(template)

    @staticmethod
    def active(status) -> bool:
        """Whether the run is still moving (queued, in progress or being cancelled)."""
        return status.state in ACTIVE

    @staticmethod
    def default_mode(rows: int) -> str:
        """Batch for more than a few rows (half price, may take a while), now for a few."""
        return "batch" if rows > FEW_ROWS else "now"

    def _spec(self, principal: Principal, request: Mapping):
        from core.batches.service import RunSpec

        _logged_in(principal)
        fields = {k: v for k, v in request.items() if k != "user"}  # a run is always the asker's own
        return RunSpec(user=principal.username, **fields)

    def preview(self, principal: Principal, n: int = 3, **request) -> list[str]:
        """The first ``n`` rendered prompts (a template naming an unknown column: ValidationError)."""
        return self._runs.preview(self._spec(principal, request), n=n)

    def quote(self, principal: Principal, **request):
        """Standard and batch worst case, the budget left and how many rows fit (``RunQuote``)."""
        return self._runs.quote(self._spec(principal, request))

    def dry_run(self, principal: Principal, n: int, **request):
        """The first ``n`` rows (at most ``DRY_RUN_MAX``) now, as a run of their own."""
        n = max(1, min(int(n), DRY_RUN_MAX))
        return self._runs.dry_run(self._spec(principal, request), n)

    def submit(self, principal: Principal, **request):
        """Reserve the whole run's worst case and start it (``BudgetExceeded`` with ``fits`` when it cannot)."""
        return self._runs.submit(self._spec(principal, request))

    # --- runs the principal may see ---------------------------------------------------------

    def runs(self, principal: Principal) -> list:
        """The runs the principal may see (an analyst their own, an admin all), newest first."""
        _logged_in(principal)
        found = self._runs.list(user=None if principal.is_admin else principal.username)
        return sorted(found, key=lambda r: (r.created_at is not None, r.created_at), reverse=True)

    def _check(self, principal: Principal, run_id: str) -> None:
        """Refuse a run the principal may not see exactly as one that does not exist (``RunNotFound``)."""
        _logged_in(principal)
        owner = self._runs.owner(run_id)  # RunNotFound when there is no such run
        if owner != principal.username and not principal.is_admin:
            raise RunNotFound(run_id)

    def status(self, principal: Principal, run_id: str):
        """State, counts, spent and progress of one run (``RunStatus``)."""
        self._check(principal, run_id)
        return self._runs.status(run_id)

    def results(self, principal: Principal, run_id: str) -> list[dict]:
        """One dict per input row, in order: the input columns, prompt, output, outcome, cost, latency, error."""
        self._check(principal, run_id)
        return self._runs.results(run_id)

    def cancel(self, principal: Principal, run_id: str):
        """Stop a run: rows not done are cancelled and their holds released."""
        self._check(principal, run_id)
        return self._runs.cancel(run_id)

    def export(self, principal: Principal, run_id: str, fmt: str) -> bytes:
        """The run's results as a formula-safe download: "csv", "parquet" or "jsonl"."""
        return exporting.export(self.results(principal, run_id), fmt)

    def comparable(self, principal: Principal, run_id: str) -> list:
        """The other runs the principal may see over the same rows as ``run_id`` (pairs for ``compare``)."""
        key = self.status(principal, run_id).compare_key
        return [r for r in self.runs(principal) if r.id != run_id and key is not None and r.compare_key == key]

    def compare(self, principal: Principal, a: str, b: str) -> comparing.Comparison:
        """Two runs over the same rows side by side, with cost and latency totals and a verdict."""
        return comparing.compare(self.status(principal, a), self.results(principal, a),
                                 self.status(principal, b), self.results(principal, b))


def _logged_in(principal) -> None:
    if principal is None or not getattr(principal, "username", None):
        raise NotAuthorised("use batch runs", None)
