"""Secrets kept out of text: one rule for every log line, error and setting shown."""

from __future__ import annotations

import re

_URL_PASSWORD = re.compile(r"(\w+://[^:/@\s]*:)[^@\s]+@")


def mask_url(text: str) -> str:
    """postgresql://user:secret@host/db → postgresql://user:***@host/db, for every
    URL in `text`."""
    return _URL_PASSWORD.sub(r"\1***@", text)
