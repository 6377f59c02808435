"""The deletion guard of SPEC §6: what stops a glitch from purging the catalogue.

Two rules. A base directory that is missing or unreadable deletes nothing
(Grafana deleted nothing when its root was missing, but everything when it
was empty). A removal of more than `max_delete_fraction` of a sync_group's
registered packs is refused until confirmed (`--allow-mass-delete`) or until
the condition has persisted for `mass_delete_grace_seconds` — a daemon
remembers since when; a one-shot CLI never waits that long.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

BASE_MISSING = "packs base directory is missing or unreadable: nothing is deleted"


def deletable(rows: Iterable[Mapping[str, Any]], on_disk: Collection[str]) -> list[str]:
    """Registered packs (rows of queries.GROUP_PACKS) whose folder is gone and
    that have something to delete: a pack kept alive only by api rows is not
    counted."""
    return [
        r["ref"] for r in rows if r["ref"] not in on_disk and (r["file_rows"] or not r["api_rows"])
    ]


class DeletionGuard:
    def __init__(
        self,
        max_fraction: float,
        grace_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_fraction = max_fraction
        self.grace_seconds = grace_seconds
        self._clock = clock
        # When the mass-delete condition was first seen (None: not present).
        self._since: float | None = None

    def refusal(self, removing: int, registered: int, *, confirmed: bool) -> str | None:
        """Why removing `removing` of `registered` packs is refused; None: allowed."""
        if registered == 0 or removing / registered <= self.max_fraction:
            self._since = None
            return None
        if confirmed:
            return None
        now = self._clock()
        if self._since is None:
            self._since = now
        if now - self._since >= self.grace_seconds:
            return None
        return (
            f"{removing} of {registered} registered packs are gone from disk, over "
            f"max_delete_fraction {self.max_fraction:g}: refusing to delete them until "
            f"confirmed (--allow-mass-delete) or the condition persists for "
            f"{self.grace_seconds:g} s"
        )
