"""Every SQL statement packsync runs (no SQL strings elsewhere).

Table names are unqualified: sessions run with `search_path` = the configured
schema (see db/connection.py). The few statements that must name the schema
(migrations, which run before it exists) take it as a validated identifier.
Batched writes use `INSERT ... SELECT FROM unnest(...)`: one statement per
kind of write per pack, never one round trip per row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_identifier(name: str) -> str:
    """Guard for the only names ever formatted into SQL (schema names)."""
    if not _IDENT.match(name):
        raise ValueError(f"invalid SQL identifier {name!r}")
    return name


# ---------------------------------------------------------------- migrations
MIGRATE_LOCK = "SELECT pg_advisory_lock(hashtextextended('packsync:migrate:' || $1::text, 0))"
MIGRATE_UNLOCK = "SELECT pg_advisory_unlock(hashtextextended('packsync:migrate:' || $1::text, 0))"
SET_LOCAL_SEARCH_PATH = "SELECT set_config('search_path', quote_ident($1::text), true)"
SCHEMA_EXISTS = "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)"
MIGRATIONS_TABLE_EXISTS = (
    "SELECT to_regclass(quote_ident($1::text) || '.schema_migrations') IS NOT NULL"
)


def create_schema(schema: str) -> str:
    return f'CREATE SCHEMA IF NOT EXISTS "{check_identifier(schema)}"'


def create_migrations_table(schema: str) -> str:
    return (
        f'CREATE TABLE IF NOT EXISTS "{check_identifier(schema)}".schema_migrations ('
        "name text PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())"
    )


def applied_migrations(schema: str) -> str:
    schema = check_identifier(schema)
    return f'SELECT name FROM "{schema}".schema_migrations ORDER BY name'  # noqa: S608


def record_migration(schema: str) -> str:
    schema = check_identifier(schema)
    return f'INSERT INTO "{schema}".schema_migrations (name) VALUES ($1)'  # noqa: S608


# ---------------------------------------------------------------- locks
# Per pack, per schema: daemon and CLI never interleave on one pack.
PACK_XACT_LOCK = (
    "SELECT pg_advisory_xact_lock("
    "hashtextextended('packsync:pack:' || $1::text || ':' || $2::text, 0))"
)
# Bounds the wait for PACK_XACT_LOCK (and any row lock) in this transaction.
SET_LOCK_TIMEOUT = "SELECT set_config('lock_timeout', $1::text, true)"
# The daemon's leader lock: a session lock on its dedicated connection, keyed
# by daemon.leader.leader_lock_key(schema, sync_group).
LEADER_TRY_LOCK = "SELECT pg_try_advisory_lock($1)"
LEADER_UNLOCK = "SELECT pg_advisory_unlock($1)"
PING = "SELECT 1"

# -- our own sessions (db/backends.py) ----------------------------------------
OWN_SESSION = "SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()"
# Ends sessions named by (pid, backend_start): a reused pid never matches.
END_SESSIONS = """
SELECT count(pg_terminate_backend(a.pid))
FROM pg_stat_activity a
JOIN unnest($1::int[], $2::timestamptz[]) AS s(pid, started)
  ON a.pid = s.pid AND a.backend_start = s.started
WHERE a.pid <> pg_backend_pid()
"""

# ---------------------------------------------------------------- registered state
# The whole registered state of one pack in one round trip (a sweep does this
# for every pack): the pack row, its workflow rows, its error rows.
PACK_STATE = """
SELECT
  (SELECT to_jsonb(p) FROM (
      SELECT id, ref, label, description, version, tags, dependencies, meta,
             storage_path, checksum, sync_group
      FROM pack WHERE ref = $1) p) AS pack,
  coalesce((SELECT jsonb_agg(jsonb_build_array(id, ref, file_path, content_hash, source))
            FROM workflow_definition WHERE pack_ref = $1), '[]'::jsonb) AS workflows,
  coalesce((SELECT jsonb_object_agg(file_path, errors)
            FROM workflow_sync_error WHERE pack_ref = $1), '{}'::jsonb) AS errors
"""

# Packs of one sync group with how many rows each source holds.
GROUP_PACKS = """
SELECT p.ref,
       count(w.id) FILTER (WHERE w.source = 'file') AS file_rows,
       count(w.id) FILTER (WHERE w.source = 'api') AS api_rows
