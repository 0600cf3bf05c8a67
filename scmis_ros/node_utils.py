"""Pieces every scmis node shares: declared + validated parameters, QoS by name, the
single-slot keep-latest queue, a JSON status topic and the ``main()`` boilerplate."""

from __future__ import annotations

import json
import math
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import rclpy
from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)
from rclpy.executors import (ExternalShutdownException, MultiThreadedExecutor,
                             SingleThreadedExecutor)
from rclpy.node import Node
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy,
                       qos_profile_sensor_data)
from std_msgs.msg import String

QOS_PROFILES = ("sensor_data", "reliable", "best_effort", "system_default")


def qos_from_name(name: str, depth: int = 5) -> QoSProfile:
    """``sensor_data`` (best effort, keep last), ``reliable``, ``best_effort`` or
    ``system_default`` with history depth ``depth``."""
    if name == "sensor_data":
        profile = QoSProfile(**{k: getattr(qos_profile_sensor_data, k) for k in
                                ("reliability", "durability", "history")}, depth=depth)
        return profile
    if name == "reliable":
        return QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE,
                          history=HistoryPolicy.KEEP_LAST, durability=DurabilityPolicy.VOLATILE)
    if name == "best_effort":
        return QoSProfile(depth=depth, reliability=ReliabilityPolicy.BEST_EFFORT,
                          history=HistoryPolicy.KEEP_LAST, durability=DurabilityPolicy.VOLATILE)
    if name == "system_default":
        return QoSProfile(depth=depth, reliability=ReliabilityPolicy.SYSTEM_DEFAULT,
                          history=HistoryPolicy.KEEP_LAST,
                          durability=DurabilityPolicy.SYSTEM_DEFAULT)
    raise ValueError(f"qos: expected one of {', '.join(QOS_PROFILES)}, found {name!r}")


# --------------------------------------------------------------------------------------------
# Parameters


@dataclass
class Param:
    """One node parameter: default, description, and how it is validated.

    ``lo``/``hi`` become the descriptor's integer / floating-point range (enforced by rclpy);
    ``choices`` and ``check`` (a function returning an error text or None) run in the node's
    set-parameters callback and once at start-up. ``read_only`` parameters are fixed after
    start (model, topics, QoS); ``configure`` ones are read when a lifecycle node is
    configured, so there they may change while it is unconfigured (and only then).
    """

    name: str
    default: Any
    description: str
    lo: float | None = None
    hi: float | None = None
    choices: Sequence[str] = ()
    check: Callable[[Any], str | None] | None = None
    read_only: bool = False
    extra: str = field(default="")
    configure: bool = False

    def descriptor(self, lifecycle: bool = False) -> ParameterDescriptor:
        """The ROS descriptor (description, range, read-only flag)."""
        text = self.description
        if self.choices:
            text += f" (one of: {', '.join(self.choices)})"
        read_only = self.read_only
        if lifecycle and self.configure:
            read_only = False
            text += " [read on configure; change it while unconfigured]"
        desc = ParameterDescriptor(description=text, read_only=read_only,
                                   additional_constraints=self.extra)
        if self.lo is not None or self.hi is not None:
            if isinstance(self.default, bool):
                pass
            elif isinstance(self.default, int):
                desc.integer_range = [IntegerRange(
                    from_value=int(self.lo if self.lo is not None else -2**62),
                    to_value=int(self.hi if self.hi is not None else 2**62), step=0)]
            elif isinstance(self.default, float):
                desc.floating_point_range = [FloatingPointRange(
                    from_value=float(self.lo if self.lo is not None else -1e300),
                    to_value=float(self.hi if self.hi is not None else 1e300), step=0.0)]
        return desc

    def validate(self, value: Any) -> str | None:
        """An error text for a bad ``value``, or None."""
        if isinstance(value, float) and not math.isfinite(value):
            return f"{self.name}: expected a finite number, found {value}"
        if self.lo is not None and value < self.lo:
            return f"{self.name}: expected >= {self.lo}, found {value}"
        if self.hi is not None and value > self.hi:
            return f"{self.name}: expected <= {self.hi}, found {value}"
        if self.choices and value not in self.choices:
            return f"{self.name}: expected one of {', '.join(self.choices)}, found {value!r}"
        if self.check is not None:
            return self.check(value)
        return None


