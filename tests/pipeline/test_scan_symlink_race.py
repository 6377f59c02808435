"""Audit of the scan against a hostile, changing tree: a folder of the pack
swapped for a symlink to the outside between the path check and the open."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from packsync.pipeline.scan import scan_pack
from tests.support.packfactory import make_pack, workflow_yaml

MARKER = b"OUTSIDE-SECRET-7f3a"


def test_a_folder_swapped_for_an_outside_symlink_mid_read_is_never_followed(
    tmp_path: Path,
) -> None:
    """TOCTOU: `workflows/` is renamed away and a symlink to a folder outside
    the base is renamed in, over and over, while the pack is scanned. The
    resolved path passed the check, so only checking the opened descriptor
    (and O_NOFOLLOW) keeps the outside file out; the scan must also never
    raise (os.path.realpath fails with EINVAL when a link becomes a folder)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.yaml").write_bytes(b"version: '1'\nlabel: " + MARKER + b"\n")
    base = tmp_path / "packs"
    pack = make_pack(base, "alpha", {"x.yaml": workflow_yaml("inside")})
    os.symlink(outside, pack / "wlink")
    stop = threading.Event()
    flips = [0]

    def flip() -> None:
        while not stop.is_set():
            os.rename(pack / "workflows", pack / "wdir")
            os.rename(pack / "wlink", pack / "workflows")
            os.rename(pack / "workflows", pack / "wlink")
            os.rename(pack / "wdir", pack / "workflows")
            flips[0] += 1

    flipper = threading.Thread(target=flip, daemon=True)
    flipper.start()
    scans = inside = 0
    try:
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            scanned = scan_pack(base, "alpha", max_file_size=1 << 20)
            scans += 1
            assert scanned is not None
            for source in scanned.workflow_files:
                assert MARKER not in source.content
                inside += 1
            assert all(MARKER.decode() not in d.message for d in scanned.diagnostics)
    finally:
        stop.set()
        flipper.join(5)
    assert scans > 50 and flips[0] > 50
    assert inside > 0  # the real file was read in between: the test did race
