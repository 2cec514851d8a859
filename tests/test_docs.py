"""The README documents every event type, command and setting."""

from __future__ import annotations

import re
from pathlib import Path

from inbox.cli import main
from inbox.events import EVENT_TYPES

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_event_type_is_documented() -> None:
    missing = [t for t in EVENT_TYPES if f"`{t}`" not in README]
    assert missing == []


def test_every_cli_command_is_documented() -> None:
    missing = [name for name in main.commands if f"`inbox {name}" not in README]
    assert missing == []


def test_every_environment_setting_is_documented() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "inbox").rglob("*.py"))
    used = set(re.findall(r"\"(INBOX_[A-Z_]+)\"", source))
    missing = sorted(v for v in used if f"`{v}`" not in README)
    assert missing == []


def test_readme_opens_with_the_two_commands_and_ci_runs_the_second() -> None:
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["./scripts/demo", "./scripts/test"]
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == "./scripts/test"
