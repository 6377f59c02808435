"""Parse ahead in worker processes when a sweep has many packs to load.

Parsing and validating is CPU work in Python: one process uses one core. A
sweep with many packs to load (a cold start, a big checkout) hands each pack
to a process pool first; the workers scan it and run `load_pack` on it with a
recording parser, and send back every `ParsedWorkflow` keyed by its file and
content (`ParsedCache`). The sweep itself is unchanged: under the pack's lock
it reads the pack again and runs `load_pack`, whose parser answers from the
cache when the same file with the same content (and action link) was parsed
ahead, and parses it itself otherwise. So what is stored and reported comes
from one code path, and a file that changed after the worker read it is
simply parsed again.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Mapping
from concurrent.futures import BrokenExecutor, Future, ProcessPoolExecutor
from pathlib import Path

from packsync.pipeline.model import ActionMeta, HostCatalog, ParsedWorkflow, SourceFile

# (rel_path, linked content hash) → the file's parse
ParsedCache = dict[tuple[str, str], ParsedWorkflow]
Parser = Callable[[SourceFile, HostCatalog, ActionMeta | None], ParsedWorkflow]

# Below this many packs to load, worker start-up costs more than it saves.
MIN_PACKS = 20
MAX_WORKERS = 2

_worker: _WorkerState | None = None


class _WorkerState:
    def __init__(
        self,
        base_dir: Path,
        registered: Mapping[str, frozenset[str]],
        catalog: HostCatalog | None,
    ) -> None:
        from packsync.pipeline.catalog import CatalogCache

        self.catalog = CatalogCache(base_dir)
        self.registered = registered
        self.base_dir = base_dir
        self.fixed = catalog  # `validate`: the catalog its scan built, used as it is


def _init(
    base_dir: Path, registered: Mapping[str, frozenset[str]], catalog: HostCatalog | None
) -> None:
    global _worker
    _worker = _WorkerState(base_dir, registered, catalog)


def _preload(ref: str, max_file_size: int) -> ParsedCache:
    """In a worker: the parses `load_pack` makes for this pack today."""
    from packsync.pipeline.load import linked_hash, load_pack, pack_actions, parse_workflow
    from packsync.pipeline.scan import scan_pack

    assert _worker is not None
    scanned = scan_pack(_worker.base_dir, ref, max_file_size=max_file_size)
    if scanned is None:
        return {}
    catalog = _worker.fixed
    if catalog is None:  # a sync: the catalog view service._load builds
        view = _worker.catalog.view(_worker.registered)
        view.add(ref, pack_actions(scanned))
        catalog = view
    parsed: ParsedCache = {}

    def recording(
        source: SourceFile, catalog: HostCatalog, action: ActionMeta | None
    ) -> ParsedWorkflow:
        result = parse_workflow(source, catalog, action)
        parsed[(source.rel_path, linked_hash(source, action))] = result
        return result

    load_pack(scanned, catalog, parse=recording)
    return parsed


def cached_parser(cache: ParsedCache, parse: Parser) -> Parser:
    """`parse`, answering from `cache` for a file parsed ahead with the same
    content and action link."""

    def lookup(
        source: SourceFile, catalog: HostCatalog, action: ActionMeta | None
    ) -> ParsedWorkflow:
        from packsync.pipeline.load import linked_hash

        hit = cache.pop((source.rel_path, linked_hash(source, action)), None)
        return hit if hit is not None else parse(source, catalog, action)

    return lookup


def worker_count() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return min(MAX_WORKERS, cpus)


class Preloader:
    """Packs handed to the pool in sweep order, a bounded number ahead of the
    sweep (memory stays flat however many packs there are)."""

    def __init__(
        self,
        base_dir: Path,
        refs: list[str],
        registered: Mapping[str, frozenset[str]],
        *,
        max_file_size: int,
        workers: int,
        catalog: HostCatalog | None = None,
    ) -> None:
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            # spawn: the daemon has threads (watcher, event loop), fork would copy their locks
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init,
            initargs=(base_dir, dict(registered), catalog),
        )
        self._pending = list(reversed(refs))
        self._futures: dict[str, Future[ParsedCache]] = {}
        self._ahead = 4 * workers
        self._max_file_size = max_file_size
        self._fill()

    def _fill(self) -> None:
        while self._pending and len(self._futures) < self._ahead:
            ref = self._pending.pop()
            try:
                self._futures[ref] = self._pool.submit(_preload, ref, self._max_file_size)
            except (BrokenExecutor, RuntimeError):  # a worker died: the sweep parses inline
                self._pending.clear()

    def take(self, ref: str) -> Future[ParsedCache] | None:
        """The pool's work on `ref` (None: not handed to the pool); the next
        pack is handed over in its place."""
        future = self._futures.pop(ref, None)
        self._fill()
        return future

    def result(self, ref: str) -> ParsedCache:
        """Blocking `take`: the parses of `ref`, empty when it was not handed
        over or its worker failed."""
        future = self.take(ref)
        try:
            return {} if future is None else future.result()
        except Exception:
            return {}

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
