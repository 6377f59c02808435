"""Refuse input PostgreSQL cannot store, before it reaches a query.

JSON allows what `text` and `jsonb` do not: NUL characters (`\\u0000`), lone
UTF-16 surrogates, NaN/Infinity. Sent to asyncpg they raise deep in a write
and would surface as a 500; checked here they are a 422 that names the value.
Depth is bounded too, so a pathological body cannot exhaust the recursion
limit of the validator or the JSON encoder.
"""

from __future__ import annotations

import math
from typing import Any

from packsync.http.api.errors import ApiError

MAX_DEPTH = 64


def problem(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character, which PostgreSQL cannot store"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (invalid Unicode)"
    return None


def _walk(value: Any, path: str, depth: int) -> tuple[str, str] | None:
    if depth > MAX_DEPTH:
        return path, f"nesting is deeper than {MAX_DEPTH} levels"
    if isinstance(value, str):
        reason = problem(value)
        return (path, reason) if reason else None
    if isinstance(value, float) and not math.isfinite(value):
        return path, "is not a finite number (NaN/Infinity are not JSON)"
    if isinstance(value, dict):
        for key, item in value.items():
            reason = problem(str(key))
            if reason:
                return path, f"has a key that {reason}"
            found = _walk(item, f"{path}.{key}", depth + 1)
            if found:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _walk(item, f"{path}[{index}]", depth + 1)
            if found:
                return found
    return None


def check_storable(value: Any, path: str = "$") -> None:
    """Raise a 422 ApiError naming the first value that cannot be stored."""
    found = _walk(value, path, 0)
    if found:
        where, reason = found
        raise ApiError(
            422,
            "invalid-value",
            f"{where} {reason}",
            {"errors": [{"json_path": where, "message": reason}]},
        )


def check_params(**params: str | None) -> None:
    """The same for query and path parameters (400: they are not a body)."""
    for name, text in params.items():
        reason = problem(text) if text is not None else None
        if reason:
            raise ApiError(400, "invalid-parameter", f"parameter '{name}' {reason}")
