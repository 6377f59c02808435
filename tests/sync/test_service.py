"""Sync semantics (SPEC §6) against a real PostgreSQL and real folders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import pytest

import packsync.pipeline.load as load_module
from packsync.config import Settings
from packsync.sync.service import SyncService
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml, write

BROKEN = "version: '1.0'\ntasks: [\n"  # YAML syntax error

# Every test here runs on packsync's bootstrap and on Attune's real schema.
pytestmark = pytest.mark.both_schemas


async def rows(pool: asyncpg.Pool, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        return [dict(r) for r in await conn.fetch(sql, *args)]


async def workflow_state(pool: asyncpg.Pool) -> dict[str, tuple[Any, ...]]:
    """ref → (id, xmin, updated, content_hash, action xmin, state xmin): any
    write to the workflow row, its action row or packsync's state changes one."""
    got = await rows(
        pool,
        "SELECT w.ref, w.id, w.xmin::text AS x, w.updated, m.content_hash,"
        " a.xmin::text AS ax, m.xmin::text AS mx"
        " FROM workflow_definition w LEFT JOIN managed_workflow m ON m.workflow_id = w.id"
        " LEFT JOIN action a ON a.workflow_def = w.id",
    )
    return {
        r["ref"]: (r["id"], r["x"], r["updated"], r["content_hash"], r["ax"], r["mx"]) for r in got
    }


async def pack_state(pool: asyncpg.Pool) -> dict[str, tuple[Any, ...]]:
    got = await rows(pool, "SELECT ref, id, xmin::text AS x, updated FROM pack")
    return {r["ref"]: (r["id"], r["x"], r["updated"]) for r in got}


async def error_rows(pool: asyncpg.Pool) -> dict[tuple[str, str], list[dict[str, Any]]]:
    got = await rows(pool, "SELECT pack_ref, file_path, errors FROM workflow_sync_error")
    return {(r["pack_ref"], r["file_path"]): r["errors"] for r in got}


@pytest.fixture
def demo(packs: Path) -> Path:
    make_core_pack(packs)
    return make_pack(
        packs,
        "demo",
        {"deploy.yaml": workflow_yaml("Deploy"), "build.yml": workflow_yaml("Build")},
        action_workflows={"release.workflow.yaml": workflow_yaml("Release")},
    )


async def test_cold_sync_registers_pack_and_workflows(
    service: SyncService, pool: asyncpg.Pool, settings: Settings, demo: Path, check_db: Any
) -> None:
    result = await service.sync_pack("demo", trigger="cli")
    assert result.outcome == "ok", result.diagnostics
    assert (result.loaded, result.created, result.unchanged) == (3, 3, 0)
    assert {w.ref for w in result.workflows} == {"demo.deploy", "demo.build", "demo.release"}
    assert all(w.id is not None and w.change == "created" for w in result.workflows)
    pack = (await rows(pool, "SELECT * FROM pack WHERE ref = 'demo'"))[0]
    assert pack["storage_path"] == str(settings.packs_base_dir / "demo")
    assert pack["version"] == "1.0.0" and pack["label"] == "Demo"
    managed = (await rows(pool, "SELECT * FROM managed_pack WHERE pack_ref = 'demo'"))[0]
    assert managed["sync_group"] == "default" and managed["checksum"]
    assert managed["created_pack_id"] == pack["id"]  # packsync created the pack row
    wf = (
        await rows(
            pool,
            "SELECT w.*, m.file_path, m.source, m.action_id FROM workflow_definition w"
            " JOIN managed_workflow m ON m.workflow_id = w.id WHERE w.ref = 'demo.release'",
        )
    )[0]
    assert wf["file_path"] == "actions/workflows/release.workflow.yaml"
    assert wf["source"] == "file" and wf["pack"] == pack["id"] and wf["label"] == "Release"
    assert isinstance(wf["definition"], dict) and wf["definition"]
    assert wf["param_schema"]["type"] == "object"
    # the companion action, as Attune's registrar writes it
    action = (await rows(pool, "SELECT * FROM action WHERE workflow_def = $1", wf["id"]))[0]
    assert action["id"] == wf["action_id"] and action["ref"] == "demo.release"
    assert action["entrypoint"] == "workflows/release.workflow.yaml"
    assert (action["runtime"], action["is_adhoc"], action["label"]) == (None, False, "Release")
    assert action["param_schema"] == wf["param_schema"] and action["out_schema"] is None
    assert len(await rows(pool, "SELECT id FROM action")) == 3
    check_db()
    runs = await rows(pool, "SELECT * FROM sync_run")
    assert [(r["pack_ref"], r["trigger"], r["created"]) for r in runs] == [("demo", "cli", 3)]


