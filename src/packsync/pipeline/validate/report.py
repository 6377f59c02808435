"""Collects located diagnostics for one file.

Every check reports against a `YNode`: its line/column (0:0 for data that came
from the REST API) and its JSON path, so file and API validation share code.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from packsync.diagnostics import Diagnostic, Severity, sort_key
from packsync.pipeline.yamlsafe import YNode


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """` (did you mean 'x'?)` when a near name exists, else ``."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


MAX_DIAGNOSTICS = 200  # per file: a hostile file must not produce a flood


class Reporter:
    def __init__(self, file: str, *, api: bool = False) -> None:
        self.file = file
        self.api = api  # API data has no positions: 0:0 and a JSON path
        self.items: list[Diagnostic] = []
        self.dropped = 0
        self.dropped_errors = 0

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
        self.items.append(
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

    def error(self, code: str, message: str, node: YNode | None, path: str | None = None) -> None:
        self.add(Severity.ERROR, code, message, node, path)

    def warning(self, code: str, message: str, node: YNode | None, path: str | None = None) -> None:
        self.add(Severity.WARNING, code, message, node, path)
