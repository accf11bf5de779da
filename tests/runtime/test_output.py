"""``--output`` onto anything a shell redirect could name: regular files (atomically, with
their permissions respected), descriptors, devices, odd paths. Descriptors and other users
need the real command in a process of its own; files and paths are run in this process on
the fake model (``predict_fake``)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.runtime

RESULT = b"2\t0\n3\t1\n"


def predict(*args, **kwargs):
    """``python -m runtime.predict ARGS``; returns the finished process (bytes stdout/stderr)."""
    kwargs.setdefault("capture_output", not ({"stdout", "stderr"} & set(kwargs)))
    return subprocess.run([sys.executable, "-m", "runtime.predict", *map(str, args)], timeout=120,
                          **kwargs)


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes(b"0110\n111\n")
    return path


# --- descriptors and devices: written in place ----------------------------------------------

@pytest.mark.parametrize("target", ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1", "link"])
def test_output_onto_an_appended_standard_output_appends(tmp_path, data, target):
    """``-o /dev/stdout >> log`` replaced log with the results alone: /dev/stdout resolved to
    log, which was then renamed over. A descriptor is written through, in place."""
    if target == "link":
        target = tmp_path / "link"
        target.symlink_to("/dev/stdout")
    log = tmp_path / "log"
    log.write_bytes(b"A\nB\n")
    with open(log, "ab") as out:
        done = predict(data, "-o", target, stdout=out, stderr=subprocess.PIPE)
    assert (done.returncode, done.stderr) == (0, b"")
    assert log.read_bytes() == b"A\nB\n" + RESULT
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in.txt", "log"] + (
        ["link"] if isinstance(target, Path) else []))


def test_output_onto_standard_output_that_is_a_pipe(data):
    """``-o /dev/stdout | cat`` failed with 'cannot write /dev/stdout: No such file or directory'."""
    done = subprocess.run(f"{sys.executable} -m runtime.predict {data} -o /dev/stdout | cat",
                          shell=True, capture_output=True, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (0, RESULT, b"")


def test_output_onto_standard_error(tmp_path, data):
    err = tmp_path / "err"
    with open(err, "wb") as f:
        done = predict(data, "-o", "/dev/stderr", stderr=f, stdout=subprocess.PIPE)
    assert (done.returncode, done.stdout) == (0, b"")
    assert err.read_bytes() == RESULT


def test_output_onto_a_closed_standard_output_is_an_error(data):
    done = predict(data, "-o", "/dev/stdout", preexec_fn=lambda: os.close(1), stderr=subprocess.PIPE)
    assert done.returncode == 2
    assert done.stderr == b"runtime.predict: cannot write /dev/stdout: Bad file descriptor\n"


def test_output_onto_dev_null(predict_fake, data):
    assert predict_fake([data, "-o", "/dev/null"]) == (0, b"", "")
    assert Path("/dev/null").is_char_device()


# --- regular files: what a redirect may write, kept as it was -----------------------------------

def test_a_replaced_file_keeps_its_mode(predict_fake, tmp_path, data):
    out = tmp_path / "out.txt"
    out.write_bytes(b"old\n")
    out.chmod(0o640)
    assert predict_fake([data, "-o", out])[0] == 0
    assert out.read_bytes() == RESULT
    assert out.stat().st_mode & 0o7777 == 0o640


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can make a file another user owns")
def test_a_replaced_file_keeps_its_owner(predict_fake, tmp_path, data):
    out = tmp_path / "out.txt"
    out.write_bytes(b"old\n")
    os.chown(out, 65534, 65534)
    out.chmod(0o604)
    assert predict_fake([data, "-o", out])[0] == 0
    st = out.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (65534, 65534, 0o604)
    assert out.read_bytes() == RESULT


def test_a_file_the_user_may_not_write_is_refused(unprivileged, data):
    """In a directory the user owns, ``-o f.txt`` replaced a root-owned file of mode 444, and
    the result belonged to the user. A redirect says 'Permission denied'; so does this."""
    prefix, home = unprivileged
    target = home / "f.txt"
    target.write_bytes(b"protected\n")
    target.chmod(0o444)
    before = target.stat()
    (home / "in.txt").write_bytes(data.read_bytes())
    done = subprocess.run([*prefix, sys.executable, "-m", "runtime.predict", "in.txt", "-o", "f.txt"],
                          capture_output=True, timeout=120, cwd=home)
    assert done.returncode == 2
    assert done.stderr == b"runtime.predict: cannot write f.txt: Permission denied\n"
    after = target.stat()
    assert target.read_bytes() == b"protected\n"
    assert (after.st_uid, after.st_mode, after.st_ino) == (before.st_uid, before.st_mode, before.st_ino)
    assert sorted(p.name for p in home.iterdir()) == ["f.txt", "in.txt"]


def test_a_read_only_directory_is_named_as_the_cause(unprivileged, data):
    """A writable file in a read-only directory said 'cannot write FILE: Permission denied';
    it is the temporary file beside it that cannot be made."""
    prefix, home = unprivileged
    (home / "in.txt").write_bytes(data.read_bytes())
    ro = home / "ro"
    ro.mkdir()
    (ro / "w.txt").write_bytes(b"old\n")
    (ro / "w.txt").chmod(0o666)
    ro.chmod(0o555)
    done = subprocess.run([*prefix, sys.executable, "-m", "runtime.predict", "in.txt", "-o", "ro/w.txt"],
                          capture_output=True, timeout=120, cwd=home)
    assert done.returncode == 2
    assert done.stderr.decode() == (f"runtime.predict: cannot write ro/w.txt: cannot create a file in "
                                    f"its directory {ro.resolve()}: Permission denied\n")
    assert (ro / "w.txt").read_bytes() == b"old\n"


def test_another_users_file_in_a_sticky_directory_is_refused_at_once(unprivileged, data):
    """/tmp-like: the file may be written, but not renamed over; said before any work is done."""
    prefix, home = unprivileged
    (home / "in.txt").write_bytes(data.read_bytes())
    sticky = home / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    if os.geteuid() == 0:
        os.chown(sticky, 0, 0)
    theirs = sticky / "theirs.txt"
    theirs.write_bytes(b"theirs\n")
    theirs.chmod(0o666)
    if not prefix:  # not root: the file is our own, and a sticky directory lets us replace it
        pytest.skip("needs a file of another user")
    done = subprocess.run([*prefix, sys.executable, "-m", "runtime.predict", "in.txt", "-o",
                           "sticky/theirs.txt"], capture_output=True, timeout=120, cwd=home)
    assert done.returncode == 2
    assert b"Operation not permitted (it belongs to another user, in the sticky directory" in done.stderr
    assert theirs.read_bytes() == b"theirs\n"


# --- paths that mean something else ----------------------------------------------------------

@pytest.mark.parametrize("output, message", [
    ("", "argument --output/-o: expected a path, got an empty one (see --help)"),
    ("nodir/", "cannot write nodir/: Is a directory"),
    ("in.txt/", "cannot write in.txt/: Not a directory"),
    (".", "cannot write .: Is a directory"),
])
def test_odd_output_paths_are_refused(predict_fake, tmp_path, data, output, message):
    """``-o ''`` wrote to standard output; ``-o nodir/`` created a file named nodir."""
    assert predict_fake(["in.txt", "-o", output], cwd=tmp_path) == (2, b"", f"runtime.predict: {message}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]


# --- the output must not be the input ------------------------------------------------------

@pytest.mark.parametrize("how", ["same name", "symbolic link", "hard link", "standard input"])
def test_an_output_that_is_the_input_file_is_refused_before_any_work(predict_fake, tmp_path, data, how):
    output = {"same name": data, "symbolic link": tmp_path / "link.txt",
              "hard link": tmp_path / "hard.txt", "standard input": data}[how]
    if how == "symbolic link":
        output.symlink_to(data)
    elif how == "hard link":
        os.link(data, output)
    if how == "standard input":
        status, out, err = predict_fake(["-o", output], stdin=data)
    else:
        status, out, err = predict_fake([data, "-o", output])
    assert (status, out) == (2, b""), err
    assert err.count("\n") == 1 and f"cannot write {output}: it is the input file" in err, err
    assert data.read_bytes() == b"0110\n111\n"