async def test_unchanged_resync_writes_and_parses_nothing(
    service: SyncService, pool: asyncpg.Pool, demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await service.sync_all(trigger="startup")
    before_wf, before_pack = await workflow_state(pool), await pack_state(pool)
    parsed: list[str] = []
    real = load_module.parse_workflow

    def counting(source: Any, catalog: Any) -> Any:
        parsed.append(source.rel_path)
        return real(source, catalog)

    monkeypatch.setattr(load_module, "parse_workflow", counting)
    report = await service.sync_all(trigger="reconcile")
    again = await service.sync_pack("demo", trigger="watch")
    assert report.totals["unchanged"] == 3 and report.totals["created"] == 0
    assert again.unchanged == 3 and not again.changed
    assert parsed == []
    assert await workflow_state(pool) == before_wf
    assert await pack_state(pool) == before_pack


async def test_changed_file_updates_only_that_row(
    service: SyncService, pool: asyncpg.Pool, demo: Path
) -> None:
    await service.sync_pack("demo", trigger="cli")
    before = await workflow_state(pool)
    write(demo / "workflows" / "deploy.yaml", workflow_yaml("Deploy v2"))
    result = await service.sync_pack("demo", trigger="watch")
    assert (result.updated, result.unchanged, result.created) == (1, 2, 0)
    action = await rows(pool, "SELECT label FROM action WHERE ref = 'demo.deploy'")
    assert action == [{"label": "Deploy v2"}]  # the companion action follows
    after = await workflow_state(pool)
    assert after["demo.deploy"][0] == before["demo.deploy"][0]  # same id
    assert after["demo.deploy"][1] != before["demo.deploy"][1]
    assert after["demo.build"] == before["demo.build"]
    label = await rows(pool, "SELECT label FROM workflow_definition WHERE ref = 'demo.deploy'")
    assert label == [{"label": "Deploy v2"}]


async def test_removed_file_removes_its_workflow(
    service: SyncService, pool: asyncpg.Pool, demo: Path, check_db: Any
) -> None:
    await service.sync_pack("demo", trigger="cli")
    (demo / "workflows" / "build.yml").unlink()
    result = await service.sync_pack("demo", trigger="watch")
    assert result.deleted == 1 and result.outcome == "ok"
    assert [w.ref for w in result.workflows if w.change == "deleted"] == ["demo.build"]
    assert set(await workflow_state(pool)) == {"demo.deploy", "demo.release"}
    actions = await rows(pool, "SELECT ref FROM action ORDER BY ref")
    assert [a["ref"] for a in actions] == ["demo.deploy", "demo.release"]  # with its action
    assert len(await rows(pool, "SELECT 1 FROM managed_workflow")) == 2
    check_db()


async def test_invalid_file_keeps_last_good_row_then_clears_error(
    service: SyncService, pool: asyncpg.Pool, demo: Path
) -> None:
    await service.sync_pack("demo", trigger="cli")
    before = await workflow_state(pool)
    good_def = await rows(
        pool, "SELECT definition FROM workflow_definition WHERE ref='demo.deploy'"
    )
    write(demo / "workflows" / "deploy.yaml", BROKEN)
    result = await service.sync_pack("demo", trigger="watch")
    assert result.outcome == "errors" and result.failed == 1
    failed = next(w for w in result.workflows if w.ref == "demo.deploy")
    assert failed.change == "failed" and failed.errors and failed.id == before["demo.deploy"][0]
    assert await workflow_state(pool) == before  # last good version kept, no write
    assert (
        await rows(pool, "SELECT definition FROM workflow_definition WHERE ref='demo.deploy'")
        == good_def
    )
    errors = await error_rows(pool)
    assert list(errors) == [("demo", "workflows/deploy.yaml")]
    entry = errors[("demo", "workflows/deploy.yaml")][0]
    assert entry["severity"] == "error" and entry["line"] >= 1 and entry["code"]
    assert entry["file"].endswith("demo/workflows/deploy.yaml")
    # still failing: re-parsed (error row exists), row still kept
    again = await service.sync_pack("demo", trigger="reconcile")
    assert again.failed == 1 and await workflow_state(pool) == before
    # fixed: updated and the error row is gone
    write(demo / "workflows" / "deploy.yaml", workflow_yaml("Fixed"))
    fixed = await service.sync_pack("demo", trigger="watch")
    assert fixed.outcome == "ok" and fixed.updated == 1
    assert await error_rows(pool) == {}


async def test_reverting_a_broken_file_clears_error_without_write(
    service: SyncService, pool: asyncpg.Pool, demo: Path
) -> None:
    await service.sync_pack("demo", trigger="cli")
    before = await workflow_state(pool)
    path = demo / "workflows" / "deploy.yaml"
    original = path.read_text()
    write(path, BROKEN)
    await service.sync_pack("demo", trigger="watch")
    write(path, original)
    result = await service.sync_pack("demo", trigger="watch")
    assert result.outcome == "ok" and result.unchanged == 3
    assert await error_rows(pool) == {}
    assert await workflow_state(pool) == before


async def test_new_invalid_file_is_not_registered(
    service: SyncService, pool: asyncpg.Pool, demo: Path
) -> None:
    write(demo / "workflows" / "bad.yaml", BROKEN)
    result = await service.sync_pack("demo", trigger="cli")
    assert result.outcome == "errors" and (result.created, result.failed) == (3, 1)
    assert "demo.bad" not in await workflow_state(pool)
    assert ("demo", "workflows/bad.yaml") in await error_rows(pool)
    (demo / "workflows" / "bad.yaml").unlink()
    result = await service.sync_pack("demo", trigger="watch")
    assert result.outcome == "ok" and await error_rows(pool) == {}


async def test_strict_mode_fails_whole_pack(
    settings: Settings, pool: asyncpg.Pool, demo: Path
) -> None:
    strict = SyncService(settings.model_copy(update={"skip_validation_errors": False}), pool)
    write(demo / "workflows" / "bad.yaml", BROKEN)
    result = await strict.sync_pack("demo", trigger="cli")
    assert result.outcome == "errors" and result.created == 0
    assert await workflow_state(pool) == {}
    assert await pack_state(pool) == {}
    assert list(await error_rows(pool)) == [("demo", "workflows/bad.yaml")]


async def test_update_existing_false_keeps_rows(
    settings: Settings, pool: asyncpg.Pool, demo: Path
) -> None:
    keep = SyncService(settings.model_copy(update={"update_existing": False}), pool)
    await keep.sync_pack("demo", trigger="cli")
    before = await workflow_state(pool)
    write(demo / "workflows" / "deploy.yaml", workflow_yaml("Changed"))
    write(demo / "workflows" / "new.yaml", workflow_yaml("New"))
    result = await keep.sync_pack("demo", trigger="watch")
    assert (result.created, result.updated) == (1, 0)
    after = await workflow_state(pool)
    assert after["demo.deploy"] == before["demo.deploy"]
    assert "demo.new" in after


async def test_broken_pack_yaml_keeps_rows(
    service: SyncService, pool: asyncpg.Pool, demo: Path
) -> None:
    await service.sync_pack("demo", trigger="cli")
    before_wf, before_pack = await workflow_state(pool), await pack_state(pool)
    write(demo / "pack.yaml", "ref: demo\nlabel: [unclosed\n")
    write(demo / "workflows" / "extra.yaml", workflow_yaml("Extra"))
    result = await service.sync_pack("demo", trigger="watch")
    assert result.outcome == "pack-error" and result.created == 0
    assert any(d.is_error and d.file.endswith("demo/pack.yaml") for d in result.diagnostics)
    assert await workflow_state(pool) == before_wf
    assert await pack_state(pool) == before_pack
    assert ("demo", "pack.yaml") in await error_rows(pool)
    (demo / "pack.yaml").unlink()
    missing = await service.sync_pack("demo", trigger="watch")
    assert missing.outcome == "pack-error"
    assert any(d.code == "pack-file-missing" for d in missing.diagnostics)
    assert await workflow_state(pool) == before_wf
    write(demo / "pack.yaml", "ref: demo\nlabel: Demo\nversion: 1.0.0\n")
    fixed = await service.sync_pack("demo", trigger="watch")
    assert fixed.outcome == "ok" and fixed.created == 1
    assert await error_rows(pool) == {}


async def test_new_pack_with_broken_pack_yaml_registers_nothing(
    service: SyncService, pool: asyncpg.Pool, packs: Path
) -> None:
    make_pack(packs, "fresh", {"a.yaml": workflow_yaml()}, pack_yaml="ref: other\n")
    result = await service.sync_pack("fresh", trigger="cli")
    assert result.outcome == "pack-error"
    assert await pack_state(pool) == {} and await workflow_state(pool) == {}
    assert ("fresh", "pack.yaml") in await error_rows(pool)


async def test_invalid_ref_never_touches_disk_or_tables(
    service: SyncService, pool: asyncpg.Pool, packs: Path, tmp_path: Path
) -> None:
    make_pack(tmp_path, "outside", {"a.yaml": workflow_yaml()})
    result = await service.sync_pack("../outside", trigger="api")
    assert result.outcome == "pack-error" and result.diagnostics[0].code == "pack-ref-format"
    assert await pack_state(pool) == {} and await error_rows(pool) == {}
    assert await rows(pool, "SELECT * FROM sync_run") == []


async def test_text_the_database_cannot_store_is_a_located_error(
    service: SyncService, pool: asyncpg.Pool, packs: Path
) -> None:
    nul = workflow_yaml().replace(
        "description: A generated workflow", 'description: "bad \\0 byte"'
    )
    surrogate = workflow_yaml().replace("label: Demo", 'label: "\\ud800"')
    make_pack(packs, "odd", {"nul.yaml": nul, "sur.yaml": surrogate, "fine.yaml": workflow_yaml()})
    make_pack(
        packs, "oddpack", {"a.yaml": workflow_yaml()}, pack_yaml='ref: oddpack\nlabel: "x\\0"\n'
    )
    report = await service.sync_all(trigger="cli")
    odd = next(p for p in report.packs if p.pack_ref == "odd")
    assert odd.outcome == "errors" and (odd.created, odd.failed) == (1, 2)
    codes = {w.ref: [d.code for d in w.errors] for w in odd.workflows if w.change == "failed"}
    # caught by the parser (yaml-value) or, as a last line, by the storable check
    stopped = {"unstorable-text", "yaml-value", "yaml-syntax"}
    assert stopped & set(codes["odd.nul"]) and stopped & set(codes["odd.sur"]), codes
    oddpack = next(p for p in report.packs if p.pack_ref == "oddpack")
    assert oddpack.outcome == "pack-error"
    assert any(d.code in stopped for d in oddpack.diagnostics)
    assert set(await workflow_state(pool)) == {"odd.fine"}
    assert ("oddpack", "pack.yaml") in await error_rows(pool)
