"""Every ``acadio-webhooks`` command shown in the docs parses: option names cannot rot."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from acadio_webhooks.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["README.md", "docs/cli.md", "docs/quickstart.md", "docs/examples.md"]


def _command_lines(text: str) -> list[str]:
    """``acadio-webhooks ...`` lines inside fenced blocks, continuation lines joined."""
    lines: list[str] = []
    for fenced in re.findall(r"```(?:console|bash|sh|shell)\n(.*?)```", text, re.S):
        joined = re.sub(r"\\\n\s*", " ", fenced)
        for line in joined.splitlines():
            command = line.strip().removeprefix("$ ")
            command = re.sub(r"^(\w+=\S+\s+)+", "", command)  # VAR=value prefixes
            if command.startswith("acadio-webhooks "):
                lines.append(command.split(" | ")[0].split(" > ")[0].split(" #")[0])
    return lines


CASES = [
    (page, line)
    for page in PAGES
    if (ROOT / page).exists()
    for line in _command_lines((ROOT / page).read_text(encoding="utf-8"))
]


def test_the_docs_show_commands() -> None:
    assert len([case for case in CASES if case[0] == "docs/cli.md"]) >= 15


@pytest.mark.parametrize(("page", "line"), CASES, ids=[f"{p}: {c}" for p, c in CASES])
def test_documented_command_parses(page: str, line: str) -> None:
    argv = shlex.split(line)[1:]
    code: int | str | None = 0
    try:
        build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help exits 0; a usage error exits 2
        code = exit_.code
    assert code == 0, f"{page}: {line!r} does not parse"
