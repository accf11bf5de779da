"""The cluster watch of runtime.batch, without a cluster: when a port's silence or the GCS's
word makes a node lost, and what the job is told."""

import os
import signal
import socket
import time
import types

import pytest

from runtime.batch.watch import GRACE_SECONDS, ClusterWatch, Node

pytestmark = pytest.mark.ray


class _Info:
    """What the GCS holds of a node (the fields of GcsNodeInfo the watch reads)."""

    def __init__(self, alive: bool, address: str, port: int, head: bool, snapshot: int = 2, death: int = 0):
        self.state = 0 if alive else 1
        self.node_manager_address, self.node_manager_port, self.is_head_node = address, port, head
        self.state_snapshot = types.SimpleNamespace(state=snapshot)  # 2: ACTIVE, 3: DRAINING
        self.death_info = types.SimpleNamespace(reason=death)  # 3: PREEMPTED, 4: DRAIN_IDLE


class _NodeId(bytes):
    def hex(self) -> str:
        return bytes.hex(self)


class _Gcs:
    """What GcsClient.get_all_node_info answers: node id -> info."""

    def __init__(self):
        self.nodes = {}

    def get_all_node_info(self, timeout=None):
        return dict(self.nodes)


@pytest.fixture
def listening():
    """Two ports that accept connections: a GCS and a raylet."""
    sockets = []
    for _ in range(2):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        sockets.append(s)
    yield [s.getsockname()[1] for s in sockets], sockets
    for s in sockets:
        s.close()


def _watch(gcs_port: int, gcs: _Gcs) -> ClusterWatch:
    watch = ClusterWatch(f"127.0.0.1:{gcs_port}")
    watch._client = gcs
    return watch


def test_a_silent_raylet_is_lost_after_the_grace_and_not_before(listening):
    (gcs_port, raylet_port), sockets = listening
    gcs = _Gcs()
    gcs.nodes[_NodeId(b"\xab" * 28)] = _Info(True, "127.0.0.1", raylet_port, False)
    watch = _watch(gcs_port, gcs)
    assert watch._look(0.0) is None
    assert watch.nodes == [Node("ab" * 28, "127.0.0.1", raylet_port, False)]
    sockets[1].close()
    assert watch._look(10.0) is None  # the first silence starts the grace
    assert watch._look(10.0 + GRACE_SECONDS - 0.1) is None
    assert watch._look(10.0 + GRACE_SECONDS) == (
        f"lost node 127.0.0.1 (id abababab): its raylet has not answered for {GRACE_SECONDS:.0f} s")


def test_an_answer_within_the_grace_starts_it_again(listening):
    (gcs_port, _), sockets = listening
    watch = _watch(gcs_port, _Gcs())
    watch.gcs_address = "127.0.0.1:1"  # nothing listens there
    assert watch._look(0.0) is None
    watch.gcs_address = f"127.0.0.1:{gcs_port}"
    assert watch._look(GRACE_SECONDS - 0.5) is None
    watch.gcs_address = "127.0.0.1:1"
    assert watch._look(GRACE_SECONDS + 0.5) is None
    assert watch._look(2 * GRACE_SECONDS + 0.5) == (
        f"lost the head node: its GCS at 127.0.0.1:1 has not answered for {GRACE_SECONDS:.0f} s")


def test_a_node_ray_declares_dead_is_lost_at_once_and_one_that_joins_is_watched(listening):
    (gcs_port, raylet_port), _ = listening
    gcs = _Gcs()
    head, other = _NodeId(b"\x01" * 28), _NodeId(b"\x02" * 28)
    gcs.nodes[head] = _Info(True, "127.0.0.1", raylet_port, True)
    watch = _watch(gcs_port, gcs)
    assert watch._look(0.0) is None
    gcs.nodes[other] = _Info(True, "127.0.0.1", raylet_port, False)
    assert watch._look(0.5) is None and len(watch.nodes) == 2
    gcs.nodes[other] = _Info(False, "127.0.0.1", raylet_port, False)
    assert watch._look(1.0) == "lost node 127.0.0.1 (id 02020202): Ray declared it dead"


def test_a_node_dead_before_the_job_is_not_watched(listening):
    (gcs_port, raylet_port), _ = listening
    gcs = _Gcs()
    gcs.nodes[_NodeId(b"\x03" * 28)] = _Info(False, "127.0.0.1", 1, False)
    watch = _watch(gcs_port, gcs)
    assert watch._look(0.0) is None and watch.nodes == []


def _silent_cluster() -> ClusterWatch:
    """A watch of a head nobody serves: lost once the grace has run out."""
    return ClusterWatch("127.0.0.1:1", client=_Gcs())


@pytest.mark.parametrize("handler", [signal.default_int_handler, signal.SIG_IGN],
                         ids=["default", "ignored (a job started in the background)"])
def test_a_loss_interrupts_the_job_whatever_sigint_does_and_the_handler_comes_back(handler):
    signal.signal(signal.SIGINT, handler)
    try:
        start = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            with _silent_cluster() as watch:
                time.sleep(GRACE_SECONDS + 10)  # a job's blocking wait
        assert GRACE_SECONDS <= time.monotonic() - start < GRACE_SECONDS + 3
        assert watch.lost.startswith("lost the head node: its GCS at 127.0.0.1:1 has not answered")
        assert signal.getsignal(signal.SIGINT) is handler
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def test_a_users_sigint_is_still_ignored_while_watched_when_it_was_before(listening):
    (gcs_port, _), _ = listening
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with ClusterWatch(f"127.0.0.1:{gcs_port}", client=_Gcs()) as watch:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)
        assert watch.lost is None and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def test_an_idle_node_the_autoscaler_drains_is_not_a_loss_and_a_preempted_one_is(listening):
    (gcs_port, raylet_port), sockets = listening
    gcs = _Gcs()
    idle, busy = _NodeId(b"\x04" * 28), _NodeId(b"\x05" * 28)
    gcs.nodes[idle] = _Info(True, "127.0.0.1", raylet_port, False)
    gcs.nodes[busy] = _Info(True, "127.0.0.1", raylet_port, False)
    watch = _watch(gcs_port, gcs)
    assert watch._look(0.0) is None
    gcs.nodes[idle] = _Info(True, "127.0.0.1", raylet_port, False, snapshot=3)
    gcs.nodes[busy] = _Info(True, "127.0.0.1", raylet_port, False, snapshot=3)
    assert watch._look(0.5) is None
    sockets[1].close()  # both raylets go, as drained raylets do
    assert watch._look(1.0) is None and watch._look(1.0 + GRACE_SECONDS) is None
    gcs.nodes[idle] = _Info(False, "127.0.0.1", raylet_port, False, death=4)
    assert watch._look(5.0) is None and len(watch.nodes) == 1
    gcs.nodes[busy] = _Info(False, "127.0.0.1", raylet_port, False, death=3)
    assert watch._look(5.5) == "lost node 127.0.0.1 (id 05050505): Ray declared it dead"
