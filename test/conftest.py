"""Shared test fixtures: DDS kept on loopback with a per-run domain id, real-data paths.

Tests never change the environment they run in: the installed distributions (name and
version) are recorded when the run starts and compared when it ends; a difference fails the
run (:func:`pytest_sessionfinish`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Every node a test starts inherits these: DDS discovery on loopback only, and a domain id of
# this run's own so that parallel runs on one machine never see each other's topics.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["ROS_LOCALHOST_ONLY"] = "1"
os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))


def installed_distributions() -> dict[str, str]:
    """{normalised name: version} of every distribution installed for this interpreter.

    Listed by a fresh interpreter: inside the test process, importing setuptools puts its
    vendored packages (jaraco, packaging, wheel ...) on sys.path, which would read as installs.
    """
    script = ("import importlib.metadata as m, json; print(json.dumps({d.metadata['Name']"
              ".lower().replace('_', '-'): d.version for d in m.distributions() "
              "if d.metadata['Name']}))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": ""})
    return json.loads(out.stdout)


_INSTALLED_AT_START = installed_distributions()


def pytest_sessionfinish(session, exitstatus):
    """Fail the run when a test installed, removed or changed a distribution."""
    now = installed_distributions()
    if now == _INSTALLED_AT_START:
        return
    changes = sorted(
        f"{name}: {_INSTALLED_AT_START.get(name, 'absent')} -> {now.get(name, 'absent')}"
        for name in set(now) | set(_INSTALLED_AT_START)
        if now.get(name) != _INSTALLED_AT_START.get(name))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = ("the tests changed the installed packages of this environment (a test must "
               "never do that): " + "; ".join(changes))
    if reporter is not None:
        reporter.write_line(f"ERROR: {message}", red=True)
    else:
        print(f"ERROR: {message}")
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


#: Names the folder of the small real NYUv2 bundle (``labels40/`` inside); the Makefile sets it.
NYU_MINI_ENV = "SCMIS_NYU_MINI"


def nyu_mini_path() -> Path | None:
    """The real NYUv2 mini bundle named by ``$SCMIS_NYU_MINI``, or None where absent."""
    folder = os.environ.get(NYU_MINI_ENV, "")
    if folder and (Path(folder) / "labels40").is_dir():
        return Path(folder)
    return None


@pytest.fixture
def nyu_mini() -> Path:
    """Path of the real NYUv2 mini bundle; skips the test where it is absent."""
    path = nyu_mini_path()
    if path is None:
        pytest.skip(f"real NYUv2 bundle not found: set {NYU_MINI_ENV} to a folder with "
                    f"labels40/ (found {os.environ.get(NYU_MINI_ENV, '')!r})")
    return path


@pytest.fixture
def one_thread():
    """One intra-op torch thread for tests of tiny tensors: avoids OpenMP oversubscription
    on a shared 2-core CPU (use with ``pytestmark = pytest.mark.usefixtures("one_thread")``)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def unwritable(tmp_path):
    """A folder path whose creation fails with a permission error, also for root."""
    if os.geteuid() != 0:
        parent = tmp_path / "locked"
        parent.mkdir()
        parent.chmod(0o500)
        yield parent / "out"
        parent.chmod(0o700)
        return
    if not Path("/sys").is_dir():
        pytest.skip("running as root without /sys: no folder refuses root")
    yield Path("/sys/scmis-test-unwritable/out")


@pytest.fixture(scope="session")
def untrained_generator(tmp_path_factory) -> Path:
    """A seeded untrained generator checkpoint (:mod:`scmis_ros.fixtures`, a 32x32 network of
    width 4), written once per run; tests only read it."""
    from scmis_ros.fixtures import write_generator_checkpoint

    return write_generator_checkpoint(tmp_path_factory.mktemp("untrained") / "tiny.pt")


@pytest.fixture(scope="session")
def untrained_synth(untrained_generator):
    """A CPU :class:`~scmis_core.synthesize.Synthesizer` of :func:`untrained_generator`."""
    from scmis_core.synthesize import Synthesizer

    return Synthesizer.from_checkpoint(untrained_generator, device="cpu")


@pytest.fixture
def repo_root() -> Path:
    """The repository root."""
    return REPO


TINY_GAN_OVERRIDES = {
    "data": {"height": 32, "width": 32, "rooms_train_size": 8, "rooms_test_size": 4,
             "num_workers": 0},
    "model": {"width": 4, "num_scales": 3, "spade_hidden": 8, "z_dim": 8, "disc_width": 8,
              "disc_head_width": 16},
    "train": {"batch_size": 2, "steps": 1, "sample_every": 100, "ema_decay": 0.9},
}


@pytest.fixture(scope="session")
def tiny_gan_checkpoint(tmp_path_factory) -> Path:
    """A real (1-step) rooms SCMIS checkpoint at 32x32: ``<run>/final.pt``."""
    from scmis_core.config import from_dict
    from scmis_core.train import Trainer

    run = tmp_path_factory.mktemp("tiny_gan")
    Trainer(from_dict(TINY_GAN_OVERRIDES), run, progress=False).fit()
    return run / "final.pt"
