"""The SQLite chain store (schema in docs/storage.md).

One database file holds many chains and is a self-contained bundle: chains, events,
checkpoints, component bytes by SHA-256, and replay outcomes. Every SQL statement
theater issues is in this package, one module an idea:

- :mod:`.connection`: opening a file, its connections (pragmas set as each opens),
  the schema, transactions, and :func:`store_error` (``sqlite3.Error`` to ``StoreError``);
- :mod:`.rows`: reading chains, events, components and checkpoint rows, checked;
- :mod:`.writer`: :class:`ChainWriter` (batched appends), :class:`ChainImport`
  (a whole chain in one transaction), components, checkpoints;
- :mod:`.replays`: the replays table (:class:`ReplayOutcome`, :class:`ReplayRecord`);
- :mod:`.housekeeping`: removing chains, and components and blobs no chain uses.
"""

from __future__ import annotations

from ..errors import MalformedEvent
from ..outcomes import ReplayOutcome
from .connection import (
    BUSY_TIMEOUT,
    DEFAULT_BATCH,
    MAX_BUSY_TIMEOUT,
    PAGE,
    REPLAYS_SCHEMA,
    SCHEMA,
    SCHEMA_VERSION,
    STATUSES,
    Connection,
    SQLiteError,
    Transaction,
    busy_timeout,
    connect,
    default_db_path,
    describe_sqlite_error,
    sqlite_errors,
    store_error,
)
from .housekeeping import Freed, Housekeeping, Link
from .replays import ReplayLog, ReplayRecord
from .rows import ChainInfo, RowReader, checked_row
from .writer import ChainImport, ChainWriter, Row, RowWriter

_Transaction = Transaction  # its name before the split


class Store(RowWriter, RowReader, ReplayLog, Housekeeping):
    """A theater database. ``Store(path)`` opens (and with ``create=True`` creates) it;
    ``query_only=True`` opens it for reading only (every connection refuses writes)."""


__all__ = [
    "BUSY_TIMEOUT",
    "DEFAULT_BATCH",
    "MAX_BUSY_TIMEOUT",
    "PAGE",
    "REPLAYS_SCHEMA",
    "SCHEMA",
    "SCHEMA_VERSION",
    "STATUSES",
    "SQLiteError",
    "ChainImport",
    "ChainInfo",
    "ChainWriter",
    "Freed",
    "Housekeeping",
    "Link",
    "Connection",
    "MalformedEvent",
    "ReplayLog",
    "ReplayOutcome",
    "ReplayRecord",
    "Row",
    "RowReader",
    "RowWriter",
    "Store",
    "Transaction",
    "busy_timeout",
    "checked_row",
    "connect",
    "default_db_path",
    "describe_sqlite_error",
    "sqlite_errors",
    "store_error",
]
