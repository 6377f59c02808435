"""Our server sessions, so that the ones this process abandons can be ended.

When a connection goes silent the client gives up on it (a statement timeout,
the leader's missed ping) and aborts it, but the server session lives on,
idle, or idle in a pack transaction holding the pack's lock, or holding the
leader's advisory lock, until the server's own keepalive notices: minutes to
hours, or never while something in between keeps the socket open. Each session
is noted as (pid, backend_start) when it opens; one this process aborted is
ended with `pg_terminate_backend` from a fresh connection (a role may end its
own sessions). (pid, backend_start) names one session: a reused pid has a
later start, so no other session is ever ended. Only direct sessions are
noted: behind a pooler such as PgBouncer the server session outlives our
connection and serves other clients (the pid the pooler hands us is not the
server's), so nothing is ended there.
"""

from __future__ import annotations

import contextlib
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog

from packsync.db import queries

log = structlog.get_logger(__name__)

FORGET_AFTER_SECONDS = 3600.0  # an entry no reaper could reach is dropped after this


@dataclass(slots=True)
class _Registry:
    # server address → {(pid, backend_start): abandoned at (monotonic)}
    abandoned: dict[str, dict[tuple[int, Any], float]] = field(default_factory=dict)


_REGISTRY = _Registry()


def _server(conn: asyncpg.Connection) -> str:
    addr = getattr(conn, "_addr", None)
    params = getattr(conn, "_params", None)
    return f"{addr}/{getattr(params, 'database', '')}"


async def track(conn: asyncpg.Connection) -> None:
    """Note the session; if this process later aborts the connection, the
    session is queued for `reap_abandoned`."""
    row = await conn.fetchrow(queries.OWN_SESSION)
    if row is None or int(row[0]) != conn.get_server_pid():
        # Behind a pooler (PgBouncer sends its own backend key): the server
        # session is not ours alone and may serve another client later.
        return
    session = (int(row[0]), row[1])
    server = _server(conn)

    def closed(c: Any) -> None:
        # aborted: given up client-side (timeout, terminate()); a graceful close
        # or a server-side end leaves no session behind
        if getattr(c, "_aborted", True):
            _REGISTRY.abandoned.setdefault(server, {})[session] = time.monotonic()

    conn.add_termination_listener(closed)


def abandoned_count() -> int:
    return sum(len(v) for v in _REGISTRY.abandoned.values())


async def reap_abandoned(conn: asyncpg.Connection) -> int:
    """End the abandoned sessions of this process on `conn`'s server. Returns
    how many were still alive and were ended."""
    server = _server(conn)
    sessions = _REGISTRY.abandoned.get(server)
    if not sessions:
        return 0
    batch = dict(sessions)
    pids = [pid for pid, _ in batch]
    starts = [start for _, start in batch]
    ended = int(await conn.fetchval(queries.END_SESSIONS, pids, starts) or 0)
    for key in batch:
        sessions.pop(key, None)
    if ended:
        log.warning("ended abandoned database sessions of this process", sessions=ended)
    return ended


def forget_stale() -> None:
    """Drop entries no reaper could reach for an hour (a server that is gone)."""
    cutoff = time.monotonic() - FORGET_AFTER_SECONDS
    for sessions in _REGISTRY.abandoned.values():
        for key in [k for k, at in sessions.items() if at < cutoff]:
            sessions.pop(key, None)


def client_keepalive(conn: asyncpg.Connection, idle: float) -> None:
    """TCP keepalives and a user timeout on our end of the socket (best effort;
    Unix sockets have none): the kernel ends a connection whose peer vanished
    in about 2 x idle seconds, failing its pending statement at once."""
    if idle <= 0:
        return
    transport = getattr(conn, "_transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    options = [
        (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
        (socket.IPPROTO_TCP, getattr(socket, "TCP_KEEPIDLE", None), max(1, round(idle))),
        (socket.IPPROTO_TCP, getattr(socket, "TCP_KEEPINTVL", None), max(1, round(idle / 3))),
        (socket.IPPROTO_TCP, getattr(socket, "TCP_KEEPCNT", None), 3),
        (socket.IPPROTO_TCP, getattr(socket, "TCP_USER_TIMEOUT", None), round(idle * 2000)),
    ]
    for level, option, value in options:
        if option is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(level, option, value)
