"""Runs syncs: debounced per pack, single-flight per pack, retried with backoff.

Keys are pack refs, or FULL for a full rescan (reconcile, SIGHUP, `..data`,
base-dir flip). A full rescan runs beside pack syncs, never instead of them:
a pack marked before or during a sweep is still synced on its own debounce
clock, so one huge pack early in the sweep cannot hold an edit of another pack
past `debounce_max_wait_seconds` (the per-pack transaction lock serialises a
pack synced by both; the second finds it unchanged). A pack that gets events
while it syncs stays marked and is synced again right after.

A failed sync is never forgotten: its key stays pending (visible in /status
and `packsync_pending_packs`) until a sync of it succeeds. A pack locked by
another process ("busy") is retried every few seconds; transient (database)
failures close a global gate for a capped exponential backoff with jitter,
then one probe runs before the rest: a database outage costs one failed
attempt per backoff step, not one per dirty pack. Other failures (a bug) are
retried per key with their own capped backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import structlog

from packsync.daemon.debounce import Debouncer

log = structlog.get_logger(__name__)

FULL = "*"  # never a pack ref (refs match ^[a-z][a-z0-9_-]*$)
BUSY_RETRY_SECONDS = 2.0  # a pack locked by another process: retried this often
FAILED_RETRY_CAP_SECONDS = 60.0  # non-transient failures: retried at least this often

RunPack = Callable[[str, str], Coroutine[Any, Any, None]]
ExplainedFn = Callable[[], set[str]]
RunFull = Callable[[str, ExplainedFn], Coroutine[Any, Any, None]]


class Backoff:
    """Capped exponential backoff with jitter (0.5x-1x of the step)."""

    def __init__(self, base: float = 0.5, cap: float = 30.0) -> None:
        self.base = base
        self.cap = cap
        self.attempt = 0

    def next(self) -> float:
        step = min(self.cap, self.base * float(2**self.attempt))
        self.attempt = min(self.attempt + 1, 30)
        return step * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not crypto

    def reset(self) -> None:
        self.attempt = 0


@dataclass(slots=True)
class _Running:
    key: str
    trigger: str
    task: asyncio.Task[None]


class SyncScheduler:
    def __init__(
        self,
        *,
        quiet: float,
        max_wait: float,
        run_pack: RunPack,
        run_full: RunFull,
        is_transient: Callable[[BaseException], bool],
        is_busy: Callable[[BaseException], bool] = lambda exc: False,
        can_run: Callable[[], bool] = lambda: True,
        on_db_state: Callable[[bool], None] = lambda up: None,
        on_pending: Callable[[int], None] = lambda n: None,
        max_concurrent: int = 4,
        backoff: Backoff | None = None,
        failed_retry_cap: float = FAILED_RETRY_CAP_SECONDS,
        busy_retry: float = BUSY_RETRY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._debouncer = Debouncer(quiet, max_wait)
        self._run_pack = run_pack
        self._run_full = run_full
        self._is_transient = is_transient
        self._is_busy = is_busy
        self._can_run = can_run
        self._on_db_state = on_db_state
        self._on_pending = on_pending
        self._max_concurrent = max(1, max_concurrent)
        self._backoff = backoff or Backoff()
        self._failed_retry_cap = failed_retry_cap
        self._busy_retry = busy_retry
        self._clock = clock
        self._triggers: dict[str, str] = {}
        self._running: dict[str, _Running] = {}
        self._attempts: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._gate_until = 0.0
        self._probing = False  # after a transient failure: one job at a time until one succeeds
        self._full_marks: set[str] | None = None  # marks seen while a full rescan runs
        self.stopping = False

    # -- marking -------------------------------------------------------------
    def mark(self, key: str, trigger: str = "watch") -> None:
        self._debouncer.mark(key, self._clock())
        self._note(key, trigger)

    def mark_now(self, key: str, trigger: str) -> None:
        """Due immediately (SIGHUP, periodic reconcile, leadership gained)."""
        self._debouncer.mark_due_now(key, self._clock())
        self._note(key, trigger)

    def _note(self, key: str, trigger: str) -> None:
        # startup and signal outrank reconcile, which outranks watch
        rank = {"startup": 3, "signal": 2, "reconcile": 1}
        old = self._triggers.get(key)
        if old is None or rank.get(trigger, 0) > rank.get(old, 0):
            self._triggers[key] = trigger
        if self._full_marks is not None and key != FULL:
            self._full_marks.add(key)
        self._on_pending(len(self._debouncer))
        self._wake.set()

    def wake(self) -> None:
        """Re-evaluate now (e.g. leadership or database state changed)."""
        self._wake.set()

    # -- introspection -------------------------------------------------------
    def pending(self) -> list[str]:
        return self._debouncer.keys()

    def running(self) -> list[str]:
        return sorted(self._running)

    def idle(self) -> bool:
        return not self._running and len(self._debouncer) == 0

    # -- main loop -----------------------------------------------------------
    async def run(self) -> None:
        while not self.stopping:
            self._dispatch()
            timeout = self._wait_time()
            self._wake.clear()
            if timeout is None or timeout > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)

    def _wait_time(self) -> float | None:
        """Seconds until something may be dispatched; None: until woken (a mark,
        a finished job, a leadership change). Never 0 when nothing can start,
        so the loop cannot spin."""
        now = self._clock()
        if not self._can_run() or self._at_capacity():
            return None
        if now < self._gate_until:
            return self._gate_until - now
        due_later = [
            d
            for key in self._debouncer.keys()  # noqa: SIM118 - not a dict
            if key not in self._running
            for d in (self._debouncer.deadline(key),)
        ]
        if not due_later:
            return None  # only running keys are marked: their completion wakes us
        return max(min(due_later) - now, 0.0)

    def _at_capacity(self) -> bool:
        limit = 1 if self._probing else self._max_concurrent
        return len(self._running) >= limit

    def _dispatch(self) -> None:
        if self.stopping or not self._can_run():
            return
        now = self._clock()
        if now < self._gate_until:
            return
        # Earliest deadline first, FULL included: a running sweep takes one
        # slot, pack syncs keep the others.
        for key in self._debouncer.pop_due(now, exclude=set(self._running)):
            if self._at_capacity():
                self._debouncer.mark_due_now(key, now)  # keep it for the next round
                continue
            if key == FULL:
                # What is marked now is synced again by the sweep anyway: a
                # change the sweep then finds is explained, not drift.
                self._full_marks = set(self._debouncer.keys()) | set(self._running)
            self._start(key, self._triggers.pop(key, "watch" if key != FULL else "reconcile"))
        self._on_pending(len(self._debouncer))

    def _start(self, key: str, trigger: str) -> None:
        coro: Coroutine[Any, Any, None]
        if key == FULL:
            marks = self._full_marks if self._full_marks is not None else set()
            coro = self._run_full(trigger, lambda: set(marks))
        else:
            coro = self._run_pack(key, trigger)
        task: asyncio.Task[None] = asyncio.create_task(coro, name=f"sync:{key}")
        self._running[key] = _Running(key, trigger, task)
        task.add_done_callback(lambda t: self._finished(key, trigger, t))

    def _finished(self, key: str, trigger: str, task: asyncio.Task[None]) -> None:
        try:
            self._settle(key, trigger, task)
        except Exception:  # never lose a key to a bug in bookkeeping
            log.exception("scheduler bookkeeping failed", key=key)
            now = self._clock()
            self._debouncer.mark(key, now, not_before=now + 5.0)

    def _settle(self, key: str, trigger: str, task: asyncio.Task[None]) -> None:
        self._running.pop(key, None)
        if key == FULL:
            self._full_marks = None
        self._wake.set()
        if task.cancelled():
            if not self.stopping:
                self.mark_now(key, trigger)
            return
        exc = task.exception()
        if exc is None:
            self._attempts.pop(key, None)
            if self._probing or self._backoff.attempt:
                self._probing = False
                self._backoff.reset()
            self._on_db_state(True)
            return
        if self.stopping:
            return
        now = self._clock()
        if self._is_busy(exc):
            # Another process holds the pack, or this daemon's lease went under
            # it: not a failure, never given up on.
            log.warning("pack busy; will retry", key=key, retry_in=self._busy_retry)
            self._debouncer.mark(key, now, not_before=now + self._busy_retry)
            self._note(key, trigger)
            return
        if self._is_transient(exc):
            delay = self._backoff.next()
            self._gate_until = now + delay
            self._probing = True
            self._on_db_state(False)
            log.warning(
                "sync failed, database unavailable or refusing writes; will retry",
                key=key,
                retry_in=round(delay, 2),
                error=_describe(exc),
            )
            self._debouncer.mark_due_now(key, now)
            self._note(key, trigger)
            return
        attempts = self._attempts.get(key, 0) + 1
        self._attempts[key] = attempts
        delay = min(self._failed_retry_cap, 2.0 ** min(attempts, 10))
        log.error(
            "sync failed; will retry",
            key=key,
            attempt=attempts,
            retry_in=delay,
            error=_describe(exc),
            exc_info=exc,
        )
        self._debouncer.mark(key, now, not_before=now + delay)
        self._note(key, trigger)

    # -- shutdown ------------------------------------------------------------
    async def stop(self, grace: float, cancel_grace: float = 1.5) -> bool:
        """Stop dispatching; let in-flight syncs finish for `grace` seconds, then
        cancel them (an interrupted pack transaction rolls back) and wait
        `cancel_grace` more. False: some are still unwinding (a rollback on a
        silent connection); the caller aborts the connections."""
        self.stopping = True
        self._wake.set()
        tasks = [r.task for r in self._running.values()]
        if not tasks:
            return True
        _done, still = await asyncio.wait(tasks, timeout=grace)
        for task in still:
            task.cancel()
        if still:
            _done, still = await asyncio.wait(still, timeout=cancel_grace)
        return not still

    async def wait_stopped(self, within: float) -> None:
        tasks = [r.task for r in self._running.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=within)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
