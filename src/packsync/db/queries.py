"""Every SQL statement packsync runs (no SQL strings elsewhere).

Table names are unqualified: sessions run with `search_path` = packsync's state
schema, then Attune's (see db/connection.py); the two share no table name.
The few statements that must name a schema (migrations, which run before it
exists) take it as a validated identifier.
Batched writes use `INSERT ... SELECT FROM unnest(...)`: one statement per
kind of write per pack, never one round trip per row.
"""

from __future__ import annotations

from typing import Any

from packsync.core.identifiers import check_identifier
from packsync.core.results import WorkflowFilter

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
# Per pack, per Attune schema: daemon, CLI and API never interleave on one pack.
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
# Attune's tables (pack, action, workflow_definition) and packsync's state
# (managed_pack, managed_workflow, workflow_sync_error, sync_run) are both on
# the search_path; a workflow row is packsync's only when managed_workflow
# names its id.
EXISTING_TABLES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = ANY($2::text[]) AND c.relkind IN ('r', 'p')
"""

# The whole registered state of one pack in one round trip (a sweep does this
# for every pack): the Attune pack row, packsync's record of it, the workflow
# rows packsync owns (with whether the Attune row still exists), the refs of
# this pack's workflow and action rows packsync does not own, the error rows.
PACK_STATE = """
WITH p AS (SELECT id, ref, label, description, version, tags, dependencies, meta, storage_path
           FROM pack WHERE ref = $1)
SELECT
  (SELECT to_jsonb(p) FROM p) AS pack,
  (SELECT to_jsonb(m) FROM (
      SELECT sync_group, created_pack_id, storage_path, checksum, stamp
      FROM managed_pack WHERE pack_ref = $1) m) AS managed,
  coalesce((SELECT jsonb_agg(jsonb_build_array(m.workflow_id, m.ref, m.file_path,
                                               m.content_hash, m.source, m.action_id,
                                               w.id IS NOT NULL, m.link_hash))
            FROM managed_workflow m LEFT JOIN workflow_definition w ON w.id = m.workflow_id
            WHERE m.pack_ref = $1), '[]'::jsonb) AS workflows,
  coalesce((SELECT jsonb_agg(t.ref) FROM (
      SELECT w.ref FROM workflow_definition w
      WHERE w.pack = (SELECT id FROM p)
        AND NOT EXISTS (SELECT 1 FROM managed_workflow m WHERE m.workflow_id = w.id)
      UNION
      SELECT a.ref FROM action a
      WHERE a.pack = (SELECT id FROM p)
        AND NOT EXISTS (SELECT 1 FROM managed_workflow m WHERE m.action_id = a.id)) t),
    '[]'::jsonb) AS taken,
  coalesce((SELECT jsonb_object_agg(file_path, errors)
            FROM workflow_sync_error WHERE pack_ref = $1), '{}'::jsonb) AS errors
"""

# Packs this sync group manages, with how many workflow rows each source holds.
GROUP_PACKS = """
SELECT mp.pack_ref AS ref,
       count(m.workflow_id) FILTER (WHERE m.source = 'file') AS file_rows,
       count(m.workflow_id) FILTER (WHERE m.source = 'api') AS api_rows
