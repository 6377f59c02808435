"""Located diagnostics: the one currency every stage of the pipeline reports in.

A diagnostic always names a file, a 1-based line and column (0 when the
position is unknown, e.g. a file that cannot be read at all), a stable code,
a severity and a message that says how to fix the problem.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    file: str
    line: int
    column: int
    code: str
    severity: Severity
    message: str
    json_path: str = "$"
    end_line: int | None = None
    end_column: int | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    @property
    def where(self) -> str:
        """`path:line:col`, or just `path` for a whole file or folder (no line)."""
        if self.line <= 0:
            return self.file
        return (
            f"{self.file}:{self.line}:{self.column}"
            if self.column > 0
            else f"{self.file}:{self.line}"
        )

    def format(self) -> str:
        """`path:line:col: severity[code]: message` — the compiler-style line editors parse."""
        return f"{self.where}: {self.severity}[{self.code}]: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = str(self.severity)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Diagnostic:
        return cls(**{**data, "severity": Severity(data["severity"])})


def error(
    file: str, code: str, message: str, line: int = 0, column: int = 0, **kw: Any
) -> Diagnostic:
    return Diagnostic(file, line, column, code, Severity.ERROR, message, **kw)


def warning(
    file: str, code: str, message: str, line: int = 0, column: int = 0, **kw: Any
) -> Diagnostic:
    return Diagnostic(file, line, column, code, Severity.WARNING, message, **kw)


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.is_error for d in diagnostics)


def sort_key(d: Diagnostic) -> tuple[str, int, int, str]:
    return (d.file, d.line, d.column, d.code)
