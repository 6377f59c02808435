"""File system watcher: watchdog observer thread → pack refs on the event loop.

inotify is a hint, content hashes are the truth: the watcher only says which
packs *may* have changed. Events are mapped to pack refs on the observer
thread and collected in a set (bounded by the number of packs), which one
`call_soon_threadsafe` callback hands to the loop per batch.

The observer watches the *resolved* base directory (inotify on a symlink
would watch the link, not the tree); `RootTracker` notices when the base
directory's symlink points elsewhere (git-sync) and the runner restarts the
watcher on the new target. Names starting with `..` at the top level are
Kubernetes ConfigMap machinery (`..data`, `..2024_01_01...`): any event there
asks for a full rescan, as does the base's `.packsyncignore` (its rules apply
to every pack; a pack's own lies in the pack and maps to it like any file).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import stat
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import structlog
from watchdog.events import (
    DirAttribEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirModifiedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileClosedNoWriteEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileOpenedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from packsync.core.refs import PACK_REF
from packsync.pipeline.ignore import IGNORE_FILE

log = structlog.get_logger(__name__)

WATCH_LIMIT_ENV = "PACKSYNC_INOTIFY_MAX_WATCHES"  # testing/ops: pretend the limit is this
_IGNORED = (FileOpenedEvent, FileClosedEvent, FileClosedNoWriteEvent)
# Asked of the kernel, so the daemon's own reads of pack files (IN_OPEN,
# IN_CLOSE_NOWRITE) never wake the observer thread: with hundreds of packs
# those events cost more CPU than the syncs that caused them.
_WANTED: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileAttribEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirModifiedEvent,
    DirMovedEvent,
    DirAttribEvent,
]
WatchMode = Literal["inotify", "polling"]


class WatcherUnavailable(Exception):
    """inotify was required (`watcher = inotify`) but cannot be used."""


def quiet_watchdog_warnings() -> None:
    """watchdog 7 warns about re-added watch callbacks when a new folder's
    content is reported twice: harmless, and not for users' logs."""
    warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"watchdog(\..*)?$")
    warnings.filterwarnings("ignore", message=r"Callback with id .*", category=RuntimeWarning)
    warnings.filterwarnings("ignore", message=r"Callback with id .* does not exist")


def inotify_watch_limit() -> int | None:
    override = os.environ.get(WATCH_LIMIT_ENV)
    if override and override.isdigit():
        return int(override)
    try:
        return int(Path("/proc/sys/fs/inotify/max_user_watches").read_text().strip())
    except (OSError, ValueError):
        return None


def count_dirs(root: str, stop_after: int) -> int:
    """Folders an inotify recursive watch needs (symlinks not followed, like
    watchdog); stops counting once `stop_after` is exceeded."""
    count = 1
    for _dirpath, dirnames, _files in os.walk(root, followlinks=False):
        count += sum(1 for d in dirnames if not os.path.islink(os.path.join(_dirpath, d)))
        if count > stop_after:
            break
    return count


def too_many_dirs(root: str) -> tuple[bool, int, int | None]:
    """(over the limit?, folders, limit). Keeps 10% headroom for other users."""
    limit = inotify_watch_limit()
    if limit is None:
        return False, 0, None
    budget = int(limit * 0.9)
    dirs = count_dirs(root, budget)
    return dirs > budget, dirs, limit


@dataclass(slots=True)
class Batch:
    """What the observer thread saw since the last hand-over."""

    packs: set[str] = field(default_factory=set)
    full_reasons: set[str] = field(default_factory=set)
    events: int = 0
    top_level_changed: bool = False


