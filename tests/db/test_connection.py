"""Connections, migrations and the schema against a real PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
from structlog.testing import capture_logs

from packsync.config import Settings
from packsync.db.connection import DatabaseUnavailable, connect, create_pool, is_connection_error
from packsync.db.embedded import stop_embedded
from packsync.db.migrate import AttuneSchemaError, migrate, migration_files
from tests.conftest import DbTarget, server_tmpdir

ATTUNE_TABLES = {"pack", "action", "workflow_definition"}
STATE_TABLES = {"managed_pack", "managed_workflow", "workflow_sync_error", "sync_run"}


async def _tables(conn: asyncpg.Connection, schema: str) -> set[str]:
    rows = await conn.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
    )
    return {r[0] for r in rows}


async def test_migrate_applies_once(pg_url: str, db_schema: str, state_schema: str) -> None:
    conn = await asyncpg.connect(pg_url)
    try:
        first = await migrate(conn, db_schema, state_schema)
        second = await migrate(conn, db_schema, state_schema)
        assert first == [name for name, _ in migration_files()] + [f"{db_schema}:attune-tables"]
        assert second == []
        applied = await conn.fetch(f'SELECT name FROM "{state_schema}".schema_migrations')
        assert sorted(r["name"] for r in applied) == sorted(n for n, _ in migration_files())
        # Attune's tables in the Attune schema, packsync's own beside them
        assert await _tables(conn, db_schema) == ATTUNE_TABLES
        assert STATE_TABLES | {"schema_migrations"} <= await _tables(conn, state_schema)
        checks = {
            r[0]
            for r in await conn.fetch(
                "SELECT conname FROM pg_constraint WHERE connamespace = $1::regnamespace",
                db_schema,
            )
        }
        assert {
            "pack_ref_lowercase",
            "pack_ref_format",
            "pack_version_semver",
            "action_ref_lowercase",
            "action_ref_format",
        } <= checks
    finally:
        await conn.close()


@pytest.mark.both_schemas
async def test_an_existing_attune_schema_is_never_altered(
    settings: Settings, db_target: DbTarget
) -> None:
    conn = await asyncpg.connect(db_target.url)
    try:
        already = len(await _tables(conn, db_target.db_schema)) > len(ATTUNE_TABLES)
        if already:  # Attune's real schema: dozens of tables
            before = await conn.fetchval(
                "SELECT string_agg(c.relname || ':' || c.xmin::text, ',' ORDER BY c.relname)"
                " FROM pg_class c WHERE c.relnamespace = $1::regnamespace",
                db_target.db_schema,
            )
        applied = await migrate(conn, db_target.db_schema, db_target.state_schema)
        assert (f"{db_target.db_schema}:attune-tables" in applied) is not already
        if already:
            after = await conn.fetchval(
                "SELECT string_agg(c.relname || ':' || c.xmin::text, ',' ORDER BY c.relname)"
                " FROM pg_class c WHERE c.relnamespace = $1::regnamespace",
                db_target.db_schema,
            )
            assert after == before
    finally:
        await conn.close()


async def test_a_partial_attune_schema_is_refused(
    pg_url: str, db_schema: str, state_schema: str
) -> None:
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute(f'CREATE SCHEMA "{db_schema}"')
        await conn.execute(f'CREATE TABLE "{db_schema}".pack (id bigint)')
        with pytest.raises(AttuneSchemaError, match="action, workflow_definition"):
            await migrate(conn, db_schema, state_schema)
        assert await _tables(conn, db_schema) == {"pack"}
    finally:
        await conn.close()


async def test_concurrent_migrations_apply_each_file_once(
    pg_url: str, db_schema: str, state_schema: str
) -> None:
    conns = [await asyncpg.connect(pg_url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(c, db_schema, state_schema) for c in conns))
        applied = sorted(name for names in results for name in names)
        expected = [name for name, _ in migration_files()] + [f"{db_schema}:attune-tables"]
        assert applied == sorted(expected)
        count = await conns[0].fetchval(f'SELECT count(*) FROM "{state_schema}".schema_migrations')
        assert count == len(migration_files())
    finally:
        for c in conns:
            await c.close()


async def test_pool_sessions_keep_schema_and_jsonb_codec(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    for _ in range(4):  # released connections are reset; search_path must survive
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT current_schema()") == settings.state_schema
            assert await conn.fetchval("SELECT to_regclass('pack')::text") is not None
            assert await conn.fetchval("SELECT $1::jsonb", {"a": [1, None]}) == {"a": [1, None]}


async def test_dedicated_connection(settings: Settings, pool: asyncpg.Pool) -> None:
    conn = await connect(settings)
    try:
        assert await conn.fetchval("SELECT current_schema()") == settings.state_schema
        assert await conn.fetchval("SELECT count(*) FROM workflow_definition") == 0
    finally:
        await conn.close()


async def test_unreachable_database_is_one_masked_line(tmp_path: Path) -> None:
    settings = Settings(
        database_url="postgresql://packsync:s3cr3t-pw@127.0.0.1:1/attune",
        state_dir=tmp_path / "state",
    )
    with pytest.raises(DatabaseUnavailable) as info:
        await create_pool(settings)
    message = str(info.value)
    assert "s3cr3t-pw" not in message
    assert "packsync:***@127.0.0.1:1" in message
    assert "\n" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert is_connection_error(info.value)


@pytest.mark.parametrize(
    "url",
    [
        # (an unparseable or non-PostgreSQL URL is a configuration error: test_config.py)
        "postgresql://u:pw-secret@nonexistent.invalid/db",
        "postgresql://u:pw-secret@127.0.0.1:1/db?sslmode=bogus",
        "postgresql://u:pw-secret@127.0.0.1:1/db?statement_cache_size=x",
    ],
)
async def test_bad_urls_are_unavailable_and_masked(url: str, tmp_path: Path) -> None:
    with pytest.raises(DatabaseUnavailable) as info:
        await connect(Settings(database_url=url, state_dir=tmp_path))
    assert "pw-secret" not in str(info.value) and "\n" not in str(info.value)


async def test_statement_cache_size_option_is_accepted(
    pg_url: str, db_schema: str, tmp_path: Path
) -> None:
    sep = "&" if "?" in pg_url else "?"
    settings = Settings(
        database_url=f"{pg_url}{sep}statement_cache_size=0", db_schema=db_schema, state_dir=tmp_path
    )
    conn = await connect(settings)
    try:
        assert await conn.fetchval("SELECT 41 + 1") == 42
    finally:
        await conn.close()


async def test_missing_database_is_unavailable(pg_url: str, tmp_path: Path) -> None:
    url = pg_url.replace("/postgres?", "/no_such_db?")
    settings = Settings(database_url=url, state_dir=tmp_path / "state")
    with pytest.raises(DatabaseUnavailable, match="no_such_db"):
        await connect(settings)


async def test_embedded_server_when_database_url_unset() -> None:
    state = server_tmpdir("packsync-test-state-")
    settings = Settings(state_dir=state, db_schema="embedded_t", state_schema="embedded_s")
    with capture_logs() as logs:
        pool = await create_pool(settings)
    try:
        assert await migrate(pool, settings.db_schema, settings.state_schema)
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM pack") == 0
        assert (state / "pgdata" / "PG_VERSION").exists()
    finally:
        await pool.close()
        stop_embedded(state)
    lines = [e for e in logs if "embedded PostgreSQL" in e["event"]]
    assert len(lines) == 1


async def test_migrate_with_a_role_that_cannot_create_schemas(
    pg_url: str, db_schema: str, state_schema: str
) -> None:
    """A DBA made the schemas and handed them over; the app role has no CREATE
    on the database. Migrations must still apply."""
    role = f"r_{db_schema}"
    admin = await asyncpg.connect(pg_url)
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN')
        for schema in (db_schema, state_schema):
            await admin.execute(f'CREATE SCHEMA "{schema}" AUTHORIZATION "{role}"')
        await admin.execute(f'REVOKE CREATE ON DATABASE postgres FROM PUBLIC, "{role}"')
        conn = await asyncpg.connect(pg_url, user=role)
        try:
            first = await migrate(conn, db_schema, state_schema)
            assert first == [n for n, _ in migration_files()] + [f"{db_schema}:attune-tables"]
            assert await migrate(conn, db_schema, state_schema) == []
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{db_schema}" CASCADE')
        await admin.execute(f'DROP SCHEMA IF EXISTS "{state_schema}" CASCADE')
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()


async def test_dropped_connection_is_a_connection_error(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    victim = await connect(settings)
    try:
        pid = await victim.fetchval("SELECT pg_backend_pid()")
        async with pool.acquire() as admin:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        with pytest.raises(Exception) as info:
            await victim.fetchval("SELECT 1")
        assert is_connection_error(info.value)
    finally:
        await victim.close()
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.PostgresError) as bad:
            await conn.execute("SELECT 1/0")
    assert not is_connection_error(bad.value)