class ParamStore:
    """Declares :class:`Param` s on a node, validates them, and keeps their current values.

    ``store.values[name]`` is always the value in force; a rejected ``ros2 param set`` gets
    the reason back and changes nothing. ``check(name, value)`` (an error text or None) adds
    checks that need the node's state (e.g. the loaded model's class count); it runs in the
    set-parameters callback, before a value is accepted. ``unconfigured`` (lifecycle nodes)
    says whether the node is unconfigured: ``configure`` parameters may change only then.
    """

    def __init__(self, node: Node, params: Sequence[Param],
                 on_change: Callable[[dict[str, Any]], None] | None = None,
                 check: Callable[[str, Any], str | None] | None = None,
                 unconfigured: Callable[[], bool] | None = None) -> None:
        self.node = node
        self.params = {p.name: p for p in params}
        if len(self.params) != len(params):
            raise ValueError(f"{node.get_name()}: a parameter is declared twice")
        self.on_change = on_change
        self.check = check
        self.unconfigured = unconfigured
        for p in params:
            node.declare_parameter(p.name, p.default, p.descriptor(unconfigured is not None))
        self.values = {p.name: node.get_parameter(p.name).value for p in params}
        errors = [err for name, value in self.values.items()
                  if (err := self.params[name].validate(value))]
        if errors:
            raise ValueError(f"{node.get_name()}: invalid parameters: {'; '.join(errors)}")
        node.add_on_set_parameters_callback(self._check)
        node.add_post_set_parameters_callback(self._apply)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def _check(self, changed: list) -> SetParametersResult:
        for param in changed:
            spec = self.params.get(param.name)
            if spec is None:
                continue
            err = spec.validate(param.value)
            if err is None and spec.configure and self.unconfigured is not None and \
                    not self.unconfigured():
                err = (f"{param.name}: read when the node is configured; change it while "
                       f"unconfigured (ros2 lifecycle set {self.node.get_fully_qualified_name()}"
                       f" cleanup), found the node configured")
            if err is None and self.check is not None:
                err = self.check(param.name, param.value)
            if err:
                return SetParametersResult(successful=False, reason=err)
        return SetParametersResult(successful=True)

    def _apply(self, changed: list) -> None:
        updates = {p.name: p.value for p in changed if p.name in self.params}
        self.values.update(updates)
        if updates and self.on_change is not None:
            self.on_change(updates)


def file_check(kind: str, allow_empty: bool = True) -> Callable[[Any], str | None]:
    """A ``Param.check`` that requires an existing file (or the empty string)."""
    from pathlib import Path

    def check(value: Any) -> str | None:
        if value == "" and allow_empty:
            return None
        if not Path(str(value)).is_file():
            return f"{kind}: file not found: {value!r}"
        return None
    return check


# --------------------------------------------------------------------------------------------
# Lifecycle nodes


def lifecycle_state(node: Any) -> str:
    """The label of a ``rclpy.lifecycle.LifecycleNode``'s state (unconfigured, inactive,
    active, finalized, ...)."""
    return node._state_machine.current_state[1]


def autostart(node: Any, error: Callable[[], str]) -> None:
    """Configure and activate ``node`` now; a failed configure raises ``RuntimeError`` with
    ``error()`` (run_node turns it into one line and exit code 2)."""
    from rclpy.lifecycle import TransitionCallbackReturn

    if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
        raise RuntimeError(error() or "configure failed")
    if node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
        raise RuntimeError(error() or "activate failed")


def exit_soon(node: Node, delay_s: float = 0.2) -> None:
    """After a lifecycle shutdown: end the process once the change_state service has
    answered (the context is shut down from a one-shot timer)."""
    if not node.context.ok():
        return

    def finish() -> None:
        node.destroy_timer(timer)
        log_info(node, "shut down (lifecycle finalized)")
        node.context.try_shutdown()
    timer = node.create_timer(delay_s, finish)


# --------------------------------------------------------------------------------------------
# Queues, status, main