FROM pack p LEFT JOIN workflow_definition w ON w.pack = p.id
WHERE p.sync_group = $1
GROUP BY p.ref
"""
# Packs that only have error rows (never registered: broken pack.yaml), per group.
GROUP_ERROR_ONLY_PACKS = """
SELECT DISTINCT e.pack_ref FROM workflow_sync_error e
WHERE e.sync_group = $1 AND NOT EXISTS (SELECT 1 FROM pack p WHERE p.ref = e.pack_ref)
"""
PACK_OWNER = "SELECT sync_group FROM pack WHERE ref = $1"

# ---------------------------------------------------------------- writes
UPSERT_PACK = """
INSERT INTO pack (ref, label, description, version, tags, dependencies, meta,
                  storage_path, checksum, sync_group)
VALUES ($1, $2, $3, $4, $5::text[], $6::text[], $7::jsonb, $8, $9, $10)
ON CONFLICT (ref) DO UPDATE SET
    label = EXCLUDED.label, description = EXCLUDED.description,
    version = EXCLUDED.version, tags = EXCLUDED.tags,
    dependencies = EXCLUDED.dependencies, meta = EXCLUDED.meta,
    storage_path = EXCLUDED.storage_path, checksum = EXCLUDED.checksum,
    updated = now()
WHERE pack.sync_group = EXCLUDED.sync_group
RETURNING id
"""

# $1 pack id, $2 pack ref, then one array per column. JSON values travel as
# text and are cast here: asyncpg would read a Python list inside an array
# parameter as another array dimension.
UPSERT_WORKFLOWS = """
INSERT INTO workflow_definition (ref, pack, pack_ref, label, description, version,
    param_schema, out_schema, definition, tags, enabled, source, file_path, content_hash)
SELECT r.ref, $1, $2, r.label, r.description, r.version,
       r.param_schema::jsonb, r.out_schema::jsonb, r.definition::jsonb,
       ARRAY(SELECT jsonb_array_elements_text(r.tags::jsonb)), r.enabled, 'file',
       r.file_path, r.content_hash
FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
            $9::text[], $10::text[], $11::boolean[], $12::text[], $13::text[])
     AS r(ref, label, description, version, param_schema, out_schema,
          definition, tags, enabled, file_path, content_hash)
ON CONFLICT (ref) DO UPDATE SET
    pack = EXCLUDED.pack, label = EXCLUDED.label, description = EXCLUDED.description,
    version = EXCLUDED.version, param_schema = EXCLUDED.param_schema,
    out_schema = EXCLUDED.out_schema, definition = EXCLUDED.definition,
    tags = EXCLUDED.tags, enabled = EXCLUDED.enabled, file_path = EXCLUDED.file_path,
    content_hash = EXCLUDED.content_hash, updated = now()
WHERE workflow_definition.source = 'file' AND workflow_definition.pack_ref = EXCLUDED.pack_ref
RETURNING id, ref, (xmax = 0) AS inserted
"""
DELETE_WORKFLOWS = """
DELETE FROM workflow_definition WHERE id = ANY($1::bigint[]) AND source = 'file'
RETURNING id, ref
"""
DELETE_PACK_FILE_WORKFLOWS = """
DELETE FROM workflow_definition WHERE pack_ref = $1 AND source = 'file'
RETURNING id, ref
"""
# The pack row goes only with its last workflow: api rows keep it alive.
DELETE_PACK_IF_EMPTY = """
DELETE FROM pack p WHERE p.ref = $1 AND p.sync_group = $2
AND NOT EXISTS (SELECT 1 FROM workflow_definition w WHERE w.pack = p.id)
"""
# An unchanged failing file is re-checked every sweep (its action references
# may start to resolve) but its row is rewritten only when the errors differ:
# unchanged files cause no writes (last_seen = when the errors last changed).
SET_ERRORS = """
INSERT INTO workflow_sync_error (pack_ref, sync_group, file_path, ref, errors)
SELECT $1, $2, r.file_path, r.ref, r.errors::jsonb
FROM unnest($3::text[], $4::text[], $5::text[]) AS r(file_path, ref, errors)
ON CONFLICT (pack_ref, file_path) DO UPDATE SET
    ref = EXCLUDED.ref, sync_group = EXCLUDED.sync_group,
    errors = EXCLUDED.errors, last_seen = now()
