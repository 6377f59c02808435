"""Per-key debouncing with a quiet gap and a maximum wait (pure, no clock of its own).

A fixed short debounce fires in the middle of a `git checkout`; waiting for a
quiet gap alone can starve a pack that is written to continuously. A key is
due `quiet` seconds after its last mark, but never later than `max_wait`
seconds after its first mark. The state is a dict keyed by pack, so a storm of
events costs memory proportional to the number of packs, not of events.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class _Entry:
    first: float
    last: float
    not_before: float = 0.0


class Debouncer:
    """Dirty keys and their deadlines. `now` is passed in by the caller."""

    def __init__(self, quiet: float, max_wait: float) -> None:
        self.quiet = max(0.0, quiet)
        self.max_wait = max(self.quiet, max_wait)
        self._entries: dict[str, _Entry] = {}

    def mark(self, key: str, now: float, *, not_before: float = 0.0) -> None:
        """Record an event for `key`. `not_before` delays the key (retry backoff)
        without resetting its first-event time."""
        entry = self._entries.get(key)
        if entry is None:
            self._entries[key] = _Entry(first=now, last=now, not_before=not_before)
        else:
            entry.last = now
            entry.not_before = max(entry.not_before, not_before)

    def mark_due_now(self, key: str, now: float) -> None:
        """Make `key` due immediately (SIGHUP, a re-sync after a running sync)."""
        entry = self._entries.get(key)
        if entry is None:
            self._entries[key] = _Entry(first=now - self.max_wait, last=now - self.quiet)
        else:
            entry.first = min(entry.first, now - self.max_wait)
            entry.last = min(entry.last, now - self.quiet)

    def deadline(self, key: str) -> float:
        entry = self._entries[key]
        return max(min(entry.last + self.quiet, entry.first + self.max_wait), entry.not_before)

    def next_deadline(self) -> float | None:
        if not self._entries:
            return None
        return min(self.deadline(key) for key in self._entries)

    def pop_due(self, now: float, *, exclude: set[str] | frozenset[str] = frozenset()) -> list[str]:
        """Remove and return the keys due at `now`, earliest first; keys in
        `exclude` (already running) stay pending."""
        due = sorted(
            (self.deadline(key), key)
            for key in self._entries
            if key not in exclude and self.deadline(key) <= now
        )
        for _, key in due:
            del self._entries[key]
        return [key for _, key in due]

    def take_all(self) -> list[str]:
        keys = list(self._entries)
        self._entries.clear()
        return keys

    def discard(self, key: str) -> None:
        self._entries.pop(key, None)

    def keys(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)
