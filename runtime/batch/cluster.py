"""The Ray cluster of ``runtime.batch``: Ray imported (or what to install), a cluster
joined or started, the size of the actor pool.

Joining checks first that something listens at the address (Ray itself retries an
address nobody serves for minutes before it gives up), then that the cluster accepts this
driver's authentication: a cluster with token authentication refuses a driver without its
token, and Ray reports that only as a failure to connect, after its own retries.
Ray Client addresses (``ray://``) are refused before anything starts: Ray Data 2.60 cannot
run a pipeline through Ray Client at all.
"""

from __future__ import annotations

import math
import os

from ..errors import ClusterError, UsageError

__all__ = ["RAY_EXTRA", "CPUS_PER_READER", "import_ray", "default_workers", "cluster_cpus", "connect",
           "check_address", "RAY_CLIENT_HINT", "AUTH_HINT", "shutdown", "task_failure"]

#: What to install for this module.
RAY_EXTRA = "parity-edge[ray]"
#: The cluster's CPUs per CPU kept free of actors, for the read and write tasks: reading
#: and checking a line costs a small fraction of counting it (the README gives the
#: figures), so one CPU in 16 (and at least one) keeps the actors fed.
CPUS_PER_READER = 16


#: What to do instead of Ray Client.
RAY_CLIENT_HINT = ("run the command on a node of the cluster with --address HEAD:6379 (or auto), or "
                   "submit it there with Ray's job API: ray job submit --address http://HEAD:8265 -- "
                   "python -m runtime.batch ...")
#: How a driver joins a cluster that has token authentication on.
AUTH_HINT = ("set RAY_AUTH_MODE=token and give this driver the cluster's token (~/.ray/auth_token, "
             "RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH), as every node has it")


def check_address(address: str | None) -> None:
    """Raise UsageError for an address this command cannot use: Ray Client's (``ray://``)."""
    if address is not None and address.startswith("ray://"):
        raise UsageError(f"--address {address}: Ray Client cannot run Ray Data jobs (Ray 2.60); "
                         + RAY_CLIENT_HINT)


def import_ray():
    """The ``ray`` module, or ClusterError saying what to install."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise ClusterError(f"runtime.batch needs Ray Data: pip install \"{RAY_EXTRA}\" ({exc})",
                           package=RAY_EXTRA) from exc
    return ray


def default_workers(cpus: float) -> int:
    """Actors for a cluster of ``cpus`` CPUs: one per CPU, less those reading needs."""
    cpus = int(cpus)
    return max(1, cpus - max(1, math.ceil(cpus / CPUS_PER_READER)))


def cluster_cpus(ray) -> float:
    """The cluster's CPUs; a local Ray instance is started if none is initialised, as Ray
    Data itself would."""
    if not ray.is_initialized():
        _init(ray, None)
    return ray.cluster_resources().get("CPU", 1)


def _init(ray, address: str | None) -> None:
    """``ray.init`` for this driver, quiet, with the process's signals left to the program.

    Ray's C++ failure-signal handler is kept out of this driver: ray.init installs it on
    SIGTERM (among the crash signals) before Python's handler is put back, so a SIGTERM in
    that window would pass through it, and it arms a three-second SIGALRM that then ends
    the process (SIGALRM or SIGABRT) while it cleans up. Crashes of the driver lose Ray's
    C++ stack trace (Python's faulthandler still works); Ray's own processes keep theirs.
    """
    import logging

    from ray._private import ray_constants

    ray_constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER = True  # read by the driver's CoreWorker
    quiet = {"include_dashboard": False, "logging_level": logging.ERROR, "log_to_driver": False}
    with _own_sigterm():
        if address is None:
            ray.init(**quiet)
        else:
            ray.init(address=address, **quiet)


def connect(ray, address: str | None) -> bool:
    """Join the cluster at ``address``, or start a local one (None). True when started here."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if ray.is_initialized():
        from ray.util.client import ray as client

        if client.is_connected():  # initialised by the caller, through Ray Client
            raise UsageError("this process is connected through Ray Client, which cannot run Ray Data "
                             "jobs (Ray 2.60); " + RAY_CLIENT_HINT)
        return False
    if address is not None:
        _probe(address)
    try:
        _init(ray, address)
    except (ConnectionError, ValueError, RuntimeError, OSError) as exc:
        where = address or "a local Ray instance"
        raise ClusterError(f"cannot {'reach' if address else 'start'} {where}: "
                           f"{str(exc).strip().splitlines()[0]}") from exc
    return address is None


class _own_sigterm:
    """Keep a SIGTERM handler the caller installed: ray.init replaces whatever is there
    with one that raises SystemExit. A default disposition is left to Ray's handler."""

    def __enter__(self):
        import signal
        import threading

        self._previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGTERM)
            if callable(previous):
                self._previous = previous
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            import signal

            signal.signal(signal.SIGTERM, self._previous)


