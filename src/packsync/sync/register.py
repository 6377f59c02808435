"""register: apply a `Plan` inside the caller's transaction.

Writes Attune's rows the way Attune's registrar (and, for action-linked
workflows, its pack loader) does: the workflow_definition row, then the action
row beside it (runtime NULL, is_adhoc false, workflow_def = the definition),
and packsync's record of both in the state schema, all in the pack's one
transaction. One batched statement per kind of write: a pack of 500
workflows costs a handful of round trips, never one per row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import asyncpg

from packsync.core.diagnostics import error
from packsync.core.results import PackResult
from packsync.db import queries
from packsync.pipeline.model import ParsedWorkflow
from packsync.pipeline.plan import Plan, RegisteredPack, RegisteredWorkflow
from packsync.pipeline.rows import action_columns, workflow_columns
from packsync.sync.history import Recording, baseline
from packsync.sync.history import record as record_versions


def _json_text(value: Any) -> str | None:
    """JSON text for a jsonb column (None → SQL NULL, never JSON null); YAML
    dates and the like become strings."""
    return None if value is None else json.dumps(value, default=str)


async def read_registered(conn: asyncpg.Connection, ref: str) -> RegisteredPack:
    """The registered state of one pack (call it under the pack lock)."""
    state = await conn.fetchrow(queries.PACK_STATE, ref)
    return RegisteredPack(
        ref=ref,
        pack=state["pack"],
        managed=state["managed"],
        workflows=[RegisteredWorkflow(*w) for w in state["workflows"]],
        taken=set(state["taken"]),
        errors=state["errors"],
    )


def _workflow_arrays(rows: list[dict[str, Any]], wfs: list[ParsedWorkflow]) -> list[list[Any]]:
    return [
        [r["label"] for r in rows],
        [r["description"] for r in rows],
        [r["version"] for r in rows],
        [_json_text(r["param_schema"]) for r in rows],
        [_json_text(r["out_schema"]) for r in rows],
        [_json_text(w.definition) for w in wfs],
        [json.dumps(r["tags"]) for r in rows],
    ]


async def apply_plan(
    conn: asyncpg.Connection, plan: Plan, *, sync_group: str, history: Recording
) -> None:
    """Write the plan; fills ids of created rows into `plan.result`, and the
    definitions' new versions (history.py) into `plan.result.version_ids`.

    Must run inside a transaction holding the pack's advisory lock.
    """
    ref = plan.result.pack_ref
    await baseline(
        conn,
        [*plan.delete_ids, *plan.replaces.values()],
        pack_files=ref if plan.remove_pack else None,
    )
    gone: list[str] = []
    if plan.remove_pack:
        gone += [r["ref"] for r in await conn.fetch(queries.DELETE_PACK_FILE_WORKFLOWS, ref)]
        await release_pack(conn, ref, sync_group)
    pack_id = await _write_pack(conn, plan, ref, sync_group)
    if plan.stamp is not None:
        await conn.execute(queries.SET_PACK_STAMP, ref, sync_group, plan.stamp)
    if plan.delete_ids:
        gone += [r["ref"] for r in await conn.fetch(queries.DELETE_WORKFLOWS, plan.delete_ids)]
    written: list[int] = []
    if plan.upserts:
        assert pack_id is not None
        written = await _write_workflows(conn, plan, pack_id, ref)
    plan.result.version_ids += await record_versions(conn, history, written=written, deleted=gone)
    await _write_errors(conn, plan, ref, sync_group)


async def _write_pack(
    conn: asyncpg.Connection, plan: Plan, ref: str, sync_group: str
) -> int | None:
    pack_id, created = plan.pack_id, plan.created_pack_id
    if plan.pack_row is not None:
        p = plan.pack_row
        values = (p.label, p.description, p.version, p.tags, p.dependencies, p.meta)
        if pack_id is None:
            pack_id = await conn.fetchval(queries.INSERT_PACK, ref, *values, p.storage_path)
            if pack_id is None:  # Attune registered the pack since it was read
                raise PackRowRace(ref)
            created = pack_id
        elif pack_id == created:
            await conn.execute(queries.UPDATE_CREATED_PACK, pack_id, *values, p.storage_path)
    if plan.managed is not None:
        m = plan.managed
        owned = await conn.fetchval(
            queries.UPSERT_MANAGED_PACK,
            ref,
            sync_group,
            created,
            m.storage_path,
            m.checksum,
            m.stamp,
        )
        if owned is None:  # owned by another group since we read it (the lock prevents this)
            raise RuntimeError(f"pack {ref!r} changed owner during sync")
    return pack_id


class PackRowRace(asyncpg.UniqueViolationError):  # type: ignore[misc]
    """Someone created the pack row between packsync's read and its insert:
    the pack's transaction rolls back (a data error: the next sync adopts it)."""

    def __init__(self, ref: str) -> None:
        super().__init__(f"pack {ref!r} was registered in Attune during the sync")


