"""Apply `migrations/NNNN_*.sql` in order, once each, recorded in
`<schema>.schema_migrations`.

A session advisory lock keyed by the schema serialises concurrent migrators
(two pods starting at once); each file runs in its own transaction together
with its bookkeeping row, so a failed migration leaves nothing half-applied.
"""

from __future__ import annotations

from importlib.resources import files

import asyncpg
import structlog

from packsync.db import queries

_log = structlog.get_logger()


def migration_files() -> list[tuple[str, str]]:
    """(name, sql) of every bundled migration, in apply order."""
    folder = files("packsync.db") / "migrations"
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(name.removesuffix(".sql"), (folder / name).read_text("utf-8")) for name in names]


async def migrate(conn_or_pool: asyncpg.Connection | asyncpg.Pool, schema: str) -> list[str]:
    """Apply pending migrations to `schema` (created if missing); return the
    names applied by this call (empty when already up to date)."""
    queries.check_identifier(schema)
    if isinstance(conn_or_pool, asyncpg.Pool):
        async with conn_or_pool.acquire() as conn:
            return await _migrate(conn, schema)
    return await _migrate(conn_or_pool, schema)


async def _migrate(conn: asyncpg.Connection, schema: str) -> list[str]:
    applied: list[str] = []
    await conn.execute(queries.MIGRATE_LOCK, schema)
    try:
        await conn.execute(queries.create_schema(schema))
        await conn.execute(queries.create_migrations_table(schema))
        done = {r["name"] for r in await conn.fetch(queries.applied_migrations(schema))}
        for name, sql in migration_files():
            if name in done:
                continue
            async with conn.transaction():
                await conn.execute(queries.SET_LOCAL_SEARCH_PATH, schema)
                await conn.execute(sql)
                await conn.execute(queries.record_migration(schema), name)
            applied.append(name)
            _log.info("applied database migration", migration=name, schema=schema)
    finally:
        await conn.execute(queries.MIGRATE_UNLOCK, schema)
    return applied


async def pending_migrations(conn: asyncpg.Connection, schema: str) -> list[str]:
    """Names not yet applied (for `packsync migrate --dry-run` style reports)."""
    exists = await conn.fetchval(queries.MIGRATIONS_TABLE_EXISTS, schema)
    done: set[str] = set()
    if exists:
        done = {r["name"] for r in await conn.fetch(queries.applied_migrations(schema))}
    return [name for name, _ in migration_files() if name not in done]
