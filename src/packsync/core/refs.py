"""Pack refs: the one rule and its one message.

The rule is Attune's own (`pack_ref_format`, a CHECK on its `pack` table): a
lower-case letter, then at least one lower-case letter, digit, '_' or '-'. A
pack's ref is its folder name, so the same rule guards paths: '../x' never
reaches the filesystem or the tables.
"""

from __future__ import annotations

import re

PACK_REF_PATTERN = r"^[a-z][a-z0-9_-]+$"
PACK_REF = re.compile(PACK_REF_PATTERN)
PACK_REF_CODE = "pack-ref-format"


def pack_ref_message(shown: str, what: str = "pack ref") -> str:
    """Why `shown` (the name as it may be printed) is refused."""
    return (
        f"{what} '{shown}' is not a valid pack ref: use a lower case letter, then lower case "
        "letters, digits, '_' or '-' (at least 2 characters)"
    )
