"""Leader election: one writer per sync group, via a session advisory lock.

The lock lives on a DEDICATED connection: an asyncpg pool runs
`pg_advisory_unlock_all()` when a connection is released, so a session lock
taken on a pooled connection silently disappears. The leader watches that
connection (termination listener + a periodic round trip) and steps down the
moment it is lost; PostgreSQL releases the lock when the session ends, so a
standby polling `pg_try_advisory_lock` takes over within a poll interval.
Behind PgBouncer in transaction mode session locks do not work: connect
the daemon to PostgreSQL directly (see docs/daemon.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from packsync.daemon.scheduler import Backoff
from packsync.db import queries

log = structlog.get_logger(__name__)

Connect = Callable[[], Awaitable[Any]]  # → asyncpg.Connection


def leader_lock_key(db_schema: str, sync_group: str) -> int:
    """A signed 64-bit advisory lock key for (schema, group)."""
    digest = hashlib.blake2b(f"packsync-leader\0{db_schema}\0{sync_group}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class LeaderElector:
    def __init__(
        self,
        connect: Connect,
        key: int,
        *,
        on_change: Callable[[bool], None],
        on_connection: Callable[[bool], None] = lambda up: None,
        poll_interval: float = 1.0,
        check_interval: float = 2.0,
        query_timeout: float = 5.0,
    ) -> None:
        self._connect = connect
        self.key = key
        self._on_change = on_change
        self._on_connection = on_connection
        self.poll_interval = poll_interval
        self.check_interval = check_interval
        self.query_timeout = query_timeout
        self.is_leader = False
        self._connected = False
        self.attempts = 0  # lock attempts answered by the server
        self.failures = 0  # sessions that failed (connect or query)
        self._reported_down = False
        self._conn: Any = None
        self._lost = asyncio.Event()
        self._backoff = Backoff(base=0.5, cap=10.0)

    @property
    def connected(self) -> bool:
        return self._connected

    @connected.setter
    def connected(self, value: bool) -> None:
        if value != self._connected:
            self._connected = value
            self._on_connection(value)

    async def run(self) -> None:
        """Forever: connect, try the lock, hold it; on any failure step down and retry."""
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.connected = False
                self.failures += 1
                if not self._reported_down:  # once per outage, not once per retry
                    self._reported_down = True
                    log.warning("leader election: database unreachable", error=_one_line(exc))
                self._step_down(_one_line(exc))
            await self._close()
            await asyncio.sleep(self._backoff.next())

    async def _session(self) -> None:
        self._lost.clear()
        conn = await asyncio.wait_for(self._connect(), self.query_timeout * 2)
        self._conn = conn
        self.connected = True
        self._backoff.reset()
        if self._reported_down:
            self._reported_down = False
            log.info("leader election: database reachable again")
        conn.add_termination_listener(self._terminated)
        while not self._lost.is_set():
            if self.is_leader:
                await self._fetch(queries.PING)
                wait = self.check_interval
            else:
                got = await self._fetch(queries.LEADER_TRY_LOCK, self.key)
                self.attempts += 1
                if self.attempts == 1:
                    self._on_connection(True)  # standby readiness: first answer seen
                if got:
                    self._become_leader()
                wait = self.check_interval if self.is_leader else self.poll_interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), wait)
        raise ConnectionError("leader connection lost")

    async def _fetch(self, query: str, *args: Any) -> Any:
        return await asyncio.wait_for(self._conn.fetchval(query, *args), self.query_timeout)

    def _terminated(self, _conn: Any) -> None:
        """asyncpg calls this when the connection closes: step down at once,
        before the session loop even notices."""
        self.connected = False
        self._step_down("connection terminated")
        self._lost.set()

    def _become_leader(self) -> None:
        self.is_leader = True
        log.info("became leader", lock_key=self.key)
        self._on_change(True)

    def _step_down(self, reason: str, *, expected: bool = False) -> None:
        if self.is_leader:
            self.is_leader = False
            (log.info if expected else log.warning)("stepped down as leader", reason=reason)
            self._on_change(False)

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            conn.remove_termination_listener(self._terminated)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.close(), 2.0)
        if not conn.is_closed():
            conn.terminate()

    async def release(self) -> None:
        """Shutdown: give the lock up explicitly so a standby takes over at once."""
        conn = self._conn
        if conn is not None and self.is_leader and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.fetchval(queries.LEADER_UNLOCK, self.key), 2.0)
        self._step_down("shutting down", expected=True)
        await self._close()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