FROM managed_pack mp LEFT JOIN managed_workflow m ON m.pack_ref = mp.pack_ref
WHERE mp.sync_group = $1
GROUP BY mp.pack_ref
"""
# Packs that only have error rows (never registered: broken pack.yaml), per group.
GROUP_ERROR_ONLY_PACKS = """
SELECT DISTINCT e.pack_ref FROM workflow_sync_error e
WHERE e.sync_group = $1 AND NOT EXISTS (SELECT 1 FROM managed_pack m WHERE m.pack_ref = e.pack_ref)
"""
PACK_OWNER = "SELECT sync_group FROM managed_pack WHERE pack_ref = $1"
MANAGED_PACK = "SELECT sync_group, created_pack_id FROM managed_pack WHERE pack_ref = $1"
PACK_ID = "SELECT id FROM pack WHERE ref = $1"

# Every foreign key onto Attune's pack table (actions, rules, sensors, ...):
# what may hang off a pack row packsync created.
PACK_REFERENCES = """
SELECT n.nspname AS schema, t.relname AS table, a.attname AS column
FROM pg_constraint c
JOIN pg_class t ON t.oid = c.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
WHERE c.contype = 'f' AND c.confrelid = to_regclass('pack')
"""


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def foreign_pack_rows(schema: str, table: str, column: str) -> str:
    """Does `table` hold a row of pack $1 that packsync does not own?
    Names come from the catalog (PACK_REFERENCES), quoted here."""
    target = f"{_quoted(schema)}.{_quoted(table)}"
    where = f"t.{_quoted(column)} = $1"
    if table == "workflow_definition":
        where += " AND t.id NOT IN (SELECT workflow_id FROM managed_workflow)"
    elif table == "action":
        where += (
            " AND t.id NOT IN (SELECT action_id FROM managed_workflow WHERE action_id IS NOT NULL)"
        )
    return f"SELECT EXISTS (SELECT 1 FROM {target} t WHERE {where})"  # noqa: S608


# ---------------------------------------------------------------- writes
# A pack row packsync creates from pack.yaml; NULL when Attune's pack loader
# (or anyone) created the ref since it was read.
INSERT_PACK = """
INSERT INTO pack (ref, label, description, version, tags, dependencies, meta, storage_path)
VALUES ($1, $2, $3, $4, $5::text[], $6::text[], $7::jsonb, $8)
ON CONFLICT (ref) DO NOTHING
RETURNING id
"""
# Only ever called for the pack row packsync created (managed_pack.created_pack_id).
UPDATE_CREATED_PACK = """
UPDATE pack SET label = $2, description = $3, version = $4, tags = $5::text[],
    dependencies = $6::text[], meta = $7::jsonb, storage_path = $8
WHERE id = $1
"""
DELETE_CREATED_PACK = "DELETE FROM pack WHERE id = $1"
UPSERT_MANAGED_PACK = """
INSERT INTO managed_pack (pack_ref, sync_group, created_pack_id, storage_path, checksum, stamp)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (pack_ref) DO UPDATE SET
    created_pack_id = EXCLUDED.created_pack_id, storage_path = EXCLUDED.storage_path,
    checksum = EXCLUDED.checksum, stamp = EXCLUDED.stamp, updated = now()
WHERE managed_pack.sync_group = EXCLUDED.sync_group
RETURNING pack_ref
"""
# An unchanged pack (same checksum) whose files' stat stamp moved (a touch, a
# copy): the new stamp, so the next sweep skips it again.
SET_PACK_STAMP = """
UPDATE managed_pack SET stamp = $3
WHERE pack_ref = $1 AND sync_group = $2 AND stamp IS DISTINCT FROM $3
"""
# The packs of a group a sweep may skip by their stamp: the conditions of
# plan.unchanged_pack that the database decides (a pack row, no error row, no
# stale state row), with the file rows to report as unchanged.
STAMPED_PACKS = """
SELECT mp.pack_ref AS ref, mp.stamp, mp.storage_path,
       coalesce((SELECT jsonb_agg(jsonb_build_array(m.workflow_id, m.ref, m.file_path))
                 FROM managed_workflow m
                 WHERE m.pack_ref = mp.pack_ref AND m.source = 'file'), '[]'::jsonb) AS files
FROM managed_pack mp
WHERE mp.sync_group = $1 AND mp.stamp IS NOT NULL
  AND EXISTS (SELECT 1 FROM pack p WHERE p.ref = mp.pack_ref)
  AND NOT EXISTS (SELECT 1 FROM workflow_sync_error e WHERE e.pack_ref = mp.pack_ref)
  AND NOT EXISTS (SELECT 1 FROM managed_workflow m
                  WHERE m.pack_ref = mp.pack_ref AND m.source = 'file'
                    AND NOT EXISTS (SELECT 1 FROM workflow_definition w
                                    WHERE w.id = m.workflow_id))
"""
# The pack's state goes with its last packsync row: api rows keep it.
DELETE_MANAGED_PACK_IF_EMPTY = """
DELETE FROM managed_pack mp WHERE mp.pack_ref = $1 AND mp.sync_group = $2
AND NOT EXISTS (SELECT 1 FROM managed_workflow m WHERE m.pack_ref = mp.pack_ref)
RETURNING created_pack_id
"""

# $1 pack id, $2 pack ref, then one array per column. JSON values travel as
# text and are cast here: asyncpg would read a Python list inside an array
# parameter as another array dimension. A ref someone else holds inserts
# nothing (no row returned): the caller reports a ref-conflict.
INSERT_WORKFLOWS = """
INSERT INTO workflow_definition (ref, pack, pack_ref, label, description, version,
    param_schema, out_schema, definition, tags)
