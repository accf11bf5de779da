"""runtime.batch on a real two-node Ray cluster on this host, with token authentication.

Two raylets started with ``ray start``, as the README's recipe does, on two loopback
addresses (the head on 127.0.0.2 with 2 CPUs, the second node on 127.0.0.3 with 2 CPUs:
the default pool of 3 actors cannot fit on one node), with their own temporary
directories and a token of their own given through ``RAY_AUTH_TOKEN``. The driver is the
command line in a child process. Nodes are lost by killing their raylet (the head by
killing its GCS) by process id: ``ray stop`` would stop every Ray process of the host.

Every test checks the outcome the README promises: the job completes exactly (every line
once, counts exact) or fails with exit 3 and one line naming what was lost, within
``LOSS_BOUND_S`` of the loss, with nothing on standard output and no output or temporary
directory left.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.ray_cluster

ROOT = Path(__file__).resolve().parents[3]
HEAD_IP, NODE_IP = "127.0.0.2", "127.0.0.3"
#: Seconds from a loss to the driver's exit: the watch's grace, Ray Data stopping, Ray's
#: shutdown, on a busy 2-core host.
LOSS_BOUND_S = 45
#: Seconds a driver may take to finish a job, lost node or not.
FINISH_S = 240
N_FILES, N_LINES = 4, 150_000


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _ray(*args, env, timeout=120):
    ray = Path(sys.executable).parent / "ray"
    return subprocess.run([str(ray), *args], env=env, capture_output=True, text=True, timeout=timeout)


def _pids(marker: str, kinds=("raylet/raylet", "gcs_server")) -> list[int]:
    """Process ids of this cluster's raylets (and GCS) whose command line holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmd and any(k in cmd for k in kinds):
            found.append(int(entry.name))
    return found


def _all_pids(marker: str) -> list[int]:
    """Every process whose command line or environment names this cluster's directory."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmd:
            found.append(int(entry.name))
    return found


def _kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class TwoNodes:
    def __init__(self, base: Path):
        self.base = base
        self.port = _free_port(HEAD_IP)
        self.address = f"{HEAD_IP}:{self.port}"
        self.token = uuid.uuid4().hex
        # The token reaches every node and the driver through the environment, as the
        # README says; RAY_AUTH_MODE=token everywhere, since `ray start --address` and a
        # driver with an explicit address never turn it on by themselves.
        self.env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token",
                        RAY_AUTH_TOKEN=self.token)

    def start_head(self) -> None:
        done = _ray("start", "--head", f"--port={self.port}", "--num-cpus=2", f"--node-ip-address={HEAD_IP}",
                    f"--temp-dir={self.base / 'h'}", "--include-dashboard=false",
                    f"--ray-client-server-port={_free_port(HEAD_IP)}", "--dashboard-agent-listen-port=0",
                    "--object-store-memory=200000000", env=self.env)
        assert done.returncode == 0, done.stderr[-2000:]

    def start_node(self) -> None:
        done = _ray("start", f"--address={self.address}", "--num-cpus=2", f"--node-ip-address={NODE_IP}",
                    f"--temp-dir={self.base / 'n'}", "--dashboard-agent-listen-port=0",
                    "--object-store-memory=200000000", env=self.env)
        assert done.returncode == 0, done.stderr[-2000:]
        self.wait_for(nodes=2)

    def wait_for(self, nodes: int, seconds: float = 90) -> None:
        """Until the GCS holds ``nodes`` nodes alive, with all of their CPUs free (a node
        lost is declared dead by Ray's health checks some seconds after its raylet)."""
        code = (f"import ray, time\nray.init(address={self.address!r}, logging_level='ERROR')\n"
                f"def alive():\n    return sum(n['Alive'] for n in ray.nodes())\n"
                f"deadline = time.monotonic() + {seconds}\n"
                f"while (alive() != {nodes} or ray.available_resources().get('CPU', 0) < {2 * nodes - 1}.5)"
                f" and time.monotonic() < deadline:\n"
                f"    time.sleep(0.2)\n"
                f"print(alive())\n")
        done = subprocess.run([sys.executable, "-c", code], env=self.env, capture_output=True, text=True,
                              timeout=seconds + 60)
        assert done.returncode == 0 and done.stdout.split()[-1] == str(nodes), (done.stdout, done.stderr[-2000:])

    def lose_node(self) -> None:
        pids = _pids(str(self.base / "n"))
        assert pids, "no raylet of the second node"
        _kill(pids)
        # What the raylet leaves (its log monitor, its workers) goes too, so that the
        # node can be started again in the same directory.
        _kill(_all_pids(str(self.base / "n")))

    def restart_node(self) -> None:
        self.wait_for(nodes=1)
        self.start_node()

    def lose_head(self) -> None:
        """The head's GCS killed. Its raylet is left running: the driver is attached to it
        (on the head's host Ray attaches a driver to the head's raylet), and when both go
        at once Ray's core worker may end the driver itself first (see the README)."""
        pids = _pids(str(self.base / "h"), kinds=("gcs_server",))
        assert len(pids) == 1, pids
        _kill(pids)

    def stop(self) -> None:
        for _ in range(3):
            _kill(_all_pids(str(self.base)))
            time.sleep(0.2)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    # Unix socket paths are short: a directory of its own under /tmp, not pytest's.
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="pe-rc-", dir="/tmp"))
    nodes = TwoNodes(base)
    try:
        nodes.start_head()
        nodes.start_node()
        yield nodes
    finally:
        nodes.stop()
        import shutil

        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(19)
    for k in range(N_FILES):
        bits = rng.integers(0, 2, (N_LINES, 50), dtype=np.uint8)
        text = np.concatenate([bits + ord("0"), np.full((N_LINES, 1), ord("\n"), np.uint8)], axis=1)
        (d / f"f{k}.txt").write_bytes(text.tobytes())
    expected = {}
    for k in range(N_FILES):
        lines = (d / f"f{k}.txt").read_bytes().split(b"\n")[:-1]
        expected.update({(str(d / f"f{k}.txt"), i + 1): line.count(b"1") for i, line in enumerate(lines)})
    return d, expected


