"""How the command line ends on a signal: at once, quietly, with status 128 + the signal,
and without leaving its temporary file behind.

``install()`` is the first thing ``python -m runtime.predict`` does. From then on Ctrl-C
(SIGINT), SIGTERM, SIGHUP and the other signals that would end the process (``ENDING``)
end it at once: the temporary files registered with ``remove_on_signal`` (the
``--output`` file being written) are removed, and the process exits with 128 + the
signal's number. Nothing is raised: an exception raised by a handler lands wherever the
main thread happens to be, inside an import say, where a library may turn it into an
error of its own (numpy reports an interrupted import as a broken installation). The
previous ``--output`` file stays as it was, since only a complete file is renamed over it.

``held()`` defers the signals over a few lines that must not be cut in two (creating the
temporary file and registering it; renaming it into place and forgetting it): one that
comes meanwhile takes effect when they are done. A signal that was ignored when the
process started (as ``nohup`` ignores SIGHUP) stays ignored. (Python itself ignores
SIGPIPE and SIGXFSZ: a closed pipe or a file-size limit is a write error.)

Only the command line installs this; a program that imports ``runtime`` keeps its own
signal handling.
"""

import os

try:
    # The C module under ``signal``: importing ``signal`` itself first imports enum, some
    # a stretch of the cold start during which a Ctrl-C would still raise KeyboardInterrupt.
    import _signal as signal
except ImportError:  # not CPython
    import signal

__all__ = ["ENDING", "install", "held", "remove_on_signal", "forget"]

#: Signals whose default action ends the process.
ENDING = tuple(getattr(signal, name) for name in (
    "SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM", "SIGALRM", "SIGUSR1", "SIGUSR2", "SIGXCPU",
    "SIGVTALRM", "SIGPROF", "SIGPOLL") if hasattr(signal, name))

_to_remove: set[str] = set()
_holding = 0
_pending: list[int] = []


def _end(signum: int) -> None:
    for path in list(_to_remove):
        try:
            os.unlink(path)
        except OSError:
            pass
    os._exit(128 + signum)


def _on_signal(signum, frame) -> None:
    if _holding:
        _pending.append(signum)
        return
    _end(signum)


def install() -> None:
    """End the process on the signals of ``ENDING`` as the module docstring says.

    Signals are Python's to handle only on the main thread: elsewhere this does nothing.
    """
    try:
        for signum in ENDING:
            if signal.getsignal(signum) in (signal.SIG_DFL, signal.default_int_handler):
                signal.signal(signum, _on_signal)
    except ValueError:  # not the main thread
        pass


class held:
    """``with held():`` defers the signals of ``install()`` until the block is done."""

    def __enter__(self):
        global _holding
        _holding += 1
        return self

    def __exit__(self, *exc) -> None:
        global _holding
        _holding -= 1
        if not _holding and _pending:
            _end(_pending[0])


def remove_on_signal(path: str) -> None:
    """Remove ``path`` if a signal ends the process (call within ``held()``)."""
    _to_remove.add(path)


def forget(path: str) -> None:
    """``path`` is no longer ours to remove (renamed into place, or removed already)."""
    _to_remove.discard(path)