SELECT r.ref, $1, $2, r.label, r.description, r.version,
       r.param_schema::jsonb, r.out_schema::jsonb, r.definition::jsonb,
       ARRAY(SELECT jsonb_array_elements_text(r.tags::jsonb))
FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
            $9::text[], $10::text[])
     AS r(ref, label, description, version, param_schema, out_schema, definition, tags)
ON CONFLICT (ref) DO NOTHING
RETURNING id, ref
"""
# Only rows packsync owns (ids from managed_workflow) are ever updated.
UPDATE_WORKFLOWS = """
UPDATE workflow_definition w SET
    label = r.label, description = r.description, version = r.version,
    param_schema = r.param_schema::jsonb, out_schema = r.out_schema::jsonb,
    definition = r.definition::jsonb, tags = ARRAY(SELECT jsonb_array_elements_text(r.tags::jsonb))
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::text[], $8::text[])
     AS r(id, label, description, version, param_schema, out_schema, definition, tags)
WHERE w.id = r.id AND w.id IN (SELECT workflow_id FROM managed_workflow)
RETURNING w.id, w.ref
"""
# The action row beside each workflow row, as Attune's registrar writes it
# (companion action) or its pack loader (the action an action YAML defines):
# runtime NULL, is_adhoc false, workflow_def = the definition. Updated where
# one is linked, created where none is, in one statement (both parts see the
# rows as they were before it). $1 pack id, $2 pack ref.
_ACTION_ROWS = """
unnest($3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
    AS r(workflow_id, ref, label, description, entrypoint, param_schema, out_schema)
"""
WRITE_WORKFLOW_ACTIONS = f"""
WITH upd AS (
    UPDATE action a SET
        ref = r.ref, label = r.label, description = r.description, entrypoint = r.entrypoint,
        param_schema = r.param_schema::jsonb, out_schema = r.out_schema::jsonb
    FROM {_ACTION_ROWS}
    WHERE a.workflow_def = r.workflow_id AND a.pack = $1 AND a.pack_ref = $2
    RETURNING a.id, a.workflow_def
), ins AS (
    INSERT INTO action (ref, pack, pack_ref, label, description, entrypoint, runtime,
                        param_schema, out_schema, is_adhoc, workflow_def)
    SELECT r.ref, $1, $2, r.label, r.description, r.entrypoint, NULL,
           r.param_schema::jsonb, r.out_schema::jsonb, false, r.workflow_id
    FROM {_ACTION_ROWS}
    WHERE NOT EXISTS (SELECT 1 FROM action a WHERE a.workflow_def = r.workflow_id)
    RETURNING id, workflow_def
)
SELECT id, workflow_def FROM upd UNION ALL SELECT id, workflow_def FROM ins
"""  # noqa: S608 - only constant fragments are formatted in
# packsync's record of the file-managed rows it wrote. $1 pack ref.
UPSERT_MANAGED_WORKFLOWS = """
INSERT INTO managed_workflow (workflow_id, ref, pack_ref, action_id, source, file_path,
                              content_hash, link_hash, enabled)
SELECT r.workflow_id, r.ref, $1, r.action_id, 'file', r.file_path, r.content_hash,
       r.link_hash, r.enabled
FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[],
            $8::boolean[])
     AS r(workflow_id, ref, action_id, file_path, content_hash, link_hash, enabled)
ON CONFLICT (workflow_id) DO UPDATE SET
    ref = EXCLUDED.ref, action_id = EXCLUDED.action_id, file_path = EXCLUDED.file_path,
    content_hash = EXCLUDED.content_hash, link_hash = EXCLUDED.link_hash,
    enabled = EXCLUDED.enabled, updated = now()
"""
# Deleting a workflow row deletes its action row with it (action.workflow_def
# ON DELETE CASCADE), as Attune's registrar relies on.
_DELETE_MANAGED = """
WITH gone AS (DELETE FROM managed_workflow WHERE {where} AND source = 'file'
              RETURNING workflow_id)
