"""The leader lease: a leader that stops renewing (frozen, cut off) loses the
group within a bounded time, a standby ends its session and takes over, and
writes carrying the old lease's token roll back (real PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from packsync.config import Settings
from packsync.daemon.leader import LeaderElector, leader_lock_key
from packsync.db.connection import connect
from packsync.sync.fencing import LeaseLost, LeaseToken
from packsync.sync.service import SyncService
from tests.support.daemon import until, workflows
from tests.support.packfactory import make_pack, workflow_yaml


class Replica:
    """One elector on its own task; `freeze()` stops its loop without closing
    its connection: the lock stays held and the lease stops being renewed."""

    def __init__(self, settings: Settings, lease: float) -> None:
        self.changes: list[bool] = []
        self.elector = LeaderElector(
            lambda: connect(settings),
            leader_lock_key(settings.db_schema, settings.sync_group),
            on_change=self.changes.append,
            schema=settings.db_schema,
            sync_group=settings.sync_group,
            lease_seconds=lease,
            poll_interval=0.1,
        )
        self.task = asyncio.create_task(self.elector.run())

    def freeze(self) -> None:
        self.task.cancel()

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.elector.release()


@pytest.fixture
async def replicas(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[list[Replica]]:
    made: list[Replica] = []
    yield made
    for r in made:
        await r.close()


async def test_frozen_leader_loses_the_lease_and_is_fenced(
    settings: Settings, pool: asyncpg.Pool, packs: Path, pg_url: str, replicas: list[Replica]
) -> None:
    make_pack(packs, "alpha", {"one.yaml": workflow_yaml("One")})
    a = Replica(settings, lease=1.0)
    replicas.append(a)
    await until(lambda: a.elector.is_leader, what="a leads")
    old = a.elector.token()
    assert old is not None and old.epoch >= 1
    b = Replica(settings, lease=1.0)
    replicas.append(b)
    await asyncio.sleep(0.5)
    assert not b.elector.is_leader  # a renews: b waits

    a.freeze()  # lock connection open, lease no longer renewed
    await until(lambda: b.elector.is_leader, 15, what="b takes over the expired lease")
    new = b.elector.token()
    assert new is not None and new.epoch > old.epoch
    assert b.elector.takeovers == 1  # it ended a's lock session
    assert not a.elector.is_leader  # a's own clock says the lease is gone too

    # a resumes with its old token: its pack transaction rolls back
    stale = SyncService(settings, pool)
    stale.fence = lambda: old
    with pytest.raises(LeaseLost):
        await stale.sync_pack("alpha", trigger="watch")
    assert await workflows(pg_url, settings.db_schema) == {}
    # the new leader's token commits
    fresh = SyncService(settings, pool)
    fresh.fence = b.elector.token
    assert (await fresh.sync_pack("alpha", trigger="watch")).created == 1


async def test_a_leader_without_a_token_writes_nothing(
    settings: Settings, pool: asyncpg.Pool, packs: Path, pg_url: str
) -> None:
    make_pack(packs, "alpha", {"one.yaml": workflow_yaml("One")})
    service = SyncService(settings, pool)
    service.fence = lambda: None
    with pytest.raises(LeaseLost):
        await service.sync_all(trigger="startup")
    forged = LeaseToken(settings.db_schema, settings.sync_group, "nobody", 1)
    service.fence = lambda: forged
    with pytest.raises(LeaseLost):
        await service.sync_pack("alpha", trigger="watch")
    assert await workflows(pg_url, settings.db_schema) == {}


async def test_killed_leader_session_hands_over_without_waiting_for_expiry(
    settings: Settings, pool: asyncpg.Pool, pg_url: str, replicas: list[Replica]
) -> None:
    """kill -9 ends the session: the lease of a gone session is free at once,
    however long the lease is."""
    a = Replica(settings, lease=600.0)
    replicas.append(a)
    await until(lambda: a.elector.is_leader, what="a leads")
    b = Replica(settings, lease=600.0)
    replicas.append(b)
    a.freeze()
    admin = await asyncpg.connect(pg_url)
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", a.elector._conn.get_server_pid())
    finally:
        await admin.close()
    await until(lambda: b.elector.is_leader, 10, what="b takes over a dead session's lease")
    assert b.elector.takeovers == 0


async def test_clean_release_hands_over_at_once(
    settings: Settings, pool: asyncpg.Pool, replicas: list[Replica]
) -> None:
    a = Replica(settings, lease=600.0)
    await until(lambda: a.elector.is_leader, what="a leads")
    b = Replica(settings, lease=600.0)
    replicas.append(b)
    await a.close()
    await until(lambda: b.elector.is_leader, 10, what="b leads after a's release")


async def test_takeover_ends_a_write_frozen_between_its_check_and_commit(
    settings: Settings, pool: asyncpg.Pool, pg_url: str, replicas: list[Replica]
) -> None:
    """The old leader froze holding the fence (it had checked its lease and
    not yet committed): the takeover ends that transaction, it never commits."""
    from packsync.db import lease_queries

    a = Replica(settings, lease=1.0)
    replicas.append(a)
    await until(lambda: a.elector.is_leader, what="a leads")
    writer = await asyncpg.connect(pg_url)
    tx = writer.transaction()
    await tx.start()
    await writer.execute(lease_queries.FENCE_SHARED, settings.db_schema, settings.sync_group)
    a.freeze()
    b = Replica(settings, lease=1.0)
    replicas.append(b)
    try:
        await until(lambda: b.elector.is_leader, 20, what="b takes over past the held fence")
        assert writer.is_closed() or not await _alive(writer)
    finally:
        writer.terminate()


async def _alive(conn: asyncpg.Connection) -> bool:
    try:
        await conn.fetchval("SELECT 1")
    except (asyncpg.PostgresError, asyncpg.InterfaceError, ConnectionError):
        return False
    return True
