"""The operations the CLI, the daemon and the REST API all call.

One pack = one transaction holding `pg_advisory_xact_lock(schema, pack)`. The
pack is read from disk *after* the lock is taken, so whichever process commits
last wrote the newest disk state (a sweep that scanned early can never
overwrite a newer watch-triggered sync). Deletes go through the guard of
SPEC §6: none when the base directory is unusable, and a sweep-sized removal
(more than `max_delete_fraction` of this group's packs gone) is refused until
confirmed or until it has persisted for `mass_delete_grace_seconds`.

History: `sync_pack` writes one `sync_run` row for its pack; `sync_all` writes
one row for the whole sweep (pack_ref NULL) with the totals, so a reconcile
every 5 minutes adds one row, not one per pack.
"""

from __future__ import annotations

import asyncio
import copy
import os
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from packsync.config import Settings
from packsync.core.diagnostics import error
from packsync.core.refs import PACK_REF, PACK_REF_CODE, pack_ref_message
from packsync.core.results import (
    PackResult,
    SyncReport,
    check_trigger,
)
from packsync.core.text import printable
from packsync.db import queries, reads
from packsync.db.connection import is_connection_error
from packsync.pipeline import preload
from packsync.pipeline.catalog import CatalogCache
from packsync.pipeline.gitrev import head_commit
from packsync.pipeline.links import ActionLink, action_links
from packsync.pipeline.load import (
    LoadedPack,
    load_pack,
    pack_actions,
    pack_checksum,
    parse_workflow,
)
from packsync.pipeline.plan import (
    NOT_FOUND,
    Plan,
    PlanOptions,
    RegisteredPack,
    RegisteredWorkflow,
    ignored_pack,
    plan_pack,
    plan_removed,
    stamp_refresh,
    unchanged_pack,
    unchanged_result,
)
from packsync.pipeline.preload import ParsedCache, Preloader, cached_parser
from packsync.pipeline.scan import (
    BaseDirUnavailable,
    bad_pack_folder_name,
    pack_stamps,
    scan_pack,
)
from packsync.sync.fencing import TokenSource, check_fence
from packsync.sync.guard import (
    BASE_MISSING,
    BaseProbe,
    DeleteBudget,
    DeletionGuard,
    base_problem,
    deletable,
    probe_base,
)
from packsync.sync.history import Recording
from packsync.sync.register import apply_plan, read_registered
from packsync.sync.store import WorkflowStore

_log = structlog.get_logger()
# Seconds between the attempts of a pack transaction whose connection dropped.
_CONNECTION_RETRY_DELAYS = (0.2, 1.0)
# Seconds a single-pack sync may reuse the last read of Attune's action refs.
_REGISTERED_ACTIONS_TTL = 2.0
# A dry run's look at each pack's plan, inside its read-only transaction.
Preview = Callable[[asyncpg.Connection, RegisteredPack, Plan], Awaitable[None]]
# Sweeps that read and hash every file whatever its stat stamp: the periodic
# reconcile and the operator's SIGHUP, where content hashes are the truth.
_HASHING_TRIGGERS = frozenset({"reconcile", "signal"})


