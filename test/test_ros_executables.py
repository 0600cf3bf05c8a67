"""The ROS executables are installed one way only: the lib/scmis_ros wrappers (data files),
never also as console scripts (under colcon both would land in lib/scmis_ros and collide)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def setup_arguments(monkeypatch) -> dict:
    """The keyword arguments setup.py passes to ``setuptools.setup`` (nothing built)."""
    import runpy

    import setuptools

    captured: dict = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: captured.update(kwargs))
    monkeypatch.chdir(REPO)  # setup.py globs relative paths
    runpy.run_path(str(REPO / "setup.py"))
    return captured


def test_node_executables_are_wrappers_only_and_clis_console_scripts(monkeypatch):
    args = setup_arguments(monkeypatch)
    scripts = {entry.split("=")[0].strip()
               for entry in args["entry_points"]["console_scripts"]}
    wrappers = {p.name for p in (REPO / "lib" / "scmis_ros").iterdir()}
    lib_files = {Path(f).name for dest, files in args["data_files"] if dest == "lib/scmis_ros"
                 for f in files}
    assert lib_files == wrappers and "synth_node" in wrappers
    assert not scripts & wrappers, scripts & wrappers
    assert scripts and all(name.startswith("scmis-") for name in scripts), scripts
    # no setup.cfg sending console scripts into lib/scmis_ros (the colcon template's lines)
    cfg = REPO / "setup.cfg"
    assert not cfg.exists() or "lib/scmis_ros" not in cfg.read_text()
    for wrapper in (REPO / "lib" / "scmis_ros").iterdir():
        text = wrapper.read_text()
        assert text.startswith("#!/bin/sh") and os.access(wrapper, os.X_OK), wrapper


@pytest.mark.slow
def test_colcon_build_installs_each_executable_once(tmp_path):
    """A real ``colcon build`` (where colcon is installed: ``pip install
    colcon-common-extensions`` into any venv, then COLCON=path/to/colcon)."""
    colcon = os.environ.get("COLCON") or shutil.which("colcon")
    if not colcon:
        pytest.skip("colcon is not installed (set COLCON=/path/to/colcon)")
    src = tmp_path / "src" / "scmis_ros"
    src.mkdir(parents=True)
    for name in ("setup.py", "package.xml", "README.md", "resource", "launch", "config", "lib",
                 "scmis_core", "scmis_ros"):
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, src / name)
    subprocess.run([colcon, "build"], cwd=tmp_path, check=True, capture_output=True,
                   timeout=600)
    lib = tmp_path / "install" / "scmis_ros" / "lib" / "scmis_ros"
    for wrapper in (REPO / "lib" / "scmis_ros").iterdir():
        assert (lib / wrapper.name).read_text() == wrapper.read_text(), wrapper.name
    assert (tmp_path / "install" / "scmis_ros" / "bin" / "scmis-train").is_file()
    share = tmp_path / "install" / "scmis_ros" / "share" / "scmis_ros"
    assert (share / "config" / "ros" / "nodes.yaml").is_file()
