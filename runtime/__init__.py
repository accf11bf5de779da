"""parity-edge runtime: count the ones in bit strings with an exported model, without TensorFlow.

::

    import runtime
    predictor = runtime.load()                  # model=None, backend="auto", threads=None
    result = predictor.predict(["0110", "1" * 50])
    result.counts                               # array([ 2, 50])
    result.parities                             # array([0, 0])

Bit strings may have any length of at least one: shorter than the model's 50 bits they
are left-padded with zeros, longer they are split into 50-bit windows whose counts are
added (the first window left-padded). Both are exact. Large inputs run as parallel
batches, one thread per CPU core by default (``threads``); the results do not depend on
the number of threads.

``runtime.load(precision="int8")`` runs a reduced-precision variant the model carries;
``runtime.load(graph="recurrent")`` the recurrent network itself rather than its folded
form, which ``auto`` runs where the manifest records it proved (``predictor.graph`` says
which). ``runtime.verify_model()`` (``python -m runtime.verify``) replays the golden set
shipped with the model through each installed backend and graph: proof that this
installed copy still computes what was exported; ``prove=True`` also re-derives each
file's proof of exactness from its bytes.

Every error the runtime raises is a ``runtime.ParityEdgeError``; see ``runtime.errors``
for the tree. The command line is ``python -m runtime.predict --help``; for inputs too big
for one host, ``python -m runtime.batch --help`` runs the same counts on a Ray cluster
(the ``ray`` extra; ``runtime.batch.count_ones`` for a Ray Data pipeline of your own).

``import runtime`` is cheap: numpy and the model packages are imported on first use.
"""

from .errors import (BackendUnavailableError, ClusterError, InputError, ModelError, ParityEdgeError,
                     UsageError)

__all__ = [
    "load", "Predictor", "Result", "verify_model",
    "ParityEdgeError", "InputError", "UsageError", "ModelError", "BackendUnavailableError",
    "ClusterError",
]

# name -> the module that defines it, imported on first use.
_LAZY = {"load": "predictor", "Predictor": "predictor", "Result": "predictor",
         "verify_model": "verify"}


def __getattr__(name: str):
    # PEP 562: the API pulls in numpy, so it is imported when first asked for.
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
