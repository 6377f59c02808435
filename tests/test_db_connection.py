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
from packsync.db.migrate import migrate, migration_files, pending_migrations
from tests.conftest import server_tmpdir


async def test_migrate_applies_once(pg_url: str, db_schema: str) -> None:
    conn = await asyncpg.connect(pg_url)
    try:
        first = await migrate(conn, db_schema)
        second = await migrate(conn, db_schema)
        assert first == [name for name, _ in migration_files()]
        assert first and second == []
        assert await pending_migrations(conn, db_schema) == []
        tables = {
            r[0]
            for r in await conn.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
                db_schema,
            )
        }
        assert {"pack", "workflow_definition", "workflow_sync_error", "sync_run"} <= tables
        assert "schema_migrations" in tables
    finally:
        await conn.close()


async def test_concurrent_migrations_apply_each_file_once(pg_url: str, db_schema: str) -> None:
    conns = [await asyncpg.connect(pg_url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(c, db_schema) for c in conns))
        applied = sorted(name for names in results for name in names)
        assert applied == sorted(name for name, _ in migration_files())
        count = await conns[0].fetchval(f'SELECT count(*) FROM "{db_schema}".schema_migrations')
        assert count == len(migration_files())
    finally:
        for c in conns:
            await c.close()


async def test_pool_sessions_keep_schema_and_jsonb_codec(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    for _ in range(4):  # released connections are reset; search_path must survive
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT current_schema()") == settings.db_schema
            assert await conn.fetchval("SELECT $1::jsonb", {"a": [1, None]}) == {"a": [1, None]}


async def test_dedicated_connection(settings: Settings, pool: asyncpg.Pool) -> None:
    conn = await connect(settings)
    try:
        assert await conn.fetchval("SELECT current_schema()") == settings.db_schema
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
    settings = Settings(state_dir=state, db_schema="embedded_t")
    with capture_logs() as logs:
        pool = await create_pool(settings)
    try:
        assert await migrate(pool, settings.db_schema)
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM pack") == 0
        assert (state / "pgdata" / "PG_VERSION").exists()
    finally:
        await pool.close()
        stop_embedded(state)
    lines = [e for e in logs if "embedded PostgreSQL" in e["event"]]
    assert len(lines) == 1


async def test_migrate_with_a_role_that_cannot_create_schemas(pg_url: str, db_schema: str) -> None:
    """A DBA made the schema and handed it over; the app role has no CREATE on
    the database. Migrations must still apply."""
    role = f"r_{db_schema}"
    admin = await asyncpg.connect(pg_url)
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN')
        await admin.execute(f'CREATE SCHEMA "{db_schema}" AUTHORIZATION "{role}"')
        await admin.execute(f'REVOKE CREATE ON DATABASE postgres FROM PUBLIC, "{role}"')
        conn = await asyncpg.connect(pg_url, user=role)
        try:
            assert await migrate(conn, db_schema) == [n for n, _ in migration_files()]
            assert await migrate(conn, db_schema) == []
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{db_schema}" CASCADE')
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
