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
    code = _HIDE_RAY + "import sys; from runtime.batch_cli import main; sys.exit(main(sys.argv[1:]))"
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
import runtime, runtime.batch, runtime.batch_cli, runtime.batch_cluster, runtime.batch_read, runtime.batch_write
import runtime.batch_model, runtime.batch_watch
runtime.load().predict(["0110"])
print(",".join(m for m in ("ray", "pyarrow", "pandas") if m in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (0, "\n"), done.stderr
