"""SQL identifiers packsync formats into statements: only schema names, and
only ones that need no quoting rules beyond double quotes (lower case, at most
63 bytes, PostgreSQL's NAMEDATALEN)."""

from __future__ import annotations

import re

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def is_identifier(name: str) -> bool:
    return bool(_IDENT.match(name))


def check_identifier(name: str) -> str:
    """The name, or ValueError: the guard before any name is formatted into SQL."""
    if not is_identifier(name):
        raise ValueError(f"invalid SQL identifier {name!r}")
    return name