class PackMapper:
    """Maps an absolute event path under `root` to the pack it belongs to.

    Top-level symlinks pointing inside the base directory (ConfigMap's
    `pack -> ..data/pack`, or any aliasing) are followed through a map
    target-prefix → refs, refreshed when the top level changes.
    """

    def __init__(self, root: str) -> None:
        self.root = root
        self._aliases: tuple[tuple[str, tuple[str, ...]], ...] = ()
        self.refresh()

    def refresh(self) -> None:
        aliases: dict[str, list[str]] = {}
        try:
            entries = list(os.scandir(self.root))
        except OSError:
            entries = []
        real_root = os.path.realpath(self.root)
        for entry in entries:
            if not PACK_REF.match(entry.name) or not entry.is_symlink():
                continue
            try:
                target = os.path.realpath(entry.path)
            except OSError:  # swapped while being resolved: the next refresh sees it
                continue
            if target == real_root or target.startswith(real_root + os.sep):
                aliases.setdefault(target, []).append(entry.name)
        self._aliases = tuple((t, tuple(refs)) for t, refs in aliases.items())

    def classify(self, path: str, batch: Batch) -> None:
        rel = os.path.relpath(path, self.root)
        if rel == "." or rel.startswith(".." + os.sep) or rel == "..":
            batch.full_reasons.add("base directory changed")
            return
        parts = rel.split(os.sep)
        first = parts[0]
        if len(parts) == 1:
            batch.top_level_changed = True
        if PACK_REF.match(first):
            batch.packs.add(first)
        elif first.startswith("..") or first == IGNORE_FILE:
            batch.full_reasons.add(f"{first} changed")
        for target, refs in self._aliases:
            if path == target or path.startswith(target + os.sep):
                batch.packs.update(refs)


class _Handler(FileSystemEventHandler):
    """Runs on the observer thread: classify, accumulate, wake the loop once."""

    def __init__(
        self, mapper: PackMapper, loop: asyncio.AbstractEventLoop, deliver: Callable[[Batch], None]
    ) -> None:
        self._mapper = mapper
        self._loop = loop
        self._deliver = deliver
        self._lock = threading.Lock()
        self._batch = Batch()
        self._scheduled = False

    def on_any_event(self, event: FileSystemEvent) -> None:
        if isinstance(event, _IGNORED):
            return
        with self._lock:
            self._batch.events += 1
            if event.event_type == "modified" and _as_str(event.src_path) == self._mapper.root:
                # the base folder's own mtime: an entry was added/removed there,
                # which is reported on its own; only the alias map needs a refresh
                self._batch.top_level_changed = True
                return
            self._mapper.classify(_as_str(event.src_path), self._batch)
            if event.dest_path:  # a move: source deleted, destination changed
                self._mapper.classify(_as_str(event.dest_path), self._batch)
            if self._scheduled:
                return
            self._scheduled = True
        with contextlib.suppress(RuntimeError):  # loop closed during shutdown
            self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._lock:
            batch, self._batch = self._batch, Batch()
            self._scheduled = False
        self._deliver(batch)


def _as_str(path: str | bytes) -> str:
    return os.fsdecode(path)


OVERFLOW = "inotify queue overflow"  # a full_reasons entry: events were lost


class _OverflowSpy(logging.Handler):
    """watchdog logs a warning when the kernel's inotify queue overflowed and
    events were lost; turn it into a full rescan request."""

    def __init__(self, on_overflow: Callable[[], None]) -> None:
        super().__init__(logging.WARNING)
        self._on_overflow = on_overflow

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage():
            self._on_overflow()


