"""A change is never forgotten because a sync failed: the pack stays pending
and is retried until a sync succeeds, whatever the failure. Transient classes
(read-only, lost connection, lock, serialization, too many connections, admin
shutdown) are recognised from real server errors; a busy pack is retried as
busy, without marking the database down. The scheduler cases run its real loop
with plain coroutines as jobs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import pytest

from packsync.daemon.scheduler import Backoff, SyncScheduler
from packsync.db.errors import is_busy, is_transient
from tests.support.daemon import until


class FailingJobs:
    """A pack job that raises `make_error()` for its first `failures` calls."""

    def __init__(self, failures: int, make_error: Callable[[], BaseException]) -> None:
        self.failures = failures
        self.make_error = make_error
        self.calls = 0
        self.done = asyncio.Event()
        self.pending_seen_while_failing: list[bool] = []

    async def pack(self, ref: str, trigger: str) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.make_error()
        self.done.set()

    async def full(self, trigger: str, explained: Callable[[], set[str]]) -> None:
        return None


def _scheduler(jobs: FailingJobs, states: list[bool]) -> SyncScheduler:
    return SyncScheduler(
        quiet=0.01,
        max_wait=0.05,
        run_pack=jobs.pack,
        run_full=jobs.full,
        is_transient=is_transient,
        is_busy=is_busy,
        on_db_state=states.append,
        backoff=Backoff(base=0.005, cap=0.02),
        failed_retry_cap=0.02,
        busy_retry=0.02,
    )


def _read_only() -> BaseException:
    return asyncpg.exceptions.ReadOnlySQLTransactionError(
        "cannot execute INSERT in a read-only transaction"
    )


@pytest.mark.parametrize(
    ("make_error", "db_down"),
    [
        (_read_only, True),
        (lambda: ConnectionResetError("reset by peer"), True),
        (lambda: asyncpg.exceptions.AdminShutdownError("terminating connection"), True),
        (lambda: asyncpg.exceptions.LockNotAvailableError("lock timeout"), False),
        (lambda: ValueError("a bug"), False),
    ],
    ids=["read-only", "connection", "admin-shutdown", "busy", "bug"],
)
async def test_a_pack_failing_many_times_stays_pending_until_it_syncs(
    make_error: Callable[[], BaseException], db_down: bool
) -> None:
    jobs = FailingJobs(8, make_error)  # far more than the 3 tries after which it was dropped
    states: list[bool] = []
    s = _scheduler(jobs, states)
    task = asyncio.create_task(s.run())
    try:
        s.mark("alpha")
        await until(lambda: jobs.calls >= 4, 20, what="four failed attempts")
        assert "alpha" in s.pending() + s.running()  # never dropped
        await asyncio.wait_for(jobs.done.wait(), 30)
        await until(s.idle, 5, what="idle after success")
    finally:
        task.cancel()
    assert jobs.calls == 9
    assert (False in states) is db_down  # a busy pack or a bug is not a database outage


async def _sqlstate_of(conn: asyncpg.Connection, sql: str) -> BaseException:
    with pytest.raises(asyncpg.PostgresError) as info:
        await conn.execute(sql)
    return info.value


async def test_real_server_errors_are_classified(pg_url: str) -> None:
    conn = await asyncpg.connect(pg_url)
    holder = await asyncpg.connect(pg_url)
    try:
        await conn.execute("CREATE TEMP TABLE t (id int PRIMARY KEY)")
        await conn.execute("INSERT INTO t VALUES (1)")

        read_only = await _sqlstate_of(
            conn, "BEGIN READ ONLY; CREATE TABLE read_only_probe (id int); COMMIT"
        )
        await conn.execute("ROLLBACK")
        assert read_only.sqlstate == "25006" and is_transient(read_only)

        await holder.execute("SELECT pg_advisory_lock(4242)")
        locked = await _sqlstate_of(
            conn, "BEGIN; SET LOCAL lock_timeout = '50ms'; SELECT pg_advisory_xact_lock(4242)"
        )
        await conn.execute("ROLLBACK")
        assert is_busy(locked) and is_transient(locked)

        duplicate = await _sqlstate_of(conn, "INSERT INTO t VALUES (1)")
        assert not is_transient(duplicate)  # the pack's content: retrying will not help
        syntax = await _sqlstate_of(conn, "SELEC 1")
        assert not is_transient(syntax)

        victim = await asyncpg.connect(pg_url)
        await conn.execute(f"SELECT pg_terminate_backend({victim.get_server_pid()})")
        with pytest.raises(Exception) as killed:
            await victim.execute("SELECT 1")
        assert is_transient(killed.value)
        victim.terminate()
    finally:
        await conn.close()
        await holder.close()
