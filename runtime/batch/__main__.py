"""The command line of ``runtime.batch``: ``python -m runtime.batch INPUT... --output DIR``.

Counts the ones in every line of every INPUT on a Ray cluster and writes one row per
line (``path``, ``line``, ``count``, ``parity``) into part files under DIR; see
``build_parser`` for the options and ``_EPILOG`` for the exit codes. It parses its
arguments, calls ``runtime.batch.run`` and prints: progress on standard error when it is
a terminal, a summary on standard output, an error as one line on standard error.

Ray and the libraries under it write their own logs and warnings to file descriptor 2,
from C++ as well as Python, at any time of the run; the command keeps standard error
for its one-line messages by pointing descriptor 2 at ``/dev/null`` while it runs and
writing its own lines to a duplicate of the original. Standard output likewise, once the
arguments are parsed: Ray's error listener prints ``(raylet) ...`` lines there when a
node or an actor dies, even with ``log_to_driver=False``, and the summary must be the
last line. Ray's logs stay in its session directory (``/tmp/ray/session_latest/logs``
for a local instance).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from ..cli.args import EXIT_INTERRUPTED, EXIT_OK, OneLineParser, add_trusted_key, integer, run_main

PROG = "runtime.batch"

_EPILOG = """\
input: files, directories (every file under them, hidden ones excepted) and glob
  patterns; local paths or any filesystem pyarrow opens (s3://bucket/prefix/ and the
  like, where configured). Each line: a string of 0 and 1 of any length >= 1, by the
  rules of runtime.predict (LF or CRLF, a byte-order mark, no empty lines). The first
  bad line fails the job with FILE:LINE:COLUMN: message, and no output is left.

output: DIR holds part files, one row per input line: path, line (1-based), count,
  parity; rows are in no particular order across parts. DIR is written under a
  temporary name beside it and renamed when the job has succeeded; on a cluster it
  must be a directory every node shares.

