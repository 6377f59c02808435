"""What PostgreSQL can store: YAML can carry values jsonb and text cannot hold.

Checked before writing so a pack's odd content becomes a located diagnostic,
never a failed transaction.
"""

from __future__ import annotations

import json
from typing import Any


def plain_json(value: Any) -> Any:
    """YAML can carry dates and other non-JSON scalars: store them as strings."""
    return json.loads(json.dumps(value, default=str))


def unstorable_text(value: Any) -> str | None:
    """The first string PostgreSQL cannot store (NUL, lone surrogate), if any.

    One C-speed `json.dumps` answers for nearly every value; only text that
    may hold such a string (an escaped NUL, a surrogate) is walked."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
        if "\\u0000" not in text:
            text.encode("utf-8")
            return None
    except (UnicodeEncodeError, TypeError, ValueError):
        pass
    return _first_unstorable(value)


def _first_unstorable(value: Any) -> str | None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "a NUL character (\\0)"
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "an unpaired UTF-16 surrogate escape"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return None