def _leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if p.name.startswith(".") and p.name.endswith((".tmp", ".old"))]


def _check_exact(out: Path, expected: dict) -> None:
    rows = []
    for part in sorted(out.iterdir()):
        t = pq.read_table(part)
        rows += list(zip(*(t.column(c).to_pylist() for c in ("path", "line", "count", "parity"))))
    keys = [(p, line) for p, line, _, _ in rows]
    assert len(keys) == len(set(keys)), "a line was written twice"
    assert set(keys) == set(expected), "lines missing or extra"
    assert {(p, line): c for p, line, c, _ in rows} == expected
    assert all(parity == c % 2 for _, _, c, parity in rows)


def _driver(cluster: TwoNodes, inputs: Path, out: Path, env=None, background=False) -> subprocess.Popen:
    """The command line; ``background``: with SIGINT ignored, as a shell starts ``cmd &``."""
    env = dict(env or cluster.env, PYTHONPATH=str(ROOT))
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if background else None
    return subprocess.Popen([sys.executable, "-m", "runtime.batch", str(inputs), "--output", str(out),
                             "--address", cluster.address], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=ROOT, preexec_fn=ignore)


def _finish(child: subprocess.Popen, timeout: float = FINISH_S) -> tuple[int, str, str]:
    try:
        stdout, stderr = child.communicate(timeout=timeout)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return child.returncode, stdout, stderr


def _check_outcome(rc: int, stdout: str, stderr: str, out: Path, expected: dict, lost_at: float,
                   lost: str) -> str:
    """Exact, or exit 3 in time with one line naming ``lost``; nothing else left. Which one."""
    assert not _leftovers(out.parent), _leftovers(out.parent)
    if rc == 0:
        assert stderr == "" and stdout.count("\n") == 1 and stdout.startswith(f"{N_FILES} files, ")
        _check_exact(out, expected)
        return "exact"
    assert (rc, stdout) == (3, ""), stderr
    assert stderr.count("\n") == 1 and stderr.startswith(f"runtime.batch: lost {lost}"), stderr
    assert time.monotonic() - lost_at < LOSS_BOUND_S
    assert not out.exists()
    return "failed"


def _wait_for(predicate, seconds: float, child: subprocess.Popen) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "the job did not get there in time"
        time.sleep(0.05)


