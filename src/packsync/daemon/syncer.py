"""Runs one sync (a pack, or a full sweep) against the service, and records it.

This is the only daemon module that talks to the database layer. It opens the
pool lazily (the database may be down when the daemon starts: the failure is
transient and the scheduler retries), applies pending migrations once, binds
the pack ref as log context, and feeds metrics, the status page and the
reconcile drift counter. The per-pack "pack synced" line is the service's
(one per sync); the sweep summary with drift and duration is ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import asyncpg
import structlog

from packsync.config import Settings
from packsync.daemon.state import DaemonState, PackStatus
from packsync.db import backends, errors
from packsync.sync.fencing import LeaseLost, TokenSource

if TYPE_CHECKING:
    from packsync.core.results import PackResult
    from packsync.sync.service import SyncService

log = structlog.get_logger(__name__)

__all__ = ["PackSyncTimeout", "PackSyncer", "SweepInterrupted", "is_busy", "is_transient"]


class SweepInterrupted(Exception):
    """Raised between packs of a full sweep when the daemon stops or is no
    longer the leader: the pack just committed is complete, the rest waits."""


class PackSyncTimeout(TimeoutError):
    """A pack ran past pack_sync_timeout_seconds; its transaction rolled back."""


def is_busy(exc: BaseException) -> bool:
    """The pack's lock is held by another process past pack_lock_timeout_seconds,
    or the leader lease was lost under the sync (whoever leads now syncs it)."""
    return errors.is_busy(exc) or isinstance(exc, LeaseLost)


def is_transient(exc: BaseException) -> bool:
    """db.errors.is_transient, except a pack past its own timeout: retried on
    its own (it may just be too big for the bound), not as a database outage
    that would hold every other pack behind a global backoff."""
    return not isinstance(exc, PackSyncTimeout) and errors.is_transient(exc)


class PackSyncer:
    def __init__(
        self,
        settings: Settings,
        state: DaemonState,
        *,
        migrate: bool = True,
        should_stop: Callable[[], bool] = lambda: False,
        on_busy: Callable[[str], None] = lambda ref: None,
        fence: TokenSource | None = None,
    ) -> None:
        self.settings = settings
        self.state = state
        self.metrics = state.metrics
        self._migrate = migrate
        self._should_stop = should_stop
        self._on_busy = on_busy
        self._fence = fence
        self._pool: asyncpg.Pool | None = None
        self._service: SyncService | None = None
        self._lock = asyncio.Lock()
        # Gauge refreshes: requests are numbered; a refresh covers every request
        # made before it started, so a storm of syncs shares refreshes.
        self._gauge_lock = asyncio.Lock()
        self._gauge_asked = 0
        self._gauge_covered = 0
        # task → monotonic start of the pack it is working on now
        self._in_flight: dict[asyncio.Task[object], float] = {}
        self._reaping = False
        self._expiring: asyncio.Future[None] | None = None

    async def service(self) -> SyncService:
        """The service on a live pool; creates both (and migrates) on first use."""
        if self._service is not None:
            return self._service
        async with self._lock:
            if self._service is None:
                from packsync.db.connection import create_pool
                from packsync.sync.service import SyncService

                pool = await create_pool(self.settings)
                try:
                    if self._migrate:
                        from packsync.db.migrate import migrate

                        s = self.settings  # migrate logs what it applied
                        await migrate(pool, s.db_schema, s.state_schema)
                except BaseException:
                    await _close_pool(pool)
                    raise
                self._pool = pool
                self._service = SyncService(self.settings, pool)
                self._service.fence = self._fence
            return self._service

    @property
    def pool(self) -> asyncpg.Pool | None:
        return self._pool

    # -- one pack ------------------------------------------------------------
    async def sync_pack(self, ref: str, trigger: str) -> None:
        await self.run_pack(ref, trigger)

    async def sync_now(self, ref: str) -> PackResult:
        """`POST /api/v1/packs/{ref}/workflows/sync`. Safe beside the watcher's
        syncs: the service serialises every sync of a pack (daemon, API, CLI)
        with a per-pack transaction lock and reads the disk after taking it."""
        return await self.run_pack(ref, "api")

    async def run_pack(self, ref: str, trigger: str) -> PackResult:
        service = await self.service()
        started = time.monotonic()
        with structlog.contextvars.bound_contextvars(pack=ref):
            try:
                async with self._bounded(ref) as _:
                    result = await service.sync_pack(ref, trigger=trigger)
            except BaseException as exc:
                self._record_failure(ref, trigger, time.monotonic() - started, exc)
                await self._recycle_if_read_only(exc)
                raise
            self._record(result, trigger, time.monotonic() - started)
        await self.refresh_gauges()
        return result

    @contextlib.asynccontextmanager
    async def _bounded(self, what: str) -> AsyncIterator[asyncio.Timeout]:
        """pack_sync_timeout_seconds around one pack (a sweep reschedules it
        at each pack). Past it the task is cancelled; the pack transaction
        rolls back (bounded too: every statement has a timeout) and
        PackSyncTimeout is raised."""
        limit = self.settings.pack_sync_timeout_seconds
        task = asyncio.current_task()
        assert task is not None
        self._in_flight[task] = time.monotonic()
        try:
            async with asyncio.timeout(limit) as bound:
                yield bound
        except TimeoutError as exc:
            if bound.expired():
                log.error("sync exceeded pack_sync_timeout_seconds; abandoned", what=what)
                raise PackSyncTimeout(
                    f"{what}: a pack ran longer than pack_sync_timeout_seconds ({limit:g} s)"
                ) from exc
            raise
        finally:
            self._in_flight.pop(task, None)

    def _next_pack(self, bound: asyncio.Timeout) -> None:
        task = asyncio.current_task()
        if task is not None and task in self._in_flight:
            self._in_flight[task] = time.monotonic()
        loop = asyncio.get_running_loop()
        bound.reschedule(loop.time() + self.settings.pack_sync_timeout_seconds)

    def in_flight_for(self) -> float:
        """Seconds the longest-running current pack has been running (0: none)."""
        if not self._in_flight:
            return 0.0
        return time.monotonic() - min(self._in_flight.values())

    # -- full sweep ----------------------------------------------------------
    async def sync_full(self, trigger: str, explained: Callable[[], set[str]]) -> bool:
        """A full sweep; False when it was interrupted between packs."""
        service = await self.service()
        started = time.monotonic()
        last = [started]
        results: list[PackResult] = []

        bound: list[asyncio.Timeout] = []

        def progress(result: PackResult) -> None:
            now = time.monotonic()
            self._record(result, trigger, now - last[0])
            last[0] = now
            results.append(result)
            if bound:
                self._next_pack(bound[0])
            if self._should_stop():
                raise SweepInterrupted

        try:
            async with self._bounded("full sync") as timeout:
                bound.append(timeout)
                report = await service.sync_all(trigger=trigger, progress=progress)
        except SweepInterrupted:
            log.info("full sync interrupted", trigger=trigger, packs_done=len(results))
            await self.refresh_gauges()
            return False
        except Exception as exc:
            await self._recycle_if_read_only(exc)
            raise
        seen = {r.pack_ref for r in results}
        for result in report.packs:  # in case the service reports packs without progress
            if result.pack_ref not in seen:
                self._record(result, trigger, 0.0)
        self.state.last_full_sync = time.time()
        self.state.set_refusal(report.refused_reason, report.refused_deletes)
        drift = self._drift(report.packs, trigger, explained())
        totals = report.totals
        log.info(
            "full sync done",
            trigger=trigger,
            outcome=report.outcome,
            packs=len(report.packs),
            drift=drift,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
            **({"refused_deletes": report.refused_deletes} if report.refused_deletes else {}),
            **{k: v for k, v in totals.items() if v},
        )
        for diag in report.diagnostics:
            log.warning("sweep problem", diagnostic=diag.format())
        await self.refresh_gauges()
        return True

    def _drift(self, packs: list[PackResult], trigger: str, explained: set[str]) -> int:
        """Packs a periodic/SIGHUP reconcile changed although no event marked
        them dirty: what the watcher missed (queue overflow, unwatched folders)."""
        if trigger not in ("reconcile", "signal"):
            return 0
        missed = [p.pack_ref for p in packs if p.changed and p.pack_ref not in explained]
        if missed:
            self.metrics.reconcile_drift.inc(len(missed))
            log.warning("reconcile found changes the watcher missed", packs=missed)
        return len(missed)

    async def _recycle_if_read_only(self, exc: BaseException) -> None:
        """Sessions opened while the database was read-only stay read-only when
        it becomes writable again: replace every pooled connection."""
        read_only = isinstance(exc, asyncpg.exceptions.ReadOnlySQLTransactionError)
        if read_only and self._pool is not None:
            log.warning("database is read-only; pooled connections will be replaced")
            await self._pool.expire_connections()

    # -- bookkeeping ---------------------------------------------------------
    def _record(self, result: PackResult, trigger: str, duration: float) -> None:
        """Metrics and /status for one pack result. The log line ("pack synced",
        with the counts) is written by the service itself, once per sync."""
        if any(d.code == "pack-busy" for d in result.diagnostics):
            self._on_busy(result.pack_ref)
        now = time.time()
        self.metrics.record_sync(
            trigger=trigger,
            outcome=result.outcome,
            duration=duration,
            created=result.created,
            updated=result.updated,
            deleted=result.deleted,
            unchanged=result.unchanged,
            finished_at=now,
        )
        self.state.set_refused(result.pack_ref, result.outcome == "refused", result.message)
        if result.outcome == "removed":
            self.state.packs.pop(result.pack_ref, None)
        else:
            status = self.state.packs.setdefault(result.pack_ref, PackStatus())
            status.last_sync = now
            status.last_trigger = trigger
            status.last_outcome = result.outcome
            status.last_duration_seconds = round(duration, 4)
            status.syncs += 1
            status.invalid_files = result.failed
            status.failing_files = failing_files(result)
            status.last_error = None

    def _record_failure(self, ref: str, trigger: str, duration: float, exc: BaseException) -> None:
        if isinstance(exc, asyncio.CancelledError | SweepInterrupted):
            return
        self.metrics.record_sync(trigger=trigger, outcome="error", duration=duration)
        status = self.state.packs.setdefault(ref, PackStatus())
        status.errors += 1
        status.last_error = _one_line(exc)
        status.last_error_at = time.time()

    # -- abandoned sessions --------------------------------------------------
    def has_abandoned(self) -> bool:
        return backends.abandoned_count() > 0

    async def reap_abandoned(self) -> None:
        """End the server sessions this process gave up on (a silent
        connection's session keeps its locks until the server notices).
        Uses a fresh, untracked connection: the pool's may be silent too."""
        from packsync.db.connection import connect

        if self._reaping or not self.has_abandoned():
            return
        self._reaping = True
        try:
            conn = await connect(self.settings, track=False)
            try:
                await backends.reap_abandoned(conn)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 2.0)
                if not conn.is_closed():
                    conn.terminate()
        except Exception as exc:
            log.debug("could not end abandoned sessions yet", error=_one_line(exc))
        finally:
            backends.forget_stale()
            self._reaping = False

    def expire_connections(self) -> None:
        """The leader's connection went silent: the pool's idle ones are
        suspect too. They are replaced on their next use (closed in the
        background), instead of each costing a statement timeout."""
        if self._pool is not None:
            self._expiring = asyncio.ensure_future(self._pool.expire_connections())

    async def refresh_gauges(self) -> None:
        """packs/workflows/invalid_files gauges from the database (best effort).

        Returns once a refresh that started after this call has finished; calls
        that queue up behind a running refresh share the next one (four syncs
        finishing together cost two count queries, not four)."""
        if self._service is None:
            return
        self._gauge_asked += 1
        ticket = self._gauge_asked
        async with self._gauge_lock:
            if self._gauge_covered >= ticket:
                return  # a refresh that started after our request has finished
            covers = self._gauge_asked
            await self._refresh_gauges_now()
            self._gauge_covered = max(self._gauge_covered, covers)

    async def _refresh_gauges_now(self) -> None:
        if self._service is None:
            return
        try:
            stats = await asyncio.wait_for(self._service.stats(), 5.0)
        except Exception as exc:
            log.debug("could not refresh gauges", error=str(exc))
            return
        self.metrics.packs.set(stats["packs"])
        self.metrics.workflows.set(stats["workflows"])
        self.metrics.invalid_files.set(stats["invalid_files"])

    async def close(self) -> None:
        pool, self._pool, self._service = self._pool, None, None
        if pool is not None:
            await _close_pool(pool)

    def terminate(self) -> None:
        """Shutdown past its grace: abort every pooled connection now (a
        rollback waiting on a silent connection ends with it)."""
        if self._pool is not None:
            self._pool.terminate()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


async def _close_pool(pool: asyncpg.Pool) -> None:
    try:
        await asyncio.wait_for(pool.close(), 2.0)
    except Exception:
        with contextlib.suppress(Exception):
            pool.terminate()


_STATUS_FILES = 20
_STATUS_LINES = 10


def failing_files(result: PackResult) -> dict[str, list[str]]:
    """A pack's located diagnostics by file for /status, bounded per pack and file."""
    by_file: dict[str, list[str]] = {}
    for d in result.problems():
        lines = by_file.setdefault(d.file, [])
        if len(lines) < _STATUS_LINES:
            lines.append(d.format())
    return dict(list(by_file.items())[:_STATUS_FILES])
