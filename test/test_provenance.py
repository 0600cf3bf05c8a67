"""scmis_core.provenance: the machine and commit recorded next to results."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from scmis_core.provenance import cpu_model, git_head


def test_cpu_model_names_something():
    assert cpu_model().strip()


def test_git_head_of_a_checkout_and_of_a_plain_folder(tmp_path):
    assert git_head(root=tmp_path) is None  # an installed package: no .git beside it
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org",
           "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_SYSTEM": "/dev/null"}
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, env=env)
    assert git_head(root=tmp_path) is None  # no commit yet
    (tmp_path / "a.txt").write_text("a\n")
    subprocess.run(["git", "-C", str(tmp_path), "add", "a.txt"], check=True, env=env)
    subprocess.run(["git", "-C", str(tmp_path), "commit", "-q", "-m", "a"], check=True, env=env)
    full = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True, env=env).stdout.strip()
    assert git_head(root=tmp_path) == full and len(full) == 40
    short = git_head(short=True, root=tmp_path)
    assert short and full.startswith(short) and len(short) < 40
