"""Scheduler: single flight per pack, re-sync after events during a sync,
full rescans beside pack syncs, and backoff on transient failures (real asyncio;
the sync jobs are plain coroutines that record what they were asked)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from packsync.daemon.scheduler import FULL, Backoff, SyncScheduler


async def until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, "condition not met in time"
        await asyncio.sleep(0.01)


class Jobs:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.active: set[str] = set()
        self.max_overlap_same_key = 0
        self.full_overlapped = False
        self.gate: asyncio.Event | None = None
        self.full_gate: asyncio.Event | None = None
        self.fail_transient = 0
        self.explained: list[set[str]] = []

    async def pack(self, ref: str, trigger: str) -> None:
        if self.fail_transient:
            self.fail_transient -= 1
            raise ConnectionError("db down")
        if ref in self.active:
            self.max_overlap_same_key += 1
        if FULL in self.active:
            self.full_overlapped = True
        self.active.add(ref)
        self.calls.append((ref, trigger))
        try:
            if self.gate is not None:
                await self.gate.wait()
            await asyncio.sleep(0.01)
        finally:
            self.active.discard(ref)

    async def full(self, trigger: str, explained: Callable[[], set[str]]) -> None:
        if self.active:
            self.full_overlapped = True
        self.active.add(FULL)
        self.calls.append((FULL, trigger))
        try:
            await asyncio.sleep(0.05)
            if self.full_gate is not None:
                await self.full_gate.wait()
            self.explained.append(explained())
        finally:
            self.active.discard(FULL)


def make(jobs: Jobs, **kw: object) -> SyncScheduler:
    return SyncScheduler(
        quiet=0.05,
        max_wait=0.5,
        run_pack=jobs.pack,
        run_full=jobs.full,
        is_transient=lambda e: isinstance(e, ConnectionError),
        backoff=Backoff(base=0.02, cap=0.1),
        **kw,  # type: ignore[arg-type]
    )


async def test_storm_syncs_each_pack_about_once() -> None:
    jobs = Jobs()
    s = make(jobs)
    task = asyncio.create_task(s.run())
    for i in range(500):
        s.mark(f"p{i % 20}")
    await until(lambda: s.idle() and len(jobs.calls) >= 20)
    task.cancel()
    assert sorted(r for r, _ in jobs.calls) == sorted(f"p{i}" for i in range(20))


async def test_events_during_a_sync_cause_one_more_sync_never_overlapping() -> None:
    jobs = Jobs()
    jobs.gate = asyncio.Event()
    s = make(jobs)
    task = asyncio.create_task(s.run())
    s.mark("a")
    await until(lambda: "a" in jobs.active)
    s.mark("a")
    s.mark("a")
    await asyncio.sleep(0.2)  # deadline passes while "a" still runs
    assert [c for c in jobs.calls if c[0] == "a"] == [("a", "watch")]
    jobs.gate.set()
    await until(lambda: s.idle() and len(jobs.calls) == 2)
    task.cancel()
    assert jobs.max_overlap_same_key == 0


async def test_full_rescan_never_holds_back_pending_packs() -> None:
    """A sweep may take minutes (one huge pack): packs marked before or during
    it are synced on their own debounce clock, beside it; their changes count
    as explained, not as drift."""
    jobs = Jobs()
    jobs.full_gate = asyncio.Event()  # the sweep does not end until x and y are done
    s = make(jobs)
    task = asyncio.create_task(s.run())
    s.mark("x")
    s.mark("y")
    s.mark_now(FULL, "signal")
    await until(lambda: FULL in jobs.active)
    await until(lambda: {"x", "y"} <= {c[0] for c in jobs.calls})
    assert FULL in jobs.active and jobs.full_overlapped
    jobs.full_gate.set()
    await until(s.idle)
    task.cancel()
    assert (FULL, "signal") in jobs.calls
    assert jobs.explained == [{"x", "y"}]


async def test_transient_failures_back_off_and_converge() -> None:
    jobs = Jobs()
    jobs.fail_transient = 4
    states: list[bool] = []
    s = make(jobs, on_db_state=states.append)
    task = asyncio.create_task(s.run())
    for ref in ("a", "b", "c"):
        s.mark(ref)
    await until(lambda: s.idle() and {c[0] for c in jobs.calls} == {"a", "b", "c"})
    task.cancel()
    assert False in states and states[-1] is True


async def test_nothing_runs_while_not_leader_and_stop_cancels_in_flight() -> None:
    jobs = Jobs()
    leader = [False]
    s = make(jobs, can_run=lambda: leader[0])
    task = asyncio.create_task(s.run())
    s.mark("a")
    await asyncio.sleep(0.2)
    assert jobs.calls == [] and s.pending() == ["a"]
    leader[0] = True
    jobs.gate = asyncio.Event()
    s.wake()
    await until(lambda: "a" in jobs.active)
    await s.stop(grace=0.05)  # the gate never opens: the job is cancelled
    assert "a" not in jobs.active
    task.cancel()
