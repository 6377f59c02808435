"""docs/cli.md, rendered from the parser itself so the page cannot drift.

`python -m packsync.cli.reference > docs/cli.md` refreshes it; a test compares.
"""

from __future__ import annotations

import argparse
import os

from packsync.cli.main import build_parser

_WIDTH = "100"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def render_reference() -> str:
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = _WIDTH  # argparse wraps to the terminal: fix it for the page
    try:
        parser = build_parser()
        parts = [
            "# Command-line reference",
            "",
            "Generated from `packsync --help` by `python -m packsync.cli.reference > docs/cli.md`;",
            "a test fails when this page and the parser disagree.",
            "",
            "```text",
            parser.format_help().rstrip(),
            "```",
        ]
        for name, sub in _subcommands(parser).items():
            parts += ["", f"## packsync {name}", "", "```text", sub.format_help().rstrip(), "```"]
        return "\n".join(parts) + "\n"
    finally:
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before


if __name__ == "__main__":  # pragma: no cover
    print(render_reference(), end="")
