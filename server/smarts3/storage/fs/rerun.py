"""Store operations that run again when their metadata connection died under them.

A PostgreSQL connection can die in the middle of a request (its backend terminated, the
server restarted or failed over). What that leaves depends on what was on the wire:

- anything before a COMMIT: the transaction died with its connection, nothing of it is
  applied, so the operation may simply run again on a fresh connection (`ConnectionLost`);
- a COMMIT (or a write outside a transaction, its own commit): it may or may not have been
  applied. Running it again could apply a write twice (a second version) or fail a
  condition the first attempt met, so it is not rerun: `CommitInDoubt` answers 503, which
  SDKs retry as a new request, and the body files it names are kept (an orphan, for the
  sweep, if the commit did not happen).

pg.PgConnection classifies; `rerunning` runs a whole blocking store operation again, once,
and only if nothing was committed during the failed attempt (an operation that committed
and then lost its connection is not repeated). SQLite never raises either.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from smarts3.storage.base import MetadataUnavailable

T = TypeVar("T")
log = logging.getLogger("smarts3")

# Attempts of one store operation whose connection is lost before anything was committed.
ATTEMPTS = 2


class ConnectionLost(MetadataUnavailable):
    """The metadata connection died before anything was committed through it."""


class CommitInDoubt(MetadataUnavailable):
    """The metadata connection died while a commit was under way: its outcome is unknown."""


_attempt = threading.local()  # whether the operation running in this thread committed something


def committed() -> None:
    """Called (pg.py) once a change is committed: the running operation must not be rerun."""
    _attempt.committed = True


def rerunning(fn: Callable[[], T], attempts: int = ATTEMPTS) -> T:
    """`fn()`, run again (in this thread) if it lost its connection before committing anything."""
    for attempt in range(1, attempts + 1):
        _attempt.committed = False
        try:
            return fn()
        except ConnectionLost as exc:
            if _attempt.committed or attempt == attempts:
                raise
            log.warning("metadata connection lost (%s); running the operation again", exc)
    raise AssertionError("unreachable")
