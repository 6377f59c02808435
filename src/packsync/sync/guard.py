"""The deletion guard of SPEC §6: what stops a glitch from purging the catalogue.

A folder that is gone is only evidence of a removal if the base directory it
was in is still the base directory. So:

- A base that is missing or unreadable deletes nothing (Grafana deleted
  nothing when its root was missing, but everything when it was empty).
- The base is probed again right before every deletion, *after* the pack was
  seen gone: it must be the same folder (device and inode) as the one the
  decision was made on, readable, and not empty when it was not. An unmount,
  a failed git-sync checkout or a volume swap in the middle of a sweep
  changes one of these, and the sweep deletes nothing.
- A removal of more than `max_delete_fraction` of a sync_group's registered
  packs is refused until confirmed (`--allow-mass-delete`) or until the
  condition has persisted for `mass_delete_grace_seconds`. Deletions are
  counted as they accumulate: a sweep's against the packs registered when it
  decided, single-pack removals (watch events) against those registered when
  the last sweep began, so `rm -rf packs/*` seen pack by pack is refused too.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packsync.pipeline.scan import is_hidden

BASE_MISSING = "packs base directory is missing or unreadable: nothing is deleted"
BASE_REPLACED = (
    "packs base directory was replaced by another folder since the deletions were "
    "decided (unmount, volume swap or checkout): nothing is deleted until a sweep sees it"
)
BASE_EMPTIED = (
    "packs base directory became empty since the deletions were decided: nothing is "
    "deleted until a sweep sees it"
)


@dataclass(frozen=True, slots=True)
class BaseProbe:
    """The base directory as seen at one moment: which folder it is and what
    pack folders it lists. `identity` None: missing, not a folder or unreadable."""

    identity: tuple[int, int] | None
    names: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        return self.identity is not None


def probe_base(base: Path) -> BaseProbe:
    """Identity and listing of one and the same folder (read through one open
    descriptor), and only if the path still leads to it afterwards."""
    try:
        real = os.path.realpath(base, strict=True)
        fd = os.open(real, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return BaseProbe(None)
    try:
        st = os.fstat(fd)
        names = tuple(sorted(n for n in os.listdir(fd) if not is_hidden(n) and _is_dir(fd, n)))
        now = os.stat(real)
    except OSError:
        return BaseProbe(None)
    finally:
        os.close(fd)
    identity = (st.st_dev, st.st_ino)
    if (now.st_dev, now.st_ino) != identity:
        return BaseProbe(None)  # swapped while being listed
    return BaseProbe(identity, names)


def _is_dir(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(name, dir_fd=dir_fd).st_mode)
    except OSError:
        return False


def base_problem(reference: BaseProbe | None, now: BaseProbe) -> str | None:
    """Why `now` is no ground for deleting what was decided on `reference`
    (None: no earlier sight of the base to compare with)."""
    if not now.usable:
        return BASE_MISSING
    if reference is None or not reference.usable:
        return None
    if now.identity != reference.identity:
        return BASE_REPLACED
    if reference.names and not now.names:
        return BASE_EMPTIED
    return None


def deletable(rows: Iterable[Mapping[str, Any]], on_disk: Collection[str]) -> list[str]:
    """Registered packs (rows of queries.GROUP_PACKS) whose folder is gone and
    that have something to delete: a pack kept alive only by api rows is not
    counted."""
    return [
        r["ref"] for r in rows if r["ref"] not in on_disk and (r["file_rows"] or not r["api_rows"])
    ]


def over_fraction(removing: int, registered: int, max_fraction: float) -> bool:
    return registered > 0 and removing / registered > max_fraction


@dataclass(slots=True)
class DeleteBudget:
    """A sweep's deletions, counted as they happen against the packs registered
    when it decided. `unlimited`: the mass delete was confirmed or outlasted
    its grace period."""

    registered: int
    max_fraction: float
    unlimited: bool = False
    used: int = 0

    def take(self) -> str | None:
        """Count one more deletion; a refusal reason when it would go over."""
        if not self.unlimited and over_fraction(self.used + 1, self.registered, self.max_fraction):
            return (
                f"{self.used + 1} deletions of {self.registered} registered packs would go over "
                f"max_delete_fraction {self.max_fraction:g}: refusing the rest"
            )
        self.used += 1
        return None


class DeletionGuard:
    """One per service: remembers the base the last sweep saw, single-pack
    removals since then, and since when a mass delete has been pending."""

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
        # The base as the last sweep found it at its start (None: no sweep yet).
        self.reference: BaseProbe | None = None
        # Packs deleted one at a time since the last sweep began.
        self.single_deleted = 0

    def start_sweep(self, probe: BaseProbe) -> None:
        if probe.usable:
            self.reference = probe
        self.single_deleted = 0

    def refusal(self, removing: int, registered: int, *, confirmed: bool) -> str | None:
        """Why removing `removing` of `registered` packs is refused; None: allowed."""
        if not over_fraction(removing, registered, self.max_fraction):
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

    def budget(self, removing: int, registered: int, *, confirmed: bool) -> DeleteBudget:
        """The running count for a sweep whose `refusal` was None."""
        unlimited = over_fraction(removing, registered, self.max_fraction)  # confirmed or grace
        return DeleteBudget(registered, self.max_fraction, unlimited=unlimited or confirmed)

    def single_refusal(self, gone: int, registered: int) -> str | None:
        """A single pack whose folder is gone: counted with the packs removed one
        at a time since the last sweep, against what was registered before them."""
        return self.refusal(
            self.single_deleted + gone, registered + self.single_deleted, confirmed=False
        )
