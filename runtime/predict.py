"""Count the ones in bit strings, one per line: ``python -m runtime.predict [FILE|-] [options]``.

Reads FILE, or standard input for ``-`` or no argument, and writes one line per input
line, in order, to standard output or ``--output FILE``:

- ``--format text`` (default): ``<count>\\t<parity>``
- ``--format csv``: a header ``line,count,parity``, then ``<line>,<count>,<parity>``
- ``--format jsonl``: ``{"line": <line>, "count": <count>, "parity": <parity>}``

Each input line is a string of ``0`` and ``1`` of any length >= 1. The model reads 50
bits at a time: shorter strings are left-padded with zeros, longer ones are split into
50-bit windows whose counts are added (the first window left-padded); both are exact.
LF and CRLF line ends, a missing final newline and a UTF-8 byte-order mark are accepted.
Anything else stops at the first bad line with one message on standard error, e.g.
``data.txt:3:7: invalid character 'x' (U+0078); expected 0 or 1``. Lines before it have
already been written to standard output; an ``--output`` file is written atomically
(a temporary file beside it, then a rename), so on any error it is left as it was.

``--output`` replaces a regular file only if it may be written (as a shell redirect
would), keeping its mode; a device, a FIFO or one of the shell's descriptors
(``/dev/stdout``, ``/dev/fd/N``) is written in place (see ``runtime.cli.output``).

Input is read and written in blocks, so memory does not grow with the input; when
standard error is a terminal and the input is large, progress is shown there. Large
inputs run on one thread per CPU core (``--threads``), and the next block is read while
one runs and the previous one is written.

Exit status:
  0    success
  1    invalid input, or a missing, damaged or mismatched model (or backend package)
  2    bad options, or a file that cannot be read or written (including a full disk, or
       standard input or output closed)
  128+N  ended by signal N, quietly, leaving no temporary file: 130 Ctrl-C (SIGINT),
         129 SIGHUP, 143 SIGTERM (see ``runtime.cli.interrupts``)
  141  standard output closed early (e.g. piped into ``head``): 128 + SIGPIPE, as a
       program killed by SIGPIPE reports to the shell; nothing is printed

With standard error closed (``2>&-``) the run goes on and only the status tells.

The command line only parses its arguments, calls the ``runtime`` API
(``Predictor.predict_stream``) and writes what it returns.
"""

if __name__ == "__main__":  # first of all: from here on a signal ends the run quietly
    from .cli.interrupts import install

    install()

import argparse
import os
import sys

from .cli.args import (EXIT_OK, EXIT_USAGE, Fail, OneLineParser, add_trusted_key, integer, run_main,
                       say, silence_stdout)
from .cli.output import StdoutSink, open_output
from .cli.streams import Progress, QuietNativeStderr, claim_standard_descriptors, open_stdin

PROG = "runtime.predict"

