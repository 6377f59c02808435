"""Which database failures are transient: the daemon retries them until they
succeed and never forgets the pack, because the same (idempotent) pack
transaction will work once the database lets it.

Transient: the connection went away or timed out; the server is read-only (a
failover in progress: SQLSTATE 25006), shutting down or starting (class 57),
out of connections or resources (class 53), a lock or serialization conflict
(55P03, 40001, 40P01), a cancelled statement (57014). Everything else (a bug,
a constraint the pack's content broke) is not: retrying will not help soon.
"""

from __future__ import annotations

import asyncpg

from packsync.db.connection import is_connection_error

_TRANSIENT_SQLSTATE_CLASSES = (
    "08",  # connection exception
    "25006",  # read_only_sql_transaction: failover to a replica, or a read-only primary
    "40",  # serialization failure, deadlock
    "53",  # insufficient resources: too many connections, disk full, out of memory
    "55P03",  # lock_not_available (lock_timeout)
    "57",  # operator intervention: admin/crash shutdown, cannot connect now, query canceled
    "58",  # system error (I/O) on the server
    "HV00N",  # (fdw) connection lost
)


def sqlstate(exc: BaseException) -> str | None:
    state = getattr(exc, "sqlstate", None)
    return state if isinstance(state, str) else None


def is_transient(exc: BaseException) -> bool:
    """True when retrying the same transaction later is the cure."""
    if is_connection_error(exc):
        return True
    state = sqlstate(exc)
    return isinstance(exc, asyncpg.PostgresError) and bool(
        state and state.startswith(_TRANSIENT_SQLSTATE_CLASSES)
    )


def is_busy(exc: BaseException) -> bool:
    """The pack's lock is held by another process past pack_lock_timeout_seconds."""
    return isinstance(exc, asyncpg.exceptions.LockNotAvailableError)
