"""A local Ray cluster for ``mmbench serve --ray`` and the tests: :func:`connect`, :func:`shutdown`.

``connect()`` starts the cluster inside this process (``ray.init``: its processes are this
process's children and die with the thread that started them; see ``RayRunner``) on loopback (node
address 127.0.0.1; Ray's token authentication on, its default), with this machine's CPUs, without
the dashboard, worker processes at normal priority, and replicas importing mmbench from where this
process does. On a busy small machine Ray's start can fail (the raylet waits a fixed 15 s for its dashboard
agent, which then takes longer to import): ``connect`` stops what the failed start left running and
tries again.
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger("mmbench.serve")

#: Tries to start a local cluster.
START_ATTEMPTS = 3


def connect(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Connect this process to Ray: to ``address`` (or ``RAY_ADDRESS``) when given, else to a new local
    cluster on loopback with ``num_cpus`` logical CPUs (default: this machine's). Returns True when it started the
    cluster; :func:`shutdown` (after ``serve.shutdown()``) stops it."""
    import ray
    from ray._private import ray_constants

    if ray.is_initialized():
        return False
    # Ray's C++ failure-signal handler would catch SIGTERM and abort: keep the server's graceful drain.
    ray_constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER = True
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        ray.init(address=address, log_to_driver=False)
        return False
    import mmbench

    root = os.path.dirname(os.path.dirname(os.path.abspath(mmbench.__file__)))
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in paths:  # replicas import mmbench from where this process does, installed or not
        os.environ["PYTHONPATH"] = os.pathsep.join([root, *paths])
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Replicas do the serving work here: Ray's default worker niceness (15) lets the HTTP front end and
    # any other process on the machine starve them; on one machine they get an equal share instead.
    os.environ.setdefault("RAY_worker_niceness", "0")
    for attempt in range(1, START_ATTEMPTS + 1):
        before = _children()
        try:
            ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False,
                     _node_ip_address="127.0.0.1", log_to_driver=False)
            return True
        except Exception as err:
            for proc in _children() - before:  # what the failed start left running: ours, by pid
                proc.kill()
            if "timed out during startup" not in str(err) or attempt == START_ATTEMPTS:
                raise
            log.warning("the local Ray node was too slow to start (a busy machine?); starting it again")
    raise AssertionError("unreachable")


def shutdown() -> None:
    """Disconnect from Ray; a cluster :func:`connect` started stops with it."""
    import ray

    if ray.is_initialized():
        ray.shutdown()


def _children() -> set[Any]:
    """This process's descendants, as ``_Child`` (pid, start time), read from /proc (Linux; else none)."""
    table: dict[int, list[tuple[int, str]]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return set()
    for entry in entries:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            table.setdefault(int(fields[1]), []).append((int(entry), fields[19]))
    out, todo = set(), [os.getpid()]
    while todo:
        for pid, started in table.get(todo.pop(), []):
            out.add(_Child(pid, started))
            todo.append(pid)
    return out


class _Child(tuple):
    """A descendant process: (pid, start time in clock ticks), so a reused pid is not mistaken for it."""

    def __new__(cls, pid: int, started: str) -> "_Child":
        return super().__new__(cls, (pid, started))

    def kill(self) -> None:
        import signal

        try:
            with open(f"/proc/{self[0]}/stat", encoding="ascii", errors="replace") as f:
                if f.read().rsplit(")", 1)[1].split()[19] != self[1]:
                    return  # gone, its pid reused
            os.kill(self[0], signal.SIGKILL)
        except (OSError, IndexError):
            pass
