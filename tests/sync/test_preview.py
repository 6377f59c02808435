"""`packsync plan`: the sync's own planning, read-only, against a real database.

The contract: a plan and the sync that follows it (disk and database left
alone in between) report the same counts, refs, changes and outcomes, and the
plan itself writes nothing (no row, no history, not even a sequence value).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from packsync.cli import exitcodes
from packsync.cli.planoutput import render_github, render_markdown, render_text
from packsync.config import Settings
from packsync.core.results import PackResult, SyncReport
from packsync.sync.preview import PlanReport, plan_one, plan_sweep
from packsync.sync.service import SyncService
from tests.cli.test_commands import packsync
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml, write

BROKEN = "version: '1.0'\ntasks: [\n"


async def _snapshot(pool: asyncpg.Pool, db_schema: str) -> dict[str, Any]:
    """Everything a write would change: rows with their xmin, history, sequences."""
    async with pool.acquire() as conn:
        sequence = await conn.fetchval(
            "SELECT pg_get_serial_sequence(quote_ident($1) || '.workflow_definition', 'id')",
            db_schema,
        )
        return {
            "workflows": await conn.fetch(
                "SELECT id, ref, xmin::text, definition FROM workflow_definition ORDER BY id"
            ),
            "actions": await conn.fetch("SELECT id, ref, xmin::text FROM action ORDER BY id"),
            "packs": await conn.fetch("SELECT id, ref, xmin::text FROM pack ORDER BY id"),
            "managed": await conn.fetch(
                "SELECT workflow_id, xmin::text FROM managed_workflow ORDER BY 1"
            ),
            "errors": await conn.fetch(
                "SELECT pack_ref, file_path, xmin::text FROM workflow_sync_error ORDER BY 1, 2"
            ),
            "runs": await conn.fetchval("SELECT count(*) FROM sync_run"),
            "seq": await conn.fetchval(f"SELECT last_value FROM {sequence}"),
        }


def _changes(packs: list[PackResult]) -> set[tuple[str, str, str | None, str]]:
    return {(p.pack_ref, w.ref, w.file_path, w.change) for p in packs for w in p.workflows}


def _outcomes(report: SyncReport) -> dict[str, tuple[str, dict[str, int]]]:
    return {p.pack_ref: (p.outcome, p.counts()) for p in report.packs}


def _assert_same(plan: PlanReport, sync: SyncReport) -> None:
    assert plan.report.totals == sync.totals
    assert _outcomes(plan.report) == _outcomes(sync)
    assert _changes(plan.report.packs) == _changes(sync.packs)
    assert plan.report.refused_deletes == sync.refused_deletes
    assert plan.report.outcome == sync.outcome


@pytest.fixture
async def registered(service: SyncService, packs: Path) -> Path:
    """core, demo (3 workflows, one action-linked), ops (1), web (1), all synced."""
    make_core_pack(packs)
    make_pack(
        packs,
        "demo",
        {"deploy.yaml": workflow_yaml("Deploy"), "old.yaml": workflow_yaml("Old")},
        actions={
            "release.yaml": "name: release\nrunner_type: workflow\n"
            "entry_point: workflows/release.yaml\nworkflow_file: workflows/release.yaml\n"
        },
        action_workflows={"release.yaml": workflow_yaml("Release")},
    )
    make_pack(packs, "ops", {"backup.yaml": workflow_yaml("Backup")})
    make_pack(packs, "web", {"build.yaml": workflow_yaml("Build")})
    report = await service.sync_all(trigger="cli")
    assert report.outcome == "ok" and report.totals["created"] == 5, report.to_dict()
    return packs


@pytest.mark.both_schemas
async def test_a_plan_matches_the_sync_that_follows_and_writes_nothing(
    settings: Settings, pool: asyncpg.Pool, registered: Path
) -> None:
    packs = registered
    demo = packs / "demo" / "workflows"
    write(demo / "deploy.yaml", workflow_yaml("Deploy v2"))  # update
    (demo / "old.yaml").unlink()  # delete
    write(demo / "new.yaml", workflow_yaml("New"))  # create
    write(demo / "bad.yaml", BROKEN)  # a new failing file: not registered
    write(packs / "ops" / "workflows" / "backup.yaml", BROKEN)  # failing: keeps last good
    make_pack(packs, "fresh", {"first.yaml": workflow_yaml("First")})  # new pack row
    (packs / "web" / "workflows" / "build.yaml").unlink()
    (packs / "web" / "pack.yaml").unlink()
    (packs / "web" / "workflows").rmdir()
    (packs / "web").rmdir()  # removed pack (1 of 4: under max_delete_fraction)
    before = await _snapshot(pool, settings.db_schema)

    plan = await plan_sweep(SyncService(settings, pool))

    assert (
        await _snapshot(pool, settings.db_schema) == before
    )  # nothing written, no history, no sequence value
    verbs = {(w.ref, w.change) for p in plan.report.packs for w in p.workflows}
    assert {
        ("demo.deploy", "updated"),
        ("demo.old", "deleted"),
        ("demo.new", "created"),
        ("demo.bad", "failed"),
        ("demo.release", "unchanged"),
        ("ops.backup", "failed"),
        ("fresh.first", "created"),
        ("web.build", "deleted"),
    } == verbs
    assert plan.preview("fresh").pack_change == "create"
    assert plan.preview("web").pack_change == "remove"
    assert plan.changes_pending and plan.failed

    sync = await SyncService(settings, pool).sync_all(trigger="cli")
    _assert_same(plan, sync)

    again = await plan_sweep(SyncService(settings, pool))
    assert not again.changes_pending  # the sync did exactly what was planned
    assert again.report.totals["failed"] == 2  # ...and the failing files still fail


@pytest.mark.both_schemas
async def test_single_pack_plan_matches_sync_pack(
    settings: Settings, pool: asyncpg.Pool, registered: Path
) -> None:
    write(registered / "ops" / "workflows" / "extra.yaml", workflow_yaml("Extra"))
    write(registered / "ops" / "workflows" / "backup.yaml", workflow_yaml("Backup v2"))
    plan = await plan_one(SyncService(settings, pool), "ops")
    result = await SyncService(settings, pool).sync_pack("ops", trigger="cli")
    _assert_same(plan, SyncReport(packs=[result]))
    assert {(w.ref, w.change) for w in result.workflows} == {
        ("ops.extra", "created"),
        ("ops.backup", "updated"),
    }


async def test_a_refused_mass_delete_is_planned_as_refused(
    settings: Settings, pool: asyncpg.Pool, registered: Path
) -> None:
    import shutil

    for ref in ("demo", "ops", "web"):
        shutil.rmtree(registered / ref)
    before = await _snapshot(pool, settings.db_schema)
    plan = await plan_sweep(SyncService(settings, pool))
    assert await _snapshot(pool, settings.db_schema) == before
    assert sorted(plan.report.refused_deletes) == ["demo", "ops", "web"]
    assert {w.ref for w in plan.preview("demo").refused} == {
        "demo.deploy",
        "demo.old",
        "demo.release",
    }
    assert plan.failed and not plan.changes_pending
    assert "= refused" in render_text(plan)
    sync = await SyncService(settings, pool).sync_all(trigger="cli")
    _assert_same(plan, sync)

    confirmed = await plan_sweep(SyncService(settings, pool), allow_mass_delete=True)
    assert confirmed.report.totals["deleted"] == 5 and confirmed.changes_pending
    done = await SyncService(settings, pool).sync_all(trigger="cli", allow_mass_delete=True)
    _assert_same(confirmed, done)


async def test_a_ref_taken_by_another_pack_fails_in_the_plan_as_in_the_sync(
    settings: Settings, pool: asyncpg.Pool, registered: Path
) -> None:
    # Attune's own row (not packsync's) holds the ref in another pack: the
    # sync's INSERT ... ON CONFLICT skips it and reports a ref conflict.
    async with pool.acquire() as conn:
        pack_id = await conn.fetchval("SELECT id FROM pack WHERE ref = 'ops'")
        await conn.execute(
            "INSERT INTO workflow_definition (ref, pack, pack_ref, label, version, definition)"
            " VALUES ('demo.stolen', $1, 'ops', 'x', '1.0', '{}')",
            pack_id,
        )
    write(registered / "demo" / "workflows" / "stolen.yaml", workflow_yaml("Stolen"))
    plan = await plan_sweep(SyncService(settings, pool), only=["demo"])
    sync = await SyncService(settings, pool).sync_all(trigger="cli", only=["demo"])
    _assert_same(plan, sync)
    (stolen,) = [w for w in sync.packs[0].workflows if w.ref == "demo.stolen"]
    assert stolen.change == "failed" and stolen.errors[0].code == "ref-conflict"


async def test_diffs_show_the_stored_rows_that_change(
    settings: Settings, pool: asyncpg.Pool, registered: Path
) -> None:
    deploy = registered / "demo" / "workflows" / "deploy.yaml"
    write(deploy, workflow_yaml("Deploy").replace("core.noop", "core.echo"))
    write(registered / "ops" / "workflows" / "backup.yaml", workflow_yaml("Backup v2"))
    plan = await plan_sweep(SyncService(settings, pool))

    demo = next(p for p in plan.report.packs if p.pack_ref == "demo")
    (updated,) = [w for w in demo.workflows if w.change == "updated"]
    found = plan.diff_of("demo", updated)
    assert found is not None
    assert "-  - action: core.noop\n+  - action: core.echo\n" in found.definition
    assert found.definition.startswith("--- a/workflow_definition/demo.deploy\n")
    assert found.action == ""  # only a task changed: the action row stays as it is

    ops = next(p for p in plan.report.packs if p.pack_ref == "ops")
    backup = plan.diff_of("ops", ops.workflows[0])
    assert backup is not None
    assert "-label: Backup\n+label: Backup v2\n" in backup.definition
    assert "-label: Backup\n+label: Backup v2\n" in backup.action  # the companion follows

    data = json.loads(json.dumps(plan.to_dict()))
    wf = next(w for p in data["packs"] for w in p["workflows"] if w["ref"] == "ops.backup")
    assert wf["change"] == "updated" and "+label: Backup v2" in wf["diff"]["definition"]
    assert data["changes_pending"] is True


async def test_markdown_is_a_pull_request_comment(
    settings: Settings, pool: asyncpg.Pool, registered: Path
) -> None:
    write(registered / "demo" / "workflows" / "deploy.yaml", workflow_yaml("Deploy | v2"))
    write(registered / "demo" / "workflows" / "bad.yaml", BROKEN)
    (registered / "ops" / "workflows" / "backup.yaml").unlink()
    plan = await plan_sweep(SyncService(settings, pool))
    md = render_markdown(plan)
    lines = md.splitlines()
    assert lines[0] == "### packsync plan"
    assert "**Plan: 0 to create, 1 to update, 1 to delete" in md
    header = "| Pack | Outcome | Create | Update | Delete | Unchanged | Failing | Pack row |"
    assert header in lines
    assert "| `demo` | errors | 0 | 1 | 0 | 2 | 1 |  |" in lines
    assert "| `ops` | ok | 0 | 0 | 1 | 0 | 0 |  |" in lines
    assert not any(line.startswith("| `core`") for line in lines)  # unchanged packs: no row
    # each change folds its diff; a pipe in a label does not break the table
    assert "<details><summary>~ update <code>demo.deploy</code> (workflows/deploy.yaml)" in md
    assert "```diff\n--- a/workflow_definition/demo.deploy" in md
    assert "+label: Deploy | v2" in md
    assert md.count("<details>") == md.count("</details>")
    assert "error[" in md and "bad.yaml" in md  # the failing file's located diagnostic

    gh = render_github(plan, settings.packs_base_dir).splitlines()
    deploy = settings.packs_base_dir / "demo" / "workflows" / "deploy.yaml"
    assert f"::notice file={deploy},title=packsync plan%3A update::update demo.deploy" in gh
    assert any(line.startswith("::error file=") and "bad.yaml" in line for line in gh)
    assert gh[-1].startswith("::notice") and "1 to update" in gh[-1]


def test_cli_exit_codes(
    tmp_path: Path, db_env: dict[str, str], settings: Settings, pool: asyncpg.Pool
) -> None:
    base = settings.packs_base_dir
    args = ("--packs-base-dir", str(base))
    make_core_pack(base)
    make_pack(base, "demo", {"deploy.yaml": workflow_yaml("Deploy")})

    pending = packsync("plan", *args, env=db_env)
    assert pending.returncode == exitcodes.CHANGES_PENDING, pending.stdout + pending.stderr
    assert "+ create   demo.deploy" in pending.stdout
    assert pending.stdout.rstrip().endswith(
        "1 to create, 0 to update, 0 to delete, 0 unchanged, 0 failing; 2 pack(s)."
    )

    assert packsync("sync", *args, env=db_env).returncode == exitcodes.OK
    nothing = packsync("plan", *args, "--format", "json", env=db_env)
    assert nothing.returncode == exitcodes.OK, nothing.stdout + nothing.stderr
    data = json.loads(nothing.stdout)
    assert data["changes_pending"] is False and data["totals"]["unchanged"] == 1

    write(base / "demo" / "workflows" / "deploy.yaml", BROKEN)
    failing = packsync("plan", *args, "--format", "github", env=db_env)
    assert failing.returncode == exitcodes.VALIDATION_ERRORS, failing.stdout + failing.stderr
    assert "::error file=" in failing.stdout

    fresh = {**db_env, "ATTUNE__STATE_SCHEMA": db_env["ATTUNE__STATE_SCHEMA"] + "_new"}
    unmigrated = packsync("plan", *args, env=fresh)
    assert unmigrated.returncode == exitcodes.USAGE
    assert "packsync migrate" in unmigrated.stderr and "Traceback" not in unmigrated.stderr


async def test_the_dry_run_transaction_refuses_writes(
    settings: Settings, pool: asyncpg.Pool, registered: Path
) -> None:
    """Not only does the planner skip apply_plan: the database itself would
    refuse a write in its transaction (READ ONLY)."""
    write(registered / "ops" / "workflows" / "backup.yaml", workflow_yaml("Backup v2"))
    refused: list[str] = []

    async def hook(conn: asyncpg.Connection, _registered: Any, plan: Any) -> None:
        try:
            async with conn.transaction():  # a savepoint: the plan's transaction goes on
                await conn.execute("DELETE FROM managed_workflow")
        except asyncpg.ReadOnlySQLTransactionError:
            refused.append(plan.result.pack_ref)

    result = await SyncService(settings, pool).planner(hook).sync_pack("ops", trigger="cli")
    assert refused == ["ops"] and result.updated == 1
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM managed_workflow") == 5


async def test_a_pack_of_another_sync_group_is_planned_as_a_conflict(
    settings: Settings, pool: asyncpg.Pool, registered: Path
) -> None:
    other = settings.model_copy(update={"sync_group": "edge"})
    make_pack(registered, "edge", {"probe.yaml": workflow_yaml("Probe")})
    assert (await SyncService(other, pool).sync_pack("edge", trigger="cli")).created == 1
    write(registered / "edge" / "workflows" / "probe.yaml", workflow_yaml("Probe v2"))
    plan = await plan_sweep(SyncService(settings, pool), only=["edge"])
    (edge,) = plan.report.packs
    assert edge.outcome == "conflict" and edge.diagnostics[-1].code == "pack-conflict"
    assert plan.failed and not plan.changes_pending
    sync = await SyncService(settings, pool).sync_all(trigger="cli", only=["edge"])
    _assert_same(plan, sync)


async def test_a_pack_row_change_alone_is_a_pending_change(
    settings: Settings, pool: asyncpg.Pool, registered: Path
) -> None:
    write(
        registered / "web" / "pack.yaml",
        "ref: web\nlabel: Web front\nversion: 1.1.0\ndescription: test pack web\n",
    )
    plan = await plan_sweep(SyncService(settings, pool), only=["web"])
    assert plan.preview("web").pack_change == "update"
    assert plan.report.totals["unchanged"] == 1 and plan.changes_pending and not plan.failed
    assert "(pack row: update)" in render_text(plan)
    await SyncService(settings, pool).sync_all(trigger="cli", only=["web"])
    after = await plan_sweep(SyncService(settings, pool), only=["web"])
    assert not after.changes_pending and after.preview("web").pack_change is None
