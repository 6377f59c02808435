"""preview: what a sync would do, computed by the sync itself, writing nothing.

`plan_sweep` and `plan_one` run `SyncService.sync_all` / `sync_pack` on the
service's dry-run twin (`SyncService.planner`): the same pack lock, the same
scan, load and plan, the same deletion guard, each pack in a READ ONLY
transaction that ends in a rollback. Where the sync would apply the plan, the
twin hands it to `_Collector`, which reads the rows the plan would replace or
delete and diffs them against the rows the sync would write (pipeline/diff.py),
and settles late ref conflicts as `register.settle_written` does after its
upserts. So a plan and the sync that follows it (on unchanged disk and
database) report the same counts, the same refs and the same outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import asyncpg

from packsync.core.results import PackResult, SyncReport, WorkflowResult
from packsync.db import plan_queries
from packsync.pipeline import diff
from packsync.pipeline.plan import Plan, RegisteredPack
from packsync.sync.register import settle_written

if TYPE_CHECKING:
    from packsync.sync.service import SyncService

PackChange = Literal["create", "update", "remove"]
# What the sync's per-workflow change means in a plan.
VERBS = {
    "created": "create",
    "updated": "update",
    "deleted": "delete",
    "unchanged": "unchanged",
    "failed": "failed",
}


@dataclass(slots=True)
class WorkflowDiff:
    """Unified diffs of the stored rows: registered (a/) → planned (b/)."""

    definition: str  # the workflow_definition row; '' when its stored form is unchanged
    action: str  # the action row beside it; '' when it does not change

    def to_dict(self) -> dict[str, str]:
        return {"definition": self.definition, "action": self.action}


@dataclass(slots=True)
class PackPreview:
    """What the plan of one pack adds to its PackResult."""

    # The Attune pack row: "create", "update" (a row packsync created), "remove"
    # (the folder is gone: packsync releases the pack); None: untouched.
    pack_change: PackChange | None = None
    diffs: dict[tuple[str, str | None], WorkflowDiff] = field(default_factory=dict)
    # Registered workflows the deletion guard keeps (the pack's outcome is "refused").
    refused: list[WorkflowResult] = field(default_factory=list)


@dataclass(slots=True)
class PlanReport:
    report: SyncReport
    packs: dict[str, PackPreview] = field(default_factory=dict)

    def preview(self, pack_ref: str) -> PackPreview:
        return self.packs.get(pack_ref) or PackPreview()

    def diff_of(self, pack_ref: str, wr: WorkflowResult) -> WorkflowDiff | None:
        return self.preview(pack_ref).diffs.get((wr.ref, wr.file_path))

    @property
    def changes_pending(self) -> bool:
        """The sync would create, update or delete a workflow, or a pack row."""
        t = self.report.totals
        return bool(t["created"] or t["updated"] or t["deleted"]) or any(
            p.pack_change for p in self.packs.values()
        )

    @property
    def failed(self) -> bool:
        """The sync would exit 1: a failing file or pack, a conflict, a refusal."""
        return self.report.has_errors or self.report.outcome != "ok"

    def to_dict(self) -> dict[str, Any]:
        data = self.report.to_dict()
        data["changes_pending"] = self.changes_pending
        for pack in data["packs"]:
            preview = self.preview(pack["pack_ref"])
            pack["pack_change"] = preview.pack_change
            pack["refused"] = [w.to_dict() for w in preview.refused]
            for wf in pack["workflows"]:
                found = preview.diffs.get((wf["ref"], wf["file_path"]))
                wf["diff"] = None if found is None else found.to_dict()
        return data


async def plan_sweep(
    service: SyncService, *, only: list[str] | None = None, allow_mass_delete: bool = False
) -> PlanReport:
    """What `sync_all` would do now (every pack, or the named ones)."""
    collector = _Collector()
    report = await service.planner(collector).sync_all(
        trigger="cli", only=only, allow_mass_delete=allow_mass_delete
    )
    return PlanReport(report, collector.packs)


async def plan_one(service: SyncService, ref: str, *, trigger: str = "api") -> PlanReport:
    """What `sync_pack` would do now (the API's and the watcher's single-pack sync)."""
    collector = _Collector()
    result = await service.planner(collector).sync_pack(ref, trigger=trigger)
    return PlanReport(SyncReport(packs=[result]), collector.packs)


def _pack_change(registered: RegisteredPack, plan: Plan) -> PackChange | None:
    if plan.remove_pack:
        return "remove"
    if plan.pack_row is not None:
        return "create" if plan.pack_id is None else "update"
    return None


class _Collector:
    """The dry run's stand-in for `apply_plan`: called in the pack's read-only
    transaction with every plan the sync would apply (or skip)."""

    def __init__(self) -> None:
        self.packs: dict[str, PackPreview] = {}

    async def __call__(
        self, conn: asyncpg.Connection, registered: RegisteredPack, plan: Plan
    ) -> None:
        result = plan.result
        preview = PackPreview(pack_change=_pack_change(registered, plan))
        self.packs[result.pack_ref] = preview
        if result.outcome == "refused":
            preview.refused = [
                WorkflowResult(row.ref, path, "unchanged", row.id)
                for path, row in sorted(registered.file_rows().items())
            ]
            return
        if plan.upserts:
            await self._settle(conn, registered, plan)
        await self._diffs(conn, plan, preview)

    @staticmethod
    async def _settle(conn: asyncpg.Connection, registered: RegisteredPack, plan: Plan) -> None:
        """Created workflows whose ref another row holds fail, as in the sync."""
        gone = set(plan.delete_ids)
        if plan.remove_pack:
            gone |= {w.id for w in registered.workflows if w.source == "file"}
        created = [w.ref for w in plan.upserts if w.file_path not in plan.replaces]
        taken = {r["ref"] for r in await conn.fetch(plan_queries.TAKEN_REFS, created, sorted(gone))}
        ids = {
            w.ref: plan.replaces.get(w.file_path)
            for w in plan.upserts
            if w.file_path in plan.replaces or w.ref not in taken
        }
        settle_written(plan.result, ids, plan.result.pack_ref)

    @staticmethod
    async def _diffs(conn: asyncpg.Connection, plan: Plan, preview: PackPreview) -> None:
        result: PackResult = plan.result
        by_path = {w.file_path: w for w in plan.upserts}
        old_ids = sorted(
            {*plan.replaces.values()}
            | {w.id for w in result.workflows if w.change == "deleted" and w.id is not None}
        )
        rows: dict[int, dict[str, Any]] = {}
        actions: dict[int, dict[str, Any]] = {}
        if old_ids:
            for r in await conn.fetch(plan_queries.WORKFLOW_ROWS, old_ids):
                rows[r["id"]] = dict(r)
            for r in await conn.fetch(plan_queries.ACTION_ROWS, old_ids):
                actions[r["workflow_def"]] = dict(r)
        for wr in result.workflows:
            if wr.change in ("created", "updated") and wr.file_path in by_path:
                wf = by_path[wr.file_path]
                old_id = plan.replaces.get(wf.file_path)
                new_wf: dict[str, Any] | None = diff.planned_workflow(wf, plan)
                new_action: dict[str, Any] | None = diff.planned_action(wf, plan, result.pack_ref)
            elif wr.change == "deleted":
                old_id, new_wf, new_action = wr.id, None, None
            else:
                continue
            old_wf = diff.row_document(rows.get(old_id or -1), diff.WORKFLOW_FIELDS)
            old_action = diff.row_document(actions.get(old_id or -1), diff.ACTION_FIELDS)
            where = wr.file_path or wr.ref
            action_ref = (new_action or old_action or {}).get("ref") or wr.ref
            preview.diffs[(wr.ref, wr.file_path)] = WorkflowDiff(
                definition=diff.unified(
                    diff.document(old_wf),
                    diff.document(new_wf),
                    f"a/workflow_definition/{wr.ref}",
                    f"b/workflow_definition/{wr.ref} ({where})",
                ),
                action=diff.unified(
                    diff.document(old_action),
                    diff.document(new_action),
                    f"a/action/{action_ref}",
                    f"b/action/{action_ref}",
                ),
            )
