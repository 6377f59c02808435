"""Runs syncs: debounced per pack, single-flight per pack, retried with backoff.

Keys are pack refs, or FULL for a full rescan (reconcile, SIGHUP, `..data`,
base-dir flip). A full rescan is exclusive: pack syncs drain first, and the
marks pending when it starts are covered by it (it reads the disk after them).
A pack that gets events while it syncs stays marked and is synced again right
after. A failed sync keeps its mark; a pack locked by another process ("busy") is
retried every few seconds without giving up; transient (database) failures close a
global gate for a capped exponential backoff with jitter, then one probe runs
before the rest: a database outage costs one failed attempt per backoff step,
not one per dirty pack.
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
MAX_PACK_ATTEMPTS = 3  # non-transient failures: retried this often, then wait for the next event

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
        if not self._can_run() or self._full_running() or self._at_capacity():
            return None
        if now < self._gate_until:
            return self._gate_until - now
        if FULL in self._debouncer and self._debouncer.deadline(FULL) <= now:
            return None if self._running else 0.0  # draining pack syncs first
        due_later = [
            d
            for key in self._debouncer.keys()  # noqa: SIM118 - not a dict
            if key not in self._running
            for d in (self._debouncer.deadline(key),)
        ]
        if not due_later:
            return None  # only running keys are marked: their completion wakes us
        return max(min(due_later) - now, 0.0)

    def _full_running(self) -> bool:
        return FULL in self._running

    def _at_capacity(self) -> bool:
        limit = 1 if self._probing else self._max_concurrent
        return len(self._running) >= limit

    def _dispatch(self) -> None:
        if self.stopping or not self._can_run() or self._full_running():
            return
        now = self._clock()
        if now < self._gate_until:
            return
        full_due = FULL in self._debouncer and self._debouncer.deadline(FULL) <= now
        if full_due:
            if self._running:
                return  # drain pack syncs first; their completion wakes us
            self._debouncer.discard(FULL)
            covered = set(self._debouncer.take_all())
            trigger = self._triggers.pop(FULL, "reconcile")
            for key in covered:
                self._triggers.pop(key, None)
            self._full_marks = set(covered)
            self._start(FULL, trigger)
            return
        for key in self._debouncer.pop_due(now, exclude=set(self._running) | {FULL}):
            if self._at_capacity():
                self._debouncer.mark_due_now(key, now)  # keep it for the next round
                continue
            self._start(key, self._triggers.pop(key, "watch"))
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
        if self._is_transient(exc):
            delay = self._backoff.next()
            self._gate_until = now + delay
            self._probing = True
            self._on_db_state(False)
            log.warning(
                "sync failed, database unreachable; will retry",
                key=key,
                retry_in=round(delay, 2),
                error=_describe(exc),
            )
            self._debouncer.mark_due_now(key, now)
            self._note(key, trigger)
            return
        if self._is_busy(exc):
            # Another process holds the pack, or this daemon's lease went under
            # it: not a failure, never given up on.
            log.warning(
                "pack busy; will retry", key=key, retry_in=BUSY_RETRY_SECONDS, reason=_describe(exc)
            )
            self._debouncer.mark(key, now, not_before=now + BUSY_RETRY_SECONDS)
            self._note(key, trigger)
            return
        attempts = self._attempts.get(key, 0) + 1
        self._attempts[key] = attempts
        log.error("sync failed", key=key, attempt=attempts, error=_describe(exc), exc_info=exc)
        if attempts < MAX_PACK_ATTEMPTS:
            retry = now + min(30.0, 2.0**attempts)
            self._debouncer.mark(key, now, not_before=retry)
            self._note(key, trigger)
        else:
            self._attempts.pop(key, None)

    # -- shutdown ------------------------------------------------------------
    async def stop(self, grace: float) -> None:
        """Stop dispatching; let in-flight syncs finish for `grace` seconds, then
        cancel them (an interrupted pack transaction rolls back)."""
        self.stopping = True
        self._wake.set()
        tasks = [r.task for r in self._running.values()]
        if not tasks:
            return
        _done, still = await asyncio.wait(tasks, timeout=grace)
        for task in still:
            task.cancel()
        if still:
            await asyncio.wait(still, timeout=max(grace, 5.0))


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
