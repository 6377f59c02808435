"""register: apply a `Plan` inside the caller's transaction.

One batched statement per kind of write (pack row, workflow upserts, deletes,
error rows set, error rows cleared): a pack of 500 workflows costs a handful
of round trips, never one per row.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from packsync.db import queries
from packsync.diagnostics import error
from packsync.pipeline.plan import Plan, RegisteredPack, RegisteredWorkflow


def _json_text(value: Any) -> str | None:
    """JSON text for a jsonb column; YAML dates and the like become strings."""
    return None if value is None else json.dumps(value, default=str)


async def read_registered(conn: asyncpg.Connection, ref: str) -> RegisteredPack:
    """The registered state of one pack (call it under the pack lock)."""
    row = await conn.fetchrow(queries.PACK_ROW, ref)
    workflows = await conn.fetch(queries.PACK_WORKFLOW_ROWS, ref)
    errors = await conn.fetch(queries.PACK_ERROR_ROWS, ref)
    return RegisteredPack(
        ref=ref,
        row=dict(row) if row is not None else None,
        workflows=[
            RegisteredWorkflow(r["id"], r["ref"], r["file_path"], r["content_hash"], r["source"])
            for r in workflows
        ],
        errors={r["file_path"]: r["errors"] for r in errors},
    )


async def apply_plan(conn: asyncpg.Connection, plan: Plan, *, sync_group: str) -> None:
    """Write the plan; fills ids of created rows into `plan.result`.

    Must run inside a transaction holding the pack's advisory lock.
    """
    result = plan.result
    ref = result.pack_ref
    if plan.remove_pack:
        await conn.execute(queries.DELETE_PACK_FILE_WORKFLOWS, ref)
        await conn.execute(queries.DELETE_PACK_IF_EMPTY, ref, sync_group)
    pack_id = plan.pack_id
    if plan.pack_row is not None:
        p = plan.pack_row
        pack_id = await conn.fetchval(
            queries.UPSERT_PACK,
            p.ref,
            p.label,
            p.description,
            p.version,
            p.tags,
            p.dependencies,
            p.meta,
            p.storage_path,
            p.checksum,
            p.sync_group,
        )
        if pack_id is None:  # owned by another group since we read it (lock prevents this)
            raise RuntimeError(f"pack {ref!r} changed owner during sync")
    if plan.delete_ids:
        await conn.execute(queries.DELETE_WORKFLOWS, plan.delete_ids)
    if plan.upserts:
        assert pack_id is not None
        wfs = plan.upserts
        rows = await conn.fetch(
            queries.UPSERT_WORKFLOWS,
            pack_id,
            ref,
            [w.ref for w in wfs],
            [w.label for w in wfs],
            [w.description for w in wfs],
            [w.version for w in wfs],
            [_json_text(w.param_schema) for w in wfs],
            [_json_text(w.out_schema) for w in wfs],
            [_json_text(w.definition) for w in wfs],
            [json.dumps([str(t) for t in w.tags]) for w in wfs],
            [w.enabled for w in wfs],
            [w.file_path for w in wfs],
            [w.content_hash for w in wfs],
        )
        ids = {r["ref"]: r["id"] for r in rows}
        for wr in result.workflows:
            if wr.change in ("created", "updated"):
                if wr.ref in ids:
                    wr.id = ids[wr.ref]
                else:  # a row with this ref exists outside this pack's file rows
                    wr.change = "failed"
                    wr.errors.append(
                        error(
                            wr.file_path or ref,
                            "ref-conflict",
                            f"workflow ref '{wr.ref}' is already registered by another pack "
                            "or through the API",
                        )
                    )
        for name in ("created", "updated", "failed"):
            setattr(result, name, sum(1 for w in result.workflows if w.change == name))
        if result.failed and result.outcome == "ok":
            result.outcome = "errors"
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
