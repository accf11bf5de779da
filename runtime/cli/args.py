"""What every command line shares: one exit status per kind of failure, a parser that
reports a bad option in one line, and ``run_main``, which says any failure in one line.

Exit statuses, the same in every command line of the project::

    0    success
    1    a failure: invalid input, a missing or damaged model, a failed check
    2    usage: a bad option (``UsageError`` included), a file that cannot be read or written
    3    runtime.batch: Ray or the cluster
    130  interrupted (Ctrl-C)
    141  standard output closed early (e.g. piped into ``head``)

A command's own statuses (``python -m train``'s 3: trained but not exact) are its own.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable

__all__ = ["Fail", "OneLineParser", "run_main", "failure", "add_trusted_key", "EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE",
           "EXIT_CLUSTER", "EXIT_INTERRUPTED", "EXIT_BROKEN_PIPE"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_CLUSTER, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 0, 1, 2, 3, 130, 141


class Fail(Exception):
    """An error to report on one line and exit with ``status``."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class OneLineParser(argparse.ArgumentParser):
    """argparse, with a bad option reported as one line, ``PROG: MESSAGE (see --help)``
    (a ``Fail`` with status 2), instead of the usage block."""

    def error(self, message: str):
        raise Fail(f"{command_name(self.prog)}: {message} (see --help)", EXIT_USAGE)


def add_trusted_key(parser: argparse.ArgumentParser) -> None:
    """``--trusted-key PUB.pem``, the same on every command line that opens a model."""
    parser.add_argument("--trusted-key", metavar="PUB.pem",
                        help="use the model only if this public key signed its directory exactly "
                             "as it is now (python -m export --sign-key; needs the sign extra); "
                             "checked before any model file is opened")


def command_name(prog: str) -> str:
    """``runtime.predict`` for ``python -m runtime.predict``: how messages name a command."""
    return prog.removeprefix("python -m ")


def failure(prog: str, exc: BaseException) -> Fail:
    """The one line and the status of one of the runtime's errors. An ``InputError`` names
    its place (``FILE:LINE:COLUMN: ...``) and is said as it is; the others after ``prog``."""
    from ..errors import ClusterError, InputError, UsageError

    if isinstance(exc, InputError):
        return Fail(str(exc), EXIT_FAILURE)
    status = (EXIT_USAGE if isinstance(exc, UsageError) else
              EXIT_CLUSTER if isinstance(exc, ClusterError) else EXIT_FAILURE)
    return Fail(f"{prog}: {exc}", status)


def say(message: str) -> None:
    """One line on standard error (when there is one): control characters in it, from a
    file name say, are shown escaped."""
    if sys.stderr is None:
        return
    line = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in message)
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def silence_stdout() -> None:
    """Point descriptor 1 at /dev/null: what is left in its buffer can never be written, and
    the interpreter's final flush must not complain about it."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass


def run_main(prog: str, body: Callable[[], int], *, report: Callable[[str], None] = say,
             interrupted: str | None = None) -> int:
    """``body()``'s exit status, or the status of what it raised: a ``Fail`` or one of the
    runtime's errors (``ParityEdgeError``) said in one line through ``report``; Ctrl-C 130
    (saying ``interrupted`` first, when given); a closed standard output 141, quietly.
    Anything else is a bug and keeps its traceback."""
    from ..errors import ParityEdgeError

    try:
        return body()
    except Fail as exc:
        report(str(exc))
        return exc.status
    except ParityEdgeError as exc:
        fail = failure(prog, exc)
        report(str(fail))
        return fail.status
    except BrokenPipeError:
        silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        if interrupted and sys.stderr is not None:
            print(interrupted, file=sys.stderr)  # our own words, nothing to escape
        return EXIT_INTERRUPTED
