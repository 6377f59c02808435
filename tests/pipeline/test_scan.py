"""scan: real folders, real symlinks, FIFOs and oversized files."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from packsync.pipeline.model import FileKind
from packsync.pipeline.scan import (
    BaseDirUnavailable,
    is_hidden,
    list_pack_refs,
    scan_base,
    scan_pack,
)
from tests.support.packfactory import make_pack, workflow_yaml, write

MAX = 1024 * 1024


def codes(diags: list) -> list[str]:
    return [d.code for d in diags]


def test_finds_packs_workflows_and_actions(tmp_path: Path) -> None:
    make_pack(
        tmp_path,
        "demo",
        {"a.yaml": workflow_yaml(), "b.yml": workflow_yaml()},
        actions={"act.yaml": "name: act\n"},
        action_workflows={"c.workflow.yaml": workflow_yaml()},
    )
    result = scan_base(tmp_path, max_file_size=MAX)
    assert result.base_ok
    pack = result.packs["demo"]
    assert pack.pack_file is not None and pack.pack_file.kind is FileKind.PACK
    assert [f.rel_path for f in pack.workflow_files] == [
        "workflows/a.yaml",
        "workflows/b.yml",
        "actions/workflows/c.workflow.yaml",
    ]
    assert [f.stem_ref for f in pack.workflow_files] == ["demo.a", "demo.b", "demo.c"]
    assert [f.rel_path for f in pack.action_files] == ["actions/act.yaml"]
    assert pack.diagnostics == []


@pytest.mark.parametrize(
    "name", [".git", "..data", ".#x.yaml", "x.yaml.swp", "x.yaml~", ".hidden.yaml", "#x#"]
)
def test_hidden_names(name: str) -> None:
    assert is_hidden(name)


def test_hidden_files_and_folders_never_load(tmp_path: Path) -> None:
    root = make_pack(tmp_path, "demo", {"ok.yaml": workflow_yaml()})
    for name in (".x.yaml", ".#y.yaml", "z.yaml~", "w.yaml.swp", "notes.txt"):
        write(root / "workflows" / name, workflow_yaml())
    write(tmp_path / ".git" / "pack.yaml", "ref: git\n")
    result = scan_base(tmp_path, max_file_size=MAX)
    assert list(result.packs) == ["demo"]
    assert [f.rel_path for f in result.packs["demo"].workflow_files] == ["workflows/ok.yaml"]


def test_missing_base_dir_is_not_ok(tmp_path: Path) -> None:
    result = scan_base(tmp_path / "nope", max_file_size=MAX)
    assert not result.base_ok
    assert codes(result.diagnostics) == ["base-dir-unavailable"]
    with pytest.raises(BaseDirUnavailable):
        scan_pack(tmp_path / "nope", "demo", max_file_size=MAX)
    assert list_pack_refs(tmp_path / "nope") is None


def test_empty_base_dir_is_ok_with_no_packs(tmp_path: Path) -> None:
    result = scan_base(tmp_path, max_file_size=MAX)
    assert result.base_ok and result.packs == {}


def test_removed_pack_scans_as_none(tmp_path: Path) -> None:
    assert scan_pack(tmp_path, "gone", max_file_size=MAX) is None


def test_invalid_pack_folder_name(tmp_path: Path) -> None:
    make_pack(tmp_path, "Bad_Pack", {"a.yaml": workflow_yaml()})
    result = scan_base(tmp_path, max_file_size=MAX)
    assert result.packs == {}
    assert codes(result.diagnostics) == ["pack-ref-format"]


def test_missing_pack_yaml(tmp_path: Path) -> None:
    write(tmp_path / "demo" / "workflows" / "a.yaml", workflow_yaml())
    pack = scan_base(tmp_path, max_file_size=MAX).packs["demo"]
    assert pack.pack_file is None
    assert codes(pack.diagnostics) == ["pack-file-missing"]
    assert len(pack.workflow_files) == 1


def test_symlink_escaping_base_is_refused_and_never_read(tmp_path: Path) -> None:
    base = tmp_path / "packs"
    root = make_pack(base, "demo", {})
    secret = tmp_path / "secret.yaml"
    secret.write_text("password: hunter2\n")
    (root / "workflows").mkdir(exist_ok=True)
    os.symlink(secret, root / "workflows" / "leak.yaml")
    pack = scan_base(base, max_file_size=MAX).packs["demo"]
    assert pack.workflow_files == []
    assert codes(pack.diagnostics) == ["symlink-escape"]
    assert pack.unreadable_workflows == {"workflows/leak.yaml": "symlink-escape"}
    assert "hunter2" not in repr(pack)


def test_pack_folder_symlink_escaping_base_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "packs"
    base.mkdir()
    outside = make_pack(tmp_path / "elsewhere", "demo", {"a.yaml": workflow_yaml()})
    os.symlink(outside, base / "demo")
    result = scan_base(base, max_file_size=MAX)
    assert result.packs == {}
    assert codes(result.diagnostics) == ["symlink-escape"]


def test_symlink_inside_base_is_followed_with_logical_path(tmp_path: Path) -> None:
    root = make_pack(tmp_path, "demo", {})
    write(tmp_path / "shared" / "real.yaml", workflow_yaml())
    (root / "workflows").mkdir(exist_ok=True)
    os.symlink(tmp_path / "shared" / "real.yaml", root / "workflows" / "linked.yaml")
    pack = scan_base(tmp_path, max_file_size=MAX).packs["demo"]
    assert [f.rel_path for f in pack.workflow_files] == ["workflows/linked.yaml"]


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    root = make_pack(tmp_path, "demo", {})
    (root / "workflows").mkdir(exist_ok=True)
    os.mkfifo(root / "workflows" / "pipe.yaml")
    done = threading.Event()
    out: list = []

    def work() -> None:
        out.append(scan_base(tmp_path, max_file_size=MAX))
        done.set()

    threading.Thread(target=work, daemon=True).start()
    assert done.wait(10), "scan blocked on a FIFO"
    pack = out[0].packs["demo"]
    assert codes(pack.diagnostics) == ["not-a-regular-file"]
    assert "workflows/pipe.yaml" in pack.unreadable_workflows


def test_directory_named_like_yaml_is_refused(tmp_path: Path) -> None:
    root = make_pack(tmp_path, "demo", {})
    (root / "workflows" / "dir.yaml").mkdir(parents=True)
    pack = scan_base(tmp_path, max_file_size=MAX).packs["demo"]
    assert codes(pack.diagnostics) == ["not-a-regular-file"]


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    make_pack(tmp_path, "demo", {"big.yaml": "x: " + "a" * 2000 + "\n", "ok.yaml": "x: 1\n"})
    pack = scan_base(tmp_path, max_file_size=1000).packs["demo"]
    assert [f.rel_path for f in pack.workflow_files] == ["workflows/ok.yaml"]
    assert codes(pack.diagnostics) == ["file-too-large"]
    assert "over the max_file_size limit of 1000 bytes" in pack.diagnostics[0].message


def test_configmap_layout_keeps_logical_paths(tmp_path: Path) -> None:
    """A ConfigMap volume: files are symlinks through `..data` → `..<timestamp>`."""
    root = make_pack(tmp_path, "demo", {})
    wf = root / "workflows"
    stamp = wf / "..2026_11_22_10_00_00.1"
    write(stamp / "deploy.yaml", workflow_yaml("v1"))
    os.symlink(stamp.name, wf / "..data")
    os.symlink("..data/deploy.yaml", wf / "deploy.yaml")
    first = scan_base(tmp_path, max_file_size=MAX).packs["demo"]
    # the swap: new timestamp dir, ..data renamed over, old dir removed
    stamp2 = wf / "..2026_11_22_10_05_00.2"
    write(stamp2 / "deploy.yaml", workflow_yaml("v2"))
    os.symlink(stamp2.name, wf / "..data_tmp")
    os.rename(wf / "..data_tmp", wf / "..data")
    for f in stamp.iterdir():
        f.unlink()
    stamp.rmdir()
    second = scan_base(tmp_path, max_file_size=MAX).packs["demo"]
    assert [f.rel_path for f in first.workflow_files] == ["workflows/deploy.yaml"]
    assert [f.rel_path for f in second.workflow_files] == ["workflows/deploy.yaml"]
    assert first.workflow_files[0].hash != second.workflow_files[0].hash
    assert b"v2" in second.workflow_files[0].content


def _flip(link: Path, target: Path) -> None:
    tmp = link.with_name(link.name + ".tmp")
    os.symlink(target, tmp)
    os.rename(tmp, link)


def test_git_sync_flip_keeps_identity_and_reads_one_snapshot(tmp_path: Path) -> None:
    """git-sync: `packs` is a symlink renamed over to a new worktree; the old one
    is deleted at once. Rows keyed by logical paths must not change."""
    trees = tmp_path / ".worktrees"
    make_pack(trees / "aaa", "demo", {"a.yaml": workflow_yaml("A")})
    link = tmp_path / "packs"
    os.symlink(trees / "aaa", link)
    before = scan_base(link, max_file_size=MAX)
    make_pack(trees / "bbb", "demo", {"a.yaml": workflow_yaml("B")})
    _flip(link, trees / "bbb")
    import shutil

    shutil.rmtree(trees / "aaa")
    after = scan_base(link, max_file_size=MAX)
    assert after.base_ok
    assert before.packs["demo"].root == after.packs["demo"].root == link / "demo"
    assert [f.rel_path for f in after.packs["demo"].workflow_files] == ["workflows/a.yaml"]
    assert b"B" in after.packs["demo"].workflow_files[0].content


def test_scan_during_continuous_flips_never_loses_a_pack(tmp_path: Path) -> None:
    """Flip the base link back and forth while scanning: every scan sees the
    pack (from one snapshot or the other), never an empty or partial base."""
    trees = tmp_path / ".worktrees"
    for name in ("t0", "t1"):
        for i in range(5):
            make_pack(trees / name, f"p{i}", {f"w{j}.yaml": workflow_yaml(name) for j in range(5)})
    link = tmp_path / "packs"
    os.symlink(trees / "t0", link)
    stop = threading.Event()

    def flipper() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            _flip(link, trees / f"t{n % 2}")
            time.sleep(0.001)

    thread = threading.Thread(target=flipper, daemon=True)
    thread.start()
    try:
        for _ in range(30):
            result = scan_base(link, max_file_size=MAX)
            assert result.base_ok
            assert sorted(result.packs) == [f"p{i}" for i in range(5)]
            for pack in result.packs.values():
                assert len(pack.workflow_files) == 5
    finally:
        stop.set()
        thread.join()
