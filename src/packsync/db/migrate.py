"""Prepare the database: packsync's own migrations in the state schema, and
Attune's tables in the Attune schema when (and only when) none of them exist.

`migrations/NNNN_*.sql` apply in order, once each, recorded in
`<state_schema>.schema_migrations`. `attune/tables.sql` creates Attune's
pack, action and workflow_definition for an empty database (the embedded
default, a standalone install); a database with all three is used as it is
and never altered; one with only some of them is refused (`AttuneSchemaError`).

A session advisory lock keyed by the state schema serialises concurrent
migrators (two pods starting at once); each file runs in its own transaction
(with its bookkeeping row), so a failure leaves nothing half-applied.
"""

from __future__ import annotations

from importlib.resources import files

import asyncpg
import structlog

from packsync.core.identifiers import check_identifier
from packsync.db import queries

_log = structlog.get_logger()
ATTUNE_TABLES = ("pack", "action", "workflow_definition")


class AttuneSchemaError(Exception):
    """The Attune schema holds some of Attune's tables but not all: packsync
    neither completes nor alters it (a configuration problem, exit code 2)."""


def migration_files() -> list[tuple[str, str]]:
    """(name, sql) of every bundled state migration, in apply order."""
    folder = files("packsync.db") / "migrations"
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(name.removesuffix(".sql"), (folder / name).read_text("utf-8")) for name in names]


def attune_tables_sql() -> str:
    return (files("packsync.db") / "attune" / "tables.sql").read_text("utf-8")


async def migrate(
    conn_or_pool: asyncpg.Connection | asyncpg.Pool, db_schema: str, state_schema: str
) -> list[str]:
    """Apply pending state migrations and create Attune's tables if absent;
    return what this call applied (empty when already up to date)."""
    check_identifier(db_schema)
    check_identifier(state_schema)
    if isinstance(conn_or_pool, asyncpg.Pool):
        async with conn_or_pool.acquire() as conn:
            return await _migrate(conn, db_schema, state_schema)
    return await _migrate(conn_or_pool, db_schema, state_schema)


async def _migrate(conn: asyncpg.Connection, db_schema: str, state_schema: str) -> list[str]:
    applied: list[str] = []
    await conn.execute(queries.MIGRATE_LOCK, state_schema)
    try:
        await _ensure_schema(conn, state_schema)
        if not await conn.fetchval(queries.MIGRATIONS_TABLE_EXISTS, state_schema):
            await conn.execute(queries.create_migrations_table(state_schema))
        done = await _applied(conn, state_schema)
        for name, sql in migration_files():
            if name in done:
                continue
            async with conn.transaction():
                await conn.execute(queries.SET_LOCAL_SEARCH_PATH, state_schema)
                await conn.execute(sql)
                await conn.execute(queries.record_migration(state_schema), name)
            applied.append(name)
            _log.info("applied database migration", migration=name, schema=state_schema)
        if await _create_attune_tables(conn, db_schema):
            applied.append(f"{db_schema}:attune-tables")
    finally:
        await conn.execute(queries.MIGRATE_UNLOCK, state_schema)
    return applied


async def _ensure_schema(conn: asyncpg.Connection, schema: str) -> None:
    # Check before CREATE: a role without CREATE on the database may still
    # own a schema a DBA made for it.
    if not await conn.fetchval(queries.SCHEMA_EXISTS, schema):
        await conn.execute(queries.create_schema(schema))


async def existing_attune_tables(conn: asyncpg.Connection, db_schema: str) -> list[str]:
    rows = await conn.fetch(queries.EXISTING_TABLES, db_schema, list(ATTUNE_TABLES))
    return sorted(r[0] for r in rows)


async def _create_attune_tables(conn: asyncpg.Connection, db_schema: str) -> bool:
    """Create Attune's tables when none exist; True when this call did."""
    present = await existing_attune_tables(conn, db_schema)
    if len(present) == len(ATTUNE_TABLES):
        return False
    if present:
        missing = sorted(set(ATTUNE_TABLES) - set(present))
        raise AttuneSchemaError(
            f"schema {db_schema!r} has Attune's {', '.join(present)} but not "
            f"{', '.join(missing)}: packsync never completes or alters Attune's tables; "
            "point db_schema at a complete Attune schema or at an empty one"
        )
    await _ensure_schema(conn, db_schema)
    async with conn.transaction():
        await conn.execute(queries.SET_LOCAL_SEARCH_PATH, db_schema)
        await conn.execute(attune_tables_sql())
    _log.info(
        "created Attune's pack, action and workflow_definition tables (none existed)",
        schema=db_schema,
    )
    return True


async def pending_migrations(conn: asyncpg.Connection, state_schema: str) -> list[str]:
    """Names not yet applied (`packsync plan` refuses to run before them)."""
    exists = await conn.fetchval(queries.MIGRATIONS_TABLE_EXISTS, state_schema)
    done = await _applied(conn, state_schema) if exists else set()
    return [name for name, _ in migration_files() if name not in done]


async def _applied(conn: asyncpg.Connection, state_schema: str) -> set[str]:
    return {r["name"] for r in await conn.fetch(queries.applied_migrations(state_schema))}
