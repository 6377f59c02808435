"""Shared setup of the database-fault cases: the daemon's server sessions, and
a pack lock held from the test so that the daemon's sync waits inside its
pack transaction (the moment a silent connection hurts most)."""

from __future__ import annotations

import asyncpg

from tests.support.daemon import until

PACK_LOCK = (
    "SELECT pg_advisory_xact_lock("
    "hashtextextended('packsync:pack:' || $1::text || ':' || $2::text, 0))"
)


async def packsync_backends(url: str) -> set[int]:
    """pids of every packsync session on the server."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'packsync'"
        )
    finally:
        await conn.close()
    return {r["pid"] for r in rows}


class PackLockHolder:
    """Holds a pack's sync lock in an open transaction of the test's own."""

    def __init__(self, url: str, schema: str, ref: str) -> None:
        self.url, self.schema, self.ref = url, schema, ref
        self.conn: asyncpg.Connection | None = None

    async def __aenter__(self) -> PackLockHolder:
        self.conn = await asyncpg.connect(self.url)
        await self.conn.execute("BEGIN")
        await self.conn.execute(PACK_LOCK, self.schema, self.ref)
        return self

    async def until_daemon_waits(self) -> None:
        """Until a packsync session waits for a lock (the pack's, inside its transaction)."""
        assert self.conn is not None
        conn = self.conn

        async def waiting() -> bool:
            return bool(
                await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE application_name = 'packsync' AND wait_event_type = 'Lock'"
                )
            )

        await until(waiting, 20, what="the daemon's sync waits for the pack lock")

    async def release(self) -> None:
        if self.conn is not None:
            conn, self.conn = self.conn, None
            try:
                await conn.execute("ROLLBACK")
            finally:
                await conn.close()

    async def __aexit__(self, *exc: object) -> None:
        await self.release()
