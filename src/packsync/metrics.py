"""Prometheus metrics of SPEC §11, on a registry owned by one daemon instance.

A dedicated `CollectorRegistry` (never the process-global one) lets tests run
several daemons in one process and keeps library imports from leaking series.
Every labelled series is created up front, so dashboards and alerts see zeros
instead of "no data". No metric carries a per-pack label (unbounded cardinality).
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from packsync import __version__
from packsync.core.results import OUTCOMES as PACK_OUTCOMES
from packsync.core.results import TRIGGERS

# `*_created` timestamp series double the exposition for no use on a dashboard.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Every pack outcome, plus "error" for a sync that raised.
OUTCOMES = (*PACK_OUTCOMES, "error")
CHANGES = ("created", "updated", "deleted", "unchanged")
CONTENT_TYPE = CONTENT_TYPE_LATEST

_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    """All packsync metrics; attributes are the prometheus_client objects."""

    def __init__(self, version: str = __version__) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.sync_runs = Counter(
            "packsync_sync_runs",
            "Pack syncs run, by trigger and outcome.",
            ["trigger", "outcome"],
            registry=r,
        )
        self.sync_duration = Histogram(
            "packsync_sync_duration_seconds",
            "Duration of one pack sync (scan, parse, validate, register).",
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.workflow_changes = Counter(
            "packsync_workflow_changes",
            "Workflow definitions created, updated, deleted or left unchanged by syncs.",
            ["change"],
            registry=r,
        )
        self.workflows = Gauge(
            "packsync_workflows", "Workflow definitions registered by this sync group.", registry=r
        )
        self.packs = Gauge("packsync_packs", "Packs registered by this sync group.", registry=r)
        self.invalid_files = Gauge(
            "packsync_invalid_files",
            "Workflow files that currently fail to load or validate.",
            registry=r,
        )
        self.fs_events = Counter(
            "packsync_fs_events", "File system events received from the watcher.", registry=r
        )
        self.pending_packs = Gauge(
            "packsync_pending_packs", "Packs marked dirty and waiting for a sync.", registry=r
        )
        self.reconcile_drift = Counter(
            "packsync_reconcile_drift",
            "Packs whose reconcile sync found changes no file system event announced.",
            registry=r,
        )
        self.last_success = Gauge(
            "packsync_last_success_timestamp_seconds",
            "Unix time of the last successful sync.",
            registry=r,
        )
        self.db_up = Gauge("packsync_db_up", "1 when the database is reachable.", registry=r)
        self.leader = Gauge(
            "packsync_leader", "1 when this daemon is the leader of its sync group.", registry=r
        )
        self.watcher_polling = Gauge(
            "packsync_watcher_polling",
            "1 when the watcher polls instead of using inotify.",
            registry=r,
        )
        self.mass_delete_refused = Gauge(
            "packsync_mass_delete_refused",
            "1 while the deletion guard holds back the removal of packs gone from disk.",
            registry=r,
        )
        self.build_info = Gauge(
            "packsync_build_info", "Build information (always 1).", ["version"], registry=r
        )
        self.build_info.labels(version=version).set(1)
        # process_* (CPU, memory, open fds, start time) from /proc; absent elsewhere.
        ProcessCollector(registry=r)
        for trigger in TRIGGERS:
            for outcome in OUTCOMES:
                self.sync_runs.labels(trigger=trigger, outcome=outcome)
        for change in CHANGES:
            self.workflow_changes.labels(change=change)

    def record_sync(
        self,
        *,
        trigger: str,
        outcome: str,
        duration: float,
        created: int = 0,
        updated: int = 0,
        deleted: int = 0,
        unchanged: int = 0,
        finished_at: float | None = None,
    ) -> None:
        """One pack sync finished (or raised: outcome "error")."""
        self.sync_runs.labels(trigger=trigger, outcome=outcome).inc()
        self.sync_duration.observe(duration)
        for change, count in (
            ("created", created),
            ("updated", updated),
            ("deleted", deleted),
            ("unchanged", unchanged),
        ):
            if count:
                self.workflow_changes.labels(change=change).inc(count)
        if outcome != "error" and finished_at is not None:
            self.last_success.set(finished_at)

    def render(self) -> bytes:
        return generate_latest(self.registry)
