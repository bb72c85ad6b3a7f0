"""Import rules beside pyproject's import-linter contracts: no cycle among core's modules, hidden or not.

import-linter's acyclic_siblings counts each package as one and keeps one documented exception;
this checks module by module with none. The graph comes from grimp (import-linter's engine):
every import statement, including those inside functions and under ``TYPE_CHECKING``. Importing
``core.a.b`` first runs ``core/a/__init__``, so each import also counts as one of its parent packages.
"""

from __future__ import annotations

import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
# The simulator's only import from the rest of core: the clock protocol, so a test can drive the guard
# and the simulator with one FakeClock. It imports nothing itself (checked below).
SIMULATOR_MAY_IMPORT = {"core.clock"}


@pytest.fixture(scope="module")
def graph():
    sys.path.insert(0, str(ROOT))  # grimp finds packages on sys.path; this checkout's core first
    try:
        return grimp.build_graph("core", exclude_type_checking_imports=False, cache_dir=None)
    finally:
        sys.path.remove(str(ROOT))


def _edges(graph) -> dict[str, set[str]]:
    """module -> modules it runs when imported (direct imports plus their parent packages)."""
    edges = {}
    for module in graph.modules:
        targets = set(graph.find_modules_directly_imported_by(module))
        for target in list(targets):
            parts = target.split(".")
            for i in range(2, len(parts)):
                parent = ".".join(parts[:i])
                if parent != module and not module.startswith(parent + "."):
                    targets.add(parent)
        edges[module] = targets
    return edges


def test_the_graph_sees_imports_inside_functions(graph):
    # load_settings imports core.upstream.keys inside the function; a graph without it would miss hidden cycles.
    assert "core.upstream.keys" in graph.find_modules_directly_imported_by("core.config")
    assert len(graph.modules) > 60


def test_no_import_cycles_in_core_hidden_or_not(graph):
    try:
        list(TopologicalSorter(_edges(graph)).static_order())
    except CycleError as exc:  # args[1] is the loop: each module imports the one before it
        pytest.fail("import cycle: " + " <- ".join(exc.args[1]))


def test_the_simulator_shares_no_code_with_the_guard(graph):
    outside = {(m, t) for m in graph.modules if m == "core.simulator" or m.startswith("core.simulator.")
               for t in graph.find_modules_directly_imported_by(m) if not t.startswith("core.simulator")}
    assert {t for _, t in outside} <= SIMULATOR_MAY_IMPORT, sorted(outside)
    for shared in SIMULATOR_MAY_IMPORT:
        assert not graph.find_modules_directly_imported_by(shared), shared
