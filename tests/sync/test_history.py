"""The definition history (workflow_version): recorded by file syncs and the
API service in their own transactions, read back by `history`, `diff` and
`restore` (service and CLI), bounded by history_keep."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml

from packsync.config import Settings
from packsync.sync.api_workflows import ApiWorkflowService
from packsync.sync.service import SyncService
from packsync.sync.versions import DeletedVersion, NoHistory, NoSuchVersion, VersionService, render
from tests.cli.test_commands import packsync
from tests.pipeline.test_gitrev import git
from tests.support.packfactory import make_core_pack, make_pack, write

WORKFLOW = """\
version: "1.0"
label: Deploy
description: Ships it
tasks:
  - name: start
    action: core.echo
    input:
      message: "{message}"
"""


def wf(message: str) -> str:
    return WORKFLOW.format(message=message)


async def versions(pool: asyncpg.Pool, ref: str) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT * FROM workflow_version WHERE ref = $1 ORDER BY version", ref
        )
    return [dict(r) for r in rows]


async def stored(pool: asyncpg.Pool, ref: str) -> Any:
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT definition FROM workflow_definition WHERE ref = $1", ref)


def deploy_file(packs: Path) -> Path:
    return packs / "demo" / "workflows" / "deploy.yaml"


async def synced(service: SyncService, packs: Path, message: str, *, extra: str = "") -> None:
    write(deploy_file(packs), wf(message) + extra)
    result = await service.sync_pack("demo", trigger="cli")
    assert result.outcome == "ok", result.to_dict()


@pytest.fixture
def demo(packs: Path) -> Path:
    make_core_pack(packs)
    return make_pack(packs, "demo", {"deploy.yaml": wf("one")})


@pytest.mark.both_schemas
async def test_three_edits_and_a_noop_edit_make_three_versions(
    service: SyncService, pool: asyncpg.Pool, packs: Path, demo: Path
) -> None:
    seen = []
    await synced(service, packs, "one")
    seen.append(await stored(pool, "demo.deploy"))
    await synced(service, packs, "two")
    seen.append(await stored(pool, "demo.deploy"))
    # a comment changes the file (and its content hash), not the stored definition
    await synced(service, packs, "two", extra="# just a comment\n")
    await synced(service, packs, "three")
    seen.append(await stored(pool, "demo.deploy"))
    rows = await versions(pool, "demo.deploy")
    assert [r["version"] for r in rows] == [1, 2, 3]
    assert [r["definition"] for r in rows] == seen  # exactly what Attune's row held
    assert seen[0] != seen[1] != seen[2]
    assert all(r["source"] == "file" and r["trigger"] == "cli" for r in rows)
    assert {r["file_path"] for r in rows} == {"workflows/deploy.yaml"}
    assert {r["pack_ref"] for r in rows} == {"demo"}
    assert len({r["definition_hash"] for r in rows}) == 3
    assert all(r["git_commit"] is None for r in rows)  # tmp_path is in no work tree
    # each version points at the sync_run row of the sync that wrote it
    async with pool.acquire() as conn:
        runs = await conn.fetch(
            "SELECT id, pack_ref, updated, created FROM sync_run WHERE id = ANY($1::bigint[])",
            [r["sync_run_id"] for r in rows],
        )
    assert len(runs) == 3 and {r["pack_ref"] for r in runs} == {"demo"}


@pytest.mark.both_schemas
async def test_deletion_is_a_version_and_numbers_continue(
    service: SyncService, pool: asyncpg.Pool, packs: Path, demo: Path
) -> None:
    await synced(service, packs, "one")
    deploy_file(packs).unlink()
    assert (await service.sync_pack("demo", trigger="watch")).deleted == 1
    await synced(service, packs, "one")
    rows = await versions(pool, "demo.deploy")
    assert [(r["version"], r["deleted"], r["trigger"]) for r in rows] == [
        (1, False, "cli"),
        (2, True, "watch"),
        (3, False, "cli"),
    ]
    assert rows[1]["definition"] is None and rows[1]["definition_hash"] is None
    assert rows[1]["file_path"] == "workflows/deploy.yaml"
    assert rows[2]["definition_hash"] == rows[0]["definition_hash"]
    with pytest.raises(DeletedVersion):
        await VersionService(service.settings, pool).restore("demo.deploy", 2)


async def test_a_renamed_file_is_one_new_version_not_a_deletion(
    service: SyncService, pool: asyncpg.Pool, packs: Path, demo: Path
) -> None:
    make_pack(packs, "demo", {"deploy.yaml": wf("one") + "ref: demo.deploy\n"})
    await service.sync_pack("demo", trigger="cli")
    before = await versions(pool, "demo.deploy")
    deploy_file(packs).rename(deploy_file(packs).with_name("deploy.workflow.yaml"))
    result = await service.sync_pack("demo", trigger="cli")
    assert result.outcome == "ok", result.to_dict()
    rows = await versions(pool, "demo.deploy")
    assert [r["deleted"] for r in rows] == [False] * len(rows)
    assert len(rows) == len(before) + 1
    assert rows[-1]["file_path"] == "workflows/deploy.workflow.yaml"
    assert rows[-1]["definition_hash"] == rows[-2]["definition_hash"]


async def test_retention_keeps_the_newest_history_keep_versions(
    settings: Settings, pool: asyncpg.Pool, packs: Path, demo: Path
) -> None:
    service = SyncService(settings.model_copy(update={"history_keep": 3}), pool)
    for n in range(5):
        await synced(service, packs, f"edit {n}")
    rows = await versions(pool, "demo.deploy")
    assert [r["version"] for r in rows] == [3, 4, 5]
    assert rows[-1]["definition"] == await stored(pool, "demo.deploy")
    listed = await VersionService(settings, pool).versions("demo.deploy")
    assert [v.version for v in listed] == [3, 4, 5]
    with pytest.raises(NoSuchVersion):
        await VersionService(settings, pool).get("demo.deploy", 1)


async def test_history_keep_zero_keeps_everything(
    settings: Settings, pool: asyncpg.Pool, packs: Path, demo: Path
) -> None:
    service = SyncService(settings.model_copy(update={"history_keep": 0}), pool)
    for n in range(4):
        await synced(service, packs, f"edit {n}")
    assert [r["version"] for r in await versions(pool, "demo.deploy")] == [1, 2, 3, 4]


async def test_rows_from_before_history_get_a_baseline_before_their_first_change(
    service: SyncService, pool: asyncpg.Pool, packs: Path, demo: Path
) -> None:
    await synced(service, packs, "one")
    old = await stored(pool, "demo.deploy")
    async with pool.acquire() as conn:  # as if registered before migration 0003
        await conn.execute("DELETE FROM workflow_version")
    await synced(service, packs, "two")
    rows = await versions(pool, "demo.deploy")
    assert [(r["version"], r["trigger"]) for r in rows] == [(1, "baseline"), (2, "cli")]
    assert rows[0]["definition"] == old
    assert rows[1]["definition"] == await stored(pool, "demo.deploy")


async def test_a_failed_pack_transaction_records_no_version(
    service: SyncService, pool: asyncpg.Pool, packs: Path, demo: Path
) -> None:
    await synced(service, packs, "one")
    async with pool.acquire() as conn:
        # Attune refuses the next write (a CHECK on its own table): the pack rolls back
        await conn.execute(
            "ALTER TABLE workflow_definition ADD CONSTRAINT no_two "
            "CHECK (definition::text NOT LIKE '%two%') NOT VALID"
        )
    write(deploy_file(packs), wf("two"))
    result = await service.sync_pack("demo", trigger="cli")
    assert result.outcome == "pack-error"
    assert [r["version"] for r in await versions(pool, "demo.deploy")] == [1]


async def test_packsync_delete_records_the_deletions(
    service: SyncService, pool: asyncpg.Pool, packs: Path, demo: Path
) -> None:
    await synced(service, packs, "one")
    assert await service.delete_pack("demo") == 1
    rows = await versions(pool, "demo.deploy")
    assert [(r["version"], r["deleted"], r["trigger"]) for r in rows] == [
        (1, False, "cli"),
        (2, True, "cli"),
    ]


# ---------------------------------------------------------------- diff
async def test_diff_defaults_and_renders_stable_text(
    service: SyncService, pool: asyncpg.Pool, packs: Path, demo: Path
) -> None:
    for message in ("one", "two", "three"):
        await synced(service, packs, message)
    history = VersionService(service.settings, pool)
    from packsync.sync.versions import unified_diff

    old, new = await history.pair("demo.deploy", None, None)
    assert (old.version, new.version) == (2, 3)
    text = unified_diff(old, new)
    assert text.startswith("--- demo.deploy@2\n+++ demo.deploy@3\n")
    assert "-    message: two\n" in text and "+    message: three\n" in text
    assert "label" not in text  # only what changed, with 3 lines of context at most
    old, new = await history.pair("demo.deploy", 1, None)
    assert (old.version, new.version) == (1, 3)
    assert '-        "message": "one"' in unified_diff(old, new, "json")
    old, new = await history.pair("demo.deploy", 3, 1)
    assert "+    message: one\n" in unified_diff(old, new)
    same, also = await history.pair("demo.deploy", 2, 2)
    assert unified_diff(same, also) == ""
    # the rendering is the same whatever jsonb's key order
    definition = (await history.get("demo.deploy", 3)).definition
    assert definition is not None
    shuffled = dict(reversed(list(definition.items())))
    assert render(shuffled) == render(definition)
    assert list(yaml.safe_load(render(definition)))[:3] == ["ref", "label", "description"]
    with pytest.raises(NoHistory):
        await history.pair("demo.nothing", None, None)


# ---------------------------------------------------------------- restore
@pytest.fixture
async def api(settings: Settings, pool: asyncpg.Pool, service: SyncService, packs: Path) -> Any:
    """The API service, with the pack `ops` registered (no workflows)."""
    make_core_pack(packs)
    make_pack(packs, "ops", {})
    await service.sync_all(trigger="cli")
    return ApiWorkflowService(settings, pool)


@pytest.mark.both_schemas
async def test_restore_of_an_api_workflow_writes_a_new_version(
    settings: Settings, pool: asyncpg.Pool, api: ApiWorkflowService
) -> None:
    definition = yaml.safe_load(wf("one"))
    await api.create(ref="ops.notify", pack_ref=None, definition=definition, overrides={})
    await api.update("ops.notify", {"label": "Notify 2"})
    definition["tasks"][0]["input"]["message"] = "two"
    await api.update("ops.notify", {"definition": definition})
    # a no-op update records nothing
    await api.update("ops.notify", {"label": "Deploy"})
    rows = await versions(pool, "ops.notify")
    assert [(r["version"], r["source"], r["trigger"]) for r in rows] == [
        (1, "api", "api"),
        (2, "api", "api"),
        (3, "api", "api"),
    ]
    assert all(r["file_path"] is None and r["sync_run_id"] is None for r in rows)
    history = VersionService(settings, pool)
    done = await history.restore("ops.notify", 1)
    assert done.action == "written" and done.version is not None
    assert done.version.version == 4 and done.version.trigger == "restore"
    rows = await versions(pool, "ops.notify")
    assert rows[3]["definition_hash"] == rows[0]["definition_hash"]
    assert await stored(pool, "ops.notify") == rows[0]["definition"]
    async with pool.acquire() as conn:
        label = await conn.fetchval(
            "SELECT a.label FROM action a JOIN workflow_definition w ON a.workflow_def = w.id"
            " WHERE w.ref = 'ops.notify'"
        )
    assert label == "Deploy"  # the companion action follows the restored definition
    again = await history.restore("ops.notify", 1)
    assert again.action == "unchanged" and len(await versions(pool, "ops.notify")) == 4


async def test_restore_brings_back_a_deleted_api_workflow(
    settings: Settings, pool: asyncpg.Pool, api: ApiWorkflowService
) -> None:
    await api.create(
        ref="ops.notify", pack_ref=None, definition=yaml.safe_load(wf("one")), overrides={}
    )
    await api.delete("ops.notify")
    assert await stored(pool, "ops.notify") is None
    done = await VersionService(settings, pool).restore("ops.notify", 1)
    assert done.action == "written"
    rows = await versions(pool, "ops.notify")
    assert [(r["deleted"], r["trigger"]) for r in rows] == [
        (False, "api"),
        (True, "api"),
        (False, "restore"),
    ]
    assert await stored(pool, "ops.notify") == rows[0]["definition"]


@pytest.mark.both_schemas
async def test_restore_of_a_file_workflow_writes_nothing_and_gives_the_file_back(
    settings: Settings, pool: asyncpg.Pool, service: SyncService, packs: Path, demo: Path
) -> None:
    await synced(service, packs, "one")
    await synced(service, packs, "two")
    before = await versions(pool, "demo.deploy")
    current = await stored(pool, "demo.deploy")
    done = await VersionService(settings, pool).restore("demo.deploy", 1)
    assert done.action == "file" and done.version is None
    assert done.file == str(deploy_file(packs))
    assert await versions(pool, "demo.deploy") == before
    assert await stored(pool, "demo.deploy") == current
    assert deploy_file(packs).read_text() == wf("two")
    # the content, put into the file, syncs back to version 1's definition
    assert done.content is not None
    write(deploy_file(packs), done.content)
    assert (await service.sync_pack("demo", trigger="cli")).updated == 1
    rows = await versions(pool, "demo.deploy")
    assert rows[-1]["version"] == 3
    assert rows[-1]["definition_hash"] == rows[0]["definition_hash"]


# ---------------------------------------------------------------- git
@pytest.mark.skipif(shutil.which("git") is None, reason="no git binary to build a repository")
async def test_git_commit_of_the_pack_is_recorded(
    settings: Settings, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    base = repo / "packs"
    make_core_pack(base)
    make_pack(base, "demo", {"deploy.yaml": wf("one")})

    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "one")
    first = git(repo, "rev-parse", "HEAD")
    service = SyncService(settings.model_copy(update={"packs_base_dir": base}), pool)
    await service.sync_all(trigger="cli")
    write(base / "demo" / "workflows" / "deploy.yaml", wf("two"))
    git(repo, "commit", "-q", "-am", "two")
    git(repo, "pack-refs", "--all")  # the branch now lives in packed-refs only
    second = git(repo, "rev-parse", "HEAD")
    await service.sync_pack("demo", trigger="cli")
    rows = await versions(pool, "demo.deploy")
    assert [r["git_commit"] for r in rows] == [first, second]
    assert first != second and len(second) == 40
    async with pool.acquire() as conn:  # a sweep's versions point at the sweep's row
        sweep = await conn.fetchrow(
            "SELECT pack_ref, created FROM sync_run WHERE id = $1", rows[0]["sync_run_id"]
        )
    assert sweep is not None and sweep["pack_ref"] is None and sweep["created"] >= 1


# ---------------------------------------------------------------- CLI
async def test_cli_history_diff_and_restore(
    service: SyncService, pool: asyncpg.Pool, packs: Path, demo: Path, db_env: dict[str, str]
) -> None:
    await synced(service, packs, "one")
    await synced(service, packs, "two")
    env = {**db_env, "ATTUNE__PACKS_BASE_DIR": str(packs)}
    proc = packsync("history", "demo.deploy", env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["N", "TIME", "HASH", "TRIGGER", "SOURCE", "GIT", "FILE"]
    assert [line.split()[0] for line in lines[2:]] == ["1", "2"]
    assert lines[2].split()[-3:] == ["cli", "file", "workflows/deploy.yaml"]
    proc = packsync("history", "demo.deploy", "--format", "json", env=env)
    listed = json.loads(proc.stdout)
    assert [v["version"] for v in listed["versions"]] == [1, 2]
    assert "definition" not in listed["versions"][0]

    proc = packsync("diff", "demo.deploy", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "-    message: one\n+    message: two\n" in proc.stdout

    proc = packsync("restore", "demo.deploy", "1", env=env)
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load(proc.stdout)["tasks"][0]["input"]["message"] == "one"
    assert "nothing was written" in proc.stderr and str(deploy_file(packs)) in proc.stderr
    assert len(await versions(pool, "demo.deploy")) == 2

    proc = packsync("diff", "demo.deploy", "9", env=env)
    assert proc.returncode == 2 and "no version 9" in proc.stderr
    proc = packsync("history", "demo.nothing", env=env)
    assert proc.returncode == 2 and "no recorded versions" in proc.stderr
