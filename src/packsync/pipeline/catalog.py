"""catalog: the host's action catalog, without listing the whole host per sync.

Validating a workflow needs to know which actions the packs it references
offer (`HostCatalog`). Building the catalog by listing every pack folder for
every single-pack sync made a watcher storm quadratic (200 packs: 800 listdir
and stat calls per pack synced, plus the inotify events those listings fed
back to the daemon's own watcher).

`CatalogCache.view()` returns a `HostCatalog` whose packs are looked up on
first use: validating a workflow that calls `core.echo` touches the `core`
folder only. Each pack's answer is cached under a *stamp*: (device, inode,
mtime, ctime, size) of the pack folder and of its `actions/`, `workflows/`
and `actions/workflows/` folders. Adding, removing or renaming a file changes
its folder's mtime and ctime, so a cached pack costs four `stat` calls and is
re-listed only when a stamp moved. ctime is in the stamp because tools such
as `rsync -t` put a folder's mtime back after writing into it; nothing can
put ctime back.

The rule (docs/database.md, "Performance"):
- A lookup sees the pack folders that exist at the time of the lookup, with
  every file name added or removed before it.
- A stamp is trusted only once its newest ctime is older than the lookup by
  a safety margin (0.1 s; 3 s when the file system keeps whole seconds), so
  two changes within one timestamp tick can never hide each other: a pack
  changed more recently is re-listed every time it is looked up.
- `forget()` drops every stamp; every full sweep (`sync_all`: startup,
  reconcile, SIGHUP) starts with it. Whatever a stamp could miss (a network
  file system whose server clock runs behind this host's, a clock set back)
  is therefore seen at the latest by the next full reconcile.

A pack with no folder on this host may still be registered in Attune: the
view then answers with the action refs the caller read from Attune's `action`
table (`view(registered)`), so the catalog stays pure.

Thread-safe: single-pack syncs load in worker threads, several at a time.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packsync.core.refs import PACK_REF
from packsync.pipeline.load import pack_actions, stem_refs_on_disk
from packsync.pipeline.model import HostCatalog, ScanResult
from packsync.pipeline.scan import WORKFLOW_DIRS

# Sub-folders whose entries make a pack's catalog entry.
_LISTED = ("actions", *WORKFLOW_DIRS)
# A stamp newer than this (before the lookup) may share its timestamp tick
# with a later change: such packs are re-listed instead of trusted.
MARGIN_NS = 100_000_000
# File systems that keep whole seconds (ext3, FAT, some NFS servers).
COARSE_MARGIN_NS = 3_000_000_000

_FolderStamp = tuple[int, int, int, int, int] | None
_Stamp = tuple[_FolderStamp, ...]


@dataclass(frozen=True, slots=True)
class _Entry:
    stamp: _Stamp
    refs: frozenset[str]
    settled: bool  # stamp old enough to be trusted next time


def _stamp_of(st: os.stat_result | None) -> _FolderStamp:
    if st is None:
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _settled(stamp: _Stamp, looked_up_ns: int) -> bool:
    """ctime, not mtime: the kernel sets it at every change and nothing can set
    it back or ahead (`tar` and `rsync -t` restore mtimes, even future ones)."""
    newest = max((s[3] for s in stamp if s is not None), default=0)
    margin = COARSE_MARGIN_NS if newest % 1_000_000_000 == 0 else MARGIN_NS
    return newest < looked_up_ns - margin


class CatalogCache:
    """The action catalog of one base directory (see the module docstring)."""

    def __init__(self, base_dir: Path, *, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.base_dir = base_dir
        self._clock_ns = clock_ns
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self.listings = 0  # pack folders listed so far (tests, benchmarks)

    def view(self, registered: Mapping[str, frozenset[str]] | None = None) -> CatalogView:
        """A catalog that looks packs up when validation first asks for them.
        `registered`: pack ref → the action refs Attune's `action` table holds,
        the answer for packs that have no folder on this host."""
        return CatalogView(self, registered)

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (a view goes to `validate`'s worker processes); the lock is
        per process."""
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Drop every stamp (full sweeps): the backstop of the rule."""
        with self._lock:
            self._entries.clear()

    def actions_of(self, name: str) -> frozenset[str] | None:
        """The actions pack `name` offers (file stems); None: no such pack folder."""
        if not PACK_REF.match(name):  # never a path: no '..', no '/'
            return None
        # Clock before stamp, stamp before listing: a change racing the listing
        # moves the stamp or leaves it unsettled.
        now = self._clock_ns()
        root = os.path.join(self.base_dir, name)
        root_st = _stat(root)
        if root_st is None or not stat.S_ISDIR(root_st.st_mode):
            with self._lock:
                self._entries.pop(name, None)
            return None
        stamp = (_stamp_of(root_st), *(_stamp_of(_stat(os.path.join(root, s))) for s in _LISTED))
        with self._lock:
            old = self._entries.get(name)
        if old is not None and old.settled and old.stamp == stamp:
            return old.refs
        refs = frozenset(stem_refs_on_disk(self.base_dir, name))
        with self._lock:
            self.listings += 1
            self._entries[name] = _Entry(stamp, refs, _settled(stamp, now))
        return refs


class CatalogView(HostCatalog):
    """The host's catalog for one load: each pack looked up once, on first use,
    so one load validates against one consistent answer. A pack with no folder
    here answers with the action refs Attune's `action` table holds for it
    (`registered`); `add` puts a caller's answer on top of the disk's (the pack
    being loaded offers its parsed action names, not only its file stems)."""

    def __init__(
        self, cache: CatalogCache, registered: Mapping[str, frozenset[str]] | None = None
    ) -> None:
        self._cache = cache
        self._registered = registered or {}
        self._answers: dict[str, frozenset[str] | None] = {}

    def actions_of(self, pack_ref: str) -> frozenset[str] | None:
        if pack_ref not in self._answers:
            found = self._cache.actions_of(pack_ref)
            self._answers[pack_ref] = found if found is not None else self._registered.get(pack_ref)
        return self._answers[pack_ref]

    def add(self, pack_ref: str, actions: Iterable[str]) -> None:
        self._answers[pack_ref] = (self.actions_of(pack_ref) or frozenset()) | frozenset(actions)

    def looked_up(self) -> dict[str, frozenset[str] | None]:
        """The answers given so far (tests, benchmarks)."""
        return dict(self._answers)


def build_catalog(scan: ScanResult) -> CatalogView:
    """The catalog for loading the packs of `scan`: those packs offer their
    parsed action names, every other pack folder its file stems."""
    view = CatalogCache(scan.base_dir).view()
    for ref, scanned in scan.packs.items():
        view.add(ref, pack_actions(scanned))
    return view


__all__ = ["CatalogCache", "CatalogView", "build_catalog"]
