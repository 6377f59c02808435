"""Positions inside a string scalar: value offset → file line and column.

A template problem is reported at its token, not at the start of the string.
Single-line scalars are mapped exactly (quotes and escapes undone); for
multi-line ones the text around the offset is searched in the scalar's lines,
falling back to the scalar's start.
"""

from __future__ import annotations

from packsync.pipeline.yamlsafe import YScalar

_ESCAPE_WIDTH = {"x": 4, "u": 6, "U": 10}


def _quoted_offsets(raw: str) -> list[int]:
    """For a quoted scalar's source, the source offset of each value character."""
    quote = raw[0]
    out: list[int] = []
    i = 1
    while i < len(raw) and not (raw[i] == quote and not raw.startswith(quote * 2, i)):
        out.append(i)
        if quote == "'" and raw.startswith("''", i):
            i += 2
        elif quote == '"' and raw[i] == "\\" and i + 1 < len(raw):
            i += _ESCAPE_WIDTH.get(raw[i + 1], 2)
        else:
            i += 1
    out.append(i)
    return out


def locate(lines: list[str], scalar: YScalar, offset: int) -> tuple[int, int]:
    """(line, column), 1-based, of `scalar.value[offset]` in the file."""
    value = str(scalar.value)
    line, col = scalar.line, scalar.column
    if not lines or line < 1 or line > len(lines):
        return line, col
    end = scalar.end_line or line
    if end == line:
        raw = lines[line - 1][col - 1 : (scalar.end_column or 0) - 1 or None]
        if raw[:1] in ("'", '"'):
            offsets = _quoted_offsets(raw)
            return line, col + offsets[min(offset, len(offsets) - 1)]
        return line, col + offset
    region = lines[line - 1 : end]
    snippet = value[offset : offset + 24].split("\n", 1)[0]
    if len(snippet) < 2:
        return line, col
    nth = value[:offset].count(snippet)
    for index, text in enumerate(region):
        at = text.find(snippet)
        while at >= 0:
            if nth == 0:
                return line + index, at + 1
            nth -= 1
            at = text.find(snippet, at + 1)
    return line, col