class LatestSlot:
    """A one-item queue that keeps only the newest item: a slow consumer never piles up work.

    ``put`` replaces an item that was not taken yet and counts it in ``dropped``.
    """

    def __init__(self) -> None:
        self._item: Any = None
        self._has = False
        self._closed = False
        self._cond = threading.Condition()
        self.put_count = 0
        self.dropped = 0
        self.max_len = 0

    def put(self, item: Any) -> bool:
        """Store ``item``; True when an older untaken item was dropped for it."""
        with self._cond:
            dropped = self._has
            self.dropped += int(dropped)
            self._item, self._has = item, True
            self.put_count += 1
            self.max_len = max(self.max_len, 1)
            self._cond.notify()
            return dropped

    def take(self, timeout: float | None = None) -> Any:
        """The newest item (waiting up to ``timeout`` s), or None when empty / closed."""
        with self._cond:
            if not self._has and not self._closed:
                self._cond.wait(timeout)
            if not self._has:
                return None
            item, self._item, self._has = self._item, None, False
            return item

    def __len__(self) -> int:
        with self._cond:
            return int(self._has)

    def clear(self) -> None:
        """Forget a waiting item (not counted as dropped)."""
        with self._cond:
            self._item, self._has = None, False

    def close(self) -> None:
        """Wake the consumer; later ``take`` calls return None at once when empty."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed


class StatusPublisher:
    """Publishes a JSON dict of counters on ``<topic>`` (std_msgs/String) every ``period_s``."""

    def __init__(self, node: Node, topic: str, snapshot: Callable[[], dict[str, Any]],
                 period_s: float = 1.0) -> None:
        self.node = node
        self.snapshot = snapshot
        self.publisher = node.create_publisher(String, topic, 10)
        self.timer = node.create_timer(period_s, self.publish)

    def publish(self) -> None:
        """Publish one status message now."""
        msg = String()
        msg.data = json.dumps(self.snapshot(), sort_keys=True)
        self.publisher.publish(msg)


def safe_publish(node: Node, publisher: Any, msg: Any) -> bool:
    """Publish from a worker thread; False (no exception) once the node's context is shut
    down (Ctrl-C arrives before the worker is stopped)."""
    try:
        publisher.publish(msg)
        return True
    except Exception:
        if node.context.ok():
            raise
        return False


def log_info(node: Node, text: str) -> None:
    """Log through the node while its context is up, else print (no rosout after shutdown)."""
    if node.context.ok():
        node.get_logger().info(text)
        return
    try:
        name = node.get_name()
    except Exception:  # the node's handle goes away with its context
        name = type(node).__name__
    print(f"[INFO] [{name}]: {text}", file=sys.stderr, flush=True)


def release_memory(collect: bool = True) -> None:
    """Give freed memory back: Python garbage (``collect``), the CUDA cache, and the C heap
    (glibc's ``malloc_trim``; large image buffers otherwise stay in the process after use)."""
    import gc

    if collect:
        gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


_TRIM: list[Any] = []


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` (None elsewhere: musl, macOS, Windows)."""
    if not _TRIM:
        import ctypes

        try:
            _TRIM.append(ctypes.CDLL(None).malloc_trim if sys.platform.startswith("linux")
                         else None)
        except (OSError, AttributeError):
            _TRIM.append(None)
    return _TRIM[0]


class RateLimiter:
    """Lets at most ``rate_hz`` events per second through (0 = unlimited)."""

    def __init__(self) -> None:
        self._last = -math.inf

    def allow(self, rate_hz: float, now: float | None = None) -> bool:
        """True when an event may run now; records it."""
        now = time.monotonic() if now is None else now
        if rate_hz > 0 and now - self._last < 1.0 / rate_hz:
            return False
        self._last = now
        return True


def let_sigint_reach_children() -> None:
    """Undo an inherited "SIGINT ignored" before starting node processes to stop with SIGINT.

    A background job of a non-interactive shell (``make demo &``, CI scripts) starts with
    SIGINT ignored, and every child inherits that: ``ros2 launch`` and the nodes would never
    see the Ctrl-C we send them and would be killed after a timeout instead of shutting down
    cleanly. With a handler installed here, children start with the default disposition."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


class TerminateRequest(BaseException):
    """Raised in the main thread by SIGTERM while a node spins (see :func:`run_node`)."""


def _raise_terminate(signum: int, frame: Any) -> None:
    raise TerminateRequest(signum)


def run_node(make_node: Callable[[], Node], args: list[str] | None = None,
             threads: int = 1) -> int:
    """``rclpy.init``, build the node, spin until Ctrl-C / shutdown, clean up; exit code.

    A ``ValueError`` / ``RuntimeError`` / ``FileNotFoundError`` from the constructor (bad
    parameters, missing checkpoint) is printed as one ``error:`` line and gives exit code 2.
    """
    from rclpy.exceptions import InvalidParameterValueException

    # SIGTERM (docker stop, systemd, launch after SIGINT) shuts down like Ctrl-C: rclpy's own
    # handler passes the signal on to the one it found, which was the default action, so the
    # process ended at once without its clean-up (the fine-tuner's final checkpoint).
    signal.signal(signal.SIGTERM, _raise_terminate)
    rclpy.init(args=args if args is not None else sys.argv)
    node = None
    code = 0
    try:
        node = make_node()
        executor = (SingleThreadedExecutor() if threads <= 1 else
                    MultiThreadedExecutor(num_threads=threads))
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, TerminateRequest, ExternalShutdownException):
        pass
    except (ValueError, RuntimeError, FileNotFoundError,  # CheckpointError is a RuntimeError
            InvalidParameterValueException) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        code = 2
    finally:
        # Ctrl-C reaches a launched node twice (the terminal's process group, then launch),
        # and launch follows up with SIGTERM: once shutting down, neither may interrupt the
        # clean-up (final checkpoint); launch's SIGKILL still ends a hung one.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if node is not None:
            close = getattr(node, "close", None)
            if close is not None:
                close()
            node.destroy_node()
        rclpy.try_shutdown()
    return code
