"""What the command lines share: a failure said on one line, and a parser that says so too."""

from __future__ import annotations

import argparse

__all__ = ["Fail", "OneLineParser"]

EXIT_USAGE = 2


class Fail(Exception):
    """An error to report on one line and exit with ``status``."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class OneLineParser(argparse.ArgumentParser):
    """argparse, with a bad option reported as one line, ``PROG: MESSAGE (see --help)``
    (a ``Fail`` with status 2), instead of the usage block."""

    def error(self, message: str):
        prog = self.prog.removeprefix("python -m ")
        raise Fail(f"{prog}: {message} (see --help)", EXIT_USAGE)