def _temporary(parent: Path) -> Path | None:
    found = [p for p in parent.iterdir() if p.name.endswith(".tmp")]
    return found[0] if found else None


def test_a_job_across_both_nodes_counts_every_line(cluster, inputs, tmp_path):
    d, expected = inputs
    out = tmp_path / "out"
    rc, stdout, stderr = _finish(_driver(cluster, d, out))
    assert (rc, stderr) == (0, "")
    # 4 CPUs: 3 actors of one CPU each, which no single node of 2 CPUs can hold.
    assert stdout.count("\n") == 1 and f"{N_FILES * N_LINES:,} counts written" in stdout
    assert "on 3 workers" in stdout
    _check_exact(out, expected)


def test_a_driver_without_the_token_is_told_so_in_seconds(cluster, inputs, tmp_path):
    d, _ = inputs
    env = {k: v for k, v in cluster.env.items() if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
    start = time.monotonic()
    rc, stdout, stderr = _finish(_driver(cluster, d, tmp_path / "out", env=env), timeout=60)
    assert (rc, stdout) == (3, "")
    assert stderr.startswith(f"runtime.batch: cannot join the Ray cluster at {cluster.address}: it refused "
                             "this driver's authentication") and stderr.count("\n") == 1
    assert time.monotonic() - start < 15
    assert not (tmp_path / "out").exists() and not _leftovers(tmp_path)


def test_a_driver_with_another_token_is_told_so(cluster, inputs, tmp_path):
    d, _ = inputs
    env = dict(cluster.env, RAY_AUTH_TOKEN=uuid.uuid4().hex)
    rc, stdout, stderr = _finish(_driver(cluster, d, tmp_path / "out", env=env), timeout=60)
    assert (rc, stdout) == (3, "")
    assert stderr == (f"runtime.batch: cannot join the Ray cluster at {cluster.address}: it refused this "
                      "driver's token, which is not the cluster's: give this driver the token every node has "
                      "(RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token)\n")
    assert not (tmp_path / "out").exists() and not _leftovers(tmp_path)


def _lose_mid_job(cluster, inputs, tmp_path, there, seconds: float, lose, lost: str, *, settle: float = 0.0,
                  background: bool = False, finish_within: float = FINISH_S) -> str:
    """Start the driver; once ``there(temporary directory)`` holds (within ``seconds``) and
    ``settle`` seconds more, call ``lose``; check the outcome (``lost`` named) and say it."""
    d, expected = inputs
    out = tmp_path / "out"
    child = _driver(cluster, d, out, background=background)
    try:
        _wait_for(lambda: (t := _temporary(tmp_path)) is not None and there(t), seconds, child)
        time.sleep(settle)
        lost_at = time.monotonic()
        lose()
        rc, stdout, stderr = _finish(child, timeout=finish_within)
    finally:
        if child.poll() is None:
            child.kill()
    outcome = _check_outcome(rc, stdout, stderr, out, expected, lost_at, lost)
    return f"{outcome} in {time.monotonic() - lost_at:.1f} s"


def test_losing_the_second_node_early(cluster, inputs, tmp_path):
    """The loss that hung the job; the driver started as in the background, SIGINT ignored
    (the watch stops the job by a SIGINT of its own)."""
    # Early: the pool starting, a second after the temporary directory is made.
    said = _lose_mid_job(cluster, inputs, tmp_path, lambda t: True, 120, cluster.lose_node, f"node {NODE_IP}",
                         settle=1.0, background=True)
    print(f"early loss: {said}")
    cluster.restart_node()


def test_losing_the_second_node_late(cluster, inputs, tmp_path):
    # Late: the first part file is written.
    said = _lose_mid_job(cluster, inputs, tmp_path, lambda t: any(t.iterdir()), 180, cluster.lose_node,
                         f"node {NODE_IP}")
    print(f"late loss: {said}")
    cluster.restart_node()


def test_losing_the_head(cluster, inputs, tmp_path):
    """Last in the module: the cluster does not come back."""
    said = _lose_mid_job(cluster, inputs, tmp_path, lambda t: True, 120, cluster.lose_head, "the head node",
                         settle=1.0, finish_within=LOSS_BOUND_S + 30)
    print(f"head loss: {said}")
