"""Text from the filesystem made safe to print, log and store."""

from __future__ import annotations


def printable(text: str) -> str:
    """A path or name as one line of text that can be printed, logged and
    stored: bytes that are not UTF-8 (os.listdir's surrogate escapes) and
    control characters become `\\xff`."""
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if 0x20 <= ord(c) != 0x7F else f"\\x{ord(c):02x}" for c in text)
