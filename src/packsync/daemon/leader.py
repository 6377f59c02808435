"""Leader election: one writer per sync group, via a session advisory lock
and a lease.

The lock lives on a DEDICATED connection: an asyncpg pool runs
`pg_advisory_unlock_all()` when a connection is released, so a session lock
taken on a pooled connection silently disappears. The leader watches that
connection (termination listener) and steps down the moment it is lost;
PostgreSQL releases the lock when the session ends, so a standby polling
`pg_try_advisory_lock` takes over within a poll interval (kill -9, crash).

A leader that is frozen (SIGSTOP, a stalled VM) or cut off keeps its session
and its lock, so the lock alone would block every standby. Hence the lease
(a `leader_lease` row, timed by the database clock): the leader renews it
every third of `leader_lease_seconds`; a standby that finds it expired ends
the old leader's lock session and takes the lease with a higher epoch. Every
write checks that epoch before it commits (fencing.py), so the old leader,
once resumed, cannot commit; it sees its lease gone and stands down.
Behind PgBouncer in transaction mode session locks do not work: connect
the daemon to PostgreSQL directly (see docs/daemon.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import structlog

from packsync.daemon.scheduler import Backoff
from packsync.db import lease_queries, queries
from packsync.sync.fencing import LeaseToken

log = structlog.get_logger(__name__)

Connect = Callable[[], Awaitable[Any]]  # → asyncpg.Connection
# How long a takeover waits for the fence before ending an old leader's writes.
_FENCE_WAIT_MS = 2000


def leader_lock_key(db_schema: str, sync_group: str) -> int:
    """A signed 64-bit advisory lock key for (schema, group)."""
    digest = hashlib.blake2b(f"packsync-leader\0{db_schema}\0{sync_group}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class LeaderElector:
    """Campaigns for, holds and renews the leadership of one sync group."""

    def __init__(
        self,
        connect: Connect,
        key: int,
        *,
        on_change: Callable[[bool], None],
        on_connection: Callable[[bool], None] = lambda up: None,
        prepare: Callable[[], Awaitable[object]] | None = None,
        schema: str = "attune",
        sync_group: str = "default",
        lease_seconds: float = 10.0,
        poll_interval: float = 1.0,
        query_timeout: float = 5.0,
    ) -> None:
        self._connect = connect
        self.key = key
        self._on_change = on_change
        self._on_connection = on_connection
        self._prepare = prepare  # the lease table must exist: migrations first
        self.schema = schema
        self.sync_group = sync_group
        self.lease_seconds = lease_seconds
        # Renew three times per lease: one lost round trip never costs the lease.
        self.check_interval = lease_seconds / 3
        self.poll_interval = min(poll_interval, lease_seconds / 3)
        self.query_timeout = query_timeout
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._leader = False
        self._token: LeaseToken | None = None
        # Monotonic time until which the lease is surely ours: counted from
        # when the last renewal was SENT, so it ends before the database's.
        self._valid_until = 0.0
        self._connected = False
        self.attempts = 0  # campaigns decided (leader or standby) on a live session
        self.failures = 0  # sessions that failed (connect or query)
        self.takeovers = 0  # expired leaders whose session this daemon ended
        self._reported_down = False
        self._reported_no_privilege = False
        self._conn: Any = None
        self._lost = asyncio.Event()
        self._backoff = Backoff(base=0.5, cap=10.0)

    @property
    def is_leader(self) -> bool:
        """Leader, and the lease surely not yet expired: a daemon resumed after
        a freeze stops dispatching at once, before its loop even runs."""
        return self._leader and time.monotonic() < self._valid_until

    def token(self) -> LeaseToken | None:
        """The fencing token of every write (fencing.py); None: not the leader."""
        return self._token if self.is_leader else None

    def describe(self) -> dict[str, Any] | None:
        """The lease as /status shows it (None: not held)."""
        token = self.token()
        if token is None:
            return None
        return {
            "epoch": token.epoch,
            "holder": token.holder,
            "lease_seconds": self.lease_seconds,
            "valid_for_seconds": round(max(0.0, self._valid_until - time.monotonic()), 2),
        }

    @property
    def connected(self) -> bool:
        return self._connected

    @connected.setter
    def connected(self, value: bool) -> None:
        if value != self._connected:
            self._connected = value
            self._on_connection(value)

    async def run(self) -> None:
        """Forever: connect, campaign, hold and renew; on any failure step down and retry."""
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except _SteppedDown:
                pass  # already logged; reconnect: the lock goes with the old session
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
        if self._prepare is not None:
            await self._prepare()
        conn = await asyncio.wait_for(self._connect(), self.query_timeout * 2)
        self._conn = conn
        self.connected = True
        conn.add_termination_listener(self._terminated)
        while not self._lost.is_set():
            if self._leader:
                await self._renew()
            else:
                await self._campaign()
            # reachable = answering, not merely accepting connections (read-only)
            self._backoff.reset()
            if self._reported_down:
                self._reported_down = False
                log.info("leader election: database reachable again")
            wait = self.check_interval if self._leader else self.poll_interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), wait)
        raise ConnectionError("leader connection lost")

    async def _campaign(self) -> None:
        await self._try_to_lead()
        # Counted once the campaign is decided (leader now, or standby): a
        # readiness check between the lock and the lease must not see a
        # standby that is about to lead.
        self.attempts += 1
        if self.attempts == 1:
            self._on_connection(True)  # standby readiness: first answer seen

    async def _try_to_lead(self) -> None:
        got = await self._fetch(queries.LEADER_TRY_LOCK, self.key)
        if not got:
            await self._end_expired_leader()
            return
        sent = time.monotonic()
        epoch = await self._acquire_lease()
        if epoch is None:  # a live holder still has it (or its fence): try again later
            await self._fetch(queries.LEADER_UNLOCK, self.key)
            return
        self._token = LeaseToken(self.schema, self.sync_group, self.holder, int(epoch))
        self._valid_until = sent + self.lease_seconds
        self._become_leader()

    async def _acquire_lease(self) -> int | None:
        """Bump the epoch under the exclusive fence: in-flight writes of an old
        leader commit before it, or not at all."""
        conn = self._conn
        try:
            async with conn.transaction():
                await conn.execute(queries.SET_LOCK_TIMEOUT, f"{_FENCE_WAIT_MS}ms")
                await conn.execute(lease_queries.FENCE_EXCLUSIVE, self.schema, self.sync_group)
                epoch: int | None = await conn.fetchval(
                    lease_queries.ACQUIRE, self.sync_group, self.holder, self.lease_seconds
                )
                return epoch
        except asyncpg.LockNotAvailableError:
            # A write of the old leader holds the fence: frozen mid-commit?
            ended = await self._fetch(
                lease_queries.TERMINATE_FENCE_HOLDERS, self.schema, self.sync_group
            )
            if ended:
                log.warning("ended transactions of an expired leader", transactions=ended)
            return None

    async def _end_expired_leader(self) -> None:
        """The lock is held, but the holder's lease expired: it is frozen or cut
        off. End its lock session so this standby can take over."""
        pid = await self._fetch(lease_queries.EXPIRED_HOLDER, self.sync_group)
        if pid is None:
            return
        try:
            ended = await self._fetch(lease_queries.TERMINATE, pid)
        except asyncpg.InsufficientPrivilegeError as exc:
            if not self._reported_no_privilege:
                self._reported_no_privilege = True
                log.error(
                    "the leader's lease expired but its session cannot be ended; grant "
                    "pg_signal_backend or use one role for every replica",
                    backend_pid=pid,
                    error=_one_line(exc),
                )
            return
        if ended:
            self.takeovers += 1
            log.warning("leader lease expired: ended the old leader's session", backend_pid=pid)

    async def _renew(self) -> None:
        sent = time.monotonic()
        remaining = self._valid_until - sent
        if remaining <= 0:
            self._step_down("leader lease expired before it could be renewed")
            raise _SteppedDown
        token = self._token
        assert token is not None
        try:
            expires = await asyncio.wait_for(
                self._conn.fetchval(
                    lease_queries.RENEW, token.group, token.holder, token.epoch, self.lease_seconds
                ),
                min(self.query_timeout, remaining),
            )
        except TimeoutError:
            self._step_down("leader lease could not be renewed in time")
            raise _SteppedDown from None
        if expires is None:
            self._step_down("leader lease lost: another daemon took over")
            raise _SteppedDown
        self._valid_until = sent + self.lease_seconds

    async def _fetch(self, query: str, *args: Any) -> Any:
        return await asyncio.wait_for(self._conn.fetchval(query, *args), self.query_timeout)

    def _terminated(self, _conn: Any) -> None:
        """asyncpg calls this when the connection closes: step down at once,
        before the session loop even notices."""
        self.connected = False
        self._step_down("connection terminated")
        self._lost.set()

    def _become_leader(self) -> None:
        self._leader = True
        log.info("became leader", lock_key=self.key, epoch=self._token and self._token.epoch)
        self._on_change(True)

    def _step_down(self, reason: str, *, expected: bool = False) -> None:
        self._valid_until = 0.0
        if self._leader:
            self._leader = False
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
        """Shutdown: give the lease and the lock up so a standby takes over at once."""
        conn, token = self._conn, self._token
        if conn is not None and self._leader and token is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    conn.execute(lease_queries.RELEASE, token.group, token.holder, token.epoch),
                    2.0,
                )
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.fetchval(queries.LEADER_UNLOCK, self.key), 2.0)
        self._step_down("shutting down", expected=True)
        await self._close()


class _SteppedDown(Exception):
    """The lease is gone: end the session (the lock goes with it) and start over."""


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
