"""`packsync run`: wires watcher → scheduler → syncer, leader election, HTTP,
systemd notification and signals, and owns the lifecycle.

Start-up order matters: HTTP first (probes answer while the first sync runs),
then the watcher (so nothing written during the first sync is missed), then
leader election; the first full sync runs once this daemon leads its group.
Shutdown is the reverse, bounded well below Kubernetes' 30 s grace period
even when every connection has gone silent: stop watching, let the in-flight
pack transaction finish (or roll it back, or abort its connection), release
the leader lock, close pools.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from typing import TYPE_CHECKING, Any

import structlog

from packsync import __version__
from packsync.config import Settings
from packsync.daemon.leader import LeaderElector, leader_lock_key
from packsync.daemon.notify import SystemdNotifier
from packsync.daemon.scheduler import FULL, Backoff, SyncScheduler
from packsync.daemon.state import DaemonState
from packsync.daemon.syncer import PackSyncer, is_busy, is_transient
from packsync.daemon.watch import OVERFLOW, Batch, FsWatcher, RootTracker, WatcherUnavailable
from packsync.daemon.watch import quiet_watchdog_warnings as _quiet_watchdog
from packsync.http.api import configure_api
from packsync.http.app import create_app
from packsync.http.server import HttpServer, PortInUse
from packsync.metrics import Metrics

if TYPE_CHECKING:
    from fastapi import FastAPI

    from packsync.sync.service import SyncService

log = structlog.get_logger(__name__)

SHUTDOWN_GRACE_SECONDS = 4.0  # in-flight pack transaction may finish within this
SHUTDOWN_STEP_SECONDS = 1.5  # each later shutdown step (rollback, unlock, close) at most
TICK_SECONDS = 0.25  # base-dir flip check, watchdog pings, readiness bookkeeping


class Daemon:
    def __init__(self, settings: Settings, *, migrate: bool = True) -> None:
        self.settings = settings
        self.metrics = Metrics(__version__)
        self.state = DaemonState(
            metrics=self.metrics,
            sync_group=settings.sync_group,
            base_dir=str(settings.packs_base_dir),
        )
        self.notifier = SystemdNotifier()
        self._stop = asyncio.Event()
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._db_failed = False
        self._ready_sent = False
        self._last_ping = 0.0
        self._rewatch_lock = asyncio.Lock()
        # Built in dependency order: each part gets the bound methods of the
        # parts built before it; the daemon's own methods close the loops.
        self.elector = LeaderElector(
            self._connect,
            leader_lock_key(settings.db_schema, settings.sync_group),
            on_change=self._on_leader,
            on_connection=self._on_connection,
            prepare=self._prepare_database,
            schema=settings.db_schema,
            sync_group=settings.sync_group,
            lease_seconds=settings.leader_lease_seconds,
        )
        self.syncer = PackSyncer(
            settings,
            self.state,
            migrate=migrate,
            should_stop=self._sweep_must_stop,
            on_busy=self._on_busy_pack,
            fence=self.elector.token,
        )
        self.scheduler = SyncScheduler(
            quiet=settings.debounce_seconds,
            max_wait=settings.debounce_max_wait_seconds,
            run_pack=self.syncer.sync_pack,
            run_full=self._run_full,
            is_transient=is_transient,
            is_busy=is_busy,
            can_run=self._may_sync,
            on_db_state=self._on_db_state,
            on_pending=self.metrics.pending_packs.set,
            backoff=Backoff(cap=settings.retry_backoff_max_seconds),
        )
        self.roots = RootTracker(settings.packs_base_dir)
        self.watcher: FsWatcher | None = None
        self.http: HttpServer | None = None
        self.app: FastAPI | None = None
        self.state.pending = self.scheduler.pending
        self.state.running = self.scheduler.running
        self.state.tasks_alive = self._tasks_alive
        self.state.in_flight_for = self.syncer.in_flight_for
        self.state.sync_timeout = settings.pack_sync_timeout_seconds
        # the timeout, then a rollback and a cancel each bounded by the
        # statement timeout: past that the bounding itself failed
        self.state.sync_stuck_after = (
            settings.pack_sync_timeout_seconds + 2 * settings.db_command_timeout_seconds + 10.0
        )
        self.state.lease = self.elector.describe

    # -- lifecycle -------------------------------------------------------------
    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        _quiet_watchdog()
        self._install_signals(loop)
        log.info(
            "packsync daemon starting",
            version=__version__,
            base_dir=str(self.settings.packs_base_dir),
            sync_group=self.settings.sync_group,
            db_schema=self.settings.db_schema,
            database="embedded" if self.settings.database_url is None else "external",
        )
        try:
            await self._start_http()
            await self._start_watcher(loop)
        except WatcherUnavailable as exc:
            log.error("inotify watcher unavailable (watcher = inotify)", reason=str(exc))
            await self._shutdown()
            return 1
        except PortInUse as exc:
            log.error(exc.strerror)
            await self._shutdown()
            return 2
        except OSError as exc:
            log.error("cannot start", error=str(exc))
            await self._shutdown()
            return 1
        self._spawn("scheduler", self.scheduler.run())
        self._spawn("leader", self.elector.run())
        self._spawn("reconcile", self._reconcile_loop())
        self._spawn("tick", self._tick_loop())
        self._spawn("api", self._connect_api())
        self.notifier.status("starting: waiting for leadership and the first full sync")
        await self._stop.wait()
        await self._shutdown()
        return 0

    def request_stop(self) -> None:
        if not self._stop.is_set():
            log.info("stopping")
            self._stop.set()
            self.state.stopping = True
            self.scheduler.stopping = True  # dispatch nothing new from now on
            self.scheduler.wake()

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop)
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGHUP, self.request_reconcile, "signal")

    def _remove_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)

    def request_reconcile(self, trigger: str = "signal") -> None:
        log.info("full reconcile requested", trigger=trigger)
        self.scheduler.mark_now(FULL, trigger)

    async def _shutdown(self) -> None:
        self.state.stopping = True
        self.notifier.stopping("stopping: finishing the in-flight sync")
        if self.watcher is not None:
            await asyncio.to_thread(self.watcher.stop)
        if not await self.scheduler.stop(SHUTDOWN_GRACE_SECONDS, SHUTDOWN_STEP_SECONDS):
            # A rollback is waiting on a silent connection: abort them all.
            log.warning("in-flight sync did not unwind; aborting database connections")
            self.syncer.terminate()
            await self.scheduler.wait_stopped(SHUTDOWN_STEP_SECONDS)
        for name in ("api", "rewatch", "reconcile", "tick", "scheduler", "leader", "reap"):
            task = self._tasks.pop(name, None)
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(task, SHUTDOWN_STEP_SECONDS)
        try:
            await asyncio.wait_for(self.elector.release(), SHUTDOWN_STEP_SECONDS)
        except TimeoutError:
            log.warning("could not release the leader lock in time; the server drops it")
        await self.syncer.close()
        if self.http is not None:
            await self.http.stop(grace=SHUTDOWN_STEP_SECONDS)
        self._remove_signals()
        log.info("packsync daemon stopped")

    def _spawn(self, name: str, coro: Any) -> None:
        self._tasks[name] = asyncio.create_task(coro, name=name)

    def _tasks_alive(self) -> bool:
        core = ("scheduler", "leader", "reconcile", "tick")
        http_ok = self.http is None or self.http.alive()
        return http_ok and all(n in self._tasks and not self._tasks[n].done() for n in core)

    # -- components ------------------------------------------------------------
    async def _start_http(self) -> None:
        cfg = self.settings.http
        app = create_app(self.state)
        self.app = app
        # Until the database is connected the API answers 503 (never open: the
        # token check comes first); leaders and standbys alike serve reads.
        self._configure_api(None)
        self.http = HttpServer(app, cfg.host, cfg.port)
        port = await self.http.start()
        self.state.http_port = port
        log.info("http listening", host=cfg.host, port=port)

    async def _start_watcher(self, loop: asyncio.AbstractEventLoop) -> None:
        self.watcher = FsWatcher(
            loop,
            self._on_fs_batch,
            requested=self.settings.watcher,
            polling_interval=self.settings.polling_interval_seconds,
        )
        self.state.watcher_alive = self._watcher_alive
        await self._watch_root(self.roots.current)

    def _watcher_alive(self) -> bool:
        """Liveness of the watcher. A watcher whose folder was renamed away,
        replaced or deleted dies with it and is moved along within a tick:
        that is the packs going, not the daemon failing (readiness and the
        deletion guard deal with the packs)."""
        assert self.watcher is not None
        if self.watcher.is_alive():
            return True
        rewatch = self._tasks.get("rewatch")
        moving = self._rewatch_lock.locked() or (rewatch is not None and not rewatch.done())
        return moving or self.roots.moved()

    async def _watch_root(self, root: str | None) -> None:
        async with self._rewatch_lock:
            await self._watch_root_locked(root)

    async def _watch_root_locked(self, root: str | None) -> None:
        assert self.watcher is not None
        if root is None:
            await asyncio.to_thread(self.watcher.stop)
            self.watcher.root = None
            self.state.set_watcher(None)
            log.warning("packs base directory is missing; waiting for it", path=self.state.base_dir)
            return
        mode = await asyncio.to_thread(self.watcher.start, root)
        self.state.set_watcher(mode, self.watcher.fallback_reason)
        log.info("watching", path=self.state.base_dir, resolved=root, mode=mode)

    async def _connect_api(self) -> None:
        """Give the REST API the pool and service as soon as the database
        answers (standbys too: they serve reads), retrying with backoff."""
        delay = 0.5
        while True:
            try:
                service = await self.syncer.service()
            except Exception as exc:
                if not is_transient(exc) and not _is_unavailable(exc):
                    log.exception("the REST API cannot reach the database")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            self._configure_api(service)
            return

    def _configure_api(self, service: SyncService | None) -> None:
        if self.app is None:
            return
        configure_api(
            self.app,
            settings=self.settings,
            pool=service.pool if service is not None else None,
            service=service,
            syncer=self.syncer if service is not None else None,
            is_leader=lambda: self.elector.is_leader,
        )

    async def _connect(self) -> Any:
        from packsync.db.connection import connect

        return await connect(self.settings)

    # -- events ----------------------------------------------------------------
    async def _prepare_database(self) -> None:
        await self.syncer.service()

    def _on_busy_pack(self, ref: str) -> None:
        """A pack a sweep skipped as busy stays dirty (the sweep covered its marks)."""
        self.scheduler.mark(ref, "watch")

    def _may_sync(self) -> bool:
        return self.elector.is_leader and not self._stop.is_set()

    def _on_fs_batch(self, batch: Batch) -> None:
        if batch.events:
            self.metrics.fs_events.inc(batch.events)
        if self.roots.changed():  # a git-sync flip: move the watcher along
            self._spawn("rewatch", self._rewatch())
            return
        if batch.full_reasons:
            log.info("full rescan requested", reasons=sorted(batch.full_reasons))
            # Lost events: this sweep is a reconcile, so what it finds counts as drift.
            self.scheduler.mark(FULL, "reconcile" if OVERFLOW in batch.full_reasons else "watch")
        for ref in batch.packs:
            self.scheduler.mark(ref, "watch")

    async def _rewatch(self) -> None:
        log.info(
            "packs base directory now points elsewhere; rescanning", resolved=self.roots.current
        )
        self.scheduler.mark(FULL, "watch")
        await self._watch_root(self.roots.current)

    def _on_leader(self, leader: bool) -> None:
        self.state.set_role(leader)
        if leader:
            trigger = "reconcile" if self.state.first_sync_done else "startup"
            self.scheduler.mark_now(FULL, trigger)
            self.notifier.status("leader: syncing")
        else:
            self.notifier.status("standby: another daemon of this sync group leads")
        self.scheduler.wake()

    def _on_connection(self, up: bool) -> None:
        if not up:  # the leader's connection failed: the pool's may be silent too
            self.syncer.expire_connections()
        self._refresh_db_state()

    def _refresh_db_state(self) -> None:
        connected = self.elector.connected
        self.state.set_db_up(connected and not self._db_failed)
        self.state.standby_ready = connected and self.elector.attempts > 0

    def _on_db_state(self, up: bool) -> None:
        if up == (not self._db_failed):
            return
        self._db_failed = not up
        self._refresh_db_state()
        if up:
            log.info("database reachable again")
            self.notifier.status("leader: database reachable again, catching up")
        else:
            self.notifier.status("degraded: database unreachable, retrying")

    def _sweep_must_stop(self) -> bool:
        """Checked between the packs of a full sweep: stopping, or no longer the
        leader (whoever leads now runs its own sweep)."""
        return self._stop.is_set() or not self.elector.is_leader

    async def _run_full(self, trigger: str, explained: Any) -> None:
        if not await self.syncer.sync_full(trigger, explained):
            return  # interrupted: leadership regained later marks a new full sweep
        if self.watcher is not None and await asyncio.to_thread(self.watcher.over_limit):
            log.warning("inotify watch budget exceeded by new folders; switching to polling")
            self.watcher.requested = "polling"
            await self._watch_root(self.roots.current)
        if not self.state.first_sync_done:
            self.state.first_sync_done = True
            log.info("first full sync done", packs=len(self.state.packs))
        self.notifier.status(f"leader: {len(self.state.packs)} packs in sync")

    # -- periodic --------------------------------------------------------------
    async def _reconcile_loop(self) -> None:
        interval = self.settings.reconcile_interval_seconds
        while True:
            await asyncio.sleep(interval)
            self.scheduler.mark_now(FULL, "reconcile")

    async def _tick_loop(self) -> None:
        """Base-dir flips, readiness bookkeeping and systemd watchdog pings."""
        interval = self.notifier.watchdog_interval()
        while True:
            try:
                await self._tick(interval)
            except Exception:  # keep ticking: a dead watcher shows in /healthz instead
                log.exception("daemon housekeeping failed")
            await asyncio.sleep(TICK_SECONDS)

    async def _tick(self, interval: float | None) -> None:
        if self.roots.changed():
            await self._rewatch()
        self._refresh_db_state()
        self._maybe_ready()
        reap = self._tasks.get("reap")
        if self.syncer.has_abandoned() and (reap is None or reap.done()):
            self._spawn("reap", self.syncer.reap_abandoned())
        now = time.monotonic()
        # an unhealthy daemon stops pinging, so systemd restarts it
        due = interval is not None and now - self._last_ping >= interval
        if due and self.state.live()[0]:
            self.notifier.watchdog()
            self._last_ping = now

    def _maybe_ready(self) -> None:
        """READY=1 once the daemon is in its steady state: leader after the first
        full sync, or standby on a live connection, or (degraded) once the
        database has been found unreachable: the daemon is up and retrying, and
        systemd must not kill it for a database outage."""
        if self._ready_sent:
            return
        if self.state.first_sync_done:
            status = f"leader: {len(self.state.packs)} packs in sync"
        elif self.state.role == "standby" and self.elector.connected and self.elector.attempts:
            status = "standby: another daemon of this sync group leads"
        elif self.elector.failures or self._db_failed:
            status = "degraded: database unreachable, retrying"
        else:
            return
        self._ready_sent = True
        self.notifier.ready(status)


def _is_unavailable(exc: BaseException) -> bool:
    from packsync.db.connection import DatabaseUnavailable

    return isinstance(exc, DatabaseUnavailable)


async def run_daemon(settings: Settings, *, migrate: bool = True) -> int:
    """Run until SIGTERM/SIGINT; 0 on a clean stop, 2 when its port is taken, 1 when it
    cannot start otherwise."""
    return await Daemon(settings, migrate=migrate).run()