async def _write_workflows(
    conn: asyncpg.Connection, plan: Plan, pack_id: int, ref: str
) -> list[int]:
    """Returns the ids of the workflow rows written."""
    result = plan.result
    new = [w for w in plan.upserts if w.file_path not in plan.replaces]
    old = [w for w in plan.upserts if w.file_path in plan.replaces]
    ids: dict[str, int] = {}
    if new:
        cols = [workflow_columns(w, plan) for w in new]
        rows = await conn.fetch(
            queries.INSERT_WORKFLOWS,
            pack_id,
            ref,
            [w.ref for w in new],
            *_workflow_arrays(cols, new),
        )
        ids.update({r["ref"]: r["id"] for r in rows})
    if old:
        cols = [workflow_columns(w, plan) for w in old]
        rows = await conn.fetch(
            queries.UPDATE_WORKFLOWS,
            [plan.replaces[w.file_path] for w in old],
            *_workflow_arrays(cols, old),
        )
        ids.update({r["ref"]: r["id"] for r in rows})
    written = [w for w in plan.upserts if w.ref in ids]
    action_ids = await _write_actions(conn, plan, written, ids, pack_id, ref)
    await conn.execute(
        queries.UPSERT_MANAGED_WORKFLOWS,
        ref,
        [ids[w.ref] for w in written],
        [w.ref for w in written],
        [action_ids.get(ids[w.ref]) for w in written],
        [w.file_path for w in written],
        [w.content_hash for w in written],
        [plan.link_hash(w) for w in written],
        [w.enabled for w in written],
    )
    settle_written(result, ids, ref)
    return [ids[w.ref] for w in written]


def settle_written(result: PackResult, ids: Mapping[str, int | None], pack_ref: str) -> None:
    """After the upserts: a created or updated workflow whose ref got no row
    (another pack, the API or Attune holds that ref) fails with ref-conflict;
    the others get their row id. Shared with the dry run (preview.py)."""
    for wr in result.workflows:
        if wr.change in ("created", "updated"):
            if wr.ref in ids:
                wr.id = ids[wr.ref]
            else:  # a row with this ref appeared since the pack's state was read
                wr.change = "failed"
                wr.errors.append(
                    error(
                        wr.file_path or pack_ref,
                        "ref-conflict",
                        f"workflow ref '{wr.ref}' is already registered by another pack, "
                        "through the API or by Attune itself",
                    )
                )
    if result.failed and result.outcome == "ok":
        result.outcome = "errors"


async def _write_actions(
    conn: asyncpg.Connection,
    plan: Plan,
    written: list[ParsedWorkflow],
    ids: dict[str, int],
    pack_id: int,
    ref: str,
) -> dict[int, int]:
    """The action row of every written workflow: updated where one is linked,
    created where none is. Returns workflow id → action id."""
    if not written:
        return {}
    cols = [action_columns(w, plan, ref) for w in written]
    arrays = [
        [ids[w.ref] for w in written],
        [c["ref"] for c in cols],
        [c["label"] for c in cols],
        [c["description"] for c in cols],
        [c["entrypoint"] for c in cols],
        [_json_text(c["param_schema"]) for c in cols],
        [_json_text(c["out_schema"]) for c in cols],
    ]
    rows = await conn.fetch(queries.WRITE_WORKFLOW_ACTIONS, pack_id, ref, *arrays)
    return {row["workflow_def"]: row["id"] for row in rows}


async def _write_errors(conn: asyncpg.Connection, plan: Plan, ref: str, sync_group: str) -> None:
    if plan.set_errors:
        e = plan.set_errors
        await conn.execute(
            queries.SET_ERRORS,
            ref,
            sync_group,
            [r.file_path for r in e],
            [r.ref for r in e],
            [json.dumps(r.errors, default=str) for r in e],
        )
    if plan.clear_all_errors:
        await conn.execute(queries.CLEAR_PACK_ERRORS, ref, sync_group)
    elif plan.clear_errors:
        await conn.execute(queries.CLEAR_ERRORS, ref, plan.clear_errors)


async def release_pack(conn: asyncpg.Connection, ref: str, sync_group: str) -> None:
    """After a pack's file rows are gone: drop packsync's record of the pack
    when no packsync row is left (API rows keep it), and the Attune pack row
    with it only if packsync created that row and nothing but packsync's rows
    hangs off it (Attune's foreign keys would cascade to actions, rules,
    executions...). A created row something else now uses stays, as Attune's."""
    created = await conn.fetchval(queries.DELETE_MANAGED_PACK_IF_EMPTY, ref, sync_group)
    if created is None:
        return
    pack_id = await conn.fetchval(queries.PACK_ID, ref)
    if pack_id != created or await _has_foreign_rows(conn, pack_id):
        return
    await conn.execute(queries.DELETE_CREATED_PACK, pack_id)


async def _has_foreign_rows(conn: asyncpg.Connection, pack_id: int) -> bool:
    for ref_row in await conn.fetch(queries.PACK_REFERENCES):
        sql = queries.foreign_pack_rows(ref_row["schema"], ref_row["table"], ref_row["column"])
        if await conn.fetchval(sql, pack_id):
            return True
    return False
