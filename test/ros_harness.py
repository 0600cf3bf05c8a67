"""Helpers of the ROS tests: nodes in subprocesses, an in-process rclpy client, domain ids.

Every node runs as ``python -m scmis_ros.<node>`` in its own process with DDS on loopback
and the test's own ``ROS_DOMAIN_ID``; the test talks to it through a client node in a
private rclpy context on the same domain.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
_COUNTER = itertools.count()


def next_domain_id() -> int:
    """A domain id for one test: distinct within this run, 1..100, offset by the process id
    so that concurrent runs on one machine rarely share one."""
    return (os.getpid() * 7 + next(_COUNTER)) % 100 + 1


def ros_env(domain_id: int) -> dict[str, str]:
    """Environment of a node process: loopback DDS, the domain, this checkout first."""
    env = dict(os.environ)
    env.update(ROS_DOMAIN_ID=str(domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               ROS_LOCALHOST_ONLY="1", PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join(p for p in [str(REPO), env.get("PYTHONPATH", "")]
                                          if p))
    return env


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value == "":
        return "''"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_param_text(v) for v in value) + "]"
    return str(value)


def _number(text: str) -> Any:
    """'12' -> 12, '1.5' -> 1.5, anything else unchanged."""
    for kind in (int, float):
        try:
            return kind(text)
        except (TypeError, ValueError):
            pass
    return text


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


class NodeProcess:
    """``python -m module --ros-args -p k:=v ...`` in a subprocess, output in ``log``."""

    def __init__(self, module: str, domain_id: int, log: Path,
                 params: dict[str, Any] | None = None, remaps: dict[str, str] | None = None,
                 params_file: Path | None = None, env: dict[str, str] | None = None
                 ) -> None:
        cmd = [sys.executable, "-m", module, "--ros-args"]
        if params_file is not None:  # first: the -p values below override it
            cmd += ["--params-file", str(params_file)]
        for key, value in (params or {}).items():
            cmd += ["-p", f"{key}:={_param_text(value)}"]
        for src, dst in (remaps or {}).items():
            cmd += ["-r", f"{src}:={dst}"]
        self.log = log
        self._log_handle = open(log, "wb")
        self.proc = subprocess.Popen(cmd, env={**ros_env(domain_id), **(env or {})}, cwd=REPO,
                                     stdout=self._log_handle, stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc.poll() is None

    def output(self) -> str:
        """Everything the process printed so far."""
        if not self._log_handle.closed:
            self._log_handle.flush()
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit by itself; its return code."""
        try:
            return self.proc.wait(timeout)
        finally:
            self._log_handle.close()

    def stop(self, timeout: float = 20.0, signum: int = signal.SIGINT) -> int:
        """Ctrl-C (SIGINT, or ``signum``), wait; kill if it hangs. Returns the exit code."""
        if self.alive():
            self.proc.send_signal(signum)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log_handle.close()
        return self.proc.returncode