class FsWatcher:
    """Owns one watchdog observer on the resolved base directory."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        deliver: Callable[[Batch], None],
        *,
        requested: Literal["auto", "inotify", "polling"],
        polling_interval: float,
    ) -> None:
        self._loop = loop
        self._deliver = deliver
        self.requested = requested
        self.polling_interval = polling_interval
        self.mode: WatchMode | None = None
        self.root: str | None = None
        self.fallback_reason: str | None = None
        self._observer: BaseObserver | None = None
        self._mapper: PackMapper | None = None
        self._spy = _OverflowSpy(self._overflowed)

    def start(self, root: str) -> WatchMode | None:
        """Watch `root` (a resolved folder). Returns the mode used, None when the
        folder does not exist (the runner retries when it appears)."""
        self.stop()
        if not os.path.isdir(root):
            self.root = None
            return None
        self.root = root
        self._mapper = PackMapper(root)
        handler = _Handler(self._mapper, self._loop, self._on_batch)
        mode: WatchMode = "polling" if self.requested == "polling" else "inotify"
        if mode == "inotify":
            over, dirs, limit = too_many_dirs(root)
            if over:
                reason = (
                    f"{dirs} folders exceed the inotify watch budget ({limit} max_user_watches)"
                )
                mode = self._fallback(reason)
        if mode == "inotify":
            try:
                self._observer = self._start_observer("inotify", root, handler)
            except OSError as exc:
                if exc.errno not in (errno.ENOSPC, errno.EMFILE, errno.ENOSYS, errno.EACCES):
                    raise
                mode = self._fallback(f"inotify unavailable: {exc.strerror or exc}")
        if mode == "polling":
            self._observer = self._start_observer("polling", root, handler)
        self.mode = mode
        logging.getLogger("watchdog.observers.inotify_c").addHandler(self._spy)
        logging.getLogger("watchdog.observers.inotify").addHandler(self._spy)
        return mode

    def _fallback(self, reason: str) -> WatchMode:
        if self.requested == "inotify":
            raise WatcherUnavailable(reason)
        self.fallback_reason = reason
        log.warning("watcher falls back to polling", reason=reason, interval=self.polling_interval)
        return "polling"

    def _start_observer(self, mode: WatchMode, root: str, handler: _Handler) -> BaseObserver:
        observer: BaseObserver
        if mode == "polling":
            observer = PollingObserver(timeout=self.polling_interval)
        else:
            from watchdog.observers.inotify import InotifyObserver

            observer = InotifyObserver()
        observer.daemon = True
        observer.schedule(handler, root, recursive=True, event_filter=_WANTED)
        observer.start()
        return observer

    def stop(self) -> None:
        observer, self._observer = self._observer, None
        for name in ("watchdog.observers.inotify_c", "watchdog.observers.inotify"):
            logging.getLogger(name).removeHandler(self._spy)
        if observer is None:
            return
        observer.stop()
        observer.join(timeout=5)

    def is_alive(self) -> bool:
        """The observer thread and its emitters run (True when nothing to watch)."""
        if self._observer is None:
            return self.root is None
        return self._observer.is_alive() and all(e.is_alive() for e in self._observer.emitters)

    def over_limit(self) -> bool:
        """Re-check the watch budget (new folders may have been added since start:
        watchdog silently skips folders it cannot watch)."""
        if self.mode != "inotify" or self.root is None or self.requested != "auto":
            return False
        return too_many_dirs(self.root)[0]

    def _on_batch(self, batch: Batch) -> None:
        if batch.top_level_changed and self._mapper is not None:
            self._mapper.refresh()
        self._deliver(batch)

    def _overflowed(self) -> None:
        batch = Batch(full_reasons={OVERFLOW})
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._deliver, batch)


class RootTracker:
    """Where the base directory resolves to. git-sync renames a new symlink over
    `--link` and deletes the old worktree at once: the watcher must move along."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.current, self._identity = self._probe()

    def _probe(self) -> tuple[str | None, tuple[int, int] | None]:
        """The resolved folder and its (device, inode): `rm -rf packs && mv new
        packs` keeps the path but the watch on the old folder is dead."""
        try:
            path = os.path.realpath(self.base_dir)
            st = os.stat(path)
        except OSError:  # missing, or swapped while being resolved
            return None, None
        if not stat.S_ISDIR(st.st_mode):
            return None, None
        return path, (st.st_dev, st.st_ino)

    def moved(self) -> bool:
        """The base no longer resolves to the folder last seen (without
        taking note of it: `changed` does that)."""
        return self._probe() != (self.current, self._identity)

    def changed(self) -> bool:
        """True (once) when the resolved target moved, appeared, vanished or
        was replaced by another folder at the same path."""
        now, identity = self._probe()
        if (now, identity) == (self.current, self._identity):
            return False
        self.current, self._identity = now, identity
        return True
