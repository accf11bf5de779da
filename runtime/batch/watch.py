"""The cluster watched while ``runtime.batch`` runs: a lost node or head ends the job in seconds.

Why it is needed (Ray 2.60): Ray Data sizes a fixed actor pool once, for the cluster it
sees at the start. A node lost early leaves an actor that can never be placed again, and
the tasks queued on it wait forever. The head's loss is worse: the driver's core worker
ends the whole process once its GCS reconnection timeout runs out, from C++, with no
Python cleanup, so a temporary output directory would stay behind.

The policy: a node that held the job (every node alive when the job started, and any that
joined since) or the head, lost at any moment of the job, fails the job with
``ClusterError`` naming it. Re-sizing the pool is not offered by Ray Data's actor pool,
and a late loss that Ray could retry would finish, but an early one would not; one rule
for every moment is easier to trust. The output appears whole or not at all, so running
the command again on the remaining nodes is always safe.

How a loss is seen, without waiting for Ray's own health checks (their period is set on
the head, not here): every ``POLL_SECONDS`` the watcher connects to the head's GCS port and
to each node's raylet port, and asks the GCS which nodes it holds dead. A port that
refuses or does not answer for ``GRACE_SECONDS`` in a row, or a node the GCS declares
dead, is lost. The watcher then interrupts the thread that runs the job the way Ctrl-C
does (Ray Data stops its executor on ``KeyboardInterrupt``), and ``lost`` says why.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from dataclasses import dataclass

__all__ = ["ClusterWatch", "Node", "POLL_SECONDS", "GRACE_SECONDS"]

#: Seconds between two looks at the cluster.
POLL_SECONDS = 0.5
#: Seconds a port may fail to answer before its node counts as lost: long enough for a
#: busy host's accept queue, short enough that the job fails in seconds, not minutes.
GRACE_SECONDS = 3.0
#: Seconds one connection attempt may take.
CONNECT_SECONDS = 1.0
#: Seconds one question to the GCS may take.
GCS_SECONDS = 2.0


@dataclass(frozen=True)
class Node:
    """A raylet of the cluster: its id (hex), address, raylet port, and whether it is the head."""

    node_id: str
    address: str
    port: int
    head: bool

    def describe(self) -> str:
        return f"{'the head node' if self.head else 'node'} {self.address} (id {self.node_id[:8]})"


# From Ray's protocol (gcs.proto): NodeSnapshot.State DRAINING, NodeDeathInfo.Reason
# AUTOSCALER_DRAIN_IDLE.
_DRAINING = 3
_DRAIN_IDLE = 4


def _state(info) -> int:
    return getattr(getattr(info, "state_snapshot", None), "state", 0)


def _death_reason(info) -> int:
    return getattr(getattr(info, "death_info", None), "reason", 0)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=CONNECT_SECONDS):
            return True
    except OSError:
        return False


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class ClusterWatch:
    """A context manager: while inside it, watch the cluster of ``gcs_address`` and, on a
    loss, set ``lost`` (one line naming it) and interrupt the thread that entered."""

    def __init__(self, gcs_address: str, client=None):
        self.gcs_address = gcs_address
        self.lost: str | None = None
        self._lock = threading.Lock()
        self._stopped = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = client  # a GcsClient (or what answers get_all_node_info like one)
        self._installed = False  # whether _on_sigint replaced _previous (on the main thread only)
        self._previous = None
        self._nodes: dict[str, Node] = {}
        self._draining: set[str] = set()  # nodes the GCS says are being drained
        self._failing: dict[str, float] = {}  # key -> monotonic time of the first failure in a row
        self._owner = None

    def __enter__(self) -> "ClusterWatch":
        if self._client is None:
            from ray._raylet import GcsClient

            self._client = GcsClient(address=self.gcs_address)
        self._owner = threading.get_ident()
        if self._owner == threading.main_thread().ident:
            self._previous = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._on_sigint)
            self._installed = True
        self._refresh(time.monotonic())
        self._thread = threading.Thread(target=self._loop, name="runtime.batch cluster watch", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        try:
            with self._lock:
                self._stopped = True
            self._stop.set()
            if self._thread is not None:
                self._thread.join()
        finally:  # the watch's SIGINT may land in here: the old handler comes back all the same
            if self._installed:
                previous = self._previous if self._previous is not None else signal.SIG_DFL
                signal.signal(signal.SIGINT, previous)
                self._installed = False

    def _on_sigint(self, signum, frame) -> None:
        """SIGINT while inside: the watch's own stops the job; any other does what the
        handler it replaced would (a job started in the background, with SIGINT ignored,
        must still be stoppable by the watch, and still ignore a user's SIGINT)."""
        if self.lost is not None:
            raise KeyboardInterrupt
        previous = self._previous
        if previous is signal.SIG_IGN:
            return
        if callable(previous):
            previous(signum, frame)
            return
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # SIG_DFL (or unknown): as it would have
        signal.raise_signal(signal.SIGINT)

    @property
    def nodes(self) -> list[Node]:
        return list(self._nodes.values())

    def _loop(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            reason = self._look(time.monotonic())
            if reason is not None:
                self._fail(reason)
                return

    def _look(self, now: float) -> str | None:
        """One look at the cluster: the reason the job cannot go on, or None."""
        host, port = _split(self.gcs_address)
        if not self._answers("gcs", host, port, now):
            return (f"lost the head node: its GCS at {self.gcs_address} has not answered for "
                    f"{GRACE_SECONDS:.0f} s")
        if not self._failing.get("gcs"):
            dead = self._refresh(now)
            if dead is not None:
                return f"lost {dead.describe()}: Ray declared it dead"
        for node in list(self._nodes.values()):
            if node.node_id in self._draining:
                continue  # its raylet goes away on purpose; the GCS says why (_refresh)
            if not self._answers(node.node_id, node.address, node.port, now):
                return f"lost {node.describe()}: its raylet has not answered for {GRACE_SECONDS:.0f} s"
        return None

    def _answers(self, key: str, host: str, port: int, now: float) -> bool:
        """False once ``host:port`` has refused or not answered for ``GRACE_SECONDS`` in a row."""
        if _reachable(host, port):
            self._failing.pop(key, None)
            return True
        first = self._failing.setdefault(key, now)
        return now - first < GRACE_SECONDS

    def _refresh(self, now: float) -> Node | None:
        """Add the nodes that joined; return a watched node the GCS holds dead, if any."""
        try:
            infos = self._client.get_all_node_info(timeout=GCS_SECONDS)
        except Exception:  # the GCS port's own check decides whether the head is lost
            return None
        for node_id, info in infos.items():
            key = node_id.hex()
            alive = info.state == 0  # GcsNodeInfo.ALIVE
            if alive and key not in self._nodes:
                self._nodes[key] = Node(key, info.node_manager_address, int(info.node_manager_port),
                                        bool(info.is_head_node))
            if alive and _state(info) == _DRAINING:
                self._draining.add(key)
            elif not alive and key in self._nodes:
                if _death_reason(info) == _DRAIN_IDLE:
                    # An autoscaler removes only a node that held nothing, so nothing of
                    # this job was lost with it.
                    del self._nodes[key]
                    self._draining.discard(key)
                    continue
                return self._nodes[key]
        return None

    def _fail(self, reason: str) -> None:
        with self._lock:
            if self._stopped:
                return
            self.lost = reason
            # A real SIGINT to the main thread wakes it from a blocking wait, where Python's
            # interrupt_main would wait for it to run bytecode again; _on_sigint turns it
            # into KeyboardInterrupt, on which Ray Data stops its executor. Only the main
            # thread can be interrupted; a job run from another thread is left to Ray.
            if self._installed:
                signal.pthread_kill(self._owner, signal.SIGINT)
