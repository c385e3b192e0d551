"""Command-line arguments checked before any compute: whole numbers in their allowed
ranges (argparse types), ``--out`` paths and Dask scheduler addresses. Each refusal names
the flag and what is allowed."""

from __future__ import annotations

import argparse
import importlib.util
import socket
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from kbalance.errors import InvalidValueError


#: Largest seed numpy's generators take.
MAX_SEED = 2**32 - 1
#: Largest number of local processes (a guard against typing mistakes).
MAX_WORKERS = 512
#: Seconds to wait for a Dask scheduler to accept a connection.
SCHEDULER_TIMEOUT = 3.0
#: Address schemes of a Dask scheduler.
SCHEDULER_SCHEMES = ("tcp", "tls")


def count(low: int, high: int, what: str) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high]; argparse names the flag and exits 2."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is not allowed; expected {what}, a whole number "
                                             f"in [{low:,}, {high:,}]")
        return value
    parse.__name__ = "number"
    return parse


SEED = count(0, MAX_SEED, "a random seed")
WORKERS = count(1, MAX_WORKERS, "a number of local processes")


def out_arg(value: str | None) -> Path | None:
    """``--out`` as a Path (None when not given); an empty value is refused."""
    if value is None:
        return None
    if not value.strip():
        raise InvalidValueError("kbalance", "--out", value, "a folder path (not empty)")
    return Path(value)


def check_scheduler(address: str | None) -> str | None:
    """``--scheduler``, checked before any compute: a ``tcp://host:port`` (or ``tls://``)
    address, dask.distributed installed, and a scheduler accepting a connection within
    :data:`SCHEDULER_TIMEOUT` seconds. InvalidValueError naming ``--scheduler`` otherwise."""
    if address is None:
        return None
    expected = "a Dask scheduler address tcp://HOST:PORT (or tls://), e.g. tcp://127.0.0.1:8786"
    try:
        parts = urlsplit(address)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in SCHEDULER_SCHEMES or not parts.hostname or port is None:
        raise InvalidValueError("kbalance", "--scheduler", address, expected)
    if importlib.util.find_spec("distributed") is None:
        raise InvalidValueError("kbalance", "--scheduler", address,
                                "dask.distributed installed for a scheduler (pip install 'dask[distributed]'); "
                                "without --scheduler the runs use local processes")
    try:
        socket.create_connection((parts.hostname, port), timeout=SCHEDULER_TIMEOUT).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InvalidValueError("kbalance", "--scheduler", address,
                                f"a running scheduler (no connection within {SCHEDULER_TIMEOUT:g} s: {reason})") from None
    return address
