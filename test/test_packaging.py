"""The ament_python package installs its share files where ament_index finds them.

The install test never touches the environment the tests run in: pip installs into a
temporary prefix with ``--ignore-installed`` (without it pip first uninstalls the venv's own
``scmis_ros``, which then stays missing) and no cache; conftest checks at the end of every
run that the installed distributions are unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import installed_distributions

REPO = Path(__file__).resolve().parents[1]
PACKAGE_FILES = ["setup.py", "setup.cfg", "package.xml", "README.md", "resource", "launch",
                 "config", "lib", "scmis_core", "scmis_ros"]


def test_package_xml_format3_lists_runtime_and_test_deps():
    root = ET.parse(REPO / "package.xml").getroot()
    assert root.tag == "package" and root.get("format") == "3"
    assert root.findtext("name") == "scmis_ros"
    exec_deps = {e.text for e in root.findall("exec_depend")}
    for dep in ("rclpy", "sensor_msgs", "std_msgs", "cv_bridge", "python3-numpy",
                "python3-opencv", "python3-yaml", "python3-torch"):
        assert dep in exec_deps, dep
    test_deps = {e.text for e in root.findall("test_depend")}
    assert {"launch_testing", "launch_testing_ros", "python3-pytest"} <= test_deps
    assert root.find("export/build_type").text == "ament_python"


def test_wrappers_are_executable_and_run_their_module():
    wrappers = sorted((REPO / "lib" / "scmis_ros").iterdir())
    assert wrappers
    for wrapper in wrappers:
        assert os.access(wrapper, os.X_OK), wrapper
        module = wrapper.read_text().split(" -m ")[1].split()[0]
        assert (REPO / (module.replace(".", "/") + ".py")).is_file(), module


@pytest.mark.slow
def test_install_into_prefix_is_found_by_ament_index(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in PACKAGE_FILES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif path.exists():
            shutil.copy2(path, src / name)
    prefix = tmp_path / "prefix"
    before = installed_distributions()
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--no-compile", "--disable-pip-version-check",
                    "--ignore-installed", "--no-cache-dir", "--prefix", str(prefix),
                    str(src)], check=True, cwd=tmp_path)
    assert installed_distributions() == before  # the venv's own scmis_ros is still there
    site = next(prefix.glob("lib/python3*/site-packages"))
    probe = (
        "import json, os\n"
        "from ament_index_python.packages import get_package_share_directory, "
        "get_package_prefix\n"
        "share = get_package_share_directory('scmis_ros')\n"
        "print(json.dumps({'share': share, 'prefix': get_package_prefix('scmis_ros'),\n"
        "  'files': sorted(os.path.relpath(os.path.join(d, f), share)\n"
        "                  for d, _, fs in os.walk(share) for f in fs)}))\n")
    env = dict(os.environ, AMENT_PREFIX_PATH=str(prefix),
               PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", probe], env=env, check=True,
                         capture_output=True, text=True, cwd=tmp_path).stdout
    info = json.loads(out)
    assert Path(info["share"]) == prefix / "share" / "scmis_ros"
    files = set(info["files"])
    assert "package.xml" in files
    for launch in (REPO / "launch").glob("*.launch.py"):
        assert f"launch/{launch.name}" in files
    configs = list((REPO / "config").glob("*.yaml"))
    assert configs
    for cfg in configs:
        assert f"config/{cfg.name}" in files
    for wrapper in (REPO / "lib" / "scmis_ros").iterdir():
        installed = prefix / "lib" / "scmis_ros" / wrapper.name
        assert installed.is_file() and os.access(installed, os.X_OK), installed
    assert (prefix / "bin" / "scmis-export").is_file()
    # The installed code is importable from the prefix, not only from the source tree.
    code = "import scmis_core, scmis_ros; print(scmis_core.__file__)"
    where = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                           capture_output=True, text=True, cwd=tmp_path).stdout
    assert where.startswith(str(site))
    for name in ("rooms", "rooms-judge"):  # the shipped weights travel with the package
        for suffix in (".pt", ".json", ".sha256"):
            assert (site / "scmis_core" / "weights" / f"{name}{suffix}").is_file(), name


def test_a_changed_environment_fails_the_run(tmp_path):
    """conftest's end-of-run check: simulate a test that removed a distribution."""
    probe = tmp_path / "test_probe.py"
    probe.write_text("import conftest\n\n\ndef test_removes_a_package():\n"
                     "    conftest._INSTALLED_AT_START['scmis-fake-dist'] = '1.0'\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "test"), str(REPO)]))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "conftest",
                           "-p", "no:cacheprovider", str(probe)], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout
    assert "changed the installed packages" in proc.stdout
    assert "scmis-fake-dist: 1.0 -> absent" in proc.stdout
