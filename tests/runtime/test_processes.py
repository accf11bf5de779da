"""A Predictor across processes: used in the child of a fork, and pickled to another process."""

import pickle
import shutil
import subprocess
import sys

import pytest

import runtime
from conftest import SHIPPED, copy_model, relist

pytestmark = pytest.mark.runtime

FORK = """
import os, signal, sys, threading
import numpy as np
import runtime

predictor = runtime.load(backend=sys.argv[1], threads=2, batch_size=8)
bits = np.ones((40, 50), np.uint8)
# Both pool threads started and idle: a pool copied by fork would think it has them.
assert predictor.submit(bits).result().counts[0] == 50
assert predictor.submit(bits).result().counts[0] == 50
stop = threading.Event()

def hammer():  # locks taken and interpreters lent out, at any moment of a fork
    while not stop.is_set():
        predictor.predict(bits)
        predictor.predict(["1" * 50])

threads = [threading.Thread(target=hammer) for _ in range(2)]
for t in threads:
    t.start()
failed = 0
for _ in range(int(sys.argv[2])):
    pid = os.fork()
    if pid == 0:
        signal.alarm(20)  # a child that hangs is killed, and counted
        try:
            ok = (predictor.submit(bits).result(timeout=15).counts.tolist() == [50] * 40
                  and predictor.predict(bits).counts.tolist() == [50] * 40
                  and predictor.predict(["0110"]).counts.tolist() == [2])
        except BaseException:
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    failed += status != 0
stop.set()
for t in threads:
    t.join()
print(failed)
"""


@pytest.mark.parametrize("backend", ["tflite", "onnx"])
def test_a_predictor_works_in_the_child_of_a_fork(backend):
    """submit() in a forked child used to wait forever: the pool's threads are not copied."""
    done = subprocess.run([sys.executable, "-c", FORK, backend, "6"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "0"


@pytest.mark.parametrize("backend", ["tflite", "onnx"])
def test_a_pickled_predictor_loads_its_model_again(backend, monkeypatch):
    import runtime.backends

    predictor = runtime.load(SHIPPED, backend=backend, batch_size=64, threads=3, num_threads=2)
    state = pickle.dumps(predictor)
    opened, open_backend = [], runtime.backends.open_backend

    def recording(name, path, **options):
        opened.append((name, str(path)))
        return open_backend(name, path, **options)

    monkeypatch.setattr(runtime.backends, "open_backend", recording)
    copy = pickle.loads(state)
    assert opened == [(backend, predictor.backend.path)]  # its file opened again, not shared
    assert (copy.backend.name, copy.batch_size, copy.threads, copy.backend.num_threads) == (
        backend, 64, 3, 2)
    assert copy.manifest.path == predictor.manifest.path.resolve()
    items = ["0110", "1" * 120, "0"]
    assert copy.predict(items).counts.tolist() == [2, 120, 0]


def test_default_settings_are_chosen_again_where_unpickled():
    predictor = runtime.load(SHIPPED)
    state = pickle.dumps(predictor)
    assert pickle.loads(state).threads == predictor.threads  # same machine: same default
    assert pickle.loads(state)._requested == (None, None)


def test_a_relative_model_path_survives_a_change_of_directory(tmp_path, monkeypatch):
    copy_model(tmp_path / "m")
    monkeypatch.chdir(tmp_path)
    state = pickle.dumps(runtime.load("m"))
    monkeypatch.chdir("/")
    assert pickle.loads(state).predict(["11"]).counts.tolist() == [2]


def test_unpickling_refuses_a_model_that_changed(tmp_path):
    model = copy_model(tmp_path / "m")
    state = pickle.dumps(runtime.load(model, backend="onnx", graph="recurrent"))
    # Replace the artifact by another valid one (its manifest updated to match): a different model.
    other = (SHIPPED / "model.onnx").read_bytes() + b"\n"  # trailing bytes: still loadable protobuf
    (model / "model.onnx").write_bytes(other)
    relist(model, "model.onnx")
    with pytest.raises(runtime.ModelError, match="not the model this Predictor was pickled with"):
        pickle.loads(state)
    shutil.rmtree(model)
    with pytest.raises(runtime.ModelError, match="no model there|cannot read manifest"):
        pickle.loads(state)


def test_bare_backends_refuse_pickling_clearly():
    from runtime.backends import open_backend
    from runtime.predictor import Predictor

    backend = open_backend("onnx", SHIPPED / "model.onnx")
    with pytest.raises(runtime.UsageError, match="cannot be pickled.*runtime.load"):
        pickle.dumps(Predictor(backend))
    with pytest.raises(runtime.UsageError, match="OnnxBackend cannot be pickled"):
        pickle.dumps(backend)


def count_with(predictor, items):
    return predictor.predict(items).counts.tolist()


def test_a_predictor_goes_to_spawned_worker_processes():
    import multiprocessing

    predictor = runtime.load(SHIPPED)
    jobs = [["1" * k, "0" * k] for k in (1, 50, 77)]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        got = pool.starmap(count_with, [(predictor, job) for job in jobs])
    assert got == [[1, 0], [50, 0], [77, 0]]
