"""What PostgreSQL can store: YAML and JSON carry values jsonb and text cannot
hold (NUL characters, lone UTF-16 surrogates, NaN and Infinity), and nesting
deep enough to exhaust a recursive encoder.

One rule for every way in (a pack's files, the API's bodies and parameters),
checked before writing so odd content becomes a located diagnostic or a 4xx
naming the value, never a failed transaction or a 500.
"""

from __future__ import annotations

import json
import math
from typing import Any

# The one nesting bound: a YAML file (yamlsafe) and an API body alike.
MAX_DEPTH = 100


def plain_json(value: Any) -> Any:
    """YAML can carry dates and other non-JSON scalars: store them as strings."""
    return json.loads(json.dumps(value, default=str))


def text_problem(text: str) -> str | None:
    """What in `text` PostgreSQL cannot store, as a noun phrase; None if nothing."""
    if "\x00" in text:
        return "a NUL character (\\0)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "an unpaired UTF-16 surrogate (invalid Unicode)"
    return None


def unstorable(value: Any, path: str = "$", *, check_depth: bool = True) -> tuple[str, str] | None:
    """The first value PostgreSQL cannot store: (its JSON path, what it contains).

    `check_depth` False skips the nesting bound, for values that were bounded on the
    way in (a file's YAML, by yamlsafe): then one C-speed `json.dumps` answers
    for nearly every value, and only one that may hold a problem is walked."""
    if not check_depth and _plainly_storable(value):
        return None
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            return where, f"nesting deeper than {MAX_DEPTH} levels"
        if isinstance(item, str):
            reason = text_problem(item)
            if reason:
                return where, reason
        elif isinstance(item, float) and not math.isfinite(item):
            return where, "a number that is not finite (NaN or Infinity)"
        elif isinstance(item, dict):
            children = []
            for key, child in item.items():
                reason = text_problem(str(key))
                if reason:
                    return where, f"a key with {reason}"
                children.append((child, f"{where}.{key}", depth + 1))
            stack.extend(reversed(children))
        elif isinstance(item, list | tuple):
            stack.extend(reversed([(c, f"{where}[{i}]", depth + 1) for i, c in enumerate(item)]))
    return None


def _plainly_storable(value: Any) -> bool:
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, default=str)
        text.encode("utf-8")
    except (TypeError, ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        return False
    return "\\u0000" not in text
