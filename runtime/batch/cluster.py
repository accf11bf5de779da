"""The Ray cluster of ``runtime.batch``: Ray imported (or what to install), a cluster
joined or started, the size of the actor pool.

Joining checks first that something listens at the address: Ray itself retries an
address nobody serves for minutes before it gives up.
"""

from __future__ import annotations

import math
import os

from ..errors import ClusterError

__all__ = ["RAY_EXTRA", "CPUS_PER_READER", "import_ray", "default_workers", "cluster_cpus", "connect"]

#: What to install for this module.
RAY_EXTRA = "parity-edge[ray]"
#: The cluster's CPUs per CPU kept free of actors, for the read and write tasks: reading
#: and checking a line costs about 1/35 of counting it (20 M against 0.6 M lines per
#: CPU-second), so one CPU in 16 (and at least one) keeps the actors fed.
CPUS_PER_READER = 16


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
        ray.init(**_quiet())
    return ray.cluster_resources().get("CPU", 1)


def _quiet() -> dict:
    import logging

    return {"include_dashboard": False, "logging_level": logging.ERROR, "log_to_driver": False}


def connect(ray, address: str | None) -> bool:
    """Join the cluster at ``address``, or start a local one (None). True when started here."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if ray.is_initialized():
        return False
    if address is not None:
        _probe(address)
    try:
        if address is None:
            ray.init(**_quiet())
        else:
            ray.init(address=address, **_quiet())
    except (ConnectionError, ValueError, RuntimeError, OSError) as exc:
        where = address or "a local Ray instance"
        raise ClusterError(f"cannot {'reach' if address else 'start'} {where}: "
                           f"{str(exc).strip().splitlines()[0]}") from exc
    return address is None


def _probe(address: str) -> None:
    """Fail in seconds when nothing listens at ``address``: Ray itself waits minutes."""
    import socket

    if address.startswith("ray://"):
        target = address[len("ray://"):]
    else:
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
