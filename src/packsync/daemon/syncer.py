"""Runs one sync (a pack, or a full sweep) against the service, and records it.

This is the only daemon module that talks to the database layer. It opens the
pool lazily (the database may be down when the daemon starts: the failure is
transient and the scheduler retries), applies pending migrations once, logs
one line per pack sync with its counts and duration, and feeds metrics, the
status page and the reconcile drift counter.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import asyncpg
import structlog

from packsync.config import Settings
from packsync.daemon.state import DaemonState, PackStatus

if TYPE_CHECKING:
    from packsync.results import PackResult
    from packsync.service import SyncService

log = structlog.get_logger(__name__)

# asyncpg errors that mean "the server or the connection is gone / busy", for
# which the whole (idempotent) per-pack transaction is simply retried later.
_TRANSIENT_PG = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, crash shutdown
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, disk full
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.QueryCanceledError,  # statement_timeout
)

_GAUGES_SQL = """
SELECT (SELECT count(*) FROM pack WHERE sync_group = $1) AS packs,
       (SELECT count(*) FROM workflow_definition w JOIN pack p ON p.id = w.pack
         WHERE p.sync_group = $1) AS workflows,
       (SELECT count(*) FROM workflow_sync_error WHERE sync_group = $1) AS invalid
"""


class ShutdownRequested(Exception):
    """Raised between packs of a full sweep when the daemon stops."""


def is_transient(exc: BaseException) -> bool:
    from packsync.db.connection import DatabaseUnavailable

    return isinstance(exc, (DatabaseUnavailable, OSError, TimeoutError, *_TRANSIENT_PG))


class PackSyncer:
    def __init__(
        self,
        settings: Settings,
        state: DaemonState,
        *,
        migrate: bool = True,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.settings = settings
        self.state = state
        self.metrics = state.metrics
        self._migrate = migrate
        self._should_stop = should_stop
        self._pool: asyncpg.Pool | None = None
        self._service: SyncService | None = None
        self._lock = asyncio.Lock()

    async def service(self) -> SyncService:
        """The service on a live pool; creates both (and migrates) on first use."""
        if self._service is not None:
            return self._service
        async with self._lock:
            if self._service is None:
                from packsync.db.connection import create_pool
                from packsync.service import SyncService

                pool = await create_pool(self.settings)
                try:
                    if self._migrate:
                        from packsync.db.migrate import migrate

                        await migrate(pool, self.settings.db_schema)  # logs what it applied
                except BaseException:
                    await _close_pool(pool)
                    raise
                self._pool = pool
                self._service = SyncService(self.settings, pool)
            return self._service

    # -- one pack ------------------------------------------------------------
    async def sync_pack(self, ref: str, trigger: str) -> None:
        service = await self.service()
        started = time.monotonic()
        with structlog.contextvars.bound_contextvars(pack=ref):
            try:
                result = await service.sync_pack(ref, trigger=trigger)
            except BaseException as exc:
                self._record_failure(ref, trigger, time.monotonic() - started, exc)
                raise
            self._record(result, trigger, time.monotonic() - started, log_unchanged=True)
        await self.refresh_gauges()

    # -- full sweep ----------------------------------------------------------
    async def sync_full(self, trigger: str, explained: Callable[[], set[str]]) -> None:
        service = await self.service()
        started = time.monotonic()
        last = [started]
        results: list[PackResult] = []

        def progress(result: PackResult) -> None:
            now = time.monotonic()
            self._record(result, trigger, now - last[0], log_unchanged=False)
            last[0] = now
            results.append(result)
            if self._should_stop():
                raise ShutdownRequested

        report = await service.sync_all(trigger=trigger, progress=progress)
        seen = {r.pack_ref for r in results}
        for result in report.packs:  # in case the service reports packs without progress
            if result.pack_ref not in seen:
                self._record(result, trigger, 0.0, log_unchanged=False)
        self.state.last_full_sync = time.time()
        drift = self._drift(report.packs, trigger, explained())
        totals = report.totals
        log.info(
            "full sync done",
            trigger=trigger,
            outcome=report.outcome,
            packs=len(report.packs),
            drift=drift,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
            refused_deletes=report.refused_deletes or None,
            **{k: v for k, v in totals.items() if v},
        )
        for diag in report.diagnostics:
            log.warning("sweep problem", diagnostic=diag.format())
        await self.refresh_gauges()

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

    # -- bookkeeping ---------------------------------------------------------
    def _record(
        self, result: PackResult, trigger: str, duration: float, *, log_unchanged: bool
    ) -> None:
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
        if not (log_unchanged or result.changed or result.has_errors):
            return
        fields: dict[str, Any] = {
            "pack": result.pack_ref,
            "trigger": trigger,
            "outcome": result.outcome,
            "loaded": result.loaded,
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "deleted": result.deleted,
            "failed": result.failed,
            "duration_ms": round(duration * 1000, 1),
        }
        if result.message:
            fields["detail"] = result.message
        errors = [d.format() for d in result.diagnostics if d.is_error][:5]
        if errors:
            fields["errors"] = errors
        (log.warning if result.has_errors else log.info)("pack synced", **fields)

    def _record_failure(self, ref: str, trigger: str, duration: float, exc: BaseException) -> None:
        if isinstance(exc, asyncio.CancelledError | ShutdownRequested):
            return
        self.metrics.record_sync(trigger=trigger, outcome="error", duration=duration)
        self.state.packs.setdefault(ref, PackStatus()).errors += 1

    async def refresh_gauges(self) -> None:
        """packs/workflows/invalid_files gauges from the database (best effort)."""
        if self._pool is None:
            return
        try:
            row = await asyncio.wait_for(
                self._pool.fetchrow(_GAUGES_SQL, self.settings.sync_group), 5.0
            )
        except Exception as exc:
            log.debug("could not refresh gauges", error=str(exc))
            return
        if row is not None:
            self.metrics.packs.set(row["packs"])
            self.metrics.workflows.set(row["workflows"])
            self.metrics.invalid_files.set(row["invalid"])

    async def close(self) -> None:
        pool, self._pool, self._service = self._pool, None, None
        if pool is not None:
            await _close_pool(pool)


async def _close_pool(pool: asyncpg.Pool) -> None:
    try:
        await asyncio.wait_for(pool.close(), 5.0)
    except Exception:
        with contextlib.suppress(Exception):
            pool.terminate()
