"""Collects located diagnostics for one file.

Every check reports against a `YNode`: its line/column (0:0 for data that came
from the REST API) and its JSON path, so file and API validation share code.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sized

from packsync.core.diagnostics import Diagnostic, Severity, sort_key
from packsync.pipeline.validate.locate import locate
from packsync.pipeline.yamlsafe import YNode, YScalar


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The nearest candidate (difflib ratio >= 0.6), if any."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """` (did you mean 'x'?)` when a near name exists, else ``."""
    close = closest(name, candidates)
    return f" (did you mean {close!r}?)" if close else ""


MAX_DIAGNOSTICS = 200  # per file: a hostile file must not produce a flood
SUGGESTION_BUDGET = 20_000  # name comparisons per file for "did you mean"


class Reporter:
    def __init__(self, file: str, *, api: bool = False) -> None:
        self.file = file
        self.api = api  # API data has no positions: 0:0 and a JSON path
        self.items: list[Diagnostic] = []
        self.dropped = 0
        self.dropped_errors = 0
        self.budget = SUGGESTION_BUDGET
        self.lines: list[str] = []  # the file's text, to locate tokens inside strings
        self._seen: set[tuple[int, int, str, str, str]] = set()

    def suggest(self, name: str, candidates: Iterable[str]) -> str:
        """`did_you_mean` within a per-file budget (huge workflows with many typos)."""
        return did_you_mean(name, candidates) if self._spend(candidates) else ""

    def nearest(self, name: str, candidates: Iterable[str]) -> str | None:
        return closest(name, candidates) if self._spend(candidates) else None

    def _spend(self, candidates: Iterable[str]) -> bool:
        size = len(candidates) if isinstance(candidates, Sized) else 100
        if self.full or size > self.budget:
            return False
        self.budget -= size
        return True

    @property
    def full(self) -> bool:
        """True once the cap is reached: callers skip costly messages ("did you mean")."""
        return len(self.items) >= MAX_DIAGNOSTICS

    def finish(self) -> list[Diagnostic]:
        """The diagnostics sorted by position, plus a note when some were dropped."""
        items = sorted(self.items, key=sort_key)
        if self.dropped:
            severity = Severity.ERROR if self.dropped_errors else Severity.WARNING
            items.append(
                Diagnostic(
                    self.file,
                    0 if self.api else 1,
                    0 if self.api else 1,
                    "too-many-diagnostics",
                    severity,
                    f"{self.dropped} more problem(s) not shown: fix the ones above first",
                )
            )
        return items

    def add(
        self,
        severity: Severity,
        code: str,
        message: str,
        node: YNode | None,
        path: str | None = None,
    ) -> None:
        if self.full:
            self.dropped += 1
            self.dropped_errors += severity is Severity.ERROR
            return
        line, column, json_path = (node.line, node.column, node.path) if node else (1, 1, "$")
        if self.api:
            line = column = 0
        self._append_once(
            Diagnostic(
                self.file,
                line,
                column,
                code,
                severity,
                message,
                json_path=path or json_path,
                end_line=node.end_line if node else None,
                end_column=node.end_column if node else None,
            )
        )

    def _append_once(self, diag: Diagnostic) -> None:
        """One cause, one line: the same code and message at the same place is kept once."""
        key = (diag.line, diag.column, diag.code, diag.message, diag.json_path if self.api else "")
        if key not in self._seen:
            self._seen.add(key)
            self.items.append(diag)

    def error_at(self, code: str, message: str, line: int, column: int) -> None:
        """An error at a raw position (YAML-level problems have no node)."""
        if self.full:
            self.dropped += 1
            self.dropped_errors += 1
            return
        self._append_once(Diagnostic(self.file, line, column, code, Severity.ERROR, message))

    def add_at_offset(
        self, code: str, message: str, scalar: YScalar, offset: int, *, warning: bool = False
    ) -> None:
        """A problem at character `offset` of a string scalar's value (a template token)."""
        severity = Severity.WARNING if warning else Severity.ERROR
        if self.full or self.api:
            self.add(severity, code, message, scalar)
            return
        line, column = locate(self.lines, scalar, offset)
        self._append_once(
            Diagnostic(self.file, line, column, code, severity, message, json_path=scalar.path)
        )

    def error(self, code: str, message: str, node: YNode | None, path: str | None = None) -> None:
        self.add(Severity.ERROR, code, message, node, path)

    def warning(self, code: str, message: str, node: YNode | None, path: str | None = None) -> None:
        self.add(Severity.WARNING, code, message, node, path)
