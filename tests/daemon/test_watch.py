"""The watcher with real inotify (and watchdog's polling observer): which
packs an event marks, full-rescan triggers, and the fallback to polling."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from packsync.daemon.watch import (
    WATCH_LIMIT_ENV,
    Batch,
    FsWatcher,
    RootTracker,
    WatcherUnavailable,
    count_dirs,
)
from tests.support.packfactory import make_pack, workflow_yaml


class Seen:
    def __init__(self) -> None:
        self.packs: set[str] = set()
        self.full: set[str] = set()
        self.events = 0

    def __call__(self, batch: Batch) -> None:
        self.packs |= batch.packs
        self.full |= batch.full_reasons
        self.events += batch.events

    def clear(self) -> None:
        self.packs.clear()
        self.full.clear()


async def until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@pytest.fixture
def base(tmp_path: Path) -> Path:
    b = tmp_path / "packs"
    make_pack(b, "alpha", {"one.yaml": workflow_yaml()})
    make_pack(b, "beta", {"two.yaml": workflow_yaml()})
    return b


@pytest.fixture
async def watching(base: Path) -> AsyncIterator[tuple[FsWatcher, Seen]]:
    seen = Seen()
    w = FsWatcher(asyncio.get_running_loop(), seen, requested="auto", polling_interval=0.2)
    assert w.start(os.path.realpath(base)) == "inotify"
    yield w, seen
    w.stop()


async def test_create_modify_delete_map_to_their_pack(
    base: Path, watching: tuple[FsWatcher, Seen]
) -> None:
    w, seen = watching
    (base / "alpha" / "workflows" / "new.yaml").write_text(workflow_yaml("New"))
    await until(lambda: "alpha" in seen.packs)
    assert seen.packs == {"alpha"} and not seen.full
    seen.clear()
    (base / "beta" / "workflows" / "two.yaml").unlink()
    await until(lambda: "beta" in seen.packs)
    assert "alpha" not in seen.packs
    assert w.is_alive()


async def test_editor_atomic_save_and_hidden_files_mark_the_pack(
    base: Path, watching: tuple[FsWatcher, Seen]
) -> None:
    _, seen = watching
    wf = base / "alpha" / "workflows"
    (wf / ".one.yaml.swp").write_text(workflow_yaml("Saved"))
    await until(lambda: "alpha" in seen.packs)
    seen.clear()
    os.rename(wf / ".one.yaml.swp", wf / "one.yaml")  # moved(src=.x.swp, dest=x.yaml)
    await until(lambda: "alpha" in seen.packs)
    assert seen.packs == {"alpha"}


async def test_move_between_packs_marks_source_and_destination(
    base: Path, watching: tuple[FsWatcher, Seen]
) -> None:
    _, seen = watching
    os.rename(base / "alpha" / "workflows" / "one.yaml", base / "beta" / "workflows" / "one.yaml")
    await until(lambda: {"alpha", "beta"} <= seen.packs)


async def test_new_pack_folder_with_files_and_removed_pack(
    base: Path, watching: tuple[FsWatcher, Seen]
) -> None:
    _, seen = watching
    make_pack(base, "gamma", {"g.yaml": workflow_yaml()})
    await until(lambda: "gamma" in seen.packs)
    seen.clear()
    (base / "gamma" / "workflows" / "late.yaml").write_text(workflow_yaml())  # new folder watched
    await until(lambda: "gamma" in seen.packs)
    seen.clear()
    import shutil

    shutil.rmtree(base / "beta")
    await until(lambda: "beta" in seen.packs)


async def test_configmap_data_swap_requests_full_rescan(
    base: Path, watching: tuple[FsWatcher, Seen]
) -> None:
    _, seen = watching
    (base / "..2026_01_01").mkdir()
    os.symlink("..2026_01_01", base / "..data_tmp")
    os.rename(base / "..data_tmp", base / "..data")
    await until(lambda: bool(seen.full))
    assert any("..data" in r or "..2026" in r for r in seen.full)


async def test_top_level_hidden_folders_and_files_are_ignored(
    base: Path, watching: tuple[FsWatcher, Seen]
) -> None:
    _, seen = watching
    (base / ".git").mkdir()
    (base / ".git" / "index").write_text("x")
    (base / "README.md").write_text("hello")
    (base / "alpha" / "pack.yaml").write_text("ref: alpha\nversion: 1.0.1\n")  # a sentinel
    await until(lambda: "alpha" in seen.packs)
    assert seen.packs == {"alpha"} and not seen.full


async def test_symlinked_pack_alias_maps_events_to_the_link_name(tmp_path: Path) -> None:
    base = tmp_path / "packs"
    make_pack(base / ".store", "real", {"a.yaml": workflow_yaml()})
    os.symlink(".store/real", base / "linked")
    seen = Seen()
    w = FsWatcher(asyncio.get_running_loop(), seen, requested="auto", polling_interval=0.2)
    w.start(os.path.realpath(base))
    try:
        (base / ".store" / "real" / "workflows" / "a.yaml").write_text(workflow_yaml("B"))
        await until(lambda: "linked" in seen.packs)
    finally:
        w.stop()


async def test_polling_mode_sees_changes(base: Path) -> None:
    seen = Seen()
    w = FsWatcher(asyncio.get_running_loop(), seen, requested="polling", polling_interval=0.1)
    assert w.start(os.path.realpath(base)) == "polling"
    try:
        (base / "beta" / "workflows" / "two.yaml").write_text(workflow_yaml("Changed!"))
        await until(lambda: "beta" in seen.packs)
        assert w.is_alive()
    finally:
        w.stop()
    assert not w.is_alive()


async def test_auto_falls_back_to_polling_when_watch_budget_is_too_small(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WATCH_LIMIT_ENV, "3")
    assert count_dirs(str(base), 100) > 3
    seen = Seen()
    w = FsWatcher(asyncio.get_running_loop(), seen, requested="auto", polling_interval=0.1)
    assert w.start(os.path.realpath(base)) == "polling"
    assert w.fallback_reason and "max_user_watches" in w.fallback_reason
    try:
        (base / "alpha" / "workflows" / "one.yaml").write_text(workflow_yaml("Polled"))
        await until(lambda: "alpha" in seen.packs)
    finally:
        w.stop()
    forced = FsWatcher(asyncio.get_running_loop(), seen, requested="inotify", polling_interval=0.1)
    with pytest.raises(WatcherUnavailable):
        forced.start(os.path.realpath(base))


async def test_root_tracker_notices_a_git_sync_flip(tmp_path: Path) -> None:
    (tmp_path / "wt1").mkdir()
    (tmp_path / "wt2").mkdir()
    os.symlink("wt1", tmp_path / "link")
    tracker = RootTracker(tmp_path / "link")
    assert tracker.current == str((tmp_path / "wt1").resolve())
    assert not tracker.changed()
    os.symlink("wt2", tmp_path / "link.tmp")
    os.rename(tmp_path / "link.tmp", tmp_path / "link")
    assert tracker.changed() and tracker.current == str((tmp_path / "wt2").resolve())
    assert not tracker.changed()


async def test_watchdog_rewatch_runtime_warning_is_kept_out_of_logs(tmp_path: Path) -> None:
    """Folders created with content and moved at once make watchdog 7 warn about
    re-added watch callbacks; the daemon's filter keeps that out of users' logs
    while other RuntimeWarnings still show."""
    import shutil
    import warnings

    from packsync.daemon.watch import quiet_watchdog_warnings

    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        quiet_watchdog_warnings()
        warnings.warn_explicit(
            "Callback with id '1' already exists for watch w. It will be Overwritten.",
            RuntimeWarning,
            "inotify.py",
            1,
            module="watchdog.observers.inotify",
        )
        warnings.warn_explicit("unrelated", RuntimeWarning, "app.py", 1, module="app")
        base = tmp_path / "churn"
        base.mkdir()
        w = FsWatcher(
            asyncio.get_running_loop(), lambda b: None, requested="inotify", polling_interval=1
        )
        w.start(str(base))
        for i in range(30):  # the real trigger (timing dependent)
            d = base / f"p{i}" / "workflows" / "sub"
            d.mkdir(parents=True)
            for j in range(5):
                (d / f"f{j}.yaml").write_text("x")
            shutil.move(str(base / f"p{i}"), str(base / f"q{i}"))
        await asyncio.sleep(1.0)
        w.stop()
    assert [str(r.message) for r in rec if issubclass(r.category, RuntimeWarning)] == ["unrelated"]


async def test_inotify_queue_overflow_requests_a_full_rescan(
    base: Path, watching: tuple[FsWatcher, Seen]
) -> None:
    """watchdog reports IN_Q_OVERFLOW only as a log warning (from its thread);
    the watcher turns it into a full rescan request."""
    import logging
    import threading

    _, seen = watching
    overflow = threading.Thread(
        target=logging.getLogger("watchdog.observers.inotify_c").warning,
        args=("Inotify queue overflowed; filesystem events were lost",),
    )
    overflow.start()
    overflow.join()
    await until(lambda: "inotify queue overflow" in seen.full)