_EPILOG = """\
input: one string of 0 and 1 per line, any length >= 1; LF or CRLF line ends, a
  missing final newline and a UTF-8 byte-order mark are accepted. The model reads 50
  bits: shorter strings are left-padded with zeros, longer ones split into 50-bit
  windows whose counts are added (exact either way). The first bad line stops the run
  with FILE:LINE:COLUMN: message on standard error.

model: --model, else ./artifacts when it holds a manifest.json, else the model shipped
  with the package. Every artifact is checked against its sha256 in the manifest.

exit status:
  0    success
  1    invalid input; missing, damaged or mismatched model; backend not installed
  2    bad options (a UsageError); unreadable input or unwritable output (e.g. a full disk);
       memory that ran out
  70   internal error: a bug, named in one line
  128+N  ended by signal N: 130 Ctrl-C, 129 SIGHUP, 143 SIGTERM; no temporary file left
  141  output closed early (e.g. piped into head), quietly
"""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter, told the terminal's width: left to find it, argparse imports
    shutil (and with it the compression modules), a visible share of a cold start."""

    def __init__(self, prog: str, *args, **kwargs):
        if not args and "width" not in kwargs:
            kwargs["width"] = _terminal_columns() - 2  # as argparse does
        super().__init__(prog, *args, **kwargs)


def _terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``: $COLUMNS, else the terminal's, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


def _path(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("expected a path, got an empty one")
    return text


def build_parser() -> argparse.ArgumentParser:
    from .backends import BACKENDS
    from .cli.formats import FORMATS
    from .limits import MAX_BATCH_SIZE, MAX_THREADS
    from .manifest import DEFAULT_PRECISION, GRAPHS, PRECISIONS

    parser = OneLineParser(
        prog=f"python -m {PROG}", formatter_class=_Formatter,
        description="Count the ones in bit strings, one per line; print each count and its parity.",
        epilog=_EPILOG)
    parser.add_argument("file", nargs="?", default="-", metavar="FILE", type=_path,
                        help="input file, one bit string per line; - or nothing for standard input")
    parser.add_argument("--model", metavar="PATH", type=_path,
                        help="artifact directory or its manifest.json (default: ./artifacts if it "
                             "holds a manifest, else the shipped model)")
    parser.add_argument("--backend", choices=("auto", *BACKENDS), default="auto",
                        help="tflite (LiteRT) or onnx (onnxruntime); auto: the faster one installed")
    parser.add_argument("--precision", choices=PRECISIONS, default=DEFAULT_PRECISION,
                        help="which of the model's files to run: float32, or a reduced-precision "
                             "variant it carries (each exported only if it counts exactly)")
    parser.add_argument("--graph", choices=("auto", *GRAPHS), default="auto",
                        help="folded: the network's exact map of the 50 bits, one matrix product, "
                             "shipped only with its proof; recurrent: the network itself; auto: "
                             "folded where the manifest records it proved (default: auto)")
    own = ", ".join(f"{name} {cls.default_batch_size}" for name, cls in BACKENDS.items())
    parser.add_argument("--batch-size", type=integer(1, MAX_BATCH_SIZE), metavar="N",
                        help="model windows (50 bits each) per inference call, at most "
                             f"{MAX_BATCH_SIZE} (default: the backend's own: {own})")
    parser.add_argument("--threads", type=integer(1, MAX_THREADS), metavar="N",
                        help=f"inference calls run at once, one per thread, at most {MAX_THREADS} "
                             "(default: one per CPU core; an input of one call's size uses one)")
    parser.add_argument("--format", choices=FORMATS, default="text",
                        help="text: COUNT<TAB>PARITY; csv: line,count,parity with a header; "
                             "jsonl: one JSON object per line (default: text)")
    parser.add_argument("--output", "-o", metavar="FILE", type=_path,
                        help="write here instead of standard output: a regular file atomically "
                             "(complete or not at all), a device or descriptor in place")
    add_trusted_key(parser)
    return parser


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _open_input(path: str):
    """(source, name, size in bytes or None, what to close)."""
    try:
        if path == "-":
            source, closer = open_stdin()
            return source, "<stdin>", None, closer
        source = open(path, "rb")
    except OSError as exc:
        raise Fail(f"{PROG}: cannot read {'<stdin>' if path == '-' else path}: {_reason(exc)}",
                    EXIT_USAGE) from None
    try:
        return source, path, os.fstat(source.fileno()).st_size, source
    except OSError:
        return source, path, None, source


def _run(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    # Files first (exit 2), then the model (exit 1), then the data.
    source, name, size, closer = _open_input(args.file)
    sink = None
    try:
        _refuse_output_over_input(args.output, source, name)
        sink = _open_sink(args.output)
        from . import load

        with QuietNativeStderr():
            predictor = load(args.model, args.backend, precision=args.precision, graph=args.graph,
                             batch_size=args.batch_size, threads=args.threads,
                             trusted_key=args.trusted_key)
        _stream(source, name, size, predictor, sink, args.format)
        sink = None
        return EXIT_OK
    finally:
        if sink is not None:
            sink.discard()
        if closer is not None:
            closer.close()


def _refuse_output_over_input(output: str | None, source, name: str) -> None:
    """Before any work: an --output that is the input file would be replaced by its counts."""
    from .cli.output import is_input

    try:
        fd = source.fileno()
    except (OSError, ValueError, AttributeError):
        return
    if output and is_input(output, fd):
        raise Fail(f"{PROG}: cannot write {output}: it is the input file ({name}); "
                   "write elsewhere, then rename", EXIT_USAGE)


def _open_sink(output: str | None):
    try:
        return open_output(output) if output else StdoutSink()
    except OSError as exc:
        raise Fail(f"{PROG}: cannot write {output or '<stdout>'}: {_reason(exc)}", EXIT_USAGE) from None


def _stream(source, name: str, size: int | None, predictor, sink, format: str) -> None:
    """Read, predict and write batch by batch; commit the output at the end."""
    from .cli.formats import Formatter

    formatter = Formatter(format)
    progress = Progress(size)
    lines = 0
    results = predictor.predict_stream(source, name)
    try:
        _write(sink, formatter.header())
        while True:
            try:
                batch, result = next(results)
            except StopIteration:
                break
            except OSError as exc:  # of all that ``results`` does, only reading does I/O
                raise Fail(f"{PROG}: cannot read {name}: {_reason(exc)}", EXIT_USAGE) from None
            _write(sink, formatter.render(result.counts, batch.first_line))
            lines += batch.n_lines
            progress.update(lines, batch.bytes_read)
        try:
            sink.commit()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise _write_failure(sink, exc) from None
    finally:
        results.close()
        progress.clear()


def _write(sink, data: bytes) -> None:
    if not data:
        return
    try:
        sink.write(data)
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise _write_failure(sink, exc) from None


def _write_failure(sink, exc: OSError) -> Fail:
    if isinstance(sink, StdoutSink):
        silence_stdout()
    return Fail(f"{PROG}: cannot write {sink.name}: {_reason(exc)}", EXIT_USAGE)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return its exit status (see the module docstring)."""
    claim_standard_descriptors()
    return run_main(PROG, lambda: _run(argv), report=say)


if __name__ == "__main__":
    # numpy's OpenBLAS starts a thread per core while numpy is imported, about half of its
    # import time here; the runtime does no linear algebra in numpy, so one is enough.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    sys.exit(main())