class SyncService(WorkflowStore):
    """Sync operations; the reads and the manual delete come from WorkflowStore."""

    def __init__(
        self, settings: Settings, pool: asyncpg.Pool, *, catalog: CatalogCache | None = None
    ) -> None:
        super().__init__(settings, pool)
        self._guard = DeletionGuard(
            settings.max_delete_fraction, settings.mass_delete_grace_seconds
        )
        # The host's action catalog: packs are looked up when a workflow refers
        # to them, re-listed only when their folders changed, and every stamp
        # is dropped at the start of a sweep (pipeline/catalog.py has the rule).
        self._catalog = CatalogCache(settings.packs_base_dir) if catalog is None else catalog
        # pack ref → action refs in Attune's `action` table: the action-existence
        # answer for packs not on this host. Read at every sweep; a single-pack
        # sync reuses a read younger than _REGISTERED_ACTIONS_TTL (a storm of
        # watch events costs one read per interval, not one per pack).
        self._registered_actions: dict[str, frozenset[str]] = {}
        self._registered_actions_at: float | None = None
        # The daemon's leader lease: writes commit only while it holds (fencing.py).
        self.fence: TokenSource | None = None
        # Set on a dry-run twin (`planner`): plans are shown to it, never applied.
        self._preview: Preview | None = None
        # A sweep with many packs to load parses ahead in worker processes.
        self._preloader: Preloader | None = None

    def planner(self, preview: Preview) -> SyncService:
        """A twin whose syncs run the same lock, load, plan and guard steps in
        read-only transactions and hand each plan to `preview` instead of
        applying it; it records no sync_run and logs no sync. It has its own
        copy of the guard (a plan never starts a mass-delete grace period) and
        its own catalog (no state shared with the daemon's worker threads)."""
        twin = copy.copy(self)
        twin._guard = copy.copy(self._guard)
        twin._catalog = CatalogCache(self.settings.packs_base_dir)
        twin.fence = None
        twin._preview = preview
        return twin

    async def _read_registered_actions(self, *, fresh: bool) -> None:
        now = time.monotonic()
        at = self._registered_actions_at
        if fresh or at is None or now - at > _REGISTERED_ACTIONS_TTL:
            self._registered_actions = await reads.registered_actions(self.pool)
            self._registered_actions_at = now

    # ------------------------------------------------------------------ sync
    async def sync_pack(self, ref: str, *, trigger: str) -> PackResult:
        """Sync one pack (watch event, API call, CLI with one pack)."""
        check_trigger(trigger)
        if not PACK_REF.match(ref):
            # never a path: '../x' must not reach the filesystem or the tables
            return PackResult.in_error(ref, ref, PACK_REF_CODE, pack_ref_message(printable(ref)))
        started = datetime.now(UTC)
        clock = time.monotonic()
        await self._read_registered_actions(fresh=False)
        synced = await self._sync_one(
            ref, trigger=trigger, removal=_Removal(self._guard.reference), sweep=False
        )
        assert synced is not None  # a removal is never deferred
        await self._record_run(
            ref,
            trigger,
            started,
            synced.outcome,
            synced.message,
            synced.counts(),
            synced.version_ids,
        )
        if self._preview is None:
            _log_result(synced, trigger, time.monotonic() - clock)
        return synced

    async def sync_all(
        self,
        *,
        trigger: str,
        only: Collection[str] | None = None,
        allow_mass_delete: bool = False,
        progress: Callable[[PackResult], None] | None = None,
    ) -> SyncReport:
        """A full sweep: every pack folder, then the registered packs whose folder
        is gone. Deletions are decided at the end, on a fresh look at the base
        (guard.py): a base swapped mid-sweep makes every pack look gone, and
        nothing is deleted pack by pack on the way."""
        check_trigger(trigger)
        started = datetime.now(UTC)
        base = self.settings.packs_base_dir
        start = await asyncio.to_thread(probe_base, base)
        self._guard.start_sweep(start)
        report = SyncReport(base_ok=start.usable)
        on_disk: set[str] = set()
        if not start.usable:
            report.diagnostics.append(error(str(base), "base-dir-unavailable", BASE_MISSING))
        for name in start.names:
            if PACK_REF.match(name):
                on_disk.add(name)
            else:
                report.diagnostics.append(bad_pack_folder_name(base, name))
        self._catalog.forget()  # the sweep re-lists every pack it looks up
        self._registered_actions_at = None  # read afresh when a pack is first loaded
        present = sorted(on_disk if only is None else on_disk & set(only))
        went: set[str] = set()  # folders that vanished while the sweep ran
        # A plan (a dry run) reads every pack: it shows each pack's plan.
        hashing = trigger in _HASHING_TRIGGERS or self._preview is not None
        stamped = {} if hashing else await self._unchanged_by_stamp(present)
        await self._start_preloader([ref for ref in present if ref not in stamped])
        try:
            for ref in present:
                clock = time.monotonic()
                result = stamped.get(ref) or await self._sync_one(
                    ref, trigger=trigger, removal=None
                )
                if result is None:
                    went.add(ref)
                    continue
                self._report_one(report, result, trigger, clock, progress)
        finally:
            await self._stop_preloader()
        gone, removal = await self._decide_removals(start, on_disk - went, allow_mass_delete)
        wanted = gone | went
        if only is not None:
            wanted = (wanted & set(only)) | (set(only) - on_disk)
        if removal.refusal is not None and wanted:
            report.refused_reason = removal.refusal
        for ref in sorted(wanted):
            if not PACK_REF.match(ref):
                continue
            clock = time.monotonic()
            result = await self._sync_one(ref, trigger=trigger, removal=removal)
            assert result is not None  # a removal is never deferred
            if only is not None and result.message == NOT_FOUND:
                # the user named a pack that is neither on disk nor registered
                result.outcome = "pack-error"
                result.diagnostics.append(
                    error(str(base / ref), "pack-not-found", f"no pack folder '{ref}' in {base}")
                )
            self._report_one(report, result, trigger, clock, progress)
        if report.refused_deletes:
            report.refused_reason = report.refused_reason or next(
                (p.message for p in report.packs if p.outcome == "refused" and p.message), None
            )
        if report.refused_deletes and self._preview is None:
            _log.warning(
                "deletion guard refused to remove packs",
                reason=report.refused_reason or BASE_MISSING,
                packs=len(report.refused_deletes),
                hint=(
                    "confirm with `packsync sync --allow-mass-delete`"
                    if report.base_ok
                    else "mount or restore the packs base directory"
                ),
            )
        message = report.refused_reason or (None if report.base_ok else BASE_MISSING)
        await self._record_run(
            None,
            trigger,
            started,
            report.outcome,
            message,
            report.totals,
            [v for p in report.packs for v in p.version_ids],
        )
        if self._preview is None:
            _log.info(
                "sync sweep finished", trigger=trigger, outcome=report.outcome, **report.totals
            )
        return report

    async def _unchanged_by_stamp(self, refs: list[str]) -> dict[str, PackResult]:
        """The packs of this sweep that need no read at all: their files' stat
        stamp is the one recorded with their checksum, and nothing the database
        holds (error rows, stale rows, the pack row) asks for a look. Read with
        no lock: nothing is written for them, and a pack that changes after
        this look is synced by the event (or sweep) that follows its change."""
        if not self.settings.update_existing:
            return {}
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(queries.STAMPED_PACKS, self.settings.sync_group)
        wanted = set(refs)
        rows = [
            r
            for r in rows
            if r["ref"] in wanted and r["storage_path"] == self._plan_options(r["ref"]).storage_path
        ]
        if not rows:
            return {}
        stamps = await asyncio.to_thread(
            pack_stamps,
            self.settings.packs_base_dir,
            [r["ref"] for r in rows],
            max_file_size=self.settings.max_file_size,
        )
        out: dict[str, PackResult] = {}
        for row in rows:
            if stamps.get(row["ref"]) == row["stamp"]:
                files = {
                    path: RegisteredWorkflow(wid, ref, path, None, "file")
                    for wid, ref, path in row["files"]
                }
                out[row["ref"]] = unchanged_result(row["ref"], files, [])
        return out

    async def _start_preloader(self, refs: list[str]) -> None:
        workers = preload.worker_count()
        if len(refs) < preload.MIN_PACKS or workers < 2:
            return
        await self._read_registered_actions(fresh=True)  # the workers' snapshot
        self._preloader = Preloader(
            self.settings.packs_base_dir,
            refs,
            self._registered_actions,
            max_file_size=self.settings.max_file_size,
            workers=workers,
        )

    async def _stop_preloader(self) -> None:
        preloader, self._preloader = self._preloader, None
        if preloader is not None:
            await asyncio.to_thread(preloader.close)

    async def _parsed_ahead(self, ref: str) -> ParsedCache:
        """What the pool parsed of this pack, if it was handed one (a worker
        that failed costs its parses, nothing else)."""
        future = None if self._preloader is None else self._preloader.take(ref)
        if future is None:
            return {}
        try:
            return await asyncio.wrap_future(future)
        except Exception as exc:
            _log.warning("parsing ahead failed; parsing inline", pack=ref, error=repr(exc))
            return {}

    def _report_one(
        self,
        report: SyncReport,
        result: PackResult,
        trigger: str,
        clock: float,
        progress: Callable[[PackResult], None] | None,
    ) -> None:
        report.packs.append(result)
        logged = result.changed or result.outcome not in ("ok", "removed")
        if logged and self._preview is None:
            _log_result(result, trigger, time.monotonic() - clock)
        if result.outcome == "refused":
            report.refused_deletes.append(result.pack_ref)
        if progress is not None:
            progress(result)

    async def _decide_removals(
        self, start: BaseProbe, seen: set[str], allow_mass_delete: bool
    ) -> tuple[set[str], _Removal]:
        """At the end of a sweep: the registered packs of this group whose folder
        is gone, and how their removal is guarded. The base is probed afresh: it
        must still be the folder the sweep started on."""
        group = self.settings.sync_group
        now = await asyncio.to_thread(probe_base, self.settings.packs_base_dir)
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(queries.GROUP_PACKS, group)
            error_only = [r[0] for r in await conn.fetch(queries.GROUP_ERROR_ONLY_PACKS, group)]
        registered = {r["ref"] for r in rows} | set(error_only)
        gone = registered - seen
        problem = base_problem(start, now) if start.usable else BASE_MISSING
        if problem is not None:
            return gone, _Removal(start, refusal=problem)
        on_disk = set(now.names)
        gone = {ref for ref in gone if ref not in on_disk}
        removing = len(deletable(rows, on_disk))
        confirmed = allow_mass_delete
        refusal = self._guard.refusal(removing, len(rows), confirmed=confirmed)
        budget = self._guard.budget(removing, len(rows), confirmed=confirmed)
        return gone, _Removal(start, refusal=refusal, budget=budget)

    def _plan_options(self, ref: str) -> PlanOptions:
        base = self.settings.packs_base_dir
        return PlanOptions(
            sync_group=self.settings.sync_group,
            # absolute but never resolved: a symlink flip must not change it
            storage_path=os.path.abspath(base / ref),
            pack_root=str(base / ref),
            skip_validation_errors=self.settings.skip_validation_errors,
            update_existing=self.settings.update_existing,
            create_packs=self.settings.create_packs,
        )

    def _load_and_plan(
        self, ref: str, registered: RegisteredPack, opts: PlanOptions, ahead: ParsedCache
    ) -> Plan | PackResult | None:
        """`_load`, then `plan_pack`, both in the worker thread: CPU work that
        grows with the pack never runs on the event loop. A loading bug becomes
        the pack's internal-error result (one odd pack must not stop a sweep);
        a planning bug is raised as it is."""
        try:
            found = self._load(ref, registered, ahead)
        except BaseDirUnavailable:
            raise
        except Exception as exc:
            _log.exception("internal error while loading pack", pack=ref)
            return _internal_error(ref, opts.pack_root, exc)
        if not isinstance(found, tuple):
            return found
        loaded, links = found
        return plan_pack(registered, loaded, opts, links)

    def _load(
        self, ref: str, registered: RegisteredPack, ahead: ParsedCache
    ) -> tuple[LoadedPack, dict[str, ActionLink]] | Plan | PackResult | None:
        """Scan + parse one pack (blocking: runs in a worker thread). Returns
        None when the folder is gone, a PackResult when nothing changed, else
        the loaded pack and its action-linked workflows.

        The host catalog is a view that looks up only the packs this pack's
        workflows refer to (never a listing of every pack per sync: quadratic
        in a storm), each re-listed only when its folders changed.
        """
        base = self.settings.packs_base_dir
        scanned = scan_pack(base, ref, max_file_size=self.settings.max_file_size)
        if scanned is None:
            return None
        opts = self._plan_options(ref)
        if scanned.ignored_pack is not None:
            return ignored_pack(registered, scanned.ignored_pack, opts)
        unchanged = unchanged_pack(registered, scanned, pack_checksum(scanned), opts)
        if unchanged is not None:
            stamp = stamp_refresh(registered, scanned)
            return unchanged if stamp is None else Plan(result=unchanged, stamp=stamp)
        catalog = self._catalog.view(self._registered_actions)
        catalog.add(ref, pack_actions(scanned))
        links = action_links(scanned)
        parse = cached_parser(ahead, parse_workflow) if ahead else None
        return load_pack(scanned, catalog, known=registered.known(links), parse=parse), links

    async def _sync_one(
        self, ref: str, *, trigger: str, removal: _Removal | None, sweep: bool = True
    ) -> PackResult | None:
        """One pack, one transaction. `removal`: how a pack whose folder is gone
        is guarded; None (a sweep's first pass): nothing is deleted, None is
        returned and the sweep decides at its end. `sweep` False (sync_pack): a
        busy pack raises instead of being skipped.

        A connection lost inside the transaction (server restart, a killed
        backend) rolls the pack back; the whole pack transaction is idempotent,
        so it is retried on a fresh pooled connection a few times before the
        error reaches the caller (the daemon then backs off; the CLI exits 3)."""
        for delay in (*_CONNECTION_RETRY_DELAYS, None):
            try:
                return await self._sync_one_checked(
                    ref, trigger=trigger, removal=removal, sweep=sweep
                )
            except Exception as exc:
                if delay is None or not is_connection_error(exc) or self.pool.is_closing():
                    raise
                _log.warning(
                    "database connection lost during a pack sync; retrying the pack",
                    pack=ref,
                    retry_in=delay,
                    error=f"{type(exc).__name__}: {exc}",
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _sync_one_checked(
        self, ref: str, *, trigger: str, removal: _Removal | None, sweep: bool
    ) -> PackResult | None:
        try:
            return await self._sync_one_tx(ref, trigger=trigger, removal=removal)
        except asyncpg.LockNotAvailableError:
            if not sweep:
                raise  # sync_pack: the caller retries (the daemon's scheduler) or reports
            # A sweep must not stall behind one pack another process keeps locked.
            _log.warning("pack is locked by another process; skipped", pack=ref)
            return PackResult.in_error(
                ref,
                self._plan_options(ref).pack_root,
                "pack-busy",
                "another process held this pack's sync lock for more than "
                f"{self.settings.pack_lock_timeout_seconds:g} s "
                "(pack_lock_timeout_seconds); the pack was skipped, registered rows are kept",
            )
        except asyncpg.PostgresError as exc:
            if is_connection_error(exc) or not _is_data_error(exc):
                raise
            # The pack's transaction rolled back; one odd pack must not stop a sweep.
            _log.error("database refused the pack's rows", pack=ref, error=str(exc))
            return PackResult.in_error(
                ref,
                self._plan_options(ref).pack_root,
                "database-error",
                f"the database refused this pack's rows ({exc.sqlstate}: {exc}); "
                "registered rows are kept",
            )

    async def _sync_one_tx(
        self, ref: str, *, trigger: str, removal: _Removal | None
    ) -> PackResult | None:
        opts = self._plan_options(ref)
        await self._read_registered_actions(fresh=False)  # a sweep's first pack reads them
        dry = self._preview is not None
        async with self.pool.acquire() as conn, conn.transaction(readonly=dry):
            timeout_ms = max(1, round(self.settings.pack_lock_timeout_seconds * 1000))
            await conn.execute(queries.SET_LOCK_TIMEOUT, f"{timeout_ms}ms")
            await conn.execute(queries.PACK_XACT_LOCK, self.settings.db_schema, ref)
            registered = await read_registered(conn, ref)
            # only a sweep's own packs: a watch sync never waits on the pool
            ahead = await self._parsed_ahead(ref) if removal is None else {}
            try:
                prepared = await asyncio.to_thread(
                    self._load_and_plan, ref, registered, opts, ahead
                )
            except BaseDirUnavailable as exc:
                if removal is None:
                    return None  # mid-sweep: the end of the sweep refuses with the reason
                return PackResult.in_error(
                    ref,
                    str(self.settings.packs_base_dir),
                    "base-dir-unavailable",
                    BASE_MISSING,
                    outcome="refused",
                    note=str(exc),
                )
            if isinstance(prepared, PackResult):
                return prepared  # nothing changed: no writes
            if prepared is None:  # the folder is gone
                if removal is None:
                    return None
                refusal = await self._removal_refusal(conn, registered, removal)
                plan = plan_removed(registered, opts, refused=refusal)
            else:
                plan = prepared
            if self._preview is not None:
                await self._preview(conn, registered, plan)
            elif not plan.writes_nothing:
                history = await self._recording(plan, trigger, opts.storage_path)
                await apply_plan(conn, plan, sync_group=self.settings.sync_group, history=history)
                if self.fence is not None:
                    await check_fence(conn, self.fence)  # last: right before COMMIT
        return plan.result

    async def _recording(self, plan: Plan, trigger: str, pack_dir: str) -> Recording:
        """How this sync's versions are labelled: the pack's git commit is read
        only when workflow rows change."""
        commit = None
        if plan.upserts or plan.delete_ids or plan.remove_pack:
            commit = await asyncio.to_thread(head_commit, pack_dir)
        return Recording(trigger=trigger, keep=self.settings.history_keep, git_commit=commit)

    async def _removal_refusal(
        self, conn: asyncpg.Connection, registered: RegisteredPack, removal: _Removal
    ) -> str | None:
        """The guard, right before a deletion and after the folder was seen gone:
        the base is probed again and must be the one the decision was made on;
        the deletion is counted (a sweep's budget, or the single-pack count,
        so `rm -rf packs/*` seen pack by pack is refused too)."""
        if removal.refusal is not None:
            return removal.refusal
        owner = registered.owner
        if not _has_rows(registered) or (owner is not None and owner != self.settings.sync_group):
            return None  # nothing of ours to delete
        now = await asyncio.to_thread(probe_base, self.settings.packs_base_dir)
        problem = base_problem(removal.reference, now)
        if problem is not None:
            return problem
        if removal.budget is not None:
            return removal.budget.take()
        rows = await conn.fetch(queries.GROUP_PACKS, self.settings.sync_group)
        refusal = self._guard.single_refusal(len(deletable(rows, set(now.names))), len(rows))
        if refusal is None:
            self._guard.single_deleted += 1
        return refusal

    async def record_interrupted(
        self, *, trigger: str, started: datetime, done: list[PackResult]
    ) -> None:
        """A sweep stopped by the user still leaves its history row."""
        await self._record_run(
            None,
            trigger,
            started,
            "interrupted",
            f"interrupted after {len(done)} pack(s) were committed",
            SyncReport(packs=done).totals,
            [v for p in done for v in p.version_ids],
        )

    async def _record_run(
        self,
        pack_ref: str | None,
        trigger: str,
        started: datetime,
        outcome: str,
        message: str | None,
        counts: dict[str, int],
        version_ids: list[int],
    ) -> None:
        """One history row, linked to the definition versions the run wrote,
        and the group's history pruned, in one round trip."""
        if self._preview is not None:
            return  # a dry run leaves no trace
        async with self.pool.acquire() as conn:
            await conn.execute(
                queries.RECORD_SYNC_RUN,
                pack_ref,
                trigger,
                started,
                datetime.now(UTC),
                counts["loaded"],
                counts["created"],
                counts["updated"],
                counts["unchanged"],
                counts["deleted"],
                counts["failed"],
                outcome,
                self.settings.sync_group,
                message,
                self.settings.sync_run_history,
                version_ids,
            )


@dataclass(slots=True)
class _Removal:
    """How a pack whose folder is gone is handled inside its transaction."""

    reference: BaseProbe | None  # the base the decision was made on
    refusal: str | None = None  # already decided (a sweep's end): refused, and why
    budget: DeleteBudget | None = None  # a sweep's running count; None: a single pack


def _is_data_error(exc: asyncpg.PostgresError) -> bool:
    """Class 22 (data exception) or 23 (integrity): caused by a pack's content."""
    sqlstate = getattr(exc, "sqlstate", None) or ""
    return sqlstate.startswith(("22", "23"))


def _has_rows(registered: RegisteredPack) -> bool:
    return registered.registered or bool(registered.file_rows())


def _internal_error(ref: str, pack_root: str, exc: Exception) -> PackResult:
    return PackResult.in_error(
        ref,
        pack_root,
        "internal-error",
        f"packsync failed to load this pack ({type(exc).__name__}: {exc}); "
        "registered rows are kept — please report this",
    )


def _log_result(result: PackResult, trigger: str, duration: float) -> None:
    level = "info" if result.outcome in ("ok", "removed") else "warning"
    getattr(_log, level)(
        "pack synced",
        pack=result.pack_ref,
        trigger=trigger,
        outcome=result.outcome,
        duration_ms=round(duration * 1000, 1),
        **result.counts(),
        **({"message": result.message} if result.message else {}),
        **_problems_field(result),
    )


_LOGGED_PROBLEMS = 10


def _problems_field(result: PackResult) -> dict[str, Any]:
    """A failing pack's log line carries its located diagnostics (bounded)."""
    problems = result.problems()
    if not problems:
        return {}
    shown = [d.format() for d in problems[:_LOGGED_PROBLEMS]]
    if len(problems) > _LOGGED_PROBLEMS:
        shown.append(f"... and {len(problems) - _LOGGED_PROBLEMS} more")
    return {"problems": shown}
