"""Refuse input PostgreSQL cannot store, before it reaches a query: a 422 (a
body) or a 400 (a parameter) that names the value, never a 500 from deep in a
write. The rule itself is core/storable.py, shared with the file sync."""

from __future__ import annotations

from typing import Any

from packsync.core.storable import text_problem, unstorable
from packsync.http.api.errors import ApiError


def check_storable(value: Any, path: str = "$") -> None:
    """Raise a 422 ApiError naming the first value that cannot be stored."""
    found = unstorable(value, path)
    if found:
        where, reason = found
        message = f"contains {reason}, which PostgreSQL cannot store"
        raise ApiError(
            422,
            "invalid-value",
            f"{where} {message}",
            {"errors": [{"json_path": where, "message": message}]},
        )


def check_params(**params: str | None) -> None:
    """The same for query and path parameters (400: they are not a body)."""
    for name, text in params.items():
        reason = text_problem(text) if text is not None else None
        if reason:
            raise ApiError(
                400,
                "invalid-parameter",
                f"parameter '{name}' contains {reason}, which PostgreSQL cannot store",
            )
