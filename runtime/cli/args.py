"""What every command line shares: one exit status per kind of failure, a parser that
reports a bad option in one line, and ``run_main``, which says any failure in one line.

Exit statuses, the same in every command line of the project::

    0    success
    1    a failure: invalid input, a missing or damaged model, a failed check
    2    usage: a bad option (``UsageError`` included), a file that cannot be read or written,
         memory that ran out
    3    runtime.batch: Ray or the cluster
    70   an internal error: a bug, named in one line (please report it)
    130  interrupted (Ctrl-C)
    141  standard output closed early (e.g. piped into ``head``)

A command's own statuses (``python -m train``'s 3: trained but not exact) are its own.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from typing import Callable

__all__ = ["Fail", "OneLineParser", "run_main", "failure", "add_trusted_key", "EXIT_OK", "EXIT_FAILURE",
           "EXIT_USAGE", "EXIT_CLUSTER", "EXIT_INTERNAL", "integer", "number", "EXIT_INTERRUPTED",
           "EXIT_BROKEN_PIPE", "internal_error"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_CLUSTER, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 0, 1, 2, 3, 130, 141
#: sysexits.h's EX_SOFTWARE: what no user did, so no retry or other input will help.
EXIT_INTERNAL = 70


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

    def _print_message(self, message: str, file=None) -> None:
        # --help and --version: written and flushed here, so a full or closed standard output
        # is one line and status 2, not "Exception ignored" at the interpreter's exit.
        if message:
            write_stdout(command_name(self.prog), message, file or sys.stdout)


def integer(low: int | None = 1, high: int | None = None):
    """The one argparse type of every whole-number option: ASCII digits only (``int`` also
    takes ``"\uff14"``, a full-width 4, and ``" 4"``, ``"+4"``, ``"4_0"``), a ``-`` only where
    ``low`` allows negatives, within ``[low, high]`` (None: unbounded) at parsing, before
    any work."""

    named = {1: "a positive integer", 0: "a non-negative integer"}.get(low)
    bounded = (named + (f" up to {high}" if high is not None else "") if named
               else _span(low, high, "an integer"))

    def parse(text: str) -> int:
        digits = text[1:] if text.startswith("-") and (low is None or low < 0) else text
        if not (digits.isascii() and digits.isdigit()):
            raise argparse.ArgumentTypeError(f"expected {named or 'an integer'}, got {text!r}")
        value = int(text)
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {bounded}, got {text!r}")
        return value

    return parse



def number(low: float | None = None, high: float | None = None):
    """The one argparse type of every real-number option: a finite decimal in ASCII
    (``nan``, ``inf``, ``1_0``, full-width digits and surrounding spaces are refused) within
    ``[low, high]``."""
    import re

    pattern = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", re.ASCII)

    def parse(text: str) -> float:
        value = float(text) if pattern.fullmatch(text) else None
        if (value is None or value != value or value in (float("inf"), float("-inf"))
                or (low is not None and value < low) or (high is not None and value > high)):
            raise argparse.ArgumentTypeError(f"expected {_span(low, high, 'a finite number')}, got {text!r}")
        return value

    return parse


def _span(low, high, what: str) -> str:
    if low is not None and high is not None:
        return f"{what} from {low} to {high}"
    if low is not None:
        return f"{what} of at least {low}"
    return f"{what} of at most {high}" if high is not None else what


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


def write_stdout(prog: str, text: str, file=None) -> None:
    """Write ``text`` to standard output (or ``file``) and flush it: a ``Fail`` with status 2,
    ``PROG: cannot write <stdout>: REASON``, when it cannot be written (a full disk, a
    standard output closed, even closed at the start); BrokenPipeError is left to run_main."""
    file = sys.stdout if file is None else file
    try:
        if file is None:  # descriptor 1 was closed when Python started
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        file.write(text)
        file.flush()
    except BrokenPipeError:
        raise
    except (OSError, ValueError) as exc:
        silence_stdout()
        raise Fail(f"{prog}: cannot write <stdout>: {getattr(exc, 'strerror', None) or exc}",
                   EXIT_USAGE) from None


def silence_stdout() -> None:
    """Point descriptor 1 at /dev/null: what is left in its buffer can never be written, and
    the interpreter's final flush must not complain about it."""
    from ..stderr import to_devnull

    to_devnull(1)


def run_main(prog: str, body: Callable[[], int], *, report: Callable[[str], None] = say,
             interrupted: str | None = None) -> int:
    """``body()``'s exit status, or the status of what it raised: a ``Fail`` or one of the
    runtime's errors (``ParityEdgeError``) said in one line through ``report``; Ctrl-C 130
    (saying ``interrupted`` first, when given); a closed standard output 141, quietly.
    Memory that ran out is status 2, in one line (``MemoryError``'s message, when it names
    what was being read); anything else is a bug, named in one line with status 70."""
    from ..errors import ParityEdgeError

    try:
        status = body()
        if sys.stdout is not None:  # what a command printed must reach its reader
            write_stdout(prog, "")
        return status
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
    except MemoryError as exc:
        report(f"{prog}: out of memory" + (f": {exc}" if str(exc) else ""))
        return EXIT_USAGE
    except Exception as exc:
        report(internal_error(prog, exc))
        return EXIT_INTERNAL


def internal_error(prog: str, exc: BaseException) -> str:
    """The one line of an exception no rule expected: a bug, said plainly, with where it arose."""
    where = exc.__traceback__
    while where is not None and where.tb_next is not None:
        where = where.tb_next
    at = (f" (at {os.path.basename(where.tb_frame.f_code.co_filename)}:{where.tb_lineno})"
          if where is not None else "")
    return (f"{prog}: internal error, a bug (please report it): {type(exc).__name__}: "
            f"{_shorten(str(exc))}{at}")


def _shorten(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."
