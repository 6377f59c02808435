"""What the daemon knows about itself: read by the probes, /status and logs.

Plain data plus a few callables into the live components, so the HTTP layer
never imports the runner (and tests can build a state without a daemon).
"""

from __future__ import annotations

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

    def as_dict(self) -> dict[str, Any]:
        return {
            "last_sync": _iso(self.last_sync),
            "last_trigger": self.last_trigger,
            "last_outcome": self.last_outcome,
            "last_duration_seconds": self.last_duration_seconds,
            "syncs": self.syncs,
            "errors": self.errors,
            "invalid_files": self.invalid_files,
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

    def set_role(self, leader: bool) -> None:
        self.role = "leader" if leader else "standby"
        self.metrics.leader.set(1 if leader else 0)

    def set_db_up(self, up: bool) -> None:
        self.db_up = up
        self.metrics.db_up.set(1 if up else 0)

    def set_refusal(self, reason: str | None, packs: list[str]) -> None:
        self.delete_refusal = {"reason": reason, "packs": sorted(packs)} if packs else None
        self.metrics.mass_delete_refused.set(1 if packs else 0)

    def set_watcher(self, mode: str | None, reason: str | None = None) -> None:
        self.watcher_mode = mode
        self.watcher_fallback_reason = reason
        self.metrics.watcher_polling.set(1 if mode == "polling" else 0)

    def live(self) -> tuple[bool, dict[str, bool]]:
        checks = {"watcher": self.watcher_alive(), "tasks": self.tasks_alive()}
        return all(checks.values()), checks

    def ready(self) -> tuple[bool, dict[str, bool]]:
        initialised = self.first_sync_done if self.role == "leader" else self.standby_ready
        checks = {"initial_sync": initialised, "database": self.db_up, "running": not self.stopping}
        return all(checks.values()), checks

    def status(self) -> dict[str, Any]:
        return {
            "role": self.role,
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
            "packs": {ref: st.as_dict() for ref, st in sorted(self.packs.items())},
        }


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
