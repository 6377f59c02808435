"""The planner's rules, directly: registered state + a loaded pack → a plan.

Pure: real folders are scanned and loaded, the registered state is built by
hand, nothing touches a database. Each case is one SPEC §6 rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from packsync.pipeline.catalog import build_catalog
from packsync.pipeline.load import LoadedPack, load_pack, pack_checksum
from packsync.pipeline.model import ScannedPack, ScanResult
from packsync.pipeline.plan import (
    PlanOptions,
    RegisteredPack,
    RegisteredWorkflow,
    plan_pack,
    plan_removed,
    unchanged_pack,
)
from packsync.pipeline.scan import scan_pack
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml

BROKEN = "version: '1'\n"  # no tasks: a located error


def _loaded(
    base: Path, ref: str = "alpha", max_size: int = 1 << 20
) -> tuple[ScannedPack, LoadedPack]:
    scanned = scan_pack(base, ref, max_file_size=max_size)
    assert scanned is not None
    core = scan_pack(base, "core", max_file_size=1 << 20)
    packs = {ref: scanned, **({"core": core} if core is not None else {})}
    catalog = build_catalog(ScanResult(base_dir=base, base_ok=True, packs=packs))
    return scanned, load_pack(scanned, catalog)


def _opts(base: Path, ref: str = "alpha", **kw: bool) -> PlanOptions:
    root = str(base / ref)
    return PlanOptions(sync_group="default", storage_path=root, pack_root=root, **kw)


def _registered(
    ref: str = "alpha", *rows: RegisteredWorkflow, group: str = "default"
) -> RegisteredPack:
    return RegisteredPack(
        ref=ref,
        pack={
            "id": 7,
            **dict.fromkeys(("label", "description", "version", "meta", "storage_path")),
            "tags": [],
            "dependencies": [],
        },
        managed={"sync_group": group, "created_pack_id": 7},
        workflows=list(rows),
    )


def _row(rel: str, ref: str, content_hash: str | None, id_: int = 1) -> RegisteredWorkflow:
    return RegisteredWorkflow(
        id=id_, ref=ref, file_path=rel, content_hash=content_hash, source="file"
    )


@pytest.fixture
def base(tmp_path: Path) -> Path:
    base = tmp_path / "packs"
    make_core_pack(base)
    return base


def test_a_new_file_is_created_and_queued(base: Path) -> None:
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    _, loaded = _loaded(base)
    plan = plan_pack(RegisteredPack(ref="alpha"), loaded, _opts(base))
    assert [w.change for w in plan.result.workflows] == ["created"]
    assert [w.ref for w in plan.upserts] == ["alpha.one"]
    assert plan.result.created == 1 and not plan.writes_nothing


def test_an_edited_file_is_updated_in_place(base: Path) -> None:
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    _, loaded = _loaded(base)
    plan = plan_pack(
        _registered("alpha", _row("workflows/one.yaml", "alpha.one", "old-hash", 41)),
        loaded,
        _opts(base),
    )
    assert [w.change for w in plan.result.workflows] == ["updated"]
    assert plan.replaces == {"workflows/one.yaml": 41}


def test_an_unedited_file_writes_nothing(base: Path) -> None:
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    scanned, loaded = _loaded(base)
    digest = scanned.workflow_files[0].hash
    registered = _registered("alpha", _row("workflows/one.yaml", "alpha.one", digest))
    plan = plan_pack(registered, loaded, _opts(base))
    assert [w.change for w in plan.result.workflows] == ["unchanged"] and not plan.upserts


def test_a_broken_edit_keeps_the_last_good_row(base: Path) -> None:
    make_pack(base, "alpha", {"one.yaml": BROKEN})
    _, loaded = _loaded(base)
    registered = _registered("alpha", _row("workflows/one.yaml", "alpha.one", "good-hash", 41))
    plan = plan_pack(registered, loaded, _opts(base))
    (result,) = plan.result.workflows
    assert (result.change, result.id) == ("failed", 41)
    assert plan.upserts == [] and plan.delete_ids == []  # kept, not replaced or purged
    assert [e.file_path for e in plan.set_errors] == ["workflows/one.yaml"]
    assert plan.result.outcome == "errors"


def test_a_removed_file_is_purged(base: Path) -> None:
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    scanned, loaded = _loaded(base)
    digest = scanned.workflow_files[0].hash
    registered = _registered(
        "alpha",
        _row("workflows/one.yaml", "alpha.one", digest, 1),
        _row("workflows/gone.yaml", "alpha.gone", "h", 2),
    )
    plan = plan_pack(registered, loaded, _opts(base))
    assert plan.delete_ids == [2]
    assert plan.result.deleted == 1


def test_a_file_that_cannot_be_read_is_kept_not_purged(base: Path) -> None:
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One") + "#" * 4096 + "\n"})
    _, loaded = _loaded(base, max_size=1024)  # over the size limit: refused, not read
    registered = _registered("alpha", _row("workflows/one.yaml", "alpha.one", "h", 5))
    plan = plan_pack(registered, loaded, _opts(base))
    (result,) = plan.result.workflows
    assert plan.delete_ids == [] and (result.change, result.id) == ("failed", 5)


def test_a_pack_of_another_sync_group_is_a_conflict_and_untouched(base: Path) -> None:
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    _, loaded = _loaded(base)
    plan = plan_pack(_registered("alpha", group="east"), loaded, _opts(base))
    assert plan.result.outcome == "conflict"
    assert plan.upserts == [] and plan.delete_ids == [] and plan.managed is None


def test_an_api_workflow_with_the_same_ref_wins_over_a_file(base: Path) -> None:
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    _, loaded = _loaded(base)
    api_row = RegisteredWorkflow(
        id=9, ref="alpha.one", file_path=None, content_hash=None, source="api"
    )
    plan = plan_pack(_registered("alpha", api_row), loaded, _opts(base))
    (result,) = plan.result.workflows
    assert result.change == "failed" and result.errors[0].code == "ref-conflict"
    assert plan.upserts == []


def test_a_row_attune_owns_is_never_overwritten(base: Path) -> None:
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    _, loaded = _loaded(base)
    registered = _registered("alpha")
    registered.taken = {"alpha.one"}
    plan = plan_pack(registered, loaded, _opts(base))
    (result,) = plan.result.workflows
    assert result.change == "failed" and result.errors[0].code == "ref-conflict"


def test_update_existing_off_leaves_edited_rows_alone(base: Path) -> None:
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    _, loaded = _loaded(base)
    registered = _registered("alpha", _row("workflows/one.yaml", "alpha.one", "old", 3))
    plan = plan_pack(registered, loaded, _opts(base, update_existing=False))
    assert [w.change for w in plan.result.workflows] == ["unchanged"] and plan.upserts == []


def test_a_removed_pack_is_deleted_unless_the_guard_refuses(base: Path) -> None:
    registered = _registered("alpha", _row("workflows/one.yaml", "alpha.one", "h", 4))
    deleted = plan_removed(registered, _opts(base), refused=None)
    assert (deleted.result.outcome, deleted.remove_pack, deleted.result.deleted) == (
        "removed",
        True,
        1,
    )
    refused = plan_removed(registered, _opts(base), refused="base looks empty")
    assert (refused.result.outcome, refused.remove_pack) == ("refused", False)
    assert refused.writes_nothing and refused.result.message == "base looks empty"


def test_a_removed_pack_of_another_group_is_not_touched(base: Path) -> None:
    registered = _registered("alpha", _row("workflows/one.yaml", "alpha.one", "h"), group="east")
    plan = plan_removed(registered, _opts(base), refused=None)
    assert plan.result.outcome == "ok" and not plan.remove_pack and plan.result.deleted == 0


def test_an_unchanged_pack_is_recognised_without_parsing(base: Path) -> None:
    make_pack(base, "alpha", {"one.yaml": workflow_yaml("One")})
    scanned, _ = _loaded(base)
    opts = _opts(base)
    digest = scanned.workflow_files[0].hash
    registered = _registered("alpha", _row("workflows/one.yaml", "alpha.one", digest))
    assert registered.managed is not None
    registered.managed.update(checksum=pack_checksum(scanned), storage_path=opts.storage_path)
    same = unchanged_pack(registered, scanned, pack_checksum(scanned), opts)
    assert same is not None and [w.change for w in same.workflows] == ["unchanged"]
    # any difference (here: the pack's checksum) takes the full path
    registered.managed["checksum"] = "other"
    assert unchanged_pack(registered, scanned, pack_checksum(scanned), opts) is None
