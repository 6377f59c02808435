"""What the daemon knows about itself: read by the probes, /status and logs.

Plain data plus a few callables into the live components, so the HTTP layer
never imports the runner (and tests can build a state without a daemon).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from packsync.metrics import Metrics


@dataclass(slots=True)
class PackStatus:
    last_sync: float | None = None  # unix time
    last_trigger: str | None = None
    last_outcome: str | None = None
    last_duration_seconds: float | None = None
    syncs: int = 0
    errors: int = 0  # syncs that raised (database, bug)
    invalid_files: int = 0  # files failing in the last sync
    # file → its located diagnostics (bounded), from the last sync
    failing_files: dict[str, list[str]] = field(default_factory=dict)
    last_error: str | None = None  # why the latest attempt raised; None once one succeeds
    last_error_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "last_sync": _iso(self.last_sync),
            "last_trigger": self.last_trigger,
            "last_outcome": self.last_outcome,
            "last_duration_seconds": self.last_duration_seconds,
            "syncs": self.syncs,
            "errors": self.errors,
            "invalid_files": self.invalid_files,
            "failing_files": self.failing_files,
            "last_error": self.last_error,
            "last_error_at": _iso(self.last_error_at),
        }


def _never() -> list[str]:
    return []


@dataclass(slots=True)
class DaemonState:
    metrics: Metrics
    sync_group: str = "default"
    base_dir: str = ""
    started_at: float = field(default_factory=time.time)
    role: str = "standby"  # leader | standby
    db_up: bool = False
    first_sync_done: bool = False  # leader: first full sync finished
    standby_ready: bool = False  # standby: lock contested on a live connection
    watcher_mode: str | None = None  # inotify | polling | None (base dir missing)
    watcher_fallback_reason: str | None = None
    stopping: bool = False
    http_port: int | None = None
    last_full_sync: float | None = None
    packs: dict[str, PackStatus] = field(default_factory=dict)
    # The deletion guard's pending refusal: why, and which packs (None: none).
    delete_refusal: dict[str, Any] | None = None
    lease: Callable[[], dict[str, Any] | None] = lambda: None
    watcher_alive: Callable[[], bool] = lambda: True
    tasks_alive: Callable[[], bool] = lambda: True
    pending: Callable[[], list[str]] = _never
    running: Callable[[], list[str]] = _never
    # seconds the longest-running current pack sync has run, and its bounds:
    # past `sync_timeout` it is being abandoned (not ready); past
    # `sync_stuck_after` even that failed (not live: restart the daemon)
    in_flight_for: Callable[[], float] = lambda: 0.0
    sync_timeout: float = float("inf")
    sync_stuck_after: float = float("inf")

    def set_role(self, leader: bool) -> None:
        self.role = "leader" if leader else "standby"
        self.metrics.leader.set(1 if leader else 0)
        if not leader:  # a standby deletes nothing; the leader reports its own refusals
            self.set_refusal(None, [])

    def set_refused(self, ref: str, refused: bool, reason: str | None = None) -> None:
        """Book one pack's latest outcome: is its removal being held back?"""
        held = set(self.delete_refusal["packs"]) if self.delete_refusal else set()
        if refused:
            held.add(ref)
        else:
            held.discard(ref)
        self.set_refusal(reason or (self.delete_refusal or {}).get("reason"), list(held))

    def set_db_up(self, up: bool) -> None:
        self.db_up = up
        self.metrics.db_up.set(1 if up else 0)

    def set_refusal(self, reason: str | None, packs: list[str]) -> None:
        """A completed sweep's verdict: exactly these removals are held back."""
        self.delete_refusal = {"reason": reason, "packs": sorted(packs)} if packs else None
        self.metrics.mass_delete_refused.set(1 if packs else 0)

    def set_watcher(self, mode: str | None, reason: str | None = None) -> None:
        self.watcher_mode = mode
        self.watcher_fallback_reason = reason
        self.metrics.watcher_polling.set(1 if mode == "polling" else 0)

    def live(self) -> tuple[bool, dict[str, bool]]:
        checks = {
            "watcher": self.watcher_alive(),
            "tasks": self.tasks_alive(),
            "sync_not_stuck": self.in_flight_for() <= self.sync_stuck_after,
        }
        return all(checks.values()), checks

    def ready(self) -> tuple[bool, dict[str, bool]]:
        initialised = self.first_sync_done if self.role == "leader" else self.standby_ready
        checks = {
            "initial_sync": initialised,
            "database": self.db_up,
            "packs_dir": bool(self.base_dir) and os.path.isdir(self.base_dir),
            "running": not self.stopping,
            "sync_progress": self.in_flight_for() <= self.sync_timeout,
        }
        return all(checks.values()), checks

    def status(self) -> dict[str, Any]:
        return {
            # without the database nobody knows who leads: say so, not "standby"
            "role": self.role if self.db_up else "unknown",
            "sync_group": self.sync_group,
            "base_dir": self.base_dir,
            "started": _iso(self.started_at),
            "ready": self.ready()[0],
            "database_up": self.db_up,
            "first_sync_done": self.first_sync_done,
            "last_full_sync": _iso(self.last_full_sync),
            "watcher": {
                "mode": self.watcher_mode,
                "alive": self.watcher_alive(),
                "fallback_reason": self.watcher_fallback_reason,
            },
            "leader_lease": self.lease(),
            "deletion_refused": self.delete_refusal,
            "pending_packs": self.pending(),
            "running": self.running(),
            "running_for_seconds": round(self.in_flight_for(), 1),
            "packs": {ref: st.as_dict() for ref, st in sorted(self.packs.items())},
        }


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