class Client:
    """A client node in its own rclpy context on ``domain_id``."""

    def __init__(self, domain_id: int, name: str = "test_client") -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def qos(self, name: str = "sensor_data", depth: int = 10) -> Any:
        """A QoS profile by name (as the nodes use)."""
        from scmis_ros.node_utils import qos_from_name
        return qos_from_name(name, depth)

    def collect(self, msg_type: Any, topic: str, qos: Any = None, raw: bool = False
                ) -> list[Any]:
        """Subscribe; messages are appended to the returned list while spinning."""
        received: list[Any] = []
        self.node.create_subscription(msg_type, topic, received.append,
                                      qos if qos is not None else self.qos(), raw=raw)
        return received

    def status(self, topic: str) -> list[dict[str, Any]]:
        """Subscribe to a JSON status topic; decoded dicts are appended while spinning."""
        from std_msgs.msg import String

        received: list[dict[str, Any]] = []
        self.node.create_subscription(String, topic,
                                      lambda m: received.append(json.loads(m.data)), 10)
        return received

    def diagnostics(self, node_name: str) -> list[dict[str, Any]]:
        """Subscribe to /diagnostics; the statuses of ``node_name`` are appended while
        spinning as dicts (name, level OK/WARN/ERROR, message, the key values; integer and
        float values converted)."""
        from diagnostic_msgs.msg import DiagnosticArray

        from scmis_ros.diagnostics import status_dict

        received: list[dict[str, Any]] = []

        def on_array(msg: Any) -> None:
            for status in msg.status:
                if status.name.split(":")[0] == node_name:
                    received.append({k: _number(v) for k, v in status_dict(status).items()})
        self.node.create_subscription(DiagnosticArray, "/diagnostics", on_array, 10)
        return received

    def lifecycle(self, node_name: str, transition: str, timeout: float = 60.0) -> bool:
        """``ros2 lifecycle set /<node> <transition>`` (configure, activate, deactivate,
        cleanup, shutdown): the service's ``success``."""
        from lifecycle_msgs.srv import ChangeState

        request = ChangeState.Request()
        request.transition.label = transition
        return bool(self._call(ChangeState, f"/{node_name}/change_state", request,
                               timeout).success)

    def lifecycle_state(self, node_name: str, timeout: float = 20.0) -> str:
        """``ros2 lifecycle get /<node>``: the state's label."""
        from lifecycle_msgs.srv import GetState

        return self._call(GetState, f"/{node_name}/get_state", GetState.Request(),
                          timeout).current_state.label

    def _call(self, srv_type: Any, name: str, request: Any, timeout: float) -> Any:
        client = self.node.create_client(srv_type, name)
        try:
            if not client.wait_for_service(timeout_sec=timeout):
                raise TimeoutError(f"{name} not available")
            future = client.call_async(request)
            self.spin_until(future.done, timeout)
            if not future.done():
                raise TimeoutError(f"{name} did not answer")
            return future.result()
        finally:
            self.node.destroy_client(client)

    def publisher(self, msg_type: Any, topic: str, qos: Any = None) -> Any:
        """A publisher on ``topic``."""
        return self.node.create_publisher(msg_type, topic,
                                          qos if qos is not None else self.qos())

    def spin_for(self, seconds: float) -> None:
        """Process callbacks for ``seconds``."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=min(0.05, max(0.0, end - time.monotonic())))

    def spin_until(self, condition: Callable[[], bool], timeout: float,
                   every: Callable[[], None] | None = None, period: float = 0.5) -> bool:
        """Spin until ``condition()`` (True) or ``timeout`` s (False); call ``every`` each
        ``period`` s meanwhile (e.g. to republish)."""
        end = time.monotonic() + timeout
        next_call = time.monotonic()
        while time.monotonic() < end:
            if condition():
                return True
            if every is not None and time.monotonic() >= next_call:
                every()
                next_call = time.monotonic() + period
            self.executor.spin_once(timeout_sec=0.05)
        return condition()

    def wait_for_node(self, name: str, timeout: float = 60.0) -> bool:
        """Spin until a node called ``name`` is on the graph."""
        return self.spin_until(lambda: name in self.node.get_node_names(), timeout)

    def set_parameters(self, node_name: str, values: dict[str, Any], timeout: float = 20.0
                       ) -> list[Any]:
        """Call ``/<node>/set_parameters``; the list of SetParametersResult."""
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter

        client = self.node.create_client(SetParameters, f"/{node_name}/set_parameters")
        if not client.wait_for_service(timeout_sec=timeout):
            raise TimeoutError(f"/{node_name}/set_parameters not available")
        request = SetParameters.Request()
        request.parameters = [Parameter(k, value=v).to_parameter_msg()
                              for k, v in values.items()]
        future = client.call_async(request)
        self.spin_until(future.done, timeout)
        self.node.destroy_client(client)
        if not future.done():
            raise TimeoutError(f"/{node_name}/set_parameters did not answer")
        return list(future.result().results)

    def get_parameters(self, node_name: str, names: list[str], timeout: float = 20.0
                       ) -> list[Any]:
        """Call ``/<node>/get_parameters``; the values (Python types) in ``names`` order."""
        from rcl_interfaces.srv import GetParameters
        from rclpy.parameter import parameter_value_to_python

        client = self.node.create_client(GetParameters, f"/{node_name}/get_parameters")
        if not client.wait_for_service(timeout_sec=timeout):
            raise TimeoutError(f"/{node_name}/get_parameters not available")
        future = client.call_async(GetParameters.Request(names=names))
        self.spin_until(future.done, timeout)
        self.node.destroy_client(client)
        if not future.done():
            raise TimeoutError(f"/{node_name}/get_parameters did not answer")
        return [parameter_value_to_python(v) for v in future.result().values]

    def close(self) -> None:
        """Destroy the node and shut the context down."""
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()


def ros_session(tmp_path: Path):
    """Body of a ``ros`` fixture: yields (domain id, client, start) and cleans up.

    ``start(module, params, name=..., env=..., remaps=..., params_file=...)`` launches a node
    process on the test's domain; all are stopped (Ctrl-C) at the end.
    """
    domain = next_domain_id()
    client = Client(domain)
    procs: list[NodeProcess] = []

    def start(module: str, params: dict[str, Any] | None = None, name: str = "node",
              **kwargs: Any) -> NodeProcess:
        proc = NodeProcess(module, domain, tmp_path / f"{name}{len(procs)}.log", params,
                           **kwargs)
        procs.append(proc)
        return proc

    try:
        yield domain, client, start
    finally:
        client.close()
        for proc in procs:
            proc.stop()


def source_overlay(dest: Path) -> Path:
    """An ament prefix at ``dest`` that points at this checkout (no install needed).

    It holds what ament_index / launch_ros look up: the package marker, ``share/scmis_ros``
    (package.xml, launch/, config/ linked to the sources) and ``lib/scmis_ros`` with the
    executable wrappers, whose ``../../bin/python`` runs this interpreter. Put ``dest`` first
    on AMENT_PREFIX_PATH and the checkout on PYTHONPATH.
    """
    marker = dest / "share" / "ament_index" / "resource_index" / "packages" / "scmis_ros"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("")
    share = dest / "share" / "scmis_ros"
    share.mkdir(parents=True, exist_ok=True)
    for name in ("package.xml", "launch", "config"):
        link = share / name
        if not link.exists():
            link.symlink_to(REPO / name)
    lib = dest / "lib" / "scmis_ros"
    lib.mkdir(parents=True, exist_ok=True)
    for wrapper in (REPO / "lib" / "scmis_ros").iterdir():
        target = lib / wrapper.name
        target.write_text(wrapper.read_text())
        target.chmod(0o755)
    python = dest / "bin" / "python"
    python.parent.mkdir(parents=True, exist_ok=True)
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    return dest


def overlay_environment(dest: Path, domain_id: int) -> dict[str, str]:
    """Variables for launching the checkout's nodes through :func:`source_overlay`."""
    env = ros_env(domain_id)
    return {"AMENT_PREFIX_PATH": os.pathsep.join(
                p for p in [str(dest), os.environ.get("AMENT_PREFIX_PATH", "")] if p),
            "PYTHONPATH": env["PYTHONPATH"], "ROS_DOMAIN_ID": str(domain_id),
            "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_LOCALHOST_ONLY": "1",
            "PYTHONUNBUFFERED": "1"}
