"""A hard link in a pack to a file outside the base directory is read and
registered: decided, not overlooked (docs/reliability.md says why).

A hard link is not a pointer that packsync could refuse to follow: it *is*
the file, with the same inode under both names. It cannot cross file systems,
so "refuse files whose st_dev differs from the base's" never catches one;
st_nlink > 1 cannot tell a second name inside the base from one outside, and
is common (`cp -al`, rsync --link-dest, image layers). Making one needs write
access to the packs folder, which already lets anyone write the content there.
Symlinks, which do point elsewhere, stay refused (symlink-escape)."""

from __future__ import annotations

import os
from pathlib import Path

from packsync.pipeline.scan import scan_pack
from packsync.sync.service import SyncService
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml


async def test_hard_link_to_a_file_outside_the_base_is_registered(
    service: SyncService, packs: Path, tmp_path: Path
) -> None:
    make_core_pack(packs)
    root = make_pack(packs, "demo", {})
    outside = tmp_path / "outside.yaml"
    outside.write_text(workflow_yaml("Outside"))
    link = root / "workflows" / "linked.yaml"
    link.parent.mkdir(exist_ok=True)
    os.link(outside, link)

    # the st_dev rule could not tell: a hard link lives on the base's device
    assert os.stat(link).st_dev == os.stat(packs).st_dev
    assert os.stat(link).st_ino == os.stat(outside).st_ino

    pack = scan_pack(packs, "demo", max_file_size=1 << 20)
    assert pack is not None and pack.diagnostics == []
    assert [f.display_path for f in pack.workflow_files] == [str(link)]  # the in-base name

    result = await service.sync_pack("demo", trigger="cli")
    assert result.outcome == "ok" and result.created == 1

    # a symlink to the same file is still refused
    os.symlink(outside, root / "workflows" / "symlinked.yaml")
    pack = scan_pack(packs, "demo", max_file_size=1 << 20)
    assert pack is not None
    assert [d.code for d in pack.diagnostics] == ["symlink-escape"]