DELETE FROM workflow_definition w USING gone WHERE w.id = gone.workflow_id
RETURNING w.id, w.ref
"""
DELETE_WORKFLOWS = _DELETE_MANAGED.format(where="workflow_id = ANY($1::bigint[])")
DELETE_PACK_FILE_WORKFLOWS = _DELETE_MANAGED.format(where="pack_ref = $1")
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
# prune keeps the newest $14 - 1 older rows, plus the new one. The definition
# versions the run wrote ($15, workflow_version ids) get its id.
RECORD_SYNC_RUN = """
WITH run AS (
    INSERT INTO sync_run (pack_ref, trigger, started, finished, loaded, created, updated,
                          unchanged, deleted, failed, outcome, sync_group, message)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
    RETURNING id
), versions AS (
    UPDATE workflow_version SET sync_run_id = (SELECT id FROM run)
    WHERE id = ANY($15::bigint[])
)
DELETE FROM sync_run WHERE sync_group = $12 AND id <= (
    SELECT id FROM sync_run WHERE sync_group = $12
    ORDER BY id DESC OFFSET $14::bigint - 1 LIMIT 1)
"""
GROUP_STATS = """
SELECT
  (SELECT count(*) FROM managed_pack WHERE sync_group = $1) AS packs,
  (SELECT count(*) FROM managed_workflow w JOIN managed_pack p ON p.pack_ref = w.pack_ref
   JOIN workflow_definition d ON d.id = w.workflow_id
   WHERE p.sync_group = $1) AS workflows,
  (SELECT count(*) FROM workflow_sync_error WHERE sync_group = $1) AS invalid_files
"""

# ---------------------------------------------------------------- reads for CLI / API
# Every workflow in Attune's table, with packsync's state where it owns the
# row: source 'file' | 'api' (packsync's), 'attune' (written by Attune itself).
WORKFLOWS_FROM = "workflow_definition w LEFT JOIN managed_workflow m ON m.workflow_id = w.id"
_SUMMARY_COLUMNS = """
w.id, w.ref, w.pack_ref, w.label, w.description, w.version, coalesce(w.tags, '{}') AS tags,
coalesce(m.enabled, true) AS enabled, coalesce(m.source, 'attune') AS source, m.file_path,
w.created, w.updated,
EXISTS (SELECT 1 FROM workflow_sync_error e
        WHERE e.pack_ref = w.pack_ref AND e.file_path = m.file_path) AS failing
"""
GET_WORKFLOW = f"""
SELECT {_SUMMARY_COLUMNS}, w.param_schema, w.out_schema, w.definition, m.content_hash,
       (SELECT e.errors FROM workflow_sync_error e
        WHERE e.pack_ref = w.pack_ref AND e.file_path = m.file_path) AS sync_errors
FROM {WORKFLOWS_FROM} WHERE w.ref = $1
"""  # noqa: S608 - only constant fragments are formatted in
COUNT_PACK_WORKFLOWS = "SELECT count(*) FROM workflow_definition WHERE pack_ref = $1"
PACK_WORKFLOWS = (
    f"SELECT {_SUMMARY_COLUMNS} FROM {WORKFLOWS_FROM} WHERE w.pack_ref = $1 ORDER BY w.ref"  # noqa: S608
)
# Action existence for packs not on this host: the actions Attune has registered.
REGISTERED_ACTIONS = "SELECT pack_ref, array_agg(ref) AS refs FROM action GROUP BY pack_ref"


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_workflows(wanted: WorkflowFilter) -> tuple[str, str, list[Any], int]:
    """(rows sql, count sql, args, number of filter args). Filters are bound
    parameters; only their presence shapes the SQL text."""
    where: list[str] = []
    args: list[Any] = []
    if wanted.pack is not None:
        args.append(wanted.pack)
        where.append(f"w.pack_ref = ${len(args)}")
    if wanted.tags:
        args.append(list(wanted.tags))
        where.append(f"w.tags && ${len(args)}::text[]")
    if wanted.enabled is not None:
        args.append(wanted.enabled)
        where.append(f"coalesce(m.enabled, true) = ${len(args)}")
    if wanted.search:
        args.append(_like_pattern(wanted.search))
        n = len(args)
        where.append(
            f"(w.ref ILIKE ${n} OR coalesce(w.label, '') ILIKE ${n}"
            f" OR coalesce(w.description, '') ILIKE ${n})"
        )
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    n_filters = len(args)
    rows = f"SELECT {_SUMMARY_COLUMNS} FROM {WORKFLOWS_FROM} {clause} ORDER BY w.ref"  # noqa: S608
    args.append(wanted.offset)
    rows += f" OFFSET ${len(args)}"
    if wanted.limit is not None:
        args.append(wanted.limit)
        rows += f" LIMIT ${len(args)}"
    count = f"SELECT count(*) FROM {WORKFLOWS_FROM} {clause}"  # noqa: S608
    return rows, count, args, n_filters
