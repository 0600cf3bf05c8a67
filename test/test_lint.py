"""Repository hygiene: ruff finds nothing, tests never skip the project's own modules, and the
docs a user has (and every reference to them) are complete."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Files that may name the development machine's shared folder: none.
DEV_ONLY: set[str] = set()


def _tracked_text_files() -> dict[str, str]:
    """Path -> text of every file git tracks (binary files left out)."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                                check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"not a git checkout ({exc})")
    texts = {}
    for name in filter(None, listed):
        path = REPO / name
        if not path.is_file():
            continue  # deleted in the working tree
        try:
            texts[name] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
    return texts


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, '-' for ' '."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_nothing_refers_to_the_development_machines_shared_folder():
    """Users get the repository only: no file may send them to the development machine's
    shared folder (design notes, wheels, data); the design lives in docs/design.md."""
    patterns = [".." + "/shared", "/work/" + "shared"]
    offending = [f"{name}:{number}: {line.strip()}"
                 for name, text in _tracked_text_files().items() if name not in DEV_ONLY
                 for number, line in enumerate(text.splitlines(), 1)
                 if any(p in line for p in patterns)]
    assert not offending, "references to the development-only shared folder:\n" + \
        "\n".join(offending)


def test_design_section_references_exist():
    """Every ``docs/design.md §N`` (or ``§N-M``) names a section that exists."""
    design = (REPO / "docs" / "design.md").read_text(encoding="utf-8")
    sections = {int(n) for n in re.findall(r"^## (\d+)\. ", design, flags=re.M)}
    assert sections == set(range(1, max(sections) + 1)), sections
    bad = []
    for name, text in _tracked_text_files().items():
        for match in re.finditer(r"design\.md §(\d+)(?:-(\d+))?", text):
            cited = {int(g) for g in match.groups() if g}
            if not cited <= sections:
                line = text.count("\n", 0, match.start()) + 1
                bad.append(f"{name}:{line}: {match.group(0)}")
    assert not bad, "references to missing sections of docs/design.md:\n" + "\n".join(bad)


def test_markdown_links_resolve():
    """Relative links in the README and docs/ point to files (and headings) that exist."""
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    assert (REPO / "docs" / "design.md") in pages and (REPO / "docs" / "ros.md") in pages
    readme = pages[0].read_text(encoding="utf-8")
    assert "docs/design.md" in readme and "docs/ros.md" in readme and "```mermaid" in readme
    bad = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # an external URL
            file_part, _, fragment = target.partition("#")
            dest = (page.parent / file_part).resolve() if file_part else page
            if not dest.exists():
                bad.append(f"{page.name}: {target} (no such file)")
                continue
            if fragment and dest.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", dest.read_text(encoding="utf-8"),
                                      flags=re.M)
                if fragment not in {_anchor(h) for h in headings}:
                    bad.append(f"{page.name}: {target} (no such heading)")
    assert not bad, "broken links:\n" + "\n".join(bad)


def test_anchor_matches_github():
    assert _anchor("8. Assumptions and defaults") == "8-assumptions-and-defaults"
    assert _anchor("augment_bag (offline)") == "augment_bag-offline"
    assert _anchor("synth.launch.py") == "synthlaunchpy"


def test_ruff_finds_nothing():
    """``ruff check`` with the repository's ruff.toml (pycodestyle E/W, pyflakes F, lines of
    at most 99 characters) over every Python file."""
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache",
                           "--output-format", "concise", "."], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"ruff found problems:\n{done.stdout}{done.stderr}"


def test_tests_never_skip_the_projects_own_modules():
    """A missing scmis_core / scmis_ros module is a failure, not a skip."""
    pattern = re.compile(r"(importorskip|find_spec)\(\s*[\"']scmis_")
    offending = [f"{path.name}:{number}: {line.strip()}"
                 for path in sorted((REPO / "test").glob("*.py")) if path.name != "test_lint.py"
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if pattern.search(line)]
    assert not offending, "\n".join(offending)


def test_every_path_the_design_doc_names_exists():
    """docs/design.md names modules and folders in backticks (`scmis_core/engine/stop.py`,
    `models/spade.py`, `runtime.py`); each must exist in the repository, in scmis_core or in
    scmis_ros (the doc drifted from the code before)."""
    import re

    text = (REPO / "docs" / "design.md").read_text(encoding="utf-8")
    names = set(re.findall(r"`([A-Za-z0-9_./-]+(?:\.py|/))`", text))
    bases = [REPO, REPO / "scmis_core", REPO / "scmis_core" / "data", REPO / "scmis_ros"]
    missing = sorted(n for n in names if not any((b / n).exists() for b in bases))
    assert names and not missing, f"docs/design.md names paths that do not exist: {missing}"
