"""Audit of watcher traps with real inotify: the ConfigMap `..data` swap seen
as a create on some kernels and as a write on others (configmap-reload #190),
and opened/closed events that must not mark anything."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from packsync.daemon.watch import FsWatcher
from tests.daemon.test_watch import Seen, until
from tests.support.packfactory import make_pack, workflow_yaml


@pytest.fixture
def base(tmp_path: Path) -> Path:
    b = tmp_path / "packs"
    (b / "..2026_01_01").mkdir(parents=True)
    make_pack(b / "..2026_01_01", "alpha", {"one.yaml": workflow_yaml()})
    os.symlink("..2026_01_01", b / "..data")
    os.symlink("..data/alpha", b / "alpha")
    return b


@pytest.fixture
async def watching(base: Path) -> AsyncIterator[tuple[FsWatcher, Seen]]:
    seen = Seen()
    w = FsWatcher(asyncio.get_running_loop(), seen, requested="inotify", polling_interval=0.2)
    assert w.start(os.path.realpath(base)) == "inotify"
    yield w, seen
    w.stop()


async def _quiet(seen: Seen) -> None:
    await asyncio.sleep(0.3)
    seen.clear()
    seen.events = 0


async def test_data_swap_reported_as_create_requests_a_rescan(
    base: Path, watching: tuple[FsWatcher, Seen]
) -> None:
    """The kubelet's sequence: new `..<ts>/`, symlink `..data_tmp`, rename over `..data`."""
    _, seen = watching
    await _quiet(seen)
    new = base / "..2026_01_02"
    new.mkdir()
    make_pack(new, "alpha", {"one.yaml": workflow_yaml("v2")})
    os.symlink("..2026_01_02", base / "..data_tmp")
    os.rename(base / "..data_tmp", base / "..data")
    await until(lambda: any(r.startswith("..data") for r in seen.full))


async def test_data_event_reported_as_write_requests_a_rescan(
    base: Path, watching: tuple[FsWatcher, Seen]
) -> None:
    """A kernel that reports the swap as a modification of `..data` (IN_ATTRIB /
    IN_MODIFY on the link itself, no create): still a full rescan."""
    _, seen = watching
    await _quiet(seen)
    os.utime(base / "..data", follow_symlinks=False)
    await until(lambda: "..data changed" in seen.full)
    assert seen.packs == set()  # the rescan covers alpha; no guessing from the path


async def test_data_folder_written_in_place_requests_a_rescan(
    base: Path, watching: tuple[FsWatcher, Seen]
) -> None:
    """A write inside the timestamped folder (no rename at all)."""
    _, seen = watching
    await _quiet(seen)
    (base / "..2026_01_01" / "alpha" / "workflows" / "one.yaml").write_text(workflow_yaml("w"))
    await until(lambda: any(r.startswith("..2026_01_01") for r in seen.full))


async def test_reading_files_marks_nothing(base: Path, watching: tuple[FsWatcher, Seen]) -> None:
    """watchdog 7.1 reports opened/closed for every read: packsync's own scans
    (and any reader) must not feed the watcher back into a sync loop."""
    _, seen = watching
    await _quiet(seen)
    for _ in range(5):
        (base / "alpha" / "workflows" / "one.yaml").read_bytes()
        (base / "alpha" / "pack.yaml").read_bytes()
    await asyncio.sleep(0.5)
    assert seen.packs == set() and seen.full == set() and seen.events == 0


def test_alias_map_survives_top_level_links_swapped_while_resolved(tmp_path: Path) -> None:
    """A top-level pack link replaced by a folder (and back) while the watcher
    refreshes its alias map: os.path.realpath can raise EINVAL mid-swap, which
    would drop the event batch being delivered."""
    import threading
    import time

    from packsync.daemon.watch import PackMapper

    base = tmp_path / "packs"
    make_pack(base, "alpha", {"one.yaml": workflow_yaml()})
    (base / "beta-dir").mkdir()
    os.symlink("alpha", base / "beta-link")
    os.rename(base / "beta-link", base / "beta")
    stop = threading.Event()

    def flip() -> None:
        while not stop.is_set():
            os.rename(base / "beta", base / "beta-link")
            os.rename(base / "beta-dir", base / "beta")
            os.rename(base / "beta", base / "beta-dir")
            os.rename(base / "beta-link", base / "beta")

    flipper = threading.Thread(target=flip, daemon=True)
    flipper.start()
    refreshes = 0
    try:
        mapper = PackMapper(str(base))
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            mapper.refresh()
            refreshes += 1
    finally:
        stop.set()
        flipper.join(5)
    assert refreshes > 100
