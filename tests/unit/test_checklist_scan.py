"""The key-shaped-string scan: planted keys are found (masked), documented fakes are not, results are cached."""

from __future__ import annotations

import subprocess

import pytest

from core.checklist import scan as checklist_scan
from core.checklist.scan import cached_scan, is_fake, scan

# Built at run time so this file itself holds no key-shaped string for the real scan to find.
PLANTED = "sk-ant-" + "api03-" + "Q7vR2mK9pL4wX8nB3cZ6" * 3 + "AA"


def git(root, *args):
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "ok.py").write_text("KEY = os.environ['ANTHROPIC_API_KEY']\n")
    (tmp_path / "core" / "leak.py").write_text(f"# config\n\nKEY = '{PLANTED}'\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "fakes.py").write_text("A = 'sk-ant-test-fake-CANARY-7f3a9b2c5d'\n"
                                                 "B = 'sk-ant-simulator-fake-key-0000'\n")
    git(tmp_path, "add", ".")
    return tmp_path


def test_a_planted_key_in_a_tracked_file_is_found_and_masked(repo):
    result = scan(repo)
    [finding] = result.findings
    assert (finding.path, finding.line, finding.tracked) == ("core/leak.py", 3, True)
    assert finding.masked == "sk-ant-…" + PLANTED[-4:] and PLANTED[8:-4] not in repr(result)
    assert result.files == 3


def test_local_config_files_are_scanned_even_untracked(repo):
    (repo / ".env").write_text(f"ANTHROPIC_API_KEY={PLANTED}\n")
    (repo / ".streamlit").mkdir()
    (repo / ".streamlit" / "secrets.toml").write_text(f'ANTHROPIC_API_KEY = "{PLANTED}"\n')
    (repo / "scratch.txt").write_text(PLANTED)  # untracked and not config: not the repo's business
    found = {(f.path, f.tracked) for f in scan(repo).findings}
    assert found == {("core/leak.py", True), (".env", False), (".streamlit/secrets.toml", False)}


def test_without_git_the_tree_is_walked_skipping_venv_and_data(tmp_path):
    for folder in ("core", ".venv/lib", "data"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "x.py").write_text(PLANTED)
    assert [f.path for f in scan(tmp_path).findings] == ["core/x.py"]


@pytest.mark.parametrize("value, fake", [
    ("sk-ant-test-fake-0000", True), ("sk-ant-simulator-fake-key-0000", True), ("sk-ant-api03-EXAMPLEEXAMPLE", True),
    ("sk-ant-api03-xxxxxxxxxxxxxxxxxxxx", True), ("sk-ant-api03-CANARYq1w2e3r4t5y6u7i8o9p0-AAAA", True),
    (PLANTED, False),
])
def test_documented_fakes_are_recognised(value, fake):
    assert is_fake(value) is fake


def test_short_prefixes_are_not_keys(tmp_path):
    (tmp_path / "doc.md").write_text("Keys look like `sk-ant-…abcd` or sk-ant-ab12 when masked.\n")
    assert scan(tmp_path).findings == ()


def test_the_result_is_cached_for_a_while(repo, monkeypatch):
    monkeypatch.setattr(checklist_scan, "_cache", {})
    first = cached_scan(repo, now=100.0)
    (repo / "core" / "leak.py").write_text("fixed\n")
    assert cached_scan(repo, now=100.0 + checklist_scan.TTL_S - 1) is first
    assert cached_scan(repo, now=100.0 + checklist_scan.TTL_S + 1).findings == ()


def test_this_repository_has_no_real_key():
    assert scan(checklist_scan.__file__.rsplit("/core/", 1)[0]).findings == ()