def _probe(address: str) -> None:
    """Fail in seconds when nothing listens at ``address``: Ray itself waits minutes."""
    import socket

    check_address(address)
    from ray._private.services import canonicalize_bootstrap_address

    try:
        target = canonicalize_bootstrap_address(address)
    except (ConnectionError, ValueError) as exc:
        raise ClusterError(f"cannot reach a Ray cluster at {address}: "
                           f"{str(exc).strip().splitlines()[0]}") from None
    if target is None:
        raise ClusterError(f"cannot reach a Ray cluster at {address}: no running cluster found")
    host, _, port = target.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=5):
            pass
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise ClusterError(f"cannot reach a Ray cluster at {address}: {reason}") from None
    _check_auth(address, target)


def _check_auth(address: str, target: str) -> None:
    """Fail in seconds, naming the cause, when this driver's authentication does not match
    the cluster's: Ray says only that it cannot connect (a token missing or wrong), or
    lets the job's actors die (a token where the cluster has none: the workers cannot call
    back a driver that demands one)."""
    if address == "auto":
        # ray.init turns token mode on for "auto" when this host has a token (and
        # RAY_AUTH_MODE is unset); the checks must see what ray.init will.
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available)

        maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
    mode = os.environ.get("RAY_AUTH_MODE")
    mine = (mode or "").lower() == "token"
    wants = _cluster_wants_token(target)
    where = f"cannot join the Ray cluster at {address}"
    if wants and not mine:
        raise ClusterError(f"{where}: it refused this driver's authentication (token authentication is on "
                           f"there; RAY_AUTH_MODE is {mode or 'unset'} here): {AUTH_HINT}")
    if wants is False and mine:
        raise ClusterError(f"{where}: token authentication is off there and on here (RAY_AUTH_MODE=token): "
                           "set RAY_AUTH_MODE=disabled for this driver, as the nodes have it")
    if wants and mine:
        from ray._raylet import GcsClient
        from ray.exceptions import AuthenticationError

        try:
            GcsClient(address=target)
        except AuthenticationError:
            raise ClusterError(f"{where}: it refused this driver's token, which is not the cluster's: give "
                               "this driver the token every node has (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or "
                               "~/.ray/auth_token)") from None
        except Exception:  # anything else: ray.init reports it in its own words
            pass


def _cluster_wants_token(target: str) -> bool | None:
    """Whether the GCS at ``target`` demands a token: one call to it without any. None when
    the call fails otherwise (ray.init then says why in its own words)."""
    try:
        import grpc
        from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc
    except ImportError:
        return None
    try:
        with grpc.insecure_channel(target) as channel:
            stub = gcs_service_pb2_grpc.InternalKVGcsServiceStub(channel)
            stub.InternalKVGet(gcs_service_pb2.InternalKVGetRequest(key=b"runtime.batch", namespace=b"probe"),
                               timeout=5)
    except grpc.RpcError as exc:
        return True if exc.code() == grpc.StatusCode.UNAUTHENTICATED else None
    return False


def shutdown(ray, published: bool) -> None:
    """Stop the local Ray instance; once the output is published, a Ctrl-C meanwhile
    neither stops the shutdown half-way (leaving Ray's processes) nor fails the job."""
    for _ in range(3):
        try:
            ray.shutdown()
            return
        except KeyboardInterrupt:
            if not published:
                raise

def task_failure(ray, exc) -> BaseException:
    """What a task raised that is not ours, as what it is: Ray's own failure (a worker or
    object lost) is the cluster's (exit 3), a file that failed a UsageError, memory that ran
    out a MemoryError; anything else is a bug, said as one (never "the cluster")."""
    cause = exc.cause
    while isinstance(getattr(cause, "__cause__", None), BaseException):
        cause = cause.__cause__
    first = (str(cause).strip().splitlines() or [""])[0]
    if isinstance(cause, ray.exceptions.RayError):
        return ClusterError(f"a task failed: {type(cause).__name__}: {first}")
    if isinstance(cause, OSError):
        return UsageError(f"a task could not read or write a file: {cause.strerror or first}"
                          + (f": {cause.filename}" if cause.filename else ""))
    if isinstance(cause, MemoryError):
        return MemoryError(f"in a task: {first}" if first else "in a task")
    return cause if isinstance(cause, Exception) else ClusterError(f"a task failed: {type(cause).__name__}")
