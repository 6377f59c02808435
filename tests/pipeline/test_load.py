"""load + check: composition of scan and parse, offline validation targets."""

from __future__ import annotations

import os
from pathlib import Path

from packsync.pipeline.catalog import build_catalog
from packsync.pipeline.check import check_targets, resolve_targets
from packsync.pipeline.load import load_pack, pack_checksum
from packsync.pipeline.scan import scan_base
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml, write

MAX = 1024 * 1024


def _scan(base: Path):
    return scan_base(base, max_file_size=MAX)


def test_known_hashes_skip_parsing(tmp_path: Path) -> None:
    make_pack(tmp_path, "demo", {"a.yaml": workflow_yaml("A"), "b.yaml": workflow_yaml("B")})
    scan = _scan(tmp_path)
    pack = scan.packs["demo"]
    a = pack.workflow_files[0]
    loaded = load_pack(pack, build_catalog(scan), known={a.rel_path: a.hash})
    assert [s.rel_path for s in loaded.unchanged] == ["workflows/a.yaml"]
    assert [w.file_path for w in loaded.workflows] == ["workflows/b.yaml"]
    assert loaded.meta is not None and loaded.meta.ref == "demo"
    # a stale hash means changed: parsed again
    loaded = load_pack(pack, build_catalog(scan), known={a.rel_path: "0" * 64})
    assert len(loaded.workflows) == 2 and loaded.unchanged == []


def test_same_ref_twice_is_an_error_on_the_second_file(tmp_path: Path) -> None:
    make_pack(
        tmp_path,
        "demo",
        {"deploy.yaml": workflow_yaml()},
        action_workflows={"deploy.workflow.yml": workflow_yaml()},
    )
    scan = _scan(tmp_path)
    loaded = load_pack(scan.packs["demo"], build_catalog(scan))
    by_path = {w.file_path: w for w in loaded.workflows}
    assert by_path["workflows/deploy.yaml"].ok
    dup = by_path["actions/workflows/deploy.workflow.yml"]
    assert [d.code for d in dup.diagnostics] == ["duplicate-ref"]
    assert not dup.ok


def test_unreadable_files_count_as_present(tmp_path: Path) -> None:
    root = make_pack(tmp_path, "demo", {"a.yaml": workflow_yaml()})
    os.mkfifo(root / "workflows" / "pipe.yaml")
    scan = _scan(tmp_path)
    loaded = load_pack(scan.packs["demo"], build_catalog(scan))
    assert loaded.present_paths == {"workflows/a.yaml", "workflows/pipe.yaml"}
    assert "not-a-regular-file" in [d.code for d in loaded.diagnostics]


def test_checksum_changes_with_content_and_names(tmp_path: Path) -> None:
    root = make_pack(tmp_path, "demo", {"a.yaml": workflow_yaml("A")})
    first = pack_checksum(_scan(tmp_path).packs["demo"])
    assert first == pack_checksum(_scan(tmp_path).packs["demo"])
    write(root / "workflows" / "a.yaml", workflow_yaml("B"))
    second = pack_checksum(_scan(tmp_path).packs["demo"])
    (root / "workflows" / "a.yaml").rename(root / "workflows" / "c.yaml")
    third = pack_checksum(_scan(tmp_path).packs["demo"])
    assert len({first, second, third}) == 3


def test_catalog_lists_every_pack_on_the_host(tmp_path: Path) -> None:
    make_core_pack(tmp_path)
    make_pack(tmp_path, "demo", {"deploy.yaml": workflow_yaml()})
    make_pack(tmp_path, "other", {}, actions={"file_stem.yaml": "name: real_name\n"})
    catalog = build_catalog(scan_base(tmp_path, max_file_size=MAX, only={"other"}))
    assert catalog.has_action("core.echo") and catalog.has_action("core.noop")
    assert catalog.has_action("demo.deploy")  # workflow refs are actions
    assert catalog.has_action("other.real_name")  # parsed for scanned packs
    assert catalog.has_pack("demo") and not catalog.has_pack("nowhere")
    assert not catalog.has_action("core.missing")


def test_resolve_targets_accepts_refs_folders_bases_and_files(tmp_path: Path) -> None:
    base = tmp_path / "packs"
    make_pack(base, "demo", {"a.yaml": workflow_yaml()})
    make_pack(base, "ops", {"b.yaml": workflow_yaml()})
    assert resolve_targets(base, []) == {base: {"demo": None, "ops": None}}
    assert resolve_targets(base, ["demo"]) == {base: {"demo": None}}
    assert resolve_targets(base, [str(base / "ops")]) == {base: {"ops": None}}
    assert resolve_targets(tmp_path, [str(base)]) == {base: {"demo": None, "ops": None}}
    file_target = resolve_targets(base, [str(base / "demo" / "workflows" / "a.yaml")])
    assert file_target == {base: {"demo": {"workflows/a.yaml"}}}


def test_check_single_file_reports_only_that_file(tmp_path: Path) -> None:
    make_pack(tmp_path, "demo", {"good.yaml": workflow_yaml(), "bad.yaml": "version: [\n"})
    good = check_targets(tmp_path, [str(tmp_path / "demo/workflows/good.yaml")], max_file_size=MAX)
    assert good.files_checked == 1 and not good.has_errors
    bad = check_targets(tmp_path, [str(tmp_path / "demo/workflows/bad.yaml")], max_file_size=MAX)
    assert bad.has_errors
    assert {d.file for d in bad.diagnostics} == {str(tmp_path / "demo/workflows/bad.yaml")}


def test_check_missing_base(tmp_path: Path) -> None:
    report = check_targets(tmp_path / "nope", [], max_file_size=MAX)
    assert [d.code for d in report.diagnostics] == ["base-dir-unavailable"]
    assert report.has_errors
