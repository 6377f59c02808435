"""Read-only queries behind the service's list/get/count operations, the
daemon's gauges and /status. Plain functions over a pool: no sync logic."""

from __future__ import annotations

import asyncio

import asyncpg

from packsync.core.results import FailingFile, WorkflowDetail, WorkflowFilter, WorkflowSummary
from packsync.db import api_queries, queries


async def count_workflows(pool: asyncpg.Pool, ref: str) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval(queries.COUNT_PACK_WORKFLOWS, ref))


async def list_workflows(
    pool: asyncpg.Pool, wanted: WorkflowFilter
) -> tuple[list[WorkflowSummary], int]:
    rows_sql, count_sql, args, n_filters = queries.list_workflows(wanted)
    # One snapshot for the page and its total.
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        rows = await conn.fetch(rows_sql, *args)
        total = await conn.fetchval(count_sql, *args[:n_filters])
    return [WorkflowSummary(**dict(r)) for r in rows], int(total)


async def get_workflow(pool: asyncpg.Pool, ref: str) -> WorkflowDetail | None:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(queries.GET_WORKFLOW, ref)
    if row is None:
        return None
    data = dict(row)
    data["sync_errors"] = data["sync_errors"] or []
    return WorkflowDetail(**data)


async def find_by_pack(pool: asyncpg.Pool, ref: str) -> list[WorkflowSummary]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(queries.PACK_WORKFLOWS, ref)
    return [WorkflowSummary(**dict(r)) for r in rows]


async def registered_actions(pool: asyncpg.Pool) -> dict[str, frozenset[str]]:
    """pack ref → the action refs in Attune's `action` table."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(queries.REGISTERED_ACTIONS)
    return {r["pack_ref"]: frozenset(r["refs"]) for r in rows}


PING_TIMEOUT_SECONDS = 5.0


async def pack_registered(pool: asyncpg.Pool, ref: str) -> bool:
    async with pool.acquire() as conn:
        return await conn.fetchrow(api_queries.PACK_BY_REF, ref) is not None


async def failing_file(pool: asyncpg.Pool, ref: str) -> FailingFile | None:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(api_queries.FAILING_FILE_FOR_REF, ref)
    if row is None:
        return None
    errors = row["errors"] if isinstance(row["errors"], list) else []
    return FailingFile(pack_ref=row["pack_ref"], file_path=row["file_path"], errors=errors)


async def ping(pool: asyncpg.Pool) -> bool:
    """True when a query round trip succeeds (readiness, `packsync_db_up`)."""
    try:
        async with asyncio.timeout(PING_TIMEOUT_SECONDS), pool.acquire() as conn:
            await conn.fetchval(queries.PING)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False
    return True


async def group_stats(pool: asyncpg.Pool, sync_group: str) -> dict[str, int]:
    """Gauges for one sync_group: packs, workflows, invalid_files."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(queries.GROUP_STATS, sync_group)
    return {k: int(v) for k, v in dict(row).items()}