cluster: without --address, a local Ray instance on this host's cores, stopped at the
  end. --address auto (or HOST:PORT) joins a cluster started with `ray start --head` on
  one node and `ray start --address=HOST:PORT` on the others; run this command on a
  node. Every node needs `pip install "parity-edge[ray]"`, and the same RAY_AUTH_MODE
  (token, with the cluster's token in RAY_AUTH_TOKEN or ~/.ray/auth_token, or
  disabled) on every node and here. Ray Client (ray://) cannot run Ray Data jobs and
  is refused. The model is verified here and sent to the workers, which verify it
  again. A node or the head lost during the job fails it within seconds.

exit status:
  0    success
  1    invalid input; missing, damaged or mismatched model (here or on a worker)
  2    bad options (ray:// among them); unreadable input or one that is not a regular
       file; output exists (without --overwrite) or cannot be written
  3    Ray not installed; the cluster cannot be started or reached, or refused this
       driver's token; a node or the head was lost during the job
  128+N  ended by signal N: 130 Ctrl-C (SIGINT), 143 SIGTERM, 129 SIGHUP; the job stops
       and no output is left
  141  standard output closed early (e.g. piped into head)
"""


def build_parser() -> argparse.ArgumentParser:
    from ..backends import BACKENDS
    from ..limits import MAX_BATCH_SIZE
    from .write import FORMATS

    parser = OneLineParser(
        prog=f"python -m {PROG}", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Count the ones in every line of files too big for one host, on a Ray cluster.",
        epilog=_EPILOG)
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="a file, a directory or a glob pattern; local or a pyarrow filesystem URI")
    parser.add_argument("--output", "-o", required=True, metavar="DIR",
                        help="the directory to write (it must not exist, unless --overwrite)")
    parser.add_argument("--format", choices=FORMATS, default="parquet",
                        help="part files in parquet (default), csv (with a header) or jsonl")
    parser.add_argument("--overwrite", action="store_true", help="replace DIR if it exists")
    parser.add_argument("--address", metavar="ADDRESS",
                        help="auto or HOST:PORT: join that cluster (default: start a local Ray "
                             "instance on this host); ray:// (Ray Client) is refused")
    parser.add_argument("--workers", type=integer(1), metavar="N",
                        help="actors counting, one CPU and one model each (default: one per CPU of "
                             "the cluster, less one in 16 (at least one) for reading; at most CPUs - 1)")
    parser.add_argument("--model", metavar="PATH",
                        help="artifact directory or its manifest.json (default: ./artifacts if it "
                             "holds a manifest, else the shipped model)")
    parser.add_argument("--backend", choices=("auto", *BACKENDS), default="auto",
                        help="tflite (LiteRT) or onnx (onnxruntime); auto: the faster one installed")
    parser.add_argument("--graph", choices=("auto", "recurrent", "folded"), default="auto",
                        help="folded: the network's exact map of the 50 bits, shipped only with its "
                             "proof; recurrent: the network itself; auto: folded where the manifest "
                             "records it proved (default: auto)")
    own = ", ".join(f"{name} {cls.default_batch_size}" for name, cls in BACKENDS.items())
    parser.add_argument("--batch-size", type=integer(1, MAX_BATCH_SIZE), metavar="N",
                        help=f"model windows (50 bits each) per inference call, at most {MAX_BATCH_SIZE} "
                             f"(default: {own})")
    add_trusted_key(parser)
    return parser


def _to_devnull(fd: int):
    """A line-buffered stream on a duplicate of ``fd``; ``fd`` itself then goes to /dev/null."""
    from ..stderr import to_devnull

    stream = os.fdopen(os.dup(fd), "w", buffering=1)
    to_devnull(fd)
    return stream


class _Terminal:
    """Standard error (``stream``) and, after ``silence_stdout``, standard output (``out``)
    for this command's own lines, with descriptors 2 and 1 sent to /dev/null.

    Not ``runtime.stderr.stderr_to``, which gives descriptor 2 back at the end of a block:
    Ray writes there until the process exits (its shutdown included), so here it is given
    back only before a traceback."""

    def __init__(self):
        sys.stderr.flush()
        self.stream = _to_devnull(2)
        self.out = None
        self.isatty = self.stream.isatty()
        self._start: tuple[float, int] | None = None  # when the first lines were written
        self._shown = False

    def progress(self, lines: int) -> None:
        now = time.monotonic()
        if self._start is None and lines:
            self._start = (now, lines)
        rate = ""
        if self._start is not None and now > self._start[0]:
            rate = f", {(lines - self._start[1]) / (now - self._start[0]):,.0f} lines/s"
        self.stream.write(f"\r{lines:,} lines{rate}\x1b[K")
        self._shown = True

    def say(self, line: str) -> None:
        print(line, file=self.stream)

    def clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self._shown = False

    def silence_stdout(self) -> None:
        """Send descriptor 1 to /dev/null too (after argparse, whose --help it carries)."""
        sys.stdout.flush()
        self.out = _to_devnull(1)

    def print(self, line: str) -> None:
        """One line on the real standard output (a full or closed one: exit 2, one line)."""
        from ..cli.args import write_stdout

        write_stdout(PROG, line + "\n", self.out if self.out is not None else sys.stdout)

    def restore(self) -> None:
        """Give descriptors 2 and 1 back (before a traceback, which must be seen)."""
        self.stream.flush()
        os.dup2(self.stream.fileno(), 2)
        if self.out is not None:
            self.out.flush()
            os.dup2(self.out.fileno(), 1)


def _summary(s) -> str:
    files = f"{s.files:,} file{'s' if s.files != 1 else ''}"
    workers = f"{s.workers} worker{'s' if s.workers != 1 else ''}"
    return (f"{files}, {s.lines:,} lines: {s.lines:,} counts written to {s.output} ({s.format}, "
            f"{s.parts} part file{'s' if s.parts != 1 else ''}) in {s.seconds:.1f} s, "
            f"{s.lines_per_second:,.0f} lines/s on {workers} (cluster ready in {s.start_seconds:.1f} s)")


def _run(argv: list[str] | None, terminal: _Terminal) -> int:
    args = build_parser().parse_args(argv)
    terminal.silence_stdout()
    from . import run

    try:
        summary = run(args.inputs, args.output, format=args.format, model=args.model,
                      backend=args.backend, graph=args.graph, batch_size=args.batch_size,
                      workers=args.workers,
                      address=args.address, overwrite=args.overwrite,
                      progress=terminal.progress if terminal.isatty else None,
                      trusted_key=args.trusted_key, on_published=_published)
    finally:
        terminal.clear()
    terminal.print(_summary(summary))
    return EXIT_OK


#: The signal that stopped the job, when it was not SIGINT.
_stopped_by: int | None = None


#: Set once the output is in place: the job has succeeded, and a signal changes nothing.
_done = False


def _stop_on(signum, frame) -> None:
    """A signal that ends a process (SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, ...), raised as
    Ctrl-C's KeyboardInterrupt is: Ray Data stops its executor on it (and raises a
    KeyboardInterrupt of its own, so the signal is kept here), ``run`` removes the output
    being written and stops the local Ray instance; the status is 128 + N."""
    global _stopped_by
    if _done:
        return
    _stopped_by = signum
    raise KeyboardInterrupt


def _install_stops() -> None:
    """Every signal that ends a process (``runtime.cli.interrupts.ENDING``) ends the job as
    Ctrl-C does (a signal ignored at the start, as ``nohup`` ignores SIGHUP, stays ignored)."""
    import signal

    from ..cli.interrupts import ENDING

    for signum in ENDING:
        if signum != signal.SIGINT and signal.getsignal(signum) == signal.SIG_DFL:
            signal.signal(signum, _stop_on)


def _published() -> None:
    """The output is in place: from here on no signal turns the job into a failure."""
    global _done
    import signal

    _done = True
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return its exit status (see ``--help``)."""
    terminal = _Terminal()
    _install_stops()
    try:
        status = run_main(PROG, lambda: _run(argv, terminal), report=terminal.say)
        return 128 + _stopped_by if status == EXIT_INTERRUPTED and _stopped_by is not None else status
    except SystemExit as exc:  # --help, argparse's own exit, or Ray's SIGTERM handler
        terminal.restore()
        import signal

        # ray.init installs sys.exit(SIGTERM) as the handler while it starts (before ours is
        # put back): the job was stopped by SIGTERM all the same, and cleaned up on the way.
        if exc.code == signal.SIGTERM:
            return 128 + signal.SIGTERM
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    except BaseException:
        terminal.restore()  # a bug: its traceback must be seen
        raise


if __name__ == "__main__":
    sys.exit(main())