WHERE (workflow_sync_error.ref, workflow_sync_error.sync_group, workflow_sync_error.errors)
    IS DISTINCT FROM (EXCLUDED.ref, EXCLUDED.sync_group, EXCLUDED.errors)
"""
CLEAR_ERRORS = "DELETE FROM workflow_sync_error WHERE pack_ref = $1 AND file_path = ANY($2::text[])"
CLEAR_PACK_ERRORS = "DELETE FROM workflow_sync_error WHERE pack_ref = $1 AND sync_group = $2"

# One history row, and this group's history pruned to the newest $14 rows, in
# one round trip. Both parts see the snapshot from before the insert, so the
# prune keeps the newest $14 - 1 older rows, plus the new one.
RECORD_SYNC_RUN = """
WITH run AS (
    INSERT INTO sync_run (pack_ref, trigger, started, finished, loaded, created, updated,
                          unchanged, deleted, failed, outcome, sync_group, message)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
    RETURNING id
)
DELETE FROM sync_run WHERE sync_group = $12 AND id <= (
    SELECT id FROM sync_run WHERE sync_group = $12
    ORDER BY id DESC OFFSET $14::bigint - 1 LIMIT 1)
"""
RECENT_SYNC_RUNS = "SELECT * FROM sync_run ORDER BY id DESC LIMIT $1"
GROUP_STATS = """
SELECT
  (SELECT count(*) FROM pack WHERE sync_group = $1) AS packs,
  (SELECT count(*) FROM workflow_definition w JOIN pack p ON p.id = w.pack
   WHERE p.sync_group = $1) AS workflows,
  (SELECT count(*) FROM workflow_sync_error WHERE sync_group = $1) AS invalid_files
"""

# ---------------------------------------------------------------- reads for CLI / API
_SUMMARY_COLUMNS = """
w.id, w.ref, w.pack_ref, w.label, w.description, w.version, w.tags, w.enabled,
w.source, w.file_path, w.created, w.updated,
EXISTS (SELECT 1 FROM workflow_sync_error e
        WHERE e.pack_ref = w.pack_ref AND e.file_path = w.file_path) AS failing
"""
GET_WORKFLOW = f"""
SELECT {_SUMMARY_COLUMNS}, w.param_schema, w.out_schema, w.definition, w.content_hash,
       (SELECT e.errors FROM workflow_sync_error e
        WHERE e.pack_ref = w.pack_ref AND e.file_path = w.file_path) AS sync_errors
FROM workflow_definition w WHERE w.ref = $1
"""  # noqa: S608 - only constant fragments are formatted in
COUNT_PACK_WORKFLOWS = "SELECT count(*) FROM workflow_definition WHERE pack_ref = $1"
PACK_WORKFLOWS = (
    f"SELECT {_SUMMARY_COLUMNS} FROM workflow_definition w WHERE w.pack_ref = $1 ORDER BY w.ref"  # noqa: S608
)


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_workflows(
    *,
    pack: str | None,
    tags: Sequence[str],
    enabled: bool | None,
    search: str | None,
    limit: int | None,
    offset: int,
) -> tuple[str, str, list[Any], int]:
    """(rows sql, count sql, args, number of filter args). Filters are bound
    parameters; only their presence shapes the SQL text."""
    where: list[str] = []
    args: list[Any] = []
    if pack is not None:
        args.append(pack)
        where.append(f"w.pack_ref = ${len(args)}")
    if tags:
        args.append(list(tags))
        where.append(f"w.tags && ${len(args)}::text[]")
    if enabled is not None:
        args.append(enabled)
        where.append(f"w.enabled = ${len(args)}")
    if search:
        args.append(_like_pattern(search))
        n = len(args)
        where.append(
            f"(w.ref ILIKE ${n} OR coalesce(w.label, '') ILIKE ${n}"
            f" OR coalesce(w.description, '') ILIKE ${n})"
        )
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    n_filters = len(args)
    rows = f"SELECT {_SUMMARY_COLUMNS} FROM workflow_definition w {clause} ORDER BY w.ref"  # noqa: S608
    args.append(offset)
    rows += f" OFFSET ${len(args)}"
    if limit is not None:
        args.append(limit)
        rows += f" LIMIT ${len(args)}"
    count = f"SELECT count(*) FROM workflow_definition w {clause}"  # noqa: S608
    return rows, count, args, n_filters
