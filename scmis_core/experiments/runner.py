"""Resumable run lists: one JSON result per run, skip what is finished, budget, parallel jobs.

A plan may also define ``stale(key, result) -> str``: a reason why a finished run's
artefact (a checkpoint, a data folder) is unusable, e.g. an experiment continued on another
machine from its collected results; such a run is redone when an unfinished run needs it.

An experiment is a :class:`Plan`: ``plan.runs(finished)`` returns the list of
:class:`RunSpec` to do, given the results found so far (so a later run can depend on earlier
outcomes, e.g. a second seed for the two best variants). :class:`Runner` executes them in
list order as their ``needs`` are met:

- the result of run ``key`` is ``OUT/results/<key>.json`` (written atomically, last); a run
  whose result exists is finished and never redone; its work folder ``OUT/runs/<key>`` keeps
  step checkpoints, so an interrupted run continues where it stopped;
- the result stores the run's spec; a rerun with different settings for a finished key
  is refused with the differing fields (use another ``OUT``), so one folder never mixes
  settings;
- ``budget_min``: no run is started once that many minutes have passed since the start
  (running ones finish); the runs left are listed with their estimated CPU time;
- ``jobs`` > 1 (or ``isolate``) runs each run in its own ``python -m
  scmis_core.experiments worker OUT KEY`` process with one intra-op thread
  (``OMP_NUM_THREADS=1``), ``jobs`` at a time, logs in ``OUT/logs/<key>.log``; ``jobs`` = 1
  runs them in this process;
- a failing run leaves ``OUT/results/<key>.error.txt`` (the traceback) and is retried by the
  next rerun; runs that need it are not started.

Executors are looked up by ``RunSpec.kind`` in :data:`EXECUTORS` (``"module:function"``
import paths, resolved lazily; tests may register callables) and are called as
``fn(spec, ctx) -> dict`` with a :class:`RunContext`.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from ..engine.stop import TrainingInterrupted
from ..provenance import cpu_model, git_head
from ..runtime import atomic_write_text

#: kind -> "module:function" (or a callable) executing one run.
EXECUTORS: dict[str, str | Callable[..., dict[str, Any]]] = {
    "gan": "scmis_core.experiments.table1:execute_gan",
    "judge": "scmis_core.experiments.table1:execute_judge",
    "seg": "scmis_core.experiments.table2:execute_seg",
    "mixdata": "scmis_core.experiments.table2:execute_mixdata",
    "fewhomes_gan": "scmis_core.experiments.fewhomes:execute_gan",
    "fewhomes_mixdata": "scmis_core.experiments.fewhomes:execute_mixdata",
    "fewhomes_seg": "scmis_core.experiments.fewhomes:execute_seg",
}


def result_problem(path: Path) -> str:
    """Why the result file ``path`` is not a finished run's result ('' when it is one).

    A result is a JSON object with the run's ``key`` (the file's stem), its ``kind`` and its
    ``spec`` (an object); anything else (``{}``, a list, ``null``, a truncated file,
    wrong-typed fields) is unreadable.
    """
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"unreadable ({str(exc)[:120]})"
    if not isinstance(value, dict):
        return f"unreadable (expected a JSON object, found {type(value).__name__})"
    if value.get("key") != path.stem or not isinstance(value.get("kind"), str) \
            or not isinstance(value.get("spec"), dict):
        return ("unreadable (expected an object with the run's key, its kind and its spec, "
                f"found keys {sorted(value)[:8]})")
    return ""


def load_results(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """key -> result of every result file in ``folder`` (collected copies; files named in
    ``skip`` are not results); a damaged one raises ValueError naming it."""
    out = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        if path.name in skip:
            continue
        problem = result_problem(path)
        if problem:
            raise ValueError(f"result {path}: {problem}; remove it (and collect the run "
                             "again) to rebuild the page")
        out[path.stem] = json.loads(path.read_text())
    return out


class SpecMismatch(ValueError):
    """A finished run was made with other settings than the ones asked for now."""


@dataclass
class RunSpec:
    """One run: what to execute (``kind`` + ``params``) and what it waits for."""

    key: str
    kind: str
    params: dict[str, Any]
    needs: tuple[str, ...] = ()
    est_cpu_s: float = 0.0  # estimated single-thread CPU seconds (this machine)
    est_gpu_s: float = 0.0  # estimated GPU seconds at paper scale (an assumption)
    label: str = ""
    skip_reason: str = ""  # listed but never executed (e.g. weights that are absent)

    def identity(self) -> dict[str, Any]:
        """What must match between a stored result and a new request for the same key."""
        return json.loads(json.dumps({"kind": self.kind, "params": self.params,
                                      "needs": list(self.needs)}))


@dataclass
class RunContext:
    """What an executor gets besides its spec."""

    out: Path
    device: str = "cpu"
    progress: bool = False

    def run_dir(self, key: str) -> Path:
        return self.out / "runs" / key

    def result(self, key: str) -> dict[str, Any] | None:
        """The finished result of another run (e.g. a dependency), or None."""
        path = self.out / "results" / f"{key}.json"
        return json.loads(path.read_text()) if path.is_file() and not result_problem(path) \
            else None


class Plan(Protocol):
    """An experiment: the runs to do given the finished results."""

    def runs(self, finished: dict[str, dict[str, Any]]) -> list[RunSpec]: ...


def machine_info() -> dict[str, Any]:
    """Where the runs were made (for the results page)."""
    import torch

    return {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "platform": platform.platform(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def code_commit() -> str:
    """The git commit of the code (empty when not in a git checkout)."""
    return git_head(short=True) or ""


def resolve_executor(kind: str) -> Callable[..., dict[str, Any]]:
    """The executor function of ``kind``."""
    target = EXECUTORS.get(kind)
    if target is None:
        raise ValueError(f"run kind: expected one of {', '.join(EXECUTORS)}, found {kind!r}")
    if callable(target):
        return target
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def execute(spec: RunSpec, ctx: RunContext) -> dict[str, Any]:
    """Run one spec in this process and write its result JSON (atomically, last)."""
    results = ctx.out / "results"
    results.mkdir(parents=True, exist_ok=True)
    error_file = results / f"{spec.key}.error.txt"
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        result = resolve_executor(spec.kind)(spec, ctx)
    except (KeyboardInterrupt, TrainingInterrupted):
        raise  # stopped, not broken: the run resumes from its checkpoint
    except BaseException:
        atomic_write_text(error_file, traceback.format_exc())
        raise
    result = {"key": spec.key, "kind": spec.kind, "label": spec.label, **result,
              "wall_seconds": round(time.perf_counter() - t0, 1),
              "cpu_seconds": round(time.process_time() - c0, 1),
              "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
              "spec": spec.identity()}
    atomic_write_text(results / f"{spec.key}.json", json.dumps(result, indent=2))
    error_file.unlink(missing_ok=True)
    return result


def write_spec(out: Path, spec: RunSpec) -> Path:
    """``OUT/specs/<key>.json``: what a worker process reads."""
    path = out / "specs" / f"{spec.key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(asdict(spec), indent=2))
    return path


def read_spec(out: Path, key: str) -> RunSpec:
    """The spec a driver wrote for ``key``."""
    data = json.loads((out / "specs" / f"{key}.json").read_text())
    data["needs"] = tuple(data.get("needs", ()))
    return RunSpec(**data)


@dataclass
class RunnerReport:
    """What one :meth:`Runner.run` did."""

    done: list[str] = field(default_factory=list)  # finished in this call
    skipped: list[str] = field(default_factory=list)  # found finished
    failed: list[str] = field(default_factory=list)
    left: list[RunSpec] = field(default_factory=list)  # not started (budget / blocked)
    not_run: list[RunSpec] = field(default_factory=list)  # listed with a skip reason
    budget_stop: bool = False
    interrupted: int = 0  # exit code (128 + signal) when SIGTERM / SIGINT stopped the driver
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [f"{len(self.done)} runs done, {len(self.skipped)} already finished, "
                 f"{len(self.failed)} failed, {len(self.left)} left in {self.seconds:.0f} s"]
        if self.budget_stop:
            lines.append("stopped launching runs: the --budget-min budget is spent")
        if self.interrupted:
            lines.append("stopped by a signal (the run in progress wrote a checkpoint): rerun "
                         "the same command to continue")
        if self.left:
            est = sum(s.est_cpu_s for s in self.left) / 60
            lines.append(f"left ({est:.0f} CPU-min estimated): " +
                         ", ".join(s.key for s in self.left))
        for spec in self.not_run:
            lines.append(f"not run: {spec.key}: {spec.skip_reason}")
        for key in self.failed:
            lines.append(f"failed: {key} (see results/{key}.error.txt and logs/{key}.log)")
        return "\n".join(lines)


def prepare_out(out: Path, specs: list[RunSpec]) -> None:
    """``out`` must be new, empty or an earlier driver's (resumed), and must not be, hold or
    lie inside an input of the runs (checkpoints, data roots): scmis_core.output_dirs."""
    from ..output_dirs import prepare_output_dir

    inputs = []
    for spec in specs:
        inputs.append(spec.params.get("checkpoint"))
        data = spec.params.get("data")
        inputs.append(data.get("root") if isinstance(data, dict) else None)
    prepare_output_dir(out, overwrite=False, resume=True, kind="experiments",
                       inputs=[p for p in inputs if isinstance(p, str) and p],
                       tool="scmis_core.experiments")


class Runner:
    """Executes a :class:`Plan` into ``out`` (see the module docstring)."""

    def __init__(self, plan: Plan, out: str | Path, *, jobs: int = 1,
                 budget_min: float | None = None, isolate: bool | None = None,
                 device: str = "cpu", progress: bool = False,
                 log: Callable[[str], None] = print,
                 clock: Callable[[], float] = time.monotonic):
        if jobs < 1:
            raise ValueError(f"--jobs: expected >= 1, found {jobs}")
        if budget_min is not None and budget_min < 0:
            raise ValueError(f"--budget-min: expected >= 0, found {budget_min}")
        self.plan, self.out = plan, Path(out)
        self.jobs, self.budget_min = jobs, budget_min
        self.isolate = jobs > 1 if isolate is None else isolate
        self.ctx = RunContext(self.out, device, progress)
        self.log, self.clock = log, clock

    # -- results ------------------------------------------------------------------------------

    def finished(self) -> dict[str, dict[str, Any]]:
        """key -> result of every run with a result file."""
        folder = self.out / "results"
        out = {}
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            problem = result_problem(path)
            if problem:  # not a finished run: it is redone (its result replaced atomically)
                print(f"warning: result {path}: {problem}; the run is redone", file=sys.stderr)
                continue
            out[path.stem] = json.loads(path.read_text())
        return out

    def check_same(self, spec: RunSpec, result: dict[str, Any]) -> None:
        """Refuse a finished run whose stored spec differs from ``spec``."""
        stored = result.get("spec")
        want = spec.identity()
        if stored is None or stored == want:
            return
        diffs = []
        for name in ("kind", "needs"):
            if stored.get(name) != want[name]:
                diffs.append(f"{name}: {stored.get(name)!r} -> {want[name]!r}")
        old, new = stored.get("params", {}), want["params"]
        for name in sorted(set(old) | set(new)):
            if old.get(name) != new.get(name):
                diffs.append(f"{name}: {old.get(name)!r} -> {new.get(name)!r}")
        raise SpecMismatch(f"run {spec.key} in {self.out} was finished with other settings "
                           f"({'; '.join(diffs)[:600]}); use another --out for new settings "
                           f"or delete {self.out / 'results' / (spec.key + '.json')}")

    # -- the loop -----------------------------------------------------------------------------

    def run(self) -> RunnerReport:
        """Execute every run of the plan that is not finished (see the module docstring)."""
        report = RunnerReport()
        start = self.clock()
        running: dict[str, tuple[subprocess.Popen, Any]] = {}
        failed: set[str] = set()
        first = True
        stale_told: set[str] = set()
        while True:
            finished = self.finished()
            specs = self.plan.runs(finished)
            if hasattr(self.plan, "stale"):  # a needed result whose artefact is gone
                changed = True
                while changed:  # a redone run may need another one whose files are gone
                    changed = False
                    wanted = {n for s in specs if s.key not in finished for n in s.needs}
                    for key in sorted(wanted & set(finished)):
                        why = self.plan.stale(key, finished[key])
                        if why:
                            del finished[key]
                            changed = True
                            if key not in stale_told:
                                stale_told.add(key)
                                self.log(f"run {key}: {why}; it is redone for the runs "
                                         "that need it")
            by_key = {s.key: s for s in specs}
            if len(by_key) != len(specs):
                raise ValueError("run list: expected unique keys")
            for key, result in finished.items():
                if key in by_key:
                    self.check_same(by_key[key], result)
            if first:
                prepare_out(self.out, specs)
                report.skipped = [s.key for s in specs if s.key in finished]
                report.not_run = [s for s in specs if s.skip_reason]
                first = False
            todo = [s for s in specs if s.key not in finished and s.key not in running
                    and s.key not in failed and not s.skip_reason]
            blocked = {s.key for s in todo
                       if any(n in failed or (n in by_key and by_key[n].skip_reason)
                              for n in s.needs)}
            ready = [s for s in todo if s.key not in blocked
                     and all(n in finished for n in s.needs)]
            spent = (self.budget_min is not None
                     and self.clock() - start >= self.budget_min * 60)
            if spent and ready:
                report.budget_stop = True
            if ready and not spent and len(running) < self.jobs:
                spec = ready[0]
                if self.isolate:
                    running[spec.key] = self._launch(spec)
                    continue
                self.log(f"run {spec.key} ({spec.label or spec.kind}) ...")
                try:
                    execute(spec, self.ctx)
                    report.done.append(spec.key)
                except KeyboardInterrupt:
                    raise
                except TrainingInterrupted as exc:
                    # SIGTERM / SIGINT is meant for the driver, not for this one run: the
                    # run wrote its checkpoint, so stop here and let a rerun resume it
                    report.interrupted = exc.exit_code
                    report.left = [s for s in todo]
                    self.log(f"run {spec.key} {' '.join(str(exc).split()[:4])} (checkpoint "
                             f"{exc.checkpoint}); stopping the driver: rerun the same "
                             "command to continue")
                    break
                except Exception as exc:  # noqa: BLE001 — recorded, the others go on
                    failed.add(spec.key)
                    report.failed.append(spec.key)
                    self.log(f"run {spec.key} failed: {' '.join(str(exc).split())[:300]}")
                continue
            if running:
                self._wait(running, report, failed)
                continue
            report.left = [s for s in todo]
            break
        report.seconds = self.clock() - start
        return report

    def _launch(self, spec: RunSpec) -> tuple[subprocess.Popen, Any]:
        write_spec(self.out, spec)
        logs = self.out / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        handle = open(logs / f"{spec.key}.log", "a", encoding="utf-8")
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        cmd = [sys.executable, "-m", "scmis_core.experiments", "worker", str(self.out),
               spec.key, "--device", self.ctx.device]
        self.log(f"run {spec.key} ({spec.label or spec.kind}) started in its own process "
                 f"(log: {logs / (spec.key + '.log')})")
        proc = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env)
        return proc, handle

    def _wait(self, running: dict[str, tuple[subprocess.Popen, Any]], report: RunnerReport,
              failed: set[str]) -> None:
        while True:
            for key, (proc, handle) in list(running.items()):
                code = proc.poll()
                if code is None:
                    continue
                handle.close()
                del running[key]
                if code == 0 and (self.out / "results" / f"{key}.json").is_file():
                    report.done.append(key)
                    self.log(f"run {key} finished")
                else:
                    failed.add(key)
                    report.failed.append(key)
                    self.log(f"run {key} failed (exit {code}; log: logs/{key}.log)")
                return
            time.sleep(0.5)


def worker_main(out: str, key: str, device: str = "cpu") -> int:
    """``python -m scmis_core.experiments worker OUT KEY``: one run in this process."""
    import torch

    torch.set_num_threads(1)
    spec = read_spec(Path(out), key)
    execute(spec, RunContext(Path(out), device, progress=False))
    return 0
