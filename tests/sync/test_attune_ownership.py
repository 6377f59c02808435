"""Ownership in Attune's tables (SPEC §5): rows Attune wrote are never touched
by file sync; pack rows are created, updated and deleted only when packsync
created them; action-linked workflows link the action their YAML defines;
action existence is checked against Attune's `action` rows. Runs on packsync's
bootstrap and on Attune's real schema; check_db after each scenario."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest

import packsync.pipeline.load as load_module
from packsync.config import Settings
from packsync.core.results import WorkflowFilter
from packsync.sync.service import SyncService
from tests.conftest import ATTUNE_KIT, DbTarget
from tests.support.attunerows import insert_attune_action
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml, write
from tests.support.paths import EXAMPLES

pytestmark = pytest.mark.both_schemas

ATTUNE_WORKFLOW = """\
ref: shop.api_flow
label: Made in Attune
version: "1.0.0"
tasks:
  - name: only
    action: core.noop
"""


async def rows(pool: asyncpg.Pool, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        return [dict(r) for r in await conn.fetch(sql, *args)]


async def versions(pool: asyncpg.Pool, table: str, where: str = "true") -> dict[str, str]:
    """ref → xmin of the rows: any write changes it."""
    got = await rows(pool, f"SELECT ref, xmin::text AS x FROM {table} WHERE {where}")
    return {r["ref"]: r["x"] for r in got}


def attune_definition(tmp_path: Path) -> dict[str, Any]:
    """What Attune's registrar stores for ATTUNE_WORKFLOW (the kit's `emit`)."""
    assert ATTUNE_KIT is not None
    path = write(tmp_path / "attune_flow.yaml", ATTUNE_WORKFLOW)
    done = subprocess.run(
        [str(ATTUNE_KIT / "bin" / "attune-check"), "emit", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout))


async def install_attune_pack(pool: asyncpg.Pool, tmp_path: Path) -> int:
    """Pack `shop` as Attune's pack loader and API leave it: the pack row, a
    regular action, and a workflow created through Attune's API with its
    companion action (the registrar's columns)."""
    async with pool.acquire() as conn, conn.transaction():
        pack_id = int(
            await conn.fetchval(
                "INSERT INTO pack (ref, label, version, description)"
                " VALUES ('shop', 'Shop (Attune)', '2.0.0', 'installed by Attune') RETURNING id"
            )
        )
        await conn.execute(
            "INSERT INTO action (ref, pack, pack_ref, label, entrypoint)"
            " VALUES ('shop.restart', $1, 'shop', 'Restart', 'restart.sh')",
            pack_id,
        )
        wf_id = await conn.fetchval(
            "INSERT INTO workflow_definition (ref, pack, pack_ref, label, version, definition,"
            " tags) VALUES ('shop.api_flow', $1, 'shop', 'Made in Attune', '1.0.0', $2::jsonb,"
            " '{}') RETURNING id",
            pack_id,
            attune_definition(tmp_path),
        )
        await conn.execute(
            "INSERT INTO action (ref, pack, pack_ref, label, entrypoint, runtime, is_adhoc,"
            " workflow_def) VALUES ('shop.api_flow', $1, 'shop', 'Made in Attune',"
            " 'workflows/api_flow.workflow.yaml', NULL, false, $2)",
            pack_id,
            wf_id,
        )
    return pack_id


async def test_file_sync_never_touches_rows_attune_wrote(
    service: SyncService, pool: asyncpg.Pool, packs: Path, tmp_path: Path, check_db: Any
) -> None:
    make_core_pack(packs)
    pack_id = await install_attune_pack(pool, tmp_path)
    make_pack(
        packs,
        "shop",
        {
            "api_flow.yaml": workflow_yaml("From a file"),  # same ref as Attune's workflow
            "restart.yaml": workflow_yaml("Restart flow"),  # companion ref = Attune's action
            "mine.yaml": workflow_yaml("Mine"),
        },
        pack_yaml="ref: shop\nlabel: Shop from disk\nversion: 3.0.0\n",
    )
    attune_rows = {t: await versions(pool, t) for t in ("pack", "action", "workflow_definition")}
    result = await service.sync_pack("shop", trigger="cli")
    assert result.outcome == "errors" and (result.created, result.failed) == (1, 2)
    conflicts = {w.ref: [d.code for d in w.errors] for w in result.workflows if w.errors}
    assert conflicts == {"shop.api_flow": ["ref-conflict"], "shop.restart": ["ref-conflict"]}
    # Attune's rows: not one write (the pack row keeps its label and version)
    for table, before in attune_rows.items():
        after = await versions(pool, table)
        assert {r: after[r] for r in before} == before, table
    pack = (await rows(pool, "SELECT label, version FROM pack WHERE ref = 'shop'"))[0]
    assert pack == {"label": "Shop (Attune)", "version": "2.0.0"}
    # packsync's workflow went into Attune's pack, with its companion action
    mine = await rows(
        pool,
        "SELECT w.pack, a.ref AS action, a.pack AS action_pack FROM workflow_definition w"
        " JOIN action a ON a.workflow_def = w.id WHERE w.ref = 'shop.mine'",
    )
    assert mine == [{"pack": pack_id, "action": "shop.mine", "action_pack": pack_id}]
    managed = await rows(pool, "SELECT sync_group, created_pack_id FROM managed_pack")
    assert managed == [{"sync_group": "default", "created_pack_id": None}]
    assert {r["ref"] for r in await rows(pool, "SELECT ref FROM managed_workflow")} == {"shop.mine"}
    check_db()

    # the folder goes: packsync's workflow goes, Attune's pack and rows stay
    for path in sorted((packs / "shop").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (packs / "shop").rmdir()
    report = await service.sync_all(trigger="cli", allow_mass_delete=True)
    shop = next(p for p in report.packs if p.pack_ref == "shop")
    assert shop.outcome == "removed" and shop.deleted == 1
    for table, before in attune_rows.items():
        after = await versions(pool, table)
        assert {r: after.get(r) for r in before} == before, table
    assert "shop.mine" not in await versions(pool, "action")
    assert [r["pack_ref"] for r in await rows(pool, "SELECT * FROM managed_pack")] == ["core"]
    check_db()


async def test_api_conflict_file_in_attune_pack_is_listed_as_attune(
    service: SyncService, pool: asyncpg.Pool, packs: Path, tmp_path: Path
) -> None:
    await install_attune_pack(pool, tmp_path)
    listed, total = await service.list_workflows(WorkflowFilter(pack="shop"))
    assert total == 1 and listed[0].source == "attune" and listed[0].enabled
    detail = await service.get_workflow("shop.api_flow")
    assert detail is not None and detail.source == "attune" and detail.file_path is None
    assert await service.count_workflows("shop") == 1


async def test_pack_row_packsync_created_is_updated_and_deleted(
    service: SyncService, pool: asyncpg.Pool, packs: Path, check_db: Any
) -> None:
    make_core_pack(packs)
    demo = make_pack(packs, "demo", {"a.yaml": workflow_yaml("A")})
    await service.sync_all(trigger="cli")
    write(demo / "pack.yaml", "ref: demo\nlabel: Renamed\nversion: 1.1.0\n")
    await service.sync_pack("demo", trigger="watch")
    pack = (await rows(pool, "SELECT id, label, version FROM pack WHERE ref = 'demo'"))[0]
    assert (pack["label"], pack["version"]) == ("Renamed", "1.1.0")
    check_db()
    # only packsync's rows hang off it: removing the folder removes the pack row
    deleted = await service.delete_pack("demo")
    assert deleted == 1
    assert await rows(pool, "SELECT id FROM pack WHERE ref = 'demo'") == []
    assert await rows(pool, "SELECT id FROM action WHERE pack_ref = 'demo'") == []


async def test_created_pack_row_with_foreign_rows_stays(
    service: SyncService, pool: asyncpg.Pool, packs: Path, check_db: Any
) -> None:
    make_core_pack(packs)
    make_pack(packs, "demo", {"a.yaml": workflow_yaml("A")})
    await service.sync_pack("demo", trigger="cli")
    pack_id = (await rows(pool, "SELECT id FROM pack WHERE ref = 'demo'"))[0]["id"]
    async with pool.acquire() as conn:  # Attune's pack loader adds an action of its own
        await conn.execute(
            "INSERT INTO action (ref, pack, pack_ref, label, entrypoint)"
            " VALUES ('demo.native', $1, 'demo', 'Native', 'native.sh')",
            pack_id,
        )
    assert await service.delete_pack("demo") == 1
    assert await rows(pool, "SELECT id FROM pack WHERE ref = 'demo'") == [{"id": pack_id}]
    assert [r["ref"] for r in await rows(pool, "SELECT ref FROM action")] == ["demo.native"]
    assert await rows(pool, "SELECT * FROM managed_pack") == []
    check_db()


async def test_create_packs_false_waits_for_attune(
    settings: Settings, pool: asyncpg.Pool, packs: Path, check_db: Any
) -> None:
    service = SyncService(settings.model_copy(update={"create_packs": False}), pool)
    make_core_pack(packs)
    make_pack(packs, "demo", {"a.yaml": workflow_yaml("A")})
    result = await service.sync_pack("demo", trigger="cli")
    assert result.outcome == "pack-error" and result.created == 0
    assert [d.code for d in result.diagnostics if d.is_error] == ["pack-not-registered"]
    assert await rows(pool, "SELECT id FROM pack") == []
    assert [r["file_path"] for r in await rows(pool, "SELECT * FROM workflow_sync_error")] == [
        "pack.yaml"
    ]
    async with pool.acquire() as conn:  # Attune registers the pack
        await conn.execute(
            "INSERT INTO pack (ref, label, version) VALUES ('demo', 'Attune Demo', '0.1.0')"
        )
    before = await versions(pool, "pack")
    again = await service.sync_pack("demo", trigger="cli")
    assert again.outcome == "ok" and again.created == 1
    assert await versions(pool, "pack") == before  # never updated: not packsync's
    assert await rows(pool, "SELECT * FROM workflow_sync_error") == []
    check_db()


async def test_pack_version_attune_refuses_is_a_located_error(
    service: SyncService, pool: asyncpg.Pool, packs: Path
) -> None:
    make_pack(packs, "loose", {"a.yaml": workflow_yaml()}, pack_yaml="ref: loose\nversion: '1.0'\n")
    result = await service.sync_pack("loose", trigger="cli")
    assert result.outcome == "pack-error"
    problem = next(d for d in result.diagnostics if d.code == "pack-version")
    assert problem.file.endswith("loose/pack.yaml") and "semantic version" in problem.message
    assert await rows(pool, "SELECT id FROM pack") == []


async def test_workflow_row_deleted_in_attune_is_registered_again(
    service: SyncService, pool: asyncpg.Pool, packs: Path, check_db: Any
) -> None:
    make_core_pack(packs)
    make_pack(packs, "demo", {"a.yaml": workflow_yaml("A")})
    await service.sync_pack("demo", trigger="cli")
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM workflow_definition WHERE ref = 'demo.a'")
    result = await service.sync_all(trigger="reconcile")
    demo = next(p for p in result.packs if p.pack_ref == "demo")
    assert demo.created == 1
    assert len(await rows(pool, "SELECT 1 FROM workflow_definition WHERE ref = 'demo.a'")) == 1
    assert len(await rows(pool, "SELECT 1 FROM managed_workflow")) == 1
    check_db()


LINKED_ACTION = """\
ref: ops.deploy_app
label: Deploy the app
description: Deploys through a workflow
workflow_file: workflows/deploy.yaml
parameters:
  type: object
  properties:
    env:
      type: string
"""


async def test_action_linked_workflow_links_the_action_its_yaml_defines(
    service: SyncService,
    pool: asyncpg.Pool,
    packs: Path,
    check_db: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_core_pack(packs)
    ops = make_pack(
        packs,
        "ops",
        actions={"deploy_app.yaml": LINKED_ACTION},
        action_workflows={"deploy.yaml": workflow_yaml("Deploy graph")},
    )
    result = await service.sync_pack("ops", trigger="cli")
    assert result.outcome == "ok" and result.created == 1, result.diagnostics
    linked = await rows(
        pool,
        "SELECT a.ref, a.label, a.description, a.entrypoint, a.param_schema, a.runtime,"
        " w.ref AS workflow FROM action a JOIN workflow_definition w ON w.id = a.workflow_def",
    )
    assert linked == [
        {
            "ref": "ops.deploy_app",
            "label": "Deploy the app",
            "description": "Deploys through a workflow",
            "entrypoint": "workflows/deploy.yaml",
            "param_schema": {"type": "object", "properties": {"env": {"type": "string"}}},
            "runtime": None,
            "workflow": result.workflows[0].ref,
        }
    ]
    check_db(action_linked=True)
    # the action YAML changes, the workflow file does not: the action row follows
    write(ops / "actions" / "deploy_app.yaml", LINKED_ACTION.replace("Deploy the app", "Ship"))
    again = await service.sync_pack("ops", trigger="watch")
    assert again.updated == 1
    assert [r["label"] for r in await rows(pool, "SELECT label FROM action")] == ["Ship"]
    unchanged = await service.sync_pack("ops", trigger="watch")
    assert unchanged.unchanged == 1 and not unchanged.changed
    # unchanged costs nothing: no file is parsed again
    parsed: list[str] = []
    real = load_module.parse_workflow
    monkeypatch.setattr(
        load_module,
        "parse_workflow",
        lambda src, cat: parsed.append(src.rel_path) or real(src, cat),
    )
    report = await service.sync_all(trigger="reconcile")
    assert report.totals["unchanged"] == 1 and parsed == []


async def test_action_existence_uses_attune_actions_of_packs_not_on_this_host(
    service: SyncService, pool: asyncpg.Pool, packs: Path
) -> None:
    await insert_attune_action(pool, "remote", "remote.ping")
    calls = workflow_yaml().replace("core.echo", "remote.ping").replace("core.noop", "remote.png")
    make_pack(packs, "app", {"a.yaml": calls})
    result = await service.sync_pack("app", trigger="cli")
    codes = [(d.code, d.severity.value) for d in result.workflows[0].errors]
    assert codes == [("unknown-action", "error")], result.workflows[0]
    assert "remote.ping" in result.workflows[0].errors[0].message  # the did-you-mean


async def test_example_packs_register_as_attune_would(
    settings: Settings, pool: asyncpg.Pool, check_db: Any
) -> None:
    """The README's first command: the example packs into an Attune-shaped database."""
    examples = EXAMPLES
    service = SyncService(settings.model_copy(update={"packs_base_dir": examples}), pool)
    report = await service.sync_all(trigger="cli")
    assert report.outcome == "ok" and report.totals["failed"] == 0, report.to_dict()
    assert report.totals["created"] == 7
    actions = await rows(pool, "SELECT count(*) AS n FROM action WHERE workflow_def IS NOT NULL")
    assert actions == [{"n": 7}]
    again = await service.sync_all(trigger="cli")
    assert again.totals["unchanged"] == 7 and again.totals["created"] == 0
    check_db(action_linked=True)  # demo.backup_all is linked to its action YAML


def test_cli_sync_and_migrate_on_the_target(db_target: DbTarget, tmp_path: Path) -> None:
    """The failure this schema work fixes: `packsync sync` against Attune's own
    schema died with DuplicateTableError. Now: exit 0, and migrate is a no-op."""
    examples = EXAMPLES
    env = {
        **os.environ,
        "ATTUNE__DATABASE_URL": db_target.url,
        "ATTUNE__DB_SCHEMA": db_target.db_schema,
        "ATTUNE__STATE_SCHEMA": db_target.state_schema,
        "ATTUNE__STATE_DIR": str(tmp_path / "state"),
        "ATTUNE__LOG_FORMAT": "json",
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "packsync", *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    done = cli("sync", "--packs-base-dir", str(examples))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "created 2" in done.stdout and "Traceback" not in done.stderr
    again = cli("migrate")
    assert again.returncode == 0 and "applied 0 migration(s)" in again.stdout, again.stderr
