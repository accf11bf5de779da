"""runtime.batch without Ray: one line naming the extra to install; `import runtime` stays free of Ray."""

import importlib.util
import subprocess
import sys

import pytest

pytestmark = pytest.mark.runtime

# Where Ray is installed (the main environment), it is hidden from the child: the
# TensorFlow-free environments, which have no Ray, run the same code as it is.
_HIDE_RAY = "import sys; sys.modules['ray'] = None; " if importlib.util.find_spec("ray") else ""


def _batch(*args):
    code = _HIDE_RAY + "import sys; from runtime.batch.__main__ import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def test_the_command_line_says_which_extra_to_install(tmp_path):
    (tmp_path / "bits.txt").write_text("0110\n")
    done = _batch(tmp_path / "bits.txt", "--output", tmp_path / "out")
    assert done.returncode == 3, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith('runtime.batch: runtime.batch needs Ray Data: pip install "parity-edge[ray]" (')
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "bits.txt"]


def test_the_api_raises_cluster_error_with_the_extra():
    code = _HIDE_RAY + """
import runtime, runtime.batch
try:
    runtime.batch.count_ones(None)
except runtime.ClusterError as exc:
    print(exc.package)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (0, "parity-edge[ray]\n"), done.stderr


def test_help_needs_no_ray():
    done = _batch("--help")
    assert done.returncode == 0 and "exit status:" in done.stdout and "--address" in done.stdout


def test_runtime_and_its_batch_modules_import_no_ray():
    code = """
import sys
import runtime, runtime.batch, runtime.batch.__main__, runtime.batch.cluster, runtime.batch.read
import runtime.batch.write, runtime.batch.ranges, runtime.batch.shipping, runtime.batch.watch
runtime.load().predict(["0110"])
print(",".join(m for m in ("ray", "pyarrow", "pandas") if m in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (0, "\n"), done.stderr


def test_python_m_runtime_batch_runs_each_module_once(tmp_path):
    """``python -m runtime.batch`` once ran ``runtime.batch`` twice (as ``__main__``, then
    again when its command line imported ``run`` from it), with two copies of its classes.
    The run goes as far as the job (here: Ray missing, exit 3), past every import."""
    (tmp_path / "bits.txt").write_text("0110\n")
    code = _HIDE_RAY + """
import collections, os, runpy, sys
runs = collections.Counter()
out = os.fdopen(os.dup(1), "w")  # the command sends descriptor 1 to /dev/null once it runs

def trace(frame, event, arg):
    if event == "call" and frame.f_code.co_name == "<module>" and "runtime" in frame.f_code.co_filename:
        runs[frame.f_code.co_filename] += 1

sys.settrace(trace)
sys.argv = ["runtime.batch", *sys.argv[1:]]
try:
    runpy.run_module("runtime.batch", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    status = exc.code
sys.settrace(None)
print(status, max(runs.values()), sum(1 for name in runs if "batch" in name), file=out, flush=True)
"""
    done = subprocess.run([sys.executable, "-c", code, tmp_path / "bits.txt", "--output", tmp_path / "out"],
                          capture_output=True, text=True, timeout=120)
    status, most, batch_modules = map(int, done.stdout.split())
    assert status == 3, done.stderr  # Ray missing: the job was reached
    assert batch_modules >= 2  # the package and its __main__ at least
    assert most == 1
